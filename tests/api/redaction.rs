//! No secret reaches a log line, a page or the database. Runs the real
//! `qm serve` with debug logging, signs in (right and wrong passwords),
//! opens pages, stops it with SIGTERM, and greps everything it produced.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use quartermaster::operators::Role;

use crate::helpers::{TenantDir, TestDb, csrf_in};

#[tokio::test]
async fn secrets_never_reach_logs_pages_or_the_database() {
    let db = TestDb::empty().await;
    let tenant = TenantDir::write(&db, "", "");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let log_path = tenant.dir.path().join("qm.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["serve", "--config"])
        .arg(tenant.config_path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("QM_LOG", "debug")
        .env("QM_LOG_FORMAT", "json")
        .env_remove("QM_DATABASE_URL")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start qm serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.map(|r| r.status().is_success()).unwrap_or(false) {
        assert!(Instant::now() < deadline, "qm serve did not become ready:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
        assert!(child.try_wait().expect("wait").is_none(), "qm serve exited:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let password = "Operator-Pa55word-XYZ";
    let wrong_password = "Wrong-Guess-Pa55-QRS";
    let name = quartermaster::operators::Username::parse("grace").expect("name");
    quartermaster::operators::create(&db.pool, &name, "Grace", Role::Admin, &quartermaster::config::Secret::new(password))
        .await
        .expect("operator");

    let mut pages = String::new();
    for pw in [wrong_password, password] {
        let form = client.get(format!("{base}/sign-in")).send().await.expect("get").text().await.expect("text");
        let csrf = csrf_in(&form);
        let r = client
            .post(format!("{base}/sign-in"))
            .form(&[("csrf", csrf.as_str()), ("username", "grace"), ("password", pw)])
            .send()
            .await
            .expect("post");
        pages.push_str(&r.text().await.unwrap_or_default());
    }
    pages.push_str(&client.get(format!("{base}/")).send().await.expect("home").text().await.expect("text"));
    pages.push_str(&client.get(format!("{base}/readyz")).send().await.expect("ready").text().await.expect("text"));
    assert!(pages.contains("Grace · Admin"), "signed in through the real server");

    // SIGTERM: graceful shutdown, exit 0.
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(exit.success(), "qm serve should exit cleanly on SIGTERM, got {exit}");
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    assert!(logs.contains("shutdown requested") && logs.contains("\"stopped\""), "graceful shutdown is logged:\n{logs}");
    assert!(logs.contains("request_id"), "request ids are in the logs");

    let dump: Vec<(String,)> = sqlx::query_as(
        "SELECT CONCAT_WS('|', kind, message, COALESCE(data, '')) FROM event_log
         UNION ALL SELECT CONCAT_WS('|', username, display_name, password_hash) FROM operators
         UNION ALL SELECT CONCAT_WS('|', csrf_token, COALESCE(ip, ''), COALESCE(user_agent, '')) FROM sessions",
    )
    .fetch_all(&db.pool)
    .await
    .expect("dump");
    let database: String = dump.into_iter().map(|(s,)| s).collect::<Vec<_>>().join("\n");
    assert!(database.contains("auth.sign_in_failed"), "the failed sign-in was recorded");

    for (what, secret) in [
        ("database password", db.password.as_str()),
        ("WooCommerce key", tenant.secrets.woo_key.as_str()),
        ("WooCommerce secret", tenant.secrets.woo_secret.as_str()),
        ("operator password", password),
        ("mistyped password", wrong_password),
    ] {
        assert!(!logs.contains(secret), "{what} leaked into the logs");
        assert!(!pages.contains(secret), "{what} leaked into a page");
        assert!(!database.contains(secret), "{what} leaked into the database");
    }
}
