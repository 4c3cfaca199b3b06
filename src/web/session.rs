//! Sessions and CSRF for every browser page.
//!
//! The session cookie (`qm_session`, HttpOnly, SameSite=Strict, Secure unless
//! turned off for plain-HTTP development) holds a random 256-bit token; the
//! database keeps only its SHA-256. [`layer`] runs before every handler:
//! it loads the session and refuses any state-changing request whose CSRF
//! token (form field `csrf` or header `X-CSRF-Token`) does not match the
//! session's, or, before sign-in, the `qm_csrf` cookie's (double submit).
//! Handlers therefore cannot forget CSRF.

use axum::{
    body::{Body, to_bytes},
    extract::{FromRequestParts, OriginalUri, Request, State},
    http::{Method, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::{AppState, error::AppError};
use crate::operators::{Operator, Role};

/// Session cookie name.
pub const SESSION_COOKIE: &str = "qm_session";
/// Pre-sign-in CSRF cookie name.
pub const CSRF_COOKIE: &str = "qm_csrf";
/// Largest form body the CSRF check buffers.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// A signed-in operator and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub operator: Operator,
    pub csrf: String,
}

impl Session {
    /// Refuses unless the operator has one of `roles` (admins always pass).
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if self.operator.role == Role::Admin || roles.contains(&self.operator.role) { Ok(()) } else { Err(AppError::Forbidden) }
    }
}

/// The session found by [`layer`], if any.
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<Session>);

pub use crate::token::random_token;

pub use crate::operators::sessions::{create, destroy, destroy_all};

fn pre_sign_in_mac(state: &AppState, nonce: &str) -> Vec<u8> {
    state.form_key.mac(b"qm pre-sign-in csrf\0", nonce.as_bytes())
}

/// A pre-sign-in CSRF token the server issued: `NONCE.HMAC`. A cookie planted
/// by a page on the same origin (WordPress shares it under `/ops/`) carries no
/// valid signature, so double submit alone cannot be forged.
pub fn pre_sign_in_token(state: &AppState) -> String {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let nonce = hex::encode(nonce);
    let mac = hex::encode(pre_sign_in_mac(state, &nonce));
    format!("{nonce}.{mac}")
}

/// Whether a pre-sign-in token was issued by this server (or a replica
/// sharing its `server.signing_key`).
pub fn pre_sign_in_valid(state: &AppState, token: &str) -> bool {
    let Some((nonce, mac)) = token.split_once('.') else { return false };
    let Ok(given) = hex::decode(mac) else { return false };
    nonce.len() == 32 && bool::from(pre_sign_in_mac(state, nonce).ct_eq(&given))
}

/// Looks a token up (the session's operator and CSRF token), from the
/// cache when this process checked it within the last few seconds.
async fn lookup(state: &AppState, token: &str) -> Result<Option<Session>, sqlx::Error> {
    let found = state.sessions.lookup(&state.reads, token, state.config.server.session_hours).await?;
    Ok(found.map(|(operator, csrf)| Session { operator, csrf }))
}

/// Builds a cookie scoped to the app's base path.
pub fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let path = if state.base.is_empty() { "/".to_owned() } else { state.base.to_string() };
    Cookie::build((name, value)).http_only(true).same_site(SameSite::Strict).secure(state.config.server.secure_cookies).path(path).build()
}

/// Loads the session and enforces CSRF on every unsafe method.
pub async fn layer(State(state): State<AppState>, jar: CookieJar, request: Request, next: Next) -> Response {
    let session = match jar.get(SESSION_COOKIE) {
        Some(c) => match lookup(&state, c.value()).await {
            Ok(s) => s,
            Err(e) => return AppError::from(e).into_response(),
        },
        None => None,
    };
    let mut request = request;
    if !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        if let Some(why) = cross_origin(request.headers()) {
            tracing::warn!(why, "request refused: it came from another site");
            return AppError::Csrf.into_response();
        }
        let expected = match &session {
            Some(s) => Some(s.csrf.clone()),
            None => jar.get(CSRF_COOKIE).map(|c| c.value().to_owned()).filter(|v| pre_sign_in_valid(&state, v)),
        };
        match check_csrf(request, expected.as_deref()).await {
            Ok(r) => request = r,
            Err(resp) => return resp,
        }
    }
    request.extensions_mut().insert(MaybeSession(session));
    next.run(request).await
}

/// Why an unsafe request came from elsewhere, if it did: the browser says so
/// (`Sec-Fetch-Site` other than same-origin or none), or its `Origin` is not
/// the host it was sent to.
fn cross_origin(headers: &axum::http::HeaderMap) -> Option<&'static str> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Some("Sec-Fetch-Site");
        }
    }
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or("null");
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok())?;
    let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    match authority {
        Some(a) if a.eq_ignore_ascii_case(host) => None,
        _ => Some("Origin"),
    }
}

/// Compares the request's token with `expected`; hands the request back
/// (with its body restored) when they match.
async fn check_csrf(request: Request, expected: Option<&str>) -> Result<Request, Response> {
    let reject = || {
        tracing::warn!("request refused: missing or wrong CSRF token");
        AppError::Csrf.into_response()
    };
    let Some(expected) = expected.filter(|e| !e.is_empty()) else { return Err(reject()) };
    if let Some(h) = request.headers().get("x-csrf-token") {
        return if h.as_bytes().ct_eq(expected.as_bytes()).into() { Ok(request) } else { Err(reject()) };
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(reject());
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_FORM_BYTES).await.map_err(|e| {
        let why =
            if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("timed out")) || e.to_string().contains("timed out") {
                "the form was sent too slowly and was cut off"
            } else {
                "the form is larger than 1 MiB, or was cut off"
            };
        AppError::invalid("body", why).into_response()
    })?;
    let provided = form_urlencoded_field(&bytes, "csrf");
    match provided {
        Some(p) if !p.is_empty() && bool::from(p.as_bytes().ct_eq(expected.as_bytes())) => {
            Ok(Request::from_parts(parts, Body::from(bytes)))
        }
        _ => Err(reject()),
    }
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok()?.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Extractor for pages that need a signed-in operator.
impl FromRequestParts<AppState> for Session {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<MaybeSession>() {
            Some(MaybeSession(Some(s))) => Ok(s.clone()),
            _ => {
                // Under a base path the router sees the stripped URI; return to the full one.
                let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
                let next = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
                Err(AppError::SignInRequired { next, base: state.base.to_string() })
            }
        }
    }
}
