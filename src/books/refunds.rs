//! Refunds and returns: what was refunded (goods, shipping, tax) and which
//! units came back into stock. A refund is written once (a WooCommerce
//! refund by its id) and posts when the order's sale has posted.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

use super::{Books, BooksError};
use crate::channels::woocommerce::types::{Order, Refund};
use crate::ids::OrderId;
use crate::inventory::returns::{self, ReturnError};
use crate::money;

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

/// What importing one order's WooCommerce refunds did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub refunds: u32,
    pub units_restocked: u32,
}

/// The WooCommerce refunds of `order` Quartermaster has not recorded, by id.
pub async fn unseen(pool: &MySqlPool, orders: &[Order]) -> Result<Vec<u64>, sqlx::Error> {
    let ids: Vec<u64> = orders.iter().flat_map(|o| o.refunds.iter().map(|r| r.id)).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let known: Vec<u64> = sqlx::query_scalar(
        "SELECT woo_refund_id FROM order_refunds WHERE woo_refund_id IS NOT NULL AND woo_refund_id IN (SELECT id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids)",
    )
    .bind(crate::db::json_list(&ids))
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().filter(|i| !known.contains(i)).collect())
}

/// Records the refunds WooCommerce made on `order` (as read by
/// `GET orders/<id>/refunds`) that are not recorded yet, oldest first.
///
/// Each refund splits into goods (its product and fee lines, plus any amount
/// refunded without items), shipping and tax, from the refund's own items.
/// Units come back into stock as WooCommerce put them back: the order line's
/// `_restock_refunded_items` (cumulative) less what earlier refunds restocked
/// here, given to the new refunds in order, each up to the units it refunded.
/// Units refunded before they shipped never left their lots: they are not
/// restocked here (the order mirror nets them out of the line and releases
/// them).
pub async fn import_woo(pool: &MySqlPool, books: &Books, order: &Order, refunds: &[Refund]) -> Result<Imported, BooksError> {
    let mut out = Imported::default();
    let Some(order_id) =
        sqlx::query_scalar::<_, OrderId>("SELECT id FROM orders WHERE woo_id = ?").bind(order.id).fetch_optional(pool).await?
    else {
        return Err(BooksError::Invalid(format!("order: WooCommerce order {} is not mirrored yet", order.id)));
    };
    let known: Vec<u64> = sqlx::query_scalar("SELECT woo_refund_id FROM order_refunds WHERE order_id = ? AND woo_refund_id IS NOT NULL")
        .bind(order_id)
        .fetch_all(pool)
        .await?;
    let lines: HashMap<u64, u64> = sqlx::query_as::<_, (u64, u64)>("SELECT woo_line_id, id FROM order_lines WHERE order_id = ?")
        .bind(order_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
    // Per line: units restocked here already, and units shipped and not yet back.
    let here: HashMap<u64, (i64, i64)> = sqlx::query_as::<_, (u64, i64, i64)>(
        r#"SELECT l.id,
                  CAST(COALESCE((SELECT SUM(x.quantity) FROM order_refund_lines x WHERE x.order_line_id = l.id), 0) AS SIGNED),
                  CAST(COALESCE((SELECT SUM(r.quantity) FROM stock_reservations r WHERE r.order_line_id = l.id AND r.status = 'consumed'), 0)
                     - COALESCE((SELECT SUM(a.delta) FROM inventory_adjustments a WHERE a.order_line_id = l.id AND a.reason = 'return'), 0) AS SIGNED)
           FROM order_lines l WHERE l.order_id = ?"#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, restocked, out)| (id, (restocked, out)))
    .collect();
    let mut budget: HashMap<u64, i64> = order
        .line_items
        .iter()
        .filter_map(|l| lines.get(&l.id).map(|ours| (*ours, l.restocked_by_refunds() - here.get(ours).map_or(0, |h| h.0))))
        .collect();
    let mut shipped: HashMap<u64, i64> = here.iter().map(|(l, h)| (*l, h.1)).collect();
    let exp = money::exponent(&order.currency);
    let minor = |what: &str, t: &str| -> Result<i64, BooksError> {
        if t.trim().is_empty() {
            return Ok(0);
        }
        money::parse_minor(t, exp).map_err(|e| BooksError::Invalid(format!("refund {what}: {e}")))
    };
    let mut new: Vec<&Refund> = refunds.iter().filter(|r| !known.contains(&r.id)).collect();
    new.sort_by_key(|r| r.id);
    for r in new {
        let (mut goods, mut shipping, mut tax) = (0i64, 0i64, 0i64);
        for it in r.line_items.iter().chain(&r.fee_lines) {
            goods -= minor(&format!("{} line total", r.id), &it.total)?;
            tax -= minor(&format!("{} line tax", r.id), &it.total_tax)?;
        }
        for it in &r.shipping_lines {
            shipping -= minor(&format!("{} shipping total", r.id), &it.total)?;
            tax -= minor(&format!("{} shipping tax", r.id), &it.total_tax)?;
        }
        let amount = minor(&format!("{} amount", r.id), &r.amount)?;
        // Refunded by amount without items: the sale is what it reverses.
        goods += (amount - goods - shipping - tax).max(0);
        let mut restock = Vec::new();
        for it in &r.line_items {
            let Some(line) = it.refunded_item().and_then(|w| lines.get(&w)).copied() else { continue };
            let b = budget.entry(line).or_default();
            let want = (-it.quantity).clamp(0, (*b).max(0));
            *b -= want;
            let s = shipped.entry(line).or_default();
            let n = want.min((*s).max(0));
            *s -= n;
            // Units refunded before they shipped never left their lots: the
            // order mirror nets them out of the line and releases them.
            if let Ok(n) = u32::try_from(n) {
                if n > 0 {
                    restock.push((line, n));
                    out.units_restocked += n;
                }
            }
        }
        let refunded_at = NaiveDateTime::parse_from_str(&r.date_created_gmt, "%Y-%m-%dT%H:%M:%S")
            .map_err(|e| BooksError::Invalid(format!("refund {} date_created_gmt {:?}: {e}", r.id, r.date_created_gmt)))?;
        let refund = NewRefund {
            order_id,
            woo_refund_id: Some(r.id),
            goods_minor: goods,
            shipping_minor: shipping,
            tax_minor: tax,
            restock,
            reason: r.reason.clone(),
            refunded_at,
        };
        record(pool, books, &refund).await?;
        out.refunds += 1;
    }
    Ok(out)
}
