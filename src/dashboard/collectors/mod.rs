//! The standard collectors, one small function each, grouped by what they
//! watch: the floor, stock and sync, the back office, the integrations and
//! the appliance itself. Each reads through the owner of its tables.

mod floor;
mod health;
pub mod office;
mod stock;
mod system;

pub use office::percent;

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;

use super::{Collector, Reading};
use crate::{events::Audience, services::Services};

/// A collector made of a name, its limits and a function.
pub struct Def {
    pub name: &'static str,
    pub title: &'static str,
    pub ttl: Duration,
    pub deadline: Duration,
    pub audience: Audience,
    pub run: for<'a> fn(&'a Services) -> BoxFuture<'a, anyhow::Result<Reading>>,
}

impl Collector for Def {
    fn name(&self) -> &'static str {
        self.name
    }
    fn title(&self) -> &'static str {
        self.title
    }
    fn ttl(&self) -> Duration {
        self.ttl
    }
    fn deadline(&self) -> Duration {
        self.deadline
    }
    fn audience(&self) -> Audience {
        self.audience
    }
    fn collect<'a>(&'a self, st: &'a Services) -> BoxFuture<'a, anyhow::Result<Reading>> {
        (self.run)(st)
    }
}

/// A database figure: short TTL, half a second to answer.
const fn db(
    name: &'static str,
    title: &'static str,
    ttl_s: u64,
    audience: Audience,
    run: for<'a> fn(&'a Services) -> BoxFuture<'a, anyhow::Result<Reading>>,
) -> Def {
    Def { name, title, ttl: Duration::from_secs(ttl_s), deadline: Duration::from_millis(500), audience, run }
}

/// A live probe of an outside service: a longer TTL, a second to answer.
const fn probe(
    name: &'static str,
    title: &'static str,
    ttl_s: u64,
    run: for<'a> fn(&'a Services) -> BoxFuture<'a, anyhow::Result<Reading>>,
) -> Def {
    Def { name, title, ttl: Duration::from_secs(ttl_s), deadline: Duration::from_secs(1), audience: Audience::All, run }
}

/// Every standard collector, in the order the page shows them.
pub fn all() -> Vec<Arc<dyn Collector>> {
    use Audience::{All, BackOffice};
    let defs = [
        db("awaiting_pick", "Awaiting pick", 5, All, |s| Box::pin(floor::awaiting_pick(s))),
        db("picking", "Picking now", 5, All, |s| Box::pin(floor::picking(s))),
        db("packed", "Packed, not shipped", 5, All, |s| Box::pin(floor::packed(s))),
        db("shipped_today", "Shipped today", 10, All, |s| Box::pin(floor::shipped_today(s))),
        db("backorders", "Backorders", 10, All, |s| Box::pin(stock::backorders(s))),
        db("low_stock", "Low stock", 30, All, |s| Box::pin(stock::low_stock(s))),
        db("expiring_lots", "Lots near expiry", 300, All, |s| Box::pin(stock::expiring_lots(s))),
        db("sync", "Inventory sync", 5, All, |s| Box::pin(stock::sync(s))),
        db("sync_rejects", "Orders skipped", 30, All, |s| Box::pin(stock::sync_rejects(s))),
        db("outbox", "Stock pushes waiting", 5, All, |s| Box::pin(stock::outbox(s))),
        probe("woocommerce", "WooCommerce", 30, |s| Box::pin(health::woocommerce(s))),
        probe("ebay", "eBay", 300, |s| Box::pin(health::ebay(s))),
        probe("ups", "UPS", 300, |s| Box::pin(health::ups(s))),
        probe("printers", "Printers", 15, |s| Box::pin(health::printers(s))),
        db("print_jobs", "Print jobs (24 h)", 10, All, |s| Box::pin(floor::print_jobs(s))),
        db("open_rfqs", "Open RFQs", 30, BackOffice, |s| Box::pin(office::open_rfqs(s))),
        db("expiring_quotes", "Quotes expiring in 7 days", 60, BackOffice, |s| Box::pin(office::expiring_quotes(s))),
        db("win_rate", "Quote win rate (30 days)", 300, BackOffice, |s| Box::pin(office::win_rate(s))),
        db("today_margin", "Today: revenue, COGS, margin", 30, BackOffice, |s| Box::pin(office::today_margin(s))),
        db("receivables", "Accounts receivable", 60, BackOffice, |s| Box::pin(office::receivables(s))),
        db("jobs", "Jobs", 10, All, |s| Box::pin(system::jobs(s))),
        db("alerts", "Open alerts", 10, All, |s| Box::pin(system::alerts(s))),
        db("mail", "Mail", 15, BackOffice, |s| Box::pin(system::mail(s))),
        db("scanner", "Scanner lookups", 10, All, |s| Box::pin(system::scanner(s))),
        db("database", "Database", 60, All, |s| Box::pin(system::database(s))),
        db("disk", "Data disk", 60, All, |s| Box::pin(system::disk(s))),
        db("backups", "Backups", 60, All, |s| Box::pin(system::backups(s))),
        probe("vault", "Vault", 60, |s| Box::pin(health::vault(s))),
        probe("smtp", "Mail server", 60, |s| Box::pin(health::smtp(s))),
    ];
    defs.into_iter().map(|d| Arc::new(d) as Arc<dyn Collector>).collect()
}
