//! Returned units back into stock: into the lots they were sold from (at
//! those lots' landed cost, which is what their cost of goods was plus any
//! charge that reached them after the sale), or into a returns lot per
//! refund line at the cost they were sold at. Each restock is an
//! `inventory_adjustments` row (reason `return`) naming its refund, so the
//! books reverse exactly that value.

use crate::config::RestockTo;
use crate::ids::LotId;
use sqlx::{MySql, Transaction};

/// Units put back into one lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restocked {
    pub adjustment_id: u64,
    pub lot_id: LotId,
    pub quantity: u32,
    pub unit_cost_minor: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReturnError {
    #[error("line {line}: {wanted} unit(s) to restock but only {shipped} shipped and not yet returned")]
    MoreThanShipped { line: u64, wanted: u32, shipped: u32 },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Restocks `quantity` units of order line `line_id` for refund `refund_id`,
/// inside the caller's transaction. Units go back newest consumption first.
pub async fn restock(
    tx: &mut Transaction<'_, MySql>,
    refund_id: u64,
    line_id: u64,
    quantity: u32,
    to: RestockTo,
) -> Result<Vec<Restocked>, ReturnError> {
    // What each lot gave this line, less what already came back to it.
    let sources = sqlx::query_as::<_, (LotId, u64, i64, i64, u32, u32, i64)>(
        r#"SELECT l.id, l.product_id, CAST(SUM(r.quantity) AS SIGNED) AS shipped,
                  CAST(COALESCE((SELECT SUM(a.delta) FROM inventory_adjustments a
                                 WHERE a.order_line_id = r.order_line_id AND a.returned_from_lot_id = l.id), 0) AS SIGNED) AS returned,
                  l.qty_received, l.qty_remaining, MAX(r.unit_cost_minor) AS sold_cost
           FROM stock_reservations r JOIN inventory_lots l ON l.id = r.lot_id
           WHERE r.order_line_id = ? AND r.status = 'consumed'
           GROUP BY l.id, l.product_id, l.qty_received, l.qty_remaining ORDER BY MAX(r.consumed_at) DESC, l.id DESC FOR UPDATE"#,
    )
    .bind(line_id)
    .fetch_all(&mut **tx)
    .await?;
    let available: i64 = sources.iter().map(|s| (s.2 - s.3).max(0)).sum();
    if i64::from(quantity) > available {
        return Err(ReturnError::MoreThanShipped { line: line_id, wanted: quantity, shipped: u32::try_from(available).unwrap_or(0) });
    }
    let mut left = quantity;
    let mut out = Vec::new();
    for (lot_id, product_id, shipped, returned, received, remaining, sold_cost) in sources {
        if left == 0 {
            break;
        }
        let n = u32::try_from((shipped - returned).max(0)).unwrap_or(0).min(left);
        if n == 0 {
            continue;
        }
        left -= n;
        let fits = to == RestockTo::OriginalLot && remaining + n <= received;
        let (target, note) = if fits {
            (lot_id, None)
        } else {
            let lot = sqlx::query(
                r#"INSERT INTO inventory_lots (product_id, lot_ref, source, received_at, qty_received, qty_remaining, unit_cost_minor)
                   VALUES (?, ?, 'return', UTC_TIMESTAMP(6), ?, 0, ?)"#,
            )
            .bind(product_id)
            .bind(format!("RET-{refund_id}-{line_id}-{lot_id}"))
            .bind(n)
            .bind(sold_cost)
            .execute(&mut **tx)
            .await?
            .last_insert_id();
            (LotId(lot), Some(format!("from lot {lot_id}")))
        };
        let cost: i64 = sqlx::query_scalar("SELECT landed_unit_cost_minor FROM inventory_lots WHERE id = ? FOR UPDATE")
            .bind(target)
            .fetch_one(&mut **tx)
            .await?;
        sqlx::query("UPDATE inventory_lots SET qty_remaining = qty_remaining + ? WHERE id = ?")
            .bind(n)
            .bind(target)
            .execute(&mut **tx)
            .await?;
        let adjustment_id = sqlx::query(
            r#"INSERT INTO inventory_adjustments (lot_id, delta, unit_cost_minor, reason, note, refund_id, order_line_id, returned_from_lot_id)
               VALUES (?, ?, ?, 'return', ?, ?, ?, ?)"#,
        )
        .bind(target)
        .bind(n)
        .bind(cost)
        .bind(note)
        .bind(refund_id)
        .bind(line_id)
        .bind(lot_id)
        .execute(&mut **tx)
        .await?
        .last_insert_id();
        out.push(Restocked { adjustment_id, lot_id: target, quantity: n, unit_cost_minor: cost });
    }
    Ok(out)
}
