//! A month of history for the demo tenant, so a newcomer's dashboard charts,
//! books pages and quote inbox show what they are for: shipped orders over
//! the last 30 days posted to the books, RFQs from buyers, and quotes in
//! every state (draft, sent, expired, lost; one is accepted by `qm demo
//! standin` once the simulated store runs, as a WooCommerce order). Each
//! step goes through the domain's own entry point; only the clock is moved
//! (order, shipment and delivery times set in the past). Once per database.

use chrono::{NaiveDateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{
    app::AppState,
    channels::woocommerce::types::{Billing, LineItem, Order, Shipping, ShippingLine},
    events::{self, Event},
    ids::OperatorId,
    inventory::{catalog, orders, reserve, stock},
    money, operators,
    quotes::{Ctx, listing, quote, rfq, send},
    station::{queue::STATION_QUEUE, ship},
};

/// The event that says the history is there.
const DONE: &str = "demo.history";

const BUYERS: &[(&str, &str, &str)] = &[
    ("Dana Whitfield", "dana", "buyer-co.example"),
    ("Luis Okafor", "luis.okafor", "northline-mfg.example"),
    ("Priya Nguyen", "p.nguyen", "lakeview-plant.example"),
    ("Tom Garcia", "tgarcia", "garcia-hvac.example"),
    ("Mei Kowalski", "mei", "kowalski-packaging.example"),
    ("Ahmed Haddad", "purchasing", "haddad-machining.example"),
    ("Grace Lindqvist", "grace", "lindqvist-labs.example"),
];

/// The quotes' context; `base`: the tenant file's folder (`loaded.base_dir()`).
fn ctx<'a>(st: &'a AppState, base: &'a std::path::Path) -> Ctx<'a> {
    Ctx { pool: &st.pool, config: &st.config, base_dir: base, weasy: &st.weasy, woo: &st.woo, mailer: st.mailer.as_deref() }
}

/// Whether the history was seeded into this database.
pub async fn seeded(st: &AppState) -> Result<bool, sqlx::Error> {
    events::any_of_kind(&st.pool, DONE).await
}

/// Seeds the month; returns a summary line. Without an admin operator the
/// RFQs wait unquoted (quotes carry an operator's name).
pub async fn seed(st: &AppState) -> anyhow::Result<String> {
    if seeded(st).await? {
        return Ok("demo history already present; nothing changed".into());
    }
    let operator = operators::first_admin(&st.pool).await?;
    let mut rng = StdRng::seed_from_u64(0x4157);
    let now = Utc::now().naive_utc();
    let shipped = orders_over(st, &mut rng, now).await?;
    let posted = match &st.ledger {
        Some(l) => l.catch_up(&st.pool).await?.total(),
        None => 0,
    };
    let (rfqs, quotes) = quotes_in_every_state(st, operator).await?;
    events::record(
        &st.pool,
        Event::info(
            DONE,
            format!("demo history: {shipped} shipped orders over 30 days, {posted} journal entries, {rfqs} RFQs, {quotes} quotes"),
        ),
    )
    .await?;
    Ok(format!("seeded a month of history: {shipped} shipped orders ({posted} journal entries), {rfqs} RFQs, {quotes} quotes"))
}

/// One to four orders a day over the last 30 days, each shipped a few hours
/// after it came in and delivered two days later.
async fn orders_over(st: &AppState, rng: &mut StdRng, now: NaiveDateTime) -> anyhow::Result<u32> {
    let catalog: Vec<(u64, String, String, i64)> = catalog::woo_products(&st.pool)
        .await?
        .into_iter()
        .filter(|p| p.4 > 0)
        .take(120)
        .map(|(_, woo_id, sku, name, price)| (woo_id, sku, name, price))
        .collect();
    if catalog.is_empty() {
        return Ok(0);
    }
    let statuses = ["completed".to_owned()];
    let mut shipped = 0;
    let mut n = 0u64;
    for day in (1..=30i64).rev() {
        for _ in 0..rng.random_range(1..=4u32) {
            n += 1;
            let at = now - TimeDelta::days(day) - TimeDelta::minutes(rng.random_range(0..600));
            let (first, last) =
                (super::FIRST[rng.random_range(0..super::FIRST.len())], super::LAST[rng.random_range(0..super::LAST.len())]);
            let mut lines = Vec::new();
            let mut total = 0;
            for l in 0..rng.random_range(1..=3u64) {
                let (woo_id, sku, name, price) = &catalog[rng.random_range(0..catalog.len())];
                if lines.iter().any(|x: &LineItem| x.product_id == *woo_id) {
                    continue;
                }
                let qty = rng.random_range(1..=3i64);
                total += price * qty;
                lines.push(LineItem {
                    id: 800_000 + n * 10 + l,
                    name: name.clone(),
                    product_id: *woo_id,
                    variation_id: 0,
                    quantity: qty,
                    sku: Some(sku.clone()),
                    total: money::format_minor(price * qty, 2),
                    meta_data: Vec::new(),
                });
            }
            let stamp = at.format("%Y-%m-%dT%H:%M:%S").to_string();
            let order = Order {
                id: 80_000 + n,
                number: (80_000 + n).to_string(),
                status: "completed".into(),
                currency: st.config.tenant.currency.clone(),
                date_created_gmt: stamp.clone(),
                date_modified_gmt: stamp.clone(),
                date_paid_gmt: Some(stamp),
                total: money::format_minor(total, 2),
                total_tax: String::new(),
                shipping_total: String::new(),
                payment_method: if n % 4 == 0 { "purchase_order" } else { "stripe" }.into(),
                billing: Billing {
                    first_name: first.to_owned(),
                    last_name: last.to_owned(),
                    email: format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
                },
                shipping: Shipping::default(),
                shipping_lines: vec![ShippingLine { method_id: "ups_ground".into() }],
                line_items: lines,
                meta_data: Vec::new(),
                refunds: Vec::new(),
            };
            let id = match orders::upsert(&st.pool, &order).await? {
                orders::Mirrored::Changed(id) | orders::Mirrored::Unchanged(id) => id,
            };
            reserve::reserve_order(&st.pool, id, &statuses, &STATION_QUEUE).await?;
            // An order the lots could not cover stays as it is: history, not a failure.
            let Ok(shipment) = ship::record_shipment(&st.pool, id, None, "ups", None).await else { continue };
            let shipped_at = at + TimeDelta::hours(rng.random_range(2..8));
            let delivered = shipped_at + TimeDelta::days(2);
            ship::set_times(&st.pool, shipment, shipped_at, (delivered < now).then_some(delivered)).await?;
            shipped += 1;
        }
    }
    Ok(shipped)
}

/// Seven RFQs by mail; quotes from five: one expired, one lost, two sent
/// (the standin accepts the newer), one left a draft; two RFQs wait.
async fn quotes_in_every_state(st: &AppState, operator: Option<OperatorId>) -> anyhow::Result<(usize, usize)> {
    // Items in stock for what is asked, so every line is priced from its lots.
    let skus = stock::skus_with_at_least(&st.pool, 80, 12).await?;
    if skus.len() < 3 {
        return Ok((0, 0));
    }
    let mut rfqs = Vec::new();
    for (i, (name, local, domain)) in BUYERS.iter().enumerate() {
        let raw = format!(
            "From: \"{name}\" <{local}@{domain}>\r\nTo: sales@demo-supply.example\r\nSubject: RFQ {}\r\nAuthentication-Results: mx.demo-supply.example; spf=pass smtp.mailfrom={domain}; dkim=pass header.d={domain}; dmarc=pass\r\n\r\nHello, please quote:\r\n{} x {}\r\n{} x {}\r\nThanks, {name}\r\n",
            4100 + i,
            skus[i % skus.len()],
            10 * (i + 1),
            skus[(i + 3) % skus.len()],
            5 + i
        );
        let stored = rfq::store(&st.pool, &st.lookup, "email", raw.as_bytes(), rfq::parse_email(raw.as_bytes())).await?;
        rfqs.push(stored.id);
    }
    let Some(op) = operator else { return Ok((rfqs.len(), 0)) };
    let base = st.loaded.base_dir();
    let c = ctx(st, &base);
    let mut quotes = Vec::new();
    for r in rfqs.iter().take(5) {
        quotes.push(quote::create_from_rfq(&c, *r, ("US", "IL", "60607"), Some(op)).await?.0);
    }
    let validity = i64::from(st.config.pricing.quote_validity_days);
    // Sending renders the PDF with WeasyPrint; without it the quotes stay drafts, said once.
    match send::send(&c, quotes[0], op).await {
        Ok(_) => {
            send::expire_due(&st.pool, Utc::now().naive_utc() + TimeDelta::days(validity + 1)).await?;
            send::send(&c, quotes[1], op).await?;
            send::mark_lost(&st.pool, quotes[1], "price: the buyer found it cheaper locally", op).await?;
            send::send(&c, quotes[2], op).await?;
            send::send(&c, quotes[3], op).await?;
        }
        Err(e) => tracing::warn!(error = %e, "the demo quotes stay drafts: they could not be sent"),
    }
    Ok((rfqs.len(), quotes.len()))
}

/// The newest sent quote, accepted by the back office into a WooCommerce
/// order on the simulated store (once: nothing when one is accepted).
pub async fn accept_one(st: &AppState) -> anyhow::Result<Option<u64>> {
    let quotes = listing::quotes(&st.pool, 1000).await?;
    let accepted = quotes.iter().any(|q| q.status == "accepted");
    // Newest first: the first sent one is the newest.
    let newest = quotes.iter().find(|q| q.status == "sent").map(|q| q.id);
    let (Some(quote), Some(op), false) = (newest, operators::first_admin(&st.pool).await?, accepted) else { return Ok(None) };
    let base = st.loaded.base_dir();
    Ok(Some(send::accept(&ctx(st, &base), quote, send::Acceptor::BackOffice(op)).await?))
}
