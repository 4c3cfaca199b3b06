//! The pick sheet (lines in walking order with the FIFO lots to take from)
//! and the scan that ticks a line. A wrong item or one too many is refused
//! and counts nothing; the database's own CHECK (`picked_qty <= quantity`)
//! backs the code.

use crate::ids::OperatorId;
use crate::ids::OrderId;
use chrono::NaiveDateTime;
use sqlx::MySqlPool;

use super::{StationError, bin_key, lock_held, queue::QueueStatus};
use crate::{
    events::{self, Event, Severity},
    inventory::{lookup::CodeLookup, orders},
};

#[derive(sqlx::FromRow)]
struct SheetLine {
    id: u64,
    product_id: Option<u64>,
    sku: String,
    name: String,
    quantity: u32,
    picked_qty: u32,
    bin: Option<String>,
    upc: Option<String>,
    serial_tracked: bool,
}

#[derive(sqlx::FromRow)]
struct SheetLot {
    order_line_id: u64,
    lot_ref: String,
    location: Option<String>,
    received_at: NaiveDateTime,
    qty: u64,
}

/// A lot to take units from, oldest first.
#[derive(Debug, Clone)]
pub struct LotTake {
    pub lot_ref: String,
    pub location: Option<String>,
    pub received_at: NaiveDateTime,
    pub quantity: u32,
}

/// One line of the pick sheet.
#[derive(Debug, Clone)]
pub struct PickLine {
    pub line_id: u64,
    pub product_id: Option<u64>,
    pub sku: String,
    pub name: String,
    pub bin: Option<String>,
    pub upc: Option<String>,
    pub quantity: u32,
    pub picked: u32,
    pub serial_tracked: bool,
    pub lots: Vec<LotTake>,
}

impl PickLine {
    pub fn done(&self) -> bool {
        self.picked >= self.quantity
    }

    /// Where to walk: the first lot's location, else the product's bin.
    pub fn location(&self) -> Option<&str> {
        self.lots.iter().find_map(|l| l.location.as_deref()).or(self.bin.as_deref())
    }
}

/// The order's lines in walking order (by bin, naturally sorted; lines with
/// no bin last), each with its open reservations oldest lot first.
pub async fn sheet(pool: &MySqlPool, order_id: OrderId) -> Result<Vec<PickLine>, sqlx::Error> {
    let rows = sqlx::query_as::<_, SheetLine>(
        r#"SELECT l.id, l.product_id, l.sku, l.name, l.quantity, l.picked_qty, p.bin, p.upc, COALESCE(p.serial_tracked, FALSE) AS serial_tracked
           FROM order_lines l LEFT JOIN products p ON p.id = l.product_id WHERE l.order_id = ? AND NOT l.removed ORDER BY l.id"#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    let lots = sqlx::query_as::<_, SheetLot>(
        r#"SELECT r.order_line_id, lot.lot_ref, lot.location, lot.received_at, CAST(SUM(r.quantity) AS UNSIGNED) AS qty
           FROM stock_reservations r JOIN inventory_lots lot ON lot.id = r.lot_id JOIN order_lines l ON l.id = r.order_line_id
           WHERE l.order_id = ? AND r.status IN ('open', 'consumed')
           GROUP BY r.order_line_id, lot.id ORDER BY lot.received_at, lot.id"#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    let mut lines = Vec::with_capacity(rows.len());
    for r in rows {
        let takes = lots
            .iter()
            .filter(|l| l.order_line_id == r.id)
            .map(|l| LotTake {
                lot_ref: l.lot_ref.clone(),
                location: l.location.clone(),
                received_at: l.received_at,
                quantity: u32::try_from(l.qty).unwrap_or(u32::MAX),
            })
            .collect();
        lines.push(PickLine {
            line_id: r.id,
            product_id: r.product_id,
            sku: r.sku,
            name: r.name,
            bin: r.bin,
            upc: r.upc,
            quantity: r.quantity,
            picked: r.picked_qty,
            serial_tracked: r.serial_tracked,
            lots: takes,
        });
    }
    lines.sort_by(|a, b| bin_key(a.location()).cmp(&bin_key(b.location())).then(a.line_id.cmp(&b.line_id)));
    Ok(lines)
}

/// A counted scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub line_id: u64,
    pub sku: String,
    pub picked: u32,
    pub quantity: u32,
    /// Every line is now picked: the order moved to `picked`.
    pub order_picked: bool,
}

/// A scan that counts nothing, with what the picker should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mis {
    #[error("Cannot read “{code}”: {reason}. Scan again or type the code.")]
    Unreadable { code: String, reason: String },
    #[error("Unknown code “{0}”: no product has it. Put the item aside and tell a supervisor.")]
    Unknown(String),
    #[error("WRONG ITEM: {what} is not on this order. Put it back.")]
    WrongItem { what: String },
    #[error("TOO MANY: {sku} needs {quantity}, {picked} already picked; this scan adds {adding}. Put the extra back.")]
    TooMany { sku: String, quantity: u32, picked: u32, adding: u32 },
    #[error("Count must be a whole number from 1 to 999.")]
    BadCount,
}

/// Counts `count` scans of `code` on an order the operator holds.
pub async fn scan(
    pool: &MySqlPool,
    lookup: &CodeLookup,
    order_id: OrderId,
    operator_id: OperatorId,
    code: &str,
    count: u32,
) -> Result<Result<Counted, Mis>, StationError> {
    let code = code.trim();
    if !(1..=999).contains(&count) {
        return Ok(Err(Mis::BadCount));
    }
    let hit = match lookup.resolve(pool, code).await? {
        Ok(Some(hit)) => hit,
        Ok(None) => return refuse(pool, order_id, operator_id, Mis::Unknown(code.to_owned())).await,
        Err(e) => {
            return refuse(pool, order_id, operator_id, Mis::Unreadable { code: code.chars().take(40).collect(), reason: e.to_string() })
                .await;
        }
    };
    let adding = hit.units.saturating_mul(count);
    let mut tx = pool.begin().await?;
    let number = lock_held(&mut tx, order_id, operator_id, QueueStatus::Picking).await?;
    let lines = sqlx::query_as::<_, (u64, String, u32, u32)>(
        "SELECT id, sku, quantity, picked_qty FROM order_lines WHERE order_id = ? AND product_id = ? AND NOT removed ORDER BY id FOR UPDATE",
    )
        .bind(order_id)
        .bind(hit.product_id)
        .fetch_all(&mut *tx)
        .await?;
    if lines.is_empty() {
        drop(tx);
        let what = sqlx::query_as::<_, (String, String)>("SELECT sku, name FROM products WHERE id = ?")
            .bind(hit.product_id)
            .fetch_optional(pool)
            .await?;
        let what = what.map_or_else(|| code.to_owned(), |(sku, name)| format!("{sku} ({name})"));
        return refuse(pool, order_id, operator_id, Mis::WrongItem { what }).await;
    }
    // The first line of this product with room for the whole scan.
    let mut target = None;
    let (mut sku, mut quantity, mut picked) = (String::new(), 0u32, 0u32);
    for (id, line_sku, line_quantity, line_picked) in lines {
        (sku, quantity, picked) = (line_sku, line_quantity, line_picked);
        if picked.saturating_add(adding) <= quantity {
            target = Some(id);
            break;
        }
    }
    let Some(line_id) = target else {
        drop(tx);
        return refuse(pool, order_id, operator_id, Mis::TooMany { sku, quantity, picked, adding }).await;
    };
    orders::add_picked(&mut tx, line_id, adding).await?;
    // The line is locked (FOR UPDATE above): its new count is known without reading it back.
    let picked = picked + adding;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_lines WHERE order_id = ? AND NOT removed AND picked_qty < quantity")
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
    let order_picked = left == 0;
    if order_picked {
        sqlx::query("UPDATE pick_queue SET status = 'picked', picked_at = UTC_TIMESTAMP(6) WHERE order_id = ?")
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
    }
    events::record(
        &mut *tx,
        Event::info("pick.scanned", format!("order {number}: {sku} +{adding} ({picked}/{quantity})"))
            .by(operator_id)
            .about("order", order_id),
    )
    .await?;
    if order_picked {
        events::record(&mut *tx, Event::info("pick.picked", format!("order {number} picked")).by(operator_id).about("order", order_id))
            .await?;
    }
    tx.commit().await?;
    Ok(Ok(Counted { line_id, sku, picked, quantity, order_picked }))
}

/// Records a refused scan (so a supervisor can see mis-picks) and returns it.
async fn refuse(pool: &MySqlPool, order_id: OrderId, operator_id: OperatorId, mis: Mis) -> Result<Result<Counted, Mis>, StationError> {
    // Only the operator holding a picking order may scan it, even wrongly.
    let mut tx = pool.begin().await?;
    let number = lock_held(&mut tx, order_id, operator_id, QueueStatus::Picking).await?;
    events::record(
        &mut *tx,
        Event::info("pick.refused", format!("order {number}: {mis}")).severity(Severity::Warning).by(operator_id).about("order", order_id),
    )
    .await?;
    tx.commit().await?;
    Ok(Err(mis))
}
