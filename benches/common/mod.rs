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
