//! What the channels are told: each product's true available quantity
//! (remaining minus reserved over its lots, a stock holder counting its
//! family), set against what a channel last confirmed. The one place the
//! availability formula is written for the whole catalog; the poller reads
//! it here and pushes the differences.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

use crate::{channels::StockUpdate, ids::LotId};

/// A product whose truth differs from what a channel last confirmed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutOfStep {
    pub id: u64,
    pub sku: String,
    pub woo_id: Option<u64>,
    pub woo_parent_id: Option<u64>,
    pub available: i64,
    pub confirmed_qty: Option<i32>,
    pub confirmed_at: Option<NaiveDateTime>,
}

impl OutOfStep {
    pub fn update(&self) -> StockUpdate {
        StockUpdate {
            product_id: self.id,
            sku: self.sku.clone(),
            external_id: self.woo_id,
            parent_id: self.woo_parent_id,
            quantity: self.available,
        }
    }
}

/// Which products a channel is told about: on eBay the listed ones; on
/// WooCommerce those that manage stock there and (unless `unstocked`) have
/// had stock in Quartermaster (a lot, even an empty one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Audience<'a> {
    pub channel: &'a str,
    pub unstocked: bool,
}

/// Every active product of the channel's audience whose available quantity
/// differs from what the channel last confirmed (or showed). One pass: the
/// lots are summed per stock holder once (`a`), and a product has had stock
/// exactly when it has a row there (a correlated EXISTS here was evaluated
/// per product with no usable index: minutes at 50,000 SKUs).
pub async fn out_of_step(pool: &MySqlPool, to: Audience<'_>) -> Result<Vec<OutOfStep>, sqlx::Error> {
    sqlx::query_as::<_, OutOfStep>(
        r#"SELECT p.id, p.sku, p.woo_id, p.woo_parent_id, CAST(COALESCE(a.available, 0) AS SIGNED) AS available, cs.confirmed_qty, cs.confirmed_at
           FROM products p
           LEFT JOIN (SELECT COALESCE(c.stock_holder_id, l.product_id) AS product_id, SUM(l.qty_remaining - l.qty_reserved) AS available
                      FROM inventory_lots l JOIN products c ON c.id = l.product_id GROUP BY COALESCE(c.stock_holder_id, l.product_id)) a
                  ON a.product_id = p.id
           LEFT JOIN channel_stock cs ON cs.channel = ? AND cs.product_id = p.id
           WHERE p.status = 'active'
             AND IF(? = 'ebay', p.ebay_listed, p.woo_id IS NOT NULL AND p.manage_stock AND (? OR a.product_id IS NOT NULL))
             AND (cs.confirmed_qty IS NULL OR cs.confirmed_qty <> COALESCE(a.available, 0))"#,
    )
    .bind(to.channel)
    .bind(to.channel)
    .bind(to.unstocked)
    .fetch_all(pool)
    .await
}

/// Every product WooCommerce may be pushed (`unstocked` as in [`Audience`]).
pub async fn woo_pushable(pool: &MySqlPool, unstocked: bool) -> Result<BTreeSet<u64>, sqlx::Error> {
    let ids = sqlx::query_scalar::<_, u64>(
        r#"SELECT p.id FROM products p
           LEFT JOIN (SELECT DISTINCT COALESCE(c.stock_holder_id, c.id) AS holder FROM inventory_lots l JOIN products c ON c.id = l.product_id) h
                  ON h.holder = p.id
           WHERE p.status = 'active' AND p.woo_id IS NOT NULL AND p.manage_stock AND (? OR h.holder IS NOT NULL)"#,
    )
    .bind(unstocked)
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().collect())
}

/// A product as WooCommerce knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct WooItem {
    pub id: u64,
    pub woo_id: u64,
    pub woo_parent_id: Option<u64>,
}

/// The WooCommerce ids of those of `products` that manage stock there.
pub async fn woo_items(pool: &MySqlPool, products: &BTreeSet<u64>) -> Result<Vec<WooItem>, sqlx::Error> {
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<u64> = products.iter().copied().collect();
    sqlx::query_as::<_, WooItem>(
        r#"SELECT p.id, p.woo_id, p.woo_parent_id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids
           JOIN products p ON p.id = ids.id WHERE p.woo_id IS NOT NULL AND p.manage_stock ORDER BY p.id"#,
    )
    .bind(crate::db::json_list(&ids))
    .fetch_all(pool)
    .await
}

/// The product holding the stock, for WooCommerce ids (of products that
/// manage stock, and of variations whose parent holds it).
pub async fn holders_by_woo_id(pool: &MySqlPool, woo_ids: &BTreeSet<u64>) -> Result<HashMap<u64, u64>, sqlx::Error> {
    if woo_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<u64> = woo_ids.iter().copied().collect();
    let rows = sqlx::query_as::<_, (u64, u64)>(
        r#"SELECT p.woo_id, COALESCE(p.stock_holder_id, p.id) AS id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids
           JOIN products p ON p.woo_id = ids.id WHERE p.woo_id IS NOT NULL AND (p.manage_stock OR p.stock_holder_id IS NOT NULL)"#,
    )
    .bind(crate::db::json_list(&ids))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// SKU of every product WooCommerce knows.
pub async fn woo_skus(pool: &MySqlPool) -> Result<HashMap<u64, String>, sqlx::Error> {
    let rows = sqlx::query_as::<_, (u64, String)>("SELECT id, sku FROM products WHERE woo_id IS NOT NULL").fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// A product's lots with free units, oldest first: (free units, unit cost in minor units).
pub async fn free_lots(pool: &MySqlPool, product_id: u64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as::<_, (i64, i64)>(
        r#"SELECT CAST(qty_remaining - qty_reserved AS SIGNED) AS free, unit_cost_minor FROM inventory_lots
           WHERE product_id = ? AND qty_remaining > qty_reserved ORDER BY received_at, id"#,
    )
    .bind(product_id)
    .fetch_all(pool)
    .await
}

/// A lot as the receiving page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LotListing {
    pub id: LotId,
    pub sku: String,
    pub lot_ref: String,
    pub received_at: NaiveDateTime,
    pub qty_remaining: u32,
    pub qty_reserved: u32,
    pub unit_cost_minor: i64,
}

/// Up to `limit` SKUs with at least `qty` units left in their lots, oldest product first.
pub async fn skus_with_at_least(pool: &MySqlPool, qty: u32, limit: u32) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        r#"SELECT p.sku FROM products p JOIN inventory_lots l ON l.product_id = p.id
           GROUP BY p.id, p.sku HAVING SUM(l.qty_remaining) >= ? ORDER BY p.id LIMIT ?"#,
    )
    .bind(qty)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The `limit` most recently received lots, newest first.
pub async fn recent_lots(pool: &MySqlPool, limit: u32) -> Result<Vec<LotListing>, sqlx::Error> {
    sqlx::query_as::<_, LotListing>(
        r#"SELECT l.id, p.sku, l.lot_ref, l.received_at, l.qty_remaining, l.qty_reserved, l.unit_cost_minor
           FROM inventory_lots l JOIN products p ON p.id = l.product_id ORDER BY l.id DESC LIMIT ?"#,
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// What the appliance holds, at a glance.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Summary {
    /// Active products.
    pub products: i64,
    /// Lots with units left.
    pub lots: i64,
    /// Units on hand (reserved ones included).
    pub units: i64,
    /// Orders in one of the tenant's open statuses.
    pub open_orders: i64,
    /// Lines of open orders still short of stock.
    pub backordered: i64,
}

/// The summary, counting as open the orders whose WooCommerce status is
/// one of `open_statuses` (the tenant's `woocommerce.order_statuses`).
pub async fn summary(pool: &MySqlPool, open_statuses: &[String]) -> Result<Summary, sqlx::Error> {
    let statuses = crate::db::json_list(open_statuses);
    sqlx::query_as::<_, Summary>(
        r#"SELECT (SELECT COUNT(*) FROM products WHERE status = 'active') AS products,
                  (SELECT COUNT(*) FROM inventory_lots WHERE qty_remaining > 0) AS lots,
                  (SELECT CAST(COALESCE(SUM(qty_remaining), 0) AS SIGNED) FROM inventory_lots) AS units,
                  (SELECT COUNT(*) FROM orders WHERE JSON_CONTAINS(?, JSON_QUOTE(status))) AS open_orders,
                  (SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id
                    WHERE l.backordered_qty > 0 AND NOT l.removed AND JSON_CONTAINS(?, JSON_QUOTE(o.status))) AS backordered"#,
    )
    .bind(&statuses)
    .bind(&statuses)
    .fetch_one(pool)
    .await
}

/// One lot with its product, as its page and its label show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LotDetail {
    pub id: LotId,
    pub product_id: u64,
    pub sku: String,
    pub name: String,
    pub lot_ref: String,
    /// Where the lot is kept: its own location, else the product's bin.
    pub location: String,
    pub received_at: NaiveDateTime,
    pub qty_received: u32,
    pub qty_remaining: u32,
    pub qty_reserved: u32,
    pub unit_cost_minor: i64,
    pub expires_on: Option<chrono::NaiveDate>,
    pub invoice_ref: Option<String>,
}

/// Lot `id`, or `None`.
pub async fn lot(pool: &MySqlPool, id: LotId) -> Result<Option<LotDetail>, sqlx::Error> {
    sqlx::query_as::<_, LotDetail>(
        r#"SELECT l.id, l.product_id, p.sku, p.name, l.lot_ref, COALESCE(NULLIF(l.location, ''), p.bin, '') AS location, l.received_at,
                  l.qty_received, l.qty_remaining, l.qty_reserved, l.unit_cost_minor, l.expires_on, i.invoice_ref
           FROM inventory_lots l JOIN products p ON p.id = l.product_id LEFT JOIN supplier_invoices i ON i.id = l.supplier_invoice_id
           WHERE l.id = ?"#,
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The lots a supplier invoice brought in, in the order they were received.
pub async fn lots_of_invoice(pool: &MySqlPool, invoice_id: u64) -> Result<Vec<LotDetail>, sqlx::Error> {
    sqlx::query_as::<_, LotDetail>(
        r#"SELECT l.id, l.product_id, p.sku, p.name, l.lot_ref, COALESCE(NULLIF(l.location, ''), p.bin, '') AS location, l.received_at,
                  l.qty_received, l.qty_remaining, l.qty_reserved, l.unit_cost_minor, l.expires_on, i.invoice_ref
           FROM inventory_lots l JOIN products p ON p.id = l.product_id LEFT JOIN supplier_invoices i ON i.id = l.supplier_invoice_id
           WHERE l.supplier_invoice_id = ? ORDER BY l.id"#,
    )
    .bind(invoice_id)
    .fetch_all(pool)
    .await
}
