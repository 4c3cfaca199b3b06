//! What the running appliance holds, shared by the web layer and the jobs
//! (both depend on it; neither on the other): the pool, the tenant's
//! configuration and resolved secrets, and the long-lived clients.

use std::sync::Arc;

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use sqlx::{MySqlPool, mysql::MySqlConnectOptions};

use crate::config::{LoadedConfig, TenantConfig, resolve::Secrets};

/// What every handler and job can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: MySqlPool,
    /// Connections for the pages' single-statement reads (no ping on release).
    pub reads: Arc<crate::db::reads::Reads>,
    /// Connect options for dedicated connections (advisory locks).
    pub db_options: Arc<MySqlConnectOptions>,
    pub config: Arc<TenantConfig>,
    pub loaded: Arc<LoadedConfig>,
    pub secrets: Arc<Secrets>,
    /// The path prefix the edge serves us under ("" or e.g. "/ops").
    pub base: Arc<str>,
    /// Scanned code → product, in memory, warm from the data dir.
    pub lookup: Arc<crate::inventory::lookup::CodeLookup>,
    /// The tenant's WooCommerce (tracking write-back).
    pub woo: Arc<crate::channels::woocommerce::WooClient>,
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
    /// Sessions checked within the last few seconds (`server.session_check_seconds`).
    pub sessions: Arc<crate::operators::sessions::SessionCache>,
    /// The dashboard's collectors and their caches.
    pub board: Arc<crate::dashboard::Board>,
}

impl AppState {
    /// The tenant's time zone, for showing UTC timestamps on pages.
    pub fn tz(&self) -> Tz {
        self.config.tenant.timezone
    }

    /// A UTC timestamp from the database in the tenant's zone.
    pub fn local_time(&self, utc: NaiveDateTime) -> String {
        utc.and_utc().with_timezone(&self.tz()).format("%Y-%m-%d %H:%M %Z").to_string()
    }
}
