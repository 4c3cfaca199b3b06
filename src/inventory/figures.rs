//! Inventory at a glance, for the dashboard and its charts: backorders,
//! low stock, lots near expiry, skipped orders and daily sales.

use chrono::{NaiveDate, NaiveDateTime};
use sqlx::MySqlPool;

/// Open orders short of stock: (lines, orders, units missing).
pub async fn backorders(pool: &MySqlPool, open_statuses: &[String]) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        r#"SELECT COUNT(*), COUNT(DISTINCT l.order_id), CAST(COALESCE(SUM(l.backordered_qty), 0) AS SIGNED)
           FROM order_lines l JOIN orders o ON o.id = l.order_id
           WHERE l.backordered_qty > 0 AND NOT l.removed AND JSON_CONTAINS(?, JSON_QUOTE(o.status))"#,
    )
    .bind(crate::db::json_list(open_statuses))
    .fetch_one(pool)
    .await
}

/// A SKU at or below its low-stock threshold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LowStock {
    pub sku: String,
    pub name: String,
    /// Units on hand not reserved.
    pub free: i64,
    pub threshold: i64,
}

/// Active SKUs that have had stock here whose free units are at or below
/// their own threshold or `default_threshold`: how many, and the lowest `limit`.
pub async fn low_stock(pool: &MySqlPool, default_threshold: u32, limit: u32) -> Result<(i64, Vec<LowStock>), sqlx::Error> {
    let rows = sqlx::query_as::<_, LowStock>(
        r#"SELECT p.sku, p.name, CAST(SUM(l.qty_remaining - l.qty_reserved) AS SIGNED) AS free,
                  CAST(COALESCE(p.low_stock_threshold, ?) AS SIGNED) AS threshold
           FROM products p JOIN inventory_lots l ON l.product_id = p.id
           WHERE p.status = 'active' AND p.manage_stock
           GROUP BY p.id, p.sku, p.name, p.low_stock_threshold
           HAVING free <= threshold
           ORDER BY free, p.sku"#,
    )
    .bind(default_threshold)
    .fetch_all(pool)
    .await?;
    let count = rows.len() as i64;
    Ok((count, rows.into_iter().take(limit as usize).collect()))
}

/// A lot with stock left that expires soon.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Expiring {
    pub lot_ref: String,
    pub sku: String,
    pub expires_on: NaiveDate,
    pub remaining: i64,
}

/// Lots with units left expiring on or before `until`: how many, and the soonest `limit`.
pub async fn expiring_lots(pool: &MySqlPool, until: NaiveDate, limit: u32) -> Result<(i64, Vec<Expiring>), sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inventory_lots WHERE expires_on <= ? AND qty_remaining > 0")
        .bind(until)
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query_as::<_, Expiring>(
        r#"SELECT l.lot_ref, p.sku, l.expires_on, CAST(l.qty_remaining AS SIGNED) AS remaining
           FROM inventory_lots l JOIN products p ON p.id = l.product_id
           WHERE l.expires_on IS NOT NULL AND l.expires_on <= ? AND l.qty_remaining > 0 ORDER BY l.expires_on, l.id LIMIT ?"#,
    )
    .bind(until)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok((count, rows))
}

/// Orders the sync skipped: (how many, the latest time one was tried).
pub async fn rejected_orders(pool: &MySqlPool) -> Result<(i64, Option<NaiveDateTime>), sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*), MAX(last_seen_at) FROM sync_rejects").fetch_one(pool).await
}

/// Statuses that are not a sale (the order was never paid or was undone).
const NOT_SALES: &str = r#"["cancelled","failed","refunded","trash","pending","checkout-draft"]"#;

/// Orders placed per local day and their total in minor units (`days` from
/// [`crate::calendar::json`]), oldest first; orders never paid or undone are left out.
pub async fn sales_per_day(pool: &MySqlPool, days: &str) -> Result<Vec<(NaiveDate, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT d.day, COUNT(o.id), CAST(COALESCE(SUM(o.total_minor), 0) AS SIGNED)
           FROM JSON_TABLE(?, '$[*]' COLUMNS (day DATE PATH '$.d', s DATETIME(6) PATH '$.s', e DATETIME(6) PATH '$.e')) d
           LEFT JOIN orders o ON o.woo_created_at >= d.s AND o.woo_created_at < d.e AND NOT JSON_CONTAINS(?, JSON_QUOTE(o.status))
           GROUP BY d.day ORDER BY d.day"#,
    )
    .bind(days)
    .bind(NOT_SALES)
    .fetch_all(pool)
    .await
}
