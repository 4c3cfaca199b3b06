//! The signed unsubscribe link of review requests: no sign-in, authorised by
//! the HMAC in the link. A GET asks (mail scanners fetch links, so a GET
//! never changes anything); a POST records the opt-out, including the
//! one-click POST mail clients send for `List-Unsubscribe-Post` (RFC 8058).

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;

use super::{
    AppState, Page, Result,
    chrome::{Chrome, chromed},
};

pub fn router() -> Router<AppState> {
    // The link's signature is in the URL: no Referer may take it anywhere.
    Router::new().route("/unsubscribe", get(ask).post(record)).layer(super::no_referrer())
}

/// What the page says.
pub enum UnsubscribeState {
    Ask,
    Done,
    Invalid,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    chrome: Chrome,
    email: String,
    token: String,
    state: UnsubscribeState,
}

#[derive(Deserialize, Default)]
struct Link {
    #[serde(default)]
    e: String,
    #[serde(default)]
    t: String,
}

fn page(state: &AppState, link: &Link, s: UnsubscribeState) -> Response {
    let status = if matches!(s, UnsubscribeState::Invalid) { StatusCode::FORBIDDEN } else { StatusCode::OK };
    let p = UnsubscribePage { chrome: Chrome::public(state, String::new()), email: link.e.clone(), token: link.t.clone(), state: s };
    (status, Page(p)).into_response()
}

fn valid(state: &AppState, link: &Link) -> bool {
    state.secrets.get("reviews.link_key").is_some_and(|key| link.e.contains('@') && crate::mail::optout::verify(key, &link.e, &link.t))
}

async fn ask(State(state): State<AppState>, Query(link): Query<Link>) -> Response {
    let s = if valid(&state, &link) { UnsubscribeState::Ask } else { UnsubscribeState::Invalid };
    page(&state, &link, s)
}

async fn record(State(state): State<AppState>, Query(q): Query<Link>, body: axum::body::Bytes) -> Result<Response> {
    // The page's form carries e and t in the body; a one-click POST keeps them in the query.
    let link = match serde_urlencoded::from_bytes::<Link>(&body) {
        Ok(f) if !f.e.is_empty() => f,
        _ => q,
    };
    if !valid(&state, &link) {
        return Ok(page(&state, &link, UnsubscribeState::Invalid));
    }
    crate::mail::optout::opt_out(&state.pool, &link.e, "review requests").await?;
    crate::events::record(
        &state.pool,
        crate::events::Event::info("mail.opted_out", format!("{} asked for no more review requests", link.e))
            .audience(crate::events::Audience::BackOffice),
    )
    .await?;
    Ok(page(&state, &link, UnsubscribeState::Done))
}

chromed!(UnsubscribePage);
