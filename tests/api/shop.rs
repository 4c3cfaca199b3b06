//! A WooCommerce store for a test: the real WooCommerce 11.0.1 from
//! `../shared/woocommerce-real/` (or `$QM_WOO_REAL`) when it is there, or
//! the stand-in. Both are driven the same way, through their REST API, so
//! the contract tests run one body against both and the stand-in cannot
//! agree with us while the real store disagrees.
//!
//! Set-up calls (creating products and orders, reading stock) use Basic auth
//! with `X-Forwarded-Proto: https`, as an admin over TLS would; what is under
//! test uses Quartermaster's own client, which signs with OAuth 1.0a over
//! plain http as it does inside the Compose network.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use quartermaster::{
    channels::{retry::RetryPolicy, woocommerce::WooClient},
    config::Secret,
    standin::{self, woocommerce::WooStandin},
};
use serde_json::{Value, json};

use crate::helpers::{random_hex, server_url};

/// Which store a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Real,
    Standin,
}

/// The folder holding the real store's `start`/`stop`, if present.
pub fn real_store_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("QM_WOO_REAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/woocommerce-real"));
    dir.join("start").is_file().then_some(dir)
}

/// Says once per test that the real tier is skipped, and why.
pub fn skip_real(test: &str) {
    eprintln!("skipped: no real WooCommerce for {test} (../shared/woocommerce-real/start not found; set QM_WOO_REAL to its folder)");
}

/// A running store and the credentials of its read/write REST key.
pub struct Shop {
    pub kind: Kind,
    pub url: String,
    pub ck: String,
    pub cs: String,
    admin: reqwest::Client,
    /// The real store's folder (`rest.log`, `hooks/`), stopped on drop.
    pub dir: Option<PathBuf>,
    tool: Option<PathBuf>,
    pub standin: Option<WooStandin>,
}

impl Shop {
    /// The stand-in, on a free loopback port.
    pub async fn standin() -> Shop {
        let (ck, cs) = (format!("ck_{}", random_hex(20)), format!("cs_{}", random_hex(20)));
        let w = WooStandin::new(&ck, &cs);
        let addr = standin::serve(w.router(), "127.0.0.1:0").await.expect("serve stand-in");
        Shop { kind: Kind::Standin, url: format!("http://{addr}"), ck, cs, admin: admin_client(), dir: None, tool: None, standin: Some(w) }
    }

    /// A fresh real store, or None (after saying so) when the folder is absent.
    /// `env` goes to `start` (`WOO_TIMEZONE`, `WOO_HPOS`).
    pub async fn real(test: &str, env: &[(&str, &str)]) -> Option<Shop> {
        let Some(tool) = real_store_dir() else {
            skip_real(test);
            return None;
        };
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/woo-real").join(format!("{}-{}", test.replace("::", "-"), random_hex(4)));
        std::fs::create_dir_all(&dir).expect("store dir");
        let opts: sqlx::mysql::MySqlConnectOptions = server_url().parse().expect("server url");
        let mut cmd = Command::new(tool.join("start"));
        cmd.arg(&dir).env("WOO_MARIADB", format!("{}:{}", opts.get_host(), opts.get_port())).env("WOO_MARIADB_USER", opts.get_username());
        if let Ok(url) = url::Url::parse(&server_url()) {
            if let Some(pw) = url.password() {
                cmd.env("WOO_MARIADB_PASSWORD", pw);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run woocommerce-real/start");
        assert!(out.status.success(), "woocommerce-real/start failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(|v| v.trim_matches('"').to_owned())
                .unwrap_or_else(|| panic!("start printed no {k}: {text}"))
        };
        Some(Shop {
            kind: Kind::Real,
            url: get("WOO_URL"),
            ck: get("WOO_CK"),
            cs: get("WOO_CS"),
            admin: admin_client(),
            dir: Some(dir),
            tool: Some(tool),
            standin: None,
        })
    }

    /// Quartermaster's client for this store (OAuth over http), with short retries.
    pub fn client(&self) -> WooClient {
        self.client_with(&self.cs)
    }

    /// The same with another consumer secret.
    pub fn client_with(&self, secret: &str) -> WooClient {
        WooClient::new(&self.url, Secret::new(&self.ck), Secret::new(secret), Duration::from_secs(30))
            .expect("client")
            .with_retry(RetryPolicy { attempts: 3, base: Duration::from_millis(20), max_wait: Duration::from_millis(1500) })
    }

    /// One admin REST call (Basic over "https"); (status, body).
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/wp-json/wc/v3/{}", self.url, path.trim_start_matches('/'));
        let mut req = self.admin.request(method, &url).basic_auth(&self.ck, Some(&self.cs)).header("X-Forwarded-Proto", "https");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn admin_ok(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let (status, v) = self.admin(method, path, Some(body)).await;
        assert!((200..300).contains(&status), "{path}: HTTP {status}: {v}");
        v
    }

    /// A simple product; returns its id.
    pub async fn product(&self, sku: &str, stock: Option<i64>) -> u64 {
        let body = match stock {
            Some(q) => {
                json!({ "name": format!("Product {sku}"), "sku": sku, "regular_price": "19.99", "manage_stock": true, "stock_quantity": q })
            }
            None => json!({ "name": format!("Product {sku}"), "sku": sku, "regular_price": "19.99", "manage_stock": false }),
        };
        id(&self.admin_ok(reqwest::Method::POST, "products", body).await)
    }

    /// A variable product with one variation per (sku, stock); a variation
    /// with `None` leaves stock to the parent (`parent_stock`).
    pub async fn variable(&self, sku: &str, parent_stock: Option<i64>, variations: &[(&str, Option<i64>)]) -> (u64, Vec<u64>) {
        let options: Vec<String> = variations.iter().map(|(s, _)| (*s).to_owned()).collect();
        let mut body = json!({ "name": format!("Variable {sku}"), "type": "variable", "sku": sku,
                               "attributes": [{ "name": "Option", "variation": true, "visible": true, "options": options }] });
        if let Some(q) = parent_stock {
            body["manage_stock"] = json!(true);
            body["stock_quantity"] = json!(q);
        }
        let parent = id(&self.admin_ok(reqwest::Method::POST, "products", body).await);
        let mut ids = Vec::new();
        for (vsku, stock) in variations {
            let mut v = json!({ "sku": vsku, "regular_price": "9.00", "attributes": [{ "name": "Option", "option": vsku }] });
            if let Some(q) = stock {
                v["manage_stock"] = json!(true);
                v["stock_quantity"] = json!(q);
            }
            ids.push(id(&self.admin_ok(reqwest::Method::POST, &format!("products/{parent}/variations"), v).await));
        }
        (parent, ids)
    }

    /// An order of (product id, variation id or 0, quantity) in `status`.
    pub async fn order(&self, lines: &[(u64, u64, i64)], status: &str) -> u64 {
        let items: Vec<Value> = lines
            .iter()
            .map(|(p, v, q)| {
                if *v > 0 {
                    json!({ "product_id": p, "variation_id": v, "quantity": q })
                } else {
                    json!({ "product_id": p, "quantity": q })
                }
            })
            .collect();
        let body = json!({ "status": status, "line_items": items, "billing": { "first_name": "Ada", "last_name": "Buyer", "email": "ada@example.com" } });
        id(&self.admin_ok(reqwest::Method::POST, "orders", body).await)
    }

    /// An order with an optional product line (product, quantity) and a fee line of `fee` (text, may be
    /// negative); returns (order id, fee line id).
    pub async fn order_with_fee(&self, line: Option<(u64, i64)>, fee: &str, status: &str) -> (u64, u64) {
        let lines: Vec<Value> = line.iter().map(|(p, q)| json!({ "product_id": p, "quantity": q })).collect();
        let body = json!({ "status": status, "line_items": lines,
                           "fee_lines": [{ "name": "Adjustment", "total": fee, "tax_status": "none" }],
                           "billing": { "first_name": "Ada", "last_name": "Buyer", "email": "ada@example.com" } });
        let v = self.admin_ok(reqwest::Method::POST, "orders", body).await;
        (id(&v), v["fee_lines"][0]["id"].as_u64().unwrap_or_else(|| panic!("no fee line in {v}")))
    }

    /// A refund as wp-admin makes one (no payment through the gateway): `amount`
    /// (text), items (order item id, quantity, refund total as text), restocking
    /// or not. Returns the refund as the store answers it.
    pub async fn refund(&self, order: u64, amount: &str, restock: bool, items: &[(u64, i64, &str)]) -> Value {
        let items: Vec<Value> = items
            .iter()
            .map(
                |(id, q, t)| {
                    if *q > 0 { json!({ "id": id, "quantity": q, "refund_total": t }) } else { json!({ "id": id, "refund_total": t }) }
                },
            )
            .collect();
        let body = json!({ "amount": amount, "reason": "", "api_refund": false, "api_restock": restock, "line_items": items });
        self.admin_ok(reqwest::Method::POST, &format!("orders/{order}/refunds"), body).await
    }

    /// Any change to an order, as `PUT orders/<id>`; returns the order as the store then has it.
    pub async fn put_order(&self, order: u64, body: Value) -> Value {
        self.admin_ok(reqwest::Method::PUT, &format!("orders/{order}"), body).await
    }

    /// Moves an order to `status` (WooCommerce moves stock as it does for staff).
    pub async fn set_status(&self, order: u64, status: &str) {
        self.admin_ok(reqwest::Method::PUT, &format!("orders/{order}"), json!({ "status": status })).await;
    }

    /// A staff edit of stock, as wp-admin would make it.
    pub async fn set_stock(&self, product: u64, qty: i64) {
        self.admin_ok(reqwest::Method::PUT, &format!("products/{product}"), json!({ "manage_stock": true, "stock_quantity": qty })).await;
    }

    /// The stock the store shows for a product or variation.
    pub async fn stock(&self, product: u64) -> Option<i64> {
        let (status, v) = self.admin(reqwest::Method::GET, &format!("products/{product}"), None).await;
        assert_eq!(status, 200, "products/{product}: {v}");
        v["stock_quantity"].as_i64()
    }

    /// Sets a fault hook of the real store (`delay_stock_batch`, `delay_orders_get`, `fail_next`), atomically.
    pub fn hook(&self, name: &str, value: &str) {
        let Some(dir) = &self.dir else { return };
        let hooks = dir.join("hooks");
        std::fs::create_dir_all(&hooks).expect("hooks dir");
        let tmp = hooks.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, value).expect("write hook");
        std::fs::rename(&tmp, hooks.join(name)).expect("rename hook");
    }

    /// Installs the stack's companion must-use plugin in the real store
    /// (compose/wordpress/quartermaster-companion.php), as the stack does.
    pub fn install_companion(&self) {
        let Some(dir) = &self.dir else { return };
        let to = dir.join("site/wp-content/mu-plugins/quartermaster-companion.php");
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/compose/wordpress/quartermaster-companion.php"), &to)
            .unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    }

    /// Removes a hook file.
    pub fn unhook(&self, name: &str) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join("hooks").join(name));
        }
    }

    /// Waits until the real store's `rest.log` holds more than `before` lines
    /// containing `needle` (a hook logs `DELAY …` as it starts to hold a request).
    pub async fn wait_for_log(&self, needle: &str, before: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.rest_log().matches(needle).count() <= before {
            assert!(std::time::Instant::now() < deadline, "the store never logged `{needle}`");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The real store's request log (`rest.log`), or the stand-in's requests.
    pub fn rest_log(&self) -> String {
        match (&self.dir, &self.standin) {
            (Some(d), _) => std::fs::read_to_string(d.join("rest.log")).unwrap_or_default(),
            (None, Some(w)) => w.requests().join("\n"),
            _ => String::new(),
        }
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        if let (Some(tool), Some(dir)) = (&self.tool, &self.dir) {
            // `stop` kills exactly the PIDs `start` recorded and drops the store's database.
            match Command::new(tool.join("stop")).arg(dir).output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => eprintln!("woocommerce-real/stop {}: {}", dir.display(), String::from_utf8_lossy(&o.stderr)),
                Err(e) => eprintln!("woocommerce-real/stop {}: {e}", dir.display()),
            }
        }
    }
}

fn admin_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client")
}

fn id(v: &Value) -> u64 {
    v["id"].as_u64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Both stores for a contract test: the stand-in always, the real one when present.
pub async fn both(test: &str) -> Vec<Shop> {
    let mut shops = vec![Shop::standin().await];
    if let Some(real) = Shop::real(test, &[]).await {
        shops.push(real);
    }
    shops
}
