//! Foundation benchmarks: tenant-file checking, advisory-lock round trips on
//! the real MariaDB, and password verification. Prints a table and writes
//! it to target/bench/foundation.md. Run with `scripts/bench`.

mod common;

use std::{
    str::FromStr,
    time::{Duration, Instant},
};

use quartermaster::{config::check, db::lock};
use sqlx::{ConnectOptions, Connection, mysql::MySqlConnectOptions};

struct Row {
    what: String,
    n: usize,
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

fn summarise(what: &str, mut samples: Vec<Duration>) -> Row {
    samples.sort();
    let n = samples.len();
    let total: Duration = samples.iter().sum();
    Row { what: what.to_owned(), n, p50: samples[n / 2], p99: samples[(n * 99 / 100).min(n - 1)], per_sec: n as f64 / total.as_secs_f64() }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();

    let example = include_str!("../tenant-configs/example.yaml");
    let samples = (0..300)
        .map(|_| {
            let t = Instant::now();
            check::check_str("example.yaml", example).expect("valid");
            t.elapsed()
        })
        .collect();
    rows.push(summarise("qm config check example.yaml (parse + schema + typed)", samples));

    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let lock_rows = rt.block_on(async {
        let mut admin =
            MySqlConnectOptions::from_str(&server).expect("url").connect().await.expect("MariaDB reachable (run scripts/bench)");
        sqlx::raw_sql("CREATE DATABASE IF NOT EXISTS qm_bench").execute(&mut admin).await.expect("db");
        let opts = MySqlConnectOptions::from_str(&server).expect("url").database("qm_bench");
        let name = lock::LockName::new("bench", "poller").expect("name");
        let mut acquire_release = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            let g = lock::acquire(&opts, &name, Duration::ZERO).await.expect("lock");
            g.release().await.expect("release");
            acquire_release.push(t.elapsed());
        }
        let mut check_held = Vec::new();
        let mut g = lock::acquire(&opts, &name, Duration::ZERO).await.expect("lock");
        for _ in 0..500 {
            let t = Instant::now();
            g.ensure_held().await.expect("held");
            check_held.push(t.elapsed());
        }
        g.release().await.expect("release");
        sqlx::raw_sql("DROP DATABASE qm_bench").execute(&mut admin).await.expect("drop");
        let _ = admin.close().await;
        vec![
            summarise("advisory lock: connect + GET_LOCK + RELEASE_LOCK + close", acquire_release),
            summarise("advisory lock: ensure_held (IS_USED_LOCK = CONNECTION_ID)", check_held),
        ]
    });
    rows.extend(lock_rows);

    let mut table = String::from("| benchmark | n | p50 | p99 | per second |\n|---|---:|---:|---:|---:|\n");
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {:.3} ms | {:.3} ms | {:.0} |\n",
            r.what,
            r.n,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.per_sec
        ));
    }
    common::publish("foundation", &table);
}
