//! Refunds and returns: what was refunded (goods, shipping, tax) and which
//! units came back into stock. A refund is written once (a WooCommerce
//! refund by its id) and posts when the order's sale has posted.

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

use super::{Books, BooksError};
use crate::ids::OrderId;
use crate::inventory::returns::{self, ReturnError};

/// A refund to record.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub order_id: OrderId,
    pub woo_refund_id: Option<u64>,
    pub goods_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    /// Units to put back into stock, per order line; empty for a refund without restock.
    pub restock: Vec<(u64, u32)>,
    pub reason: String,
    pub refunded_at: NaiveDateTime,
}

/// Records a refund and restocks its units in one transaction. Returns the
/// refund's id; a WooCommerce refund seen before returns its first id.
pub async fn record(pool: &MySqlPool, books: &Books, r: &NewRefund) -> Result<u64, BooksError> {
    if r.goods_minor < 0 || r.shipping_minor < 0 || r.tax_minor < 0 {
        return Err(BooksError::Invalid("amount: refunded parts cannot be negative".into()));
    }
    let total = r.goods_minor + r.shipping_minor + r.tax_minor;
    if total == 0 {
        return Err(BooksError::Invalid("amount: a refund must refund something".into()));
    }
    let mut tx = pool.begin().await?;
    if let Some(woo) = r.woo_refund_id {
        if let Some(id) =
            sqlx::query_scalar::<_, u64>("SELECT id FROM order_refunds WHERE woo_refund_id = ?").bind(woo).fetch_optional(&mut *tx).await?
        {
            return Ok(id);
        }
    }
    let (order_total, refunded): (i64, i64) = sqlx::query_as(
        r#"SELECT o.total_minor, CAST(COALESCE((SELECT SUM(goods_minor + shipping_minor + tax_minor) FROM order_refunds f WHERE f.order_id = o.id), 0) AS SIGNED)
           FROM orders o WHERE o.id = ? FOR UPDATE"#,
    )
    .bind(r.order_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| BooksError::Invalid(format!("order: no order {}", r.order_id)))?;
    if refunded + total > order_total {
        return Err(BooksError::Invalid(format!(
            "amount: {} would refund more than the order's {} ({} refunded already)",
            books.money(total),
            books.money(order_total),
            books.money(refunded)
        )));
    }
    let reason: String = r.reason.chars().take(255).collect();
    let id = sqlx::query(
        r#"INSERT INTO order_refunds (order_id, woo_refund_id, goods_minor, shipping_minor, tax_minor, restock, reason, refunded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)"#,
    )
    .bind(r.order_id)
    .bind(r.woo_refund_id)
    .bind(r.goods_minor)
    .bind(r.shipping_minor)
    .bind(r.tax_minor)
    .bind(!r.restock.is_empty())
    .bind(&reason)
    .bind(r.refunded_at)
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    for (line, qty) in r.restock.iter().filter(|(_, q)| *q > 0) {
        let of_order: Option<u64> = sqlx::query_scalar("SELECT id FROM order_lines WHERE id = ? AND order_id = ?")
            .bind(line)
            .bind(r.order_id)
            .fetch_optional(&mut *tx)
            .await?;
        if of_order.is_none() {
            return Err(BooksError::Invalid(format!("restock: line {line} is not a line of this order")));
        }
        sqlx::query("INSERT INTO order_refund_lines (refund_id, order_line_id, quantity) VALUES (?, ?, ?)")
            .bind(id)
            .bind(line)
            .bind(qty)
            .execute(&mut *tx)
            .await?;
        returns::restock(&mut tx, id, *line, *qty, books.restock_to).await.map_err(|e| match e {
            ReturnError::Db(e) => BooksError::Db(e),
            other => BooksError::Invalid(format!("restock: {other}")),
        })?;
    }
    tx.commit().await?;
    Ok(id)
}
