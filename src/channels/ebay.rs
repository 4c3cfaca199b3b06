//! eBay Sell Inventory API: quantities through bulkUpdatePriceQuantity
//! (SKU-level `shipToLocationAvailability`, at most 25 SKUs a call), with a
//! user access token from the OAuth refresh-token grant, renewed before it
//! expires and once more if eBay answers 401.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{
    ChannelError, ItemResult, StockChannel, StockUpdate,
    retry::{RetryPolicy, with_retry},
};
use crate::config::Secret;

const CHANNEL: &str = "ebay";
/// eBay takes at most 25 inventory items per bulk call.
pub const MAX_BATCH: usize = 25;
const SCOPE: &str = "https://api.ebay.com/oauth/api_scope/sell.inventory";

/// Credentials and endpoints of one eBay seller account.
pub struct EbayClient {
    http: reqwest::Client,
    api_base: String,
    client_id: Secret,
    client_secret: Secret,
    refresh_token: Secret,
    token: Mutex<Option<(Secret, Instant)>>,
    retry: RetryPolicy,
    requests: AtomicU64,
    /// Milliseconds spent waiting between attempts (backoff, Retry-After).
    retry_waited: AtomicU64,
}

impl EbayClient {
    /// `api_base` is `https://api.ebay.com` (or the sandbox, or a stand-in).
    pub fn new(
        api_base: &str,
        client_id: Secret,
        client_secret: Secret,
        refresh_token: Secret,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            api_base: api_base.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            refresh_token,
            token: Mutex::new(None),
            retry: RetryPolicy::default(),
            requests: AtomicU64::new(0),
            retry_waited: AtomicU64::new(0),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether eBay answers and takes the refresh token now (a fresh token
    /// is fetched; nothing is revised). The dashboard's health tile.
    pub async fn probe(&self) -> Result<(), ChannelError> {
        self.access_token(true).await.map(|_| ())
    }

    /// A valid access token, refreshed when missing or within 5 minutes of expiry.
    async fn access_token(&self, force: bool) -> Result<Secret, ChannelError> {
        let mut slot = self.token.lock().await;
        if let Some((t, until)) = slot.as_ref() {
            if !force && Instant::now() + Duration::from_secs(300) < *until {
                return Ok(t.clone());
            }
        }
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.client_id.expose(), self.client_secret.expose()));
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .http
            .post(format!("{}/identity/v1/oauth2/token", self.api_base))
            .header("Authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", self.refresh_token.expose()), ("scope", SCOPE)])
            .send()
            .await
            .map_err(|e| transient(format!("token refresh: {}", e.without_url())))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let code = body.get("error").and_then(Value::as_str).unwrap_or("oauth_error").to_owned();
            let message = body.get("error_description").and_then(Value::as_str).unwrap_or("token refresh refused").to_owned();
            return Err(if status.is_server_error() {
                transient(format!("token refresh: HTTP {status}"))
            } else {
                ChannelError::Permanent { channel: CHANNEL, status: status.as_u16(), code, message }
            });
        }
        let token = body.get("access_token").and_then(Value::as_str).ok_or_else(|| ChannelError::Permanent {
            channel: CHANNEL,
            status: status.as_u16(),
            code: "no_access_token".into(),
            message: "token answer had no access_token".into(),
        })?;
        let expires = body.get("expires_in").and_then(Value::as_u64).unwrap_or(7200);
        let secret = Secret::new(token);
        *slot = Some((secret.clone(), Instant::now() + Duration::from_secs(expires)));
        Ok(secret)
    }

    async fn bulk_once(&self, batch: &[StockUpdate], force_token: bool) -> Result<(u16, Value), ChannelError> {
        let token = self.access_token(force_token).await?;
        let requests: Vec<Value> =
            batch.iter().map(|u| json!({ "sku": u.sku, "shipToLocationAvailability": { "quantity": u.quantity.max(0) } })).collect();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .http
            .post(format!("{}/sell/inventory/v1/bulk_update_price_quantity", self.api_base))
            .bearer_auth(token.expose())
            .json(&json!({ "requests": requests }))
            .send()
            .await
            .map_err(|e| {
                transient(if e.is_timeout() { "bulk update timed out".into() } else { format!("bulk update: {}", e.without_url()) })
            })?;
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).map(Duration::from_secs);
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status {
            200 | 207 => Ok((status, body)),
            401 => Err(ChannelError::Permanent { channel: CHANNEL, status, code: "1001".into(), message: first_error(&body) }),
            429 | 500..=599 => {
                Err(ChannelError::Transient { channel: CHANNEL, message: format!("bulk update: HTTP {status}"), retry_after })
            }
            _ => Err(ChannelError::Permanent { channel: CHANNEL, status, code: first_error_id(&body), message: first_error(&body) }),
        }
    }
}

fn transient(message: String) -> ChannelError {
    ChannelError::Transient { channel: CHANNEL, message, retry_after: None }
}

fn first_error(body: &Value) -> String {
    body.pointer("/errors/0/message").and_then(Value::as_str).unwrap_or("error").to_owned()
}

fn first_error_id(body: &Value) -> String {
    body.pointer("/errors/0/errorId").map(|v| v.to_string()).unwrap_or_else(|| "error".into())
}

#[async_trait]
impl StockChannel for EbayClient {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn batch_limit(&self) -> usize {
        MAX_BATCH
    }

    async fn push(&self, batch: &[StockUpdate]) -> Result<Vec<ItemResult>, ChannelError> {
        let mut results = Vec::with_capacity(batch.len());
        for chunk in batch.chunks(MAX_BATCH) {
            let answer = with_retry(self.retry, &self.retry_waited, || async {
                match self.bulk_once(chunk, false).await {
                    // An expired or revoked access token: refresh once and resend.
                    Err(ChannelError::Permanent { status: 401, .. }) => self.bulk_once(chunk, true).await,
                    other => other,
                }
            })
            .await?;
            let (_, body) = answer;
            let rows = body.get("responses").and_then(Value::as_array).cloned().unwrap_or_default();
            for u in chunk {
                let mine: Vec<&Value> = rows.iter().filter(|r| r.get("sku").and_then(Value::as_str) == Some(u.sku.as_str())).collect();
                let failed = mine.iter().find(|r| r.get("statusCode").and_then(Value::as_u64).is_some_and(|s| s >= 300));
                results.push(match (mine.is_empty(), failed) {
                    (true, _) => ItemResult::Rejected {
                        product_id: u.product_id,
                        code: "missing_from_answer".into(),
                        message: "eBay's answer did not mention this SKU".into(),
                    },
                    (false, Some(r)) => ItemResult::Rejected {
                        product_id: u.product_id,
                        code: r.pointer("/errors/0/errorId").map(|v| v.to_string()).unwrap_or_else(|| "error".into()),
                        message: r.pointer("/errors/0/message").and_then(Value::as_str).unwrap_or("rejected").to_owned(),
                    },
                    (false, None) => ItemResult::Confirmed { product_id: u.product_id, quantity: u.quantity.max(0) },
                });
            }
        }
        Ok(results)
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
