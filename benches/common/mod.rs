//! What the benchmarks share: a fresh migrated database of their own, and
//! the table each prints and writes under target/bench/. Each bench uses
//! what it needs.
#![allow(dead_code)]

pub mod procs;

use std::str::FromStr;

use sqlx::{ConnectOptions, MySqlPool, mysql::MySqlConnectOptions};

/// Drops and recreates database `name` on `server`, migrated; a pool of `connections`.
pub async fn fresh_db(server: &str, name: &str, connections: u32) -> (MySqlPool, MySqlConnectOptions) {
    let mut admin = MySqlConnectOptions::from_str(server).expect("url").connect().await.expect("MariaDB reachable (run scripts/bench)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )))
    .execute(&mut admin)
    .await
    .expect("db");
    let opts = MySqlConnectOptions::from_str(server).expect("url").database(name);
    let pool = quartermaster::db::connect(opts.clone(), connections).await.expect("pool");
    quartermaster::db::migrate(&pool).await.expect("migrate");
    (pool, opts)
}

/// Drops database `name` (best effort: the figures are printed already).
pub async fn drop_db(server: &str, name: &str) {
    if let Ok(mut admin) = MySqlConnectOptions::from_str(server).expect("url").connect().await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await;
    }
}

/// Prints a bench's table and writes it to target/bench/NAME.md.
pub fn publish(name: &str, table: &str) {
    println!("\n{table}");
    let path = format!("target/bench/{name}.md");
    let _ = std::fs::create_dir_all("target/bench");
    if std::fs::write(&path, table).is_ok() {
        println!("written to {path}");
    }
}

/// Makes `QM_DATABASE_URL` name the bench's database `db` on `server`, so a
/// tenant file's `database` section is overridden as in development. The 2024
/// edition's `set_var` is unsafe (the crate forbids it), so when the variable
/// is not set yet the bench runs itself again with it and exits with its code.
pub fn with_database_url(server: &str, db: &str) {
    let url = format!("{}/{db}", server.trim_end_matches('/'));
    if std::env::var("QM_DATABASE_URL").as_deref() != Ok(url.as_str()) {
        let status = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(std::env::args().skip(1))
            .env("QM_DATABASE_URL", &url)
            .status()
            .expect("re-run");
        std::process::exit(status.code().unwrap_or(1));
    }
}

/// A folder holding a minimal tenant file for tenant `benchco` (its database
/// comes from `QM_DATABASE_URL`) with `extra` YAML appended, and the
/// `secret` file it refers to; keep it while the appliance runs.
pub fn tenant_dir(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("secret"), "unused").expect("secret");
    std::fs::write(
        dir.path().join("tenant.yaml"),
        format!(
            "tenant: {{ id: benchco, name: Bench Co, timezone: America/Chicago, currency: USD }}\nbranding: {{ sender_name: Bench Co }}\ndomains: {{ storefront: shop.bench.example }}\n\
             server: {{ listen: 127.0.0.1:0, secure_cookies: false }}\ndata_dir: {data}\n\
             database: {{ host: 127.0.0.1, name: bench, user: root, password: ref+file://secret, max_connections: 16 }}\nmodules: {{ ebay: false, accounting: false }}\n\
             woocommerce: {{ base_url: http://127.0.0.1:9, consumer_key: ref+file://secret, consumer_secret: ref+file://secret }}\n\
             stations: [{{ id: bench-1, name: Bench 1 }}]\n{extra}",
            data = dir.path().join("data").display(),
        ),
    )
    .expect("tenant file");
    dir
}

/// A running appliance's state for the [`tenant_dir`] tenant with `extra`.
pub async fn app_state(extra: &str) -> (quartermaster::app::AppState, tempfile::TempDir) {
    let dir = tenant_dir(extra);
    let loaded = quartermaster::config::LoadedConfig::load(&dir.path().join("tenant.yaml")).expect("tenant file");
    (quartermaster::startup::prepare(loaded).await.expect("prepare"), dir)
}

/// `n` open orders already mirrored and reserved, the state a page or a
/// cycle starts from: WooCommerce ids from `first_woo_id`, 3 one-unit lines
/// each on products with ids `first_product..first_product + products`
/// (their first lot), `qty_reserved` kept in step, queued. In bulk, from
/// MariaDB's sequence tables.
pub async fn open_orders(pool: &MySqlPool, first_woo_id: u64, n: u64, first_product: u64, products: u64) {
    if n == 0 {
        return;
    }
    let (a, b) = (first_woo_id, first_woo_id + n - 1);
    let span = products.max(1);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO orders (woo_id, number, status, currency, customer_name, total_minor, woo_created_at, woo_modified_at, ship_name, ship_address1, ship_city, ship_postcode, ship_country)
           SELECT seq, CONCAT('O', seq), 'processing', 'USD', CONCAT('Buyer ', seq), 3000, UTC_TIMESTAMP(6) - INTERVAL 1 DAY - INTERVAL seq SECOND,
                  UTC_TIMESTAMP(6) - INTERVAL 1 DAY, 'Buyer', '1 Main St', 'Chicago', '60607', 'US' FROM seq_{a}_to_{b};
         INSERT INTO order_lines (order_id, woo_line_id, product_id, sku, name, quantity, unit_price_minor, total_minor)
           SELECT o.id, k.seq, p.id, p.sku, p.name, 1, 1000, 1000 FROM orders o JOIN seq_1_to_3 k
           JOIN products p ON p.id = {first_product} + (o.woo_id * 3 + k.seq) % {span}
           WHERE o.woo_id BETWEEN {a} AND {b};
         INSERT INTO stock_reservations (order_line_id, lot_id, quantity, status)
           SELECT l.id, (SELECT MIN(lot.id) FROM inventory_lots lot WHERE lot.product_id = l.product_id), 1, 'open'
           FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.woo_id BETWEEN {a} AND {b};
         UPDATE inventory_lots lot JOIN (SELECT lot_id, SUM(quantity) AS q FROM stock_reservations WHERE status = 'open' GROUP BY lot_id) r
           ON r.lot_id = lot.id SET lot.qty_reserved = r.q;
         INSERT INTO pick_queue (order_id, status, ordered_at) SELECT id, 'queued', woo_created_at FROM orders WHERE woo_id BETWEEN {a} AND {b}"
    )))
    .execute(pool)
    .await
    .expect("open orders");
}

/// The machine's load averages, for the table.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Prints `rows` as a two-column table titled `title` and writes it to target/bench/NAME.md.
pub fn table(name: &str, title: &str, rows: &[(String, String)]) {
    let mut t = format!("| {title} | result |\n|---|---:|\n");
    for (k, v) in rows {
        t.push_str(&format!("| {k} | {v} |\n"));
    }
    publish(name, &t);
}

/// A tenant's stock sync holding its advisory lock for the whole bench, as
/// the fleet's `run_guarded` holds it for a run.
pub struct HeldSync {
    pub sync: quartermaster::sync::StockSync,
    lock: quartermaster::db::lock::LockGuard,
}

impl HeldSync {
    /// Takes `qm:<tenant>:poller` and builds the sync from `deps`.
    pub async fn new(opts: &MySqlConnectOptions, tenant: &str, sync: quartermaster::sync::StockSync) -> Self {
        use quartermaster::db::lock;
        let name = lock::LockName::new(tenant, quartermaster::sync::LOCK).expect("lock name");
        let lock = lock::acquire(opts, &name, std::time::Duration::from_secs(30)).await.expect("the poller lock");
        Self { sync, lock }
    }

    /// One cycle under the held lock.
    pub async fn run_once(&self) -> Result<quartermaster::sync::Summary, quartermaster::sync::CycleFailed> {
        let check = quartermaster::db::lock::LockCheck { name: self.lock.name().to_string(), connection_id: self.lock.connection_id() };
        self.sync.run_once(&check).await
    }
}

/// What a bench's cycle is asked to do.
pub fn sync_settings(reservable: Vec<String>) -> quartermaster::sync::Settings {
    quartermaster::sync::Settings {
        reservable,
        pick_priority: Vec::new(),
        overlap: chrono::TimeDelta::seconds(120),
        push_unstocked: false,
        reconcile_every: chrono::TimeDelta::minutes(60),
        open_orders_every: chrono::TimeDelta::minutes(15),
        open_orders_every_cycle_up_to: quartermaster::sync::reconcile::EVERY_CYCLE_UP_TO,
    }
}

/// Receives `qty` units of `sku` as one supplier invoice (lot `LOT-1` at 1.00), as the back office does.
pub async fn receive(pool: &MySqlPool, sku: &str, qty: u32) {
    use quartermaster::inventory::receive;
    let rows = receive::parse_csv(pool, &format!("sku,qty,unit_cost,lot_ref\n{sku},{qty},1.00,LOT-1"), "USD")
        .await
        .expect("db")
        .expect("valid csv");
    let invoice = receive::Invoice {
        supplier: "Bench Supply".into(),
        reference: "INV-1".into(),
        date: chrono::Utc::now().date_naive(),
        currency: "USD".into(),
    };
    receive::apply(pool, &invoice, &rows, None, &|_, _| {}).await.expect("receive");
}
