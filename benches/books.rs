//! Books benchmark (run with `scripts/bench --bench books`, or all with `scripts/bench`):
//! 1. shipping 10,000 orders of 3 lines each, FIFO over 5 lots per product
//!    (the consumption the ship act does), then posting them with their COGS
//!    trail (`catch_up`);
//! 2. trial balance, inventory valuation and the audit once the journal holds
//!    over 100,000 lines;
//! 3. exporting the same books to hledger (and `hledger check` reading them)
//!    and to GnuCash through its Python bindings.
//!
//! Prints a table and writes target/bench/books.md.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use quartermaster::{
    books::{Books, Ledger, chart, export, reports},
    channels::woocommerce::types::Order,
    config::Accounting,
    ids::OrderId,
    inventory::{
        orders,
        receive::{self, Invoice, ReceiptRow},
        reserve,
    },
    station::{queue::STATION_QUEUE, ship},
};
use serde_json::json;
use sqlx::MySqlPool;

const PRODUCTS: u64 = 30;
const LOTS: usize = 5;
const ORDERS: u64 = 10_000;

const CHART: &str = r#"
accounts: { cash: "1000", accounts_receivable: "1100", inventory: "1200", sales_tax_payable: "2100", sales: "4000",
            shipping_income: "4100", cogs: "5000", gateway_fees: "6100" }
gateway_fees:
  - { gateway: stripe, percent: "2.9", fixed_minor: 30, clearing: "1010" }
ar_payment_methods: [purchase_order]
"#;

fn books() -> Books {
    let accounting: Accounting = serde_yaml::from_str(CHART).expect("chart");
    Books::new(&accounting, chrono_tz::America::Chicago, "USD").expect("chart")
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Mirrors and reserves orders `from..to`: 3 lines each, 1–2 units, over the products.
async fn orders_in(pool: &MySqlPool, from: u64, to: u64) -> Vec<OrderId> {
    let reservable = vec!["processing".to_owned()];
    let mut out = Vec::new();
    for n in from..to {
        let lines: Vec<serde_json::Value> = (0..3u64)
            .map(|k| {
                let p = (n * 7 + k * 11) % PRODUCTS + 1;
                json!({ "id": n * 10 + k, "name": format!("P{p}"), "product_id": 0, "quantity": 1 + (n + k) % 2,
                        "sku": format!("BK-{p:03}"), "total": "19.99" })
            })
            .collect();
        let stripe = n % 5 != 0;
        let order: Order = serde_json::from_value(json!({
            "id": 100_000 + n, "number": (100_000 + n).to_string(), "status": "processing", "currency": "USD",
            "date_created_gmt": "2026-12-01T15:00:00", "date_modified_gmt": "2026-12-01T15:00:00",
            "total": "70.97", "total_tax": "5.00", "shipping_total": "6.00",
            "payment_method": if stripe { "stripe" } else { "purchase_order" },
            "line_items": lines,
            "meta_data": if stripe && n % 2 == 0 { json!([{ "key": "_stripe_fee", "value": "2.36" }]) } else { json!([]) },
        }))
        .expect("order");
        let id = match orders::upsert(pool, &order).await.expect("mirror") {
            orders::Mirrored::Changed(id) | orders::Mirrored::Unchanged(id) => id,
        };
        reserve::reserve_order(pool, id, &reservable, &STATION_QUEUE).await.expect("reserve");
        out.push(id);
    }
    out
}

async fn ship_all(pool: &MySqlPool, ids: &[OrderId]) {
    for id in ids {
        ship::record_shipment(pool, *id, None, "ups", None).await.expect("ship");
    }
}

async fn journal_lines(pool: &MySqlPool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM journal_lines").fetch_one(pool).await.expect("count")
}

fn p50_of<F: FnMut() -> Duration>(runs: usize, mut f: F) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..runs).map(|_| f()).collect();
    t.sort();
    (t[runs / 2], t[runs - 1])
}

async fn run(server: &str) -> Vec<(String, String)> {
    let name = "qm_bench_books";
    let (pool, _) = common::fresh_db(server, name, 4).await;
    let books = books();
    let ids = chart::install(&pool, &books.chart).await.expect("chart");
    let ledger = Ledger { books, ids };
    let mut rows = Vec::new();

    // 30 products, 5 receipts of 500 each at rising costs: FIFO walks through several lots.
    for p in 1..=PRODUCTS {
        sqlx::query("INSERT INTO products (id, sku, name) VALUES (?, ?, ?)")
            .bind(p)
            .bind(format!("BK-{p:03}"))
            .bind(format!("P{p}"))
            .execute(&pool)
            .await
            .expect("product");
    }
    for lot in 0..LOTS {
        let rows: Vec<ReceiptRow> = (1..=PRODUCTS)
            .map(|p| ReceiptRow {
                line: p as usize + 1,
                product_id: p,
                quantity: 500,
                unit_cost_minor: 400 + lot as i64 * 25 + p as i64,
                lot_ref: format!("L{lot}-{p}"),
                location: None,
                expires_on: None,
            })
            .collect();
        let invoice = Invoice {
            supplier: "Bench Supply".into(),
            reference: format!("INV-{lot}"),
            date: Utc::now().date_naive(),
            currency: "USD".into(),
        };
        receive::apply(&pool, &invoice, &rows, None, &|_, _| {}).await.expect("receive");
        sqlx::query("UPDATE inventory_lots SET received_at = received_at - INTERVAL ? DAY WHERE lot_ref LIKE ?")
            .bind(10 - lot as i64)
            .bind(format!("L{lot}-%"))
            .execute(&pool)
            .await
            .expect("age");
    }
    ledger.catch_up(&pool).await.expect("post receipts");

    let t = Instant::now();
    let orders = orders_in(&pool, 0, ORDERS).await;
    rows.push((format!("mirror + reserve {ORDERS} orders × 3 lines (FIFO reservations)"), ms(t.elapsed())));
    let t = Instant::now();
    ship_all(&pool, &orders).await;
    let shipping = t.elapsed();
    rows.push((
        format!("ship {ORDERS} orders: consume reserved lots (per order)"),
        format!("{} ({:.2} ms/order)", ms(shipping), shipping.as_secs_f64() * 1000.0 / ORDERS as f64),
    ));
    let before = journal_lines(&pool).await;
    let t = Instant::now();
    let posted = ledger.catch_up(&pool).await.expect("post");
    let posting = t.elapsed();
    assert_eq!(u64::from(posted.shipments), ORDERS, "every shipment posts");
    let trail: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cogs_entries").fetch_one(&pool).await.expect("trail");
    rows.push((
        format!(
            "post {ORDERS} shipments: entries + COGS trail ({} journal lines, {trail} trail rows)",
            journal_lines(&pool).await - before
        ),
        format!("{} ({:.2} ms/order)", ms(posting), posting.as_secs_f64() * 1000.0 / ORDERS as f64),
    ));

    // More of the same until the journal holds 100,000 lines.
    let mut next = ORDERS;
    while journal_lines(&pool).await < 100_000 {
        let more = orders_in(&pool, next, next + 2_000).await;
        ship_all(&pool, &more).await;
        ledger.catch_up(&pool).await.expect("post");
        next += 2_000;
    }
    let lines = journal_lines(&pool).await;
    let handle = tokio::runtime::Handle::current();
    let (tb50, tbmax) = p50_of(5, || {
        let t = Instant::now();
        tokio::task::block_in_place(|| handle.block_on(reports::trial_balance(&pool, None))).expect("tb");
        t.elapsed()
    });
    rows.push((format!("trial balance over {lines} journal lines: p50 / max of 5"), format!("{} / {}", ms(tb50), ms(tbmax))));
    let lots: usize = reports::valuation(&pool).await.expect("valuation").len();
    let (v50, vmax) = p50_of(5, || {
        let t = Instant::now();
        tokio::task::block_in_place(|| handle.block_on(reports::valuation(&pool))).expect("valuation");
        t.elapsed()
    });
    rows.push((format!("inventory valuation ({lots} lots on hand): p50 / max of 5"), format!("{} / {}", ms(v50), ms(vmax))));
    let t = Instant::now();
    let audit = reports::audit(&pool).await.expect("audit");
    assert!(audit.problems.is_empty(), "the books broke: {:?}", audit.problems);
    rows.push(("audit (trial balance = 0, Inventory = lots, COGS = trail per order)".into(), ms(t.elapsed())));

    let dir = tempfile::tempdir().expect("dir");
    let t = Instant::now();
    let book = export::read(&pool, &ledger.books).await.expect("read");
    let journal = export::hledger(&book);
    let file = dir.path().join("books.journal");
    std::fs::write(&file, &journal).expect("write");
    rows.push((format!("hledger export ({} transactions, {} KiB)", book.transactions.len(), journal.len() / 1024), ms(t.elapsed())));
    let t = Instant::now();
    match std::process::Command::new("hledger").arg("-f").arg(&file).arg("check").output() {
        Ok(out) if out.status.success() => rows.push(("`hledger check` reading it".into(), ms(t.elapsed()))),
        Ok(out) => rows.push(("`hledger check` reading it".into(), format!("FAILED: {}", String::from_utf8_lossy(&out.stderr).trim()))),
        Err(e) => rows.push(("`hledger check` reading it".into(), format!("not run: {e} (apt-get install hledger)"))),
    }
    let t = Instant::now();
    let gnc = dir.path().join("books.gnucash");
    match export::gnucash(&book, &gnc) {
        Ok(()) => rows.push((
            format!(
                "GnuCash export through its Python bindings ({} KiB XML)",
                std::fs::metadata(&gnc).map(|m| m.len() / 1024).unwrap_or(0)
            ),
            ms(t.elapsed()),
        )),
        Err(e) => rows.push(("GnuCash export".into(), format!("not run: {e}"))),
    }
    drop(pool);
    common::drop_db(server, name).await;
    rows
}

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let rows = rt.block_on(run(&server));
    let mut table = String::from("| books benchmark | result |\n|---|---:|\n");
    for (k, v) in &rows {
        table.push_str(&format!("| {k} | {v} |\n"));
    }
    common::publish("books", &table);
}
