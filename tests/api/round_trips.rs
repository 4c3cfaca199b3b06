//! Pages at the floor: every station page costs one database round trip in
//! steady state, counted on the wire by a proxy between the app and
//! MariaDB (each command a client sends — a query, a prepared statement's
//! execution, a ping — is one round trip); and a session this replica has
//! cached still ends within `server.session_check_seconds` when another
//! replica (or the CLI) ends it.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::mysql::MySqlSslMode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{helpers::server_host_port, station::World};

/// A TCP proxy in front of MariaDB that records the command byte of every
/// packet a client starts a command with (sequence id 0 after the
/// handshake; `COM_QUERY` 0x03, `COM_STMT_PREPARE` 0x16, `COM_STMT_EXECUTE`
/// 0x17, `COM_PING` 0x0e…). TLS is off on connections through it, so the
/// packets can be read.
struct CommandCounter {
    addr: SocketAddr,
    commands: Arc<Mutex<Vec<u8>>>,
}

impl CommandCounter {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let commands = Arc::new(Mutex::new(Vec::new()));
        let (host, port) = server_host_port();
        let seen = commands.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect((host.as_str(), port)).await else { continue };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = server.into_split();
                    tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
                    let mut header = [0u8; 4];
                    while from_client.read_exact(&mut header).await.is_ok() {
                        let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
                        let mut payload = vec![0u8; len];
                        if from_client.read_exact(&mut payload).await.is_err() {
                            break;
                        }
                        if header[3] == 0 {
                            seen.lock().expect("commands").push(payload.first().copied().unwrap_or(0));
                        }
                        if to_server.write_all(&header).await.is_err() || to_server.write_all(&payload).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { addr, commands }
    }

    /// The commands sent since the last call.
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.commands.lock().expect("commands"))
    }
}

fn names(commands: &[u8]) -> String {
    let name = |c: &u8| match c {
        0x03 => "QUERY".to_owned(),
        0x0e => "PING".to_owned(),
        0x16 => "PREPARE".to_owned(),
        0x17 => "EXECUTE".to_owned(),
        0x19 => "CLOSE".to_owned(),
        other => format!("0x{other:02x}"),
    };
    commands.iter().map(name).collect::<Vec<_>>().join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_station_page_is_one_round_trip_in_steady_state() {
    let counter = CommandCounter::start().await;
    let proxied = Arc::new(Mutex::new(None));
    let slot = proxied.clone();
    let w = World::with_tweaked("  session_check_seconds: 60\n", "", &[], |state| {
        // The app's pool and its page reads reach MariaDB through the counter.
        let options = (*state.db_options).clone().host("127.0.0.1").port(counter.addr.port()).ssl_mode(MySqlSslMode::Disabled);
        let pool = sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_lazy_with(options.clone().timezone(Some("+00:00".into())).charset("utf8mb4"));
        *slot.lock().expect("slot") = Some(pool.clone());
        state.services.pool = pool;
        state.reads = Arc::new(quartermaster::db::reads::Reads::new(options, 4));
    })
    .await;
    let pool = proxied.lock().expect("slot").clone().expect("the proxied pool");

    // The counter counts: a prepared statement run three times is three executions.
    let mut conn = pool.acquire().await.expect("a connection through the counter");
    let one = || sqlx::query_scalar::<_, i32>("SELECT 1");
    one().fetch_one(&mut *conn).await.expect("prepare and run");
    counter.take();
    for _ in 0..3 {
        assert_eq!(one().fetch_one(&mut *conn).await.expect("run"), 1);
    }
    assert_eq!(names(&counter.take()), "EXECUTE, EXECUTE, EXECUTE", "the proxy sees each command once");
    drop(conn);

    let bolt = w.product("HXB-1", "01234500001", "B-10-1", true, &[("L1", 3, "B-10-1"), ("L2", 10, "B-10-2")]).await;
    let nut = w.product("NUT-2", "01234500002", "A-02-1", false, &[("N1", 20, "A-02-1")]).await;
    let order = w.order(&[(&bolt, 5), (&nut, 2)]).await;
    let _other = w.order(&[(&nut, 1)]).await;
    let p = w.picker("ann").await;
    p.post(&format!("/pick/{order}/claim"), &[("station", "bench-1")]).await;

    let pages = ["/pick".to_owned(), format!("/pick/{order}"), format!("/pick/{order}/pack"), format!("/pick/{order}/ship")];
    // The first visit prepares each statement on the connection it lands on
    // and checks the session; the pool has up to 4 connections, so visit
    // each page often enough that every connection has prepared it.
    for _ in 0..8 {
        for page in &pages {
            let (status, _) = p.get(page).await;
            assert_eq!(status, 200, "{page}");
        }
    }
    for page in &pages {
        counter.take();
        for _ in 0..5 {
            let (status, body) = p.get(page).await;
            assert_eq!(status, 200, "{page}");
            assert!(body.contains(&format!("/pick/{order}")), "{page} shows the order:\n{body}");
        }
        let sent = counter.take();
        assert_eq!(sent.len(), 5, "{page}: one round trip per request, saw {}: {}", sent.len(), names(&sent));
    }

    // A scan, picked through to the end, then the pages again: still one each.
    for _ in 0..2 {
        let (status, _, _) = p.post(&format!("/pick/{order}/scan"), &[("code", &nut.upc), ("count", "1")]).await;
        assert_eq!(status, 303);
    }
    let (_, sheet) = p.get(&format!("/pick/{order}")).await;
    assert!(sheet.contains("2/7 picked"), "the scans show:\n{sheet}");
    counter.take();
    let (status, _) = p.get(&format!("/pick/{order}")).await;
    assert_eq!(status, 200);
    let sent = counter.take();
    assert_eq!(sent.len(), 1, "after a scan: {}", names(&sent));

    // The scan POST itself: one round trip when it counts, two when it is
    // refused (the refusal's event). The first bolt scan reads its code
    // into memory and prepares the call.
    let scan = |code: &str, count: &str| {
        let (code, count) = (code.to_owned(), count.to_owned());
        let p = &p;
        async move { p.post(&format!("/pick/{order}/scan"), &[("code", &code), ("count", &count)]).await.0 }
    };
    assert_eq!(scan(&bolt.upc, "1").await, 303);
    counter.take();
    for _ in 0..3 {
        assert_eq!(scan(&bolt.upc, "1").await, 303, "counted");
    }
    let sent = counter.take();
    assert_eq!(names(&sent), "EXECUTE, EXECUTE, EXECUTE", "a counted scan is one round trip");
    assert_eq!(scan(&bolt.upc, "2").await, 422, "too many: 4 of 5 picked, 2 more");
    let sent = counter.take();
    assert_eq!(
        sent.iter().filter(|c| **c == 0x17).count(),
        3,
        "a refused scan: the call, its event, then the page it shows: {}",
        names(&sent)
    );
    let (_, sheet) = p.get(&format!("/pick/{order}")).await;
    assert!(sheet.contains("6/7 picked"), "the counted scans show, the refused one does not:\n{sheet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_elsewhere_ends_here_within_the_check_interval() {
    let w = World::with("  session_check_seconds: 2\n", "", &[]).await;
    let p = w.picker("ann").await;
    let (status, _) = p.get("/pick").await;
    assert_eq!(status, 200);
    // Another replica (or `qm operator passwd`) ends every session of ann: the table only.
    let ended = quartermaster::operators::sessions::destroy_all(&w.app.db.pool, p.id).await.expect("end sessions");
    assert_eq!(ended, 1);
    // This replica trusts its check for at most 2 s, then asks the table again.
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    loop {
        let r = p.client.get(format!("{}/pick", w.app.address)).send().await.expect("GET");
        if r.status().as_u16() == 303 {
            let to = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
            assert!(to.contains("/sign-in"), "sent to sign in, not {to}");
            break;
        }
        assert_eq!(r.status().as_u16(), 200);
        assert!(std::time::Instant::now() < deadline, "the ended session still works after the 2 s check interval");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // "Sign out everywhere" on this replica ends quinn's other browser here at once, whatever the interval.
    let q1 = w.picker("quinn").await;
    let q2 = w.signed_in("quinn", q1.id).await;
    assert_eq!(q2.get("/pick").await.0, 200, "the second browser's session is checked and cached");
    let (status, _, _) = q1.post("/sign-out-everywhere", &[]).await;
    assert_eq!(status, 303);
    let r = q2.client.get(format!("{}/pick", w.app.address)).send().await.expect("GET");
    assert_eq!(r.status().as_u16(), 303, "a session ended on this replica is refused here at once");
}
