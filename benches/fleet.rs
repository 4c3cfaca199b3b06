//! Job fleet benchmarks (run with `scripts/bench --bench fleet`):
//! 1. the tracking sweep over 5,000 shipments against the UPS stand-in
//!    answering each request after 50 ms, paced to 100 requests a second:
//!    requests made, wall time;
//! 2. RFQ intake of 1,000 messages from Debian's Dovecot over IMAP;
//! 3. a supplier price feed of 100,000 rows into supplier costs.
//!
//! Prints a table and writes target/bench/fleet.md.

mod common;

use std::time::{Duration, Instant};

use quartermaster::{
    jobs,
    standin::{self, mail::ImapServer, ups::UpsStandin},
};

const DB: &str = "qm_bench_fleet";
const SHIPMENTS: u32 = 5_000;
const MESSAGES: u32 = 1_000;
const FEED_ROWS: u32 = 100_000;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

async fn run_job(state: &quartermaster::app::AppState, name: &str) -> serde_json::Value {
    let job = jobs::fleet(state).expect("fleet").into_iter().find(|j| j.name.as_str() == name).expect("job");
    jobs::run_guarded(&jobs::Runner::of(state), name, job.job.as_ref()).await.expect("run").done().expect("ran")
}

async fn run(server: &str) -> Vec<(String, String)> {
    let (pool, _) = common::fresh_db(server, DB, 8).await;
    let ups = UpsStandin::new("bench-ups", "bench-ups-secret");
    let ups_addr = standin::serve(ups.router(), "127.0.0.1:0").await.expect("ups");
    let imap = ImapServer::start(None);
    let dir = tempfile::tempdir().expect("dir");
    let feed = dir.path().join("prices.csv");
    std::fs::write(dir.path().join("imap_password"), &imap.password).expect("password");
    std::fs::write(dir.path().join("ups_id"), "bench-ups").expect("id");
    std::fs::write(dir.path().join("ups_secret"), "bench-ups-secret").expect("secret");
    let extra = format!(
        "ups:\n  environment: cie\n  account_number: BENCH1\n  client_id: ref+file://{d}/ups_id\n  client_secret: ref+file://{d}/ups_secret\n  api_base_url: http://{ups_addr}\n  shipper: {{ name: Bench Co, line1: 1 Main St, city: Chicago, state: IL, postcode: \"60607\", country: US }}\n\
         tracking: {{ per_run: {SHIPMENTS}, requests_per_second: 100 }}\n\
         mailbox: {{ host: 127.0.0.1, port: {port}, tls: none, username: {user}, password: ref+file://{d}/imap_password, processed_folder: Processed }}\n\
         sources:\n  supplier_catalogs:\n    - {{ name: bench-feed, location: {feed}, supplier: Bench Supply, columns: {{ sku: sku, cost: cost }} }}\n",
        d = dir.path().display(),
        port = imap.port,
        user = imap.user,
        feed = feed.display(),
    );
    let (state, _tenant) = common::app_state(&extra).await;
    let mut rows = Vec::new();

    // 1. The tracking sweep.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO orders (woo_id, number, status, currency, total_minor, woo_created_at, woo_modified_at)
           SELECT seq, CONCAT('B', seq), 'completed', 'USD', 1000, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) FROM seq_1_to_{SHIPMENTS};
         INSERT INTO shipments (order_id, carrier, service_code, status, master_tracking, shipped_at)
           SELECT id, 'ups', '03', 'shipped', CONCAT('1ZBENCH', LPAD(id, 11, '0')), UTC_TIMESTAMP(6) - INTERVAL 1 DAY FROM orders;"
    )))
    .execute(&pool)
    .await
    .expect("shipments");
    let numbers: Vec<String> = sqlx::query_scalar("SELECT master_tracking FROM shipments").fetch_all(&pool).await.expect("numbers");
    for n in &numbers {
        ups.set_track(n, "I", "ARRIVED AT FACILITY", "20261202");
    }
    ups.set_track_latency(Duration::from_millis(50));
    let started = Instant::now();
    let swept = run_job(&state, "tracking_sweep").await;
    let took = started.elapsed();
    rows.push((
        format!("tracking sweep: {SHIPMENTS} shipments, 50 ms a request, paced to 100/s"),
        format!(
            "{} asked, {} requests to UPS, {:.1} s ({:.0} a second)",
            swept["asked"],
            ups.track_requests(),
            took.as_secs_f64(),
            f64::from(SHIPMENTS) / took.as_secs_f64()
        ),
    ));

    // 2. IMAP intake.
    let maildir = imap.maildir();
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    for i in 0..MESSAGES {
        let msg = format!(
            "From: Buyer {i} <buyer{i}@buyer-{}.example>\r\nTo: rfq@bench.example\r\nSubject: RFQ {i}\r\nMessage-ID: <bench-{i}@buyer.example>\r\n\r\nPlease quote SKU-{i} x {}\r\n",
            i % 50,
            i % 9 + 1
        );
        std::fs::write(maildir.join("new").join(format!("1700000000.M{i}P1.bench,S={}", msg.len())), msg).expect("message");
    }
    let _ = std::process::Command::new("chown").args(["-R", "nobody:nogroup"]).arg(&maildir).status();
    let started = Instant::now();
    let read = run_job(&state, "rfq_mailbox").await;
    let took = started.elapsed();
    rows.push((
        format!("RFQ intake over IMAP (Dovecot, plain on loopback): {MESSAGES} messages"),
        format!(
            "{} RFQs stored and filed in {:.2} s ({:.0} a second)",
            read["rfqs"],
            took.as_secs_f64(),
            f64::from(MESSAGES) / took.as_secs_f64()
        ),
    ));

    // 3. A supplier feed of 100,000 rows.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO products (sku, name) SELECT CONCAT('F', LPAD(seq, 7, '0')), CONCAT('Feed product ', seq) FROM seq_1_to_{FEED_ROWS}"
    )))
    .execute(&pool)
    .await
    .expect("products");
    let mut csv = String::from("sku,cost\n");
    for i in 1..=FEED_ROWS {
        csv.push_str(&format!("F{i:07},{}.{:02}\n", i % 500 + 1, i % 100));
    }
    std::fs::write(&feed, &csv).expect("feed");
    let started = Instant::now();
    let fed = run_job(&state, "price_feeds").await;
    let took = started.elapsed();
    let costs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM supplier_costs").fetch_one(&pool).await.expect("costs");
    rows.push((
        format!("supplier feed: {FEED_ROWS} rows ({} KiB CSV) into supplier costs", csv.len() / 1024),
        format!(
            "{costs} costs written ({} refused) in {:.2} s ({:.0} rows a second)",
            fed[0]["refused"],
            took.as_secs_f64(),
            f64::from(FEED_ROWS) / took.as_secs_f64()
        ),
    ));
    rows.push(("peak resident memory of the process".into(), format!("{:.0} MiB", peak_rss_mib())));
    rows.push(("machine load (1/5/15 min) after the run".into(), common::load()));
    drop(imap);
    common::drop_db(server, DB).await;
    rows
}

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    common::with_database_url(&server, DB);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let rows = runtime.block_on(run(&server));
    common::table("fleet", "job fleet benchmark", &rows);
}
