//! A WooCommerce REST v3 stand-in: products and variations with stock,
//! orders (paid orders decrement stock as WooCommerce does), paging with
//! `X-WP-TotalPages`, OAuth 1.0a over plain HTTP and Basic only over HTTPS,
//! the 100-item batch limit with per-item errors inside HTTP 200, and
//! injected faults (429 with Retry-After, 5xx, slow answers) plus a fixed
//! per-request latency for benchmarks. Payloads are the captured
//! WooCommerce 11.0.1 responses with ids, SKUs, quantities and dates
//! replaced.

use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{OriginalUri, Path, Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{NaiveDateTime, TimeDelta, Timelike, Utc};
use serde_json::{Value, json};

const PRODUCT: &str = include_str!("fixtures/woocommerce/product-simple.json");
const VARIATION: &str = include_str!("fixtures/woocommerce/variation.json");
const ORDER: &str = include_str!("fixtures/woocommerce/order.json");
/// A real store's answer to `GET orders/15/notes` (WooCommerce 11.0.1): the shape of each note.
const NOTES: &str = include_str!("fixtures/woocommerce/order-notes-list.json");
const REFUND: &str = include_str!("fixtures/woocommerce/refund.json");
const E_BASIC_PLAIN: &str = include_str!("fixtures/woocommerce/error-basic-auth-over-plain-http.json");
const E_UNKNOWN_KEY: &str = include_str!("fixtures/woocommerce/error-unknown-consumer-key.json");
const E_BAD_SECRET: &str = include_str!("fixtures/woocommerce/error-bad-consumer-secret.json");
const E_TOO_LARGE: &str = include_str!("fixtures/woocommerce/error-batch-too-large.json");
const E_PER_PAGE: &str = include_str!("fixtures/woocommerce/error-per-page-out-of-bounds.json");
const E_ORDER_ID: &str = include_str!("fixtures/woocommerce/error-order-invalid-id.json");
const E_PRODUCT_ID: &str = include_str!("fixtures/woocommerce/error-product-invalid-id.json");
const E_STOCK_TYPE: &str = include_str!("fixtures/woocommerce/error-stock-quantity-type.json");

/// A product or variation in the simulated store.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: u64,
    pub parent_id: u64,
    pub sku: String,
    pub name: String,
    pub manage_stock: bool,
    pub stock: Option<i64>,
    pub price: String,
    pub variable: bool,
    /// WooCommerce's "Low stock threshold" (`low_stock_amount`), null when unset.
    pub low_stock_amount: Option<i64>,
}

/// An order in the simulated store.
#[derive(Debug, Clone)]
pub struct SimOrder {
    pub id: u64,
    pub status: String,
    pub created: NaiveDateTime,
    pub modified: NaiveDateTime,
    /// (line id, item id, quantity)
    pub lines: Vec<(u64, u64, i64)>,
    pub notes: Vec<String>,
    /// Meta set through PUT (key → value), as WooCommerce keeps it.
    pub meta: BTreeMap<String, String>,
    /// Line totals as given by a creating client (line id → minor units), else item price × qty.
    pub line_totals: BTreeMap<u64, i64>,
    /// Fee lines (name, minor units).
    pub fees: Vec<(String, i64)>,
    pub billing_email: String,
    /// Shipping charged (minor units), from shipping_lines.
    pub shipping: i64,
    pub stock_reduced: bool,
    /// What each line reduced (line id → units): `_reduced_stock`.
    pub reduced: BTreeMap<u64, i64>,
    /// Units refunds put back into stock per line: `_restock_refunded_items`.
    pub restocked: BTreeMap<u64, i64>,
    pub refunds: Vec<SimRefund>,
}

/// A refund of a [`SimOrder`], in minor units (positive).
#[derive(Debug, Clone)]
pub struct SimRefund {
    pub id: u64,
    pub created: NaiveDateTime,
    pub amount: i64,
    pub reason: String,
    /// (order line id, quantity, total)
    pub lines: Vec<(u64, i64, i64)>,
    /// Shipping refunded (against the order's one shipping line).
    pub shipping: i64,
}

/// The id of the stand-in's one shipping line (its order fixture's).
const SHIPPING_LINE_ID: u64 = 3;

/// A fault to answer the next request with.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// An HTTP error status, with an optional Retry-After in seconds.
    Status(u16, Option<u64>),
    /// Wait this long before answering (to trip client timeouts).
    Delay(Duration),
    /// Do the work, then answer 503 anyway: what a client sees when a proxy
    /// or its own timeout gives up after the store already made the change.
    /// (The real store's hooks cannot express this; its `fail_next` refuses
    /// before processing.)
    LostAnswer,
}

#[derive(Default)]
struct Store {
    key: String,
    secret: String,
    items: BTreeMap<u64, Item>,
    orders: BTreeMap<u64, SimOrder>,
    next_id: u64,
    nonces: HashSet<String>,
    faults: VecDeque<Fault>,
    latency: Duration,
    requests: Vec<String>,
    /// The site's time zone offset: dates without dates_are_gmt are read in it.
    site_offset: TimeDelta,
    /// Requests let through by a `LostAnswer` fault whose answer is to be lost.
    lost_answers: u32,
}

/// The simulated store; clone freely (shared state).
#[derive(Clone)]
pub struct WooStandin {
    store: Arc<Mutex<Store>>,
}

impl WooStandin {
    /// A store that accepts this consumer key and secret. Its site time zone
    /// is UTC−6 (as a Chicago store in winter), which is what makes a client
    /// forgetting `dates_are_gmt=true` miss orders.
    pub fn new(key: &str, secret: &str) -> Self {
        let store = Store { key: key.into(), secret: secret.into(), next_id: 100, site_offset: TimeDelta::hours(-6), ..Store::default() };
        Self { store: Arc::new(Mutex::new(store)) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut s = self.store.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Adds a simple product; returns its id.
    pub fn add_product(&self, sku: &str, stock: i64, manage_stock: bool) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            s.items.insert(
                id,
                Item {
                    id,
                    parent_id: 0,
                    sku: sku.into(),
                    name: format!("Product {sku}"),
                    manage_stock,
                    stock: manage_stock.then_some(stock),
                    price: "19.99".into(),
                    variable: false,
                    low_stock_amount: None,
                },
            );
            id
        })
    }

    /// Makes new ids start above `id` (a restarted store must not reuse order ids).
    pub fn skip_ids_past(&self, id: u64) {
        self.with(|s| s.next_id = s.next_id.max(id));
    }

    /// Adds a product with a fixed id (to mirror an existing catalog).
    pub fn put_product(&self, id: u64, sku: &str, name: &str, stock: i64, price: &str) {
        self.with(|s| {
            s.next_id = s.next_id.max(id);
            s.items.insert(
                id,
                Item {
                    id,
                    parent_id: 0,
                    sku: sku.into(),
                    name: name.into(),
                    manage_stock: true,
                    stock: Some(stock),
                    price: price.into(),
                    variable: false,
                    low_stock_amount: None,
                },
            );
        });
    }

    /// Adds a variable product with variations (sku, stock); returns (parent, variation ids).
    pub fn add_variable(&self, sku: &str, variations: &[(&str, i64)]) -> (u64, Vec<u64>) {
        self.with(|s| {
            s.next_id += 1;
            let parent = s.next_id;
            s.items.insert(
                parent,
                Item {
                    id: parent,
                    parent_id: 0,
                    sku: sku.into(),
                    name: format!("Variable {sku}"),
                    manage_stock: false,
                    stock: None,
                    price: "9.00".into(),
                    variable: true,
                    low_stock_amount: None,
                },
            );
            let mut ids = Vec::new();
            for (vsku, stock) in variations {
                s.next_id += 1;
                let id = s.next_id;
                s.items.insert(
                    id,
                    Item {
                        id,
                        parent_id: parent,
                        sku: (*vsku).into(),
                        name: format!("{sku} - {vsku}"),
                        manage_stock: true,
                        stock: Some(*stock),
                        price: "9.00".into(),
                        variable: false,
                        low_stock_amount: None,
                    },
                );
                ids.push(id);
            }
            (parent, ids)
        })
    }

    /// Creates an order for (item id, quantity) lines. A paid order
    /// (`processing`) decrements stock at once, as WooCommerce does.
    pub fn create_order(&self, lines: &[(u64, i64)], status: &str) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            let id = s.next_id;
            let now = Utc::now().naive_utc();
            let lines: Vec<(u64, u64, i64)> = lines.iter().enumerate().map(|(i, (item, q))| (id * 100 + i as u64, *item, *q)).collect();
            let mut o = SimOrder {
                id,
                status: status.into(),
                created: now,
                modified: now,
                lines,
                notes: Vec::new(),
                meta: BTreeMap::new(),
                line_totals: BTreeMap::new(),
                fees: Vec::new(),
                billing_email: String::new(),
                shipping: 0,
                stock_reduced: false,
                reduced: BTreeMap::new(),
                restocked: BTreeMap::new(),
                refunds: Vec::new(),
            };
            if holds_stock(status) {
                reduce(&mut s.items, &mut o);
            }
            s.orders.insert(id, o);
            id
        })
    }

    /// Changes an order's status; cancelling restores stock as WooCommerce does.
    pub fn set_order_status(&self, id: u64, status: &str) {
        self.with(|s| {
            let Store { orders, items, .. } = s;
            if let Some(o) = orders.get_mut(&id) {
                o.status = status.into();
                o.modified = Utc::now().naive_utc();
                // As WooCommerce: paid statuses reduce once; cancelling (or
                // going back to pending) gives the stock back.
                if holds_stock(status) && !o.stock_reduced {
                    move_stock(items, o, -1);
                } else if matches!(status, "cancelled" | "pending") && o.stock_reduced {
                    move_stock(items, o, 1);
                }
            }
        });
    }

    /// Changes an order's line quantity (an edited order).
    pub fn edit_order_line(&self, id: u64, line_index: usize, quantity: i64) {
        self.with(|s| {
            if let Some(o) = s.orders.get_mut(&id) {
                if let Some(l) = o.lines.get_mut(line_index) {
                    l.2 = quantity;
                }
                o.modified = Utc::now().naive_utc();
            }
        });
    }

    /// The stock WooCommerce shows for an item.
    pub fn stock(&self, id: u64) -> Option<i64> {
        self.with(|s| s.items.get(&id).and_then(|i| i.stock))
    }

    /// Queues faults for the next requests.
    pub fn inject(&self, faults: &[Fault]) {
        self.with(|s| s.faults.extend(faults.iter().copied()));
    }

    /// Drops the faults not yet used.
    pub fn clear_faults(&self) {
        self.with(|s| s.faults.clear());
    }

    /// Adds a fixed latency to every answer (benchmarks).
    pub fn set_latency(&self, d: Duration) {
        self.with(|s| s.latency = d);
    }

    /// Requests served so far, as "METHOD path".
    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.requests.clone())
    }

    /// Order notes written to an order.
    pub fn notes(&self, id: u64) -> Vec<String> {
        self.with(|s| s.orders.get(&id).map(|o| o.notes.clone()).unwrap_or_default())
    }

    /// The HTTP app; mount it at the root of a server.
    /// An order's meta as set through the API.
    pub fn meta(&self, id: u64) -> BTreeMap<String, String> {
        self.with(|s| s.orders.get(&id).map(|o| o.meta.clone()).unwrap_or_default())
    }

    /// An order's status.
    pub fn order_status(&self, id: u64) -> Option<String> {
        self.with(|s| s.orders.get(&id).map(|o| o.status.clone()))
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/wp-json/wc/v3/orders", get(list_orders).post(create_order_api))
            .route("/wp-json/wc/v3/orders/{id}", get(get_order).put(put_order).delete(delete_order))
            .route("/wp-json/wc/v3/orders/{id}/notes", post(add_note).get(list_notes))
            .route("/wp-json/wc/v3/orders/{id}/refunds", get(list_refunds).post(create_refund))
            .route("/wp-json/wc/v3/products", get(list_products).post(create_product_api))
            .route("/wp-json/wc/v3/products/batch", post(batch_products))
            .route("/wp-json/wc/v3/products/{id}", get(get_product).put(put_product))
            .route("/wp-json/wc/v3/products/{id}/variations", get(list_variations).post(create_variation_api))
            .route("/wp-json/wc/v3/products/{id}/variations/batch", post(batch_variations))
            .route("/wp-json/wc/v3/products/{pid}/variations/{id}", axum::routing::put(put_variation))
            .with_state(self.clone())
    }
}

/// The item whose stock an order line moves: the item itself when it
/// manages stock, else a variation's parent when the parent does (WooCommerce
/// shows such a variation's `manage_stock` as "parent").
fn stock_holder(items: &BTreeMap<u64, Item>, id: u64) -> Option<u64> {
    let it = items.get(&id)?;
    if it.manage_stock {
        return Some(id);
    }
    items.get(&it.parent_id).filter(|p| it.parent_id > 0 && p.manage_stock).map(|p| p.id)
}

/// Moves stock for an order's lines by `sign` (−1 reduce, +1 restore) and
/// records what each line reduced, as WooCommerce's `_reduced_stock` item meta.
fn move_stock(items: &mut BTreeMap<u64, Item>, o: &mut SimOrder, sign: i64) {
    for (line, item, q) in &o.lines {
        if let Some(holder) = stock_holder(items, *item) {
            if let Some(it) = items.get_mut(&holder) {
                it.stock = it.stock.map(|v| v + sign * q);
            }
            if sign < 0 {
                o.reduced.insert(*line, *q);
            } else {
                o.reduced.remove(line);
            }
        }
    }
    o.stock_reduced = sign < 0;
}

fn reduce(items: &mut BTreeMap<u64, Item>, o: &mut SimOrder) {
    move_stock(items, o, -1);
}

/// Statuses in which WooCommerce holds an order's stock reduced.
fn holds_stock(status: &str) -> bool {
    matches!(status, "processing" | "completed" | "on-hold")
}

fn err(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [("content-type", "application/json; charset=UTF-8")],
        body.to_owned(),
    )
        .into_response()
}

fn woo_error(status: u16, code: &str, message: &str) -> Response {
    err(status, &json!({ "code": code, "message": message, "data": { "status": status } }).to_string())
}

/// Authentication, faults and latency, in front of every handler. `Ok`
/// carries the query parameters without the oauth ones.
async fn gate(
    w: &WooStandin,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
) -> Result<(), Response> {
    let (fault, latency) = w.with(|s| {
        s.requests.push(format!("{method} {}", uri.path()));
        (s.faults.pop_front(), s.latency)
    });
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::LostAnswer) => w.with(|s| s.lost_answers += 1),
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Status(code, retry_after)) => {
            let mut r = woo_error(code, if code == 429 { "rest_too_many_requests" } else { "internal_server_error" }, "Simulated failure.");
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.into());
            }
            return Err(r);
        }
        None => {}
    }
    let (key, secret) = w.with(|s| (s.key.clone(), s.secret.clone()));
    let https = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")) {
        if !https {
            // WooCommerce ignores Basic auth over plain HTTP.
            return Err(err(401, E_BASIC_PLAIN));
        }
        use base64::Engine;
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(auth).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
        let (k, sec) = decoded.split_once(':').unwrap_or(("", ""));
        if k != key {
            return Err(err(401, E_UNKNOWN_KEY));
        }
        if sec != secret {
            return Err(err(401, E_BAD_SECRET));
        }
        return Ok(());
    }
    let Some(ck) = query.get("oauth_consumer_key") else { return Err(err(401, E_BASIC_PLAIN)) };
    if *ck != key {
        return Err(woo_error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid."));
    }
    if query.get("oauth_signature_method").map(String::as_str) != Some("HMAC-SHA256")
        && query.get("oauth_signature_method").map(String::as_str) != Some("HMAC-SHA1")
    {
        return Err(woo_error(401, "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid."));
    }
    let ts: i64 = query.get("oauth_timestamp").and_then(|t| t.parse().ok()).unwrap_or(0);
    if (Utc::now().timestamp() - ts).abs() > 15 * 60 {
        return Err(woo_error(401, "woocommerce_rest_authentication_error", "Invalid timestamp."));
    }
    let nonce = query.get("oauth_nonce").cloned().unwrap_or_default();
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let url = format!("http://{host}{}", uri.path());
    let params: Vec<(String, String)> = query.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if !super::oauth_verify::verify(method.as_str(), &url, &params, &key, &secret) {
        return Err(woo_error(401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match."));
    }
    if !w.with(|s| s.nonces.insert(format!("{ts}:{nonce}"))) {
        return Err(woo_error(401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used."));
    }
    Ok(())
}

fn product_json_in(items: &BTreeMap<u64, Item>, i: &Item) -> Value {
    let mut v = product_json(i);
    if !i.manage_stock && i.parent_id > 0 {
        if let Some(p) = items.get(&i.parent_id).filter(|p| p.manage_stock) {
            v["manage_stock"] = json!("parent");
            v["stock_quantity"] = json!(p.stock);
        }
    }
    v
}

fn product_json(i: &Item) -> Value {
    let mut v: Value = serde_json::from_str(if i.parent_id > 0 { VARIATION } else { PRODUCT }).unwrap_or_default();
    v["id"] = json!(i.id);
    v["sku"] = json!(i.sku);
    v["name"] = json!(i.name);
    v["price"] = json!(i.price);
    v["regular_price"] = json!(i.price);
    v["manage_stock"] = json!(i.manage_stock);
    v["stock_quantity"] = json!(i.stock);
    v["stock_status"] = json!(if i.stock.unwrap_or(1) > 0 { "instock" } else { "outofstock" });
    v["low_stock_amount"] = json!(i.low_stock_amount);
    if i.parent_id > 0 {
        v["parent_id"] = json!(i.parent_id);
    } else {
        v["type"] = json!(if i.variable { "variable" } else { "simple" });
    }
    v
}

fn order_json(o: &SimOrder, items: &BTreeMap<u64, Item>) -> Value {
    let mut v: Value = serde_json::from_str(ORDER).unwrap_or_default();
    let template = v["line_items"][0].clone();
    let fmt = |d: NaiveDateTime| d.format("%Y-%m-%dT%H:%M:%S").to_string();
    v["id"] = json!(o.id);
    v["number"] = json!(o.id.to_string());
    v["status"] = json!(o.status);
    v["currency"] = json!("USD");
    v["date_created_gmt"] = json!(fmt(o.created));
    v["date_modified_gmt"] = json!(fmt(o.modified));
    v["date_created"] = json!(fmt(o.created - TimeDelta::hours(6)));
    v["date_modified"] = json!(fmt(o.modified - TimeDelta::hours(6)));
    let mut total = 0i64;
    let lines: Vec<Value> = o
        .lines
        .iter()
        .map(|(line_id, item, q)| {
            let it = items.get(item);
            let price_minor = it.and_then(|i| crate::money::parse_minor(&i.price, 2).ok()).unwrap_or(0);
            let line_total = o.line_totals.get(line_id).copied().unwrap_or(price_minor * q);
            total += line_total;
            let mut l = template.clone();
            l["id"] = json!(line_id);
            l["product_id"] = json!(it.map_or(*item, |i| if i.parent_id > 0 { i.parent_id } else { i.id }));
            l["variation_id"] = json!(it.filter(|i| i.parent_id > 0).map_or(0, |i| i.id));
            l["quantity"] = json!(q);
            l["sku"] = json!(it.map(|i| i.sku.clone()).unwrap_or_default());
            l["name"] = json!(it.map(|i| i.name.clone()).unwrap_or_default());
            l["total"] = json!(crate::money::format_minor(line_total, 2));
            l["subtotal"] = l["total"].clone();
            let mut meta = Vec::new();
            if let Some(r) = o.reduced.get(line_id) {
                meta.push(json!({ "id": line_id * 10, "key": "_reduced_stock", "value": r.to_string(), "display_key": "_reduced_stock", "display_value": r.to_string() }));
            }
            if let Some(r) = o.restocked.get(line_id) {
                meta.push(json!({ "id": line_id * 10 + 1, "key": "_restock_refunded_items", "value": r.to_string(), "display_key": "_restock_refunded_items", "display_value": r.to_string() }));
            }
            l["meta_data"] = json!(meta);
            l
        })
        .collect();
    v["line_items"] = json!(lines);
    let fees: Vec<Value> = o
        .fees
        .iter()
        .enumerate()
        .map(|(i, (name, t))| json!({ "id": 700 + i, "name": name, "total": crate::money::format_minor(*t, 2) }))
        .collect();
    total += o.fees.iter().map(|f| f.1).sum::<i64>() + o.shipping;
    if o.shipping != 0 {
        v["shipping_total"] = json!(crate::money::format_minor(o.shipping, 2));
        v["shipping_lines"][0]["total"] = v["shipping_total"].clone();
    }
    v["fee_lines"] = json!(fees);
    if !o.billing_email.is_empty() {
        v["billing"]["email"] = json!(o.billing_email);
    }
    let meta: Vec<Value> = o.meta.iter().enumerate().map(|(i, (k, val))| json!({ "id": 900 + i, "key": k, "value": val })).collect();
    v["meta_data"] = json!(meta);
    v["total"] = json!(crate::money::format_minor(total, 2));
    v["refunds"] = json!(
        o.refunds
            .iter()
            .rev()
            .map(|r| json!({ "id": r.id, "reason": r.reason, "total": crate::money::format_minor(-r.amount, 2), "total_tax": "0.00" }))
            .collect::<Vec<_>>()
    );
    v
}

/// A refund as WooCommerce answers it (its captured payload, fields replaced).
fn refund_json(o: &SimOrder, r: &SimRefund, items: &BTreeMap<u64, Item>) -> Value {
    let mut v: Value = serde_json::from_str(REFUND).unwrap_or_default();
    let template = v["line_items"][0].clone();
    let fmt = |d: NaiveDateTime| d.format("%Y-%m-%dT%H:%M:%S").to_string();
    let money = |m: i64| crate::money::format_minor(m, 2);
    v["id"] = json!(r.id);
    v["date_created_gmt"] = json!(fmt(r.created));
    v["date_created"] = json!(fmt(r.created - TimeDelta::hours(6)));
    v["amount"] = json!(money(r.amount));
    v["reason"] = json!(r.reason);
    let refunded = |n: u64, of: u64| json!([{ "id": n, "key": "_refunded_item_id", "value": of.to_string(), "display_key": "_refunded_item_id", "display_value": of.to_string() }]);
    v["line_items"] = json!(
        r.lines
            .iter()
            .enumerate()
            .map(|(i, (line, q, t))| {
                let item = o.lines.iter().find(|l| l.0 == *line).and_then(|l| items.get(&l.1));
                let mut l = template.clone();
                l["id"] = json!(r.id * 100 + i as u64);
                l["quantity"] = json!(-q);
                l["total"] = json!(money(-t));
                l["subtotal"] = l["total"].clone();
                l["product_id"] = json!(item.map_or(0, |i| if i.parent_id > 0 { i.parent_id } else { i.id }));
                l["variation_id"] = json!(item.filter(|i| i.parent_id > 0).map_or(0, |i| i.id));
                l["sku"] = json!(item.map(|i| i.sku.clone()).unwrap_or_default());
                l["name"] = json!(item.map(|i| i.name.clone()).unwrap_or_default());
                l["meta_data"] = refunded(r.id * 100 + i as u64, *line);
                l
            })
            .collect::<Vec<_>>()
    );
    v["shipping_lines"] = if r.shipping > 0 {
        json!([{ "id": r.id * 100 + 99, "method_title": "Flat", "method_id": "flat_rate", "instance_id": "", "total": money(-r.shipping),
                 "total_tax": "0.00", "taxes": [], "tax_status": "taxable", "meta_data": refunded(r.id * 100 + 99, SHIPPING_LINE_ID) }])
    } else {
        json!([])
    };
    v
}

/// The ids of an `include=1,2,3` filter.
fn included(q: &BTreeMap<String, String>) -> Option<HashSet<u64>> {
    q.get("include").map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
}

/// Pages a list as WooCommerce does.
fn page(list: Vec<Value>, q: &BTreeMap<String, String>, path: &str) -> Response {
    let per_page: i64 = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    if !(1..=100).contains(&per_page) {
        return err(400, E_PER_PAGE);
    }
    let page: i64 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let total = list.len() as i64;
    let pages = (total + per_page - 1) / per_page;
    let start = ((page - 1) * per_page) as usize;
    let items: Vec<Value> = list.into_iter().skip(start).take(per_page as usize).collect();
    let mut r = Json(items).into_response();
    let h = r.headers_mut();
    h.insert("x-wp-total", total.into());
    h.insert("x-wp-totalpages", pages.into());
    if page < pages {
        if let Ok(v) = format!("<{path}?per_page={per_page}&page={}>; rel=\"next\"", page + 1).parse() {
            h.insert("link", v);
        }
    }
    r
}

async fn list_orders(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let gmt = q.get("dates_are_gmt").map(String::as_str) == Some("true");
    let offset = w.with(|s| s.site_offset);
    let after = q
        .get("modified_after")
        .and_then(|a| NaiveDateTime::parse_from_str(a, "%Y-%m-%dT%H:%M:%S").ok())
        .map(|a| if gmt { a } else { a - offset });
    // As WooCommerce: no status, or `any`, is every status but the trash.
    let statuses: Option<Vec<String>> = q.get("status").filter(|s| s.as_str() != "any").map(|s| s.split(',').map(str::to_owned).collect());
    let include = included(&q);
    let list = w.with(|s| {
        let mut orders: Vec<&SimOrder> = s
            .orders
            .values()
            .filter(|o| include.as_ref().is_none_or(|ids| ids.contains(&o.id)))
            // WooCommerce keeps dates to the second, and the bound is exclusive.
            .filter(|o| after.is_none_or(|a| o.modified.with_nanosecond(0).unwrap_or(o.modified) > a))
            .filter(|o| statuses.as_ref().map_or(o.status != "trash", |st| st.contains(&o.status)))
            .collect();
        orders.sort_by_key(|o| (o.modified, o.id));
        orders.into_iter().map(|o| order_json(o, &s.items)).collect::<Vec<_>>()
    });
    page(list, &q, uri.path())
}

/// `POST /orders`: line items by product id with optional totals, fee lines, meta.
async fn create_order_api(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return woo_error(400, "rest_invalid_json", "Invalid JSON body passed.") };
    let items = v.get("line_items").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut lines = Vec::new();
    let mut totals = Vec::new();
    for (i, it) in items.iter().enumerate() {
        // A variation line names its variation; the stock and SKU are the variation's.
        let variation = it.get("variation_id").and_then(Value::as_u64).filter(|v| *v > 0);
        let (Some(pid), Some(qty)) =
            (variation.or_else(|| it.get("product_id").and_then(Value::as_u64)), it.get("quantity").and_then(Value::as_i64))
        else {
            return woo_error(400, "rest_invalid_param", &format!("Invalid parameter(s): line_items[{i}]"));
        };
        if !w.with(|s| s.items.contains_key(&pid)) {
            return woo_error(400, "woocommerce_rest_invalid_product_id", &format!("Product ID {pid} is invalid."));
        }
        lines.push((pid, qty));
        totals.push(it.get("total").and_then(Value::as_str).and_then(|t| crate::money::parse_minor(t, 2).ok()));
    }
    let status = v.get("status").and_then(Value::as_str).unwrap_or("pending").to_owned();
    let id = w.create_order(&lines, &status);
    w.with(|s| {
        if let Some(o) = s.orders.get_mut(&id) {
            for ((line_id, _, _), t) in o.lines.iter().zip(&totals) {
                if let Some(t) = t {
                    o.line_totals.insert(*line_id, *t);
                }
            }
            // As WooCommerce does: negative fees cannot take an order with product lines below zero
            // (a −50.00 fee on a 19.99 line becomes −19.99); an order of fees alone can go below zero.
            let items = &s.items;
            let lines_total: i64 = o
                .lines
                .iter()
                .map(|(line_id, item, q)| {
                    let price = items.get(item).and_then(|i| crate::money::parse_minor(&i.price, 2).ok()).unwrap_or(0);
                    o.line_totals.get(line_id).copied().unwrap_or(price * q)
                })
                .sum();
            let mut room = lines_total;
            for f in v.get("fee_lines").and_then(Value::as_array).into_iter().flatten() {
                let name = f.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                let mut total = f.get("total").and_then(Value::as_str).and_then(|t| crate::money::parse_minor(t, 2).ok()).unwrap_or(0);
                if !o.lines.is_empty() && total < 0 {
                    total = total.max(-room);
                }
                room += total;
                o.fees.push((name, total));
            }
            for m in v.get("meta_data").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(k), Some(val)) = (m.get("key").and_then(Value::as_str), m.get("value")) {
                    o.meta.insert(k.to_owned(), val.as_str().map_or_else(|| val.to_string(), str::to_owned));
                }
            }
            o.shipping = v
                .get("shipping_lines")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|l| l.get("total").and_then(Value::as_str).and_then(|t| crate::money::parse_minor(t, 2).ok()))
                .sum();
            o.billing_email = v.pointer("/billing/email").and_then(Value::as_str).unwrap_or_default().to_owned();
        }
    });
    if w.with(|s| std::mem::take(&mut s.lost_answers)) > 0 {
        return woo_error(503, "internal_server_error", "Simulated failure after the order was created.");
    }
    w.with(|s| s.orders.get(&id).map(|o| (StatusCode::CREATED, Json(order_json(o, &s.items))).into_response()))
        .unwrap_or_else(|| err(404, E_ORDER_ID))
}

/// An order as the stand-in holds it (tests read totals and lines from it).
impl WooStandin {
    pub fn order_json(&self, id: u64) -> Option<Value> {
        self.with(|s| s.orders.get(&id).map(|o| order_json(o, &s.items)))
    }
}

async fn get_order(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    w.with(|s| s.orders.get(&id).map(|o| Json(order_json(o, &s.items)).into_response())).unwrap_or_else(|| err(404, E_ORDER_ID))
}

async fn put_order(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    if !w.with(|s| s.orders.contains_key(&id)) {
        return err(404, E_ORDER_ID);
    }
    if let Some(meta) = v.get("meta_data").and_then(Value::as_array) {
        w.with(|s| {
            if let Some(o) = s.orders.get_mut(&id) {
                for m in meta {
                    if let (Some(k), Some(val)) = (m.get("key").and_then(Value::as_str), m.get("value")) {
                        o.meta.insert(k.to_owned(), val.as_str().map_or_else(|| val.to_string(), str::to_owned));
                    }
                }
            }
        });
    }
    // Fee lines by id: the total follows, and (as in WooCommerce) the order's modified date does not move.
    for f in v.get("fee_lines").and_then(Value::as_array).into_iter().flatten() {
        let fee = f.get("id").and_then(Value::as_u64).and_then(|i| i.checked_sub(700)).and_then(|i| usize::try_from(i).ok());
        let total = f.get("total").and_then(Value::as_str).and_then(|t| crate::money::parse_minor(t, 2).ok());
        let known =
            w.with(|s| s.orders.get_mut(&id).and_then(|o| fee.and_then(|i| o.fees.get_mut(i))).map(|slot| total.map(|t| slot.1 = t)));
        if known.is_none() {
            return woo_error(400, "woocommerce_rest_invalid_item_id", "Order item ID provided is not associated with order.");
        }
    }
    // Line items: by id, a new quantity (0 removes the line); without an id, a
    // new line. As WooCommerce does, the stock follows at once when the order
    // holds it, and the order's modified date does not move.
    for (i, li) in v.get("line_items").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let quantity = li.get("quantity").and_then(Value::as_i64);
        let edited = w.with(|s| {
            let Store { orders, items, .. } = s;
            let Some(o) = orders.get_mut(&id) else { return false };
            let line = match li.get("id").and_then(Value::as_u64) {
                Some(line) => {
                    let Some(at) = o.lines.iter().position(|l| l.0 == line) else { return false };
                    if let Some(q) = quantity {
                        o.lines[at].2 = q;
                    }
                    line
                }
                None => {
                    let variation = li.get("variation_id").and_then(Value::as_u64).filter(|v| *v > 0);
                    let Some(item) = variation.or_else(|| li.get("product_id").and_then(Value::as_u64)).filter(|p| items.contains_key(p))
                    else {
                        return false;
                    };
                    let line = o.id * 100 + 50 + o.lines.len() as u64;
                    o.lines.push((line, item, quantity.unwrap_or(1)));
                    line
                }
            };
            let Some(&(_, item, q)) = o.lines.iter().find(|l| l.0 == line) else { return false };
            if o.stock_reduced && holds_stock(&o.status) {
                let target = (q - o.restocked.get(&line).copied().unwrap_or(0)).max(0);
                let diff = target - o.reduced.get(&line).copied().unwrap_or(0);
                if let Some(it) = stock_holder(items, item).and_then(|h| items.get_mut(&h)) {
                    it.stock = it.stock.map(|v| v - diff);
                    o.reduced.insert(line, target);
                }
            }
            if q == 0 {
                o.lines.retain(|l| l.0 != line);
                o.reduced.remove(&line);
            }
            true
        });
        if !edited {
            return woo_error(400, "woocommerce_rest_invalid_item_id", &format!("Invalid parameter(s): line_items[{i}]"));
        }
    }
    if let Some(status) = v.get("status").and_then(Value::as_str) {
        w.set_order_status(id, status);
    }
    w.with(|s| s.orders.get(&id).map(|o| Json(order_json(o, &s.items)).into_response())).unwrap_or_else(|| err(404, E_ORDER_ID))
}

/// `DELETE orders/<id>`: to the trash (its modified date moves, its stock
/// stays, every listing but `status=trash` leaves it out), or with
/// `force=true` deleted for good (then 404). The answer is the order as it
/// was, as WooCommerce gives it.
async fn delete_order(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
) -> Response {
    let force = q.get("force").is_some_and(|f| f == "true" || f == "1");
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    w.with(|s| {
        let before = s.orders.get(&id).map(|o| order_json(o, &s.items))?;
        if force {
            s.orders.remove(&id);
        } else if let Some(o) = s.orders.get_mut(&id) {
            if o.status == "trash" {
                return Some(woo_error(410, "woocommerce_rest_already_trashed", "The order has already been deleted."));
            }
            o.status = "trash".into();
            o.modified = Utc::now().naive_utc();
        }
        Some(Json(before).into_response())
    })
    .unwrap_or_else(|| err(404, E_ORDER_ID))
}

async fn list_refunds(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let Some(mut list) = w.with(|s| s.orders.get(&id).map(|o| o.refunds.iter().map(|r| refund_json(o, r, &s.items)).collect::<Vec<_>>()))
    else {
        return err(404, E_ORDER_ID);
    };
    // WooCommerce lists newest first unless asked otherwise.
    if q.get("order").map(String::as_str) != Some("asc") {
        list.reverse();
    }
    page(list, &q, uri.path())
}

/// `POST orders/<id>/refunds`: `amount`, `reason`, `line_items` by order item
/// id (product lines with `quantity`, the shipping line) with `refund_total`,
/// `api_restock` (default true): as WooCommerce, restocking puts back only
/// units whose line reduced stock, and moves `_reduced_stock` and
/// `_restock_refunded_items`.
async fn create_refund(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return woo_error(400, "rest_invalid_json", "Invalid JSON body passed.") };
    let minor = |x: Option<&Value>| match x {
        Some(Value::String(t)) => crate::money::parse_minor(t, 2).ok(),
        Some(Value::Number(n)) => crate::money::parse_minor(&n.to_string(), 2).ok(),
        _ => None,
    };
    let Some(amount) = minor(v.get("amount")).filter(|a| *a > 0) else {
        return woo_error(400, "woocommerce_rest_cannot_create_order_refund", "Refund amount must be greater than zero.");
    };
    let restock = v.get("api_restock").and_then(Value::as_bool).unwrap_or(true);
    let reason = v.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned();
    w.with(|s| {
        s.next_id += 1;
        let rid = s.next_id;
        let Store { orders, items, .. } = s;
        let Some(o) = orders.get_mut(&id) else { return err(404, E_ORDER_ID) };
        let mut r = SimRefund { id: rid, created: Utc::now().naive_utc(), amount, reason, lines: Vec::new(), shipping: 0 };
        for it in v.get("line_items").and_then(Value::as_array).into_iter().flatten() {
            let Some(line) = it.get("id").and_then(Value::as_u64) else { continue };
            let total = minor(it.get("refund_total")).unwrap_or(0);
            if line == SHIPPING_LINE_ID {
                r.shipping += total;
                continue;
            }
            let Some(&(_, item, _)) = o.lines.iter().find(|l| l.0 == line) else {
                return woo_error(400, "woocommerce_rest_invalid_item_id", "Order item ID provided is not associated with order.");
            };
            let qty = it.get("quantity").and_then(Value::as_i64).unwrap_or(0);
            r.lines.push((line, qty, total));
            let reduced = o.reduced.get(&line).copied().unwrap_or(0);
            if restock && qty > 0 && reduced > 0 {
                if let Some(it) = stock_holder(items, item).and_then(|h| items.get_mut(&h)) {
                    it.stock = it.stock.map(|x| x + qty);
                    o.reduced.insert(line, reduced - qty);
                    *o.restocked.entry(line).or_default() += qty;
                }
            }
        }
        o.modified = r.created;
        let answer = refund_json(o, &r, items);
        o.refunds.push(r);
        (StatusCode::CREATED, Json(answer)).into_response()
    })
}

async fn add_note(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    let note = v.get("note").and_then(Value::as_str).unwrap_or_default().to_owned();
    let found = w.with(|s| s.orders.get_mut(&id).map(|o| o.notes.push(note.clone())).is_some());
    if !found {
        return err(404, E_ORDER_ID);
    }
    (StatusCode::CREATED, Json(json!({ "id": 1, "note": note, "customer_note": false }))).into_response()
}

/// An order's notes, newest first, each shaped as the real store's.
async fn list_notes(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let Some(notes) = w.with(|s| s.orders.get(&id).map(|o| o.notes.clone())) else { return err(404, E_ORDER_ID) };
    let template: Value = serde_json::from_str::<Vec<Value>>(NOTES).ok().and_then(|v| v.into_iter().next()).unwrap_or_default();
    let list: Vec<Value> = notes
        .iter()
        .enumerate()
        .rev()
        .map(|(i, text)| {
            let mut n = template.clone();
            n["id"] = json!(i + 1);
            n["note"] = json!(text);
            n["author"] = json!("admin");
            n
        })
        .collect();
    Json(list).into_response()
}

async fn list_products(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let sku = q.get("sku").cloned();
    let include = included(&q);
    // `?sku=` matches variations too; a plain list shows top-level products only, as does `include=`.
    let list = w.with(|s| {
        s.items
            .values()
            .filter(|i| match &sku {
                Some(k) => &i.sku == k,
                None => i.parent_id == 0,
            })
            .filter(|i| include.as_ref().is_none_or(|ids| ids.contains(&i.id)))
            .map(|i| product_json_in(&s.items, i))
            .collect()
    });
    page(list, &q, uri.path())
}

async fn list_variations(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let include = included(&q);
    let list = w.with(|s| {
        s.items
            .values()
            .filter(|i| i.parent_id == id && include.as_ref().is_none_or(|ids| ids.contains(&i.id)))
            .map(|i| product_json_in(&s.items, i))
            .collect()
    });
    page(list, &q, uri.path())
}

async fn get_product(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    // A variation's id answers here too, as WooCommerce does.
    w.with(|s| s.items.get(&id).map(|i| Json(product_json_in(&s.items, i)).into_response())).unwrap_or_else(|| err(404, E_PRODUCT_ID))
}

/// Applies `manage_stock`/`stock_quantity` to an item; `Err` with the answer when invalid.
#[expect(clippy::result_large_err, reason = "the error is the HTTP answer itself, built once per bad request")]
fn apply(item: &mut Item, v: &Value) -> Result<(), Response> {
    // A number or null, as Quartermaster's contract test sets it (nothing sends another type).
    match v.get("low_stock_amount") {
        Some(Value::Null) => item.low_stock_amount = None,
        Some(n) if n.is_i64() => item.low_stock_amount = n.as_i64(),
        _ => {}
    }
    if let Some(m) = v.get("manage_stock").and_then(Value::as_bool) {
        item.manage_stock = m;
        if m && item.stock.is_none() {
            item.stock = Some(0);
        }
    }
    if let Some(q) = v.get("stock_quantity") {
        let Some(q) = q.as_i64() else { return Err(err(400, E_STOCK_TYPE)) };
        // WooCommerce ignores the quantity of a product that does not manage stock.
        if item.manage_stock {
            item.stock = Some(q);
        }
    }
    Ok(())
}

async fn put_product(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    w.with(|s| match s.items.get_mut(&id).filter(|i| i.parent_id == 0) {
        Some(item) => apply(item, &v).map(|()| Json(product_json(item)).into_response()).unwrap_or_else(|e| e),
        None => err(404, E_PRODUCT_ID),
    })
}

async fn put_variation(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path((pid, id)): Path<(u64, u64)>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    w.with(|s| match s.items.get_mut(&id).filter(|i| i.parent_id == pid) {
        Some(item) => apply(item, &v).map(|()| Json(product_json(item)).into_response()).unwrap_or_else(|e| e),
        None => woo_error(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID."),
    })
}

fn batch(w: &WooStandin, body: &Bytes, parent: Option<u64>) -> Response {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let count = ["create", "update", "delete"].iter().map(|k| v.get(*k).and_then(Value::as_array).map_or(0, Vec::len)).sum::<usize>();
    if count > 100 {
        return err(413, E_TOO_LARGE);
    }
    let updates = v.get("update").and_then(Value::as_array).cloned().unwrap_or_default();
    let (code, status) = match parent {
        Some(_) => ("woocommerce_rest_product_variation_invalid_id", 404),
        None => ("woocommerce_rest_product_invalid_id", 400),
    };
    let answers: Vec<Value> = w.with(|s| {
        updates
            .iter()
            .map(|u| {
                let id = u.get("id").and_then(Value::as_u64).unwrap_or(0);
                match s.items.get_mut(&id).filter(|i| i.parent_id == parent.unwrap_or(0)) {
                    Some(item) => match apply(item, u) {
                        Ok(()) => {
                            let item = item.clone();
                            product_json_in(&s.items, &item)
                        }
                        Err(_) => json!({ "id": id, "error": { "code": "rest_invalid_param", "message": "Invalid parameter(s): stock_quantity", "data": { "status": 400 } } }),
                    },
                    None => json!({ "id": id, "error": { "code": code, "message": "Invalid ID.", "data": { "status": status } } }),
                }
            })
            .collect()
    });
    Json(json!({ "update": answers })).into_response()
}

async fn batch_products(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    batch(&w, &body, None)
}

async fn batch_variations(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(pid): Path<u64>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    batch(&w, &body, Some(pid))
}

/// `POST /products`: a simple or variable product (name, sku, price, manage_stock, stock_quantity).
async fn create_product_api(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return woo_error(400, "rest_invalid_json", "Invalid JSON body passed.") };
    create_item(&w, &v, 0)
}

/// `POST /products/{id}/variations`.
async fn create_variation_api(
    State(w): State<WooStandin>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    Path(pid): Path<u64>,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&w, &method, &uri, &headers, &q).await {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return woo_error(400, "rest_invalid_json", "Invalid JSON body passed.") };
    if !w.with(|s| s.items.get(&pid).is_some_and(|p| p.variable)) {
        return woo_error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.");
    }
    create_item(&w, &v, pid)
}

fn create_item(w: &WooStandin, v: &Value, parent_id: u64) -> Response {
    let sku = v.get("sku").and_then(Value::as_str).unwrap_or_default().to_owned();
    let duplicate = !sku.is_empty() && w.with(|s| s.items.values().any(|i| i.sku == sku));
    if duplicate {
        return woo_error(400, "product_invalid_sku", "Invalid or duplicated SKU.");
    }
    let manage = v.get("manage_stock").and_then(Value::as_bool).unwrap_or(false);
    let item = w.with(|s| {
        s.next_id += 1;
        let id = s.next_id;
        let item = Item {
            id,
            parent_id,
            sku,
            name: v.get("name").and_then(Value::as_str).map_or_else(|| format!("Item {id}"), str::to_owned),
            manage_stock: manage,
            stock: manage.then(|| v.get("stock_quantity").and_then(Value::as_i64).unwrap_or(0)),
            price: v.get("regular_price").and_then(Value::as_str).unwrap_or("0.00").to_owned(),
            variable: v.get("type").and_then(Value::as_str) == Some("variable"),
            low_stock_amount: v.get("low_stock_amount").and_then(Value::as_i64),
        };
        s.items.insert(id, item.clone());
        product_json_in(&s.items, &item)
    });
    (StatusCode::CREATED, Json(item)).into_response()
}
