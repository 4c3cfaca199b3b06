//! The order mirror: WooCommerce orders and their lines upserted into
//! `orders`/`order_lines`, matched to products by WooCommerce id, then SKU.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use sha2::{Digest as _, Sha256};
use sqlx::{MySql, MySqlPool, Transaction};

use super::reserve::{self, Outcome};
use crate::{
    channels::woocommerce::types::{Order, Refund},
    ids::OrderId,
    money,
};

/// The status the mirror gives an order the store deleted for good (WooCommerce
/// answers 404); `trash` is the store's own status for a trashed order.
pub const DELETED: &str = "deleted";
pub const TRASH: &str = "trash";

/// Why an order could not be mirrored.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("order {id}: {field} is malformed: {reason}")]
    Malformed { id: u64, field: &'static str, reason: String },
    #[error(
        "the cycle lost its advisory lock `{0}` (its database connection was killed or the server restarted); it stopped before writing more"
    )]
    LockLost(String),
    /// The database refused the order's content (a CHECK, a width, a range).
    #[error("order {id}: the database refused it: {reason}")]
    Refused { id: u64, reason: String },
    /// The store changed the lines of an order the station has packed or
    /// shipped: Quartermaster keeps what it packed and asks a person.
    #[error(
        "order #{number} was changed in the store after it was {state}: {what}. Quartermaster keeps what was {state}; put the order back as it was in the store, or unpack it at the station to take the change"
    )]
    Frozen { number: String, state: String, what: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// MariaDB errors that say a row's values were refused, not that the server failed:
/// CHECK (4025), too long (1406), out of range (1264), bad value (1366, 1292),
/// NULL (1048), a trigger's SIGNAL (1644).
fn refuses_the_data(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(d) = e else { return false };
    d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|m| matches!(m.number(), 4025 | 1406 | 1264 | 1366 | 1292 | 1048 | 1644))
}

/// An order the sync skipped, as the home page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reject {
    pub woo_order_id: u64,
    pub reason: String,
    pub attempts: u32,
    pub last_seen_at: NaiveDateTime,
}

/// Records that an order could not be taken; returns true when this is new
/// (first time, or a new version of the order), so it is announced once.
pub async fn reject(pool: &MySqlPool, woo_id: u64, modified_gmt: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let modified = NaiveDateTime::parse_from_str(modified_gmt, "%Y-%m-%dT%H:%M:%S").ok();
    let reason: String = reason.chars().take(512).collect();
    let before: Option<Option<NaiveDateTime>> =
        sqlx::query_scalar("SELECT woo_modified_at FROM sync_rejects WHERE woo_order_id = ?").bind(woo_id).fetch_optional(pool).await?;
    sqlx::query(
        r#"INSERT INTO sync_rejects (woo_order_id, woo_modified_at, reason) VALUES (?, ?, ?)
           ON DUPLICATE KEY UPDATE woo_modified_at = VALUES(woo_modified_at), reason = VALUES(reason),
                                   attempts = attempts + 1, last_seen_at = UTC_TIMESTAMP(6)"#,
    )
    .bind(woo_id)
    .bind(modified)
    .bind(&reason)
    .execute(pool)
    .await?;
    Ok(before.is_none_or(|b| b != modified))
}

/// WooCommerce ids of the skipped orders, to be read again each cycle (a fix
/// made in WooCommerce does not always move the order's modified date).
pub async fn rejected_ids(pool: &MySqlPool) -> Result<Vec<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT woo_order_id FROM sync_rejects ORDER BY woo_order_id LIMIT 1000").fetch_all(pool).await
}

/// Forgets a skipped order (a later version mirrored cleanly).
pub async fn clear_reject(pool: &MySqlPool, woo_id: u64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sync_rejects WHERE woo_order_id = ?").bind(woo_id).execute(pool).await?;
    Ok(())
}

/// Forgets skipped orders the store no longer has.
pub async fn forget_rejects(pool: &MySqlPool, woo_ids: &[u64]) -> Result<(), sqlx::Error> {
    if !woo_ids.is_empty() {
        sqlx::query("DELETE FROM sync_rejects WHERE woo_order_id IN (SELECT id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids)")
            .bind(crate::db::json_list(woo_ids))
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Orders the sync skipped, most recent first.
pub async fn rejects(pool: &MySqlPool) -> Result<Vec<Reject>, sqlx::Error> {
    sqlx::query_as("SELECT woo_order_id, reason, attempts, last_seen_at FROM sync_rejects ORDER BY last_seen_at DESC LIMIT 100")
        .fetch_all(pool)
        .await
}

/// What happened to one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    /// New or changed: reservations must follow.
    Changed(OrderId),
    /// The same version as stored: nothing to do.
    Unchanged(OrderId),
}

fn gmt(id: u64, field: &'static str, s: &str) -> Result<NaiveDateTime, MirrorError> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").map_err(|e| MirrorError::Malformed { id, field, reason: e.to_string() })
}

/// What the mirror follows of an order, as a short fingerprint: its status,
/// each line's item and quantity, and its refunds. WooCommerce edits lines
/// through REST without moving `date_modified_gmt`, so the date alone cannot
/// say an order is unchanged.
pub fn digest(o: &Order) -> String {
    let mut lines: Vec<(u64, u64, u64, i64)> = o.line_items.iter().map(|l| (l.id, l.product_id, l.variation_id, l.quantity)).collect();
    lines.sort_unstable();
    let mut refunds: Vec<u64> = o.refunds.iter().map(|r| r.id).collect();
    refunds.sort_unstable();
    let text = format!("{}|{lines:?}|{refunds:?}", o.status);
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// The refund ids of an order, as the mirror keeps them (`woo_refund_ids`).
pub fn refund_ids(o: &Order) -> String {
    let mut ids: Vec<u64> = o.refunds.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Units refunded per WooCommerce line item, from the order's refunds
/// (`GET orders/<id>/refunds`: each item's quantity is negative and names
/// the line it refunds in `_refunded_item_id`).
pub fn refunded_per_line(refunds: &[Refund]) -> HashMap<u64, u32> {
    let mut out: HashMap<u64, u32> = HashMap::new();
    for it in refunds.iter().flat_map(|r| &r.line_items) {
        if let Some(line) = it.refunded_item() {
            let units = u32::try_from(it.quantity.unsigned_abs()).unwrap_or(u32::MAX);
            let e = out.entry(line).or_default();
            *e = e.saturating_add(units);
        }
    }
    out
}

/// The refund ids each of these store orders was last netted for (orders
/// not mirrored are absent): an order whose refunds differ is read again.
pub async fn netted_refunds(pool: &MySqlPool, woo_ids: &[u64]) -> Result<HashMap<u64, String>, sqlx::Error> {
    if woo_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(sqlx::query_as::<_, (u64, String)>(
        "SELECT woo_id, woo_refund_ids FROM orders WHERE woo_id IN (SELECT id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids)",
    )
    .bind(crate::db::json_list(woo_ids))
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect())
}

/// The store orders Quartermaster holds something for: open reservations or
/// a pick-queue row not shipped. The open-order reconciliation reads these by id.
pub async fn open_woo_ids(pool: &MySqlPool) -> Result<Vec<u64>, sqlx::Error> {
    sqlx::query_scalar(
        r#"SELECT o.woo_id FROM orders o
           WHERE o.status <> 'deleted'
             AND (EXISTS (SELECT 1 FROM order_lines l JOIN stock_reservations r ON r.order_line_id = l.id
                          WHERE l.order_id = o.id AND r.status = 'open')
                  OR EXISTS (SELECT 1 FROM pick_queue q WHERE q.order_id = o.id AND q.status <> 'shipped'))
           ORDER BY o.woo_id"#,
    )
    .fetch_all(pool)
    .await
}

/// The products (stock holders) an order's lines sell.
pub async fn products_of(pool: &MySqlPool, order_id: OrderId) -> Result<Vec<u64>, sqlx::Error> {
    sqlx::query_scalar(
        r#"SELECT DISTINCT COALESCE(p.stock_holder_id, p.id) FROM order_lines l JOIN products p ON p.id = l.product_id
           WHERE l.order_id = ? ORDER BY 1"#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
}

/// Upserts an order and its lines in a transaction of its own.
pub async fn upsert(pool: &MySqlPool, o: &Order) -> Result<Mirrored, MirrorError> {
    let mut tx = pool.begin().await?;
    let m = upsert_in(&mut tx, o).await?;
    tx.commit().await?;
    Ok(m)
}

/// Mirrors an order and brings its reservations in line, in **one**
/// transaction: a crash (or a killed connection) leaves either both or
/// neither, so no order is ever mirrored without its reservation. `guard`
/// is checked inside the transaction, so a cycle that lost its advisory lock
/// writes nothing more. Deadlocks and lock-wait timeouts are retried.
///
/// `refunds`: the order's refunds as just read from the store, when its
/// refund ids changed (its lines are netted again); `None` keeps the units
/// refunded as last netted.
pub async fn mirror_and_reserve(
    pool: &MySqlPool,
    o: &Order,
    refunds: Option<&[Refund]>,
    reservable: &[String],
    guard: Option<&LockCheck>,
    queue: &dyn reserve::PickQueue,
) -> Result<(Mirrored, Outcome, Option<String>), MirrorError> {
    let mut attempt = 0u32;
    loop {
        let mut tx = pool.begin().await?;
        let result = async {
            if let Some(g) = guard {
                g.check(&mut tx).await?;
            }
            let (m, was) = mirror_in(&mut tx, o, refunds, Some(queue)).await?;
            let outcome = match m {
                Mirrored::Changed(id) => reserve::reserve_in(&mut tx, id, reservable, queue).await?,
                Mirrored::Unchanged(_) => Outcome::default(),
            };
            Ok::<_, MirrorError>((m, outcome, was))
        }
        .await;
        match result {
            Ok(v) => {
                tx.commit().await?;
                return Ok(v);
            }
            Err(MirrorError::Db(e)) if attempt < 8 && reserve::is_retryable(&e) => {
                let _ = tx.rollback().await;
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 * (1 << attempt.min(6)))).await;
            }
            Err(MirrorError::Db(e)) if refuses_the_data(&e) => {
                let _ = tx.rollback().await;
                let reason = match &e {
                    sqlx::Error::Database(d) => d.message().to_owned(),
                    other => other.to_string(),
                };
                return Err(MirrorError::Refused { id: o.id, reason });
            }
            Err(e) => return Err(e),
        }
    }
}

pub use crate::db::lock::LockCheck;

impl From<crate::db::lock::CheckError> for MirrorError {
    fn from(e: crate::db::lock::CheckError) -> Self {
        match e {
            crate::db::lock::CheckError::Lost(name) => MirrorError::LockLost(name),
            crate::db::lock::CheckError::Db(e) => MirrorError::Db(e),
        }
    }
}

/// Marks an order the store deleted for good and releases what it held, in
/// one transaction (the lock checked inside). An order already packed is not
/// touched: it is [`MirrorError::Frozen`], for a person.
/// Returns the order (none: never mirrored) and what was released.
pub async fn mirror_deleted(
    pool: &MySqlPool,
    woo_id: u64,
    reservable: &[String],
    guard: Option<&LockCheck>,
    queue: &dyn reserve::PickQueue,
) -> Result<Option<(OrderId, String, Outcome)>, MirrorError> {
    let mut tx = pool.begin().await?;
    if let Some(g) = guard {
        g.check(&mut tx).await?;
    }
    let Some((id, number, status)) =
        sqlx::query_as::<_, (OrderId, String, String)>("SELECT id, number, status FROM orders WHERE woo_id = ? FOR UPDATE")
            .bind(woo_id)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(None);
    };
    if status == DELETED {
        return Ok(Some((id, number, Outcome::default())));
    }
    // A shipped order deleted is housekeeping; a packed one is a parcel on the bench.
    if let Some(state) = queue.frozen(&mut tx, id).await?.filter(|s| s == "packed") {
        return Err(MirrorError::Frozen { number, state, what: "it was deleted".into() });
    }
    sqlx::query("UPDATE orders SET status = 'deleted', gone_at = COALESCE(gone_at, UTC_TIMESTAMP(6)) WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let outcome = reserve::reserve_in(&mut tx, id, reservable, queue).await?;
    tx.commit().await?;
    Ok(Some((id, number, outcome)))
}

/// Upserts an order and its lines inside the caller's transaction. Re-reading
/// the same version changes nothing.
pub async fn upsert_in(tx: &mut Transaction<'_, MySql>, o: &Order) -> Result<Mirrored, MirrorError> {
    Ok(mirror_in(tx, o, None, None).await?.0)
}

/// The mirror's work: see [`upsert_in`] and [`mirror_and_reserve`]. With a
/// queue, an order it holds packed or shipped keeps its lines. Returns the
/// order's status before (none: new).
async fn mirror_in(
    tx: &mut Transaction<'_, MySql>,
    o: &Order,
    refunds: Option<&[Refund]>,
    queue: Option<&dyn reserve::PickQueue>,
) -> Result<(Mirrored, Option<String>), MirrorError> {
    let modified = gmt(o.id, "date_modified_gmt", &o.date_modified_gmt)?;
    let created = gmt(o.id, "date_created_gmt", &o.date_created_gmt)?;
    let exp = money::exponent(&o.currency);
    let amount = |field: &'static str, s: &str| -> Result<i64, MirrorError> {
        if s.is_empty() {
            Ok(0)
        } else {
            money::parse_minor(s, exp).map_err(|e| MirrorError::Malformed { id: o.id, field, reason: e.to_string() })
        }
    };
    let total = amount("total", &o.total)?;
    let tax = amount("total_tax", &o.total_tax)?;
    let shipping = amount("shipping_total", &o.shipping_total)?;
    // A fee the gateway recorded that cannot be read is left to the tenant's rule, not a reason to drop the order.
    let fee = o.gateway_fee().and_then(|(source, text)| money::parse_minor(&text, exp).ok().filter(|f| *f >= 0).map(|f| (f, source)));
    let paid = match o.date_paid_gmt.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => Some(gmt(o.id, "date_paid_gmt", d)?),
        None => None,
    };
    let mut lines = Vec::with_capacity(o.line_items.len());
    for li in &o.line_items {
        let qty = u32::try_from(li.quantity).map_err(|_| MirrorError::Malformed {
            id: o.id,
            field: "line_items.quantity",
            reason: format!("{} is not a positive count", li.quantity),
        })?;
        lines.push((li, qty, amount("line_items.total", &li.total)?));
    }

    let digest = digest(o);
    let existing = sqlx::query_as::<_, (OrderId, String, NaiveDateTime, Option<String>)>(
        "SELECT id, status, woo_modified_at, woo_digest FROM orders WHERE woo_id = ? FOR UPDATE",
    )
    .bind(o.id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((id, status, same_version, same_digest)) = &existing {
        if *same_version == modified && *status == o.status && same_digest.as_deref() == Some(digest.as_str()) {
            return Ok((Mirrored::Unchanged(*id), Some(status.clone())));
        }
    }
    // What each line is to fulfil: ordered less refunded (as netted before, unless the refunds were read again).
    let stored: HashMap<u64, (u32, u32)> = match &existing {
        Some((id, ..)) => sqlx::query_as::<_, (u64, u32, u32, bool)>(
            "SELECT woo_line_id, quantity, qty_refunded, removed FROM order_lines WHERE order_id = ?",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|(w, q, r, removed)| (w, (if removed { 0 } else { q }, r)))
        .collect(),
        None => HashMap::new(),
    };
    let fresh = refunds.map(refunded_per_line);
    let refunded_of = |woo_line: u64| match &fresh {
        Some(f) => f.get(&woo_line).copied().unwrap_or(0),
        None => stored.get(&woo_line).map_or(0, |s| s.1),
    };
    let mut fulfil: Vec<u32> = lines.iter().map(|(li, qty, _)| qty.saturating_sub(refunded_of(li.id))).collect();
    if let (Some(q), Some((id, ..))) = (queue, &existing) {
        if let Some(state) = q.frozen(tx, *id).await? {
            if o.status == TRASH && state == "packed" {
                return Err(MirrorError::Frozen { number: o.number.clone(), state, what: "it was trashed".into() });
            }
            let now: HashMap<u64, u32> = lines.iter().zip(&fulfil).filter(|(_, n)| **n > 0).map(|((li, ..), n)| (li.id, *n)).collect();
            let was: HashMap<u64, u32> = stored.iter().filter(|(_, s)| s.0 > 0).map(|(w, s)| (*w, s.0)).collect();
            let ordered_was_fulfilled = lines.iter().all(|(li, qty, _)| stored.get(&li.id).map_or(*qty == 0, |s| s.0 == *qty || s.1 > 0));
            if now != was {
                if state == "shipped" && ordered_was_fulfilled && lines.len() >= was.len() {
                    // Refunded after it shipped: a return (the books' path); what shipped stays.
                    fulfil = lines.iter().map(|(li, ..)| stored.get(&li.id).map_or(0, |s| s.0)).collect();
                } else {
                    let what = describe_change(o, &was, &now);
                    return Err(MirrorError::Frozen { number: o.number.clone(), state, what });
                }
            }
        }
    }
    let customer = format!("{} {}", o.billing.first_name, o.billing.last_name).trim().to_owned();
    let shipping_method = o.shipping_lines.first().map(|s| s.method_id.clone()).filter(|s| !s.is_empty());
    let inserted = sqlx::query(
        r#"INSERT INTO orders (woo_id, number, status, currency, customer_name, customer_email, payment_method, shipping_method,
                               ship_name, ship_company, ship_address1, ship_address2, ship_city, ship_state, ship_postcode, ship_country, ship_phone,
                               total_minor, tax_minor, shipping_minor, gateway_fee_minor, gateway_fee_source, paid_at, woo_created_at, woo_modified_at,
                               woo_digest, woo_refund_ids, gone_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, IF(? IN ('trash', 'deleted'), UTC_TIMESTAMP(6), NULL))
           ON DUPLICATE KEY UPDATE number = VALUES(number), status = VALUES(status), currency = VALUES(currency),
               customer_name = VALUES(customer_name), customer_email = VALUES(customer_email), payment_method = VALUES(payment_method),
               shipping_method = VALUES(shipping_method), ship_name = VALUES(ship_name), ship_company = VALUES(ship_company),
               ship_address1 = VALUES(ship_address1), ship_address2 = VALUES(ship_address2), ship_city = VALUES(ship_city),
               ship_state = VALUES(ship_state), ship_postcode = VALUES(ship_postcode), ship_country = VALUES(ship_country),
               ship_phone = VALUES(ship_phone), total_minor = VALUES(total_minor), tax_minor = VALUES(tax_minor),
               shipping_minor = VALUES(shipping_minor), gateway_fee_minor = VALUES(gateway_fee_minor),
               gateway_fee_source = VALUES(gateway_fee_source), paid_at = VALUES(paid_at), woo_modified_at = VALUES(woo_modified_at),
               woo_digest = VALUES(woo_digest), woo_refund_ids = IF(?, VALUES(woo_refund_ids), woo_refund_ids),
               gone_at = IF(VALUES(status) IN ('trash', 'deleted'), COALESCE(gone_at, UTC_TIMESTAMP(6)), NULL)"#,
    )
    .bind(o.id)
    .bind(if o.number.is_empty() { o.id.to_string() } else { o.number.clone() })
    .bind(&o.status)
    .bind(&o.currency)
    .bind(&customer)
    .bind(non_empty(&o.billing.email))
    .bind(non_empty(&o.payment_method))
    .bind(&shipping_method)
    .bind(clip(format!("{} {}", o.shipping.first_name, o.shipping.last_name).trim(), 160))
    .bind(clip(&o.shipping.company, 160))
    .bind(clip(&o.shipping.address_1, 255))
    .bind(clip(&o.shipping.address_2, 255))
    .bind(clip(&o.shipping.city, 120))
    .bind(clip(&o.shipping.state, 64))
    .bind(clip(&o.shipping.postcode, 32))
    .bind(clip(&o.shipping.country.to_uppercase(), 2))
    .bind(clip(&o.shipping.phone, 40))
    .bind(total)
    .bind(tax)
    .bind(shipping)
    .bind(fee.map(|f| f.0))
    .bind(fee.map(|f| f.1))
    .bind(paid)
    .bind(created)
    .bind(modified)
    .bind(&digest)
    .bind(refund_ids(o))
    .bind(&o.status)
    .bind(refunds.is_some())
    .execute(&mut **tx)
    .await?;
    let (order_id, was) = match existing {
        Some((id, was, ..)) => (id, Some(was)),
        None => (OrderId(inserted.last_insert_id()), None),
    };
    for ((li, qty, line_total), fulfil) in lines.iter().zip(&fulfil) {
        let refunded = refunded_of(li.id);
        let woo_item = if li.variation_id > 0 { li.variation_id } else { li.product_id };
        let sku = li.sku.clone().unwrap_or_default();
        let product_id: Option<u64> =
            sqlx::query_scalar("SELECT id FROM products WHERE woo_id = ? OR (sku = ? AND sku <> '') ORDER BY woo_id = ? DESC LIMIT 1")
                .bind(woo_item)
                .bind(&sku)
                .bind(woo_item)
                .fetch_optional(&mut **tx)
                .await?;
        if *fulfil == 0 {
            // Removed from the order, or refunded in full before it shipped: nothing to pick.
            sqlx::query("UPDATE order_lines SET removed = TRUE, qty_ordered = ?, qty_refunded = ? WHERE order_id = ? AND woo_line_id = ?")
                .bind(qty)
                .bind(refunded)
                .bind(order_id)
                .bind(li.id)
                .execute(&mut **tx)
                .await?;
            continue;
        }
        // Fewer units than were picked (a refund or an edit mid-pick): the sheet counts what is wanted now.
        sqlx::query(
            r#"INSERT INTO order_lines (order_id, woo_line_id, product_id, woo_product_id, woo_variation_id, sku, name, quantity, qty_ordered, qty_refunded,
                                       unit_price_minor, total_minor)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON DUPLICATE KEY UPDATE product_id = VALUES(product_id), sku = VALUES(sku), name = VALUES(name),
                                       picked_qty = LEAST(picked_qty, VALUES(quantity)), backordered_qty = LEAST(backordered_qty, VALUES(quantity)),
                                       quantity = VALUES(quantity), qty_ordered = VALUES(qty_ordered), qty_refunded = VALUES(qty_refunded),
                                       unit_price_minor = VALUES(unit_price_minor), total_minor = VALUES(total_minor), removed = FALSE"#,
        )
        .bind(order_id)
        .bind(li.id)
        .bind(product_id)
        .bind(li.product_id)
        .bind((li.variation_id > 0).then_some(li.variation_id))
        .bind(&sku)
        .bind(li.name.chars().take(255).collect::<String>())
        .bind(fulfil)
        .bind(qty)
        .bind(refunded)
        .bind(line_total / i64::from(*qty))
        .bind(line_total)
        .execute(&mut **tx)
        .await?;
    }
    // Lines WooCommerce no longer lists were removed from the order.
    let keep: Vec<u64> = lines.iter().zip(&fulfil).filter(|(_, n)| **n > 0).map(|((li, ..), _)| li.id).collect();
    let existing_lines: Vec<(u64, u64)> = sqlx::query_as("SELECT id, woo_line_id FROM order_lines WHERE order_id = ? AND NOT removed")
        .bind(order_id)
        .fetch_all(&mut **tx)
        .await?;
    for (id, woo_line) in existing_lines {
        if !keep.contains(&woo_line) {
            sqlx::query("UPDATE order_lines SET removed = TRUE WHERE id = ?").bind(id).execute(&mut **tx).await?;
        }
    }
    Ok((Mirrored::Changed(order_id), was))
}

/// What changed on an order's lines, for a person: "line Widget 3 → 2".
fn describe_change(o: &Order, was: &HashMap<u64, u32>, now: &HashMap<u64, u32>) -> String {
    let name = |id: u64| o.line_items.iter().find(|l| l.id == id).map_or_else(|| format!("item {id}"), |l| l.name.clone());
    let mut ids: Vec<u64> = was.keys().chain(now.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter(|id| was.get(id) != now.get(id))
        .map(|id| format!("{} {} → {}", name(id), was.get(&id).copied().unwrap_or(0), now.get(&id).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// At most `max` characters (the column's width), cut on a character boundary.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

// The station's progress on an order's lines, kept on the lines themselves
// (the columns are the order lines'; the station decides, this writes).

/// Puts a line in package `seq` of its shipment.
pub async fn set_package_seq(conn: &mut sqlx::MySqlConnection, line_id: u64, seq: u16) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE order_lines SET package_seq = ? WHERE id = ?").bind(seq).bind(line_id).execute(conn).await?;
    Ok(())
}

/// Takes every line of an order out of its packages (to re-pack).
pub async fn clear_package_seqs(conn: &mut sqlx::MySqlConnection, order_id: OrderId) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE order_lines SET package_seq = NULL WHERE order_id = ?").bind(order_id).execute(conn).await?;
    Ok(())
}

/// The highest WooCommerce order id mirrored (0: none).
pub async fn max_woo_id(pool: &MySqlPool) -> Result<u64, sqlx::Error> {
    sqlx::query_scalar::<_, u64>("SELECT CAST(COALESCE(MAX(woo_id), 0) AS UNSIGNED) FROM orders").fetch_one(pool).await
}
