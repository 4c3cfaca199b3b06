//! Sync against a real WooCommerce 11.0.1 (from `../shared/woocommerce-real/`
//! or `$QM_WOO_REAL`), over OAuth on plain http: onboarding a store of 1,000
//! and 5,000 products (`QM_BENCH_SIZES=1000,5000`), then a cycle with nothing
//! changed (the floor: the order page alone) and a cycle with 1% changed.
//! Time and requests per step. Prints a table and writes target/bench/sync_real.md.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use quartermaster::{
    channels::{StockChannel, retry::RetryPolicy, woocommerce::WooClient},
    config::Secret,
    inventory::onboard,
    sync::{Deps, StockSync},
};
use serde_json::json;
use sqlx::{ConnectOptions, mysql::MySqlConnectOptions};

struct Store {
    tool: PathBuf,
    dir: PathBuf,
    url: String,
    ck: String,
    cs: String,
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = Command::new(self.tool.join("stop")).arg(&self.dir).output();
    }
}

fn start(server: &MySqlConnectOptions, tag: &str) -> Option<Store> {
    let tool = std::env::var_os("QM_WOO_REAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/woocommerce-real"));
    if !tool.join("start").is_file() {
        return None;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/woo-real/bench-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let out = Command::new(tool.join("start"))
        .arg(&dir)
        .env("WOO_MARIADB", format!("{}:{}", server.get_host(), server.get_port()))
        .env("WOO_MARIADB_USER", server.get_username())
        .output()
        .expect("start");
    assert!(out.status.success(), "start: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let get = |k: &str| {
        text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(|v| v.trim_matches('"').to_owned()).expect("start output")
    };
    Some(Store { url: get("WOO_URL"), ck: get("WOO_CK"), cs: get("WOO_CS"), tool, dir })
}

async fn bench_size(server_url: &str, n: usize) -> Vec<(String, String)> {
    let server = MySqlConnectOptions::from_str(server_url).expect("url");
    let Some(store) = start(&server, &n.to_string()) else {
        return vec![("real WooCommerce".into(), "skipped: no ../shared/woocommerce-real (set QM_WOO_REAL)".into())];
    };
    // The catalog, made through the admin API (not measured).
    let admin = reqwest::Client::new();
    let t = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let create: Vec<_> = chunk.iter().map(|i| json!({ "name": format!("Bench {i}"), "sku": format!("BR-{i:05}"), "regular_price": "5.00", "manage_stock": true, "stock_quantity": 20 })).collect();
        let r = admin
            .post(format!("{}/wp-json/wc/v3/products/batch", store.url))
            .basic_auth(&store.ck, Some(&store.cs))
            .header("X-Forwarded-Proto", "https")
            .json(&json!({ "create": create }))
            .timeout(Duration::from_secs(300))
            .send()
            .await
            .expect("batch create");
        assert!(r.status().is_success(), "batch create: {}", r.status());
    }
    let made = t.elapsed();
    let db = format!("qm_bench_real_{n}");
    let mut root = server.connect().await.expect("MariaDB");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}"))).execute(&mut root).await.expect("db");
    let opts = server.clone().database(&db);
    let pool = quartermaster::db::connect(opts.clone(), 8).await.expect("pool");
    quartermaster::db::migrate(&pool).await.expect("migrate");
    let woo =
        Arc::new(WooClient::new(&store.url, Secret::new(&store.ck), Secret::new(&store.cs), Duration::from_secs(120)).expect("client"));
    let reservable = vec!["processing".to_owned(), "on-hold".to_owned()];

    // Onboarding: read the catalog and open orders, create the opening lots.
    let r0 = woo.requests();
    let t = Instant::now();
    let (plan, products) = onboard::plan(&pool, &woo, &reservable, &Default::default(), Some(100)).await.expect("plan");
    let created = onboard::apply(&pool, &woo, &products, &plan, "USD").await.expect("apply");
    let onboard_time = t.elapsed();
    let onboard_requests = woo.requests() - r0;
    let sync = StockSync::new(Deps {
        pool: pool.clone(),
        woo: woo.clone(),
        ebay: None,
        retry: RetryPolicy::default(),
        books: None,
        metrics: None,
        settings: common::sync_settings(reservable),
    });
    let poller = common::HeldSync::new(&opts, &format!("bench-real-{n}"), sync).await;
    // The first cycle reconciles the whole catalog.
    let t = Instant::now();
    let first = poller.run_once().await.expect("first cycle");
    let first_time = t.elapsed();
    // Nothing changed: the floor.
    let t = Instant::now();
    let idle = poller.run_once().await.expect("idle cycle");
    let idle_time = t.elapsed();
    // 1% changed: that many lots counted down by one.
    let every = 100;
    sqlx::query("UPDATE inventory_lots SET qty_remaining = qty_remaining - 1 WHERE id % ? = 0")
        .bind(every)
        .execute(&pool)
        .await
        .expect("count");
    let t = Instant::now();
    let changed = poller.run_once().await.expect("1% cycle");
    let changed_time = t.elapsed();
    drop(pool);
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}"))).execute(&mut root).await;
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
    vec![
        (format!("{n} products: made in the store (setup, not measured)"), ms(made)),
        (
            format!("{n}: onboarding (catalog + orders read, {created} opening lots)"),
            format!("{} / {onboard_requests} requests", ms(onboard_time)),
        ),
        (
            format!("{n}: first cycle (full reconciliation, {} checked, pushed {})", first.skus_checked, first.skus_pushed),
            format!("{} / {} requests", ms(first_time), first.requests),
        ),
        (format!("{n}: cycle, nothing changed (pushed {})", idle.skus_pushed), format!("{} / {} requests", ms(idle_time), idle.requests)),
        (
            format!("{n}: cycle, 1% changed (pushed {}, verify rounds {})", changed.skus_pushed, changed.verify_rounds),
            format!("{} / {} requests", ms(changed_time), changed.requests),
        ),
    ]
}

/// p50 / p99 / max of `v` (milliseconds).
fn spread(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    format!("p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (n = {})", at(0.5), at(0.99), at(1.0), v.len())
}

async fn reserved(pool: &sqlx::MySqlPool, woo_id: u64) -> u64 {
    sqlx::query_scalar::<_, u64>(
        r#"SELECT CAST(COALESCE(SUM(r.quantity), 0) AS UNSIGNED) FROM stock_reservations r JOIN order_lines l ON l.id = r.order_line_id
           JOIN orders o ON o.id = l.order_id WHERE o.woo_id = ? AND r.status = 'open'"#,
    )
    .bind(woo_id)
    .fetch_one(pool)
    .await
    .expect("reserved")
}

/// Order placed → reserved in Quartermaster, and → the store's stock
/// confirmed (the true quantity read back), against a real WooCommerce:
/// with webhooks (the companion plugin installed, a running appliance), and
/// with the poller alone (cycles back to back: the tenant's cron interval,
/// 5 minutes by default, comes on top). `QM_BENCH_ORDERS` (200) and
/// `QM_BENCH_POLL_ORDERS` (50) orders, one at a time.
async fn bench_latency(server_url: &str, db: &str) -> Vec<(String, String)> {
    use quartermaster::jobs::{self, JobName, Runner};
    let server = MySqlConnectOptions::from_str(server_url).expect("url");
    let Some(store) = start(&server, "latency") else {
        return vec![("order → reserved, real WooCommerce".into(), "skipped: no ../shared/woocommerce-real (set QM_WOO_REAL)".into())];
    };
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compose/wordpress/quartermaster-companion.php"),
        store.dir.join("site/wp-content/mu-plugins/quartermaster-companion.php"),
    )
    .expect("companion plugin");
    let orders: usize = std::env::var("QM_BENCH_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let poll_orders: usize = std::env::var("QM_BENCH_POLL_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let admin = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        admin
            .request(method, format!("{}/wp-json/wc/v3/{path}", store.url))
            .basic_auth(&store.ck, Some(&store.cs))
            .header("X-Forwarded-Proto", "https")
            .json(&body)
            .send()
    };
    let product: serde_json::Value = call(
        reqwest::Method::POST,
        "products",
        json!({ "name": "Latency", "sku": "LAT-1", "regular_price": "5.00", "manage_stock": true, "stock_quantity": 0 }),
    )
    .await
    .expect("product")
    .json()
    .await
    .expect("json");
    let product = product["id"].as_u64().expect("id");
    let (pool, _opts) = common::fresh_db(server_url, db, 8).await;
    let dir = tempfile::tempdir().expect("dir");
    for (f, v) in [("ck", store.ck.as_str()), ("cs", store.cs.as_str()), ("wh", "bench-webhook-secret-0123456789"), ("unused", "x")] {
        std::fs::write(dir.path().join(f), v).expect("secret");
    }
    std::fs::write(
        dir.path().join("tenant.yaml"),
        format!(
            "tenant: {{ id: benchlat, name: Bench Co, timezone: America/Chicago, currency: USD }}\nbranding: {{ sender_name: Bench Co }}\ndomains: {{ storefront: shop.bench.example }}\n\
             server: {{ listen: 127.0.0.1:0, secure_cookies: false }}\ndata_dir: {data}\n\
             database: {{ host: 127.0.0.1, name: {db}, user: root, password: ref+file://unused, max_connections: 16 }}\nmodules: {{ ebay: false, accounting: false }}\n\
             woocommerce:\n  base_url: {url}\n  consumer_key: ref+file://ck\n  consumer_secret: ref+file://cs\n  webhooks: {{ secret: ref+file://wh, delivery_url: http://127.0.0.1:9/webhooks/woocommerce }}\n",
            data = dir.path().join("data").display(),
            url = store.url,
        ),
    )
    .expect("tenant file");
    let loaded = quartermaster::config::LoadedConfig::load(&dir.path().join("tenant.yaml")).expect("tenant file");
    let state = quartermaster::startup::prepare(loaded).await.expect("prepare");
    let app = quartermaster::startup::Application::build(state.clone(), "127.0.0.1:0").await.expect("bind");
    let delivery = format!("http://127.0.0.1:{}/webhooks/woocommerce", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    quartermaster::inventory::catalog::sync_from_woo(&pool, &state.woo, "USD", false).await.expect("catalog");
    common::receive(&pool, "LAT-1", 100000).await;
    let runner = Runner::of(&state);
    let poll = jobs::make(JobName::InventoryPoll, &state).expect("job");
    jobs::run_guarded(&runner, "inventory_poll", poll.as_ref()).await.expect("first cycle");
    let mut scheduler = jobs::start(state.clone(), Some(&[JobName::InventoryPoll])).await.expect("fleet");
    let cfg = quartermaster::config::Webhooks {
        secret: state.config.woocommerce.webhooks.clone().expect("webhooks").secret,
        delivery_url: delivery,
    };
    let secret = state.secrets.get("woocommerce.webhooks.secret").cloned().expect("secret");
    quartermaster::sync::webhook::install(&state.woo, &cfg, &secret).await.expect("install");

    let stock = |expected: i64| {
        let c = call(reqwest::Method::GET, &format!("products/{product}"), json!({}));
        async move { c.await.ok()?.json::<serde_json::Value>().await.ok()?["stock_quantity"].as_i64().map(|s| s == expected) }
    };
    let mut sold = 0i64;
    let measure = async |n: usize, sold: &mut i64| -> (Vec<f64>, Vec<f64>) {
        let (mut to_reserved, mut to_confirmed) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let t = Instant::now();
            let o: serde_json::Value = call(
                reqwest::Method::POST,
                "orders",
                json!({ "status": "processing", "line_items": [{ "product_id": product, "quantity": 1 }] }),
            )
            .await
            .expect("order")
            .json()
            .await
            .expect("json");
            let id = o["id"].as_u64().expect("order id");
            *sold += 1;
            while reserved(&pool, id).await < 1 {
                assert!(t.elapsed() < Duration::from_secs(900), "order {id} never reserved");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            to_reserved.push(t.elapsed().as_secs_f64() * 1e3);
            while stock(100_000 - *sold).await != Some(true) {
                assert!(t.elapsed() < Duration::from_secs(900), "the store never showed {}", 100_000 - *sold);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            to_confirmed.push(t.elapsed().as_secs_f64() * 1e3);
        }
        (to_reserved, to_confirmed)
    };
    let (hook_reserved, hook_confirmed) = measure(orders, &mut sold).await;

    // The poller alone: webhooks paused, cycles back to back.
    for h in state.woo.webhooks().await.expect("webhooks") {
        state.woo.save_webhook(Some(h.id), &json!({ "status": "paused" })).await.expect("pause");
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looping = {
        let (stop, runner, poll) = (stop.clone(), runner.clone(), poll.clone());
        tokio::spawn(async move {
            let mut cycles = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = jobs::run_guarded_within(&runner, "inventory_poll", poll.as_ref(), Duration::from_secs(30)).await;
                cycles += 1;
            }
            cycles
        })
    };
    let t = Instant::now();
    let (poll_reserved, poll_confirmed) = measure(poll_orders, &mut sold).await;
    let poll_wall = t.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let cycles = looping.await.unwrap_or(0);
    let _ = scheduler.shutdown().await;
    drop(pool);
    common::drop_db(server_url, db).await;
    vec![
        (format!("webhooks (companion plugin): order placed → reserved, {orders} orders"), spread(hook_reserved)),
        ("webhooks: order placed → the store's stock confirmed (target p50 < 2 s, p99 < 5 s)".into(), spread(hook_confirmed)),
        (
            format!("poller alone, cycles back to back ({cycles} cycles in {:.0} s): order → reserved", poll_wall.as_secs_f64()),
            spread(poll_reserved),
        ),
        ("poller alone: order → the store's stock confirmed (plus the cron interval: 5 min by default)".into(), spread(poll_confirmed)),
    ]
}

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    // The appliance in the latency bench reads its database from QM_DATABASE_URL.
    common::with_database_url(&server, "qm_bench_latency");
    let sizes: Vec<usize> =
        std::env::var("QM_BENCH_SIZES").unwrap_or_else(|_| "1000,5000".into()).split(',').filter_map(|v| v.trim().parse().ok()).collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();
    if std::env::var("QM_BENCH_LATENCY").as_deref() != Ok("0") {
        rows.extend(rt.block_on(bench_latency(&server, "qm_bench_latency")));
    }
    for n in sizes {
        rows.extend(rt.block_on(bench_size(&server, n)));
    }
    let mut table = String::from("| sync against a real WooCommerce 11.0.1 | result |\n|---|---:|\n");
    for (k, v) in &rows {
        table.push_str(&format!("| {k} | {v} |\n"));
    }
    common::publish("sync_real", &table);
}
