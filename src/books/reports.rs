//! What the books show: the journal, the trial balance, the inventory
//! valuation, and the audit of the invariants the books promise.

use chrono::NaiveDateTime;
use serde::Serialize;
use sqlx::MySqlPool;

use crate::ids::{LotId, OrderId};

/// One account's totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Balance {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub role: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
}

impl Balance {
    /// Debits minus credits.
    pub fn net(&self) -> i64 {
        self.debit_minor - self.credit_minor
    }
}

/// The trial balance over posted entries dated before `until` (all when `None`).
pub async fn trial_balance(pool: &MySqlPool, until: Option<NaiveDateTime>) -> Result<Vec<Balance>, sqlx::Error> {
    sqlx::query_as::<_, Balance>(
        r#"SELECT a.code, a.name, a.kind, a.role,
                  CAST(COALESCE(SUM(l.debit_minor), 0) AS SIGNED) AS debit_minor, CAST(COALESCE(SUM(l.credit_minor), 0) AS SIGNED) AS credit_minor
           FROM accounts a
           LEFT JOIN (journal_lines l JOIN journal_entries e ON e.id = l.journal_entry_id AND e.state = 'posted' AND (? IS NULL OR e.occurred_at < ?))
             ON l.account_id = a.id
           GROUP BY a.id, a.code, a.name, a.kind, a.role ORDER BY a.code"#,
    )
    .bind(until)
    .bind(until)
    .fetch_all(pool)
    .await
}

/// A journal line as the journal page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct JournalLine {
    pub entry_id: u64,
    pub occurred_at: NaiveDateTime,
    pub period: chrono::NaiveDate,
    pub memo: String,
    pub source_type: String,
    pub source_id: u64,
    pub order_id: Option<OrderId>,
    pub reverses_id: Option<u64>,
    pub code: String,
    pub account: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
}

/// Filters for the journal.
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub account_code: Option<String>,
    pub order_id: Option<OrderId>,
    pub limit: u32,
}

/// Posted entries' lines, oldest first; an account filter keeps whole entries that touch it.
pub async fn journal(pool: &MySqlPool, f: &JournalFilter) -> Result<Vec<JournalLine>, sqlx::Error> {
    sqlx::query_as::<_, JournalLine>(
        r#"SELECT e.id AS entry_id, e.occurred_at, e.period, e.memo, e.source_type, e.source_id, e.order_id, e.reverses_id,
                  a.code, a.name AS account, l.debit_minor, l.credit_minor
           FROM journal_entries e JOIN journal_lines l ON l.journal_entry_id = e.id JOIN accounts a ON a.id = l.account_id
           WHERE e.state = 'posted' AND (? IS NULL OR e.occurred_at >= ?) AND (? IS NULL OR e.occurred_at < ?) AND (? IS NULL OR e.order_id = ?)
             AND (? IS NULL OR EXISTS (SELECT 1 FROM journal_lines x JOIN accounts y ON y.id = x.account_id WHERE x.journal_entry_id = e.id AND y.code = ?))
           ORDER BY e.occurred_at, e.id, l.id LIMIT ?"#,
    )
    .bind(f.from)
    .bind(f.from)
    .bind(f.to)
    .bind(f.to)
    .bind(f.order_id)
    .bind(f.order_id)
    .bind(&f.account_code)
    .bind(&f.account_code)
    .bind(f.limit.max(1))
    .fetch_all(pool)
    .await
}

/// One lot's value on hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LotValue {
    pub lot_id: LotId,
    pub sku: String,
    pub lot_ref: String,
    pub received_at: NaiveDateTime,
    pub qty_remaining: u32,
    pub unit_cost_minor: i64,
    pub landed_unit_cost_minor: i64,
    pub value_minor: i64,
}

/// Every lot with units on hand, at landed cost.
pub async fn valuation(pool: &MySqlPool) -> Result<Vec<LotValue>, sqlx::Error> {
    sqlx::query_as::<_, LotValue>(
        r#"SELECT l.id AS lot_id, p.sku, l.lot_ref, l.received_at, l.qty_remaining, l.unit_cost_minor, l.landed_unit_cost_minor,
                  CAST(l.qty_remaining * l.landed_unit_cost_minor AS SIGNED) AS value_minor
           FROM inventory_lots l JOIN products p ON p.id = l.product_id WHERE l.qty_remaining > 0 ORDER BY p.sku, l.received_at, l.id"#,
    )
    .fetch_all(pool)
    .await
}

/// What the audit compares, and what broke.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub entries: i64,
    pub lines: i64,
    pub trial_balance_net: i64,
    pub inventory_account_minor: i64,
    pub inventory_valuation_minor: i64,
    pub problems: Vec<String>,
}

/// Checks the invariants: every entry balances and none is left a draft,
/// the trial balance nets to zero, Inventory equals the lots on hand at
/// landed cost, and each order's COGS equals the sum of its trail.
pub async fn audit(pool: &MySqlPool) -> Result<Audit, sqlx::Error> {
    let mut a = Audit::default();
    let (entries, lines, net): (i64, i64, i64) = sqlx::query_as(
        r#"SELECT (SELECT COUNT(*) FROM journal_entries WHERE state = 'posted'), COUNT(*), CAST(COALESCE(SUM(l.debit_minor - l.credit_minor), 0) AS SIGNED)
           FROM journal_lines l JOIN journal_entries e ON e.id = l.journal_entry_id WHERE e.state = 'posted'"#,
    )
    .fetch_one(pool)
    .await?;
    (a.entries, a.lines, a.trial_balance_net) = (entries, lines, net);
    if net != 0 {
        a.problems.push(format!("the trial balance nets to {net}, not zero"));
    }
    let unbalanced: Vec<(u64, i64)> = sqlx::query_as(
        r#"SELECT e.id, CAST(SUM(l.debit_minor - l.credit_minor) AS SIGNED) FROM journal_entries e JOIN journal_lines l ON l.journal_entry_id = e.id
           GROUP BY e.id HAVING SUM(l.debit_minor - l.credit_minor) <> 0 LIMIT 20"#,
    )
    .fetch_all(pool)
    .await?;
    a.problems.extend(unbalanced.iter().map(|(id, by)| format!("entry {id} is off by {by}")));
    let drafts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM journal_entries WHERE state = 'draft'").fetch_one(pool).await?;
    if drafts > 0 {
        a.problems.push(format!("{drafts} entries were left as drafts"));
    }
    let (account, valuation): (i64, i64) = sqlx::query_as(
        r#"SELECT CAST(COALESCE((SELECT SUM(l.debit_minor - l.credit_minor) FROM journal_lines l JOIN journal_entries e ON e.id = l.journal_entry_id
                                 JOIN accounts a ON a.id = l.account_id WHERE a.role = 'inventory' AND e.state = 'posted'), 0) AS SIGNED),
                  CAST(COALESCE((SELECT SUM(qty_remaining * landed_unit_cost_minor) FROM inventory_lots), 0) AS SIGNED)"#,
    )
    .fetch_one(pool)
    .await?;
    (a.inventory_account_minor, a.inventory_valuation_minor) = (account, valuation);
    if account != valuation {
        a.problems.push(format!("the Inventory account holds {account} but the lots on hand are worth {valuation}"));
    }
    let cogs: Vec<(OrderId, i64, i64)> = sqlx::query_as(
        r#"SELECT o.id,
                  CAST(COALESCE((SELECT SUM(l.debit_minor - l.credit_minor) FROM journal_lines l JOIN journal_entries e ON e.id = l.journal_entry_id
                                 JOIN accounts a ON a.id = l.account_id WHERE e.order_id = o.id AND a.role = 'cogs' AND e.state = 'posted'), 0) AS SIGNED) AS booked,
                  CAST(COALESCE((SELECT SUM(c.total_minor) FROM cogs_entries c WHERE c.order_id = o.id), 0) AS SIGNED) AS trail
           FROM orders o WHERE EXISTS (SELECT 1 FROM journal_entries e WHERE e.order_id = o.id)"#,
    )
    .fetch_all(pool)
    .await?;
    a.problems.extend(
        cogs.iter()
            .filter(|(_, booked, trail)| booked != trail)
            .take(20)
            .map(|(o, booked, trail)| format!("order {o}: COGS booked {booked}, trail {trail}")),
    );
    Ok(a)
}

/// Net revenue (revenue accounts' credits less debits, refunds included) and
/// COGS (debits less credits) of posted entries per local day (`days` from
/// [`crate::calendar::json`]), oldest first: (day, revenue, cogs).
pub async fn daily_margin(pool: &MySqlPool, days: &str) -> Result<Vec<(chrono::NaiveDate, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT d.day,
                  CAST(COALESCE(SUM(IF(a.kind = 'revenue', l.credit_minor - l.debit_minor, 0)), 0) AS SIGNED),
                  CAST(COALESCE(SUM(IF(a.role = 'cogs', l.debit_minor - l.credit_minor, 0)), 0) AS SIGNED)
           FROM JSON_TABLE(?, '$[*]' COLUMNS (day DATE PATH '$.d', s DATETIME(6) PATH '$.s', e DATETIME(6) PATH '$.e')) d
           LEFT JOIN (journal_entries e JOIN journal_lines l ON l.journal_entry_id = e.id JOIN accounts a ON a.id = l.account_id)
             ON e.state = 'posted' AND e.occurred_at >= d.s AND e.occurred_at < d.e
           GROUP BY d.day ORDER BY d.day"#,
    )
    .bind(days)
    .fetch_all(pool)
    .await
}
