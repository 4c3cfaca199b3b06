//! The sync engine against the WooCommerce and eBay stand-ins (built from
//! the captured payloads) and the real MariaDB.

use std::{sync::Arc, time::Duration};

use quartermaster::{
    channels::{ChannelError, ItemResult, StockChannel, StockUpdate, ebay::EbayClient, outbox, retry::RetryPolicy, woocommerce::WooClient},
    config::Secret,
    inventory::{catalog, lookup::CodeLookup, receive, reserve},
    jobs::{self, Ran, Runner, inventory_poll::InventoryPoll},
    standin::{
        self,
        ebay::EbayStandin,
        woocommerce::{Fault, WooStandin},
    },
    sync::{Deps, Settings, Step, StockSync, Summary},
};
use sqlx::MySqlPool;

use crate::helpers::TestDb;

const KEY: &str = "ck_0123456789abcdef0123456789abcdef01234567";
const SECRET: &str = "cs_fedcba9876543210fedcba9876543210fedcba98";

fn fast() -> RetryPolicy {
    RetryPolicy { attempts: 3, base: Duration::from_millis(20), max_wait: Duration::from_millis(1500) }
}

async fn store() -> (WooStandin, String) {
    let w = WooStandin::new(KEY, SECRET);
    let addr = standin::serve(w.router(), "127.0.0.1:0").await.expect("serve stand-in");
    (w, format!("http://{addr}"))
}

fn client(base: &str, secret: &str) -> WooClient {
    WooClient::new(base, Secret::new(KEY), Secret::new(secret), Duration::from_secs(2)).expect("client").with_retry(fast())
}

/// Called at each step of a cycle.
pub type Hook = Arc<dyn Fn(Step) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// A tenant's sync as the fleet runs it (under its lock, recorded in
/// `job_runs`), with what a test changes between cycles.
pub struct Poller {
    pub deps: Deps,
    /// The books (accounting on): refunds are recorded.
    pub books: Option<quartermaster::books::Books>,
    /// Told of every step of the next cycles.
    pub hook: Option<Hook>,
    /// The tenant id its lock is named for.
    pub tenant: String,
    runner: Runner,
}

impl Poller {
    /// One cycle; an error when another run holds the lock.
    pub async fn run_once(&self) -> anyhow::Result<Summary> {
        match self.run().await? {
            Ran::Done(v) => Ok(serde_json::from_value(v)?),
            Ran::Skipped { lock, holder } => anyhow::bail!("skipped: lock {lock} is held by {holder}"),
            Ran::NotHere { reason } => anyhow::bail!("not run here: {reason}"),
        }
    }

    /// One cycle through `jobs::run_guarded`, as the scheduler runs it.
    pub async fn run(&self) -> anyhow::Result<Ran> {
        let mut sync = StockSync::new(Deps { books: self.books.clone(), ..self.deps.clone() });
        if let Some(h) = &self.hook {
            let h = h.clone();
            sync = sync.observed_by(Arc::new(move |step: Step| h(step)));
        }
        let job = InventoryPoll::new(sync, "0 */5 * * * *".into());
        jobs::run_guarded(&self.runner, "inventory_poll", &job).await
    }
}

pub fn poller(db: &TestDb, woo: WooClient, ebay: Option<EbayClient>) -> Poller {
    // Advisory locks are server-wide: each test is its own tenant.
    let tenant = db.name.replace('_', "-");
    let metrics = Arc::new(quartermaster::metrics::Metrics::new());
    Poller {
        deps: Deps {
            pool: db.pool.clone(),
            woo: Arc::new(woo),
            ebay: ebay.map(Arc::new),
            retry: fast(),
            books: None,
            metrics: Some(metrics.clone()),
            settings: Settings {
                reservable: vec!["processing".into(), "on-hold".into()],
                pick_priority: Vec::new(),
                overlap: chrono::TimeDelta::seconds(120),
                push_unstocked: false,
                reconcile_every: chrono::TimeDelta::minutes(60),
                open_orders_every: chrono::TimeDelta::minutes(15),
                open_orders_every_cycle_up_to: quartermaster::sync::reconcile::EVERY_CYCLE_UP_TO,
            },
        },
        books: None,
        hook: None,
        runner: Runner { pool: db.pool.clone(), db_options: Arc::new(db.options()), tenant: tenant.clone(), metrics },
        tenant,
    }
}

/// Mirrors the stand-in's catalog and receives `qty` units of every product.
pub async fn stock_up(pool: &MySqlPool, woo: &WooClient, qty: u32) {
    catalog::sync_from_woo(pool, woo, "USD", false).await.expect("catalog");
    let skus: Vec<(String,)> = sqlx::query_as("SELECT sku FROM products WHERE manage_stock").fetch_all(pool).await.expect("skus");
    let csv = std::iter::once("sku,qty,unit_cost,lot_ref".to_owned())
        .chain(skus.iter().map(|(s,)| format!("{s},{qty},4.25,LOT-A")))
        .collect::<Vec<_>>()
        .join("\n");
    let rows = receive::parse_csv(pool, &csv, "USD").await.expect("db").expect("valid csv");
    let invoice = receive::Invoice {
        supplier: "Midwest Fastener".into(),
        reference: "INV-1".into(),
        date: chrono::Utc::now().date_naive(),
        currency: "USD".into(),
    };
    receive::apply(pool, &invoice, &rows, None, &|_, _| {}).await.expect("receive");
}

async fn product_id(pool: &MySqlPool, sku: &str) -> u64 {
    sqlx::query_scalar("SELECT id FROM products WHERE sku = ?").bind(sku).fetch_one(pool).await.expect("product")
}

#[tokio::test]
async fn oauth_over_plain_http_works_and_basic_auth_there_is_refused_like_woocommerce() {
    let (w, base) = store().await;
    w.add_product("PQ-001", 5, true);
    let found = client(&base, SECRET).products_by_sku("PQ-001").await.expect("signed request");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].stock_quantity, Some(5));

    let err = client(&base, "cs_wrong").products_by_sku("PQ-001").await.expect_err("bad secret");
    assert!(matches!(&err, ChannelError::Permanent { status: 401, code, .. } if code == "woocommerce_rest_authentication_error"), "{err}");
    assert!(!err.to_string().contains("cs_wrong"), "no secret in the error: {err}");

    let http = reqwest::Client::new();
    let url = format!("{base}/wp-json/wc/v3/products");
    let plain = http.get(&url).basic_auth(KEY, Some(SECRET)).send().await.expect("get");
    assert_eq!(plain.status(), 401);
    assert_eq!(plain.json::<serde_json::Value>().await.expect("json")["code"], "woocommerce_rest_cannot_view");
    let https = http.get(&url).basic_auth(KEY, Some(SECRET)).header("X-Forwarded-Proto", "https").send().await.expect("get");
    assert_eq!(https.status(), 200, "Basic auth is accepted over HTTPS");
}

#[tokio::test]
async fn lists_are_paged_and_batches_hold_at_most_100_items_with_per_item_errors() {
    let (w, base) = store().await;
    let ids: Vec<u64> = (0..150).map(|i| w.add_product(&format!("SKU-{i:03}"), 1, true)).collect();
    let no_stock = w.add_product("NO-STOCK", 0, false);
    let (parent, vars) = w.add_variable("SYI", &[("SYI-BLK", 2), ("SYI-GRN", 3)]);
    let woo = client(&base, SECRET);
    let all = woo.all_products().await.expect("catalog");
    assert_eq!(all.len(), 150 + 1 + 2, "products plus variations, variable parent left out");
    assert!(all.iter().any(|p| p.id == vars[0] && p.parent_id == parent));

    let mut updates: Vec<StockUpdate> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| StockUpdate {
            product_id: i as u64 + 1,
            sku: format!("SKU-{i:03}"),
            external_id: Some(*id),
            parent_id: None,
            quantity: 7,
        })
        .collect();
    updates.push(StockUpdate { product_id: 900, sku: "GONE".into(), external_id: Some(999_999), parent_id: None, quantity: 1 });
    updates.push(StockUpdate { product_id: 901, sku: "NO-STOCK".into(), external_id: Some(no_stock), parent_id: None, quantity: 4 });
    updates.push(StockUpdate { product_id: 902, sku: "SYI-BLK".into(), external_id: Some(vars[0]), parent_id: Some(parent), quantity: 9 });
    let before = w.requests().len();
    let results = woo.push(&updates).await.expect("push");
    let batches: Vec<String> = w.requests()[before..].to_vec();
    assert_eq!(
        batches.iter().filter(|r| r.ends_with("/products/batch")).count(),
        2,
        "153 simple items need two batches of at most 100: {batches:?}"
    );
    assert_eq!(batches.iter().filter(|r| r.contains("/variations/batch")).count(), 1);
    assert_eq!(w.stock(ids[0]), Some(7));
    assert_eq!(w.stock(vars[0]), Some(9));
    let rejected: Vec<(&u64, &String)> = results
        .iter()
        .filter_map(|r| match r {
            ItemResult::Rejected { product_id, code, .. } => Some((product_id, code)),
            _ => None,
        })
        .collect();
    assert!(rejected.contains(&(&900, &"woocommerce_rest_product_invalid_id".to_owned())), "{rejected:?}");
    assert!(rejected.contains(&(&901, &"manage_stock_off".to_owned())), "a product without manage_stock is reported: {rejected:?}");
    assert_eq!(results.iter().filter(|r| matches!(r, ItemResult::Confirmed { .. })).count(), 151);
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_and_then_given_up() {
    let (w, base) = store().await;
    w.add_product("PQ-001", 5, true);
    let woo = client(&base, SECRET);
    w.inject(&[Fault::Status(429, Some(1)), Fault::Status(503, None)]);
    assert_eq!(woo.products_by_sku("PQ-001").await.expect("third attempt succeeds").len(), 1);
    let waited = woo.retry_waited();
    assert!(
        waited >= Duration::from_secs(1) && waited <= Duration::from_secs(1) + fast().max_wait,
        "Retry-After: 1 was honoured: {waited:?}"
    );
    w.inject(&[Fault::Status(502, None), Fault::Status(502, None), Fault::Status(502, None), Fault::Status(502, None)]);
    let err = woo.products_by_sku("PQ-001").await.expect_err("gives up after the bound");
    assert!(err.is_transient(), "{err}");
    w.inject(&[Fault::Delay(Duration::from_secs(3)), Fault::Delay(Duration::from_secs(3)), Fault::Delay(Duration::from_secs(3))]);
    let err = woo.products_by_sku("PQ-001").await.expect_err("timeouts");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn a_cycle_reserves_orders_and_makes_woocommerce_show_true_quantities() {
    let db = TestDb::migrated().await;
    let (w, base) = store().await;
    let a = w.add_product("HXB-10001", 0, true);
    let b = w.add_product("SHC-10002", 0, true);
    let woo = client(&base, SECRET);
    stock_up(&db.pool, &woo, 20).await;
    let p = poller(&db, client(&base, SECRET), None);

    let first = p.run_once().await.expect("first cycle");
    assert_eq!(first.skus_pushed, 2, "{first}");
    assert_eq!((w.stock(a), w.stock(b)), (Some(20), Some(20)));

    // Customers buy: WooCommerce decrements its own stock at once.
    let o1 = w.create_order(&[(a, 3), (b, 1)], "processing");
    w.create_order(&[(a, 2)], "on-hold");
    assert_eq!(w.stock(a), Some(15));
    let second = p.run_once().await.expect("second cycle");
    assert_eq!(second.orders_changed, 2, "{second}");
    assert_eq!(second.units_reserved, 6);
    assert_eq!((w.stock(a), w.stock(b)), (Some(15), Some(19)), "pushed quantities equal what is left after reservations");
    let pa = product_id(&db.pool, "HXB-10001").await;
    assert_eq!(reserve::available(&db.pool, pa).await.expect("available"), 15);

    // Nothing changed: no stock requests, only the order pages.
    let before = w.requests().len();
    let idle = p.run_once().await.expect("idle cycle");
    assert_eq!(idle.skus_pushed, 0, "{idle}");
    assert!(w.requests()[before..].iter().all(|r| r.starts_with("GET") && r.ends_with("/orders")), "{:?}", &w.requests()[before..]);

    // A cancellation releases the reservation; WooCommerce restores its stock and we agree.
    w.set_order_status(o1, "cancelled");
    let third = p.run_once().await.expect("after cancel");
    assert_eq!(third.units_released, 4, "{third}");
    assert_eq!((w.stock(a), w.stock(b)), (Some(18), Some(20)));
    let (runs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM event_log WHERE kind = 'sync.cycle'").fetch_one(&db.pool).await.expect("events");
    assert_eq!(runs, 4, "every cycle is in the event log");
}

#[tokio::test]
async fn orders_placed_between_any_two_steps_of_a_cycle_leave_no_sku_over_stated() {
    let db = TestDb::migrated().await;
    let (w, base) = store().await;
    let a = w.add_product("PRX-10010", 0, true);
    stock_up(&db.pool, &client(&base, SECRET), 40).await;
    let mut p = poller(&db, client(&base, SECRET), None);
    p.run_once().await.expect("baseline");
    assert_eq!(w.stock(a), Some(40));
    // An order before the cycle, then one more at every step the cycle passes.
    w.create_order(&[(a, 2)], "processing");
    let placed = Arc::new(std::sync::atomic::AtomicI64::new(2));
    let (w2, placed2) = (w.clone(), placed.clone());
    p.hook = Some(Arc::new(move |_step| {
        let (w, placed) = (w2.clone(), placed2.clone());
        Box::pin(async move {
            if placed.load(std::sync::atomic::Ordering::SeqCst) < 14 {
                w.create_order(&[(a, 1)], "processing");
                placed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    }));
    let s = p.run_once().await.expect("racing cycle");
    let sold = placed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sold >= 6, "orders were placed at every step: {sold}");
    assert_eq!(w.stock(a), Some(40 - sold), "after the cycle the store holds the truth ({s})");
    assert!(s.verify_rounds >= 1, "{s}");
    p.hook = None;
    let next = p.run_once().await.expect("next cycle");
    assert_eq!(w.stock(a), Some(40 - sold), "{next}");
    let pid = product_id(&db.pool, "PRX-10010").await;
    assert_eq!(reserve::available(&db.pool, pid).await.expect("available"), 40 - sold, "every order reserved");
}

#[tokio::test]
async fn an_outage_keeps_pushes_in_the_outbox_and_the_next_run_resumes() {
    let db = TestDb::migrated().await;
    let (w, base) = store().await;
    let a = w.add_product("TQW-10020", 0, true);
    let woo = client(&base, SECRET);
    stock_up(&db.pool, &woo, 12).await;
    let p = poller(&db, client(&base, SECRET), None);
    // The order pages work, then WooCommerce falls over for the batch call.
    w.inject(&[]);
    let pid = product_id(&db.pool, "TQW-10020").await;
    outbox::enqueue(
        &db.pool,
        "woocommerce",
        &StockUpdate { product_id: pid, sku: "TQW-10020".into(), external_id: Some(a), parent_id: None, quantity: 12 },
        None,
    )
    .await
    .expect("enqueue");
    w.inject(&[Fault::Status(503, None); 3]); // one per attempt of the retry policy
    let drained = outbox::drain(&db.pool, p.deps.woo.as_ref(), fast()).await.expect("drain");
    assert_eq!(drained.deferred, 1);
    let (status, attempts, code): (String, u32, Option<String>) =
        sqlx::query_as("SELECT status, attempts, last_error_code FROM channel_outbox WHERE subject = 'TQW-10020'")
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!((status.as_str(), attempts, code.as_deref()), ("pending", 1, Some("transient")), "kept, counted, visible");
    assert_eq!(w.stock(a), Some(0), "nothing reached WooCommerce");
    // The outage ends; the row is due again after its backoff.
    sqlx::query("UPDATE channel_outbox SET next_attempt_at = UTC_TIMESTAMP(6)").execute(&db.pool).await.expect("due");
    let resumed = outbox::drain(&db.pool, p.deps.woo.as_ref(), fast()).await.expect("drain");
    assert_eq!(resumed.confirmed, 1);
    assert_eq!(w.stock(a), Some(12));
    // A newer quantity replaces a pending one instead of queueing behind it.
    for q in [5, 4, 3] {
        outbox::enqueue(
            &db.pool,
            "woocommerce",
            &StockUpdate { product_id: pid, sku: "TQW-10020".into(), external_id: Some(a), parent_id: None, quantity: q },
            None,
        )
        .await
        .expect("enqueue");
    }
    let (pending,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM channel_outbox WHERE status = 'pending'").fetch_one(&db.pool).await.expect("count");
    assert_eq!(pending, 1, "bursts coalesce");
    outbox::drain(&db.pool, p.deps.woo.as_ref(), fast()).await.expect("drain");
    assert_eq!(w.stock(a), Some(3));
}

#[tokio::test]
async fn ebay_gets_changed_quantities_in_calls_of_at_most_25_with_token_refresh() {
    let db = TestDb::migrated().await;
    let (w, base) = store().await;
    let e = EbayStandin::new("ebay-client", "ebay-secret", "v^1.1#refresh");
    let ebay_addr = standin::serve(e.router(), "127.0.0.1:0").await.expect("serve");
    for i in 0..60 {
        w.add_product(&format!("EB-{i:02}"), 0, true);
        if i < 59 {
            e.list_sku(&format!("EB-{i:02}"), 0);
        }
    }
    stock_up(&db.pool, &client(&base, SECRET), 6).await;
    sqlx::query("UPDATE products SET ebay_listed = TRUE").execute(&db.pool).await.expect("list");
    let ebay = EbayClient::new(
        &format!("http://{ebay_addr}"),
        Secret::new("ebay-client"),
        Secret::new("ebay-secret"),
        Secret::new("v^1.1#refresh"),
        Duration::from_secs(2),
    )
    .expect("client")
    .with_retry(fast());
    let p = poller(&db, client(&base, SECRET), Some(ebay));
    let s = p.run_once().await.expect("cycle");
    assert_eq!(e.quantity("EB-00"), Some(6));
    let (calls, largest) = e.calls();
    assert_eq!((calls, largest), (3, 25), "60 SKUs go out as 25 + 25 + 10");
    assert_eq!(s.items_rejected, 1, "EB-59 is not listed on eBay: recorded, not retried: {s}");
    let (code,): (String,) = sqlx::query_as("SELECT last_error_code FROM channel_outbox WHERE channel = 'ebay' AND status = 'failed'")
        .fetch_one(&db.pool)
        .await
        .expect("failed row");
    assert_eq!(code, "25709");

    // The access token expires; the next push refreshes it once and goes through.
    e.expire_tokens();
    let pid = product_id(&db.pool, "EB-01").await;
    sqlx::query("UPDATE inventory_lots SET qty_remaining = 2 WHERE product_id = ?").bind(pid).execute(&db.pool).await.expect("count");
    p.run_once().await.expect("cycle");
    assert_eq!(e.quantity("EB-01"), Some(2), "a decrease is pushed at once");

    // An increase waits out eBay's revision budget instead of going out every cycle.
    sqlx::query("UPDATE inventory_lots SET qty_remaining = 5 WHERE product_id = ?").bind(pid).execute(&db.pool).await.expect("count");
    p.run_once().await.expect("cycle");
    assert_eq!(e.quantity("EB-01"), Some(2), "increase deferred");
}

#[tokio::test]
async fn scans_resolve_from_memory_survive_a_restart_and_misses_are_cached() {
    let db = TestDb::migrated().await;
    sqlx::query("INSERT INTO products (sku, name, upc, gtin) VALUES ('BRG-6203', 'Bearing', '036000291452', '4006381333931')")
        .execute(&db.pool)
        .await
        .expect("product");
    let pid = product_id(&db.pool, "BRG-6203").await;
    sqlx::query("INSERT INTO product_packs (gtin14, product_id, units) VALUES ('10036000291459', ?, 12)")
        .bind(pid)
        .execute(&db.pool)
        .await
        .expect("pack");
    let dir = tempfile::tempdir().expect("dir");
    let lookup = CodeLookup::open(dir.path());
    assert!(lookup.is_empty());
    assert_eq!(lookup.refresh(&db.pool).await.expect("refresh"), 4);
    for scan in ["036000291452", "0036000291452", "00036000291452", "brg-6203", "4006381333931"] {
        let hit = lookup.resolve(&db.pool, scan).await.expect("db").expect("valid").expect("found");
        assert_eq!((hit.product_id, hit.units), (pid, 1), "{scan}");
    }
    let pack = lookup.resolve(&db.pool, "10036000291459").await.expect("db").expect("valid").expect("found");
    assert_eq!(pack.units, 12, "a case pack scans as its units");
    assert!(lookup.resolve(&db.pool, "036000291453").await.expect("db").is_err(), "bad check digit is refused");

    // A restart is warm: the map comes back from disk before any database call.
    let reopened = CodeLookup::open(dir.path());
    assert_eq!(reopened.len(), 4);
    let code = quartermaster::inventory::gtin::normalize("036000291452").expect("code");
    assert_eq!(reopened.cached(&code).flatten().map(|h| h.product_id), Some(pid));

    // A miss asks the database once; the negative answer is cached.
    assert_eq!(reopened.resolve(&db.pool, "96385074").await.expect("db").expect("valid"), None);
    sqlx::query("INSERT INTO products (sku, name, gtin) VALUES ('NEW-1', 'New', '96385074')").execute(&db.pool).await.expect("product");
    assert_eq!(reopened.resolve(&db.pool, "96385074").await.expect("db").expect("valid"), None, "still the cached miss within its TTL");
    reopened.refresh(&db.pool).await.expect("refresh");
    assert!(reopened.resolve(&db.pool, "96385074").await.expect("db").expect("valid").is_some(), "found after the background refresh");
}

#[tokio::test]
async fn a_receipt_with_bad_rows_names_each_line_and_writes_nothing() {
    let db = TestDb::migrated().await;
    sqlx::query("INSERT INTO products (sku, name, upc) VALUES ('HXB-1', 'Bolt', '036000291452'), ('FWS-2', 'Washer', NULL)")
        .execute(&db.pool)
        .await
        .expect("products");
    let csv = "sku,qty,unit_cost,lot_ref,expires_on\nHXB-1,10,0.45,L1,\nFWS-2,ten,0.08,L2,\nNOPE-9,5,1.00,L3,\nFWS-2,5,abc,L4,\nHXB-1,1,0.45,L5,2027-13-40\n";
    let errors = receive::parse_csv(&db.pool, csv, "USD").await.expect("db").expect_err("invalid");
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6], "{errors:?}");
    assert!(errors[0].to_string().contains("qty `ten`"));
    assert!(errors[1].to_string().contains("no product with sku or gtin `NOPE-9`"));
    let (lots,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inventory_lots").fetch_one(&db.pool).await.expect("count");
    assert_eq!(lots, 0, "nothing was half-applied");

    let good = "gtin,qty,unit_cost,lot_ref,location\n0036000291452,10,0.45,L1,A-01-1\n";
    let rows = receive::parse_csv(&db.pool, good, "USD").await.expect("db").expect("valid");
    let inv = receive::Invoice {
        supplier: "Midwest".into(),
        reference: "INV-9".into(),
        date: chrono::Utc::now().date_naive(),
        currency: "USD".into(),
    };
    let r = receive::apply(&db.pool, &inv, &rows, None, &|_, _| {}).await.expect("apply");
    assert_eq!((r.lots, r.units, r.total_minor), (1, 10, 450));
    assert!(
        matches!(receive::apply(&db.pool, &inv, &rows, None, &|_, _| {}).await, Err(receive::ReceiveError::Duplicate(_))),
        "the same invoice twice is refused"
    );

    let lot: quartermaster::ids::LotId = sqlx::query_scalar("SELECT id FROM inventory_lots").fetch_one(&db.pool).await.expect("lot");
    sqlx::query("UPDATE inventory_lots SET qty_reserved = 8 WHERE id = ?").bind(lot).execute(&db.pool).await.expect("reserve");
    let refused = receive::adjust(&db.pool, lot, -3, "damage", Some("crushed box"), None).await.expect_err("below reserved");
    assert!(refused.to_string().contains("8 are reserved"), "{refused}");
    assert_eq!(receive::adjust(&db.pool, lot, -2, "damage", Some("crushed box"), None).await.expect("adjust"), 8);
    let (reason, delta): (String, i32) =
        sqlx::query_as("SELECT reason, delta FROM inventory_adjustments").fetch_one(&db.pool).await.expect("row");
    assert_eq!((reason.as_str(), delta), ("damage", -2));
}

#[tokio::test]
async fn a_cycle_that_finds_the_lock_held_skips_and_names_the_holder() {
    let db = TestDb::migrated().await;
    let (_w, base) = store().await;
    let p = poller(&db, client(&base, SECRET), None);
    let name = quartermaster::db::lock::LockName::new(&p.tenant, "poller").expect("name");
    let held = quartermaster::db::lock::acquire(&db.options(), &name, Duration::ZERO).await.expect("another replica holds it");
    let Ran::Skipped { holder, .. } = p.run().await.expect("cycle") else { panic!("ran while another held the lock") };
    assert!(holder.contains(&format!("connection {}", held.connection_id())), "{holder}");
    held.release().await.expect("release");
    assert!(matches!(p.run().await.expect("cycle"), Ran::Done(_)), "runs once the lock is free");
}

#[tokio::test]
async fn products_that_do_not_manage_stock_are_reported_or_fixed() {
    let db = TestDb::migrated().await;
    let (w, base) = store().await;
    let off = w.add_product("NLN-1", 0, false);
    let woo = client(&base, SECRET);
    let report = catalog::sync_from_woo(&db.pool, &woo, "USD", false).await.expect("sync");
    assert_eq!(report.not_managing_stock, vec!["NLN-1".to_owned()]);
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM event_log WHERE kind = 'catalog.manage_stock_off'").fetch_one(&db.pool).await.expect("events");
    assert_eq!(events, 1, "reported where the back office sees it");
    let fixed = catalog::sync_from_woo(&db.pool, &woo, "USD", true).await.expect("sync");
    assert_eq!(fixed.fixed_manage_stock, 1);
    assert_eq!(w.stock(off), Some(0), "WooCommerce now manages its stock");
}
