//! Pick station benchmarks (run with `scripts/bench`):
//! 1. the pick page of a 30-line order under `wrk` on loopback, straight to
//!    the app and through nginx: requests/s, p50/p99 latency, server RSS;
//! 2. scan → label bytes at the printer, carrier excluded: a counted scan
//!    (HTTP POST) then a ZPL label through a private CUPS raw queue to a
//!    socket printer, p50/p99 over 200 prints.
//!
//! Prints a table and writes target/bench/station.md.

mod common;

use std::{
    process::{Command, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use quartermaster::{
    config::LoadedConfig,
    inventory::reserve,
    printing::{ipp, zpl},
    standin::cups::{LocalCups, RawPrinter},
    startup::{self, Application},
};
use sqlx::{ConnectOptions, mysql::MySqlConnectOptions};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// wrk's requests/s and 50%/99% latency lines.
fn wrk(url: &str, cookie: &str) -> (String, String, String) {
    let out = Command::new("wrk")
        .args(["-t2", "-c16", "-d10s", "--latency", "-H", &format!("Cookie: {cookie}"), url])
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let find = |prefix: &str| {
        text.lines().map(str::trim).find(|l| l.starts_with(prefix)).and_then(|l| l.split_whitespace().last()).unwrap_or("?").to_owned()
    };
    let non2xx = text.lines().find(|l| l.contains("Non-2xx")).map(str::trim).unwrap_or("");
    assert!(non2xx.is_empty(), "the pick page must answer 200 under load: {non2xx}\n{text}");
    (find("Requests/sec:"), find("50%"), find("99%"))
}

/// nginx in front of the app on a free port (proxy only, as the edge does for /ops/).
fn nginx(app_port: u16, dir: &std::path::Path) -> (std::process::Child, u16) {
    let port = free_port();
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           upstream ops {{ server 127.0.0.1:{app_port}; keepalive 32; }}\n\
           server {{ listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://ops; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $host; }} }}\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
    let child = Command::new("/usr/sbin/nginx")
        .args(["-p"])
        .arg(dir)
        .args(["-c"])
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

async fn run(server: &str) -> Vec<(String, String)> {
    let name = "qm_bench_station";
    let mut admin = MySqlConnectOptions::from_str(server).expect("url").connect().await.expect("MariaDB reachable (run scripts/bench)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};
         CREATE USER IF NOT EXISTS 'qm_bench'@'localhost' IDENTIFIED BY 'qm-bench-pw'; CREATE USER IF NOT EXISTS 'qm_bench'@'127.0.0.1' IDENTIFIED BY 'qm-bench-pw';
         GRANT ALL PRIVILEGES ON {name}.* TO 'qm_bench'@'localhost'; GRANT ALL PRIVILEGES ON {name}.* TO 'qm_bench'@'127.0.0.1'"
    )))
    .execute(&mut admin)
    .await
    .expect("db");
    // The tenant: one station with a ZPL printer on a private CUPS.
    let cups = LocalCups::start().await.expect("cupsd");
    let printer = RawPrinter::start().await.expect("printer");
    cups.add_raw_queue("bench-zebra", printer.port).expect("queue");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("secret"), "unused").expect("secret");
    // A database user of the bench's own (the tenant file needs a password reference).
    std::fs::write(dir.path().join("db_password"), "qm-bench-pw").expect("secret");
    let server_opts = MySqlConnectOptions::from_str(server).expect("url");
    std::fs::write(
        dir.path().join("tenant.yaml"),
        format!(
            "tenant: {{ id: benchco, name: Bench Co, timezone: America/Chicago, currency: USD }}\nbranding: {{ sender_name: Bench Co }}\ndomains: {{ storefront: shop.bench.example }}\n\
             server: {{ listen: 127.0.0.1:0, secure_cookies: false }}\ndata_dir: {data}\n\
             database: {{ host: \"{host}\", port: {db_port}, name: {name}, user: qm_bench, password: ref+file://db_password }}\nmodules: {{ ebay: false, accounting: false }}\n\
             woocommerce: {{ base_url: http://127.0.0.1:9, consumer_key: ref+file://secret, consumer_secret: ref+file://secret }}\n\
             stations: [{{ id: bench-1, name: Bench 1 }}]\nprinters: [{{ name: bench-zebra, uri: \"{uri}\", kind: zpl, station: bench-1 }}]\n",
            data = dir.path().join("data").display(),
            uri = cups.uri("bench-zebra"),
            host = server_opts.get_host(),
            db_port = server_opts.get_port(),
        ),
    )
    .expect("tenant");
    let loaded = LoadedConfig::load(&dir.path().join("tenant.yaml")).expect("tenant file");
    let state = startup::prepare(loaded).await.expect("prepare");
    let pool = state.pool.clone();
    let app = Application::build(state.clone(), "127.0.0.1:0").await.expect("bind");
    let port = app.port();
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    // A 30-line order across 30 bins, two FIFO lots per product, reserved.
    sqlx::query("INSERT INTO orders (woo_id, number, status, currency, customer_name, total_minor, woo_created_at, woo_modified_at, ship_name, ship_address1, ship_city, ship_postcode, ship_country) VALUES (1, '1001', 'processing', 'USD', 'Bench Buyer', 100000, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'Bench Buyer', '1 Main St', 'Chicago', '60607', 'US'), (2, '1002', 'processing', 'USD', 'Scan Buyer', 100000, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'Scan Buyer', '1 Main St', 'Chicago', '60607', 'US')")
        .execute(&pool)
        .await
        .expect("orders");
    for i in 0..31u64 {
        let body = format!("8{:010}", i);
        let upc = format!("{body}{}", quartermaster::inventory::gtin::check_digit(&body).unwrap_or(0));
        let pid = sqlx::query("INSERT INTO products (sku, name, upc, bin) VALUES (?, ?, ?, ?)")
            .bind(format!("SKU-{i:03}"))
            .bind(format!("Bench item {i} with a realistic, fairly long product name"))
            .bind(&upc)
            .bind(format!("{}-{:02}-{}", ["A", "B", "C"][(i % 3) as usize], i, i % 4))
            .execute(&pool)
            .await
            .expect("product")
            .last_insert_id();
        for (lot, qty) in [("OLD", 3u32), ("NEW", 500)] {
            sqlx::query("INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor, location) VALUES (?, ?, UTC_TIMESTAMP(6) - INTERVAL ? DAY, ?, ?, 100, ?)")
                .bind(pid)
                .bind(lot)
                .bind(if lot == "OLD" { 20 } else { 2 })
                .bind(qty)
                .bind(qty)
                .bind(format!("R{i:02}"))
                .execute(&pool)
                .await
                .expect("lot");
        }
        let (order, qty) = if i < 30 { (1u64, 5u32) } else { (2, 250) };
        sqlx::query("INSERT INTO order_lines (order_id, woo_line_id, product_id, sku, name, quantity, unit_price_minor, total_minor) VALUES (?, ?, ?, ?, 'Bench item', ?, 1000, ?)")
            .bind(order)
            .bind(i + 1)
            .bind(pid)
            .bind(format!("SKU-{i:03}"))
            .bind(qty)
            .bind(i64::from(qty) * 1000)
            .execute(&pool)
            .await
            .expect("line");
    }
    let statuses = vec!["processing".to_owned()];
    reserve::reserve_order(&pool, quartermaster::ids::OrderId(1), &statuses, &quartermaster::station::queue::STATION_QUEUE)
        .await
        .expect("reserve");
    reserve::reserve_order(&pool, quartermaster::ids::OrderId(2), &statuses, &quartermaster::station::queue::STATION_QUEUE)
        .await
        .expect("reserve");

    // Sign in and claim both orders.
    let username = quartermaster::operators::Username::parse("bench").expect("name");
    let operator = quartermaster::operators::create(
        &pool,
        &username,
        "",
        quartermaster::operators::Role::Picker,
        &quartermaster::config::Secret::new("bench password 1"),
    )
    .await
    .expect("operator");
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let base = format!("http://127.0.0.1:{port}");
    let page = client.get(format!("{base}/sign-in")).send().await.expect("sign-in").text().await.expect("page");
    let csrf_re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{64})""#).expect("re");
    let csrf = csrf_re.captures(&page).map(|c| c[1].to_owned()).expect("csrf");
    let r = client
        .post(format!("{base}/sign-in"))
        .form(&[("csrf", csrf.as_str()), ("username", "bench"), ("password", "bench password 1")])
        .send()
        .await
        .expect("sign in");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("qm_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();
    let queue = client.get(format!("{base}/pick")).send().await.expect("queue").text().await.expect("page");
    let csrf = csrf_re.captures(&queue).map(|c| c[1].to_owned()).expect("csrf");
    quartermaster::station::queue::claim(&pool, quartermaster::ids::OrderId(1), operator, "bench-1").await.expect("claim 1");
    quartermaster::station::queue::claim(&pool, quartermaster::ids::OrderId(2), operator, "bench-1").await.expect("claim 2");
    let sheet = client.get(format!("{base}/pick/1")).send().await.expect("pick page");
    assert_eq!(sheet.status().as_u16(), 200);
    let html = sheet.text().await.expect("html");
    assert_eq!(html.matches("data-line=").count(), 30, "a 30-line pick sheet");

    let mut rows = Vec::new();
    let rss_before = rss_mib();
    let (rps, p50, p99) = tokio::task::spawn_blocking({
        let (url, cookie) = (format!("{base}/pick/1"), cookie.clone());
        move || wrk(&url, &cookie)
    })
    .await
    .expect("wrk");
    rows.push(("pick page, 30 lines, direct: requests/s".into(), rps));
    rows.push(("pick page, direct: p50 / p99".into(), format!("{p50} / {p99}")));
    let nginx_dir = tempfile::tempdir().expect("nginx dir");
    for sub in ["body", "proxy", "fcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(nginx_dir.path().join(sub)).expect("nginx temp");
    }
    let (mut nginx, nginx_port) = nginx(port, nginx_dir.path());
    let (rps, p50, p99) = tokio::task::spawn_blocking({
        let (url, cookie) = (format!("http://127.0.0.1:{nginx_port}/pick/1"), cookie.clone());
        move || wrk(&url, &cookie)
    })
    .await
    .expect("wrk");
    let _ = nginx.kill();
    let _ = nginx.wait();
    rows.push(("pick page, through nginx: requests/s".into(), rps));
    rows.push(("pick page, through nginx: p50 / p99".into(), format!("{p50} / {p99}")));
    rows.push(("server RSS before / after load (MiB)".into(), format!("{rss_before:.1} / {:.1}", rss_mib())));

    // Scan → label at the printer, 200 times.
    let target = cups.target("bench-zebra");
    let upc = {
        let body = format!("8{:010}", 30);
        format!("{body}{}", quartermaster::inventory::gtin::check_digit(&body).unwrap_or(0))
    };
    let (mut total, mut scan_only) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let t0 = Instant::now();
        let r = client
            .post(format!("{base}/pick/2/scan"))
            .form(&[("csrf", csrf.as_str()), ("code", upc.as_str()), ("count", "1")])
            .send()
            .await
            .expect("scan");
        assert_eq!(r.status().as_u16(), 303, "scan {i} counted");
        scan_only.push(t0.elapsed());
        let label = zpl::serial_label("SKU-030", &format!("SN-{i:05}"));
        let (_, attempt) =
            ipp::submit(&pool, &target, ipp::DocumentKind::SerialLabel, label, Some((operator, "bench"))).await.expect("submit");
        assert!(matches!(attempt, ipp::Attempt::Sent { .. }), "{attempt:?}");
        let got = printer.wait_for(i + 1, Duration::from_secs(30)).await;
        assert_eq!(got.len(), i + 1, "label {i} reached the printer");
        total.push(t0.elapsed());
    }
    total.sort();
    scan_only.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    rows.push((
        "scan (HTTP POST, counted): p50 / p99".into(),
        format!("{} / {}", ms(percentile(&scan_only, 0.5)), ms(percentile(&scan_only, 0.99))),
    ));
    rows.push((
        "scan → label bytes at printer (200 prints): p50 / p99".into(),
        format!("{} / {}", ms(percentile(&total, 0.5)), ms(percentile(&total, 0.99))),
    ));
    rows.push(("scan → label: max".into(), ms(total.last().copied().unwrap_or_default())));
    drop(pool);
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}; DROP USER IF EXISTS 'qm_bench'@'localhost'; DROP USER IF EXISTS 'qm_bench'@'127.0.0.1'"
    )))
    .execute(&mut admin)
    .await;
    rows
}

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let rows = rt.block_on(run(&server));
    let mut table = String::from("| station benchmark | result |\n|---|---:|\n");
    for (k, v) in &rows {
        table.push_str(&format!("| {k} | {v} |\n"));
    }
    common::publish("station", &table);
}
