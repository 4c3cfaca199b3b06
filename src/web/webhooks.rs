//! `POST /webhooks/woocommerce`: WooCommerce's deliveries, outside sign-in.
//! The handler verifies and queues (see [`crate::sync::webhook`]); the sync
//! runs after the answer, so the store's request is never held by ours.

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::HeaderMap,
    routing::post,
};

use super::{AppError, AppState, Result};
use crate::sync::webhook::{self, Delivery};

/// The largest delivery taken (an order of a few hundred lines is ~200 KiB).
pub const MAX_BYTES: usize = 2 << 20;

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/woocommerce", post(woocommerce)).layer(DefaultBodyLimit::max(MAX_BYTES))
}

async fn woocommerce(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<&'static str> {
    let secret = state
        .secrets
        .get("woocommerce.webhooks.secret")
        .ok_or_else(|| AppError::NotSetUp("webhooks are not set up here: woocommerce.webhooks is not in the tenant file".into()))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery = webhook::verify(secret, header("x-wc-webhook-signature"), header("x-wc-webhook-topic"), &body).map_err(|e| {
        tracing::warn!(error = %e, webhook = header("x-wc-webhook-id"), "webhook refused");
        match e {
            webhook::Refused::Body(_) => AppError::invalid("body", e.to_string()),
            _ => AppError::Unauthorized(e.to_string()),
        }
    })?;
    Ok(match delivery {
        Delivery::Ping(_) => "pong",
        Delivery::Ignored(_) => "ignored: not an order topic",
        Delivery::Orders(ids) => {
            if state.webhooks.push(&ids) {
                "queued"
            } else {
                "the queue is full; the poller reads this order"
            }
        }
    })
}
