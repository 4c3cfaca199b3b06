//! What the benchmarks share: a fresh migrated database of their own, and
//! the table each prints and writes under target/bench/. Each bench uses
//! what it needs.
#![allow(dead_code)]

use std::str::FromStr;

use sqlx::{ConnectOptions, MySqlPool, mysql::MySqlConnectOptions};

/// Drops and recreates database `name` on `server`, migrated; a pool of `connections`.
pub async fn fresh_db(server: &str, name: &str, connections: u32) -> (MySqlPool, MySqlConnectOptions) {
    let mut admin = MySqlConnectOptions::from_str(server).expect("url").connect().await.expect("MariaDB reachable (run scripts/bench)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}")))
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
