//! An eBay stand-in: the OAuth refresh-token grant and Sell Inventory's
//! bulkUpdatePriceQuantity (25 items at most, 207 when some fail, 401 with
//! the documented envelope for a bad token), answering with the fixture
//! payloads' shapes.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

const TOKEN: &str = include_str!("fixtures/ebay/oauth-refresh-token-response.json");
const INVALID_GRANT: &str = include_str!("fixtures/ebay/oauth-token-error-invalid-grant.json");
const BAD_TOKEN: &str = include_str!("fixtures/ebay/error-401-invalid-access-token.json");

#[derive(Default)]
struct Account {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    issued: Vec<String>,
    listed: BTreeMap<String, i64>,
    calls: u32,
    max_items_seen: usize,
}

/// A simulated eBay seller account.
#[derive(Clone)]
pub struct EbayStandin {
    acct: Arc<Mutex<Account>>,
}

impl EbayStandin {
    pub fn new(client_id: &str, client_secret: &str, refresh_token: &str) -> Self {
        let acct = Account {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
            ..Account::default()
        };
        Self { acct: Arc::new(Mutex::new(acct)) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut a = self.acct.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut a)
    }

    /// Lists a SKU (only listed SKUs accept quantities).
    pub fn list_sku(&self, sku: &str, quantity: i64) {
        self.with(|a| a.listed.insert(sku.into(), quantity));
    }

    /// The quantity eBay shows for a SKU.
    pub fn quantity(&self, sku: &str) -> Option<i64> {
        self.with(|a| a.listed.get(sku).copied())
    }

    /// Bulk calls served and the largest batch seen.
    pub fn calls(&self) -> (u32, usize) {
        self.with(|a| (a.calls, a.max_items_seen))
    }

    /// Forgets every issued access token (they "expired").
    pub fn expire_tokens(&self) {
        self.with(|a| a.issued.clear());
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/identity/v1/oauth2/token", post(token))
            .route("/sell/inventory/v1/bulk_update_price_quantity", post(bulk))
            .with_state(self.clone())
    }
}

async fn token(State(e): State<EbayStandin>, headers: HeaderMap, body: Bytes) -> Response {
    use base64::Engine;
    let form: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")).unwrap_or_default();
    let creds = base64::engine::general_purpose::STANDARD.decode(basic).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
    let ok = e.with(|a| {
        creds == format!("{}:{}", a.client_id, a.client_secret)
            && form.get("grant_type").map(String::as_str) == Some("refresh_token")
            && form.get("refresh_token") == Some(&a.refresh_token)
    });
    if !ok {
        return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], INVALID_GRANT).into_response();
    }
    let mut v: Value = serde_json::from_str(TOKEN).unwrap_or_default();
    let token = format!("v^1.1#standin#{}", crate::token::random_token());
    v["access_token"] = json!(token);
    e.with(|a| a.issued.push(token));
    Json(v).into_response()
}

async fn bulk(State(e): State<EbayStandin>, headers: HeaderMap, body: Bytes) -> Response {
    let bearer =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default().to_owned();
    if !e.with(|a| a.issued.contains(&bearer)) {
        return (StatusCode::UNAUTHORIZED, [("content-type", "application/json")], BAD_TOKEN).into_response();
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let requests = v.get("requests").and_then(Value::as_array).cloned().unwrap_or_default();
    if requests.len() > 25 {
        return (StatusCode::BAD_REQUEST, Json(json!({ "errors": [{ "errorId": 25002, "domain": "API_INVENTORY", "category": "REQUEST", "message": "A user error has occurred. Too many requests; the limit is 25." }] }))).into_response();
    }
    let mut any_failed = false;
    let responses: Vec<Value> = e.with(|a| {
        a.calls += 1;
        a.max_items_seen = a.max_items_seen.max(requests.len());
        requests
            .iter()
            .map(|r| {
                let sku = r.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
                let qty = r.pointer("/shipToLocationAvailability/quantity").and_then(Value::as_i64);
                match (a.listed.get_mut(&sku), qty) {
                    (Some(slot), Some(q)) => {
                        *slot = q;
                        json!({ "statusCode": 200, "sku": sku })
                    }
                    _ => {
                        any_failed = true;
                        json!({ "statusCode": 400, "sku": sku, "errors": [{ "errorId": 25709, "domain": "API_INVENTORY", "subdomain": "Selling", "category": "REQUEST", "message": "Invalid value for sku.", "parameters": [{ "name": "sku", "value": sku }] }] })
                    }
                }
            })
            .collect()
    });
    let status = if any_failed { StatusCode::MULTI_STATUS } else { StatusCode::OK };
    (status, Json(json!({ "responses": responses }))).into_response()
}
