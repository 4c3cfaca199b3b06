//! Landed costs: freight, duty, brokerage and other charges on a supplier
//! invoice, allocated over the invoice's lots by value, quantity or weight
//! into each lot's landed unit cost.
//!
//! A lot's share is spread over the units it received: each unit's cost
//! rises by `share / received` (whole minor units), the units still on hand
//! carry that into inventory, and the rest of the share (units already sold,
//! and the rounding residue) goes to cost of goods sold. So a charge that
//! arrives after receipt re-allocates over what is on hand, and the value on
//! hand is always units × landed unit cost, to the cent.

use crate::ids::{LotId, OperatorId};
use chrono::NaiveDateTime;
use sqlx::MySqlPool;

/// How an invoice's charges are split over its lots (`supplier_invoices.allocation_basis`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Value,
    Quantity,
    Weight,
}

impl Basis {
    pub const ALL: [Basis; 3] = [Basis::Value, Basis::Quantity, Basis::Weight];

    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Value => "value",
            Basis::Quantity => "quantity",
            Basis::Weight => "weight",
        }
    }

    pub fn parse(s: &str) -> Option<Basis> {
        Basis::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// Kinds of charge (`landed_charges.kind`).
pub const KINDS: &[&str] = &["freight", "duty", "brokerage", "other"];

/// A charge to allocate.
#[derive(Debug, Clone)]
pub struct NewCharge {
    pub invoice_id: u64,
    pub kind: String,
    pub reference: String,
    pub amount_minor: i64,
    /// The invoice's own basis when `None`.
    pub basis: Option<Basis>,
    pub charged_at: NaiveDateTime,
    pub operator_id: Option<OperatorId>,
}

#[derive(Debug, thiserror::Error)]
pub enum LandedError {
    #[error("no supplier invoice {0}")]
    NoInvoice(u64),
    #[error("invoice has no lots to carry the charge")]
    NoLots,
    #[error("kind: one of freight, duty, brokerage, other (not `{0}`)")]
    Kind(String),
    #[error("amount: a charge must be more than zero")]
    Amount,
    #[error("reference: at most 64 characters")]
    Reference,
    #[error("basis weight: lot `{0}` has no weight (set the product's weight, or allocate by value or quantity)")]
    NoWeight(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// One lot's part of a charge.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Allocation {
    pub lot_id: LotId,
    pub lot_ref: String,
    pub sku: String,
    pub basis_amount: i64,
    pub share_minor: i64,
    pub per_unit_minor: i64,
    pub units_on_hand: u32,
    pub inventory_minor: i64,
    pub cogs_minor: i64,
}

/// A charge as the invoice page shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Charge {
    pub id: u64,
    pub kind: String,
    pub reference: String,
    pub amount_minor: i64,
    pub basis: String,
    pub charged_at: NaiveDateTime,
}

/// Splits `amount` over `weights` in proportion, in whole units, by largest
/// remainder: the parts always sum to `amount`. All-zero weights split evenly.
pub fn allocate(amount: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let even;
    let weights = if weights.iter().all(|w| *w <= 0) {
        even = vec![1; weights.len()];
        &even[..]
    } else {
        weights
    };
    let total: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    let mut parts: Vec<(usize, i64, i128)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let exact = i128::from(amount) * i128::from((*w).max(0));
            (i, i64::try_from(exact / total).unwrap_or(0), exact % total)
        })
        .collect();
    let mut left = amount - parts.iter().map(|p| p.1).sum::<i64>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|a, b| parts[*b].2.cmp(&parts[*a].2).then(a.cmp(b)));
    for i in order.into_iter().cycle() {
        if left <= 0 {
            break;
        }
        parts[i].1 += 1;
        left -= 1;
    }
    parts.sort_by_key(|p| p.0);
    parts.into_iter().map(|p| p.1).collect()
}

/// Adds a charge to an invoice and allocates it over the invoice's lots in
/// one transaction (the lots locked, so no shipment takes units meanwhile).
/// Also records each product's new landed unit cost as a supplier cost
/// observation, so pricing's "supplier landed cost" uses the landed figure.
pub async fn add_charge(pool: &MySqlPool, c: &NewCharge) -> Result<(u64, Vec<Allocation>), LandedError> {
    if !KINDS.contains(&c.kind.as_str()) {
        return Err(LandedError::Kind(c.kind.clone()));
    }
    if c.amount_minor <= 0 {
        return Err(LandedError::Amount);
    }
    if c.reference.chars().count() > 64 {
        return Err(LandedError::Reference);
    }
    let mut tx = pool.begin().await?;
    let (supplier_id, invoice_basis, currency) = sqlx::query_as::<_, (u64, String, String)>(
        "SELECT supplier_id, allocation_basis, currency FROM supplier_invoices WHERE id = ? FOR UPDATE",
    )
    .bind(c.invoice_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(LandedError::NoInvoice(c.invoice_id))?;
    let basis = c.basis.or_else(|| Basis::parse(&invoice_basis)).unwrap_or(Basis::Value);
    // The basis is the invoice's: choosing one for a charge makes it the invoice's for the next.
    sqlx::query("UPDATE supplier_invoices SET allocation_basis = ? WHERE id = ?")
        .bind(basis.as_str())
        .bind(c.invoice_id)
        .execute(&mut *tx)
        .await?;
    let lots = sqlx::query_as::<_, (LotId, u64, String, String, u32, u32, i64, Option<u32>)>(
        r#"SELECT l.id, l.product_id, l.lot_ref, p.sku, l.qty_received, l.qty_remaining, l.unit_cost_minor, COALESCE(l.weight_g, p.weight_g)
           FROM inventory_lots l JOIN products p ON p.id = l.product_id
           WHERE l.supplier_invoice_id = ? ORDER BY l.id FOR UPDATE"#,
    )
    .bind(c.invoice_id)
    .fetch_all(&mut *tx)
    .await?;
    if lots.is_empty() {
        return Err(LandedError::NoLots);
    }
    let mut weights = Vec::with_capacity(lots.len());
    for (_, _, lot_ref, _, received, _, cost, weight) in &lots {
        weights.push(match basis {
            Basis::Value => i64::from(*received) * cost,
            Basis::Quantity => i64::from(*received),
            Basis::Weight => i64::from(*received) * i64::from(weight.ok_or_else(|| LandedError::NoWeight(lot_ref.clone()))?),
        });
    }
    let shares = allocate(c.amount_minor, &weights);
    let charge_id = sqlx::query(
        "INSERT INTO landed_charges (supplier_invoice_id, kind, reference, amount_minor, basis, charged_at, operator_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(c.invoice_id)
    .bind(&c.kind)
    .bind(&c.reference)
    .bind(c.amount_minor)
    .bind(basis.as_str())
    .bind(c.charged_at)
    .bind(c.operator_id)
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    let mut out = Vec::with_capacity(lots.len());
    for ((lot_id, _, lot_ref, sku, received, remaining, _, _), (share, weight)) in lots.into_iter().zip(shares.into_iter().zip(weights)) {
        let per_unit = share / i64::from(received.max(1));
        let inventory = per_unit * i64::from(remaining);
        let a = Allocation {
            lot_id,
            lot_ref,
            sku,
            basis_amount: weight,
            share_minor: share,
            per_unit_minor: per_unit,
            units_on_hand: remaining,
            inventory_minor: inventory,
            cogs_minor: share - inventory,
        };
        sqlx::query(
            r#"INSERT INTO landed_allocations (landed_charge_id, lot_id, basis_amount, share_minor, per_unit_minor, units_on_hand, inventory_minor, cogs_minor)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)"#,
        )
        .bind(charge_id)
        .bind(a.lot_id)
        .bind(a.basis_amount)
        .bind(a.share_minor)
        .bind(a.per_unit_minor)
        .bind(a.units_on_hand)
        .bind(a.inventory_minor)
        .bind(a.cogs_minor)
        .execute(&mut *tx)
        .await?;
        if per_unit > 0 {
            sqlx::query("UPDATE inventory_lots SET charges_per_unit_minor = charges_per_unit_minor + ? WHERE id = ?")
                .bind(per_unit)
                .bind(a.lot_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            r#"INSERT INTO supplier_costs (supplier_id, product_id, unit_cost_minor, currency, observed_at, source)
               SELECT ?, l.product_id, l.landed_unit_cost_minor, ?, UTC_TIMESTAMP(6), 'landed' FROM inventory_lots l WHERE l.id = ?
               ON DUPLICATE KEY UPDATE unit_cost_minor = GREATEST(supplier_costs.unit_cost_minor, VALUES(unit_cost_minor))"#,
        )
        .bind(supplier_id)
        .bind(&currency)
        .bind(a.lot_id)
        .execute(&mut *tx)
        .await?;
        out.push(a);
    }
    crate::events::record(
        &mut *tx,
        crate::events::Event::info(
            "inventory.landed_charge",
            format!("{} charge of {} minor units allocated by {}", c.kind, c.amount_minor, basis.as_str()),
        )
        .about("supplier_invoice", c.invoice_id),
    )
    .await?;
    tx.commit().await?;
    Ok((charge_id, out))
}

/// An invoice's charges, oldest first.
pub async fn charges_of_invoice(pool: &MySqlPool, invoice_id: u64) -> Result<Vec<Charge>, sqlx::Error> {
    sqlx::query_as::<_, Charge>(
        "SELECT id, kind, reference, amount_minor, basis, charged_at FROM landed_charges WHERE supplier_invoice_id = ? ORDER BY id",
    )
    .bind(invoice_id)
    .fetch_all(pool)
    .await
}

/// How one charge was allocated.
pub async fn allocations(pool: &MySqlPool, charge_id: u64) -> Result<Vec<Allocation>, sqlx::Error> {
    sqlx::query_as::<_, Allocation>(
        r#"SELECT a.lot_id, l.lot_ref, p.sku, a.basis_amount, a.share_minor, a.per_unit_minor, a.units_on_hand, a.inventory_minor, a.cogs_minor
           FROM landed_allocations a JOIN inventory_lots l ON l.id = a.lot_id JOIN products p ON p.id = l.product_id
           WHERE a.landed_charge_id = ? ORDER BY a.lot_id"#,
    )
    .bind(charge_id)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::allocate;

    #[test]
    fn parts_sum_to_the_charge() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(1000, &[3000, 1000]), vec![750, 250]);
        assert_eq!(allocate(7, &[0, 0]), vec![4, 3]);
        assert_eq!(allocate(1, &[1, 2]), vec![0, 1]);
        for (amount, w) in [(999_999i64, vec![7i64, 13, 29, 0, 1]), (3, vec![1_000_000, 1, 1])] {
            assert_eq!(allocate(amount, &w).iter().sum::<i64>(), amount);
        }
    }
}
