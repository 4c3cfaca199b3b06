//! The WooCommerce REST v3 client: the system of record for orders and
//! catalog, and the first stock channel.
//!
//! Authentication as WooCommerce does it: HTTP Basic with the consumer key
//! and secret over HTTPS only; over plain HTTP (the Compose network) it
//! ignores Basic and answers 401, so requests are signed with OAuth 1.0a.
//! Lists are paged with `per_page=100` and `X-WP-TotalPages`; stock goes out
//! through the batch endpoints, at most 100 items a call, and a batch's HTTP
//! 200 is read item by item because failed items come back inside it.

pub mod oauth;
pub mod types;

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{
    ChannelError, ItemResult, StockChannel, StockUpdate,
    retry::{RetryPolicy, with_retry},
};
use crate::config::Secret;
use types::{NewOrder, Order, Product, Refund, WooError};

const CHANNEL: &str = "woocommerce";
/// WooCommerce refuses more than 100 items per page and per batch.
pub const MAX_BATCH: usize = 100;

/// A WooCommerce store's REST API.
pub struct WooClient {
    http: reqwest::Client,
    base: String,
    key: Secret,
    secret: Secret,
    retry: RetryPolicy,
    requests: AtomicU64,
    /// Milliseconds spent waiting between attempts (backoff, Retry-After).
    retry_waited: AtomicU64,
    /// What OAuth signatures are computed over when the site's own address
    /// differs from `base` (see [`WooClient::with_site_url`]).
    sign_base: Option<String>,
}

impl WooClient {
    /// `base_url` is the site root (e.g. `http://wordpress`).
    pub fn new(base_url: &str, key: Secret, secret: Secret, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).user_agent(concat!("quartermaster/", env!("CARGO_PKG_VERSION"))).build()?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            key,
            secret,
            retry: RetryPolicy::default(),
            requests: AtomicU64::new(0),
            retry_waited: AtomicU64::new(0),
            sign_base: None,
        })
    }

    /// How long this client has waited between attempts (backoff and Retry-After), in all.
    pub fn retry_waited(&self) -> Duration {
        Duration::from_millis(self.retry_waited.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The site's home URL as WordPress knows it, when requests go to
    /// another name for it. WooCommerce rebuilds the signed URL from its home
    /// URL's host and path with the scheme of the request itself, so the
    /// signature is computed over that, while the request goes to `base`.
    pub fn with_site_url(mut self, site_url: Option<&str>) -> Self {
        self.sign_base = site_url.and_then(|s| url::Url::parse(s).ok()).and_then(|site| {
            let scheme = self.base.split("://").next().unwrap_or("http");
            let host = site.host_str()?;
            let port = site.port().map(|p| format!(":{p}")).unwrap_or_default();
            Some(format!("{scheme}://{host}{port}{}", site.path().trim_end_matches('/')))
        });
        self
    }

    /// Replaces the retry policy (tests use short waits).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/wp-json/wc/v3/{}", self.base, path.trim_start_matches('/'))
    }

    /// One request (no retry): returns status, headers and body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<(reqwest::header::HeaderMap, Value), ChannelError> {
        let url = self.endpoint(path);
        let mut query = query.to_vec();
        let mut req = if url.starts_with("https://") {
            self.http.request(method.clone(), &url).basic_auth(self.key.expose(), Some(self.secret.expose()))
        } else {
            let nonce = crate::token::random_token();
            let signed = match &self.sign_base {
                Some(site) => format!("{site}/wp-json/wc/v3/{}", path.trim_start_matches('/')),
                None => url.clone(),
            };
            oauth::sign(
                method.as_str(),
                &signed,
                &mut query,
                self.key.expose(),
                self.secret.expose(),
                Utc::now().timestamp(),
                &nonce[..32],
            );
            self.http.request(method.clone(), &url)
        };
        req = req.query(&query);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req.send().await.map_err(|e| ChannelError::Transient {
            channel: CHANNEL,
            message: format!("{method} {} {path}: {}", self.base, describe(e)),
            retry_after: None,
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| ChannelError::Transient {
            channel: CHANNEL,
            message: format!("{method} {} {path}: reading the answer: {}", self.base, describe(e)),
            retry_after: None,
        })?;
        if status.is_success() {
            let value = serde_json::from_str(&text).map_err(|e| ChannelError::Permanent {
                channel: CHANNEL,
                status: status.as_u16(),
                code: "invalid_json".into(),
                message: format!("{method} {path}: {e}"),
            })?;
            return Ok((headers, value));
        }
        let err: Option<WooError> = serde_json::from_str(&text).ok();
        let (code, message) = err.map(|e| (e.code, e.message)).unwrap_or_else(|| ("http_error".into(), text.chars().take(200).collect()));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let retry_after = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(ChannelError::Transient {
                channel: CHANNEL,
                message: format!("{method} {} {path}: HTTP {} {code}", self.base, status.as_u16()),
                retry_after,
            });
        }
        let message =
            format!("{method} {} {path}: {message}{}", self.base, hint(status.as_u16(), &code, &message, url.starts_with("https://")));
        Err(ChannelError::Permanent { channel: CHANNEL, status: status.as_u16(), code, message })
    }

    async fn call_retrying(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<(reqwest::header::HeaderMap, Value), ChannelError> {
        with_retry(self.retry, &self.retry_waited, || self.call(method.clone(), path, query, body)).await
    }

    /// Every page of a list endpoint.
    async fn list<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(String, String)]) -> Result<Vec<T>, ChannelError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let mut q = query.to_vec();
            q.push(("per_page".into(), MAX_BATCH.to_string()));
            q.push(("page".into(), page.to_string()));
            let (headers, body) = self.call_retrying(Method::GET, path, &q, None).await?;
            let items: Vec<T> = serde_json::from_value(body).map_err(|e| ChannelError::Permanent {
                channel: CHANNEL,
                status: 200,
                code: "unexpected_shape".into(),
                message: format!("{path}: {e}"),
            })?;
            out.extend(items);
            let total_pages: u32 = headers.get("x-wp-totalpages").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(1);
            if page >= total_pages {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Whether the store answers and takes our key now: one authenticated
    /// GET of one product id, no retry (a health probe must say what is, not
    /// wait out a backoff).
    pub async fn probe(&self) -> Result<(), ChannelError> {
        let q = [("per_page".to_owned(), "1".to_owned()), ("_fields".to_owned(), "id".to_owned())];
        self.call(Method::GET, "products", &q, None).await.map(|_| ())
    }

    /// One GET (with retries): the `X-WP-TotalPages` header and the body.
    pub async fn get_raw(&self, path: &str, query: &[(String, String)]) -> Result<(Option<u32>, Value), ChannelError> {
        let (headers, body) = self.call_retrying(Method::GET, path, query, None).await?;
        Ok((headers.get("x-wp-totalpages").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()), body))
    }

    /// Orders of any status modified after `after` (GMT), oldest change first.
    pub async fn orders_modified_after(&self, after: DateTime<Utc>) -> Result<Vec<Order>, ChannelError> {
        let q = vec![
            ("modified_after".into(), after.format("%Y-%m-%dT%H:%M:%S").to_string()),
            // Without this WooCommerce reads the date in the site's local time.
            ("dates_are_gmt".into(), "true".into()),
            ("status".into(), "any".into()),
            ("orderby".into(), "modified".into()),
            ("order".into(), "asc".into()),
        ];
        self.list("orders", &q).await
    }

    /// These orders as the store has them now (any status but `trash`:
    /// WooCommerce's `any` leaves the trash out), at most 100 ids a request;
    /// an order the store no longer has, or has in the trash, is absent.
    pub async fn orders_by_id(&self, ids: &[u64]) -> Result<Vec<Order>, ChannelError> {
        self.orders_by_id_in(ids, "any").await
    }

    /// The same, of the orders in `status` (`trash` lists the trashed ones).
    pub async fn orders_by_id_in(&self, ids: &[u64], status: &str) -> Result<Vec<Order>, ChannelError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_BATCH) {
            let include = chunk.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
            let q = vec![("include".into(), include), ("status".into(), status.into())];
            out.extend(self.list::<Order>("orders", &q).await?);
        }
        Ok(out)
    }

    /// One order by id, whatever its status (a trashed one says `trash`);
    /// none when the store answers that it has no such order (deleted for good).
    pub async fn order(&self, id: u64) -> Result<Option<Order>, ChannelError> {
        match self.call_retrying(Method::GET, &format!("orders/{id}"), &[], None).await {
            Ok((_, body)) => serde_json::from_value(body).map(Some).map_err(|e| ChannelError::Permanent {
                channel: CHANNEL,
                status: 200,
                code: "unexpected_shape".into(),
                message: format!("orders/{id}: {e}"),
            }),
            Err(ChannelError::Permanent { status: 404, code, .. }) if code == "woocommerce_rest_shop_order_invalid_id" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The store's webhooks, every status.
    pub async fn webhooks(&self) -> Result<Vec<types::Webhook>, ChannelError> {
        self.list("webhooks", &[]).await
    }

    /// Creates a webhook (`id` none; WooCommerce pings its delivery URL
    /// first) or changes one; returns it as the store then has it.
    pub async fn save_webhook(&self, id: Option<u64>, body: &Value) -> Result<types::Webhook, ChannelError> {
        let (method, path) = match id {
            Some(id) => (Method::PUT, format!("webhooks/{id}")),
            None => (Method::POST, "webhooks".to_owned()),
        };
        let (_, v) = self.call_retrying(method, &path, &[], Some(body)).await?;
        serde_json::from_value(v).map_err(|e| ChannelError::Permanent {
            channel: CHANNEL,
            status: 200,
            code: "unexpected_shape".into(),
            message: format!("{path}: {e}"),
        })
    }

    /// Every refund of an order, oldest first.
    pub async fn refunds_of(&self, order_id: u64) -> Result<Vec<Refund>, ChannelError> {
        let q = vec![("dates_are_gmt".into(), "true".into()), ("order".into(), "asc".into()), ("orderby".into(), "id".into())];
        self.list(&format!("orders/{order_id}/refunds"), &q).await
    }

    /// The stock the store holds now for these items (id, parent for a
    /// variation), at most 100 ids a request (`include=`). An item the store
    /// does not list is absent from the answer.
    pub async fn stock_of(&self, items: &[(u64, Option<u64>)]) -> Result<BTreeMap<u64, Option<i64>>, ChannelError> {
        let mut groups: BTreeMap<Option<u64>, Vec<u64>> = BTreeMap::new();
        for (id, parent) in items {
            groups.entry(*parent).or_default().push(*id);
        }
        let mut out = BTreeMap::new();
        for (parent, ids) in groups {
            let path = parent.map_or_else(|| "products".to_owned(), |p| format!("products/{p}/variations"));
            for chunk in ids.chunks(MAX_BATCH) {
                let include = chunk.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
                let q = vec![("include".into(), include), ("status".into(), "any".into())];
                let found: Vec<Product> = self.list(&path, &q).await?;
                for p in found {
                    out.insert(p.id, p.stock_quantity);
                }
            }
        }
        Ok(out)
    }

    /// Products and variations with this SKU (`?sku=` matches variations too).
    pub async fn products_by_sku(&self, sku: &str) -> Result<Vec<Product>, ChannelError> {
        self.list("products", &[("sku".into(), sku.into())]).await
    }

    /// The whole catalog: products, the variations of variable products, and
    /// variable products that keep their variations' stock.
    pub async fn all_products(&self) -> Result<Vec<Product>, ChannelError> {
        let products: Vec<Product> = self.list("products", &[]).await?;
        let mut all = Vec::with_capacity(products.len());
        for p in &products {
            if p.kind == "variable" {
                let mut vars: Vec<Product> = self.list(&format!("products/{}/variations", p.id), &[]).await?;
                for v in &mut vars {
                    v.parent_id = p.id;
                }
                all.extend(vars);
            }
        }
        // A variable product that manages stock holds its family's stock itself.
        all.extend(products.into_iter().filter(|p| p.kind != "variable" || p.manage_stock.is_on()));
        Ok(all)
    }

    /// Turns `manage_stock` on for a product or variation.
    pub async fn enable_manage_stock(&self, id: u64, parent: Option<u64>) -> Result<(), ChannelError> {
        let path = match parent {
            Some(p) => format!("products/{p}/variations/{id}"),
            None => format!("products/{id}"),
        };
        self.call_retrying(Method::PUT, &path, &[], Some(&json!({ "manage_stock": true }))).await.map(|_| ())
    }

    /// Completes an order with its tracking in the order meta (`_qm_carrier`,
    /// `_qm_tracking_master`, `_qm_tracking_numbers`). Repeating it is harmless.
    pub async fn complete_order(&self, order_id: u64, carrier: &str, master: &str, tracking: &[String]) -> Result<(), ChannelError> {
        let body = json!({
            "status": "completed",
            "meta_data": [
                { "key": "_qm_carrier", "value": carrier },
                { "key": "_qm_tracking_master", "value": master },
                { "key": "_qm_tracking_numbers", "value": tracking.join(",") },
            ],
        });
        self.call_retrying(Method::PUT, &format!("orders/{order_id}"), &[], Some(&body)).await.map(|_| ())
    }

    /// Creates the order an accepted quote becomes: its lines at exactly the
    /// quoted prices (`subtotal` = `total` per line), custom lines and the
    /// quoted tax as fee lines, on hold for payment, the quote in the meta.
    pub async fn create_order_for_quote(&self, o: &NewOrder) -> Result<u64, ChannelError> {
        let m = |v: i64| crate::money::format_minor(v, o.exponent);
        let lines: Vec<Value> = o
            .lines
            .iter()
            .map(|l| json!({ "product_id": l.woo_id, "quantity": l.quantity, "subtotal": m(l.total_minor), "total": m(l.total_minor) }))
            .collect();
        let fees: Vec<Value> = o.fees.iter().map(|f| json!({ "name": f.name, "total": m(f.total_minor), "tax_status": "none" })).collect();
        let b = &o.billing;
        let body = json!({
            "status": "on-hold",
            "currency": o.currency,
            "set_paid": false,
            "billing": { "first_name": b.first_name, "last_name": b.last_name, "email": b.email, "company": b.company,
                         "country": b.country, "state": b.state, "postcode": b.postcode },
            "line_items": lines,
            "fee_lines": fees,
            "shipping_lines": match &o.shipping {
                Some(f) => json!([{ "method_id": "flat_rate", "method_title": f.name, "total": m(f.total_minor) }]),
                None => json!([]),
            },
            "meta_data": [
                { "key": "_qm_quote", "value": o.quote },
                { "key": "_qm_quote_revision", "value": format!("R{}", o.revision) },
                { "key": "_qm_quote_total", "value": m(o.total_minor) },
            ],
        });
        // Creating an order is not idempotent: a POST that timed out or got a
        // 5xx may still have made the order. Before each retry, look for it.
        let started = Utc::now();
        let mut attempt = 1;
        loop {
            match self.call(Method::POST, "orders", &[], Some(&body)).await {
                Ok((_, created)) => {
                    return created.get("id").and_then(Value::as_u64).ok_or_else(|| ChannelError::Permanent {
                        channel: CHANNEL,
                        status: 201,
                        code: "unexpected_shape".into(),
                        message: "the created order has no id".into(),
                    });
                }
                Err(e @ ChannelError::Transient { .. }) if attempt < self.retry.attempts => {
                    tracing::warn!(error = %e, attempt, quote = %o.quote, "creating the quote's order failed; looking for it before retrying");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    if let Some(id) = self.order_for_quote(&o.quote, o.revision, started).await? {
                        return Ok(id);
                    }
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The order a quote's revision already made, if any: orders changed
    /// since `since` (less a minute of clock skew) whose `_qm_quote` and
    /// `_qm_quote_revision` meta name it. WooCommerce's REST API cannot filter
    /// by meta, so the recent orders are read and matched here.
    pub async fn order_for_quote(&self, number: &str, revision: u32, since: DateTime<Utc>) -> Result<Option<u64>, ChannelError> {
        let rev = format!("R{revision}");
        let orders = self.orders_modified_after(since - chrono::TimeDelta::minutes(1)).await?;
        Ok(orders.iter().find(|o| o.meta("_qm_quote") == Some(number) && o.meta("_qm_quote_revision") == Some(rev.as_str())).map(|o| o.id))
    }

    /// Adds a note to an order.
    /// Tells the order it was delivered: `_qm_delivered_at` (RFC 3339, UTC) in its meta, then a note for the shop's staff.
    pub async fn mark_delivered(&self, order_id: u64, delivered_at: &str, note: &str) -> Result<(), ChannelError> {
        let body = json!({ "meta_data": [{ "key": "_qm_delivered_at", "value": delivered_at }] });
        self.call_retrying(Method::PUT, &format!("orders/{order_id}"), &[], Some(&body)).await?;
        self.add_order_note(order_id, note).await
    }

    pub async fn add_order_note(&self, order_id: u64, note: &str) -> Result<(), ChannelError> {
        self.call_retrying(Method::POST, &format!("orders/{order_id}/notes"), &[], Some(&json!({ "note": note }))).await.map(|_| ())
    }

    /// Sets stock of up to 100 items under one parent (None: simple products).
    async fn batch_stock(&self, parent: Option<u64>, items: &[&StockUpdate]) -> Result<Vec<ItemResult>, ChannelError> {
        let path = match parent {
            Some(p) => format!("products/{p}/variations/batch"),
            None => "products/batch".to_owned(),
        };
        let update: Vec<Value> =
            items.iter().filter_map(|u| u.external_id.map(|id| json!({ "id": id, "stock_quantity": u.quantity }))).collect();
        let (_, body) = self.call_retrying(Method::POST, &path, &[], Some(&json!({ "update": update }))).await?;
        let answers = body.get("update").and_then(Value::as_array).cloned().unwrap_or_default();
        let by_id: BTreeMap<u64, &StockUpdate> = items.iter().filter_map(|u| u.external_id.map(|id| (id, *u))).collect();
        let mut results = Vec::new();
        for a in answers {
            let Some(id) = a.get("id").and_then(Value::as_u64) else { continue };
            let Some(u) = by_id.get(&id) else { continue };
            if let Some(err) = a.get("error") {
                results.push(ItemResult::Rejected {
                    product_id: u.product_id,
                    code: err.get("code").and_then(Value::as_str).unwrap_or("error").to_owned(),
                    message: err.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
                });
            } else if a.get("manage_stock") != Some(&Value::Bool(true)) {
                // WooCommerce ignores stock_quantity unless the product manages stock.
                results.push(ItemResult::Rejected {
                    product_id: u.product_id,
                    code: "manage_stock_off".into(),
                    message: "the product does not manage stock, so WooCommerce ignored the quantity".into(),
                });
            } else {
                let shown = a.get("stock_quantity").and_then(Value::as_i64).unwrap_or(u.quantity);
                results.push(ItemResult::Confirmed { product_id: u.product_id, quantity: shown });
            }
        }
        // An item the answer does not mention was not applied.
        for u in items {
            if !results.iter().any(|r| matches!(r, ItemResult::Confirmed { product_id, .. } | ItemResult::Rejected { product_id, .. } if *product_id == u.product_id)) {
                let (code, message) = if u.external_id.is_none() {
                    ("not_linked", "no WooCommerce id is known for this product")
                } else {
                    ("missing_from_answer", "the batch answer did not mention this item")
                };
                results.push(ItemResult::Rejected { product_id: u.product_id, code: code.into(), message: message.into() });
            }
        }
        Ok(results)
    }
}

/// A transport error with its causes ("connection refused", "dns error",
/// "timed out"), without the URL: it carries the OAuth query.
fn describe(e: reqwest::Error) -> String {
    let timed_out = e.is_timeout();
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if timed_out {
        parts.push("the store did not answer within the timeout (woocommerce.timeout_seconds)".into());
    }
    parts.join(": ")
}

/// What to do about a refusal, for the errors users meet first.
fn hint(status: u16, code: &str, message: &str, https: bool) -> &'static str {
    match (status, code) {
        (401, "woocommerce_rest_authentication_error") if message.contains("signature") => {
            " — the store refused the OAuth signature: check that woocommerce.consumer_secret is this key's secret (and not another key's), and that this machine's clock is within 15 minutes of the store's"
        }
        (401, "woocommerce_rest_authentication_error") if message.contains("timestamp") => {
            " — this machine's clock differs from the store's by more than 15 minutes; fix the clock (NTP)"
        }
        (401, "woocommerce_rest_authentication_error") => " — check woocommerce.consumer_key: the store does not know this key",
        (401, "woocommerce_rest_cannot_view") if !https => {
            " — over plain http WooCommerce ignores Basic auth; Quartermaster signs with OAuth, so this usually means a proxy stripped the oauth_* query"
        }
        (401 | 403, _) => " — check that the REST key exists and has read/write permission (WooCommerce → Settings → Advanced → REST API)",
        (404, "rest_no_route") => {
            " — the store has no WooCommerce REST API here: check woocommerce.base_url and that WooCommerce is active"
        }
        _ => "",
    }
}

#[async_trait]
impl StockChannel for WooClient {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn batch_limit(&self) -> usize {
        MAX_BATCH
    }

    async fn push(&self, batch: &[StockUpdate]) -> Result<Vec<ItemResult>, ChannelError> {
        // Simple products go to products/batch, variations to their parent's batch.
        let mut groups: BTreeMap<Option<u64>, Vec<&StockUpdate>> = BTreeMap::new();
        for u in batch {
            groups.entry(u.parent_id).or_default().push(u);
        }
        let mut results = Vec::with_capacity(batch.len());
        for (parent, items) in groups {
            for chunk in items.chunks(MAX_BATCH) {
                results.extend(self.batch_stock(parent, chunk).await?);
            }
        }
        Ok(results)
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
