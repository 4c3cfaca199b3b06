//! The books in the tools accountants already use: an hledger journal, and
//! a GnuCash book written through GnuCash's own Python bindings (Debian's
//! `python3-gnucash`, run by Debian's `/usr/bin/python3`), XML backend.

use std::{fmt::Write as _, io::Write as _, path::Path, process::Stdio};

use serde::Serialize;
use sqlx::MySqlPool;

use super::{Books, BooksError, chart::Kind, reports};

/// One entry as both exports write it.
#[derive(Debug, Clone, Serialize)]
pub struct Txn {
    pub id: u64,
    /// Tenant-local date, `YYYY-MM-DD`.
    pub date: String,
    pub memo: String,
    /// (account full name, signed minor units: debit positive).
    pub splits: Vec<(String, i64)>,
}

/// Everything an export needs, read once.
#[derive(Debug, Clone, Serialize)]
pub struct Book {
    pub currency: String,
    pub exponent: u32,
    /// (full name, code, kind).
    pub accounts: Vec<(String, String, String)>,
    pub transactions: Vec<Txn>,
}

/// Reads the posted books, dated in the tenant's time zone, oldest first.
pub async fn read(pool: &MySqlPool, books: &Books) -> Result<Book, sqlx::Error> {
    let accounts = reports::trial_balance(pool, None).await?.into_iter().map(|b| (b.name, b.code, b.kind)).collect();
    let lines = reports::journal(pool, &reports::JournalFilter { limit: u32::MAX, ..Default::default() }).await?;
    let mut transactions: Vec<Txn> = Vec::new();
    for l in lines {
        let amount = l.debit_minor - l.credit_minor;
        match transactions.last_mut() {
            Some(t) if t.id == l.entry_id => t.splits.push((l.account, amount)),
            _ => transactions.push(Txn {
                id: l.entry_id,
                date: books.local_day(l.occurred_at).format("%Y-%m-%d").to_string(),
                memo: l.memo,
                splits: vec![(l.account, amount)],
            }),
        }
    }
    // Tenant-local dates can reorder entries near midnight; both tools want dates in order.
    transactions.sort_by(|a, b| a.date.cmp(&b.date).then(a.id.cmp(&b.id)));
    Ok(Book { currency: books.currency.clone(), exponent: crate::money::exponent(&books.currency), accounts, transactions })
}

/// hledger's account type letter for a kind.
fn hledger_type(kind: &str) -> &'static str {
    match Kind::parse(kind) {
        Some(Kind::Asset) => "A",
        Some(Kind::Liability) => "L",
        Some(Kind::Equity) => "E",
        Some(Kind::Revenue) => "R",
        _ => "X",
    }
}

/// Text safe on one journal line: no comment marks, no line breaks.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c == ';' || c == '\n' || c == '\r' || c == '\t' { ' ' } else { c }).collect()
}

/// The books as an hledger journal: accounts and the commodity declared,
/// so `hledger check accounts commodities ordereddates` passes.
pub fn hledger(book: &Book) -> String {
    let mut out = String::new();
    let cur = &book.currency;
    let _ = writeln!(out, "; Quartermaster books, exported {}\n", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(out, "commodity {} {cur}\n", crate::money::format_minor(100_000, book.exponent));
    for (name, code, kind) in &book.accounts {
        let _ = writeln!(out, "account {name}  ; type: {}, code: {code}", hledger_type(kind));
    }
    for t in &book.transactions {
        let _ = writeln!(out, "\n{} {}  ; entry: {}", t.date, one_line(&t.memo), t.id);
        if t.splits.is_empty() {
            continue;
        }
        for (account, amount) in &t.splits {
            let _ = writeln!(out, "    {account}  {} {cur}", crate::money::format_minor(*amount, book.exponent));
        }
    }
    out
}

/// The GnuCash writer, run by Debian's Python with the bindings.
const GNUCASH_WRITER: &str = include_str!("gnucash_book.py");

/// The Python that has GnuCash's bindings (Debian's, not one first on PATH).
pub const GNUCASH_PYTHON: &str = "/usr/bin/python3";

/// Whether GnuCash's Python bindings load (the export's health probe).
pub async fn gnucash_version() -> Result<String, String> {
    let run = tokio::process::Command::new(GNUCASH_PYTHON)
        .args(["-c", "from gnucash import Session, Book; print('the bindings load')"])
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), run)
        .await
        .map_err(|_| "python3 did not load the bindings within 30 s".to_owned())?
        .map_err(|e| format!("cannot run {GNUCASH_PYTHON} ({e}); install gnucash and python3-gnucash"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").to_owned();
        return Err(format!("GnuCash's bindings do not load: {last}; install gnucash and python3-gnucash"));
    }
    Ok(format!("GnuCash: {}", String::from_utf8_lossy(&out.stdout).trim()))
}

/// Writes the books as a GnuCash XML book at `path` (replacing it).
pub fn gnucash(book: &Book, path: &Path) -> Result<(), BooksError> {
    #[derive(Serialize)]
    struct Input<'a> {
        path: String,
        book: &'a Book,
    }
    let input = serde_json::to_vec(&Input { path: path.display().to_string(), book }).map_err(|e| BooksError::Invalid(e.to_string()))?;
    let mut child = std::process::Command::new(GNUCASH_PYTHON)
        .arg("-c")
        .arg(GNUCASH_WRITER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BooksError::Invalid(format!("gnucash: cannot run {GNUCASH_PYTHON} ({e}); install gnucash and python3-gnucash")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&input).map_err(|e| BooksError::Invalid(format!("gnucash: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| BooksError::Invalid(format!("gnucash: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(BooksError::Invalid(format!("gnucash: the book could not be written: {last}")));
    }
    Ok(())
}
