//! A realistic demo data set for `scripts/dev`: an industrial-supply
//! catalog with valid UPCs, FIFO lots from two suppliers over the last
//! months, and a day's worth of open orders. Deterministic (fixed seed), and
//! refuses to touch a database that already has products.

use chrono::{TimeDelta, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sqlx::MySqlPool;

use crate::inventory::gtin;

const KINDS: &[(&str, &str, i64)] = &[
    ("Hex bolt", "HXB", 45),
    ("Socket head cap screw", "SHC", 60),
    ("Flat washer", "FWS", 8),
    ("Nylon lock nut", "NLN", 15),
    ("Ball bearing", "BRG", 890),
    ("V-belt", "VBT", 1450),
    ("Hydraulic fitting", "HYF", 720),
    ("Safety glasses", "SGL", 650),
    ("Nitrile gloves (box of 100)", "NGL", 1299),
    ("Cable tie pack", "CTP", 499),
    ("Proximity sensor", "PRX", 4850),
    ("Torque wrench", "TQW", 12900),
];
const SIZES: &[&str] =
    &["M4", "M5", "M6", "M8", "M10", "M12", "1/4\"", "5/16\"", "3/8\"", "1/2\"", "S", "M", "L", "XL", "6200", "6203", "A42", "B55"];
const FINISHES: &[&str] = &["zinc", "stainless", "black oxide", "galvanized", "plain"];
const FIRST: &[&str] = &["Dana", "Luis", "Priya", "Tom", "Mei", "Ahmed", "Grace", "Olek", "Rosa", "Sam"];
const LAST: &[&str] = &["Whitfield", "Okafor", "Nguyen", "Garcia", "Kowalski", "Brennan", "Haddad", "Lindqvist"];

/// Seeds the demo data; returns a one-line summary.
pub async fn seed(pool: &MySqlPool, products: u32) -> anyhow::Result<String> {
    let (existing,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products").fetch_one(pool).await?;
    if existing > 0 {
        return Ok(format!("demo data already present ({existing} products); nothing changed"));
    }
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let mut tx = pool.begin().await?;
    let mut supplier_ids = Vec::new();
    for name in ["Midwest Fastener Co.", "Lakeshore Industrial Distributors"] {
        let id = sqlx::query("INSERT INTO suppliers (name, email) VALUES (?, ?)")
            .bind(name)
            .bind(format!("orders@{}.example", name.split_whitespace().next().unwrap_or("supplier").to_lowercase()))
            .execute(&mut *tx)
            .await?
            .last_insert_id();
        let invoice = sqlx::query("INSERT INTO supplier_invoices (supplier_id, invoice_ref, invoice_date, currency, total_minor) VALUES (?, ?, CURDATE(), 'USD', 0)")
            .bind(id)
            .bind(format!("INV-{}", 24000 + id))
            .execute(&mut *tx)
            .await?
            .last_insert_id();
        supplier_ids.push(invoice);
    }
    let now = Utc::now().naive_utc();
    let (mut lots, mut product_ids) = (0u32, Vec::new());
    for i in 0..products {
        let (kind, code, base_cost) = KINDS[i as usize % KINDS.len()];
        let size = SIZES[rng.random_range(0..SIZES.len())];
        let finish = FINISHES[rng.random_range(0..FINISHES.len())];
        let sku = format!("{code}-{:05}", 10000 + i);
        let body = format!("08{:09}", 614_141_000 + u64::from(i) * 7);
        let upc = format!("{body}{}", gtin::check_digit(&body).unwrap_or(0));
        let cost = base_cost + rng.random_range(0..base_cost / 3 + 1);
        let price = cost * 17 / 10;
        let serial_tracked = matches!(code, "PRX" | "TQW");
        let bin = format!("{}-{:02}-{}", ["A", "B", "C", "D"][rng.random_range(0..4)], rng.random_range(1..24), rng.random_range(1..6));
        let id = sqlx::query(
            "INSERT INTO products (woo_id, sku, name, gtin, upc, price_minor, serial_tracked, bin, weight_g) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(5000 + u64::from(i))
        .bind(&sku)
        .bind(format!("{kind} {size} {finish}"))
        .bind(format!("00{upc}"))
        .bind(&upc)
        .bind(price)
        .bind(serial_tracked)
        .bind(&bin)
        .bind(rng.random_range(5..2500u32))
        .execute(&mut *tx)
        .await?
        .last_insert_id();
        product_ids.push((id, sku, price));
        for n in 0..rng.random_range(1..=3u32) {
            let qty = rng.random_range(5..200u32);
            let remaining = if n == 0 { rng.random_range(0..=qty) } else { qty };
            if remaining == 0 && qty == 0 {
                continue;
            }
            let received = now - TimeDelta::days(i64::from(rng.random_range(3..150u32))) + TimeDelta::days(i64::from(n) * 20);
            sqlx::query(
                "INSERT INTO inventory_lots (product_id, supplier_invoice_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor, location) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(supplier_ids[(i + n) as usize % supplier_ids.len()])
            .bind(format!("L{}-{n}", 1000 + i))
            .bind(received)
            .bind(qty)
            .bind(remaining)
            .bind(cost + i64::from(n) * 3)
            .bind(&bin)
            .execute(&mut *tx)
            .await?;
            lots += 1;
        }
    }
    let orders = 24u32;
    for o in 0..orders {
        let created = now - TimeDelta::minutes(i64::from(rng.random_range(5..1440u32)));
        let customer = format!("{} {}", FIRST[rng.random_range(0..FIRST.len())], LAST[rng.random_range(0..LAST.len())]);
        let status = if o % 6 == 5 { "on-hold" } else { "processing" };
        let order_id = sqlx::query(
            "INSERT INTO orders (woo_id, number, status, currency, customer_name, customer_email, payment_method, shipping_method, total_minor, woo_created_at, woo_modified_at) VALUES (?, ?, ?, 'USD', ?, ?, ?, ?, 0, ?, ?)",
        )
        .bind(90000 + u64::from(o))
        .bind((90000 + o).to_string())
        .bind(status)
        .bind(&customer)
        .bind(format!("{}@example.com", customer.to_lowercase().replace(' ', ".")))
        .bind(if o % 5 == 0 { "purchase_order" } else { "stripe" })
        .bind(if o % 4 == 0 { "ups_next_day" } else { "ups_ground" })
        .bind(created)
        .bind(created)
        .execute(&mut *tx)
        .await?
        .last_insert_id();
        let mut total = 0i64;
        for l in 0..rng.random_range(1..=5u32) {
            let (pid, sku, price) = &product_ids[rng.random_range(0..product_ids.len())];
            let qty = rng.random_range(1..=6u32);
            let line_total = price * i64::from(qty);
            total += line_total;
            sqlx::query(
                "INSERT IGNORE INTO order_lines (order_id, woo_line_id, product_id, sku, name, quantity, unit_price_minor, total_minor) SELECT ?, ?, id, sku, name, ?, ?, ? FROM products WHERE id = ?",
            )
            .bind(order_id)
            .bind(u64::from(o) * 10 + u64::from(l))
            .bind(qty)
            .bind(price)
            .bind(line_total)
            .bind(pid)
            .execute(&mut *tx)
            .await?;
            let _ = sku;
        }
        sqlx::query("UPDATE orders SET total_minor = ? WHERE id = ?").bind(total).bind(order_id).execute(&mut *tx).await?;
    }
    let order_ids: Vec<u64> = sqlx::query_scalar("SELECT id FROM orders").fetch_all(&mut *tx).await?;
    crate::events::record(
        &mut *tx,
        crate::events::Event::info("demo.seeded", format!("demo data: {products} products, {lots} lots, {orders} orders")),
    )
    .await?;
    tx.commit().await?;
    let statuses = ["processing".to_owned(), "on-hold".to_owned()];
    for id in order_ids {
        crate::inventory::reserve::reserve_order(pool, id, &statuses, &crate::station::queue::STATION_QUEUE).await?;
    }
    Ok(format!("seeded {products} products, {lots} lots, {orders} open orders (reserved FIFO)"))
}

/// Runs the simulated WooCommerce store for `scripts/dev`: the demo catalog
/// with WooCommerce ids and stock as the appliance sees it, and a paid order
/// every `every` seconds, until Ctrl-C.
#[cfg(feature = "standin")]
pub async fn run_standin(state: &crate::app::AppState, listen: &str, ups_listen: &str, every: u64) -> anyhow::Result<()> {
    use crate::standin::woocommerce::WooStandin;
    use anyhow::Context;
    let key = state.secrets.get("woocommerce.consumer_key").context("woocommerce.consumer_key did not resolve")?;
    let secret = state.secrets.get("woocommerce.consumer_secret").context("woocommerce.consumer_secret did not resolve")?;
    let store = WooStandin::new(key.expose(), secret.expose());
    let rows: Vec<(u64, String, String, i64, i64)> = sqlx::query_as(
        r#"SELECT p.woo_id, p.sku, p.name, COALESCE(p.price_minor, 0),
                  CAST(COALESCE((SELECT SUM(qty_remaining - qty_reserved) FROM inventory_lots l WHERE l.product_id = p.id), 0) AS SIGNED)
           FROM products p WHERE p.woo_id IS NOT NULL"#,
    )
    .fetch_all(&state.pool)
    .await?;
    for (id, sku, name, price, stock) in &rows {
        store.put_product(*id, sku, name, *stock, &crate::money::format_minor(*price, 2));
    }
    let (last_order,): (u64,) =
        sqlx::query_as("SELECT CAST(COALESCE(MAX(woo_id), 0) AS UNSIGNED) FROM orders").fetch_one(&state.pool).await?;
    store.skip_ids_past(last_order);
    if state.config.ups.is_some() {
        let id = state.secrets.get("ups.client_id").context("ups.client_id did not resolve")?;
        let secret = state.secrets.get("ups.client_secret").context("ups.client_secret did not resolve")?;
        let ups = crate::standin::ups::UpsStandin::new(id.expose(), secret.expose());
        let ups_addr = crate::standin::serve(ups.router(), ups_listen).await?;
        println!("SIMULATED UPS account (development only) on http://{ups_addr}: labels are test labels");
    }
    let addr = crate::standin::serve(store.router(), listen).await?;
    println!("SIMULATED WooCommerce store (development only) on http://{addr} with {} products; an order every {every}s", rows.len());
    let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
    let mut rng = StdRng::seed_from_u64(42);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every.max(1)));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if ids.is_empty() { continue; }
                let lines: Vec<(u64, i64)> = (0..rng.random_range(1..=3)).map(|_| (ids[rng.random_range(0..ids.len())], rng.random_range(1..=3))).collect();
                let id = store.create_order(&lines, "processing");
                println!("simulated store: order {id} placed ({} lines)", lines.len());
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
