//! Inventory sync benchmarks (run with `scripts/bench`):
//! 1. a 50,000-SKU catalog with 1% changed, against the WooCommerce
//!    stand-in answering in 20 ms: requests, wall time, CPU time (qm's own:
//!    the stand-in serves from a thread of its own, whose CPU is taken
//!    out), peak RSS; then how the cycle's CPU grows with the catalog (1k,
//!    10k, 50k, 200k SKUs) and with open orders (100, 1,000, 10,000);
//! 2. FIFO reservation throughput with 1 and 8 concurrent runs on MariaDB;
//! 3. GTIN lookups on a warm cache of 50,000 codes.
//!
//! Prints a table and writes target/bench/sync.md.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use quartermaster::{
    channels::{retry::RetryPolicy, woocommerce::WooClient},
    config::Secret,
    inventory::{gtin, lookup::CodeLookup, reserve},
    standin::{self, woocommerce::WooStandin},
    sync::{Deps, StockSync},
};
use sqlx::{MySql, MySqlPool, QueryBuilder};

const SKUS: usize = 50_000;

/// Serves `router` from an OS thread of its own (a current-thread runtime),
/// so its CPU can be told apart from qm's; returns the address and the
/// thread's CPU clock.
fn standin_thread(router: axum::Router) -> (std::net::SocketAddr, Clocks) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<i32>().ok()))
            .expect("this thread's id");
        // Linux's CPU clock of one thread: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED).
        let clock = nix::time::ClockId::from_raw((!tid << 3) | 6);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("stand-in runtime");
        rt.block_on(async move {
            let addr = standin::serve(router, "127.0.0.1:0").await.expect("serve");
            tx.send((addr, Clocks { standin: clock })).expect("send");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("stand-in started")
}

/// CPU clocks read to the nanosecond (/proc's ticks are 10 ms, too coarse for a phase).
#[derive(Clone, Copy)]
struct Clocks {
    standin: nix::time::ClockId,
}

impl Clocks {
    fn read(id: nix::time::ClockId) -> f64 {
        nix::time::clock_gettime(id).map_or(f64::NAN, |t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9)
    }
    /// This process's CPU seconds, the stand-in's thread included.
    fn process(self) -> f64 {
        Self::read(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
    }
    /// This process's CPU seconds less the stand-in's: qm's own.
    fn qm(self) -> f64 {
        self.process() - Self::read(self.standin)
    }
}

/// Peak RSS of this process in MiB, from /proc.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    hwm / 1024.0
}

/// `skus` products with WooCommerce ids, one lot each, all confirmed on the channel.
async fn big_catalog(pool: &MySqlPool, store: &WooStandin, skus: usize) {
    for chunk in (0..skus).collect::<Vec<_>>().chunks(2000) {
        let mut q = QueryBuilder::<MySql>::new("INSERT INTO products (id, woo_id, sku, name, upc) ");
        q.push_values(chunk, |mut b, i| {
            let body = format!("7{:010}", i);
            let upc = format!("{body}{}", gtin::check_digit(&body).unwrap_or(0));
            b.push_bind(*i as u64 + 1)
                .push_bind(100_000 + *i as u64)
                .push_bind(format!("SKU-{i:06}"))
                .push_bind(format!("Item {i}"))
                .push_bind(upc);
        });
        q.build().execute(pool).await.expect("products");
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor) ",
        );
        q.push_values(chunk, |mut b, i| {
            b.push_bind(*i as u64 + 1)
                .push_bind("L1")
                .push_bind(chrono::Utc::now().naive_utc())
                .push_bind(50u32)
                .push_bind(50u32)
                .push_bind(100i64);
        });
        q.build().execute(pool).await.expect("lots");
        let mut q = QueryBuilder::<MySql>::new("INSERT INTO channel_stock (channel, product_id, confirmed_qty, confirmed_at) ");
        q.push_values(chunk, |mut b, i| {
            b.push_bind("woocommerce").push_bind(*i as u64 + 1).push_bind(50i32).push_bind(chrono::Utc::now().naive_utc());
        });
        q.build().execute(pool).await.expect("confirmed");
    }
    for i in 0..skus {
        store.put_product(100_000 + i as u64, &format!("SKU-{i:06}"), "Item", 50, "10.00");
    }
}

/// (step, qm's CPU seconds so far, when) at each step of a cycle.
type Phases = Arc<std::sync::Mutex<Vec<(String, f64, Instant)>>>;

/// A poller hook marking each step with qm's CPU (the process less the stand-in's thread).
fn phase_hook(phases: Phases, clocks: Clocks) -> Arc<dyn quartermaster::sync::Observer> {
    Arc::new(move |step| {
        let cpu = clocks.qm();
        phases.lock().expect("phases").push((format!("{step:?}"), cpu, Instant::now()));
        Box::pin(std::future::ready(())) as futures::future::BoxFuture<'static, ()>
    })
}

/// One cycle's figures.
struct Cycle {
    rows: Vec<(String, String)>,
    pushed: u64,
    qm_cpu_ms: f64,
    wall_ms: f64,
    rss: f64,
}

async fn bench_cycle(server: &str, skus: usize, orders: u64) -> Cycle {
    let (pool, opts) = common::fresh_db(server, "qm_bench_sync", 12).await;
    let store = WooStandin::new("ck_bench", "cs_bench");
    big_catalog(&pool, &store, skus).await;
    // Past the stand-in's WooCommerce order ids.
    common::open_orders(&pool, 5_000_001, orders, 1, skus as u64).await;
    // A steady state: the store and the confirmed stock already show the open orders' reservations.
    let held = sqlx::query_as::<_, (u64, i64)>(
        "SELECT product_id, CAST(SUM(qty_remaining - qty_reserved) AS SIGNED) FROM inventory_lots WHERE qty_reserved > 0 GROUP BY product_id",
    )
    .fetch_all(&pool)
    .await
    .expect("reserved stock");
    sqlx::query(
        "UPDATE channel_stock cs JOIN (SELECT product_id, SUM(qty_remaining - qty_reserved) AS q FROM inventory_lots GROUP BY product_id) a
           ON a.product_id = cs.product_id SET cs.confirmed_qty = a.q WHERE cs.channel = 'woocommerce'",
    )
    .execute(&pool)
    .await
    .expect("confirmed stock");
    for (product, available) in held {
        let i = product - 1;
        store.put_product(100_000 + i, &format!("SKU-{i:06}"), "Item", available, "10.00");
    }
    let (addr, clocks) = standin_thread(store.router());
    store.set_latency(Duration::from_millis(20));
    // 1% changed: 500 SKUs counted down by one, plus 20 new orders (40 lines).
    sqlx::query("UPDATE inventory_lots SET qty_remaining = qty_remaining - 1 WHERE product_id % 100 = 0")
        .execute(&pool)
        .await
        .expect("count");
    for o in 0..20u64 {
        store.create_order(&[(100_000 + o * 7 + 1, 1), (100_000 + o * 7 + 3, 2)], "processing");
    }
    let phases: Phases = Arc::new(std::sync::Mutex::new(Vec::new()));
    let woo = WooClient::new(&format!("http://{addr}"), Secret::new("ck_bench"), Secret::new("cs_bench"), Duration::from_secs(30))
        .expect("client");
    let sync = StockSync::new(Deps {
        pool: pool.clone(),
        woo: Arc::new(woo),
        ebay: None,
        retry: RetryPolicy::default(),
        books: None,
        metrics: None,
        // The open orders here live in Quartermaster only (the stand-in does not
        // hold them): their reading again by id is measured apart (`bench_open_orders`).
        settings: quartermaster::sync::Settings { open_orders_every_cycle_up_to: 0, ..common::sync_settings(vec!["processing".into()]) },
    });
    let sync = sync.observed_by(phase_hook(phases.clone(), clocks));
    let poller = common::HeldSync::new(&opts, "bench", sync).await;
    // An ordinary cycle: the hourly full reconciliation and the open orders' reading are not due.
    for name in [quartermaster::sync::state::RECONCILED, quartermaster::sync::state::OPEN_CHECKED] {
        quartermaster::sync::state::set(&pool, name, &chrono::Utc::now().to_rfc3339()).await.expect("state");
    }
    phases.lock().expect("phases").clear();
    let (cpu0, qm0) = (clocks.process(), clocks.qm());
    let t = Instant::now();
    phases.lock().expect("phases").push(("start".into(), qm0, Instant::now()));
    let s = poller.run_once().await.expect("cycle");
    let wall = t.elapsed();
    let (cpu1, qm1, peak) = (clocks.process(), clocks.qm(), peak_mib());
    let qm_cpu = qm1 - qm0;
    let phase_rows = {
        let mut marks = phases.lock().expect("phases").clone();
        marks.push(("end (events, lock released)".into(), qm1, Instant::now()));
        marks
            .windows(2)
            .map(|w| {
                (
                    format!("  phase: {} → {}", w[0].0, w[1].0),
                    format!("{:.0} ms CPU, {:.0} ms wall", (w[1].1 - w[0].1) * 1e3, (w[1].2 - w[0].2).as_secs_f64() * 1e3),
                )
            })
            .collect::<Vec<_>>()
    };
    let changed = s.skus_pushed as u64;
    // batches + the order page + one stock read of the 40 touched SKUs + the verify read
    let floor = changed.div_ceil(100) + 3;
    // The full reconciliation pass (hourly by default): every product's stock read back.
    sqlx::query("DELETE FROM sync_state WHERE name = 'woo.stock.reconciled_at'").execute(&pool).await.expect("state");
    let (cpu2, qm2) = (clocks.process(), clocks.qm());
    let t = Instant::now();
    let full = poller.run_once().await.expect("reconciling cycle");
    let full_wall = t.elapsed();
    let (cpu3, qm3) = (clocks.process(), clocks.qm());
    let full_qm = qm3 - qm2;
    common::drop_db(server, "qm_bench_sync").await;
    let mut rows: Vec<(String, String)> = vec![
        (
            "full reconciliation: SKUs checked / requests / wall / CPU qm (whole process)".into(),
            format!(
                "{} / {} / {:.0} ms / {:.0} ms ({:.0} ms)",
                full.skus_checked,
                full.requests,
                full_wall.as_secs_f64() * 1e3,
                full_qm * 1e3,
                (cpu3 - cpu2) * 1e3
            ),
        ),
        ("catalog / open orders / changed SKUs".into(), format!("{skus} / {orders} / {changed} ({} queued)", s.skus_queued)),
        ("requests made (floor)".into(), format!("{} ({floor})", s.requests)),
        ("cycle wall time, 20 ms per request".into(), format!("{:.0} ms", wall.as_secs_f64() * 1e3)),
        ("cycle CPU time, qm's own (target < 250 ms)".into(), format!("{:.0} ms", qm_cpu * 1e3)),
        ("cycle CPU time, whole process (stand-in included)".into(), format!("{:.0} ms", (cpu1 - cpu0) * 1e3)),
    ];
    rows.extend(phase_rows);
    rows.push(("peak RSS (whole process, the stand-in holds the catalog)".into(), format!("{peak:.0} MiB")));
    Cycle { rows, pushed: changed, qm_cpu_ms: qm_cpu * 1e3, wall_ms: wall.as_secs_f64() * 1e3, rss: peak }
}

async fn bench_reservations(server: &str, runs: usize) -> (String, String) {
    let name = format!("qm_bench_reserve_{runs}");
    let (pool, opts) = common::fresh_db(server, &name, 12).await;
    let products = 200u64;
    let orders = 800u64;
    let mut q = QueryBuilder::<MySql>::new("INSERT INTO products (id, sku, name) ");
    q.push_values(1..=products, |mut b, i| {
        b.push_bind(i).push_bind(format!("P{i}")).push_bind("p");
    });
    q.build().execute(&pool).await.expect("products");
    let mut q = QueryBuilder::<MySql>::new(
        "INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor) ",
    );
    q.push_values((1..=products).flat_map(|p| (0..3).map(move |l| (p, l))), |mut b, (p, l)| {
        b.push_bind(p)
            .push_bind(format!("L{l}"))
            .push_bind(chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(l))
            .push_bind(40u32)
            .push_bind(40u32)
            .push_bind(100i64);
    });
    q.build().execute(&pool).await.expect("lots");
    let mut lines = 0u64;
    for o in 1..=orders {
        sqlx::query("INSERT INTO orders (id, woo_id, number, status, currency, total_minor, woo_created_at, woo_modified_at) VALUES (?, ?, ?, 'processing', 'USD', 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
            .bind(o)
            .bind(o)
            .bind(o.to_string())
            .execute(&pool)
            .await
            .expect("order");
        for l in 0..3u64 {
            sqlx::query("INSERT INTO order_lines (order_id, woo_line_id, product_id, name, quantity, unit_price_minor, total_minor) VALUES (?, ?, ?, 'x', 2, 1, 2)")
                .bind(o)
                .bind(o * 10 + l)
                .bind((o * 7 + l * 13) % products + 1)
                .execute(&pool)
                .await
                .expect("line");
            lines += 1;
        }
    }
    let statuses = Arc::new(vec!["processing".to_owned()]);
    let t = Instant::now();
    let mut handles = Vec::new();
    for r in 0..runs as u64 {
        let (pool, statuses) = (pool.clone(), statuses.clone());
        handles.push(tokio::spawn(async move {
            // Runs split the orders between them and overlap on the lots.
            for o in (1..=orders).filter(|o| o % runs as u64 == r) {
                reserve::reserve_order(&pool, quartermaster::ids::OrderId(o), &statuses, &quartermaster::station::queue::STATION_QUEUE)
                    .await
                    .expect("reserve");
            }
        }));
    }
    for h in handles {
        h.await.expect("join");
    }
    let secs = t.elapsed().as_secs_f64();
    let _ = opts;
    common::drop_db(server, &name).await;
    (format!("reservation: {lines} order lines, {runs} concurrent run(s)"), format!("{:.0} lines/s ({:.2} s)", lines as f64 / secs, secs))
}

fn bench_lookup() -> (String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let mut map = std::collections::HashMap::new();
    let mut codes = Vec::with_capacity(SKUS);
    for i in 0..SKUS {
        let body = format!("7{:010}", i);
        let upc = format!("{body}{}", gtin::check_digit(&body).unwrap_or(0));
        map.insert(gtin::Code::UpcA(upc.clone()).key(), serde_json::json!({ "product_id": i as u64 + 1, "units": 1 }));
        codes.push(gtin::normalize(&upc).expect("code"));
    }
    std::fs::write(dir.path().join("code-lookup.json"), serde_json::to_vec(&map).expect("json")).expect("write");
    let lookup = CodeLookup::open(dir.path());
    assert_eq!(lookup.len(), SKUS);
    let rounds = 20;
    let t = Instant::now();
    let mut found = 0u64;
    for _ in 0..rounds {
        for c in &codes {
            if let Some(Some(h)) = lookup.cached(c) {
                found += h.product_id & 1;
            }
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds * SKUS) as f64;
    // Normalising a scan (what a scanner sends → key) too:
    let raw: Vec<String> = codes
        .iter()
        .map(|c| match c {
            gtin::Code::UpcA(u) => format!("00{u}"),
            _ => String::new(),
        })
        .collect();
    let t = Instant::now();
    for r in &raw {
        let c = gtin::normalize(r).expect("valid");
        std::hint::black_box(lookup.cached(&c));
    }
    let ns_scan = t.elapsed().as_nanos() as f64 / SKUS as f64;
    std::hint::black_box(found);
    (format!("GTIN lookup, warm cache of {SKUS} codes"), format!("{ns:.0} ns/lookup; {ns_scan:.0} ns with GTIN-14 normalisation"))
}

/// The open orders read again by id, against the stand-in holding them (20 ms
/// a request): `n` open orders mirrored, the change feed past them (as a
/// REST line edit leaves it), then a cycle when the reading is due and one
/// right after. Rows: (open orders, requests and wall when due, requests on
/// the next cycle).
async fn bench_open_orders(server: &str, n: u64) -> (String, String) {
    let (pool, opts) = common::fresh_db(server, "qm_bench_open", 12).await;
    let store = WooStandin::new("ck_bench", "cs_bench");
    let item = store.add_product("OPEN-1", 1_000_000, true);
    for _ in 0..n {
        store.create_order(&[(item, 1)], "processing");
    }
    let (addr, _clocks) = standin_thread(store.router());
    let woo = Arc::new(
        WooClient::new(&format!("http://{addr}"), Secret::new("ck_bench"), Secret::new("cs_bench"), Duration::from_secs(30))
            .expect("client"),
    );
    quartermaster::inventory::catalog::sync_from_woo(&pool, &woo, "USD", false).await.expect("catalog");
    common::receive(&pool, "OPEN-1", 2000000).await;
    let sync = StockSync::new(Deps {
        pool: pool.clone(),
        woo: woo.clone(),
        ebay: None,
        retry: RetryPolicy::default(),
        books: None,
        metrics: None,
        settings: quartermaster::sync::Settings { overlap: chrono::TimeDelta::zero(), ..common::sync_settings(vec!["processing".into()]) },
    });
    let poller = common::HeldSync::new(&opts, "bench-open", sync).await;
    let first = poller.run_once().await.expect("first cycle");
    assert_eq!(u64::from(first.orders_changed), n, "{first}");
    store.set_latency(Duration::from_millis(20));
    // The feed has nothing new (its watermark past every order); the reading is due.
    let ahead = (chrono::Utc::now() + chrono::TimeDelta::seconds(2)).to_rfc3339();
    quartermaster::sync::state::set(&pool, quartermaster::sync::state::WATERMARK, &ahead).await.expect("watermark");
    sqlx::query("DELETE FROM sync_state WHERE name = ?")
        .bind(quartermaster::sync::state::OPEN_CHECKED)
        .execute(&pool)
        .await
        .expect("state");
    let t = Instant::now();
    let due = poller.run_once().await.expect("cycle when due");
    let wall = t.elapsed();
    assert_eq!(u64::from(due.open_checked), n, "{due}");
    let next = poller.run_once().await.expect("next cycle");
    common::drop_db(server, "qm_bench_open").await;
    (
        format!("{n} open orders read again by id (every cycle up to 100, else every polling.open_orders_minutes)"),
        format!(
            "{} requests, {:.0} ms when due ({} in the whole cycle); {} on the next cycle",
            due.open_requests,
            wall.as_secs_f64() * 1e3,
            due.requests,
            next.open_requests
        ),
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let mut rows = rt.block_on(bench_cycle(&server, SKUS, 100)).rows;
    rows.push(("machine load (1, 5, 15 min)".into(), common::load()));
    rows.push(rt.block_on(bench_reservations(&server, 1)));
    rows.push(rt.block_on(bench_reservations(&server, 8)));
    rows.push(bench_lookup());
    for n in [100, 1_000, 5_000] {
        rows.push(rt.block_on(bench_open_orders(&server, n)));
    }
    let mut table = String::from("| sync benchmark | result |\n|---|---:|\n");
    for (k, v) in &rows {
        table.push_str(&format!("| {k} | {v} |\n"));
    }
    // Growth: the same 1%-changed cycle on other catalogs and queues.
    table.push_str(
        "\n| SKUs | open orders | SKUs pushed | cycle CPU, qm's own | cycle wall | process peak RSS so far (stand-in included) |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    let points: Vec<(usize, u64)> = match std::env::var("QM_BENCH_GROWTH").as_deref() {
        Ok("0") => Vec::new(),
        _ => vec![(1_000, 100), (10_000, 100), (50_000, 100), (200_000, 100), (50_000, 1_000), (50_000, 10_000)],
    };
    for (skus, orders) in points {
        let c = rt.block_on(bench_cycle(&server, skus, orders));
        eprintln!("{skus} SKUs, {orders} open orders: qm CPU {:.0} ms", c.qm_cpu_ms);
        table.push_str(&format!("| {skus} | {orders} | {} | {:.0} ms | {:.0} ms | {:.0} MiB |\n", c.pushed, c.qm_cpu_ms, c.wall_ms, c.rss));
    }
    common::publish("sync", &table);
}
