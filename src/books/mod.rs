//! The books: a double-entry journal in integer minor units, posted from
//! the facts the other domains record (receipts, landed charges, shipments
//! with the lots they consumed, adjustments, refunds, receivables
//! payments), each fact once (`journal_entries` is unique per source).
//!
//! Every fact carries the cost it moved at, so the books are a projection:
//! [`post::catch_up`] may run at once after the fact or later and posts the
//! same figures. The database keeps the invariants the books promise: an
//! entry posts only balanced and never changes (triggers), a closed month
//! takes no postings, the COGS trail is append-only. [`reports::audit`]
//! checks the rest: the trial balance sums to zero, Inventory equals the
//! lots on hand at landed cost, each order's COGS equals its trail.

pub mod chart;
pub mod export;
pub mod journal;
pub mod post;
pub mod receivables;
pub mod refunds;
pub mod reports;
pub mod trail;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;

use crate::config::{RestockTo, TenantConfig};
pub use chart::Chart;

/// What the books need from the tenant file, resolved once.
#[derive(Debug, Clone)]
pub struct Books {
    pub chart: Chart,
    pub fees: Vec<crate::config::GatewayFee>,
    pub ar_methods: Vec<String>,
    pub restock_to: RestockTo,
    pub tz: Tz,
    pub currency: String,
}

impl Books {
    /// The tenant's books, or `None` when the accounting module is off.
    pub fn from_config(config: &TenantConfig) -> Result<Option<Books>, BooksError> {
        let Some(accounting) = config.accounting.as_ref().filter(|_| config.modules.accounting) else {
            return Ok(None);
        };
        Ok(Some(Books::new(accounting, config.tenant.timezone, &config.tenant.currency)?))
    }

    /// The books of an `accounting` section, in a time zone and currency.
    pub fn new(accounting: &crate::config::Accounting, tz: Tz, currency: &str) -> Result<Books, BooksError> {
        Ok(Books {
            chart: Chart::from_config(accounting)?,
            fees: accounting.gateway_fees.clone(),
            ar_methods: accounting.ar_payment_methods.clone(),
            restock_to: accounting.restock_to,
            tz,
            currency: currency.to_owned(),
        })
    }

    /// Whether orders paid by `method` are receivables.
    pub fn is_receivable(&self, method: Option<&str>) -> bool {
        method.is_some_and(|m| self.ar_methods.iter().any(|a| a == m))
    }

    /// The tenant-local calendar day of a UTC instant.
    pub fn local_day(&self, utc: NaiveDateTime) -> NaiveDate {
        utc.and_utc().with_timezone(&self.tz).date_naive()
    }

    /// The first day of the tenant-local month of a UTC instant.
    pub fn local_month(&self, utc: NaiveDateTime) -> NaiveDate {
        let d = self.local_day(utc);
        d.with_day(1).unwrap_or(d)
    }

    /// Minor units shown in the tenant's currency ("1,234.50 USD" style without grouping).
    pub fn money(&self, minor: i64) -> String {
        crate::money::format_minor(minor, crate::money::exponent(&self.currency))
    }
}

/// Why the books refused or could not post.
#[derive(Debug, thiserror::Error)]
pub enum BooksError {
    #[error("accounting.accounts: {0}")]
    Chart(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the accounting module is off for this tenant (modules.accounting) or it has no `accounting` section")]
    Off,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The tenant's books with their chart installed: what pages, jobs and
/// verbs post and read through.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub books: Books,
    pub ids: chart::AccountIds,
}

impl Ledger {
    /// Installs the chart and returns the ledger, or `None` when the accounting module is off.
    pub async fn open(pool: &sqlx::MySqlPool, config: &TenantConfig) -> Result<Option<Ledger>, BooksError> {
        let Some(books) = Books::from_config(config)? else { return Ok(None) };
        let ids = chart::install(pool, &books.chart).await?;
        Ok(Some(Ledger { books, ids }))
    }

    /// Posts every fact still waiting (see [`post::catch_up`]).
    pub async fn catch_up(&self, pool: &sqlx::MySqlPool) -> Result<post::Posted, BooksError> {
        post::catch_up(pool, &self.books, &self.ids).await
    }
}
