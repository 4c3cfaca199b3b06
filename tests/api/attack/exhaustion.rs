//! Exhaustion: hundreds of half-open connections and slow bodies against
//! `qm serve` directly and through the nginx edge, a thousand event-stream
//! clients, sign-ins past the session cap, and a YAML file built to expand.
//! Each is bounded, named, and leaves the server answering.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, free_port};
use quartermaster::{events::slots, operators::Role, web::session};

/// Opens `n` connections to `addr` that send half a request and stop.
async fn half_open(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").await.expect("write");
        held.push(s);
    }
    held
}

/// A POST that announces a body, sends a little of it, and stalls.
async fn stalled_body(addr: &str, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ncsrf=x&"
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s
}

/// Reads until the peer closes; how long it took (None: still open at `within`).
async fn closed_within(mut s: TcpStream, within: Duration) -> Option<(Duration, String)> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(started.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((started.elapsed(), String::from_utf8_lossy(&got).lines().next().unwrap_or("").to_owned()));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// `url` answered `tries` times on fresh connections: the latencies, sorted.
async fn latencies(url: &str, tries: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(tries);
    for _ in 0..tries {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), client.get(url).send())
            .await
            .unwrap_or_else(|_| panic!("{url} did not answer within 5 s under the load"))
            .expect("request");
        assert!(r.status().is_success(), "{url}: {}", r.status());
        out.push(started.elapsed());
    }
    out.sort();
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_connections_and_stalled_bodies_are_closed_and_healthz_still_answers() {
    let app = TestApp::spawn().await;
    let addr = app.address.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let held = half_open(&addr, 400).await;
    let stalled: Vec<TcpStream> = {
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(stalled_body(&addr, "/sign-in").await);
        }
        v
    };
    let l = latencies(&app.url("/healthz"), 50).await;
    eprintln!("/healthz direct under 400 half-open + 20 stalled bodies: p50 {} max {}", ms(l[25]), ms(l[49]));
    // Every half-open connection is closed by the server's header timeout.
    let bound = quartermaster::startup::HEADER_READ_TIMEOUT + Duration::from_secs(10);
    let closes = futures::future::join_all(held.into_iter().map(|s| closed_within(s, bound))).await;
    let open = closes.iter().filter(|c| c.is_none()).count();
    assert_eq!(open, 0, "{open} half-open connections were still held after {bound:?}");
    let slowest = closes.iter().flatten().map(|c| c.0).max().expect("closes");
    eprintln!("half-open connections closed by the server within {}", ms(slowest));
    // A stalled body is answered (408 or a named refusal) and closed within the body timeout.
    let answers = futures::future::join_all(
        stalled.into_iter().map(|s| closed_within(s, quartermaster::web::BODY_READ_TIMEOUT + Duration::from_secs(10))),
    )
    .await;
    for a in &answers {
        let (_, first) = a.as_ref().expect("a stalled body was still held after the body timeout");
        assert!(first.starts_with("HTTP/1.1 408") || first.starts_with("HTTP/1.1 4"), "a stalled body gets a 4xx: {first}");
    }
    assert!(app.get("/healthz").await.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_the_edge_half_open_connections_are_closed_and_the_edge_answers() {
    let app = TestApp::spawn_with("/ops", "").await;
    let ops: u16 = app.address.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).expect("port");
    let edge = crate::deploy::start_edge(ops, free_port()).await;
    let addr = format!("127.0.0.1:{}", edge.port);
    let held = half_open(&addr, 150).await;
    let stalled = stalled_body(&addr, "/ops/sign-in").await;
    let l = latencies(&format!("http://{addr}/edge-health"), 30).await;
    let through = latencies(&format!("http://{addr}/ops/static/app.css"), 10).await;
    eprintln!(
        "through the edge under 150 half-open + a stalled body: /edge-health p50 {} max {}; /ops/static/app.css p50 {} max {}",
        ms(l[15]),
        ms(l[29]),
        ms(through[5]),
        ms(through[9])
    );
    let bound = Duration::from_secs(25);
    let closes = futures::future::join_all(held.into_iter().map(|s| closed_within(s, bound))).await;
    assert_eq!(closes.iter().filter(|c| c.is_none()).count(), 0, "the edge held half-open connections past {bound:?}");
    let (_, first) = closed_within(stalled, bound).await.expect("the edge held a stalled body past its client_body_timeout");
    assert!(first.is_empty() || first.starts_with("HTTP/1.1 4"), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_event_streams_meet_the_caps_with_a_clear_refusal() {
    let app = TestApp::spawn().await;
    let mut sessions = Vec::new();
    for i in 0..40 {
        let op = app.add_operator(&format!("op{i}"), Role::Picker, "correct horse battery").await;
        sessions.push(session::create(&app.db.pool, op, 1, None, None).await.expect("session"));
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let open = |token: String| {
        let client = client.clone();
        let url = app.url("/events/stream");
        async move {
            let r = client.get(url).header("cookie", format!("{}={token}", session::SESSION_COOKIE)).send().await.expect("stream");
            let status = r.status().as_u16();
            if status == 200 { (status, String::new(), Some(r)) } else { (status, r.text().await.unwrap_or_default(), None) }
        }
    };
    // One operator: the per-operator cap, then a named refusal.
    let mut mine = Vec::new();
    for _ in 0..slots::PER_OPERATOR {
        let (status, body, r) = open(sessions[0].clone()).await;
        assert_eq!(status, 200, "{body}");
        mine.push(r);
    }
    let (status, body, _) = open(sessions[0].clone()).await;
    assert_eq!(status, 429);
    assert!(body.contains("16 live event streams open"), "{body}");
    drop(mine);
    until_no_stream_is_held(&app).await;
    // A thousand at once from 40 operators, who together may hold more than the
    // total cap allows: exactly the cap's worth open, the rest are told.
    let may_hold = sessions.len() * slots::PER_OPERATOR;
    assert!(
        may_hold > slots::TOTAL,
        "no total cap binds: {} operators may hold {may_hold} streams, the cap is {}",
        sessions.len(),
        slots::TOTAL
    );
    let started = Instant::now();
    let answers = futures::future::join_all((0..1000).map(|i| open(sessions[i % 40].clone()))).await;
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    let refused: Vec<&(u16, String, Option<reqwest::Response>)> = answers.iter().filter(|a| a.0 == 429).collect();
    assert_eq!(ok + refused.len(), 1000, "every client got 200 or 429");
    assert_eq!(ok, slots::TOTAL, "the total cap of {} is what held the 1,000 (not the per-operator one)", slots::TOTAL);
    assert!(refused.iter().all(|a| a.1.contains("live event streams")), "each refusal says why");
    let l = latencies(&app.url("/healthz"), 20).await;
    eprintln!(
        "1,000 stream clients: {ok} open, {} refused in {}; /healthz p50 {} max {}",
        refused.len(),
        ms(started.elapsed()),
        ms(l[10]),
        ms(l[19])
    );
    drop(answers);
    until_no_stream_is_held(&app).await;
}

/// The slots come back when the clients go (the server sees each connection close).
async fn until_no_stream_is_held(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.state.streams.open() > 0 {
        assert!(Instant::now() < deadline, "{} stream slots still held after the clients left", app.state.streams.open());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_past_the_session_cap_ends_the_oldest() {
    let app = TestApp::spawn().await;
    let op = app.add_operator("ann", Role::Picker, "correct horse battery").await;
    let mut tokens = Vec::new();
    for _ in 0..(quartermaster::operators::sessions::MAX_PER_OPERATOR + 5) {
        tokens.push(session::create(&app.db.pool, op, 1, None, None).await.expect("session"));
    }
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE operator_id = ?").bind(op).fetch_one(&app.db.pool).await.expect("n");
    assert_eq!(count, i64::from(quartermaster::operators::sessions::MAX_PER_OPERATOR));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let home = |t: &str| client.get(app.url("/")).header("cookie", format!("{}={t}", session::SESSION_COOKIE)).send();
    assert_eq!(home(&tokens[0]).await.expect("home").status(), 303, "the oldest session was ended");
    assert_eq!(home(tokens.last().expect("newest")).await.expect("home").status(), 200, "the newest stands");
}

#[test]
fn a_yaml_file_built_to_expand_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("tenant.yaml");
    // Nine levels of nine aliases: 9^9 (387 million) nodes once expanded.
    let mut yaml = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        yaml.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
    }
    yaml.push_str("tenant: *a9\n");
    std::fs::write(&path, &yaml).expect("write");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_qm")).args(["config", "check"]).arg(&path).output().expect("qm");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}{stderr}");
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("tenant.yaml"), "the error names the file: {said}");
    assert!(said.to_lowercase().contains("alias") || said.contains("repetition") || said.contains("recursion"), "and says why: {said}");
    eprintln!("an alias bomb is refused in {}: {}", ms(took), said.lines().next().unwrap_or(""));
}
