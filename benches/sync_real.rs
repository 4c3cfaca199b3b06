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

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let sizes: Vec<usize> =
        std::env::var("QM_BENCH_SIZES").unwrap_or_else(|_| "1000,5000".into()).split(',').filter_map(|v| v.trim().parse().ok()).collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();
    for n in sizes {
        rows.extend(rt.block_on(bench_size(&server, n)));
    }
    let mut table = String::from("| sync against a real WooCommerce 11.0.1 | result |\n|---|---:|\n");
    for (k, v) in &rows {
        table.push_str(&format!("| {k} | {v} |\n"));
    }
    common::publish("sync_real", &table);
}
