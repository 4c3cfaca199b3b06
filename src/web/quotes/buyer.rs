//! The buyer's signed acceptance link: the sent revision, and Accept.

use askama::Template;
use axum::{
    Extension, Form,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::{ctx, m, status_of};
use crate::{
    quotes::{
        QuoteError, listing, quote,
        send::{self, Acceptor},
    },
    web::{
        AppState, Page,
        chrome::{Chrome, chromed},
        session::{MaybeSession, Session},
    },
};

#[derive(Template)]
#[template(path = "quotes/buyer.html")]
pub(super) struct BuyerPage {
    chrome: Chrome,
    number: String,
    token: String,
    revision: String,
    lines: Vec<(String, u32, String, String)>,
    total: String,
    valid_until: String,
    status: String,
    alert: Option<String>,
    done: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn buyer_view(state: &AppState, csrf: String, number: &str, token: &str) -> std::result::Result<BuyerPage, (StatusCode, String)> {
    let refuse = || (StatusCode::FORBIDDEN, QuoteError::BadToken.to_string());
    let id = match send::quote_for_link(&state.pool, number, token).await {
        Ok(id) => id,
        Err(QuoteError::Db(_)) => return Err((StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side".to_owned())),
        Err(_) => return Err(refuse()),
    };
    let status = match listing::head(&state.pool, id).await {
        Ok(Some(h)) => h.status,
        _ => return Err(refuse()),
    };
    let vs = quote::versions(&state.pool, id).await.map_err(|_| refuse())?;
    let v = vs.iter().rev().find(|v| v.state == "sent").ok_or_else(refuse)?;
    let s = &v.snapshot;
    Ok(BuyerPage {
        chrome: Chrome::public(state, csrf),
        number: number.to_owned(),
        token: token.to_owned(),
        revision: v.revision.map(|r| format!("R{r}")).unwrap_or_default(),
        lines: s
            .lines
            .iter()
            .map(|l| {
                (l.description.clone(), l.quantity, l.unit_price_minor.map(|p| m(state, p)).unwrap_or_default(), m(state, l.total_minor))
            })
            .collect(),
        total: format!("{} {}", m(state, s.total_minor), s.currency),
        valid_until: state.local_time(s.valid_until),
        status,
        alert: None,
        done: None,
    })
}

/// The CSRF token the buyer's form must carry: the session's when someone is
/// signed in on this browser (the middleware checks that one), else the cookie's.
fn buyer_csrf(state: &AppState, jar: CookieJar, signed: Option<Session>) -> (CookieJar, String) {
    match signed {
        Some(s) => (jar, s.csrf),
        None => crate::web::auth::csrf_cookie(state, jar),
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    Extension(MaybeSession(signed)): Extension<MaybeSession>,
    jar: CookieJar,
    Path(number): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (jar, csrf) = buyer_csrf(&state, jar, signed);
    match buyer_view(&state, csrf, &number, &q.token).await {
        Ok(page) => (jar, Page(page)).into_response(),
        Err((status, text)) => (status, text).into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct BuyerForm {
    #[serde(default)]
    token: String,
}

pub(super) async fn accept(
    State(state): State<AppState>,
    Extension(MaybeSession(signed)): Extension<MaybeSession>,
    jar: CookieJar,
    Path(number): Path<String>,
    Form(f): Form<BuyerForm>,
) -> Response {
    let (jar, csrf) = buyer_csrf(&state, jar, signed);
    let mut page = match buyer_view(&state, csrf, &number, &f.token).await {
        Ok(p) => p,
        Err((status, text)) => return (status, text).into_response(),
    };
    let base_dir = state.loaded.base_dir();
    let outcome = match send::quote_for_link(&state.pool, &number, &f.token).await {
        Ok(id) => send::accept(&ctx(&state, &base_dir), id, Acceptor::Buyer { number: &number, token: &f.token }).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(order) => {
            page.done = Some(order);
            page.status = "accepted".into();
            (jar, Page(page)).into_response()
        }
        Err(e) => {
            let status = status_of(&e);
            page.alert = Some(if matches!(e, QuoteError::Db(_) | QuoteError::Pdf(_)) {
                "something went wrong on our side; please try again".into()
            } else {
                e.to_string()
            });
            (status, jar, Page(page)).into_response()
        }
    }
}

chromed!(BuyerPage);
