//! FIFO reservations against the real MariaDB, including 8 concurrent runs
//! with and without the poller's advisory lock.

use std::{sync::Arc, time::Duration};

use quartermaster::{
    db::lock::{self, LockName},
    ids::OrderId,
    inventory::reserve::{self, reserve_order},
};
use rand::{Rng, SeedableRng, seq::SliceRandom};
use sqlx::{MySqlPool, Row};

use crate::helpers::TestDb;

fn statuses() -> Vec<String> {
    vec!["processing".into(), "on-hold".into()]
}

async fn product(pool: &MySqlPool, sku: &str) -> u64 {
    sqlx::query("INSERT INTO products (sku, name) VALUES (?, ?)").bind(sku).bind(sku).execute(pool).await.expect("product").last_insert_id()
}

async fn lot(pool: &MySqlPool, product: u64, lot_ref: &str, days_ago: i64, qty: u32) -> u64 {
    sqlx::query("INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor) VALUES (?, ?, UTC_TIMESTAMP(6) - INTERVAL ? DAY, ?, ?, 100)")
        .bind(product)
        .bind(lot_ref)
        .bind(days_ago)
        .bind(qty)
        .bind(qty)
        .execute(pool)
        .await
        .expect("lot")
        .last_insert_id()
}

async fn order(pool: &MySqlPool, woo_id: u64, status: &str, lines: &[(u64, u32)]) -> (OrderId, Vec<u64>) {
    let id = sqlx::query("INSERT INTO orders (woo_id, number, status, currency, total_minor, woo_created_at, woo_modified_at) VALUES (?, ?, ?, 'USD', 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
        .bind(woo_id)
        .bind(woo_id.to_string())
        .bind(status)
        .execute(pool)
        .await
        .expect("order")
        .last_insert_id();
    let mut line_ids = Vec::new();
    for (i, (p, q)) in lines.iter().enumerate() {
        line_ids.push(
            sqlx::query("INSERT INTO order_lines (order_id, woo_line_id, product_id, name, quantity, unit_price_minor, total_minor) VALUES (?, ?, ?, 'x', ?, 100, 100)")
                .bind(id)
                .bind(woo_id * 100 + i as u64)
                .bind(p)
                .bind(q)
                .execute(pool)
                .await
                .expect("line")
                .last_insert_id(),
        );
    }
    (OrderId(id), line_ids)
}

async fn held_by_lot(pool: &MySqlPool, line: u64) -> Vec<(u64, u32)> {
    sqlx::query_as("SELECT lot_id, CAST(SUM(quantity) AS UNSIGNED) FROM stock_reservations WHERE order_line_id = ? AND status = 'open' GROUP BY lot_id ORDER BY lot_id")
        .bind(line)
        .fetch_all(pool)
        .await
        .expect("held")
        .into_iter()
        .map(|(l, q): (u64, u64)| (l, q as u32))
        .collect()
}

#[tokio::test]
async fn lines_take_the_oldest_lots_first_and_follow_edits_and_cancellation() {
    let db = TestDb::migrated().await;
    let p = product(&db.pool, "BRG-6203").await;
    let newest = lot(&db.pool, p, "L-new", 1, 10).await;
    let oldest = lot(&db.pool, p, "L-old", 30, 4).await;
    let middle = lot(&db.pool, p, "L-mid", 10, 5).await;
    let (o, lines) = order(&db.pool, 1, "processing", &[(p, 7)]).await;

    let out = reserve_order(&db.pool, o, &statuses(), &quartermaster::station::queue::STATION_QUEUE).await.expect("reserve");
    assert_eq!(out.units_reserved, 7);
    let held: std::collections::BTreeMap<u64, u32> = held_by_lot(&db.pool, lines[0]).await.into_iter().collect();
    assert_eq!(
        held,
        [(oldest, 4), (middle, 3)].into_iter().collect(),
        "oldest lot emptied first, then the next oldest; newest {newest} untouched"
    );
    assert_eq!(reserve::available(&db.pool, p).await.expect("available"), 19 - 7);

    let again = reserve_order(&db.pool, o, &statuses(), &quartermaster::station::queue::STATION_QUEUE).await.expect("again");
    assert_eq!((again.units_reserved, again.units_released), (0, 0), "re-reading the same order changes nothing");

    sqlx::query("UPDATE order_lines SET quantity = 5 WHERE id = ?").bind(lines[0]).execute(&db.pool).await.expect("edit");
    let edited = reserve_order(&db.pool, o, &statuses(), &quartermaster::station::queue::STATION_QUEUE).await.expect("edit");
    assert_eq!(edited.units_released, 2);
    let held: std::collections::BTreeMap<u64, u32> = held_by_lot(&db.pool, lines[0]).await.into_iter().collect();
    assert_eq!(held.get(&oldest), Some(&4), "the oldest stock stays reserved; the newest is released first");
    assert_eq!(held.get(&middle), Some(&1));

    sqlx::query("UPDATE orders SET status = 'cancelled' WHERE id = ?").bind(o).execute(&db.pool).await.expect("cancel");
    let cancelled = reserve_order(&db.pool, o, &statuses(), &quartermaster::station::queue::STATION_QUEUE).await.expect("cancel");
    assert_eq!(cancelled.units_released, 5);
    assert_eq!(reserve::available(&db.pool, p).await.expect("available"), 19);
    let (queued,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM pick_queue WHERE order_id = ?").bind(o).fetch_one(&db.pool).await.expect("queue");
    assert_eq!(queued, 0, "a cancelled order leaves the pick queue");
}

#[tokio::test]
async fn a_short_line_is_backordered_and_filled_when_stock_arrives() {
    let db = TestDb::migrated().await;
    let p = product(&db.pool, "VBT-A42").await;
    lot(&db.pool, p, "L1", 5, 3).await;
    let (o, lines) = order(&db.pool, 2, "processing", &[(p, 5)]).await;
    let out = reserve_order(&db.pool, o, &statuses(), &quartermaster::station::queue::STATION_QUEUE).await.expect("reserve");
    assert_eq!((out.units_reserved, out.backordered), (3, 2));
    let (back, status): (u32, String) =
        sqlx::query_as("SELECT l.backordered_qty, q.status FROM order_lines l JOIN pick_queue q ON q.order_id = l.order_id WHERE l.id = ?")
            .bind(lines[0])
            .fetch_one(&db.pool)
            .await
            .expect("row");
    assert_eq!((back, status.as_str()), (2, "backordered"), "flagged on the line and in the pick queue");
    lot(&db.pool, p, "L2", 0, 10).await;
    let filled = reserve_order(&db.pool, o, &statuses(), &quartermaster::station::queue::STATION_QUEUE).await.expect("refill");
    assert_eq!((filled.units_reserved, filled.backordered), (2, 0));
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM pick_queue WHERE order_id = ?").bind(o).fetch_one(&db.pool).await.expect("row");
    assert_eq!(status, "queued");
}

/// Builds an overlapping workload: 12 products, 40 orders of 1–4 lines.
async fn workload(pool: &MySqlPool, seed: u64) -> Vec<OrderId> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut products = Vec::new();
    for i in 0..12 {
        let p = product(pool, &format!("SKU-{i}")).await;
        for l in 0..3 {
            lot(pool, p, &format!("L{l}"), 30 - l * 5, rng.random_range(2..15)).await;
        }
        products.push(p);
    }
    let mut orders = Vec::new();
    for o in 0..40u64 {
        let lines: Vec<(u64, u32)> =
            (0..rng.random_range(1..=4)).map(|_| (products[rng.random_range(0..products.len())], rng.random_range(1..6))).collect();
        orders.push(order(pool, 1000 + o, "processing", &lines).await.0);
    }
    orders
}

async fn eight_runs(db: &TestDb, use_lock: bool) {
    let orders = Arc::new(workload(&db.pool, 7).await);
    let mut handles = Vec::new();
    for run in 0..8u64 {
        let opts = db.options();
        let orders = orders.clone();
        handles.push(tokio::spawn(async move {
            // A replica of its own: separate pool, separate connections.
            let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(2).connect_with(opts.clone()).await.expect("pool");
            let guard = if use_lock {
                Some(lock::acquire(&opts, &LockName::new("testco", "poller").expect("name"), Duration::from_secs(60)).await.expect("lock"))
            } else {
                None
            };
            let mut mine: Vec<OrderId> = orders.to_vec();
            mine.shuffle(&mut rand::rngs::StdRng::seed_from_u64(run));
            for o in mine {
                reserve_order(&pool, o, &statuses(), &quartermaster::station::queue::STATION_QUEUE).await.expect("reserve");
            }
            if let Some(g) = guard {
                g.release().await.expect("release");
            }
            pool.close().await;
        }));
    }
    for h in handles {
        h.await.expect("run");
    }
    check_invariants(&db.pool).await;
}

/// Every line reserved exactly once, no lot over-reserved, totals match demand.
async fn check_invariants(pool: &MySqlPool) {
    let lines = sqlx::query(
        r#"SELECT l.id, l.quantity, l.backordered_qty,
                  CAST(COALESCE((SELECT SUM(quantity) FROM stock_reservations r WHERE r.order_line_id = l.id AND r.status = 'open'), 0) AS UNSIGNED) AS held
           FROM order_lines l"#,
    )
    .fetch_all(pool)
    .await
    .expect("lines");
    for r in &lines {
        let (q, back, held): (u32, u32, u64) = (r.get("quantity"), r.get("backordered_qty"), r.get("held"));
        assert_eq!(held as u32 + back, q, "line {}: held {held} + backordered {back} must equal its quantity {q}", r.get::<u64, _>("id"));
    }
    let lots = sqlx::query(
        r#"SELECT l.id, l.qty_remaining, l.qty_reserved,
                  CAST(COALESCE((SELECT SUM(quantity) FROM stock_reservations r WHERE r.lot_id = l.id AND r.status = 'open'), 0) AS UNSIGNED) AS held
           FROM inventory_lots l"#,
    )
    .fetch_all(pool)
    .await
    .expect("lots");
    for r in &lots {
        let (rem, res, held): (u32, u32, u64) = (r.get("qty_remaining"), r.get("qty_reserved"), r.get("held"));
        assert!(res <= rem, "lot over-reserved");
        assert_eq!(u64::from(res), held, "the lot's reserved count equals its reservations");
    }
    let per_product: Vec<(u64, i64, i64)> = sqlx::query_as(
        r#"SELECT p.id,
                  CAST((SELECT SUM(qty_remaining) FROM inventory_lots WHERE product_id = p.id) AS SIGNED),
                  CAST(COALESCE((SELECT SUM(quantity) FROM order_lines WHERE product_id = p.id), 0) AS SIGNED)
           FROM products p"#,
    )
    .fetch_all(pool)
    .await
    .expect("products");
    for (p, stock, demand) in per_product {
        let reserved: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(SUM(qty_reserved), 0) AS SIGNED) FROM inventory_lots WHERE product_id = ?")
                .bind(p)
                .fetch_one(pool)
                .await
                .expect("sum");
        assert_eq!(reserved, stock.min(demand), "product {p}: reserved must be min(stock {stock}, demand {demand})");
    }
}

#[tokio::test]
async fn eight_concurrent_runs_holding_the_poller_lock_reserve_each_line_once() {
    let db = TestDb::migrated().await;
    eight_runs(&db, true).await;
}

#[tokio::test]
async fn eight_concurrent_runs_without_the_lock_still_reserve_each_line_once() {
    let db = TestDb::migrated().await;
    eight_runs(&db, false).await;
}
