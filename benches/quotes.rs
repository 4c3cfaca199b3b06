//! Quote benchmarks (run with `scripts/bench`):
//! 1. quote PDF render time through the WeasyPrint CLI, a cold process each
//!    time as the wrapper runs it: a 1-page and a 10-page quote;
//! 2. pricing a 200-line RFQ through the fall-through (stock, supplier,
//!    comparables) on MariaDB.
//!
//! Prints a table and writes target/bench/quotes.md.

mod common;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use quartermaster::{
    config::{Percent, Pricing},
    printing::pdf::WeasyPrint,
    quotes::{
        pricing::{Comparables, PriceSource, Pricer},
        render,
        snapshot::{Customer, Line, Snapshot},
    },
};
use sqlx::{MySql, QueryBuilder};

fn snapshot(lines: usize) -> Snapshot {
    let now = Utc::now().naive_utc();
    Snapshot {
        number: "BENCH-00001".into(),
        version_no: 1,
        template_version: "v2".into(),
        currency: "USD".into(),
        customer: Customer {
            name: "Dana Whitfield".into(),
            email: "dana@buyer.example".into(),
            company: Some("Buyer Co".into()),
            country: "US".into(),
            state: "CA".into(),
            postcode: "94103".into(),
            address_lines: vec!["1 Market St".into(), "San Francisco".into()],
        },
        sender_name: "Bench Industrial Supply".into(),
        sender_email: Some("sales@bench.example".into()),
        seller_address: vec!["1200 W Fulton Market".into(), "Chicago IL 60607".into(), "US".into()],
        seller_phone: Some("312 555 0142".into()),
        locale: "en-US".into(),
        primary_color: "#1F3A5F".into(),
        terms: Some("Net 30. FOB Chicago.".into()),
        valid_from: now,
        valid_until: now + TimeDelta::days(30),
        timezone: "America/Chicago".into(),
        lines: (0..lines)
            .map(|i| Line {
                line_no: (i + 1) as u16,
                product_id: Some(i as u64 + 1),
                woo_id: Some(1000 + i as u64),
                sku: Some(format!("SKU-{i:05}")),
                description: format!("Stainless hex bolt M{} × {} mm, grade A4-80, DIN 933", 6 + i % 10, 20 + i % 60),
                quantity: 1 + (i as u32 % 40),
                unit_price_minor: Some(125 + i as i64 * 7),
                price_source: PriceSource::InStock,
                price_reason: "in stock; list price".into(),
                tax_rate_ppm: 86_250,
                tax_source: "native: San Francisco 8.625%".into(),
                tax_minor: 11,
                total_minor: (125 + i as i64 * 7) * (1 + (i as i64 % 40)),
            })
            .collect(),
        subtotal_minor: 0,
        shipping_minor: 2500,
        shipping_tax_minor: 0,
        tax_minor: 0,
        total_minor: 0,
        change_note: None,
    }
}

fn pages(pdf: &[u8]) -> usize {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("q.pdf");
    std::fs::write(&p, pdf).expect("write");
    let out = std::process::Command::new("pdfinfo").arg(&p).output().expect("pdfinfo");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("Pages:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn render_bench(lines: usize, runs: usize) -> (String, String) {
    let html = render::html(&snapshot(lines), Some(0), None).expect("html");
    let weasy = WeasyPrint::default();
    let mut times = Vec::new();
    let mut n_pages = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let pdf = weasy.render_blocking(html.as_bytes(), None).expect("weasyprint (apt-get install weasyprint)");
        times.push(t.elapsed());
        n_pages = pages(&pdf);
    }
    times.sort();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    (
        format!("quote PDF, {lines} lines ({n_pages} page(s)), cold weasyprint: p50 / max of {runs}"),
        format!("{} / {}", ms(times[runs / 2]), ms(times[runs - 1])),
    )
}

async fn pricing_bench(server: &str) -> (String, String) {
    let name = "qm_bench_quotes";
    let (pool, _) = common::fresh_db(server, name, 4).await;
    // 200 products: a third in stock, a third with fresh supplier costs, a third priced from comparables.
    let mut q = QueryBuilder::<MySql>::new("INSERT INTO products (id, sku, name) ");
    q.push_values(0..200u64, |mut b, i| {
        b.push_bind(i + 1).push_bind(format!("SKU-{i:05}")).push_bind(format!("Item {i}"));
    });
    q.build().execute(&pool).await.expect("products");
    sqlx::query("INSERT INTO suppliers (id, name) VALUES (1, 'Bench supplier')").execute(&pool).await.expect("supplier");
    for i in 0..200u64 {
        match i % 3 {
            0 => {
                for (lot, days) in [("A", 20), ("B", 5)] {
                    sqlx::query("INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor) VALUES (?, ?, UTC_TIMESTAMP(6) - INTERVAL ? DAY, 50, 50, 400)")
                        .bind(i + 1)
                        .bind(lot)
                        .bind(days)
                        .execute(&pool)
                        .await
                        .expect("lot");
                }
            }
            1 => {
                sqlx::query("INSERT INTO supplier_costs (supplier_id, product_id, unit_cost_minor, currency, observed_at, source) VALUES (1, ?, 900, 'USD', UTC_TIMESTAMP(6) - INTERVAL 2 DAY, 'feed')")
                    .bind(i + 1)
                    .execute(&pool)
                    .await
                    .expect("cost");
            }
            _ => {}
        }
    }
    let mut feed = String::from("sku,price,observed_at\n");
    for i in (0..200).filter(|i| i % 3 == 2) {
        for d in 1..=8 {
            feed.push_str(&format!("SKU-{i:05},{}.{:02},2026-10-{d:02}\n", 10 + d, d * 3));
        }
    }
    let comps = Comparables::parse(feed.as_bytes(), "csv", "USD", "bench").expect("feed");
    let pricing =
        Pricing { markup_percent: Percent::parse("35").expect("pct"), cost_freshness_days: 30, quote_validity_days: 30, comps: None };
    let pricer = Pricer { pool: &pool, pricing: &pricing, comps: &comps, currency: "USD", now: Utc::now().naive_utc() };
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let mut priced = 0;
        for i in 0..200u64 {
            if pricer.price(Some(i + 1), 10).await.expect("price").unit_price_minor.is_some() {
                priced += 1;
            }
        }
        assert_eq!(priced, 200, "every line priced by one source");
        times.push(t.elapsed());
    }
    times.sort();
    drop(pool);
    common::drop_db(server, name).await;
    (
        "pricing a 200-line RFQ (stock / supplier / comparables): p50 / max of 5".into(),
        format!("{:.0} ms / {:.0} ms", times[2].as_secs_f64() * 1000.0, times[4].as_secs_f64() * 1000.0),
    )
}

fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    let mut rows = vec![render_bench(12, 7), render_bench(330, 5)];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rows.push(rt.block_on(pricing_bench(&server)));
    let mut table = String::from("| quotes benchmark | result |\n|---|---:|\n");
    for (k, v) in &rows {
        table.push_str(&format!("| {k} | {v} |\n"));
    }
    common::publish("quotes", &table);
}
