//! Every job of the fleet, named once. The fleet (`jobs`) builds one job per
//! name (an exhaustive match: a name without a job does not compile), the
//! tenant file's `schedules` keys are these names (the schema is held to
//! them by a test), and whether a tenant runs a job is decided here, from
//! its tenant file alone, for the scheduler, the dashboard and the alerts
//! alike.

use crate::config::TenantConfig;

/// One job of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobName {
    SessionSweep,
    CodeLookupRefresh,
    PrintRetry,
    ShipmentWriteback,
    QuoteExpiry,
    CatalogSync,
    InventoryPoll,
    BooksPost,
    MailSend,
    RfqMailbox,
    TrackingSweep,
    Alerts,
    ReviewRequests,
    DailySummary,
    PriceFeeds,
    Backup,
    BackupCheck,
}

impl JobName {
    /// Every job, in the order the fleet starts them.
    pub const ALL: [JobName; 17] = [
        JobName::SessionSweep,
        JobName::CodeLookupRefresh,
        JobName::PrintRetry,
        JobName::ShipmentWriteback,
        JobName::QuoteExpiry,
        JobName::CatalogSync,
        JobName::InventoryPoll,
        JobName::BooksPost,
        JobName::MailSend,
        JobName::RfqMailbox,
        JobName::TrackingSweep,
        JobName::Alerts,
        JobName::ReviewRequests,
        JobName::DailySummary,
        JobName::PriceFeeds,
        JobName::Backup,
        JobName::BackupCheck,
    ];

    /// Its name in `job_runs`, the logs, its lock, `qm job run` and `schedules`.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobName::SessionSweep => "session_sweep",
            JobName::CodeLookupRefresh => "code_lookup_refresh",
            JobName::PrintRetry => "print_retry",
            JobName::ShipmentWriteback => "shipment_writeback",
            JobName::QuoteExpiry => "quote_expiry",
            JobName::CatalogSync => "catalog_sync",
            JobName::InventoryPoll => "inventory_poll",
            JobName::BooksPost => "books_post",
            JobName::MailSend => "mail_send",
            JobName::RfqMailbox => "rfq_mailbox",
            JobName::TrackingSweep => "tracking_sweep",
            JobName::Alerts => "alerts",
            JobName::ReviewRequests => "review_requests",
            JobName::DailySummary => "daily_summary",
            JobName::PriceFeeds => "price_feeds",
            JobName::Backup => "backup",
            JobName::BackupCheck => "backup_check",
        }
    }

    /// Its advisory lock's last part (`qm:<tenant>:<lock>`): the poller keeps
    /// the name it has always had, so replicas of every version take turns.
    pub const fn lock_name(self) -> &'static str {
        match self {
            JobName::InventoryPoll => "poller",
            // A check and a backup of the same repository take turns.
            JobName::BackupCheck => "backup",
            other => other.as_str(),
        }
    }

    /// The job of that name.
    pub fn parse(name: &str) -> Option<JobName> {
        JobName::ALL.into_iter().find(|j| j.as_str() == name)
    }

    /// Whether this tenant runs it: its module is on and what it needs is configured.
    pub fn runs_for(self, c: &TenantConfig) -> bool {
        let accounting = c.modules.accounting && c.accounting.is_some();
        match self {
            JobName::SessionSweep | JobName::CodeLookupRefresh | JobName::Alerts => true,
            JobName::PrintRetry => !c.printers.is_empty(),
            JobName::ShipmentWriteback => c.modules.fulfillment,
            JobName::QuoteExpiry => c.modules.quotes,
            JobName::CatalogSync | JobName::InventoryPoll => c.modules.inventory_sync,
            JobName::BooksPost => accounting,
            JobName::MailSend => c.smtp.is_some(),
            JobName::RfqMailbox => c.mailbox.is_some(),
            JobName::TrackingSweep => c.modules.fulfillment && c.ups.is_some(),
            JobName::ReviewRequests => c.reviews.is_some() && c.smtp.is_some(),
            JobName::DailySummary => c.daily_summary.is_some() && c.smtp.is_some(),
            JobName::PriceFeeds => !(c.sources.supplier_catalogs.is_empty() && c.sources.competitors.is_empty()),
            JobName::Backup | JobName::BackupCheck => c.backup.is_some(),
        }
    }

    /// The jobs this tenant runs.
    pub fn running(c: &TenantConfig) -> impl Iterator<Item = JobName> + '_ {
        JobName::ALL.into_iter().filter(|j| j.runs_for(c))
    }
}

impl std::fmt::Display for JobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::JobName;

    #[test]
    fn every_name_parses_back_and_names_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for j in JobName::ALL {
            assert_eq!(JobName::parse(j.as_str()), Some(j));
            assert!(seen.insert(j.as_str()), "{j} twice");
        }
        assert_eq!(JobName::parse("nope"), None);
    }
}
