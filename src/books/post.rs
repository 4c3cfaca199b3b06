//! Posting: each fact the other domains recorded becomes one balanced
//! entry, once. [`catch_up`] finds every fact with no entry yet and posts
//! it, in batches, each batch one transaction under the books' lock.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::Serialize;
use sqlx::{MySql, MySqlPool, Transaction};

use super::{
    Books, BooksError,
    chart::{AccountIds, role},
    journal::{self, Draft},
    trail::{self, Movement},
};
use crate::ids::{LotId, OrderId};

/// How many facts one transaction posts.
const BATCH: u32 = 200;

/// What a catch-up posted, by kind of fact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Posted {
    pub receipts: u32,
    pub landed_charges: u32,
    pub shipments: u32,
    pub adjustments: u32,
    pub refunds: u32,
    pub payments: u32,
}

impl Posted {
    pub fn total(&self) -> u32 {
        self.receipts + self.landed_charges + self.shipments + self.adjustments + self.refunds + self.payments
    }
}

/// Posts every fact that has no entry yet. Safe to run at any time, from
/// any number of processes: each fact posts once.
pub async fn catch_up(pool: &MySqlPool, books: &Books, ids: &AccountIds) -> Result<Posted, BooksError> {
    let mut p = Posted {
        receipts: drain(|| receipts(pool, books, ids)).await?,
        landed_charges: drain(|| landed_charges(pool, books, ids)).await?,
        shipments: drain(|| shipments(pool, books, ids)).await?,
        adjustments: drain(|| adjustments(pool, books, ids)).await?,
        refunds: drain(|| refunds(pool, books, ids)).await?,
        payments: 0,
    };
    super::receivables::record_woo_payments(pool, books).await?;
    p.payments = drain(|| payments(pool, books, ids)).await?;
    Ok(p)
}

/// Runs one kind's batch until a batch comes back short; the number posted.
async fn drain<F, Fut>(mut batch: F) -> Result<u32, BooksError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u32, BooksError>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < BATCH {
            return Ok(total);
        }
    }
}

async fn begin<'a>(pool: &MySqlPool, ids: &AccountIds) -> Result<Transaction<'a, MySql>, BooksError> {
    let mut tx = pool.begin().await?;
    journal::lock_books(&mut tx, ids).await?;
    Ok(tx)
}

/// Receipts: an invoice's lots debit Inventory at invoice cost and credit
/// Accounts payable; an opening lot (no invoice) credits Opening balances.
async fn receipts(pool: &MySqlPool, books: &Books, ids: &AccountIds) -> Result<u32, BooksError> {
    let invoices = sqlx::query_as::<_, (u64, String, String, NaiveDateTime, i64)>(
        r#"SELECT i.id, i.invoice_ref, s.name, MIN(l.received_at), CAST(SUM(l.qty_received * l.unit_cost_minor) AS SIGNED)
           FROM supplier_invoices i JOIN suppliers s ON s.id = i.supplier_id JOIN inventory_lots l ON l.supplier_invoice_id = i.id
           WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'invoice' AND e.source_id = i.id)
           GROUP BY i.id, i.invoice_ref, s.name ORDER BY i.id LIMIT ?"#,
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    let lots = sqlx::query_as::<_, (LotId, String, String, NaiveDateTime, i64)>(
        r#"SELECT l.id, l.lot_ref, p.sku, l.received_at, CAST(l.qty_received * l.unit_cost_minor AS SIGNED)
           FROM inventory_lots l JOIN products p ON p.id = l.product_id
           WHERE l.supplier_invoice_id IS NULL AND l.source <> 'return'
             AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'lot' AND e.source_id = l.id)
           ORDER BY l.id LIMIT ?"#,
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    if invoices.is_empty() && lots.is_empty() {
        return Ok(0);
    }
    let mut tx = begin(pool, ids).await?;
    let mut n = 0;
    for (id, reference, supplier, at, value) in invoices {
        let mut d = Draft::new("invoice", id, at, format!("Received invoice {reference} from {supplier}"));
        d.debit(role::INVENTORY, value).credit(role::AP, value);
        n += u32::from(journal::post(&mut tx, books, ids, &d).await?.is_some());
    }
    for (id, lot_ref, sku, at, value) in lots {
        let mut d = Draft::new("lot", id.0, at, format!("Opening stock: lot {lot_ref} of {sku}"));
        d.debit(role::INVENTORY, value).credit(role::OPENING, value);
        n += u32::from(journal::post(&mut tx, books, ids, &d).await?.is_some());
    }
    tx.commit().await?;
    Ok(n)
}

/// Landed charges: the part on units on hand debits Inventory, the part on
/// units already sold (and rounding) debits COGS; Accounts payable credited.
async fn landed_charges(pool: &MySqlPool, books: &Books, ids: &AccountIds) -> Result<u32, BooksError> {
    let charges = sqlx::query_as::<_, (u64, String, String, NaiveDateTime, i64, i64, i64)>(
        r#"SELECT c.id, i.invoice_ref, c.kind, c.charged_at, c.amount_minor,
                  CAST(SUM(a.inventory_minor) AS SIGNED), CAST(SUM(a.cogs_minor) AS SIGNED)
           FROM landed_charges c JOIN supplier_invoices i ON i.id = c.supplier_invoice_id JOIN landed_allocations a ON a.landed_charge_id = c.id
           WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'landed_charge' AND e.source_id = c.id)
           GROUP BY c.id, i.invoice_ref, c.kind, c.charged_at, c.amount_minor ORDER BY c.id LIMIT ?"#,
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    if charges.is_empty() {
        return Ok(0);
    }
    let mut tx = begin(pool, ids).await?;
    let mut n = 0;
    for (id, reference, kind, at, amount, inventory, cogs) in charges {
        let mut d = Draft::new("landed_charge", id, at, format!("{kind} on invoice {reference}: landed cost"));
        d.debit(role::INVENTORY, inventory).debit(role::COGS, cogs).credit(role::AP, amount);
        n += u32::from(journal::post(&mut tx, books, ids, &d).await?.is_some());
    }
    tx.commit().await?;
    Ok(n)
}

/// An order as a sale posts it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct SaleOrder {
    shipment_id: u64,
    shipped_at: NaiveDateTime,
    order_id: OrderId,
    number: String,
    payment_method: Option<String>,
    total_minor: i64,
    tax_minor: i64,
    shipping_minor: i64,
    gateway_fee_minor: Option<i64>,
    first_shipment: u64,
}

/// The gateway's fee on `total`: the order's own figure when WooCommerce
/// had it, else the tenant's percent + fixed rule for the gateway (half up).
pub fn gateway_fee(books: &Books, method: Option<&str>, total: i64, recorded: Option<i64>) -> (i64, &'static str) {
    if let Some(f) = recorded {
        return (f.clamp(0, total.max(0)), "gateway meta");
    }
    match books.fees.iter().find(|f| Some(f.gateway.as_str()) == method) {
        Some(rule) if total > 0 => {
            let percent = (i128::from(total) * i128::from(rule.percent.basis_points) + 5_000) / 10_000;
            let fee = i64::try_from(percent).unwrap_or(i64::MAX).saturating_add(rule.fixed_minor);
            (fee.clamp(0, total), "tenant rule")
        }
        _ => (0, "none"),
    }
}

/// The debit side of a sale: Accounts receivable for a purchase-order
/// method, else the gateway's clearing account net of its fee plus the fee.
pub fn sale_debits(books: &Books, d: &mut Draft, method: Option<&str>, total: i64, recorded_fee: Option<i64>) -> &'static str {
    if books.is_receivable(method) {
        d.debit(role::AR, total);
        return "receivable";
    }
    let (fee, source) = gateway_fee(books, method, total, recorded_fee);
    d.debit(&books.chart.clearing_role(method), total - fee).debit(role::FEES, fee);
    source
}

/// Shipments: the order's first shipment carries the sale (Sales, Shipping
/// income and Sales tax payable credited; clearing and fee, or receivable,
/// debited); every shipment debits COGS and credits Inventory by its trail.
async fn shipments(pool: &MySqlPool, books: &Books, ids: &AccountIds) -> Result<u32, BooksError> {
    let sales = sqlx::query_as::<_, SaleOrder>(
        r#"SELECT s.id AS shipment_id, COALESCE(s.shipped_at, s.updated_at) AS shipped_at, o.id AS order_id, o.number, o.payment_method,
                  o.total_minor, o.tax_minor, o.shipping_minor, o.gateway_fee_minor,
                  (SELECT MIN(f.id) FROM shipments f WHERE f.order_id = o.id AND f.status = 'shipped') AS first_shipment
           FROM shipments s JOIN orders o ON o.id = s.order_id
           WHERE s.status = 'shipped' AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'shipment' AND e.source_id = s.id)
           ORDER BY s.id LIMIT ?"#,
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    if sales.is_empty() {
        return Ok(0);
    }
    let mut tx = begin(pool, ids).await?;
    let mut n = 0;
    for s in sales {
        let taken = sqlx::query_as::<_, (u64, u64, LotId, String, NaiveDateTime, u32, i64)>(
            r#"SELECT r.id, r.order_line_id, r.lot_id, l.lot_ref, l.received_at, r.quantity, r.unit_cost_minor
               FROM stock_reservations r JOIN inventory_lots l ON l.id = r.lot_id
               WHERE r.shipment_id = ? AND r.status = 'consumed' AND r.unit_cost_minor IS NOT NULL ORDER BY r.order_line_id, l.received_at, l.id"#,
        )
        .bind(s.shipment_id)
        .fetch_all(&mut *tx)
        .await?;
        let moves: Vec<Movement> = taken
            .into_iter()
            .map(|(id, line, lot, lot_ref, received, qty, cost)| Movement {
                kind: "sale",
                source_id: id,
                order_id: s.order_id,
                order_line_id: line,
                lot_id: lot,
                lot_ref,
                lot_received_at: received,
                quantity: i64::from(qty),
                unit_cost_minor: cost,
            })
            .collect();
        let cogs: i64 = moves.iter().map(|m| m.quantity * m.unit_cost_minor).sum();
        let with_sale = s.first_shipment == s.shipment_id;
        let mut memo = format!("Order {} shipped (shipment {})", s.number, s.shipment_id);
        let mut d = Draft::new("shipment", s.shipment_id, s.shipped_at, "").order(s.order_id);
        if with_sale {
            let goods = s.total_minor - s.tax_minor - s.shipping_minor;
            d.credit(role::SALES, goods).credit(books.chart.shipping_role, s.shipping_minor).credit(role::TAX, s.tax_minor);
            let source = sale_debits(books, &mut d, s.payment_method.as_deref(), s.total_minor, s.gateway_fee_minor);
            memo.push_str(&format!("; paid by {} (fee: {source})", s.payment_method.as_deref().unwrap_or("unknown")));
        }
        d.debit(role::COGS, cogs).credit(role::INVENTORY, cogs);
        d.memo = memo;
        let Some(entry) = journal::post(&mut tx, books, ids, &d).await? else { continue };
        trail::append(&mut tx, books, entry, s.shipped_at, &moves).await?;
        n += 1;
    }
    tx.commit().await?;
    Ok(n)
}

/// Adjustments (counts, damage, loss, found): Inventory against Inventory
/// adjustments at the lot's landed cost of the moment. Restocks from
/// refunds post with their refund.
async fn adjustments(pool: &MySqlPool, books: &Books, ids: &AccountIds) -> Result<u32, BooksError> {
    let rows = sqlx::query_as::<_, (u64, String, String, NaiveDateTime, i32, i64, String)>(
        r#"SELECT a.id, l.lot_ref, p.sku, a.created_at, a.delta, a.unit_cost_minor, a.reason
           FROM inventory_adjustments a JOIN inventory_lots l ON l.id = a.lot_id JOIN products p ON p.id = l.product_id
           WHERE a.refund_id IS NULL AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'adjustment' AND e.source_id = a.id)
           ORDER BY a.id LIMIT ?"#,
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut tx = begin(pool, ids).await?;
    let mut n = 0;
    for (id, lot_ref, sku, at, delta, cost, reason) in rows {
        let value = i64::from(delta) * cost;
        let mut d = Draft::new("adjustment", id, at, format!("Adjustment ({reason}) of lot {lot_ref} of {sku}: {delta:+} unit(s)"));
        d.debit(role::INVENTORY, value).credit(role::ADJUSTMENTS, value);
        n += u32::from(journal::post(&mut tx, books, ids, &d).await?.is_some());
    }
    tx.commit().await?;
    Ok(n)
}

/// Refunds, once the order's sale is posted: Refunds, Shipping income and
/// Sales tax payable debited by the refunded parts, the account the sale
/// debited (clearing or receivable) credited; restocked units debit
/// Inventory and credit COGS at the cost they came back at.
async fn refunds(pool: &MySqlPool, books: &Books, ids: &AccountIds) -> Result<u32, BooksError> {
    let rows = sqlx::query_as::<_, (u64, OrderId, String, Option<String>, NaiveDateTime, i64, i64, i64, String)>(
        r#"SELECT r.id, o.id, o.number, o.payment_method, r.refunded_at, r.goods_minor, r.shipping_minor, r.tax_minor, r.reason
           FROM order_refunds r JOIN orders o ON o.id = r.order_id
           WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'refund' AND e.source_id = r.id)
             AND EXISTS (SELECT 1 FROM journal_entries s WHERE s.source_type = 'shipment' AND s.order_id = r.order_id)
           ORDER BY r.id LIMIT ?"#,
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut tx = begin(pool, ids).await?;
    let mut n = 0;
    for (id, order_id, number, method, at, goods, shipping, tax, reason) in rows {
        let back = sqlx::query_as::<_, (u64, u64, LotId, String, NaiveDateTime, i32, i64)>(
            r#"SELECT a.id, a.order_line_id, a.lot_id, l.lot_ref, l.received_at, a.delta, a.unit_cost_minor
               FROM inventory_adjustments a JOIN inventory_lots l ON l.id = a.lot_id
               WHERE a.refund_id = ? AND a.order_line_id IS NOT NULL ORDER BY a.id"#,
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let moves: Vec<Movement> = back
            .into_iter()
            .map(|(aid, line, lot, lot_ref, received, delta, cost)| Movement {
                kind: "return",
                source_id: aid,
                order_id,
                order_line_id: line,
                lot_id: lot,
                lot_ref,
                lot_received_at: received,
                quantity: -i64::from(delta),
                unit_cost_minor: cost,
            })
            .collect();
        let restocked: i64 = -moves.iter().map(|m| m.quantity * m.unit_cost_minor).sum::<i64>();
        let total = goods + shipping + tax;
        let paid_into =
            if books.is_receivable(method.as_deref()) { role::AR.to_owned() } else { books.chart.clearing_role(method.as_deref()) };
        let what = if moves.is_empty() { "no restock" } else { "restocked" };
        let mut d = Draft::new(
            "refund",
            id,
            at,
            format!("Refund on order {number} ({what}){}", if reason.is_empty() { String::new() } else { format!(": {reason}") }),
        )
        .order(order_id);
        d.debit(role::REFUNDS, goods).debit(books.chart.shipping_role, shipping).debit(role::TAX, tax).credit(&paid_into, total);
        d.debit(role::INVENTORY, restocked).credit(role::COGS, restocked);
        let Some(entry) = journal::post(&mut tx, books, ids, &d).await? else { continue };
        trail::append(&mut tx, books, entry, at, &moves).await?;
        n += 1;
    }
    tx.commit().await?;
    Ok(n)
}

/// Receivable payments: Cash debited, Accounts receivable credited.
async fn payments(pool: &MySqlPool, books: &Books, ids: &AccountIds) -> Result<u32, BooksError> {
    let rows = sqlx::query_as::<_, (u64, OrderId, String, NaiveDate, i64, String)>(
        r#"SELECT p.id, o.id, o.number, p.paid_on, p.amount_minor, p.reference
           FROM ar_payments p JOIN orders o ON o.id = p.order_id
           WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'ar_payment' AND e.source_id = p.id)
           ORDER BY p.id LIMIT ?"#,
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut tx = begin(pool, ids).await?;
    let mut n = 0;
    for (id, order_id, number, paid_on, amount, reference) in rows {
        let at = local_noon(books, paid_on);
        let mut d = Draft::new("ar_payment", id, at, format!("Payment for order {number} ({reference})")).order(order_id);
        d.debit(role::CASH, amount).credit(role::AR, amount);
        n += u32::from(journal::post(&mut tx, books, ids, &d).await?.is_some());
    }
    tx.commit().await?;
    Ok(n)
}

/// Noon of a tenant-local date, in UTC: the instant a date-only event is dated at.
pub fn local_noon(books: &Books, day: NaiveDate) -> NaiveDateTime {
    use chrono::TimeZone;
    let noon = day.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default());
    books.tz.from_local_datetime(&noon).earliest().map(|t| t.naive_utc()).unwrap_or(noon)
}

/// Counts of facts still waiting for the books, by kind (for pages and checks).
pub async fn waiting(pool: &MySqlPool) -> Result<HashMap<&'static str, i64>, sqlx::Error> {
    let (shipments, refunds): (i64, i64) = sqlx::query_as(
        r#"SELECT (SELECT COUNT(*) FROM shipments s WHERE s.status = 'shipped'
                     AND NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'shipment' AND e.source_id = s.id)),
                  (SELECT COUNT(*) FROM order_refunds r WHERE NOT EXISTS (SELECT 1 FROM journal_entries e WHERE e.source_type = 'refund' AND e.source_id = r.id))"#,
    )
    .fetch_one(pool)
    .await?;
    Ok(HashMap::from([("shipments", shipments), ("refunds", refunds)]))
}
