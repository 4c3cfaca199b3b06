//! A realistic demo data set for `scripts/dev`: an industrial-supply
//! catalog with valid UPCs, FIFO lots from two suppliers over the last
//! months, and a day's worth of open orders. Deterministic (fixed seed), and
//! refuses to touch a database that already has products. [`history`]
//! adds a month of shipped orders, books, RFQs and quotes.

pub mod history;

use chrono::{TimeDelta, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sqlx::MySqlPool;

use crate::{
    channels::woocommerce::types::{Billing, LineItem, Order, Shipping, ShippingLine},
    inventory::{catalog, gtin, orders, seed},
    money,
};

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
    let existing = catalog::count(pool).await?;
    if existing > 0 {
        return Ok(format!("demo data already present ({existing} products); nothing changed"));
    }
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let mut tx = pool.begin().await?;
    let mut invoice_ids = Vec::new();
    for (n, name) in ["Midwest Fastener Co.", "Lakeshore Industrial Distributors"].into_iter().enumerate() {
        let email = format!("orders@{}.example", name.split_whitespace().next().unwrap_or("supplier").to_lowercase());
        let invoice_ref = format!("INV-{}", 24001 + n);
        let supplier = seed::SeedSupplier { name, email: &email, invoice_ref: &invoice_ref, currency: "USD" };
        invoice_ids.push(seed::supplier_invoice(&mut tx, &supplier).await?);
    }
    let now = Utc::now().naive_utc();
    let (mut lots, mut catalog_rows) = (0u32, Vec::new());
    for i in 0..products {
        let (kind, code, base_cost) = KINDS[i as usize % KINDS.len()];
        let size = SIZES[rng.random_range(0..SIZES.len())];
        let finish = FINISHES[rng.random_range(0..FINISHES.len())];
        let sku = format!("{code}-{:05}", 10000 + i);
        let name = format!("{kind} {size} {finish}");
        let body = format!("08{:09}", 614_141_000 + u64::from(i) * 7);
        let upc = format!("{body}{}", gtin::check_digit(&body).unwrap_or(0));
        let cost = base_cost + rng.random_range(0..base_cost / 3 + 1);
        let price = cost * 17 / 10;
        let bin = format!("{}-{:02}-{}", ["A", "B", "C", "D"][rng.random_range(0..4)], rng.random_range(1..24), rng.random_range(1..6));
        let woo_id = 5000 + u64::from(i);
        let product = seed::SeedProduct {
            woo_id,
            sku: &sku,
            name: &name,
            gtin: &format!("00{upc}"),
            upc: &upc,
            price_minor: price,
            serial_tracked: matches!(code, "PRX" | "TQW"),
            bin: &bin,
            weight_g: rng.random_range(5..2500u32),
        };
        let id = seed::product(&mut tx, &product).await?;
        for n in 0..rng.random_range(1..=3u32) {
            let qty = rng.random_range(5..200u32);
            // Received whole: what leaves a lot leaves through orders (the
            // history's shipments), so the books' Inventory is the lots on hand.
            let remaining = qty;
            let received_at = now - TimeDelta::days(i64::from(rng.random_range(3..150u32))) + TimeDelta::days(i64::from(n) * 20);
            let lot_ref = format!("L{}-{n}", 1000 + i);
            let lot = seed::SeedLot {
                product_id: id,
                invoice_id: invoice_ids[(i + n) as usize % invoice_ids.len()],
                lot_ref: &lot_ref,
                received_at,
                received: qty,
                remaining,
                unit_cost_minor: cost + i64::from(n) * 3,
                location: &bin,
            };
            seed::lot(&mut tx, &lot).await?;
            lots += 1;
        }
        catalog_rows.push((woo_id, sku, name, price));
    }
    // Orders arrive as WooCommerce would send them and are mirrored the way
    // the poller mirrors real ones.
    let orders = 24u32;
    let mut order_ids = Vec::new();
    for o in 0..orders {
        let created = (now - TimeDelta::minutes(i64::from(rng.random_range(5..1440u32)))).format("%Y-%m-%dT%H:%M:%S").to_string();
        let (first, last) = (FIRST[rng.random_range(0..FIRST.len())], LAST[rng.random_range(0..LAST.len())]);
        let mut total = 0i64;
        let mut line_items: Vec<LineItem> = Vec::new();
        for l in 0..rng.random_range(1..=5u32) {
            let (woo_id, sku, name, price) = &catalog_rows[rng.random_range(0..catalog_rows.len())];
            if line_items.iter().any(|li| li.product_id == *woo_id) {
                continue;
            }
            let qty = rng.random_range(1..=6i64);
            total += price * qty;
            line_items.push(LineItem {
                id: u64::from(o) * 10 + u64::from(l),
                name: name.clone(),
                product_id: *woo_id,
                variation_id: 0,
                quantity: qty,
                sku: Some(sku.clone()),
                total: money::format_minor(price * qty, 2),
                meta_data: Vec::new(),
            });
        }
        let order = Order {
            id: 90000 + u64::from(o),
            number: (90000 + o).to_string(),
            status: if o % 6 == 5 { "on-hold" } else { "processing" }.to_owned(),
            currency: "USD".to_owned(),
            date_created_gmt: created.clone(),
            date_modified_gmt: created,
            date_paid_gmt: None,
            total: money::format_minor(total, 2),
            total_tax: String::new(),
            shipping_total: String::new(),
            payment_method: if o % 5 == 0 { "purchase_order" } else { "stripe" }.to_owned(),
            billing: Billing {
                first_name: first.to_owned(),
                last_name: last.to_owned(),
                email: format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
            },
            shipping: Shipping::default(),
            shipping_lines: vec![ShippingLine { method_id: if o % 4 == 0 { "ups_next_day" } else { "ups_ground" }.to_owned() }],
            line_items,
            meta_data: Vec::new(),
            refunds: Vec::new(),
        };
        match orders::upsert_in(&mut tx, &order).await? {
            orders::Mirrored::Changed(id) | orders::Mirrored::Unchanged(id) => order_ids.push(id),
        }
    }
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
    let products = catalog::woo_products(&state.pool).await?;
    let ids: Vec<u64> = products.iter().map(|p| p.0).collect();
    let available = crate::inventory::reserve::available_many(&state.pool, &ids).await?;
    for (id, woo_id, sku, name, price) in &products {
        let stock = available.get(id).copied().unwrap_or(0);
        store.put_product(*woo_id, sku, name, stock, &crate::money::format_minor(*price, 2));
    }
    let last_order = orders::max_woo_id(&state.pool).await?;
    store.skip_ids_past(last_order);
    if state.config.ups.is_some() {
        let id = state.secrets.get("ups.client_id").context("ups.client_id did not resolve")?;
        let secret = state.secrets.get("ups.client_secret").context("ups.client_secret did not resolve")?;
        let ups = crate::standin::ups::UpsStandin::new(id.expose(), secret.expose());
        let ups_addr = crate::standin::serve(ups.router(), ups_listen).await?;
        println!("SIMULATED UPS account (development only) on http://{ups_addr}: labels are test labels");
    }
    let addr = crate::standin::serve(store.router(), listen).await?;
    println!("SIMULATED WooCommerce store (development only) on http://{addr} with {} products; an order every {every}s", products.len());
    // The demo history's newest sent quote, accepted now the store can take its order.
    match history::accept_one(state).await {
        Ok(Some(order)) => println!("demo: the newest sent quote was accepted as WooCommerce order {order}"),
        Ok(None) => {}
        Err(e) => println!("demo: could not accept a quote ({e:#})"),
    }
    let ids: Vec<u64> = products.iter().map(|p| p.1).collect();
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
