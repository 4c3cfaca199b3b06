//! One tenant's running services: the pool, the tenant's configuration and
//! resolved secrets, and the long-lived clients of the outside world. The
//! domains that read across the others (dashboard collectors, alerts, the
//! daily summary, review requests, the probes) take these; the web layer
//! and the jobs reach them through [`crate::app::AppState`], which holds them
//! with what only the web layer needs. Nothing here knows a page or a job.

use std::sync::Arc;

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use sqlx::{MySqlPool, mysql::MySqlConnectOptions};

use crate::config::{LoadedConfig, TenantConfig, resolve::Secrets};

/// What every cross-domain reader can reach.
#[derive(Clone)]
pub struct Services {
    pub pool: MySqlPool,
    /// Connect options for dedicated connections (advisory locks).
    pub db_options: Arc<MySqlConnectOptions>,
    pub config: Arc<TenantConfig>,
    pub loaded: Arc<LoadedConfig>,
    pub secrets: Arc<Secrets>,
    /// Scanned code → product, in memory, warm from the data dir.
    pub lookup: Arc<crate::inventory::lookup::CodeLookup>,
    /// The tenant's WooCommerce.
    pub woo: Arc<crate::channels::woocommerce::WooClient>,
    /// eBay, when the module is on.
    pub ebay: Option<Arc<crate::channels::ebay::EbayClient>>,
    /// The carrier labels are bought from, when one is configured.
    pub carrier: Option<Arc<dyn crate::fulfillment::carrier::Carrier>>,
    /// The PDF renderer (packing slips, quotes).
    pub weasy: Arc<crate::printing::pdf::WeasyPrint>,
    /// The books, when the accounting module is on (chart installed at start).
    pub ledger: Option<Arc<crate::books::Ledger>>,
    /// The tenant's SMTP server, when `smtp` is set.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// This appliance's series for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The event log's live fan-out.
    pub bus: Arc<crate::events::bus::EventBus>,
    /// Store orders verified webhooks named, waiting for their short cycle.
    pub webhooks: Arc<crate::sync::webhook::Inbox>,
}

impl Services {
    /// The tenant's time zone, for showing UTC timestamps on pages.
    pub fn tz(&self) -> Tz {
        self.config.tenant.timezone
    }

    /// A UTC timestamp from the database in the tenant's zone.
    pub fn local_time(&self, utc: NaiveDateTime) -> String {
        utc.and_utc().with_timezone(&self.tz()).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    /// The live probes of this tenant's services.
    pub fn probes(&self) -> crate::integrations::probe::Ctx {
        crate::integrations::probe::Ctx {
            config: self.config.clone(),
            secrets: self.secrets.clone(),
            pool: Some(self.pool.clone()),
            woo: Some(self.woo.clone()),
            ebay: self.ebay.clone(),
            carrier: self.carrier.clone(),
            weasy: (*self.weasy).clone(),
            base_dir: self.loaded.base_dir(),
            timeout: std::time::Duration::from_secs(10),
        }
    }
}
