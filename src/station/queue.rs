//! The pick queue: priorities from the tenant's rules, the list a station
//! works from, and the atomic claim that locks an order to one operator.

use crate::ids::OperatorId;
use crate::ids::OrderId;
use chrono::NaiveDateTime;
use futures::future::BoxFuture;
use sqlx::{MySqlConnection, MySqlPool};

use super::StationError;
use crate::{
    config::PickPriority,
    events::{self, Event},
    inventory::reserve::{PickQueue, Readiness},
    money,
};

/// The pick queue as reservation drives it: an order is in the queue while
/// it is reservable (queued, backordered or on hold, as its reservation
/// stands) and out when it is not; an order already being worked keeps its
/// state.
pub struct StationQueue;

/// The queue reservation is given ([`crate::inventory::reserve::reserve_order`]).
pub static STATION_QUEUE: StationQueue = StationQueue;

impl PickQueue for StationQueue {
    fn follow<'c>(
        &'c self,
        conn: &'c mut MySqlConnection,
        order_id: OrderId,
        readiness: Readiness,
    ) -> BoxFuture<'c, Result<(), sqlx::Error>> {
        Box::pin(async move {
            let status = match readiness {
                Readiness::Ready => QueueStatus::Queued,
                Readiness::Backordered => QueueStatus::Backordered,
                Readiness::OnHold => QueueStatus::OnHold,
                // Gone (cancelled, trashed, deleted, refunded in full): off the
                // list, even mid-pick (the sheet then says the order left);
                // packed and shipped orders keep their row.
                Readiness::Gone => {
                    sqlx::query("DELETE FROM pick_queue WHERE order_id = ? AND status NOT IN ('packed', 'shipped')")
                        .bind(order_id)
                        .execute(&mut *conn)
                        .await?;
                    return Ok(());
                }
            };
            sqlx::query(
                r#"INSERT INTO pick_queue (order_id, status, ordered_at) SELECT ?, ?, o.woo_created_at FROM orders o WHERE o.id = ?
                   ON DUPLICATE KEY UPDATE pick_queue.status = IF(pick_queue.status IN ('queued', 'backordered', 'on_hold'), VALUES(status), pick_queue.status)"#,
            )
            .bind(order_id)
            .bind(status.as_str())
            .bind(order_id)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    fn frozen<'c>(&'c self, conn: &'c mut MySqlConnection, order_id: OrderId) -> BoxFuture<'c, Result<Option<String>, sqlx::Error>> {
        Box::pin(async move {
            sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM pick_queue WHERE order_id = ? AND status IN ('packed', 'shipped')")
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await
        })
    }
}

/// Where an order stands in the queue: `pick_queue.status`, one variant
/// per value of the column's ENUM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueStatus {
    Queued,
    Picking,
    Picked,
    Packed,
    Shipped,
    OnHold,
    Backordered,
}

impl QueueStatus {
    /// Every state, in the order pages show them.
    pub const ALL: [QueueStatus; 7] = [
        QueueStatus::Queued,
        QueueStatus::Picking,
        QueueStatus::Picked,
        QueueStatus::Packed,
        QueueStatus::Shipped,
        QueueStatus::OnHold,
        QueueStatus::Backordered,
    ];

    /// The column value.
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueStatus::Queued => "queued",
            QueueStatus::Picking => "picking",
            QueueStatus::Picked => "picked",
            QueueStatus::Packed => "packed",
            QueueStatus::Shipped => "shipped",
            QueueStatus::OnHold => "on_hold",
            QueueStatus::Backordered => "backordered",
        }
    }

    /// The state named `value` (a column value or a page's `?status=`).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

impl std::fmt::Display for QueueStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Templates compare a state with its column value (`e.status == "packed"`).
impl PartialEq<&str> for QueueStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TryFrom<String> for QueueStatus {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value).ok_or_else(|| format!("`{value}` is not a pick_queue status"))
    }
}

/// One order in the queue list.
#[derive(Debug, Clone)]
pub struct Entry {
    pub order_id: OrderId,
    pub number: String,
    pub customer: String,
    pub shipping_method: String,
    pub status: QueueStatus,
    pub priority: i32,
    pub station: Option<String>,
    pub operator_id: Option<OperatorId>,
    pub operator: Option<String>,
    pub lines: i64,
    pub units: i64,
    pub ordered_at: NaiveDateTime,
}

/// What a single-order page (pick, pack, ship) shows of the order's place
/// in the queue.
#[derive(Debug, Clone)]
pub struct Head {
    pub order_id: OrderId,
    pub number: String,
    pub customer: String,
    pub status: QueueStatus,
    pub operator_id: Option<OperatorId>,
    /// The holder's display name.
    pub operator: Option<String>,
}

/// The columns a single-order page reads for its head, after the order id
/// it asked for: `o.number, o.customer_name, CAST(q.status AS CHAR),
/// q.operator_id, p.display_name` (`q` pick_queue, `o` orders, `p` the
/// holder in operators).
pub(crate) type HeadColumns = (String, String, String, Option<OperatorId>, Option<String>);

impl Head {
    pub(crate) fn from_columns(
        order_id: OrderId,
        (number, customer, status, operator_id, operator): HeadColumns,
    ) -> Result<Self, sqlx::Error> {
        Ok(Self { order_id, number, customer, status: queue_status(&status)?, operator_id, operator })
    }
}

/// A `pick_queue.status` value read back.
pub(crate) fn queue_status(raw: &str) -> Result<QueueStatus, sqlx::Error> {
    QueueStatus::parse(raw).ok_or_else(|| sqlx::Error::Decode(format!("`{raw}` is not a pick_queue status").into()))
}

/// What the queue page shows: orders per state (every state, zeros
/// included) and the list.
pub struct Board {
    pub counts: Vec<(QueueStatus, i64)>,
    pub entries: Vec<Entry>,
}

/// The priority the tenant's rules give an order: the highest matching rule, else 0.
pub fn priority_for(rules: &[PickPriority], shipping_method: Option<&str>, total_minor: i64, exponent: u32) -> i32 {
    rules
        .iter()
        .filter(|r| r.shipping_method.as_deref().is_none_or(|m| Some(m) == shipping_method))
        .filter(|r| r.min_total.as_deref().is_none_or(|t| money::parse_minor(t, exponent).is_ok_and(|min| total_minor >= min)))
        .map(|r| r.priority)
        .max()
        .unwrap_or(0)
}

/// Re-applies the rules to every order not yet claimed (rules can change
/// with a new tenant file). Returns rows changed.
pub async fn prioritise(pool: &MySqlPool, rules: &[PickPriority]) -> Result<u64, sqlx::Error> {
    let rows = sqlx::query_as::<_, (u64, i32, Option<String>, i64, String)>(
        r#"SELECT q.id, q.priority, o.shipping_method, o.total_minor, o.currency FROM pick_queue q JOIN orders o ON o.id = q.order_id
           WHERE q.status IN ('queued', 'backordered', 'on_hold')"#,
    )
    .fetch_all(pool)
    .await?;
    let mut changed = 0;
    for (id, priority, method, total_minor, currency) in rows {
        let want = priority_for(rules, method.as_deref(), total_minor, money::exponent(&currency));
        if want != priority {
            changed +=
                sqlx::query("UPDATE pick_queue SET priority = ? WHERE id = ?").bind(want).bind(id).execute(pool).await?.rows_affected();
        }
    }
    Ok(changed)
}

/// The queue page in one statement: orders per state, and the queue,
/// highest priority then oldest first. `station` keeps orders claimed at
/// other stations out (unclaimed ones are everyone's); without a `status`,
/// shipped orders are left out.
pub async fn board<'e>(
    db: impl sqlx::MySqlExecutor<'e>,
    station: Option<&str>,
    status: Option<QueueStatus>,
    limit: u32,
) -> Result<Board, sqlx::Error> {
    // Part 1: the first `limit` orders (`n` their priority), with their line
    // and unit counts; part 0: one row per state (`n` its count). The orders
    // come first so their columns' types are the union's.
    let rows = sqlx::query_as::<_, (
        i64,
        String,
        i64,
        Option<OrderId>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<OperatorId>,
        Option<String>,
        Option<NaiveDateTime>,
        Option<i64>,
        Option<i64>
    )>(
        r#"SELECT 1 AS part, t.status, t.priority AS n, t.order_id, t.number, t.customer, t.shipping_method, t.station, t.operator_id,
                  p.display_name AS operator, t.ordered_at, COUNT(l.id) AS line_count, CAST(COALESCE(SUM(l.quantity), 0) AS SIGNED) AS units
           FROM (SELECT q.order_id, CAST(q.status AS CHAR) AS status, q.priority, q.station, q.operator_id, o.number,
                        o.customer_name AS customer, COALESCE(o.shipping_method, '') AS shipping_method, q.ordered_at
                 FROM pick_queue q JOIN orders o ON o.id = q.order_id
                 WHERE (? IS NULL OR q.station IS NULL OR q.station = ?) AND ((? IS NULL AND q.is_open) OR q.status = ?)
                 ORDER BY q.priority DESC, q.ordered_at, q.order_id LIMIT ?) t
           LEFT JOIN operators p ON p.id = t.operator_id
           LEFT JOIN order_lines l ON l.order_id = t.order_id AND NOT l.removed
           GROUP BY t.order_id
           UNION ALL
           SELECT 0, CAST(status AS CHAR), COUNT(*), CAST(NULL AS UNSIGNED), NULL, NULL, NULL, NULL, CAST(NULL AS UNSIGNED), NULL, NULL, NULL, NULL
           FROM pick_queue GROUP BY status
           ORDER BY part DESC, n DESC, ordered_at, order_id"#,
    )
    .bind(station)
    .bind(station)
    .bind(status.map(QueueStatus::as_str))
    .bind(status.map(QueueStatus::as_str))
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut counts: Vec<(QueueStatus, i64)> = QueueStatus::ALL.into_iter().map(|s| (s, 0)).collect();
    let mut entries = Vec::with_capacity(rows.len());
    for (part, status, n, order_id, number, customer, shipping_method, station, operator_id, operator, ordered_at, lines, units) in rows {
        let status = queue_status(&status)?;
        if part == 0 {
            if let Some(c) = counts.iter_mut().find(|(s, _)| *s == status) {
                c.1 = n;
            }
            continue;
        }
        let (Some(order_id), Some(number), Some(ordered_at)) = (order_id, number, ordered_at) else { continue };
        entries.push(Entry {
            order_id,
            number,
            customer: customer.unwrap_or_default(),
            shipping_method: shipping_method.unwrap_or_default(),
            status,
            priority: i32::try_from(n).unwrap_or_default(),
            station,
            operator_id,
            operator,
            lines: lines.unwrap_or_default(),
            units: units.unwrap_or_default(),
            ordered_at,
        });
    }
    Ok(Board { counts, entries })
}

/// The queue head of one order, if it is in the queue.
pub async fn entry(pool: &MySqlPool, order_id: OrderId) -> Result<Option<Head>, sqlx::Error> {
    let row = sqlx::query_as::<_, (String, String, String, Option<OperatorId>, Option<String>)>(
        r#"SELECT o.number, o.customer_name, CAST(q.status AS CHAR), q.operator_id, p.display_name
           FROM pick_queue q JOIN orders o ON o.id = q.order_id LEFT JOIN operators p ON p.id = q.operator_id WHERE q.order_id = ?"#,
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await?;
    row.map(|h| Head::from_columns(order_id, h)).transpose()
}

/// Claims one order for an operator at a station. Atomic: the UPDATE only
/// matches an unclaimed, queued row, so of two operators exactly one wins.
pub async fn claim(pool: &MySqlPool, order_id: OrderId, operator_id: OperatorId, station: &str) -> Result<(), StationError> {
    let done = sqlx::query(
        "UPDATE pick_queue SET status = 'picking', operator_id = ?, station = ?, claimed_at = UTC_TIMESTAMP(6) WHERE order_id = ? AND status = 'queued' AND operator_id IS NULL",
    )
    .bind(operator_id)
    .bind(station)
    .bind(order_id)
    .execute(pool)
    .await?
    .rows_affected();
    if done == 1 {
        let number = number_of(pool, order_id).await?;
        events::record(
            pool,
            Event::info("pick.claimed", format!("order {number} claimed at {station}")).by(operator_id).about("order", order_id),
        )
        .await?;
        return Ok(());
    }
    match entry(pool, order_id).await? {
        None => Err(StationError::NotFound(order_id)),
        Some(e) if e.operator_id == Some(operator_id) => Ok(()),
        Some(e) if e.operator_id.is_some() => Err(StationError::HeldByOther { number: e.number, holder: e.operator.unwrap_or_default() }),
        Some(e) => Err(StationError::WrongState { number: e.number, status: e.status.to_string(), expected: QueueStatus::Queued.as_str() }),
    }
}

/// Claims the next order (highest priority, then oldest) for an operator;
/// `SKIP LOCKED` lets concurrent stations take different orders without waiting.
pub async fn claim_next(pool: &MySqlPool, operator_id: OperatorId, station: &str) -> Result<Option<OrderId>, StationError> {
    // An operator finishes what they hold before taking more.
    if let Some(held) = sqlx::query_scalar::<_, OrderId>(
        "SELECT order_id FROM pick_queue WHERE operator_id = ? AND status IN ('picking', 'picked', 'packed') ORDER BY claimed_at LIMIT 1",
    )
    .bind(operator_id)
    .fetch_optional(pool)
    .await?
    {
        return Ok(Some(held));
    }
    let mut tx = pool.begin().await?;
    let next: Option<OrderId> = sqlx::query_scalar(
        r#"SELECT q.order_id FROM pick_queue q
           WHERE q.status = 'queued' AND q.operator_id IS NULL
           ORDER BY q.priority DESC, q.ordered_at, q.order_id LIMIT 1 FOR UPDATE SKIP LOCKED"#,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(order_id) = next else { return Ok(None) };
    sqlx::query("UPDATE pick_queue SET status = 'picking', operator_id = ?, station = ?, claimed_at = UTC_TIMESTAMP(6) WHERE order_id = ?")
        .bind(operator_id)
        .bind(station)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    let number = number_of(&mut *tx, order_id).await?;
    events::record(
        &mut *tx,
        Event::info("pick.claimed", format!("order {number} claimed at {station}")).by(operator_id).about("order", order_id),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(order_id))
}

/// Puts a claimed order back in the queue (what was scanned stays in the tote).
pub async fn release(pool: &MySqlPool, order_id: OrderId, operator_id: OperatorId) -> Result<(), StationError> {
    let mut tx = pool.begin().await?;
    let number = super::lock_held(&mut tx, order_id, operator_id, QueueStatus::Picking).await?;
    sqlx::query("UPDATE pick_queue SET status = 'queued', operator_id = NULL, claimed_at = NULL, station = NULL WHERE order_id = ?")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    events::record(
        &mut *tx,
        Event::info("pick.released", format!("order {number} put back in the queue")).by(operator_id).about("order", order_id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn number_of<'e>(db: impl sqlx::MySqlExecutor<'e>, order_id: OrderId) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT number FROM orders WHERE id = ?").bind(order_id).fetch_one(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(method: Option<&str>, min: Option<&str>, priority: i32) -> PickPriority {
        PickPriority { shipping_method: method.map(str::to_owned), min_total: min.map(str::to_owned), priority }
    }

    #[test]
    fn the_highest_matching_rule_wins() {
        let rules =
            vec![rule(Some("ups_next_day_air"), None, 100), rule(None, Some("1000.00"), 10), rule(Some("flat_rate"), Some("50"), -5)];
        assert_eq!(priority_for(&rules, Some("ups_next_day_air"), 150_000, 2), 100);
        assert_eq!(priority_for(&rules, Some("flat_rate"), 150_000, 2), 10);
        assert_eq!(priority_for(&rules, Some("flat_rate"), 6_000, 2), -5);
        assert_eq!(priority_for(&rules, Some("flat_rate"), 4_999, 2), 0);
        assert_eq!(priority_for(&rules, None, 99_999, 2), 0);
    }
}
