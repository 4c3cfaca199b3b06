//! Dashboard benchmarks (run with `scripts/bench --bench dashboard`):
//! 1. the dashboard page with 24 collectors, one of them slow (2 s) and one
//!    failing, against the demo catalog in MariaDB: p50/p99/max over 200
//!    renders (target: p99 bounded by the slowest deadline, not the slowest
//!    source), and the same board without the two for comparison;
//! 2. the event stream fanned out to 200 browsers through nginx (the edge's
//!    SSE settings): events/s delivered and delivery latency p50/p99;
//! 3. a `/metrics` scrape: p50/p99 and its size.
//!
//! Prints a table and writes target/bench/dashboard.md.

mod common;

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use quartermaster::{
    dashboard::{Board, Collector, collectors},
    events::{self, Event},
    operators::{self, Role, Username},
    standin::collectors::{Failing, Slow},
    startup::Application,
};

/// A 2 s source and a failing one, each re-collected every second.
fn slow() -> Slow {
    Slow { ttl: Duration::from_secs(1), ..Slow::new(Duration::from_secs(2)) }
}
fn failing() -> Failing {
    Failing { ttl: Duration::from_secs(1) }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// nginx with the edge's event-stream settings, stopped with SIGTERM (its workers go with the master).
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        quartermaster::standin::terminate(&mut self.child, Duration::from_secs(10));
    }
}

fn nginx(app_port: u16) -> Nginx {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let conf = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           upstream ops {{ server 127.0.0.1:{app_port}; keepalive 32; }}\n\
           server {{ listen 127.0.0.1:{port};\n    location /events/ {{ proxy_pass http://ops; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $host; proxy_buffering off; proxy_cache off; gzip off; proxy_read_timeout 1h; }}\n    location / {{ proxy_pass http://ops; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Host $host; }} }}\n}}\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).expect("nginx.conf");
    let child = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx (scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx { child, port, _dir: dir }
}

/// Renders `/dashboard` `n` times, one after another, 20 ms apart.
async fn renders(http: &reqwest::Client, url: &str, cookie: &str, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = http.get(url).header("Cookie", cookie).send().await.expect("GET");
        assert_eq!(r.status().as_u16(), 200);
        r.bytes().await.expect("body");
        out.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out.sort();
    out
}

async fn run(server: &str) -> Vec<(String, String)> {
    let name = DB;
    let (pool, _) = common::fresh_db(server, name, 4).await;
    quartermaster::demo::seed(&pool, 300).await.expect("demo data");
    let (mut state, _dir) = common::app_state("").await;
    let mut board: Vec<Arc<dyn Collector>> = collectors::all().into_iter().take(22).collect();
    board.push(Arc::new(slow()));
    board.push(Arc::new(failing()));
    let n_collectors = board.len();
    state.board = Arc::new(Board::new(board));
    let app = Application::build(state.clone(), "127.0.0.1:0").await.expect("bind");
    let port = app.port();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let user = Username::parse("bench").expect("name");
    let id =
        operators::create(&pool, &user, "", Role::Admin, &quartermaster::config::Secret::new("bench-password-1")).await.expect("operator");
    let token = operators::sessions::create(&pool, id, 12, None, None).await.expect("session");
    let cookie = format!("qm_session={token}");
    let http = reqwest::Client::new();
    let mut rows = Vec::new();

    // 1. Renders.
    let url = format!("http://127.0.0.1:{port}/dashboard");
    renders(&http, &url, &cookie, 5).await; // warm the pool and the caches
    let with = renders(&http, &url, &cookie, 200).await;
    let deadlines: Vec<Duration> =
        collectors::all().iter().take(22).map(|c| c.deadline()).chain([slow().deadline(), failing().deadline()]).collect();
    let slowest = deadlines.iter().max().copied().unwrap_or_default();
    rows.push((
        format!("dashboard, {n_collectors} collectors incl. a 2 s and a failing source: p50 / p99 / max"),
        format!("{} / {} / {}", ms(percentile(&with, 0.5)), ms(percentile(&with, 0.99)), ms(*with.last().expect("renders"))),
    ));
    rows.push(("  the slowest deadline (the bound p99 must keep to)".into(), ms(slowest)));
    state.board = Arc::new(Board::new(collectors::all().into_iter().take(22).collect()));
    let app2 = Application::build(state.clone(), "127.0.0.1:0").await.expect("bind");
    let url2 = format!("http://127.0.0.1:{}/dashboard", app2.port());
    tokio::spawn(app2.run_until_stopped(std::future::pending()));
    renders(&http, &url2, &cookie, 5).await;
    let without = renders(&http, &url2, &cookie, 200).await;
    rows.push((
        "dashboard, the same 22 without them: p50 / p99 / max".into(),
        format!("{} / {} / {}", ms(percentile(&without, 0.5)), ms(percentile(&without, 0.99)), ms(*without.last().expect("renders"))),
    ));

    // 2. Fan-out through nginx.
    let edge = nginx(port);
    let clients = 200usize;
    let events_n = 500usize;
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events_n]));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
    let start_id = events::newest_id(&pool).await.expect("id");
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients);
    for _ in 0..clients {
        let (url, cookie, sent_at, latencies, ready) = (
            format!("http://127.0.0.1:{}/events/stream?after={start_id}", edge.port),
            cookie.clone(),
            sent_at.clone(),
            latencies.clone(),
            ready_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut resp = client.get(&url).header("Cookie", cookie).send().await.expect("stream");
            assert_eq!(resp.status().as_u16(), 200);
            let _ = ready.send(()).await;
            let mut buf = String::new();
            let mut seen = 0usize;
            while seen < events_n {
                let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(30), resp.chunk()).await else { break };
                let now = Instant::now();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if let Some(seq) = frame
                        .split("fanout #")
                        .nth(1)
                        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|n| n.parse::<usize>().ok())
                    {
                        seen += 1;
                        if let Some(Some(t)) = sent_at.lock().ok().and_then(|s| s.get(seq).copied()) {
                            latencies.lock().expect("lock").push(now - t);
                        }
                    }
                }
            }
            seen
        }));
    }
    drop(ready_tx);
    for _ in 0..clients {
        ready_rx.recv().await.expect("a client connected");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fan_start = Instant::now();
    for seq in 0..events_n {
        if let Ok(mut s) = sent_at.lock() {
            s[seq] = Some(Instant::now());
        }
        events::record(&pool, Event::info("bench.fanout", format!("fanout #{seq}"))).await.expect("event");
        // 250 events/s offered.
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let mut delivered = 0usize;
    for t in tasks {
        delivered += t.await.expect("client");
    }
    let fan_elapsed = fan_start.elapsed();
    let mut lat = latencies.lock().expect("lock").clone();
    lat.sort();
    rows.push((
        format!("SSE fan-out through nginx, {clients} clients × {events_n} events offered at 250/s: delivered"),
        format!(
            "{delivered} of {} in {:.2} s = {:.0} events/s",
            clients * events_n,
            fan_elapsed.as_secs_f64(),
            delivered as f64 / fan_elapsed.as_secs_f64()
        ),
    ));
    rows.push((
        "  delivery latency p50 / p99 / max".into(),
        format!("{} / {} / {}", ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.99)), ms(lat.last().copied().unwrap_or_default())),
    ));
    drop(edge);

    // 3. Scrapes.
    let murl = format!("http://127.0.0.1:{port}/metrics");
    let mut scrapes = Vec::with_capacity(200);
    let mut size = 0;
    for _ in 0..200 {
        let t = Instant::now();
        let body = http.get(&murl).send().await.expect("scrape").bytes().await.expect("body");
        scrapes.push(t.elapsed());
        size = body.len();
    }
    scrapes.sort();
    rows.push((
        "/metrics scrape: p50 / p99".into(),
        format!("{} / {} ({} KiB)", ms(percentile(&scrapes, 0.5)), ms(percentile(&scrapes, 0.99)), size / 1024),
    ));
    rows.push(("machine load (1/5/15 min) after the run".into(), common::load()));
    common::drop_db(server, name).await;
    rows
}

const DB: &str = "qm_bench_dashboard";

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    common::with_database_url(&server, DB);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let rows = runtime.block_on(run(&server));
    common::table("dashboard", "dashboard benchmark", &rows);
}
