//! The advisory lock over GET_LOCK, with real separate connections as
//! separate replicas would have.

use std::time::Duration;

use quartermaster::db::lock::{self, LockError, LockName};

use crate::helpers::{TestDb, admin};

/// A tenant of these tests' own: advisory locks are server-wide, and other
/// tests' apps (tenant `testco`) run their pollers and jobs beside these.
/// nextest runs each test in its own process, so one name per process.
static TENANT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| format!("lk{}", crate::helpers::random_hex(4)));

fn name(job: &str) -> LockName {
    LockName::new(&TENANT, job).expect("name")
}

#[tokio::test]
async fn only_one_holder_at_a_time_and_release_hands_it_over() {
    let tdb = TestDb::empty().await;
    let n = name("poller");
    let mut a = lock::acquire(&tdb.options(), &n, Duration::ZERO).await.expect("first holder");
    a.ensure_held().await.expect("held");
    match lock::acquire(&tdb.options(), &n, Duration::ZERO).await {
        Err(LockError::Busy { holder, .. }) => assert_eq!(holder, Some(a.connection_id()), "busy names the holder's connection"),
        other => panic!("second acquire must be refused, got {:?}", other.map(|g| g.connection_id())),
    }
    a.release().await.expect("release");
    let b = lock::acquire(&tdb.options(), &n, Duration::ZERO).await.expect("free after release");
    // A different name is independent.
    let other = lock::acquire(&tdb.options(), &name("tracking"), Duration::ZERO).await.expect("other lock");
    drop(other);
    drop(b);
}

#[tokio::test]
async fn a_waiter_times_out_after_its_bound_and_gets_the_lock_when_freed_in_time() {
    let tdb = TestDb::empty().await;
    let n = name("sync");
    let a = lock::acquire(&tdb.options(), &n, Duration::ZERO).await.expect("holder");
    let err = lock::acquire(&tdb.options(), &n, Duration::from_millis(1200)).await.err().expect("times out");
    let LockError::Busy { holder, waited, .. } = err else { panic!("{err}") };
    assert_eq!((holder, waited), (Some(a.connection_id()), Duration::from_millis(1200)), "refused after its bound, naming the holder");

    // A waiter with a longer bound gets it as soon as the holder lets go.
    let opts = tdb.options();
    let n2 = n.clone();
    let waiter = tokio::spawn(async move { lock::acquire(&opts, &n2, Duration::from_secs(20)).await });
    // Released once the waiter is in GET_LOCK (its connection shows the user-lock wait).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.processlist WHERE user = ? AND info LIKE 'SELECT GET_LOCK%'")
                .bind(&tdb.user)
                .fetch_one(&tdb.pool)
                .await
                .expect("processlist");
        if waiting > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the waiter never reached GET_LOCK");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.release().await.expect("release");
    let b = waiter.await.expect("join").expect("waiter acquires once released");
    drop(b);
}

#[tokio::test]
async fn a_dead_holder_frees_the_lock_and_knows_it_lost_it() {
    let tdb = TestDb::empty().await;
    let n = name("poller");
    let mut a = lock::acquire(&tdb.options(), &n, Duration::ZERO).await.expect("holder");
    // The holder's connection dies (killed by the server, as on a crash or network cut).
    let mut root = admin().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL CONNECTION {}", a.connection_id()))).execute(&mut root).await.expect("kill");
    let b = lock::acquire(&tdb.options(), &n, Duration::from_secs(5)).await.expect("lock is free once the holder died");
    let lost = a.ensure_held().await.expect_err("the dead holder must not believe it still holds the lock");
    assert!(matches!(lost, LockError::Lost(_)), "{lost}");
    drop(b);
}

#[tokio::test]
async fn dropping_the_guard_releases_the_lock() {
    let tdb = TestDb::empty().await;
    let n = name("alerts");
    {
        let _a = lock::acquire(&tdb.options(), &n, Duration::ZERO).await.expect("holder");
        // Leaves scope, e.g. on an error path with `?`.
    }
    let b = lock::acquire(&tdb.options(), &n, Duration::from_secs(5)).await.expect("released on drop");
    b.release().await.expect("release");
}

#[tokio::test]
async fn the_lock_never_leaks_to_pooled_connections() {
    let tdb = TestDb::empty().await;
    let n = name("poller");
    let g = lock::acquire(&tdb.options(), &n, Duration::ZERO).await.expect("holder");
    // No pooled connection holds it: the guard's connection is its own.
    for _ in 0..8 {
        let mine: Option<i64> =
            sqlx::query_scalar("SELECT IS_USED_LOCK(?) = CONNECTION_ID()").bind(n.as_str()).fetch_one(&tdb.pool).await.expect("query");
        assert_eq!(mine, Some(0), "a pooled connection must not own the lock");
    }
    g.release().await.expect("release");
    let used: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)").bind(n.as_str()).fetch_one(&tdb.pool).await.expect("query");
    assert_eq!(used, None, "released for everyone");
}

#[tokio::test]
async fn names_longer_than_mariadb_allows_are_refused_before_the_server_sees_them() {
    let err = LockName::new("testco", &"j".repeat(60)).expect_err("too long");
    assert!(err.to_string().contains("64"), "{err}");
    // MariaDB 10.11 silently takes longer names (MySQL and newer MariaDB
    // refuse them), which is why the check lives in our code.
    let exact = LockName::new("testco", &"j".repeat(64 - "qm:testco:".len())).expect("64 is allowed");
    let tdb = TestDb::empty().await;
    let g = lock::acquire(&tdb.options(), &exact, Duration::ZERO).await.expect("a 64-character name works on the server");
    g.release().await.expect("release");
}
