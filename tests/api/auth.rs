//! Sign-in, sessions, CSRF, lock-out, health, and the base path.

use quartermaster::operators::Role;
use reqwest::StatusCode;

use crate::helpers::{TestApp, csrf_in};

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
    assert!(html.contains("auth.sign_in"), "the sign-in is in the event log on the page");
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

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn_with("", "  max_failed_sign_ins: 3\n  lockout_minutes: 10").await;
    let id = app.add_operator("luis", Role::BackOffice, PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(app.sign_in("luis", "guess-guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let third = app.sign_in("luis", "guess-guess").await;
    assert_eq!(third.status(), StatusCode::LOCKED);
    assert!(third.text().await.expect("html").contains("locked until"));
    let right = app.sign_in("luis", PASSWORD).await;
    assert_eq!(right.status(), StatusCode::LOCKED, "the right password does not open a locked account");
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM event_log WHERE kind = 'auth.locked_out'").fetch_one(&app.db.pool).await.expect("count");
    assert!(events >= 2, "lock-outs are in the event log");

    // When the lock-out has passed, the right password works again.
    sqlx::query("UPDATE operators SET locked_until = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE id = ?")
        .bind(id)
        .execute(&app.db.pool)
        .await
        .expect("expire");
    assert_eq!(app.sign_in("luis", PASSWORD).await.status(), StatusCode::SEE_OTHER);
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
    let swept = quartermaster::jobs::record(&app.db.pool, "session_sweep", async {
        quartermaster::jobs::session_sweep::run_once(&app.db.pool).await.map(|n| serde_json::json!({ "deleted": n }))
    })
    .await
    .expect("sweep");
    assert_eq!(swept["deleted"], 1);
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM job_runs WHERE job = 'session_sweep'").fetch_one(&app.db.pool).await.expect("run");
    assert_eq!(status, "ok");
}
