//! Pick station benchmarks (`scripts/bench --bench station`):
//!
//! 1. **Side by side.** Quartermaster's pick page (the `qm` binary serving,
//!    its own process) against the same page in FastAPI + Jinja2 (the peer
//!    under benches/peer, uvicorn with a worker per core), the same 30-line
//!    order in the same MariaDB. Runs interleave (qm, peer, qm, peer …) over
//!    `QM_BENCH_ROUNDS` rounds (3), straight to the server and through
//!    nginx, with wrk at 1 and 16 connections for `QM_BENCH_SECONDS` (10).
//!    Each run: requests/s, p50, p99, the server's CPU ms per request (its
//!    process tree), MariaDB's CPU ms per request (the server process
//!    listening on the database port), the server's RSS. Then medians, the
//!    qm/peer ratios and the targets.
//! 2. **The floor on this machine**: a bare `SELECT 1` round trip, and an
//!    axum handler returning the pick page's bytes from memory.
//! 3. **Scan → label** at a socket printer through a private CUPS.
//! 4. **Growth**: pick and queue page latency (-c1) and qm's RSS at 1k, 10k,
//!    50k and 200k SKUs, then 100, 1,000 and 10,000 open orders.
//!
//! Prints the tables and writes target/bench/station.md. `QM_BENCH_HOLD=N`
//! keeps the seeded servers up N seconds first, printing their URLs and the
//! session cookie, for a profiler.

mod common;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use common::procs::{self, Wrk};
use quartermaster::{
    ids::OrderId,
    inventory::reserve,
    printing::{ipp, zpl},
    standin::cups::{LocalCups, RawPrinter},
};
use sqlx::{ConnectOptions, MySqlPool, mysql::MySqlConnectOptions};

const DB: &str = "qm_bench_station";

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A server under test: its process, its port, and where nginx serves it.
struct Server {
    name: &'static str,
    child: Child,
    port: u16,
    via_nginx: u16,
}

/// The `qm` binary serving the bench tenant.
fn start_qm(dir: &Path, db_url: &str) -> (Child, u16) {
    let port = procs::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["serve", "--config"])
        .arg(dir.join("tenant.yaml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("QM_DATABASE_URL", db_url)
        .env("QM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("qm serve");
    procs::wait_listening(port, "qm");
    (child, port)
}

/// The FastAPI + Jinja2 peer under uvicorn, a worker per core.
fn start_peer(python: &str, db_url: &str) -> (Child, u16) {
    let port = procs::free_port();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).to_string();
    let child = Command::new(python)
        .args(["-m", "uvicorn", "app:app", "--app-dir", "benches/peer", "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--workers", &workers, "--log-level", "warning", "--no-access-log"])
        .env("QM_PEER_DATABASE_URL", db_url)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("uvicorn (scripts/bench installs the peer's venv)");
    procs::wait_listening(port, "the peer");
    (child, port)
}

/// nginx proxying each of `upstreams` on a port of its own (as the edge does
/// for /ops/); returns the child and the ports, in order.
fn start_nginx(dir: &Path, upstreams: &[u16]) -> (Child, Vec<u16>) {
    for sub in ["body", "proxy", "fcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(sub)).expect("nginx temp");
    }
    let ports: Vec<u16> = upstreams.iter().map(|_| procs::free_port()).collect();
    let mut servers = String::new();
    for (i, (up, port)) in upstreams.iter().zip(&ports).enumerate() {
        servers.push_str(&format!(
            "  upstream u{i} {{ server 127.0.0.1:{up}; keepalive 32; }}\n  server {{ listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://u{i}; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $host; }} }}\n"
        ));
    }
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{servers}}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
    let child = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx");
    for p in &ports {
        procs::wait_listening(*p, "nginx");
    }
    (child, ports)
}

/// One measured run.
struct Run {
    round: u32,
    server: &'static str,
    path: &'static str,
    connections: u32,
    wrk: Wrk,
    cpu_ms: f64,
    db_cpu_ms: f64,
    rss: f64,
    load: String,
}

fn measure(s: &Server, path: &'static str, connections: u32, seconds: u32, cookie: &str, mariadb: Option<u32>, round: u32) -> Run {
    let port = if path == "direct" { s.port } else { s.via_nginx };
    let url = format!("http://127.0.0.1:{port}/pick/1");
    let pid = s.child.id();
    let (cpu0, db0) = (procs::cpu_seconds(pid), mariadb.map_or(0.0, procs::cpu_seconds));
    let wrk = procs::wrk(&url, cookie, connections, seconds);
    let (cpu1, db1) = (procs::cpu_seconds(pid), mariadb.map_or(0.0, procs::cpu_seconds));
    let per = |d: f64| if wrk.requests > 0.0 { d * 1000.0 / wrk.requests } else { f64::NAN };
    Run {
        round,
        server: s.name,
        path,
        connections,
        wrk,
        cpu_ms: per(cpu1 - cpu0),
        db_cpu_ms: if mariadb.is_some() { per(db1 - db0) } else { f64::NAN },
        rss: procs::rss_mib(pid),
        load: common::load(),
    }
}

/// The bench's data: 31 products with two FIFO lots each; order 1 of 30
/// lines across 30 bins, order 2 of one line (the scan bench); both reserved
/// and claimed by a picker whose session cookie is returned.
async fn seed(pool: &MySqlPool) -> (String, quartermaster::ids::OperatorId) {
    sqlx::query("INSERT INTO orders (woo_id, number, status, currency, customer_name, total_minor, woo_created_at, woo_modified_at, ship_name, ship_address1, ship_city, ship_postcode, ship_country) VALUES (1, '1001', 'processing', 'USD', 'Bench Buyer', 100000, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'Bench Buyer', '1 Main St', 'Chicago', '60607', 'US'), (2, '1002', 'processing', 'USD', 'Scan Buyer', 100000, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 'Scan Buyer', '1 Main St', 'Chicago', '60607', 'US')")
        .execute(pool)
        .await
        .expect("orders");
    for i in 0..31u64 {
        let pid = sqlx::query("INSERT INTO products (sku, name, upc, bin) VALUES (?, ?, ?, ?)")
            .bind(format!("SKU-{i:03}"))
            .bind(format!("Bench item {i} with a realistic, fairly long product name"))
            .bind(upc_of(i))
            .bind(format!("{}-{:02}-{}", ["A", "B", "C"][(i % 3) as usize], i, i % 4))
            .execute(pool)
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
                .execute(pool)
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
            .execute(pool)
            .await
            .expect("line");
    }
    let statuses = vec!["processing".to_owned()];
    for order in [1, 2] {
        reserve::reserve_order(pool, OrderId(order), &statuses, &quartermaster::station::queue::STATION_QUEUE).await.expect("reserve");
    }
    let username = quartermaster::operators::Username::parse("bench").expect("name");
    let operator = quartermaster::operators::create(
        pool,
        &username,
        "",
        quartermaster::operators::Role::Picker,
        &quartermaster::config::Secret::new("bench password 1"),
    )
    .await
    .expect("operator");
    for order in [1, 2] {
        quartermaster::station::queue::claim(pool, OrderId(order), operator, "bench-1").await.expect("claim");
    }
    let token = quartermaster::operators::sessions::create(pool, operator, 12, None, None).await.expect("session");
    (format!("qm_session={token}"), operator)
}

fn upc_of(i: u64) -> String {
    let body = format!("8{i:010}");
    format!("{body}{}", quartermaster::inventory::gtin::check_digit(&body).unwrap_or(0))
}

/// Grows the catalog to `skus` products (one lot each) and the open orders
/// to `orders` (3 lines each, reserved, queued), in bulk.
async fn grow(pool: &MySqlPool, skus: u64, orders: u64) {
    let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products").fetch_one(pool).await.expect("count");
    let have = u64::try_from(have).unwrap_or(0);
    if skus > have {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO products (sku, name, upc, bin) SELECT CONCAT('G-', seq), CONCAT('Growth item ', seq, ' with a fairly long name'), NULL, CONCAT('G-', seq % 97, '-', seq % 7) FROM seq_{a}_to_{b};
             INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor, location)
               SELECT p.id, 'G1', UTC_TIMESTAMP(6) - INTERVAL 5 DAY, 1000, 1000, 250, p.bin FROM products p LEFT JOIN inventory_lots l ON l.product_id = p.id WHERE l.id IS NULL",
            a = have + 1,
            b = skus
        )))
        .execute(pool)
        .await
        .expect("grow the catalog");
    }
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pick_queue WHERE status <> 'shipped'").fetch_one(pool).await.expect("count");
    let open = u64::try_from(open).unwrap_or(0);
    if orders > open {
        // The growth products come after the 31 of `seed`.
        common::open_orders(pool, 100_000 + open, orders - open, 32, skus.saturating_sub(31)).await;
    }
}

/// The page at `path` must be a 200 and hold `marker`.
async fn page(url: &str, cookie: &str, marker: &str) -> String {
    let r = reqwest::Client::new().get(url).header("cookie", cookie).send().await.expect("page");
    assert_eq!(r.status().as_u16(), 200, "{url}");
    let body = r.text().await.expect("body");
    assert!(body.contains(marker), "{url} shows {marker}:\n{body}");
    body
}

fn data_lines(html: &str) -> Vec<String> {
    html.split("data-line=\"").skip(1).filter_map(|s| s.split('"').next()).map(str::to_owned).collect()
}

/// An axum server returning `body` from memory: the HTTP floor.
async fn static_page(body: String) -> u16 {
    let router =
        axum::Router::new().route("/pick/{id}", axum::routing::get(move || std::future::ready(axum::response::Html(body.clone()))));
    quartermaster::standin::serve(router, "127.0.0.1:0").await.expect("floor server").port()
}

fn f1(v: f64) -> String {
    if v.is_nan() { "—".into() } else { format!("{v:.1}") }
}
fn f2(v: f64) -> String {
    if v.is_nan() { "—".into() } else { format!("{v:.2}") }
}
fn f3(v: f64) -> String {
    if v.is_nan() { "—".into() } else { format!("{v:.3}") }
}

async fn run(server_url: &str) -> String {
    let seconds = env_u32("QM_BENCH_SECONDS", 10);
    let rounds = env_u32("QM_BENCH_ROUNDS", 3).max(1);
    let (pool, _) = common::fresh_db(server_url, DB, 8).await;
    let db_url = format!("{}/{DB}", server_url.trim_end_matches('/'));
    let server_opts = MySqlConnectOptions::from_str(server_url).expect("url");
    let mariadb = procs::listening_on(server_opts.get_port());
    let (cookie, operator) = seed(&pool).await;

    // The tenant: one station with a ZPL printer on a private CUPS.
    let cups = LocalCups::start().await.expect("cupsd");
    let printer = RawPrinter::start().await.expect("printer");
    cups.add_raw_queue("bench-zebra", printer.port).expect("queue");
    let dir = common::tenant_dir(&format!(
        "printers: [{{ name: bench-zebra, uri: \"{uri}\", kind: zpl, station: bench-1 }}]\n",
        uri = cups.uri("bench-zebra")
    ));
    let (qm, qm_port) = start_qm(dir.path(), &db_url);
    let peer = std::env::var("QM_PEER_PYTHON").ok().map(|python| start_peer(&python, &db_url));
    let nginx_dir = tempfile::tempdir().expect("nginx dir");
    let mut upstreams = vec![qm_port];
    upstreams.extend(peer.as_ref().map(|(_, p)| *p));
    let (mut nginx, via) = start_nginx(nginx_dir.path(), &upstreams);
    let mut servers = vec![Server { name: "qm", child: qm, port: qm_port, via_nginx: via[0] }];
    if let Some((child, port)) = peer {
        servers.push(Server { name: "peer", child, port, via_nginx: via[1] });
    }

    // Both serve the same page: 30 lines in the same walking order.
    let mut pages = Vec::new();
    for s in &servers {
        for port in [s.port, s.via_nginx] {
            let html = page(&format!("http://127.0.0.1:{port}/pick/1"), &cookie, "Order 1001").await;
            assert_eq!(data_lines(&html).len(), 30, "{}: a 30-line pick sheet", s.name);
            pages.push((s.name, html));
        }
    }
    for (name, html) in &pages[1..] {
        assert_eq!(data_lines(html), data_lines(&pages[0].1), "{name} lists the lines in the same walking order as qm");
    }
    let qm_page = pages[0].1.clone();
    if let Some(hold) = std::env::var("QM_BENCH_HOLD").ok().and_then(|v| v.parse::<u64>().ok()) {
        // A profiling aid: the servers stay up, seeded, for `hold` seconds.
        for s in &servers {
            eprintln!("{} (pid {}): http://127.0.0.1:{}/pick/1 (nginx {})", s.name, s.child.id(), s.port, s.via_nginx);
        }
        eprintln!("cookie: {cookie}; holding {hold} s");
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    // Warm both (pools filled, statements prepared, workers started).
    for s in &servers {
        let _ = procs::wrk(&format!("http://127.0.0.1:{}/pick/1", s.port), &cookie, 16, 2);
        let _ = procs::wrk(&format!("http://127.0.0.1:{}/pick/1", s.via_nginx), &cookie, 16, 2);
    }

    // 1. Side by side, interleaved.
    let mut runs = Vec::new();
    for round in 1..=rounds {
        for path in ["direct", "nginx"] {
            for connections in [1, 16] {
                for s in &servers {
                    let r = tokio::task::block_in_place(|| measure(s, path, connections, seconds, &cookie, mariadb, round));
                    eprintln!(
                        "round {round} {} {path} -c{connections}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {:.3} CPU ms/req",
                        s.name, r.wrk.rps, r.wrk.p50_ms, r.wrk.p99_ms, r.cpu_ms
                    );
                    runs.push(r);
                }
            }
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "Pick page of a 30-line order, wrk {seconds} s per run, {rounds} rounds interleaved; MariaDB CPU from the process on port {} ({}).\n\n",
        server_opts.get_port(),
        mariadb.map_or_else(|| "not found: MariaDB CPU not measured".into(), |p| format!("pid {p}"))
    ));
    out.push_str("| round | server | path | conns | req/s | p50 ms | p99 ms | server CPU ms/req | MariaDB CPU ms/req | RSS MiB | load |\n|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in &runs {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |\n",
            r.round,
            r.server,
            r.path,
            r.connections,
            r.wrk.rps,
            f3(r.wrk.p50_ms),
            f3(r.wrk.p99_ms),
            f3(r.cpu_ms),
            f3(r.db_cpu_ms),
            f1(r.rss),
            r.load
        ));
    }
    let med = |server: &str, path: &str, c: u32, f: &dyn Fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().filter(|r| r.server == server && r.path == path && r.connections == c).map(f).collect();
        procs::median(&mut v)
    };
    out.push_str("\nMedians (qm / peer, and the ratio qm ÷ peer):\n\n| path | conns | req/s qm / peer | ratio | p50 ms qm / peer | p99 ms qm / peer | server CPU ms/req qm / peer | MariaDB CPU ms/req qm / peer | RSS MiB qm / peer |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let metrics: [&dyn Fn(&Run) -> f64; 6] =
        [&|r| r.wrk.rps, &|r| r.wrk.p50_ms, &|r| r.wrk.p99_ms, &|r| r.cpu_ms, &|r| r.db_cpu_ms, &|r| r.rss];
    for path in ["direct", "nginx"] {
        for c in [1, 16] {
            let q: Vec<f64> = metrics.iter().map(|f| med("qm", path, c, f)).collect();
            let p: Vec<f64> = metrics.iter().map(|f| med("peer", path, c, f)).collect();
            out.push_str(&format!(
                "| {path} | {c} | {:.0} / {:.0} | {}× | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} |\n",
                q[0],
                p[0],
                f2(q[0] / p[0]),
                f3(q[1]),
                f3(p[1]),
                f3(q[2]),
                f3(p[2]),
                f3(q[3]),
                f3(p[3]),
                f3(q[4]),
                f3(p[4]),
                f1(q[5]),
                f1(p[5])
            ));
        }
    }
    let ratio = |path: &str| med("qm", path, 16, &|r| r.wrk.rps) / med("peer", path, 16, &|r| r.wrk.rps);
    let qm_cpu = med("qm", "direct", 16, &|r| r.cpu_ms);
    let qm_p50 = med("qm", "direct", 1, &|r| r.wrk.p50_ms);
    let qm_rss = runs.iter().filter(|r| r.server == "qm").map(|r| r.rss).fold(0.0, f64::max);
    let yes = |ok: bool| if ok { "met" } else { "NOT met" };
    out.push_str("\n| target | goal | measured | |\n|---|---|---:|---|\n");
    out.push_str(&format!("| req/s vs peer, -c16 direct | ≥ 5× | {}× | {} |\n", f2(ratio("direct")), yes(ratio("direct") >= 5.0)));
    out.push_str(&format!("| req/s vs peer, -c16 through nginx | ≥ 3× | {}× | {} |\n", f2(ratio("nginx")), yes(ratio("nginx") >= 3.0)));
    out.push_str(&format!("| p50 at -c1, direct | ≤ 0.4 ms | {} ms | {} |\n", f3(qm_p50), yes(qm_p50 <= 0.4)));
    out.push_str(&format!("| qm CPU per page (-c16 direct) | ≤ 0.15 ms | {} ms | {} |\n", f3(qm_cpu), yes(qm_cpu <= 0.15)));
    out.push_str(&format!("| qm RSS under load (max of runs) | < 40 MiB | {} MiB | {} |\n", f1(qm_rss), yes(qm_rss < 40.0)));

    // 2. The floor.
    let mut conn = MySqlConnectOptions::from_str(&db_url).expect("url").connect().await.expect("connection");
    let mut trips = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        let _: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await.expect("select 1");
        trips.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let trip_p50 = procs::median(&mut trips);
    // The page's own statement alone, on one connection: what MariaDB costs per page before qm does anything.
    let mut sheet_trips = Vec::with_capacity(5_000);
    let db0 = mariadb.map_or(0.0, procs::cpu_seconds);
    for _ in 0..5_000 {
        let t = Instant::now();
        let sheet = quartermaster::station::pick::sheet(&mut conn, OrderId(1)).await.expect("sheet");
        sheet_trips.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(sheet.map(|(_, lines)| lines.len()), Some(30), "the 30-line sheet");
    }
    let sheet_db_ms = if mariadb.is_some() { (mariadb.map_or(0.0, procs::cpu_seconds) - db0) * 1000.0 / 5_000.0 } else { f64::NAN };
    let sheet_p50 = procs::median(&mut sheet_trips);
    let floor_port = static_page(qm_page).await;
    let floor1 = tokio::task::block_in_place(|| procs::wrk(&format!("http://127.0.0.1:{floor_port}/pick/1"), &cookie, 1, seconds));
    let floor16 = tokio::task::block_in_place(|| procs::wrk(&format!("http://127.0.0.1:{floor_port}/pick/1"), &cookie, 16, seconds));
    out.push_str("\nThe floor on this machine:\n\n| floor | p50 ms | p99 ms | req/s |\n|---|---:|---:|---:|\n");
    out.push_str(&format!("| `SELECT 1` round trip (sqlx, one connection, 20,000 times) | {} | — | — |\n", f3(trip_p50)));
    out.push_str(&format!(
        "| the pick sheet's statement alone, decoded (5,000 times; MariaDB CPU {} ms each) | {} | — | — |\n",
        f3(sheet_db_ms),
        f3(sheet_p50)
    ));
    out.push_str(&format!(
        "| axum handler, the page's bytes from memory, -c1 | {} | {} | {:.0} |\n",
        f3(floor1.p50_ms),
        f3(floor1.p99_ms),
        floor1.rps
    ));
    out.push_str(&format!(
        "| axum handler, the page's bytes from memory, -c16 | {} | {} | {:.0} |\n",
        f3(floor16.p50_ms),
        f3(floor16.p99_ms),
        floor16.rps
    ));

    // 3. Scan → label at the printer, 200 times.
    let base = format!("http://127.0.0.1:{qm_port}");
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let queue = page(&format!("{base}/pick"), &cookie, "1002").await;
    let csrf = queue.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf").to_owned();
    let target = cups.target("bench-zebra");
    let upc = upc_of(30);
    let (mut total, mut scan_only) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let t0 = Instant::now();
        let r = client
            .post(format!("{base}/pick/2/scan"))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("code", upc.as_str()), ("count", "1")])
            .send()
            .await
            .expect("scan");
        assert_eq!(r.status().as_u16(), 303, "scan {i} counted");
        scan_only.push(t0.elapsed().as_secs_f64() * 1000.0);
        let label = zpl::serial_label("SKU-030", &format!("SN-{i:05}"));
        let (_, attempt) =
            ipp::submit(&pool, &target, ipp::DocumentKind::SerialLabel, label, Some((operator, "bench"))).await.expect("submit");
        assert!(matches!(attempt, ipp::Attempt::Sent { .. }), "{attempt:?}");
        let got = printer.wait_for(i + 1, Duration::from_secs(30)).await;
        assert_eq!(got.len(), i + 1, "label {i} reached the printer");
        total.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    };
    out.push_str("\n| scan → label (200 prints) | p50 ms | p99 ms |\n|---|---:|---:|\n");
    out.push_str(&format!("| scan (HTTP POST, counted) | {} | {} |\n", f2(pct(&mut scan_only, 0.5)), f2(pct(&mut scan_only, 0.99))));
    out.push_str(&format!("| scan → label bytes at the printer | {} | {} |\n", f2(pct(&mut total, 0.5)), f2(pct(&mut total, 0.99))));

    // 4. Growth.
    let grow_seconds = (seconds / 2).max(2);
    out.push_str(&format!("\nGrowth (qm, direct, -c1, {grow_seconds} s each):\n\n| SKUs | open orders | pick page p50 / p99 ms | queue page p50 / p99 ms | qm RSS MiB |\n|---:|---:|---:|---:|---:|\n"));
    for (skus, orders) in [(1_000, 100), (10_000, 100), (50_000, 100), (200_000, 100), (200_000, 1_000), (200_000, 10_000)] {
        let t = Instant::now();
        grow(&pool, skus, orders).await;
        eprintln!("grown to {skus} SKUs, {orders} open orders in {:.1} s", t.elapsed().as_secs_f64());
        page(&format!("{base}/pick"), &cookie, "queued").await;
        let pick = tokio::task::block_in_place(|| procs::wrk(&format!("{base}/pick/1"), &cookie, 1, grow_seconds));
        let queue = tokio::task::block_in_place(|| procs::wrk(&format!("{base}/pick"), &cookie, 1, grow_seconds));
        out.push_str(&format!(
            "| {skus} | {orders} | {} / {} | {} / {} | {} |\n",
            f3(pick.p50_ms),
            f3(pick.p99_ms),
            f3(queue.p50_ms),
            f3(queue.p99_ms),
            f1(procs::rss_mib(servers[0].child.id()))
        ));
    }

    procs::stop(&mut nginx, Duration::from_secs(10));
    for s in &mut servers {
        procs::stop(&mut s.child, Duration::from_secs(10));
    }
    for port in via.iter().chain(servers.iter().map(|s| &s.port)) {
        assert!(std::net::TcpStream::connect(("127.0.0.1", *port)).is_err(), "nothing the bench started still listens on {port}");
    }
    drop(pool);
    common::drop_db(server_url, DB).await;
    out
}

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let out = rt.block_on(run(&server));
    common::publish("station", &out);
}
