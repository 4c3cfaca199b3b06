//! Receiving stock: a supplier invoice's lines become lots, all or nothing.
//! Every malformed row is reported with its line number before anything is
//! written. Adjustments (counts, damage) are rows with a reason and an
//! operator, never a silent edit of a lot.

use crate::ids::LotId;
use crate::ids::OperatorId;
use chrono::{NaiveDate, Utc};
use sqlx::MySqlPool;

use super::gtin;
use crate::money;

/// One parsed receipt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRow {
    pub line: usize,
    pub product_id: u64,
    pub quantity: u32,
    pub unit_cost_minor: i64,
    pub lot_ref: String,
    pub location: Option<String>,
    pub expires_on: Option<NaiveDate>,
}

/// A problem with one CSV line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

/// The invoice the rows belong to.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub supplier: String,
    pub reference: String,
    pub date: NaiveDate,
    pub currency: String,
}

/// What a receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub invoice_id: u64,
    pub lots: usize,
    pub units: u64,
    pub total_minor: i64,
}

/// The most rows one receipt holds (split a larger invoice).
pub const MAX_ROWS: usize = 50_000;

/// A receipt line read and typed, before its product is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedRow {
    pub line: usize,
    /// The SKU or GTIN as written.
    pub ident: String,
    /// Its readings, GTIN first ([`gtin::readings`]), and why it is no GTIN when it is not.
    pub readings: Vec<gtin::Code>,
    pub not_gtin: Option<gtin::GtinError>,
    pub quantity: u32,
    pub unit_cost_minor: i64,
    pub lot_ref: String,
    pub location: Option<String>,
    pub expires_on: Option<NaiveDate>,
}

/// Reads and types a receipt CSV without touching the database (the fuzz
/// targets call it). Columns (header names, any order): `sku` or `gtin`,
/// `qty`, `unit_cost`, `lot_ref`, and optionally `location` and `expires_on`
/// (YYYY-MM-DD). Returns the typed rows and every row's problem.
pub fn read_csv(text: &str, currency: &str) -> (Vec<TypedRow>, Vec<RowError>) {
    let exp = money::exponent(currency);
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        Err(e) => return (Vec::new(), vec![RowError { line: 1, message: format!("cannot read the header: {e}") }]),
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (sku_col, gtin_col, qty_col, cost_col, lot_col) = (col("sku"), col("gtin"), col("qty"), col("unit_cost"), col("lot_ref"));
    let mut errors = Vec::new();
    for (name, c) in [("qty", qty_col), ("unit_cost", cost_col), ("lot_ref", lot_col)] {
        if c.is_none() {
            errors.push(RowError {
                line: 1,
                message: format!("missing column `{name}` (columns: sku or gtin, qty, unit_cost, lot_ref, location, expires_on)"),
            });
        }
    }
    if sku_col.is_none() && gtin_col.is_none() {
        errors.push(RowError { line: 1, message: "missing column `sku` or `gtin`".into() });
    }
    if !errors.is_empty() {
        return (Vec::new(), errors);
    }
    let (loc_col, exp_col) = (col("location"), col("expires_on"));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        if i == MAX_ROWS {
            errors.push(RowError { line, message: format!("a receipt holds at most {MAX_ROWS} rows: split the invoice") });
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError { line, message: format!("unreadable row: {e}") });
                continue;
            }
        };
        let field = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").to_owned();
        let mut bad = |m: String| errors.push(RowError { line, message: m });
        let ident = [field(sku_col), field(gtin_col)].into_iter().find(|s| !s.is_empty());
        let Some(ident) = ident else {
            bad("no sku or gtin".into());
            continue;
        };
        let (readings, not_gtin) = match gtin::readings(&ident) {
            Ok(r) => r,
            Err(e) => {
                bad(format!("`{}`: {e}", ident.chars().take(100).collect::<String>()));
                continue;
            }
        };
        let quantity = match field(qty_col).parse::<u32>() {
            Ok(q) if q > 0 => q,
            _ => {
                bad(format!("qty `{}` is not a whole number above zero", field(qty_col).chars().take(40).collect::<String>()));
                continue;
            }
        };
        let unit_cost_minor = match money::Money::parse(&field(cost_col), exp) {
            Ok(c) if c.minor() >= 0 => c.minor(),
            _ => {
                bad(format!("unit_cost `{}` is not an amount such as 12.50", field(cost_col).chars().take(40).collect::<String>()));
                continue;
            }
        };
        let lot_ref = field(lot_col);
        if lot_ref.is_empty() || lot_ref.chars().count() > 64 {
            bad("lot_ref must be 1-64 characters".into());
            continue;
        }
        let expires_on = match field(exp_col) {
            s if s.is_empty() => None,
            s => match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    bad(format!("expires_on `{}` is not a date such as 2027-06-30", s.chars().take(40).collect::<String>()));
                    continue;
                }
            },
        };
        let location = Some(field(loc_col)).filter(|s| !s.is_empty());
        if location.as_ref().is_some_and(|l| l.chars().count() > 32) {
            bad("location must be at most 32 characters".into());
            continue;
        }
        rows.push(TypedRow { line, ident, readings, not_gtin, quantity, unit_cost_minor, lot_ref, location, expires_on });
    }
    (rows, errors)
}

/// Parses a receipt CSV ([`read_csv`]) and finds each row's product. Every
/// problem of every row comes back, in line order; nothing is written.
pub async fn parse_csv(pool: &MySqlPool, text: &str, currency: &str) -> Result<Result<Vec<ReceiptRow>, Vec<RowError>>, sqlx::Error> {
    let (typed, mut errors) = read_csv(text, currency);
    // Every row's codes in one batch (the same lookup scanning uses), not a query a row.
    let found = super::lookup::query_many(pool, typed.iter().flat_map(|t| t.readings.iter())).await?;
    let mut rows = Vec::with_capacity(typed.len());
    let mut seen_lots = std::collections::HashSet::new();
    for t in typed {
        let product_id = t.readings.iter().find_map(|c| found.get(&c.key())).filter(|h| h.units == 1).map(|h| h.product_id);
        let line = t.line;
        let Some(product_id) = product_id else {
            let message = match &t.not_gtin {
                Some(e) => format!("no product with sku `{}`, and as a barcode: {e}", t.ident),
                None => format!("no product with sku or gtin `{}`", t.ident),
            };
            errors.push(RowError { line, message });
            continue;
        };
        if !seen_lots.insert((product_id, t.lot_ref.clone())) {
            errors.push(RowError { line, message: format!("lot `{}` appears twice for the same product", t.lot_ref) });
            continue;
        }
        rows.push(ReceiptRow {
            line,
            product_id,
            quantity: t.quantity,
            unit_cost_minor: t.unit_cost_minor,
            lot_ref: t.lot_ref,
            location: t.location,
            expires_on: t.expires_on,
        });
    }
    errors.sort_by_key(|e| e.line);
    Ok(if errors.is_empty() { Ok(rows) } else { Err(errors) })
}

/// Why a receipt was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("invoice {0} of this supplier was already received")]
    Duplicate(String),
    #[error("lot `{lot}` of line {line} already exists for that product")]
    LotExists { line: usize, lot: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Writes an invoice and its lots in one transaction; `progress(done, total)`
/// is called as rows are written.
pub async fn apply(
    pool: &MySqlPool,
    invoice: &Invoice,
    rows: &[ReceiptRow],
    operator_id: Option<OperatorId>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Received, ReceiveError> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT IGNORE INTO suppliers (name) VALUES (?)").bind(&invoice.supplier).execute(&mut *tx).await?;
    let supplier_id: u64 =
        sqlx::query_scalar("SELECT id FROM suppliers WHERE name = ?").bind(&invoice.supplier).fetch_one(&mut *tx).await?;
    let total: i64 = rows.iter().map(|r| r.unit_cost_minor * i64::from(r.quantity)).sum();
    let invoice_id = match sqlx::query(
        "INSERT INTO supplier_invoices (supplier_id, invoice_ref, invoice_date, currency, total_minor) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(supplier_id)
    .bind(&invoice.reference)
    .bind(invoice.date)
    .bind(&invoice.currency)
    .bind(total)
    .execute(&mut *tx)
    .await
    {
        Ok(r) => r.last_insert_id(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(ReceiveError::Duplicate(invoice.reference.clone())),
        Err(e) => return Err(e.into()),
    };
    let now = Utc::now().naive_utc();
    for (i, r) in rows.iter().enumerate() {
        let inserted = sqlx::query(
            r#"INSERT INTO inventory_lots (product_id, supplier_invoice_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor, location, expires_on)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"#,
        )
        .bind(r.product_id)
        .bind(invoice_id)
        .bind(&r.lot_ref)
        .bind(now)
        .bind(r.quantity)
        .bind(r.quantity)
        .bind(r.unit_cost_minor)
        .bind(&r.location)
        .bind(r.expires_on)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(ReceiveError::LotExists { line: r.line, lot: r.lot_ref.clone() });
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query("INSERT INTO supplier_costs (supplier_id, product_id, unit_cost_minor, currency, observed_at, source) VALUES (?, ?, ?, ?, ?, 'invoice') ON DUPLICATE KEY UPDATE unit_cost_minor = VALUES(unit_cost_minor)")
            .bind(supplier_id)
            .bind(r.product_id)
            .bind(r.unit_cost_minor)
            .bind(&invoice.currency)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if (i + 1) % 500 == 0 || i + 1 == rows.len() {
            progress(i + 1, rows.len());
        }
    }
    let units: u64 = rows.iter().map(|r| u64::from(r.quantity)).sum();
    let mut event = crate::events::Event::info(
        "inventory.received",
        format!("received invoice {} from {}: {} lots, {units} units", invoice.reference, invoice.supplier, rows.len()),
    )
    .about("supplier_invoice", invoice_id);
    if let Some(op) = operator_id {
        event = event.by(op);
    }
    crate::events::record(&mut *tx, event).await?;
    tx.commit().await?;
    Ok(Received { invoice_id, lots: rows.len(), units, total_minor: total })
}

/// Why an adjustment was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdjustError {
    #[error("no lot {0}")]
    NoLot(LotId),
    #[error("lot has {remaining} left of which {reserved} are reserved; it cannot go to {wanted}")]
    BelowReserved { remaining: u32, reserved: u32, wanted: i64 },
    #[error("lot received {received}; found stock above that is a new receipt")]
    AboveReceived { received: u32 },
    #[error("the change must not be zero")]
    Zero,
    #[error("note: at most {NOTE_MAX} characters (this one has {0})")]
    NoteTooLong(usize),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The longest adjustment note (the column's width).
pub const NOTE_MAX: usize = 255;

/// Reasons an adjustment may give (the `inventory_adjustments.reason` enum).
pub const REASONS: &[&str] = &["count", "damage", "loss", "found", "return", "other"];

/// Changes a lot's remaining quantity by `delta`, recording why and who.
pub async fn adjust(
    pool: &MySqlPool,
    lot_id: LotId,
    delta: i32,
    reason: &str,
    note: Option<&str>,
    operator_id: Option<OperatorId>,
) -> Result<u32, AdjustError> {
    if delta == 0 {
        return Err(AdjustError::Zero);
    }
    if let Some(n) = note.map(|n| n.chars().count()).filter(|n| *n > NOTE_MAX) {
        return Err(AdjustError::NoteTooLong(n));
    }
    let mut tx = pool.begin().await?;
    let (received, remaining, reserved, unit_cost) = sqlx::query_as::<_, (u32, u32, u32, i64)>(
        "SELECT qty_received, qty_remaining, qty_reserved, landed_unit_cost_minor FROM inventory_lots WHERE id = ? FOR UPDATE",
    )
    .bind(lot_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AdjustError::NoLot(lot_id))?;
    let wanted = i64::from(remaining) + i64::from(delta);
    if wanted < i64::from(reserved) {
        return Err(AdjustError::BelowReserved { remaining, reserved, wanted });
    }
    if wanted > i64::from(received) {
        return Err(AdjustError::AboveReceived { received });
    }
    sqlx::query("UPDATE inventory_lots SET qty_remaining = ? WHERE id = ?").bind(wanted).bind(lot_id).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO inventory_adjustments (lot_id, delta, unit_cost_minor, reason, note, operator_id) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(lot_id)
        .bind(delta)
        .bind(unit_cost)
        .bind(reason)
        .bind(note)
        .bind(operator_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(u32::try_from(wanted).unwrap_or(0))
}

/// The latest cost a supplier quoted or invoiced for a product.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SupplierCost {
    pub unit_cost_minor: i64,
    pub observed_at: chrono::NaiveDateTime,
    pub supplier: String,
}

/// The most recent supplier cost of a product in `currency`.
pub async fn latest_cost(pool: &MySqlPool, product_id: u64, currency: &str) -> Result<Option<SupplierCost>, sqlx::Error> {
    sqlx::query_as::<_, SupplierCost>(
        r#"SELECT c.unit_cost_minor, c.observed_at, s.name AS supplier FROM supplier_costs c JOIN suppliers s ON s.id = c.supplier_id
           WHERE c.product_id = ? AND c.currency = ? ORDER BY c.observed_at DESC LIMIT 1"#,
    )
    .bind(product_id)
    .bind(currency)
    .fetch_optional(pool)
    .await
}

/// A supplier invoice as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: u64,
    pub invoice_ref: String,
    pub supplier: String,
    pub invoice_date: NaiveDate,
    pub currency: String,
    pub total_minor: i64,
    pub allocation_basis: String,
}

/// The newest invoices first, or one by id.
pub async fn invoices(pool: &MySqlPool, id: Option<u64>, limit: u32) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    sqlx::query_as::<_, InvoiceRow>(
        r#"SELECT i.id, i.invoice_ref, s.name AS supplier, i.invoice_date, i.currency, i.total_minor, i.allocation_basis
           FROM supplier_invoices i JOIN suppliers s ON s.id = i.supplier_id WHERE (? IS NULL OR i.id = ?) ORDER BY i.id DESC LIMIT ?"#,
    )
    .bind(id)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
