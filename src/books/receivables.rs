//! Receivables: orders paid by a purchase-order method (the tenant's
//! `ar_payment_methods`) are owed until paid. A payment is entered (date,
//! reference) or taken from WooCommerce when it marks the order paid.

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::MySqlPool;

use super::{Books, BooksError};
use crate::ids::{OperatorId, OrderId};

/// One receivable order with what is still owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Receivable {
    pub order_id: OrderId,
    pub number: String,
    pub customer_name: String,
    pub payment_method: String,
    pub invoiced_at: chrono::NaiveDateTime,
    pub total_minor: i64,
    pub paid_minor: i64,
    pub refunded_minor: i64,
}

impl Receivable {
    pub fn outstanding(&self) -> i64 {
        self.total_minor - self.paid_minor - self.refunded_minor
    }
}

/// Aging buckets, by days since the sale posted.
pub const BUCKETS: [&str; 5] = ["current", "1-30", "31-60", "61-90", "90+"];

/// The bucket for an invoice `days` old (net 0: due the day it is invoiced).
pub fn bucket(days: i64) -> usize {
    match days {
        i64::MIN..=0 => 0,
        1..=30 => 1,
        31..=60 => 2,
        61..=90 => 3,
        _ => 4,
    }
}

/// Every receivable order whose sale has posted, oldest first, with its
/// payments and refunds; `open_only` leaves out those fully settled.
pub async fn list(pool: &MySqlPool, books: &Books, open_only: bool) -> Result<Vec<Receivable>, sqlx::Error> {
    let methods = crate::db::json_list(&books.ar_methods);
    let rows = sqlx::query_as::<_, Receivable>(
        r#"SELECT o.id AS order_id, o.number, o.customer_name, COALESCE(o.payment_method, '') AS payment_method, e.occurred_at AS invoiced_at,
                  o.total_minor,
                  CAST(COALESCE((SELECT SUM(p.amount_minor) FROM ar_payments p WHERE p.order_id = o.id), 0) AS SIGNED) AS paid_minor,
                  CAST(COALESCE((SELECT SUM(r.goods_minor + r.shipping_minor + r.tax_minor) FROM order_refunds r WHERE r.order_id = o.id), 0) AS SIGNED) AS refunded_minor
           FROM orders o JOIN journal_entries e ON e.order_id = o.id AND e.source_type = 'shipment'
             AND e.source_id = (SELECT MIN(s.source_id) FROM journal_entries s WHERE s.order_id = o.id AND s.source_type = 'shipment')
           WHERE JSON_CONTAINS(?, JSON_QUOTE(o.payment_method))
           ORDER BY e.occurred_at, o.id"#,
    )
    .bind(methods)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter(|r| !open_only || r.outstanding() != 0).collect())
}

/// Enters a payment against a receivable order.
pub async fn pay(
    pool: &MySqlPool,
    books: &Books,
    order_id: OrderId,
    amount_minor: i64,
    paid_on: NaiveDate,
    reference: &str,
    operator: Option<OperatorId>,
) -> Result<u64, BooksError> {
    let reference = reference.trim();
    if reference.is_empty() || reference.chars().count() > 64 {
        return Err(BooksError::Invalid("reference: 1 to 64 characters (the cheque or remittance number)".into()));
    }
    if amount_minor <= 0 {
        return Err(BooksError::Invalid("amount: a payment must be more than zero".into()));
    }
    let Some(r) = list(pool, books, false).await?.into_iter().find(|r| r.order_id == order_id) else {
        return Err(BooksError::Invalid(format!("order: {order_id} is not a receivable whose sale has posted")));
    };
    if amount_minor > r.outstanding() {
        return Err(BooksError::Invalid(format!(
            "amount: {} is more than the {} outstanding",
            books.money(amount_minor),
            books.money(r.outstanding())
        )));
    }
    let inserted = sqlx::query(
        "INSERT INTO ar_payments (order_id, amount_minor, paid_on, reference, source, operator_id) VALUES (?, ?, ?, ?, 'manual', ?)",
    )
    .bind(order_id)
    .bind(amount_minor)
    .bind(paid_on)
    .bind(reference)
    .bind(operator)
    .execute(pool)
    .await;
    match inserted {
        Ok(r) => Ok(r.last_insert_id()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(BooksError::Invalid(format!("reference: a payment with reference {reference} is already entered for this order")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Receivable orders WooCommerce has marked paid (`date_paid`) become paid
/// in full, once, dated the day it marked them.
pub async fn record_woo_payments(pool: &MySqlPool, books: &Books) -> Result<u32, BooksError> {
    if books.ar_methods.is_empty() {
        return Ok(0);
    }
    let paid: Vec<(OrderId, chrono::NaiveDateTime)> = sqlx::query_as(
        r#"SELECT o.id, o.paid_at FROM orders o
           WHERE o.paid_at IS NOT NULL AND JSON_CONTAINS(?, JSON_QUOTE(o.payment_method))
             AND NOT EXISTS (SELECT 1 FROM ar_payments p WHERE p.order_id = o.id AND p.source = 'woocommerce')"#,
    )
    .bind(crate::db::json_list(&books.ar_methods))
    .fetch_all(pool)
    .await?;
    if paid.is_empty() {
        return Ok(0);
    }
    let open = list(pool, books, true).await?;
    let mut n = 0;
    for (order_id, at) in paid {
        let Some(r) = open.iter().find(|r| r.order_id == order_id) else { continue };
        if r.outstanding() <= 0 {
            continue;
        }
        sqlx::query(
            "INSERT IGNORE INTO ar_payments (order_id, amount_minor, paid_on, reference, source) VALUES (?, ?, ?, 'woocommerce date_paid', 'woocommerce')",
        )
        .bind(order_id)
        .bind(r.outstanding())
        .bind(books.local_day(at))
        .execute(pool)
        .await?;
        n += 1;
    }
    Ok(n)
}
