//! WooCommerce webhooks: deliveries signed by WooCommerce itself (the real
//! store, with the stack's companion plugin) bring an order to the sync
//! within seconds; a forged or unsigned one is refused. Signatures in the
//! refusal test are made by PHP's `hash_hmac`, the function WooCommerce
//! signs with, never by Quartermaster's own code.

use std::time::{Duration, Instant};

use quartermaster::jobs::{self, JobName};
use reqwest::Method;
use sqlx::MySqlPool;

use crate::{
    helpers::{TenantDir, TestApp, TestDb},
    shop::{self, Shop},
    sync_real::qm,
};

const SECRET: &str = "wh-secret-5d1c9e0a-quartermaster-test";

/// A tenant file with webhooks on (delivering to `url`), for `shop`.
fn tenant(db: &TestDb, shop: &Shop, url: &str) -> TenantDir {
    let t = TenantDir::write_with(db, "", "", &shop.url, (&shop.ck, &shop.cs), "");
    rewrite(&t, url);
    std::fs::write(t.dir.path().join("secrets/webhook_secret"), SECRET).expect("secret");
    t
}

/// Points the tenant file's `woocommerce.webhooks.delivery_url` at `url`.
fn rewrite(t: &TenantDir, url: &str) {
    let path = t.config_path();
    let text = std::fs::read_to_string(&path).expect("tenant file");
    let text = match text.find("  webhooks:") {
        Some(at) => {
            let end = text[at..].find("\npolling:").map_or(text.len(), |e| at + e);
            format!("{}{}", &text[..at], &text[end + 1..])
        }
        None => text,
    };
    let text = text.replace(
        "  consumer_secret: ref+file://secrets/woo_secret\n",
        &format!(
            "  consumer_secret: ref+file://secrets/woo_secret\n  webhooks:\n    secret: ref+file://secrets/webhook_secret\n    delivery_url: {url}\n"
        ),
    );
    std::fs::write(&path, text).expect("write tenant file");
}

/// base64(HMAC-SHA256(body, secret)) as WooCommerce computes it, by PHP.
fn php_signature(body: &[u8], secret: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("php8.2")
        .args(["-r", "echo base64_encode(hash_hmac('sha256', stream_get_contents(STDIN), $argv[1], true));", secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("php8.2 (scripts/test installs it for the real store)");
    child.stdin.take().expect("stdin").write_all(body).expect("write");
    let out = child.wait_with_output().expect("php");
    assert!(out.status.success(), "php failed");
    String::from_utf8(out.stdout).expect("utf-8")
}

async fn reserved(pool: &MySqlPool, woo_id: u64) -> u64 {
    sqlx::query_scalar::<_, u64>(
        r#"SELECT CAST(COALESCE(SUM(r.quantity), 0) AS UNSIGNED) FROM stock_reservations r JOIN order_lines l ON l.id = r.order_line_id
           JOIN orders o ON o.id = l.order_id WHERE o.woo_id = ? AND r.status = 'open'"#,
    )
    .bind(woo_id)
    .fetch_one(pool)
    .await
    .expect("reserved")
}

/// Waits until `check` holds, at most `within`; returns how long it took.
async fn until<F: std::future::Future<Output = bool>>(within: Duration, what: &str, mut check: impl FnMut() -> F) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_forged_or_unsigned_delivery_is_refused_and_only_a_signed_one_is_taken() {
    let shop = Shop::standin().await;
    let db = TestDb::migrated().await;
    let t = tenant(&db, &shop, "http://127.0.0.1:9/webhooks/woocommerce");
    let app = TestApp::spawn_in(db, t, "").await;
    let url = format!("{}/webhooks/woocommerce", app.address);
    let http = reqwest::Client::new();
    let body = br#"{"id":4242,"status":"processing","line_items":[]}"#.to_vec();
    let post = |sig: Option<String>, body: Vec<u8>| {
        let mut r = http.post(&url).header("content-type", "application/json").header("x-wc-webhook-topic", "order.updated");
        if let Some(s) = sig {
            r = r.header("x-wc-webhook-signature", s);
        }
        r.body(body).send()
    };

    let unsigned = post(None, body.clone()).await.expect("post");
    assert_eq!(unsigned.status(), 401);
    assert!(unsigned.text().await.expect("text").contains("X-WC-Webhook-Signature is missing"));
    let other = php_signature(&body, "not-the-secret");
    let forged = post(Some(other), body.clone()).await.expect("post");
    assert_eq!(forged.status(), 401);
    assert!(forged.text().await.expect("text").contains("does not match"));
    // The body changed after signing.
    let tampered = post(Some(php_signature(&body, SECRET)), br#"{"id":4243,"status":"processing"}"#.to_vec()).await.expect("post");
    assert_eq!(tampered.status(), 401);
    assert!(app.state.webhooks.is_empty(), "nothing refused reaches the sync");
    let log: String = std::fs::read_to_string(app._tenant.dir.path().join("tenant.yaml")).expect("read");
    assert!(log.contains("ref+file://secrets/webhook_secret"), "the tenant file holds a reference, not the secret");

    // WooCommerce's creation ping (unsigned, `webhook_id=N`) is answered and does nothing.
    let ping = http.post(&url).body("webhook_id=12").send().await.expect("post");
    assert_eq!(ping.status(), 200);
    assert!(app.state.webhooks.is_empty());

    // Signed as WooCommerce signs: queued for its short cycle.
    let ok = post(Some(php_signature(&body, SECRET)), body.clone()).await.expect("post");
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap_or_default());
    assert_eq!(app.state.webhooks.len(), 1);
    let missing_id = br#"{"status":"processing"}"#.to_vec();
    let bad = post(Some(php_signature(&missing_id, SECRET)), missing_id).await.expect("post");
    assert_eq!(bad.status(), 422, "a signed body without an order id names the field");
}

/// The real store, with the companion plugin, delivers to a running appliance:
/// an order placed is reserved and the store's stock confirmed within
/// seconds (no poll runs: the cron is minutes away), a trash is released
/// the same way; a webhook the store disabled is re-enabled by `qm webhooks status`.
#[tokio::test]
async fn with_webhooks_an_order_is_reserved_within_seconds() {
    let Some(shop) = Shop::real("webhooks_reserve", &[]).await else {
        shop::skip_real("webhooks: the stand-in has no webhooks; the real store's deliveries are the test");
        return;
    };
    shop.install_companion();
    let db = TestDb::migrated().await;
    let a = shop.product("WH-A", Some(0)).await;
    crate::sync::stock_up(&db.pool, &shop.client(), 30).await;
    let pool = db.pool.clone();
    let t = tenant(&db, &shop, "http://127.0.0.1:9/webhooks/woocommerce");
    let config = t.config_path();
    let app = TestApp::spawn_in(db, t, "").await;
    rewrite(&app._tenant, &format!("{}/webhooks/woocommerce", app.address));
    let mut scheduler = jobs::start(app.state.clone(), Some(&[JobName::InventoryPoll])).await.expect("the fleet");

    let (ok, text) = qm(&["webhooks", "install"], &config).await;
    assert!(ok, "{text}");
    for topic in ["order.created", "order.updated", "order.deleted", "order.restored"] {
        assert!(text.contains(&format!("{topic}: webhook")) && text.contains("active"), "{topic}: {text}");
    }
    let (ok, again) = qm(&["webhooks", "install"], &config).await;
    assert!(ok && again.matches("(updated)").count() == 4, "installing again updates, never duplicates: {again}");

    // The first short cycle pushes the received stock (30); then an order.
    let order = shop.order(&[(a, 0, 3)], "processing").await;
    let took = until(Duration::from_secs(10), "the order reserved", || async { reserved(&pool, order).await == 3 }).await;
    until(Duration::from_secs(10), "the store's stock confirmed", || async { shop.stock(a).await == Some(27) }).await;
    eprintln!("webhook: order placed → reserved in {took:?}");
    assert!(took < Duration::from_secs(5), "reserved in {took:?}");
    let scope = format!("\"scope\":[{order}]");
    until(Duration::from_secs(10), "a short cycle recorded for the order", || async {
        let runs: Vec<Option<String>> = sqlx::query_scalar("SELECT CAST(summary AS CHAR) FROM job_runs WHERE job = 'inventory_poll'")
            .fetch_all(&pool)
            .await
            .expect("runs");
        runs.iter().flatten().any(|r| r.contains(&scope))
    })
    .await;

    // Trashed in the store: released within seconds.
    let (status, _) = shop.admin(Method::DELETE, &format!("orders/{order}"), None).await;
    assert_eq!(status, 200);
    until(Duration::from_secs(10), "the trashed order released", || async { reserved(&pool, order).await == 0 }).await;
    until(Duration::from_secs(10), "the store's stock back to 30", || async { shop.stock(a).await == Some(30) }).await;

    // A webhook the store disabled (after failed deliveries) is told and re-enabled.
    let hooks = shop.client().webhooks().await.expect("webhooks");
    let created = hooks.iter().find(|h| h.topic == "order.created").expect("ours");
    let (status, _) = shop.admin(Method::PUT, &format!("webhooks/{}", created.id), Some(serde_json::json!({ "status": "disabled" }))).await;
    assert_eq!(status, 200);
    let (ok, text) = qm(&["webhooks", "status"], &config).await;
    assert!(ok && text.contains("order.created") && text.contains("(re-enabled)"), "{text}");
    let hooks = shop.client().webhooks().await.expect("webhooks");
    assert!(hooks.iter().filter(|h| h.name.starts_with("Quartermaster")).all(|h| h.status == "active"), "{hooks:?}");
    let _ = scheduler.shutdown().await;
}
