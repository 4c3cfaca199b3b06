//! The HTTP surface: one router per domain merged here, shared state, the
//! session/CSRF layer, request ids, tracing and security headers.

mod assets;
mod auth;
mod books;
mod chrome;
mod csv;
mod dashboard;
pub mod error;
mod events;
mod health;
mod home;
mod inventory;
mod metrics;
mod quotes;
pub mod session;
mod station;
mod unsubscribe;
mod webhooks;

use std::{sync::Arc, time::Duration};

use askama::Template;
use axum::{
    Router,
    body::Body,
    http::{HeaderName, HeaderValue, Request, StatusCode, Uri, header},
    middleware,
    response::{Html, IntoResponse, Redirect, Response},
};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::{
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
    trace::TraceLayer,
};

pub use crate::app::AppState;
pub use error::{AppError, Result};

/// An askama page rendered as HTML; render errors become a logged 500.
pub struct Page<T>(pub T);

impl<T: Template> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        match self.0.render() {
            Ok(html) => Html(html).into_response(),
            Err(e) => AppError::from(e).into_response(),
        }
    }
}

/// Serves the pages under the base path the edge proxy gives us (e.g.
/// `/ops/…`): the prefix is stripped before routing, so every domain router
/// is written at `/`, and pages build their links from `AppState::base`.
async fn under_base(base: Arc<str>, pages: Router, mut req: Request<Body>) -> Response {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix(&*base) else { return StatusCode::NOT_FOUND.into_response() };
    if rest.is_empty() {
        return Redirect::permanent(&format!("{base}/")).into_response();
    }
    if !rest.starts_with('/') {
        return StatusCode::NOT_FOUND.into_response();
    }
    let rewritten = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    match rewritten.parse::<Uri>() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    match pages.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Request ids `PREFIX-N`: a random prefix per process and a counter, unique
/// across replicas without a call for randomness (a system call) per request.
#[derive(Clone)]
struct Sequential {
    prefix: Arc<str>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl Sequential {
    fn new() -> Self {
        Self { prefix: crate::token::random_token()[..12].into(), next: Arc::new(std::sync::atomic::AtomicU64::new(1)) }
    }
}

impl MakeRequestId for Sequential {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix)).ok().map(RequestId::new)
    }
}

/// A request body that sends nothing for this long is cut off (a 4xx, the
/// connection closed); a whole request has 60 s ([`TimeoutLayer`]).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// `Referrer-Policy: no-referrer` for pages whose URL carries a token (the
/// buyer's quote link, the unsubscribe link): every other page is
/// `same-origin`, which would still hand the URL to our own assets' requests.
fn no_referrer() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"))
}

/// The whole application router: health at the root, pages under the base path.
pub fn router(state: AppState) -> Router {
    // A module the tenant turned off has no routes at all (a 404, not a page that fails).
    let modules = &state.config.modules;
    let mut signed_in = Router::new().merge(home::router()).merge(auth::router()).merge(inventory::router()).merge(events::router());
    if modules.fulfillment {
        signed_in = signed_in.merge(station::router());
    }
    if modules.quotes {
        signed_in = signed_in.merge(quotes::router());
    }
    if state.ledger.is_some() {
        signed_in = signed_in.merge(books::router());
    }
    if modules.dashboard {
        signed_in = signed_in.merge(dashboard::router());
    }
    let mut pages = signed_in.layer(middleware::from_fn_with_state(state.clone(), session::layer)).merge(assets::router());
    if modules.quotes {
        pages = pages.merge(quotes::api_router());
    }
    if state.config.reviews.is_some() {
        pages = pages.merge(unsubscribe::router());
    }
    if modules.inventory_sync {
        pages = pages.merge(webhooks::router());
    }
    // Counted once, by route pattern: each router is layered before the two are joined.
    let track = middleware::from_fn_with_state(state.clone(), metrics::track);
    let pages: Router = pages.layer(track.clone()).with_state(state.clone());
    let base = state.base.clone();
    let outer: Router = Router::new().merge(health::router()).merge(metrics::router()).layer(track).with_state(state);
    let app = if base.is_empty() {
        outer.merge(pages)
    } else {
        outer.fallback(move |req: Request<Body>| under_base(base.clone(), pages.clone(), req))
    };
    let x_request_id = HeaderName::from_static("x-request-id");
    app.layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(x_request_id.clone(), Sequential::new()))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(60)))
                .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
                .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
                .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
                )),
        )
}
