//! FIFO reservation: each order line takes stock from its product's lots,
//! oldest first (received_at, then lot id), possibly across several lots.
//!
//! One order is one transaction. The order row is locked first (two runs on
//! the same order queue up), then the order's lines, then every lot the
//! order needs in one statement ordered by (product, received_at, id) so two
//! orders can never lock lots in opposite orders. The lots' own CHECK
//! (`qty_reserved <= qty_remaining`) refuses an over-reservation even if the
//! code were wrong. None of this depends on the poller's advisory lock, so
//! other paths (an accepted quote, a manual re-reserve) are just as safe.
//!
//! Reserving is idempotent: it brings each line's reservations to what the
//! order wants now (its quantity while the order is in a reservable status,
//! zero otherwise), so re-reading the same order changes nothing, an edited
//! order reserves or releases the difference, a cancelled one releases all,
//! and a backordered line fills up when stock arrives.

use crate::ids::{LotId, OrderId};
use std::collections::HashMap;

use crate::db::lock::{CheckError, LockCheck};
use futures::future::BoxFuture;
use sqlx::{MySql, MySqlConnection, MySqlPool, Transaction};

/// Where an order stands for picking once its reservations are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Reservable and fully reserved.
    Ready,
    /// Reservable, some units still lacking.
    Backordered,
    /// Reservable but held by the merchant (WooCommerce `on-hold`).
    OnHold,
    /// Not reservable (cancelled, refunded, …): nothing to pick.
    Gone,
}

/// The pick queue as reservation sees it. The queue is the station's (it
/// owns `pick_queue`); reservation tells it where each order stands, inside
/// the same transaction, through this seam, so the arrow still points down.
pub trait PickQueue: Sync {
    fn follow<'c>(
        &'c self,
        conn: &'c mut MySqlConnection,
        order_id: OrderId,
        readiness: Readiness,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>>;

    /// The state of an order the station has packed or shipped (its lines
    /// are then what went in the box), none otherwise.
    fn frozen<'c>(&'c self, conn: &'c mut MySqlConnection, order_id: OrderId) -> BoxFuture<'c, Result<Option<String>, sqlx::Error>>;
}

/// What one call changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Lines whose reservations changed.
    pub lines_changed: u32,
    /// Units newly reserved.
    pub units_reserved: u32,
    /// Units released.
    pub units_released: u32,
    /// Units the order still lacks after this call.
    pub backordered: u32,
}

impl std::ops::AddAssign for Outcome {
    fn add_assign(&mut self, o: Self) {
        self.lines_changed += o.lines_changed;
        self.units_reserved += o.units_reserved;
        self.units_released += o.units_released;
        self.backordered += o.backordered;
    }
}

/// Brings one order's reservations in line with the order, retrying when
/// MariaDB picks this transaction as a deadlock victim.
pub async fn reserve_order(
    pool: &MySqlPool,
    order_id: OrderId,
    reservable: &[String],
    queue: &dyn PickQueue,
) -> Result<Outcome, sqlx::Error> {
    reserve_order_locked(pool, order_id, reservable, None, queue).await.map_err(|e| match e {
        CheckError::Db(e) => e,
        // Without a lock to check, none is lost.
        lost @ CheckError::Lost(_) => sqlx::Error::Protocol(lost.to_string()),
    })
}

/// [`reserve_order`] for a run that holds an advisory lock: `lock` is
/// checked inside the transaction that writes, so a run whose lock
/// connection died writes nothing more.
pub async fn reserve_order_locked(
    pool: &MySqlPool,
    order_id: OrderId,
    reservable: &[String],
    lock: Option<&LockCheck>,
    queue: &dyn PickQueue,
) -> Result<Outcome, CheckError> {
    let mut attempt = 0;
    loop {
        let mut tx = pool.begin().await?;
        if let Some(l) = lock
            && let Err(e) = l.check(&mut tx).await
        {
            let _ = tx.rollback().await;
            return Err(e);
        }
        match reserve_in(&mut tx, order_id, reservable, queue).await {
            Ok(outcome) => {
                tx.commit().await?;
                return Ok(outcome);
            }
            Err(e) if attempt < 8 && is_retryable(&e) => {
                let _ = tx.rollback().await;
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 * (1 << attempt.min(6)))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Deadlock (1213) or lock wait timeout (1205).
pub fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("40001") | Some("HY000")) && {
                let msg = d.message();
                msg.contains("Deadlock") || msg.contains("Lock wait timeout")
            }
        }
        _ => false,
    }
}

#[derive(sqlx::FromRow)]
struct LineRow {
    id: u64,
    product_id: Option<u64>,
    quantity: u64,
    held: u64,
}

struct Line {
    id: u64,
    product_id: Option<u64>,
    /// The parent holding this variation's stock in WooCommerce: its lots serve after the variation's own.
    holder: Option<u64>,
    quantity: u32,
    held: u32,
}

#[derive(sqlx::FromRow)]
struct FreeLot {
    id: u64,
    product_id: u64,
    free: i64,
}

struct Lot {
    id: u64,
    free: u32,
}

/// The reservation work inside a caller's transaction.
pub async fn reserve_in(
    tx: &mut Transaction<'_, MySql>,
    order_id: OrderId,
    reservable: &[String],
    queue: &dyn PickQueue,
) -> Result<Outcome, sqlx::Error> {
    let Some(status): Option<String> =
        sqlx::query_scalar("SELECT status FROM orders WHERE id = ? FOR UPDATE").bind(order_id).fetch_optional(&mut **tx).await?
    else {
        return Ok(Outcome::default());
    };
    let active = reservable.iter().any(|s| s == &status);
    let rows = sqlx::query_as::<_, LineRow>(
        r#"SELECT l.id, l.product_id, CAST(IF(l.removed, 0, l.quantity) AS UNSIGNED) AS quantity,
                  CAST(COALESCE((SELECT SUM(r.quantity) FROM stock_reservations r
                                 WHERE r.order_line_id = l.id AND r.status IN ('open', 'consumed')), 0) AS UNSIGNED) AS held
           FROM order_lines l WHERE l.order_id = ? ORDER BY l.product_id, l.id FOR UPDATE"#,
    )
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut lines: Vec<Line> = rows
        .into_iter()
        .map(|r| Line {
            id: r.id,
            product_id: r.product_id,
            holder: None,
            quantity: u32::try_from(r.quantity).unwrap_or(u32::MAX),
            held: u32::try_from(r.held).unwrap_or(u32::MAX),
        })
        .collect();

    // Variations whose stock WooCommerce keeps on the parent may also take
    // the parent's lots (read without a lock: the link changes only with the catalog).
    let line_products: Vec<u64> = lines.iter().filter_map(|l| l.product_id).collect();
    if !line_products.is_empty() {
        let holders: HashMap<u64, u64> = sqlx::query_as::<_, (u64, u64)>(
            r#"SELECT p.id, p.stock_holder_id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids
               JOIN products p ON p.id = ids.id WHERE p.stock_holder_id IS NOT NULL"#,
        )
        .bind(crate::db::json_list(&line_products))
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
        for l in &mut lines {
            l.holder = l.product_id.and_then(|p| holders.get(&p).copied());
        }
    }

    // Lock, in one statement and a global order (products ascending, then
    // FIFO), every lot with free stock for the products this order still needs.
    let mut need_products: Vec<u64> =
        lines.iter().filter(|l| active && l.quantity > l.held).flat_map(|l| l.product_id.into_iter().chain(l.holder)).collect();
    need_products.sort_unstable();
    need_products.dedup();
    let mut lots: HashMap<u64, Vec<Lot>> = HashMap::new();
    if !need_products.is_empty() {
        let free = sqlx::query_as::<_, FreeLot>(
            r#"SELECT l.id, l.product_id, CAST(l.qty_remaining - l.qty_reserved AS SIGNED) AS free
               FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids
               STRAIGHT_JOIN inventory_lots l ON l.product_id = ids.id
               WHERE l.qty_remaining > l.qty_reserved ORDER BY l.product_id, l.received_at, l.id FOR UPDATE"#,
        )
        .bind(crate::db::json_list(&need_products))
        .fetch_all(&mut **tx)
        .await?;
        for r in free {
            lots.entry(r.product_id).or_default().push(Lot { id: r.id, free: u32::try_from(r.free).unwrap_or(0) });
        }
    }

    let mut out = Outcome::default();
    for line in &lines {
        let wanted = if active { line.quantity } else { 0 };
        let mut backordered = 0;
        if wanted > line.held {
            let mut need = wanted - line.held;
            // The variation's own lots first, then its stock holder's.
            for product in line.product_id.into_iter().chain(line.holder) {
                for lot in lots.get_mut(&product).into_iter().flatten() {
                    if need == 0 {
                        break;
                    }
                    let take = need.min(lot.free);
                    if take == 0 {
                        continue;
                    }
                    sqlx::query("INSERT INTO stock_reservations (order_line_id, lot_id, quantity) VALUES (?, ?, ?)")
                        .bind(line.id)
                        .bind(lot.id)
                        .bind(take)
                        .execute(&mut **tx)
                        .await?;
                    sqlx::query("UPDATE inventory_lots SET qty_reserved = qty_reserved + ? WHERE id = ?")
                        .bind(take)
                        .bind(lot.id)
                        .execute(&mut **tx)
                        .await?;
                    lot.free -= take;
                    need -= take;
                    out.units_reserved += take;
                }
            }
            backordered = need;
            if need < wanted - line.held {
                out.lines_changed += 1;
            }
        } else if wanted < line.held {
            let released = release_newest_first(tx, line.id, line.held - wanted).await?;
            out.units_released += released;
            if released > 0 {
                out.lines_changed += 1;
            }
        }
        out.backordered += backordered;
        sqlx::query("UPDATE order_lines SET backordered_qty = ? WHERE id = ? AND backordered_qty <> ?")
            .bind(backordered)
            .bind(line.id)
            .bind(backordered)
            .execute(&mut **tx)
            .await?;
    }

    // The pick queue follows the order: in while it is reservable, out when it is not.
    // An order with nothing left to pick (every line removed or refunded) is out too.
    let anything = lines.iter().any(|l| l.quantity > 0);
    let readiness = match (active && anything, status.as_str()) {
        (false, _) => Readiness::Gone,
        (true, "on-hold") => Readiness::OnHold,
        (true, _) if out.backordered > 0 => Readiness::Backordered,
        (true, _) => Readiness::Ready,
    };
    queue.follow(tx, order_id, readiness).await?;
    Ok(out)
}

/// Releases `amount` units of a line's open reservations, newest lots first
/// (so what stays reserved is the oldest stock). Returns units released.
async fn release_newest_first(tx: &mut Transaction<'_, MySql>, line_id: u64, amount: u32) -> Result<u32, sqlx::Error> {
    let open = sqlx::query_as::<_, (u64, u64, u32)>(
        r#"SELECT r.id, r.lot_id, r.quantity FROM stock_reservations r JOIN inventory_lots l ON l.id = r.lot_id
           WHERE r.order_line_id = ? AND r.status = 'open' ORDER BY l.received_at DESC, l.id DESC, r.id DESC"#,
    )
    .bind(line_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut left = amount;
    for (id, lot, qty) in open {
        if left == 0 {
            break;
        }
        let take = left.min(qty);
        if take == qty {
            sqlx::query("UPDATE stock_reservations SET status = 'released' WHERE id = ?").bind(id).execute(&mut **tx).await?;
        } else {
            sqlx::query("UPDATE stock_reservations SET quantity = quantity - ? WHERE id = ?")
                .bind(take)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("UPDATE inventory_lots SET qty_reserved = qty_reserved - ? WHERE id = ?")
            .bind(take)
            .bind(lot)
            .execute(&mut **tx)
            .await?;
        left -= take;
    }
    Ok(amount - left)
}

/// Units of a product that can be sold: remaining in its lots minus reserved.
pub async fn available(pool: &MySqlPool, product_id: u64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(qty_remaining - qty_reserved), 0) AS SIGNED) FROM inventory_lots WHERE product_id = ?")
        .bind(product_id)
        .fetch_one(pool)
        .await
}

/// Available units of each of `products` as its channels see it:
/// remaining minus reserved over its lots, a variation whose stock is its
/// parent's counted under the parent (its stock holder), which is what
/// WooCommerce is told. Absent: no lots.
pub async fn available_many(pool: &MySqlPool, products: &[u64]) -> Result<HashMap<u64, i64>, sqlx::Error> {
    if products.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query_as::<_, (u64, i64)>(
        r#"SELECT COALESCE(c.stock_holder_id, l.product_id) AS product_id, CAST(SUM(l.qty_remaining - l.qty_reserved) AS SIGNED) AS available
           FROM inventory_lots l JOIN products c ON c.id = l.product_id
           WHERE COALESCE(c.stock_holder_id, l.product_id) IN (SELECT id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids)
           GROUP BY COALESCE(c.stock_holder_id, l.product_id)"#,
    )
    .bind(crate::db::json_list(products))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Orders whose reservations do not match what they want: a reservable
/// order with a line neither reserved nor backordered in full (or missing
/// from the pick queue, or backordered while its product has free stock),
/// or an order no longer reservable (or a removed line) still holding open
/// reservations.
pub async fn orders_out_of_line(pool: &MySqlPool, reservable: &[String]) -> Result<Vec<OrderId>, sqlx::Error> {
    let statuses = crate::db::json_list(reservable);
    sqlx::query_scalar::<_, OrderId>(
        r#"SELECT DISTINCT o.id FROM orders o JOIN order_lines l ON l.order_id = o.id
           LEFT JOIN (SELECT order_line_id, SUM(quantity) AS held, SUM(status = 'open') AS open_rows FROM stock_reservations
                      WHERE status IN ('open', 'consumed') GROUP BY order_line_id) r ON r.order_line_id = l.id
           LEFT JOIN pick_queue q ON q.order_id = o.id
           WHERE (JSON_CONTAINS(?, JSON_QUOTE(o.status)) AND NOT l.removed AND l.product_id IS NOT NULL
                  AND (l.quantity <> COALESCE(r.held, 0) + l.backordered_qty OR q.order_id IS NULL
                       -- A backordered line whose product has free stock again (a receipt, an opening lot) fills up.
                       OR (l.backordered_qty > 0 AND EXISTS (SELECT 1 FROM inventory_lots x WHERE x.product_id = l.product_id AND x.qty_remaining > x.qty_reserved))))
              OR ((NOT JSON_CONTAINS(?, JSON_QUOTE(o.status)) OR l.removed) AND COALESCE(r.open_rows, 0) > 0)"#,
    )
    .bind(&statuses)
    .bind(&statuses)
    .fetch_all(pool)
    .await
}

/// An opening lot (onboarding): the store's stock taken as received now.
pub async fn insert_opening_lot(
    tx: &mut Transaction<'_, MySql>,
    product_id: u64,
    lot_ref: &str,
    qty: u32,
    unit_cost_minor: i64,
) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        r#"INSERT INTO inventory_lots (product_id, lot_ref, source, received_at, qty_received, qty_remaining, unit_cost_minor)
           VALUES (?, ?, 'opening', UTC_TIMESTAMP(6), ?, ?, ?)"#,
    )
    .bind(product_id)
    .bind(lot_ref)
    .bind(qty)
    .bind(qty)
    .bind(unit_cost_minor)
    .execute(&mut **tx)
    .await?;
    Ok(r.last_insert_id())
}

/// Units taken from one lot for one order line when its shipment left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Consumed {
    pub reservation_id: u64,
    pub order_line_id: u64,
    pub lot_id: LotId,
    pub quantity: u32,
}

/// Consumes every open reservation of an order for good, inside the
/// caller's transaction (a shipment marked shipped): see [`consume`].
pub async fn consume_for_shipment(
    tx: &mut Transaction<'_, MySql>,
    order_id: OrderId,
    shipment_id: u64,
) -> Result<Vec<Consumed>, sqlx::Error> {
    consume(tx, order_id, shipment_id, None).await
}

/// Consumes an order's open reservations for `shipment_id`: all of them, or
/// per order line at most the units `only` names (a partial shipment), the
/// oldest lots first. Each lot loses the units from both its remaining and
/// its reserved counts; the reservation becomes `consumed` with the lot's
/// landed unit cost of this moment and the shipment that took it (a part
/// taken splits the reservation). Returns what came from which lot: the
/// record the FIFO cost of goods is built from.
pub async fn consume(
    tx: &mut Transaction<'_, MySql>,
    order_id: OrderId,
    shipment_id: u64,
    only: Option<&HashMap<u64, u32>>,
) -> Result<Vec<Consumed>, sqlx::Error> {
    let open = sqlx::query_as::<_, Consumed>(
        r#"SELECT r.id AS reservation_id, r.order_line_id, r.lot_id, r.quantity
           FROM stock_reservations r JOIN order_lines l ON l.id = r.order_line_id JOIN inventory_lots t ON t.id = r.lot_id
           WHERE l.order_id = ? AND r.status = 'open' ORDER BY r.order_line_id, t.received_at, t.id FOR UPDATE"#,
    )
    .bind(order_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut left: Option<HashMap<u64, u32>> = only.cloned();
    let mut taken = Vec::with_capacity(open.len());
    for c in open {
        let n = match left.as_mut() {
            None => c.quantity,
            Some(left) => {
                let want = left.entry(c.order_line_id).or_insert(0);
                let n = c.quantity.min(*want);
                *want -= n;
                n
            }
        };
        if n == 0 {
            continue;
        }
        sqlx::query("UPDATE inventory_lots SET qty_remaining = qty_remaining - ?, qty_reserved = qty_reserved - ? WHERE id = ?")
            .bind(n)
            .bind(n)
            .bind(c.lot_id)
            .execute(&mut **tx)
            .await?;
        let reservation_id = if n == c.quantity {
            sqlx::query(
                r#"UPDATE stock_reservations r JOIN inventory_lots l ON l.id = r.lot_id
                   SET r.status = 'consumed', r.shipment_id = ?, r.unit_cost_minor = l.landed_unit_cost_minor, r.consumed_at = UTC_TIMESTAMP(6)
                   WHERE r.id = ?"#,
            )
            .bind(shipment_id)
            .bind(c.reservation_id)
            .execute(&mut **tx)
            .await?;
            c.reservation_id
        } else {
            sqlx::query("UPDATE stock_reservations SET quantity = quantity - ? WHERE id = ?")
                .bind(n)
                .bind(c.reservation_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                r#"INSERT INTO stock_reservations (order_line_id, lot_id, quantity, status, shipment_id, unit_cost_minor, consumed_at)
                   SELECT ?, l.id, ?, 'consumed', ?, l.landed_unit_cost_minor, UTC_TIMESTAMP(6) FROM inventory_lots l WHERE l.id = ?"#,
            )
            .bind(c.order_line_id)
            .bind(n)
            .bind(shipment_id)
            .bind(c.lot_id)
            .execute(&mut **tx)
            .await?
            .last_insert_id()
        };
        taken.push(Consumed { reservation_id, order_line_id: c.order_line_id, lot_id: c.lot_id, quantity: n });
    }
    Ok(taken)
}
