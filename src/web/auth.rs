//! Sign-in and sign-out.

use std::net::SocketAddr;

use askama::Template;
use axum::{
    Extension, Form, Router,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use axum_extra::extract::cookie::CookieJar;
use chrono::TimeDelta;
use serde::Deserialize;

use super::{
    AppState, Page, Result,
    chrome::{Chrome, chromed},
    session::{self, CSRF_COOKIE, MaybeSession, SESSION_COOKIE, Session},
};
use crate::{
    config::Secret,
    events::{self, Event, Severity},
    operators::{self, LockoutPolicy, SignIn},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(form).post(submit))
        .route("/sign-out", post(sign_out))
        .route("/sign-out-everywhere", post(sign_out_everywhere))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only same-app paths are followed after sign-in (no open redirect): the
/// app's own prefix, then a path of visible ASCII only. Browsers drop tabs
/// and newlines from URLs and read `\\` as `/`, so `/\t/evil.example/`
/// would leave the site; any such character sends the operator home.
fn safe_next(state: &AppState, next: Option<&str>) -> String {
    let home = format!("{}/", state.base);
    let Some(n) = next else { return home };
    let Some(rest) = n.strip_prefix(&home) else { return home };
    let visible = n.bytes().all(|b| b.is_ascii_graphic()) && !n.contains('\\');
    if visible && !rest.starts_with('/') && !n.contains("://") && n.len() <= 2048 { n.to_owned() } else { home }
}

/// The token the sign-in form carries: the session's when this browser is
/// already signed in (the CSRF check then expects it), else the pre-sign-in one.
fn form_token(state: &AppState, jar: CookieJar, signed: &MaybeSession) -> (CookieJar, String) {
    match &signed.0 {
        Some(s) => (jar, s.csrf.clone()),
        None => csrf_cookie(state, jar),
    }
}

async fn form(
    State(state): State<AppState>,
    Extension(signed): Extension<MaybeSession>,
    jar: CookieJar,
    Query(q): Query<NextQuery>,
) -> Response {
    let (jar, csrf) = form_token(&state, jar, &signed);
    let page = SignInPage {
        chrome: Chrome::public(&state, csrf),
        next: safe_next(&state, q.next.as_deref()),
        username: String::new(),
        error: None,
    };
    (jar, Page(page)).into_response()
}

/// The pre-sign-in CSRF cookie, created when missing or not signed by this server.
pub(super) fn csrf_cookie(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    match jar.get(CSRF_COOKIE).map(|c| c.value().to_owned()) {
        Some(v) if session::pre_sign_in_valid(state, &v) => (jar, v),
        _ => {
            let v = session::pre_sign_in_token(state);
            (jar.add(session::cookie(state, CSRF_COOKIE, v.clone())), v)
        }
    }
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Extension(signed): Extension<MaybeSession>,
    jar: CookieJar,
    Form(f): Form<SignInForm>,
) -> Result<Response> {
    let password = Secret::new(f.password);
    let policy = LockoutPolicy {
        max_failures: state.config.server.max_failed_sign_ins,
        lockout: TimeDelta::minutes(i64::from(state.config.server.lockout_minutes)),
    };
    let username = f.username.trim().to_owned();
    let ip = client_ip(&headers, peer);
    let outcome = operators::authenticate(&state.pool, &username, &password, &ip, policy).await?;
    let (status, error) = match outcome {
        SignIn::Ok(op) => {
            let ua = headers.get("user-agent").and_then(|v| v.to_str().ok());
            let token = session::create(&state.pool, op.id, state.config.server.session_hours, Some(&ip), ua).await?;
            events::record(
                &state.pool,
                Event::info("auth.sign_in", format!("{} signed in", op.display_name)).by(op.id).about("operator", op.id),
            )
            .await?;
            tracing::info!(operator = %op.username, "signed in");
            // A session this browser held before (another operator's, or an old one) ends here.
            if let Some(old) = jar.get(SESSION_COOKIE) {
                session::destroy(&state.pool, old.value()).await?;
                state.sessions.forget(old.value());
            }
            let jar = jar.add(session::cookie(&state, SESSION_COOKIE, token));
            return Ok((jar, Redirect::to(&safe_next(&state, f.next.as_deref()))).into_response());
        }
        SignIn::Invalid => {
            events::record(
                &state.pool,
                Event::info("auth.sign_in_failed", format!("failed sign-in for `{}` from {ip}", truncate(&username)))
                    .severity(Severity::Warning),
            )
            .await?;
            tracing::warn!(username = %truncate(&username), %ip, "sign-in failed");
            (StatusCode::UNAUTHORIZED, "Wrong username or password.".to_owned())
        }
        SignIn::Throttled { until } => {
            events::record(
                &state.pool,
                Event::info(
                    "auth.throttled",
                    format!("sign-ins as `{}` from {ip} are paused after repeated failures", truncate(&username)),
                )
                .severity(Severity::Warning),
            )
            .await?;
            tracing::warn!(username = %truncate(&username), %ip, "sign-in refused: too many failures from this address");
            (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed sign-ins from this computer: wait until {} and try again. Other computers are not affected; an admin can help sooner.",
                    state.local_time(until)
                ),
            )
        }
    };
    let (jar, csrf) = form_token(&state, jar, &signed);
    let page =
        SignInPage { chrome: Chrome::public(&state, csrf), next: safe_next(&state, f.next.as_deref()), username, error: Some(error) };
    Ok((status, jar, Page(page)).into_response())
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The client's address: nginx's X-Real-IP when the peer is a loopback or
/// private proxy, else the peer itself.
fn client_ip(headers: &HeaderMap, peer: SocketAddr) -> String {
    let ip = peer.ip();
    let behind_proxy = ip.is_loopback() || matches!(ip, std::net::IpAddr::V4(v4) if v4.is_private());
    headers.get("x-real-ip").and_then(|v| v.to_str().ok()).filter(|_| behind_proxy).map(str::to_owned).unwrap_or_else(|| ip.to_string())
}

/// Ends every session of the signed-in operator (a lost phone, a shared
/// computer left signed in), this one included.
async fn sign_out_everywhere(State(state): State<AppState>, session: Session, jar: CookieJar) -> Result<Response> {
    let ended = session::destroy_all(&state.pool, session.operator.id).await?;
    state.sessions.forget_operator(session.operator.id);
    events::record(
        &state.pool,
        Event::info(
            "auth.sign_out_everywhere",
            format!("{} signed out everywhere ({ended} sessions ended)", session.operator.display_name),
        )
        .by(session.operator.id),
    )
    .await?;
    let jar = jar.remove(session::cookie(&state, SESSION_COOKIE, String::new()));
    Ok((jar, Redirect::to(&format!("{}/sign-in", state.base))).into_response())
}

async fn sign_out(State(state): State<AppState>, session: Session, jar: CookieJar) -> Result<Response> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        session::destroy(&state.pool, c.value()).await?;
        state.sessions.forget(c.value());
    }
    events::record(
        &state.pool,
        Event::info("auth.sign_out", format!("{} signed out", session.operator.display_name)).by(session.operator.id),
    )
    .await?;
    let jar = jar.remove(session::cookie(&state, SESSION_COOKIE, String::new()));
    Ok((jar, Redirect::to(&format!("{}/sign-in", state.base))).into_response())
}

chromed!(SignInPage);
