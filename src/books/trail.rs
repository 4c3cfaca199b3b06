//! The FIFO COGS trail: per order line and lot, what each shipment took
//! (and each restock gave back), at what cost, with running totals for the
//! line and for the tenant-local day. Append-only (triggers).

use chrono::{NaiveDate, NaiveDateTime};
use sqlx::{MySql, MySqlPool, Transaction};

use super::Books;
use crate::ids::{LotId, OrderId};

/// Units moved from (sale) or back into (return) one lot for one order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub kind: &'static str,
    pub source_id: u64,
    pub order_id: OrderId,
    pub order_line_id: u64,
    pub lot_id: LotId,
    pub lot_ref: String,
    pub lot_received_at: NaiveDateTime,
    /// Positive for a sale, negative for a return.
    pub quantity: i64,
    pub unit_cost_minor: i64,
}

/// Appends movements to the trail under `entry` (inside the posting
/// transaction, which holds the books' lock, so running totals are serial).
pub async fn append(
    tx: &mut Transaction<'_, MySql>,
    books: &Books,
    entry: u64,
    occurred_at: NaiveDateTime,
    moves: &[Movement],
) -> Result<i64, sqlx::Error> {
    let day = books.local_day(occurred_at);
    // The trail is append-only and written in order under the books' lock,
    // so the newest row's running totals are the sums (one index probe, not a scan).
    let (mut day_qty, mut day_minor): (i64, i64) =
        sqlx::query_as("SELECT day_cum_qty, day_cum_minor FROM cogs_entries WHERE day = ? ORDER BY id DESC LIMIT 1")
            .bind(day)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or((0, 0));
    let mut total = 0;
    for m in moves {
        let (line_qty, line_minor): (i64, i64) =
            sqlx::query_as("SELECT line_cum_qty, line_cum_minor FROM cogs_entries WHERE order_line_id = ? ORDER BY id DESC LIMIT 1")
                .bind(m.order_line_id)
                .fetch_optional(&mut **tx)
                .await?
                .unwrap_or((0, 0));
        let extended = m.quantity * m.unit_cost_minor;
        total += extended;
        sqlx::query(
            r#"INSERT INTO cogs_entries (journal_entry_id, kind, source_id, order_id, order_line_id, lot_id, lot_ref, lot_received_at,
                                         quantity, unit_cost_minor, total_minor, line_cum_qty, line_cum_minor, day, day_cum_qty, day_cum_minor, occurred_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"#,
        )
        .bind(entry)
        .bind(m.kind)
        .bind(m.source_id)
        .bind(m.order_id)
        .bind(m.order_line_id)
        .bind(m.lot_id)
        .bind(&m.lot_ref)
        .bind(m.lot_received_at)
        .bind(m.quantity)
        .bind(m.unit_cost_minor)
        .bind(extended)
        .bind(line_qty + m.quantity)
        .bind(line_minor + extended)
        .bind(day)
        .bind(day_qty + m.quantity)
        .bind(day_minor + extended)
        .bind(occurred_at)
        .execute(&mut **tx)
        .await?;
        day_qty += m.quantity;
        day_minor += extended;
    }
    Ok(total)
}

/// One row of the trail as pages and CSV show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TrailRow {
    pub id: u64,
    pub journal_entry_id: u64,
    pub kind: String,
    pub order_id: OrderId,
    pub order_number: String,
    pub order_line_id: u64,
    pub sku: String,
    pub lot_id: LotId,
    pub lot_ref: String,
    pub lot_received_at: NaiveDateTime,
    pub quantity: i32,
    pub unit_cost_minor: i64,
    pub total_minor: i64,
    pub line_cum_qty: i32,
    pub line_cum_minor: i64,
    pub day: NaiveDate,
    pub day_cum_qty: i32,
    pub day_cum_minor: i64,
    pub occurred_at: NaiveDateTime,
}

/// An order's trail, in the order it was written.
pub async fn of_order(pool: &MySqlPool, order_id: OrderId) -> Result<Vec<TrailRow>, sqlx::Error> {
    sqlx::query_as::<_, TrailRow>(
        r#"SELECT c.id, c.journal_entry_id, c.kind, c.order_id, o.number AS order_number, c.order_line_id, l.sku, c.lot_id, c.lot_ref,
                  c.lot_received_at, c.quantity, c.unit_cost_minor, c.total_minor, c.line_cum_qty, c.line_cum_minor, c.day, c.day_cum_qty,
                  c.day_cum_minor, c.occurred_at
           FROM cogs_entries c JOIN orders o ON o.id = c.order_id JOIN order_lines l ON l.id = c.order_line_id
           WHERE c.order_id = ? ORDER BY c.id"#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
}

/// The trail for tenant-local days `from..=to`.
pub async fn between(pool: &MySqlPool, from: NaiveDate, to: NaiveDate, limit: u32) -> Result<Vec<TrailRow>, sqlx::Error> {
    sqlx::query_as::<_, TrailRow>(
        r#"SELECT c.id, c.journal_entry_id, c.kind, c.order_id, o.number AS order_number, c.order_line_id, l.sku, c.lot_id, c.lot_ref,
                  c.lot_received_at, c.quantity, c.unit_cost_minor, c.total_minor, c.line_cum_qty, c.line_cum_minor, c.day, c.day_cum_qty,
                  c.day_cum_minor, c.occurred_at
           FROM cogs_entries c JOIN orders o ON o.id = c.order_id JOIN order_lines l ON l.id = c.order_line_id
           WHERE c.day BETWEEN ? AND ? ORDER BY c.day, c.id LIMIT ?"#,
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(pool)
    .await
}
