//! The pick sheet (lines in walking order with the FIFO lots to take from)
//! and the scan that ticks a line. A wrong item or one too many is refused
//! and counts nothing; the database's own CHECK (`picked_qty <= quantity`)
//! backs the code.

use crate::ids::OperatorId;
use crate::ids::OrderId;
use sqlx::MySqlPool;

use crate::db::reads::Reads;

use super::{
    StationError, bin_key, lock_held,
    queue::{Head, QueueStatus},
};
use crate::{
    events::{self, Event, Severity},
    inventory::lookup::CodeLookup,
};

/// A lot to take units from, oldest first.
#[derive(Debug, Clone)]
pub struct LotTake {
    pub lot_ref: String,
    pub location: Option<String>,
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

/// The order's queue head and its lines in walking order (by bin, naturally
/// sorted; lines with no bin last), each with its open reservations oldest
/// lot first; `None` when the order is not in the queue. One statement: a
/// row per reservation (a line without one has a row of its own), summed
/// per lot here.
pub async fn sheet<'e>(db: impl sqlx::MySqlExecutor<'e>, order_id: OrderId) -> Result<Option<(Head, Vec<PickLine>)>, sqlx::Error> {
    let rows = sqlx::query_as::<
        _,
        (
            // The head.
            String,
            String,
            String,
            Option<OperatorId>,
            Option<String>,
            // The line.
            Option<u64>,
            Option<u64>,
            Option<String>,
            Option<String>,
            Option<u32>,
            Option<u32>,
            Option<String>,
            Option<bool>,
            // A reservation on it: the lot and the units.
            Option<String>,
            Option<String>,
            Option<u32>,
        ),
    >(
        r#"SELECT o.number, o.customer_name, CAST(q.status AS CHAR), q.operator_id, p.display_name,
                  l.id, l.product_id, l.sku, l.name, l.quantity, l.picked_qty, pr.bin, COALESCE(pr.serial_tracked, FALSE),
                  lot.lot_ref, lot.location, r.quantity
           FROM pick_queue q JOIN orders o ON o.id = q.order_id
           LEFT JOIN operators p ON p.id = q.operator_id
           LEFT JOIN order_lines l ON l.order_id = q.order_id AND NOT l.removed
           LEFT JOIN products pr ON pr.id = l.product_id
           LEFT JOIN stock_reservations r ON r.order_line_id = l.id AND r.status IN ('open', 'consumed')
           LEFT JOIN inventory_lots lot ON lot.id = r.lot_id
           WHERE q.order_id = ?
           ORDER BY l.id, lot.received_at, lot.id"#,
    )
    .bind(order_id)
    .fetch_all(db)
    .await?;
    let mut head = None;
    let mut lines: Vec<PickLine> = Vec::new();
    for (
        number,
        customer,
        status,
        holder,
        holder_name,
        line,
        product_id,
        sku,
        name,
        quantity,
        picked,
        bin,
        serial,
        lot_ref,
        location,
        units,
    ) in rows
    {
        if head.is_none() {
            head = Some(Head::from_columns(order_id, (number, customer, status, holder, holder_name))?);
        }
        let Some(line_id) = line else { continue };
        if lines.last().is_none_or(|l| l.line_id != line_id) {
            lines.push(PickLine {
                line_id,
                product_id,
                sku: sku.unwrap_or_default(),
                name: name.unwrap_or_default(),
                bin,
                quantity: quantity.unwrap_or_default(),
                picked: picked.unwrap_or_default(),
                serial_tracked: serial.unwrap_or_default(),
                lots: Vec::new(),
            });
        }
        // A lot's ref is unique for its product, so per line it names the lot.
        let (Some(lot_ref), Some(units), Some(line)) = (lot_ref, units, lines.last_mut()) else { continue };
        match line.lots.last_mut() {
            Some(take) if take.lot_ref == lot_ref => take.quantity = take.quantity.saturating_add(units),
            _ => line.lots.push(LotTake { lot_ref, location, quantity: units }),
        }
    }
    let Some(head) = head else { return Ok(None) };
    lines.sort_by_cached_key(|l| (bin_key(l.location()), l.line_id));
    Ok(Some((head, lines)))
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
///
/// A counted scan is one round trip: the code resolves from memory
/// ([`CodeLookup`]), then the stored procedure `pick_scan` (migration
/// `20261204000011_pick_scan.sql`) checks the hold, counts the first line of
/// the product with room, moves a fully picked order to `picked` and records
/// the events, in one transaction, on one of `direct`'s connections. A
/// refused scan counts nothing and costs one more statement: its event.
pub async fn scan(
    pool: &MySqlPool,
    direct: &Reads,
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
    let product = hit.product_id;
    // Never retried: a scan that reached the server and lost its answer must not count twice.
    let (outcome, number, status, holder, line_id, sku, name, quantity, picked, order_picked) = direct
        .once(move |c| {
            Box::pin(
                sqlx::query_as::<
                    _,
                    (
                        String,
                        Option<String>,
                        Option<String>,
                        Option<String>,
                        Option<u64>,
                        Option<String>,
                        Option<String>,
                        Option<u32>,
                        Option<u32>,
                        i64,
                    ),
                >("CALL pick_scan(?, ?, ?, ?)")
                .bind(order_id)
                .bind(operator_id)
                .bind(product)
                .bind(adding)
                .fetch_one(c),
            )
        })
        .await?;
    let number = number.unwrap_or_default();
    let sku = sku.unwrap_or_default();
    let (quantity, picked) = (quantity.unwrap_or_default(), picked.unwrap_or_default());
    let mis = match outcome.as_str() {
        "counted" => {
            events::recorded_elsewhere();
            let line_id = line_id.ok_or_else(|| StationError::Invalid("pick_scan counted no line".into()))?;
            return Ok(Ok(Counted { line_id, sku, picked, quantity, order_picked: order_picked != 0 }));
        }
        "not_found" => return Err(StationError::NotFound(order_id)),
        "held_by_other" => {
            return Err(StationError::HeldByOther { number, holder: holder.unwrap_or_else(|| "nobody (claim it first)".into()) });
        }
        "wrong_state" => {
            return Err(StationError::WrongState { number, status: status.unwrap_or_default(), expected: QueueStatus::Picking.as_str() });
        }
        "wrong_item" => Mis::WrongItem {
            what: match name {
                Some(name) if !sku.is_empty() => format!("{sku} ({name})"),
                _ => code.to_owned(),
            },
        },
        "too_many" => Mis::TooMany { sku, quantity, picked, adding },
        other => return Err(StationError::Invalid(format!("pick_scan answered {other:?}"))),
    };
    // The procedure checked the hold; the refusal is recorded for a supervisor.
    let message = format!("order {number}: {mis}");
    direct
        .once(|c| {
            let e = Event::info("pick.refused", message.clone()).severity(Severity::Warning).by(operator_id).about("order", order_id);
            Box::pin(events::record(c, e))
        })
        .await?;
    Ok(Err(mis))
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
