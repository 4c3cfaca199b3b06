//! Journal entries: written as a draft, their lines added, posted in the
//! same transaction. The database checks the balance when the entry posts
//! and refuses any later change (see the books migration); this module
//! picks the period and turns signed amounts into debit or credit lines.

use chrono::{Months, NaiveDate, NaiveDateTime};
use sqlx::{MySql, Transaction};

use super::{Books, BooksError, chart::AccountIds};
use crate::ids::OrderId;

/// An entry before it is posted. Amounts are signed: positive debits,
/// negative credits; zero lines are left out.
#[derive(Debug, Clone)]
pub struct Draft {
    pub occurred_at: NaiveDateTime,
    pub memo: String,
    pub source_type: &'static str,
    pub source_id: u64,
    pub order_id: Option<OrderId>,
    pub reverses: Option<u64>,
    pub lines: Vec<(String, i64)>,
}

impl Draft {
    pub fn new(source_type: &'static str, source_id: u64, occurred_at: NaiveDateTime, memo: impl Into<String>) -> Draft {
        let mut memo: String = memo.into();
        if memo.chars().count() > 255 {
            memo = memo.chars().take(254).collect::<String>() + "…";
        }
        Draft { occurred_at, memo, source_type, source_id, order_id: None, reverses: None, lines: Vec::new() }
    }

    pub fn order(mut self, id: OrderId) -> Draft {
        self.order_id = Some(id);
        self
    }

    pub fn debit(&mut self, role: &str, minor: i64) -> &mut Draft {
        if minor != 0 {
            self.lines.push((role.to_owned(), minor));
        }
        self
    }

    pub fn credit(&mut self, role: &str, minor: i64) -> &mut Draft {
        self.debit(role, -minor)
    }

    /// Debits minus credits (zero when it balances).
    pub fn imbalance(&self) -> i64 {
        self.lines.iter().map(|l| l.1).sum()
    }
}

/// The month an event dated `occurred_at` posts into: its own tenant-local
/// month, or the first open one after it when that month is closed.
pub async fn period_for(tx: &mut Transaction<'_, MySql>, books: &Books, occurred_at: NaiveDateTime) -> Result<NaiveDate, sqlx::Error> {
    let mut month = books.local_month(occurred_at);
    let closed: Vec<NaiveDate> =
        sqlx::query_scalar("SELECT month FROM book_periods WHERE month >= ? ORDER BY month").bind(month).fetch_all(&mut **tx).await?;
    for c in closed {
        if c == month {
            month = month.checked_add_months(Months::new(1)).unwrap_or(month);
        } else if c > month {
            break;
        }
    }
    Ok(month)
}

/// Posts a draft. `Ok(None)` when its source was posted already (the
/// entries are unique per source, so a repeated catch-up posts nothing twice).
pub async fn post(tx: &mut Transaction<'_, MySql>, books: &Books, ids: &AccountIds, d: &Draft) -> Result<Option<u64>, BooksError> {
    if d.imbalance() != 0 {
        return Err(BooksError::Invalid(format!("entry for {} {} does not balance by {}", d.source_type, d.source_id, d.imbalance())));
    }
    let period = period_for(tx, books, d.occurred_at).await?;
    let inserted = sqlx::query(
        r#"INSERT INTO journal_entries (occurred_at, period, memo, source_type, source_id, order_id, reverses_id)
           VALUES (?, ?, ?, ?, ?, ?, ?)"#,
    )
    .bind(d.occurred_at)
    .bind(period)
    .bind(&d.memo)
    .bind(d.source_type)
    .bind(d.source_id)
    .bind(d.order_id)
    .bind(d.reverses)
    .execute(&mut **tx)
    .await;
    let entry = match inserted {
        Ok(r) => r.last_insert_id(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    for (role, amount) in &d.lines {
        let account = ids.get(role)?;
        sqlx::query("INSERT INTO journal_lines (journal_entry_id, account_id, debit_minor, credit_minor) VALUES (?, ?, ?, ?)")
            .bind(entry)
            .bind(account)
            .bind(amount.max(&0))
            .bind((-amount).max(0))
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE journal_entries SET state = 'posted', posted_at = UTC_TIMESTAMP(6) WHERE id = ?")
        .bind(entry)
        .execute(&mut **tx)
        .await?;
    Ok(Some(entry))
}

/// Takes the books' posting turn: every posting transaction locks the
/// Inventory account's row first, so postings (and the trail's running
/// totals) are serial across processes and replicas.
pub async fn lock_books(tx: &mut Transaction<'_, MySql>, ids: &AccountIds) -> Result<(), BooksError> {
    sqlx::query_scalar::<_, u64>("SELECT id FROM accounts WHERE id = ? FOR UPDATE")
        .bind(ids.get(super::chart::role::INVENTORY)?)
        .fetch_one(&mut **tx)
        .await?;
    Ok(())
}

/// Posts the reversal of a posted entry: the same lines, sides swapped,
/// dated now, pointing at the original. An entry is reversed at most once.
pub async fn reverse(pool: &sqlx::MySqlPool, books: &Books, ids: &AccountIds, entry_id: u64, reason: &str) -> Result<u64, BooksError> {
    let mut tx = pool.begin().await?;
    lock_books(&mut tx, ids).await?;
    let Some((memo, order_id, reverses)) = sqlx::query_as::<_, (String, Option<OrderId>, Option<u64>)>(
        "SELECT memo, order_id, reverses_id FROM journal_entries WHERE id = ? AND state = 'posted'",
    )
    .bind(entry_id)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(BooksError::Invalid(format!("entry: no posted entry {entry_id}")));
    };
    if reverses.is_some() {
        return Err(BooksError::Invalid(format!("entry: {entry_id} is itself a reversal; post a new entry instead")));
    }
    let lines: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT a.role, l.debit_minor, l.credit_minor FROM journal_lines l JOIN accounts a ON a.id = l.account_id WHERE l.journal_entry_id = ? ORDER BY l.id",
    )
    .bind(entry_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut d = Draft::new("reversal", entry_id, chrono::Utc::now().naive_utc(), format!("Reversal of #{entry_id} ({memo}): {reason}"));
    d.order_id = order_id;
    d.reverses = Some(entry_id);
    for (role, debit, credit) in lines {
        d.debit(&role, credit - debit);
    }
    let posted =
        post(&mut tx, books, ids, &d).await?.ok_or_else(|| BooksError::Invalid(format!("entry: {entry_id} was reversed already")))?;
    tx.commit().await?;
    Ok(posted)
}

/// Closes a month: it takes no postings from now on (events dated in it
/// post into the next open month, their dates kept).
pub async fn close_period(pool: &sqlx::MySqlPool, month: NaiveDate, by: Option<crate::ids::OperatorId>) -> Result<bool, BooksError> {
    let r = sqlx::query("INSERT IGNORE INTO book_periods (month, closed_at, closed_by) VALUES (?, UTC_TIMESTAMP(6), ?)")
        .bind(month)
        .bind(by)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Closed months, newest first.
pub async fn closed_periods(pool: &sqlx::MySqlPool) -> Result<Vec<(NaiveDate, NaiveDateTime)>, sqlx::Error> {
    sqlx::query_as("SELECT month, closed_at FROM book_periods ORDER BY month DESC").fetch_all(pool).await
}
