//! Quotes on the web, one file per audience: the back office (`office`:
//! RFQ inbox with reputation, the quote editor, versions and their diff,
//! send, accept, re-issue), the buyer's signed acceptance link (`buyer`),
//! and the machine API the storefront and mail forwarders use with
//! `X-QM-Intake-Token` (`api`: RFQ intake, a buyer's quotes as JSON, with
//! its one JSON error type).

mod api;
mod buyer;
mod office;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::StatusCode,
    routing::{get, post},
};

use super::AppState;
use crate::{
    money,
    operators::Role,
    quotes::{Ctx, QuoteError, rfq},
};

const BACK_OFFICE: &[Role] = &[Role::BackOffice];

/// Pages (behind sessions and CSRF).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/quotes", get(office::inbox))
        .route("/rfqs/{id}", get(office::rfq_page))
        .route("/rfqs/{id}/quote", post(office::quote_from_rfq))
        .route("/quotes/{id}", get(office::quote_page))
        .route("/quotes/{id}/revise", post(office::revise))
        .route("/quotes/{id}/send", post(office::send))
        .route("/quotes/{id}/mail", post(office::mail_again))
        .route("/quotes/{id}/accept", post(office::accept))
        .route("/quotes/{id}/reissue", post(office::reissue))
        .route("/quotes/{id}/lost", post(office::lost))
        .route("/quotes/{id}/versions/{version}/pdf", get(office::version_pdf))
        // The buyer's link carries its token in the URL: no Referer may take it anywhere.
        .merge(Router::new().route("/q/{number}", get(buyer::page).post(buyer::accept)).layer(super::no_referrer()))
}

/// The machine API (no session; the intake token instead).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/rfq", post(api::intake_form))
        .route("/rfq/email", post(api::intake_email))
        // RFQs up to rfq::MAX_BYTES are stored first; a larger body gets a JSON 413 from the handler.
        .layer(DefaultBodyLimit::max(rfq::MAX_BYTES))
        .route("/api/quotes", get(api::quotes))
        .route("/api/quotes/{number}", get(api::quote))
}

fn ctx<'a>(state: &'a AppState, base_dir: &'a std::path::Path) -> Ctx<'a> {
    Ctx { pool: &state.pool, config: &state.config, base_dir, weasy: &state.weasy, woo: &state.woo, mailer: state.mailer.as_deref() }
}

fn m(state: &AppState, minor: i64) -> String {
    money::format_minor(minor, money::exponent(&state.config.tenant.currency))
}

/// The status a quote refusal gets on a page or in the API.
fn status_of(e: &QuoteError) -> StatusCode {
    match e {
        QuoteError::NotFound(_) => StatusCode::NOT_FOUND,
        QuoteError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        QuoteError::Expired { .. } | QuoteError::WrongState { .. } => StatusCode::CONFLICT,
        QuoteError::BadToken => StatusCode::FORBIDDEN,
        QuoteError::Woo(_) => StatusCode::BAD_GATEWAY,
        QuoteError::Pdf(_) | QuoteError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
