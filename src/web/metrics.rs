//! `/metrics` for the operator's Prometheus, and the HTTP layer's own
//! counting. It sits at the root beside the health endpoints, outside the
//! base path and outside sign-in; the edge never routes to it (the stack's
//! Prometheus scrapes the ops container on the internal network), and when
//! the tenant file sets `monitoring.metrics_token` it answers only that
//! bearer token.

use std::time::Instant;

use axum::{
    Router,
    body::Body,
    extract::{MatchedPath, State},
    http::{HeaderMap, Request, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use subtle::ConstantTimeEq;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = st.secrets.get("monitoring.metrics_token") {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
                "metrics: a bearer token is required\n",
            )
                .into_response();
        }
    }
    // Gauges from the dashboard's collectors: cached within their TTLs, each
    // bounded by its deadline, so a slow source cannot stall a scrape.
    st.board.render(&st).await;
    st.metrics.set_gauges(&st.board.samples());
    let pool = &st.pool;
    st.metrics.db_pool_connections.set(i64::from(pool.size()));
    st.metrics.db_pool_idle.set(pool.num_idle() as i64);
    st.metrics.db_pool_max.set(i64::from(st.config.database.max_connections));
    let (open, idle, max) = st.reads.gauges();
    st.metrics.db_page_connections.set(open as i64);
    st.metrics.db_page_idle.set(idle as i64);
    st.metrics.db_page_max.set(max as i64);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], st.metrics.encode()).into_response()
}

/// Counts every answered request by route pattern, method and status.
pub async fn track(State(st): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    st.metrics.observe_http(&method, &route, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
