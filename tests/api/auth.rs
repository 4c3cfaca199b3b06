//! Sign-in, sessions, CSRF, lock-out, health, and the base path.

use quartermaster::operators::Role;
use reqwest::StatusCode;

use crate::helpers::{TenantDir, TestApp, TestDb, cookie_client, csrf_in};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn every_page_but_health_needs_sign_in() {
    let app = TestApp::spawn().await;
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/sign-in?next=/");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["migrations"], "ok");
    assert_eq!(body["checks"]["config"], "ok");
    assert!(app.get("/").await.headers().contains_key("x-request-id"), "every response carries a request id");
}

#[tokio::test]
async fn a_picker_signs_in_sees_home_and_signs_out() {
    let app = TestApp::spawn().await;
    app.add_operator("rosa", Role::Picker, PASSWORD).await;
    let r = app.sign_in("rosa", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let cookie =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap_or_default().to_owned()).find(|c| c.starts_with("qm_session="));
    let cookie = cookie.expect("session cookie set");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let home = app.get("/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.expect("html");
    assert!(html.contains("rosa · Picker"), "{html}");
    assert!(!html.contains("auth.sign_in"), "sign-ins are in the log for admins, not on a picker's page");
    assert!(html.contains("America/Chicago"), "times are shown in the tenant's zone");

    let csrf = csrf_in(&html);
    let out = app.post_form("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER, "signed out");
    let (sessions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions").fetch_one(&app.db.pool).await.expect("count");
    assert_eq!(sessions, 0, "the session row is gone");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.add_operator("rosa", Role::Picker, PASSWORD).await;
    let wrong = app.sign_in("rosa", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_html = wrong.text().await.expect("html");
    assert!(wrong_html.contains("Wrong username or password."));
    let unknown = app.sign_in("nobody", "whatever-pass").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(unknown.text().await.expect("html").contains("Wrong username or password."));
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    app.add_operator("rosa", Role::Picker, PASSWORD).await;
    // Before sign-in: no token, or a token that does not match the cookie.
    let _ = app.get("/sign-in").await;
    let none = app.post_form("/sign-in", &[("username", "rosa"), ("password", PASSWORD)]).await;
    assert_eq!(none.status(), StatusCode::FORBIDDEN);
    let forged = app.post_form("/sign-in", &[("csrf", &"0".repeat(64)), ("username", "rosa"), ("password", PASSWORD)]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // A cross-site attacker has no cookie at all.
    let bare = reqwest::Client::new()
        .post(app.url("/sign-in"))
        .form(&[("csrf", "x"), ("username", "rosa"), ("password", PASSWORD)])
        .send()
        .await
        .expect("post");
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);

    // Signed in: the sign-out form needs the session's token.
    assert_eq!(app.sign_in("rosa", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let wrong = app.post_form("/sign-out", &[("csrf", &"f".repeat(64))]).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let json = app.client.post(app.url("/sign-out")).header("content-type", "application/json").body("{}").send().await.expect("post");
    assert_eq!(json.status(), StatusCode::FORBIDDEN, "non-form bodies need the X-CSRF-Token header");
    assert_eq!(app.get("/").await.status(), StatusCode::OK, "still signed in");
}

/// Signs in from the client address `ip` (nginx's X-Real-IP, trusted from loopback).
async fn sign_in_from(app: &TestApp, ip: &str, username: &str, password: &str) -> reqwest::Response {
    let page = app.client.get(app.url("/sign-in")).header("x-real-ip", ip).send().await.expect("GET").text().await.expect("page");
    let csrf = csrf_in(&page);
    app.client
        .post(app.url("/sign-in"))
        .header("x-real-ip", ip)
        .form(&[("csrf", csrf.as_str()), ("username", username), ("password", password)])
        .send()
        .await
        .expect("POST")
}

#[tokio::test]
async fn repeated_failures_throttle_that_address_for_that_name_the_same_for_known_and_unknown_names() {
    let app = TestApp::spawn_with("", "  max_failed_sign_ins: 3\n  lockout_minutes: 10").await;
    app.add_operator("luis", Role::BackOffice, PASSWORD).await;
    let attacker = "203.0.113.9";
    // A known name and an unknown one get the same answers, in the same order.
    for name in ["luis", "nobody-here"] {
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(sign_in_from(&app, attacker, name, "guess-guess").await.status().as_u16());
        }
        assert_eq!(seen, vec![401, 401, 429, 429], "{name}");
    }
    let throttled = sign_in_from(&app, attacker, "luis", PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS, "the right password from the throttled address waits too");
    assert!(throttled.text().await.expect("html").contains("Other computers are not affected"));
    // The pick station, at another address, is not locked out by a stranger.
    let station = sign_in_from(&app, "192.0.2.20", "luis", PASSWORD).await;
    assert_eq!(station.status(), StatusCode::SEE_OTHER, "another address signs in during the attack");
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM event_log WHERE kind = 'auth.throttled'").fetch_one(&app.db.pool).await.expect("count");
    assert!(events >= 2, "throttling is in the event log");
    // When the wait has passed, the right password works from that address again.
    sqlx::query("UPDATE sign_in_throttle SET blocked_until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND")
        .execute(&app.db.pool)
        .await
        .expect("expire");
    assert_eq!(sign_in_from(&app, attacker, "luis", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    // Each further failure doubles the wait (1, 2, 4 … minutes, up to the lockout).
    assert_eq!(sign_in_from(&app, attacker, "nobody-here", "guess-guess").await.status().as_u16(), 429);
    sqlx::query("UPDATE sign_in_throttle SET blocked_until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND")
        .execute(&app.db.pool)
        .await
        .expect("expire");
    assert_eq!(sign_in_from(&app, attacker, "nobody-here", "guess-guess").await.status().as_u16(), 429);
    let wait: i64 = sqlx::query_scalar(
        "SELECT TIMESTAMPDIFF(SECOND, last_failure_at, blocked_until) FROM sign_in_throttle WHERE account = 'nobody-here'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("wait");
    assert!((230..=250).contains(&wait), "the fifth failure waits 4 minutes: {wait} s");
}

#[tokio::test]
async fn one_address_failing_across_many_names_is_throttled_too() {
    let app = TestApp::spawn_with("", "  max_failed_sign_ins: 3\n  lockout_minutes: 10").await;
    let mut last = 0;
    for i in 0..16 {
        last = sign_in_from(&app, "198.51.100.7", &format!("user{i}"), "guess-guess").await.status().as_u16();
    }
    assert_eq!(last, 429, "fifteen failures over fifteen names from one address");
    assert_eq!(sign_in_from(&app, "198.51.100.8", "user0", "guess-guess").await.status().as_u16(), 401, "another address is not slowed");
}

#[tokio::test]
async fn sign_in_returns_to_the_page_asked_for_but_never_off_site() {
    let app = TestApp::spawn().await;
    app.add_operator("mei", Role::Admin, PASSWORD).await;
    let page = app.get("/sign-in?next=//evil.example/").await.text().await.expect("html");
    assert!(page.contains(r#"name="next" value="/""#), "off-site next is replaced by home");
    let csrf = csrf_in(&page);
    let r =
        app.post_form("/sign-in", &[("csrf", &csrf), ("username", "mei"), ("password", PASSWORD), ("next", "https://evil.example/")]).await;
    assert_eq!(r.headers()["location"], "/");
    // Browsers drop tabs and newlines from URLs (and read \ as /): each of these left the site, or gave a 500.
    for next in ["/\t/evil.example/", "/\n/evil.example/", "/\x7f", "/\\evil.example", "/ /evil.example", "/caf\u{e9}", "//evil.example"] {
        let page = app.client.get(app.url("/sign-in")).query(&[("next", next)]).send().await.expect("GET").text().await.expect("page");
        assert!(page.contains(r#"name="next" value="/""#), "{next:?} replaced on the page");
        let r = app.post_form("/sign-in", &[("csrf", &csrf_in(&page)), ("username", "mei"), ("password", PASSWORD), ("next", next)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(r.headers()["location"], "/", "{next:?}");
    }
    // A same-app path with a query is kept.
    let page = app.get("/sign-in").await.text().await.expect("page");
    let r =
        app.post_form("/sign-in", &[("csrf", &csrf_in(&page)), ("username", "mei"), ("password", PASSWORD), ("next", "/quotes?x=1")]).await;
    assert_eq!(r.headers()["location"], "/quotes?x=1");
}

#[tokio::test]
async fn sign_out_everywhere_and_a_new_password_end_every_session() {
    let app = TestApp::spawn().await;
    app.add_operator("rosa", Role::Picker, PASSWORD).await;
    let laptop = app.browser();
    assert_eq!(app.sign_in("rosa", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(laptop.sign_in("rosa", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    // Signing in again in the same browser ends that browser's earlier session.
    assert_eq!(app.sign_in("rosa", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let count = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions").fetch_one(&app.db.pool).await.expect("count");
        n
    };
    assert_eq!(count().await, 2, "one session per browser");
    let csrf = csrf_in(&app.get("/").await.text().await.expect("home"));
    let r = app.post_form("/sign-out-everywhere", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(laptop.get("/").await.status(), StatusCode::SEE_OTHER, "the other computer is signed out");
    assert_eq!(count().await, 0);

    // A new password (`qm operator password`) ends every session too.
    assert_eq!(laptop.sign_in("rosa", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let mut qm = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["operator", "password", "--username", "rosa", "--password-stdin", "--config"])
        .arg(app._tenant.config_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("qm");
    use std::io::Write;
    qm.stdin.take().expect("stdin").write_all(b"a brand new passphrase\n").expect("write");
    let out = qm.wait_with_output().expect("qm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 session(s) ended"), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(laptop.get("/").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(laptop.sign_in("rosa", PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "the old password is gone");
    assert_eq!(laptop.sign_in("rosa", "a brand new passphrase").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_pre_sign_in_token_must_be_one_the_server_signed_and_other_sites_are_refused() {
    let app = TestApp::spawn().await;
    app.add_operator("rosa", Role::Picker, PASSWORD).await;
    let fresh = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    // Equal cookie and field, but not issued by the server: empty, or planted by a page on the same origin.
    for planted in ["", &"a".repeat(64), "0123456789abcdef0123456789abcdef.00"] {
        let r = fresh()
            .post(app.url("/sign-in"))
            .header("cookie", format!("qm_csrf={planted}"))
            .form(&[("csrf", planted), ("username", "rosa"), ("password", PASSWORD)])
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "planted {planted:?}");
    }
    // The server's own token passes, unless the browser says the form came from another site.
    let token = csrf_in(&app.get("/sign-in").await.text().await.expect("page"));
    assert!(token.contains('.'), "the sign-in page's token is signed: {token}");
    for (header, value) in
        [("origin", "http://evil.example"), ("origin", "null"), ("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site")]
    {
        let r = app
            .client
            .post(app.url("/sign-in"))
            .header(header, value)
            .form(&[("csrf", token.as_str()), ("username", "rosa"), ("password", PASSWORD)])
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{header}: {value}");
    }
    let host = app.address.trim_start_matches("http://").to_owned();
    let r = app
        .client
        .post(app.url("/sign-in"))
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", token.as_str()), ("username", "rosa"), ("password", PASSWORD)])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the same origin signs in");
}

#[tokio::test]
async fn each_role_sees_the_events_meant_for_it() {
    use quartermaster::events::{self, Event};
    let app = TestApp::spawn().await;
    for (name, role) in [("rosa", Role::Picker), ("bo", Role::BackOffice), ("ada", Role::Admin)] {
        app.add_operator(name, role, PASSWORD).await;
    }
    // A failed sign-in (a username and an address) and an RFQ (a customer's address).
    assert_eq!(app.sign_in("mallory", "guess-guess").await.status(), StatusCode::UNAUTHORIZED);
    events::record(&app.db.pool, Event::info("rfq.received", "RFQ 1 from buyer.example: dana@buyer.example")).await.expect("event");
    events::record(&app.db.pool, Event::info("pick.picked", "order 7 picked")).await.expect("event");
    let seen = |who: &'static str| {
        let browser = app.browser();
        async move {
            assert_eq!(browser.sign_in(who, PASSWORD).await.status(), StatusCode::SEE_OTHER);
            let home = browser.get("/").await.text().await.expect("home");
            let mut stream = browser.get("/events/stream").await;
            let mut sse = String::new();
            while let Ok(Ok(Some(chunk))) = tokio::time::timeout(std::time::Duration::from_millis(700), stream.chunk()).await {
                sse.push_str(&String::from_utf8_lossy(&chunk));
            }
            (home, sse)
        }
    };
    let (home, sse) = seen("rosa").await;
    for text in [&home, &sse] {
        assert!(text.contains("order 7 picked"), "{text}");
        assert!(!text.contains("dana@buyer.example") && !text.contains("mallory"), "a picker sees no customer or sign-in data:\n{text}");
    }
    assert!(!home.contains("/quotes\"") && !home.contains("/inventory/receive"), "no links to pages a picker cannot open");
    let (home, sse) = seen("bo").await;
    assert!(home.contains("dana@buyer.example") && sse.contains("dana@buyer.example"), "{home}");
    assert!(!home.contains("mallory") && !sse.contains("mallory"), "sign-in failures are for admins: {home}");
    let (home, _) = seen("ada").await;
    assert!(home.contains("mallory") && home.contains("dana@buyer.example"), "{home}");
}

#[tokio::test]
async fn under_a_base_path_links_cookies_and_redirects_carry_the_prefix() {
    let app = TestApp::spawn_with("/ops", "").await;
    app.add_operator("tom", Role::Picker, PASSWORD).await;
    let r = app.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ops/sign-in?next=/ops/");
    let page = app.get("/sign-in").await.text().await.expect("html");
    assert!(page.contains(r#"action="/ops/sign-in""#) && page.contains(r#"href="/ops/static/app.css""#), "{page}");
    let signed = app.sign_in("tom", PASSWORD).await;
    let cookie = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .find(|c| c.starts_with("qm_session="));
    assert!(cookie.expect("cookie").contains("Path=/ops"));
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    assert_eq!(app.get("/static/brand.css").await.status(), StatusCode::OK);
    // Health stays at the root for the container healthcheck.
    let health = app.client.get(format!("{}/healthz", app.address)).send().await.expect("get");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn expired_sessions_are_refused_and_swept() {
    let app = TestApp::spawn().await;
    app.add_operator("sam", Role::Picker, PASSWORD).await;
    assert_eq!(app.sign_in("sam", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    sqlx::query("UPDATE sessions SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND").execute(&app.db.pool).await.expect("expire");
    assert_eq!(app.get("/").await.status(), StatusCode::SEE_OTHER);
    let swept = quartermaster::jobs::record(&app.db.pool, "session_sweep", None, async {
        quartermaster::operators::sessions::sweep(&app.db.pool)
            .await
            .map(|n| serde_json::json!({ "deleted": n }))
            .map_err(anyhow::Error::from)
    })
    .await
    .expect("sweep");
    assert_eq!(swept["deleted"], 1);
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM job_runs WHERE job = 'session_sweep'").fetch_one(&app.db.pool).await.expect("run");
    assert_eq!(status, "ok");
}

#[tokio::test]
async fn a_module_turned_off_has_no_routes_and_no_links() {
    use crate::helpers::{INTAKE_TOKEN, TenantDir, TestDb};
    let db = TestDb::empty().await;
    let tenant = TenantDir::write(&db, "", "");
    let path = tenant.config_path();
    let yaml = std::fs::read_to_string(&path).expect("tenant file");
    assert!(yaml.contains("modules: { ebay: false, accounting: false }"), "the test tenant's modules line moved");
    let off = yaml.replace(
        "modules: { ebay: false, accounting: false }",
        "modules: { ebay: false, accounting: false, quotes: false, fulfillment: false }",
    );
    std::fs::write(&path, off).expect("write");
    let app = TestApp::spawn_in(db, tenant, "").await;
    app.add_operator("boss", Role::Admin, "correct horse battery").await;
    assert_eq!(app.sign_in("boss", "correct horse battery").await.status().as_u16(), 303);
    for path in ["/quotes", "/pick", "/q/TESTCO-00001", "/api/quotes?email=a@b.example"] {
        assert_eq!(app.get(path).await.status().as_u16(), 404, "{path} is gone with its module");
    }
    let r =
        app.client.post(app.url("/rfq")).header("X-QM-Intake-Token", INTAKE_TOKEN).json(&serde_json::json!({})).send().await.expect("rfq");
    assert_eq!(r.status().as_u16(), 404, "intake is gone with quotes");
    let home = app.get("/").await.text().await.expect("home");
    assert!(home.contains("/inventory/receive"), "receiving stays: {home}");
    assert!(!home.contains("/quotes\"") && !home.contains("/pick\""), "no links to modules that are off: {home}");
}

/// Behind the edge, the sign-in page can come from one ops replica and the
/// form land on another: with `server.signing_key` both sign alike; without
/// it (one replica) the other refuses the form.
#[tokio::test]
async fn a_sign_in_page_from_one_replica_signs_in_on_another_when_they_share_the_signing_key() {
    for shared in [true, false] {
        let db = TestDb::empty().await;
        let server = if shared { "  signing_key: ref+file://secrets/signing_key" } else { "" };
        let tenant = TenantDir::write(&db, "", server);
        std::fs::write(tenant.dir.path().join("secrets/signing_key"), "a-signing-key-the-vault-holds-0123456789").expect("write");
        let app = TestApp::spawn_in(db, tenant, "").await;
        app.add_operator("rosa", Role::Picker, PASSWORD).await;
        let other = app.replica().await;
        // One browser: cookies are per host, not per port, as behind one edge.
        let browser = cookie_client();
        let page = browser.get(app.url("/sign-in")).send().await.expect("GET").text().await.expect("page");
        let token = csrf_in(&page);
        let r = browser
            .post(format!("{other}/sign-in"))
            .form(&[("csrf", token.as_str()), ("username", "rosa"), ("password", PASSWORD)])
            .send()
            .await
            .expect("POST");
        let want = if shared { StatusCode::SEE_OTHER } else { StatusCode::FORBIDDEN };
        assert_eq!(r.status(), want, "shared key {shared}");
        if shared {
            // The session is in the database: the first replica knows it too.
            let home = browser.get(app.url("/")).send().await.expect("GET");
            assert_eq!(home.status(), StatusCode::OK, "signed in on one replica, served by the other");
        }
    }
}
