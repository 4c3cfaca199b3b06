//! The pick station: the pick queue and its atomic claim, scanner-first
//! picking, packing with serials per lot, buying labels for every package
//! in one carrier call, printing labels and packing slips, and marking the
//! order shipped (stock consumed, tracking written back to WooCommerce).
//!
//! Status flow on `pick_queue`: queued → picking → picked → packed →
//! shipped (plus on_hold / backordered, which the reservation code sets).
//! Every change is one transaction that re-checks the status and the
//! operator holding the order, and is recorded in the event log.

use crate::ids::{OperatorId, OrderId};

pub mod floor;
pub mod labels;
pub mod pack;
pub mod pick;
pub mod queue;
pub mod ship;
pub mod slip;
pub mod tracking;

/// A problem with one field of a station form (the page shows it by the field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a station action on an order was refused.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    #[error("order {0} is not in the pick queue")]
    NotFound(OrderId),
    #[error("order {number} is held by {holder}")]
    HeldByOther { number: String, holder: String },
    #[error("order {number} is {status}, not {expected}")]
    WrongState { number: String, status: String, expected: &'static str },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The queue row of an order, locked for the rest of the transaction, after
/// checking that `operator_id` holds it and it is in `expected` status.
pub(crate) async fn lock_held(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    order_id: OrderId,
    operator_id: OperatorId,
    expected: queue::QueueStatus,
) -> Result<String, StationError> {
    let (status, holder, number, name) = sqlx::query_as::<_, (String, Option<OperatorId>, String, Option<String>)>(
        r#"SELECT CAST(q.status AS CHAR) AS status, q.operator_id, o.number, (SELECT display_name FROM operators p WHERE p.id = q.operator_id) AS holder
           FROM pick_queue q JOIN orders o ON o.id = q.order_id WHERE q.order_id = ? FOR UPDATE"#,
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StationError::NotFound(order_id))?;
    if holder != Some(operator_id) {
        return Err(StationError::HeldByOther { number, holder: name.unwrap_or_else(|| "nobody (claim it first)".into()) });
    }
    if status != expected.as_str() {
        return Err(StationError::WrongState { number, status, expected: expected.as_str() });
    }
    Ok(number)
}

/// A natural sort key for bins, so A-2 comes before A-10 (walking order).
pub fn bin_key(bin: Option<&str>) -> (bool, Vec<(String, u64)>) {
    let Some(bin) = bin.filter(|b| !b.trim().is_empty()) else { return (true, Vec::new()) };
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut num: Option<u64> = None;
    for c in bin.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(num.unwrap_or(0).saturating_mul(10).saturating_add(u64::from(d)));
        } else {
            if let Some(n) = num.take() {
                parts.push((std::mem::take(&mut text), n));
            }
            text.extend(c.to_uppercase());
        }
    }
    parts.push((text, num.unwrap_or(0)));
    (false, parts)
}

#[cfg(test)]
mod tests {
    use super::bin_key;

    #[test]
    fn bins_sort_in_walking_order() {
        let mut bins = vec![Some("A-10-1"), None, Some("a-2-3"), Some("B-1-1"), Some("A-2-1")];
        bins.sort_by_key(|b| bin_key(*b));
        assert_eq!(bins, vec![Some("A-2-1"), Some("a-2-3"), Some("A-10-1"), Some("B-1-1"), None]);
    }
}
