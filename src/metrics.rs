//! What `/metrics` exposes, in the Prometheus/OpenMetrics text format
//! (`prometheus-client`). One [`Metrics`] per running appliance, held in
//! `AppState`, never a process-wide global: two tenants (or two test apps)
//! in one process never mix their series.
//!
//! Counters and histograms are counted where things happen (the HTTP layer,
//! the job runner, the poller, the dashboard's collectors). Gauges that
//! describe the database's state (outbox depth, printers, jobs' last success,
//! database size) are set at scrape time from the dashboard's collectors, so
//! every replica reports the same truth and a scrape costs what a dashboard
//! refresh costs (their TTL caches absorb frequent scrapes).

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// An HTTP request's labels: the route pattern (never the raw path, so ids
/// do not explode the series), method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

/// A route's labels for the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

/// `outcome` of a run, push or print.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// A job and how its run ended. (`job_name`, because Prometheus keeps
/// `job` for the scrape job.)
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job_name: String,
    pub outcome: String,
}

/// A push to a channel and what the channel said.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PushLabels {
    pub channel: String,
    pub outcome: String,
}

/// One dashboard collector.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CollectorLabels {
    pub collector: String,
}

/// Free-form labels for the scrape-time gauges.
pub type Labels = Vec<(String, String)>;

type Hist = Family<RouteLabels, Histogram, fn() -> Histogram>;
/// A scrape-time gauge family.
type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;

fn latency_buckets() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn seconds_buckets() -> Histogram {
    // 10 ms … ~20 min.
    Histogram::new(exponential_buckets(0.01, 2.0, 18))
}

/// The names of the gauges collectors may set (see [`Metrics::set_gauges`]):
/// each is registered once, with its help text.
pub const GAUGES: &[(&str, &str)] = &[
    ("qm_pick_queue_orders", "Orders in the pick queue by state."),
    ("qm_picks_in_progress", "Orders being picked, by station."),
    ("qm_shipped_today", "Shipments marked shipped today (tenant's local day)."),
    ("qm_backordered_lines", "Order lines waiting for stock."),
    ("qm_low_stock_skus", "Active SKUs at or below their low-stock threshold."),
    ("qm_lots_near_expiry", "Lots with stock left that expire within the warning window."),
    ("qm_sync_last_success_timestamp_seconds", "When the inventory poller last finished a cycle (Unix time)."),
    ("qm_sync_last_cycle_seconds", "How long the last finished poller cycle took."),
    ("qm_sync_rejected_orders", "WooCommerce orders the sync skipped (malformed or refused)."),
    ("qm_outbox_depth", "Stock pushes waiting in the outbox, by channel."),
    ("qm_outbox_refused", "Pushes a channel refused (failed rows), by channel."),
    ("qm_integration_up", "Whether an integration answered its health probe (1) or not (0)."),
    ("qm_integration_probe_seconds", "How long an integration's last health probe took."),
    ("qm_printer_up", "Whether a printer is reachable and not stopped (1) or not (0)."),
    ("qm_printer_queued_jobs", "Jobs a printer reports queued (IPP queued-job-count)."),
    ("qm_print_jobs", "Print jobs recorded in the last 24 hours, by state."),
    ("qm_open_rfqs", "RFQs waiting for a quote."),
    ("qm_quotes_expiring", "Sent quotes whose validity ends within 7 days."),
    ("qm_job_last_success_timestamp_seconds", "When each job last finished ok (Unix time)."),
    ("qm_job_consecutive_failures", "Failed runs in a row since each job's last success."),
    ("qm_scanner_lookup_hit_ratio", "Share of scanned codes answered from the in-memory lookup since start."),
    ("qm_database_size_bytes", "Data and index size of the tenant's database."),
    ("qm_data_dir_free_bytes", "Free space on the data directory's file system."),
    ("qm_data_dir_total_bytes", "Size of the data directory's file system."),
    ("qm_backup_last_success_timestamp_seconds", "When a snapshot last landed in each backup repository, local or offsite (Unix time)."),
    ("qm_backup_repository_bytes", "What each backup repository holds on its storage (restic stats, raw data)."),
    ("qm_backup_consecutive_failures", "Failed backup runs in a row, per repository."),
    ("qm_backup_check_ok", "Whether the last restic check of each repository found nothing wrong (1) or not (0)."),
    ("qm_ar_outstanding_invoices", "Purchase-order invoices not fully paid, by aging bucket."),
];

/// Every series the appliance exposes.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Hist,
    pub sync_cycles: Family<OutcomeLabels, Counter>,
    pub sync_cycle_duration: Histogram,
    pub pushes: Family<PushLabels, Counter>,
    pub units_reserved: Counter,
    pub job_runs: Family<JobLabels, Counter>,
    pub collector_duration: Family<CollectorLabels, Histogram, fn() -> Histogram>,
    pub collector_failures: Family<CollectorLabels, Counter>,
    pub collector_timeouts: Family<CollectorLabels, Counter>,
    pub events_published: Counter,
    pub sse_clients: Gauge,
    pub db_pool_connections: Gauge,
    pub db_pool_idle: Gauge,
    pub db_pool_max: Gauge,
    pub db_page_connections: Gauge,
    pub db_page_idle: Gauge,
    pub db_page_max: Gauge,
    gauges: Vec<(&'static str, GaugeFamily)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("qm_http_requests", "HTTP requests answered, by route pattern, method and status.", http_requests.clone());
        let http_duration: Hist = Family::new_with_constructor(latency_buckets);
        registry.register("qm_http_request_duration_seconds", "HTTP request latency by route pattern.", http_duration.clone());
        let sync_cycles = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "qm_sync_cycles",
            "Inventory poller cycles run by this process, by outcome (ok, failed, skipped).",
            sync_cycles.clone(),
        );
        let sync_cycle_duration = seconds_buckets();
        registry.register("qm_sync_cycle_duration_seconds", "Duration of the poller cycles this process ran.", sync_cycle_duration.clone());
        let pushes = Family::<PushLabels, Counter>::default();
        registry.register("qm_pushes", "Stock quantities pushed by channel and outcome (confirmed, rejected, deferred).", pushes.clone());
        let units_reserved = Counter::default();
        registry.register("qm_units_reserved", "Units reserved from lots by the poller in this process.", units_reserved.clone());
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register("qm_job_runs", "Job runs by job and outcome (ok, failed, skipped).", job_runs.clone());
        let collector_duration = Family::<CollectorLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_buckets);
        registry.register(
            "qm_collector_duration_seconds",
            "How long each dashboard collector's source took to answer.",
            collector_duration.clone(),
        );
        let collector_failures = Family::<CollectorLabels, Counter>::default();
        registry.register("qm_collector_failures", "Dashboard collections that failed, by collector.", collector_failures.clone());
        let collector_timeouts = Family::<CollectorLabels, Counter>::default();
        registry.register(
            "qm_collector_timeouts",
            "Dashboard renders that went past a collector's deadline and showed its last value as stale.",
            collector_timeouts.clone(),
        );
        let events_published = Counter::default();
        registry.register("qm_events_published", "Event-log rows fanned out to live streams by this process.", events_published.clone());
        let sse_clients = Gauge::default();
        registry.register("qm_sse_clients", "Live event streams open on this process.", sse_clients.clone());
        let db_pool_connections = Gauge::default();
        registry.register("qm_db_pool_connections", "Connections the database pool holds.", db_pool_connections.clone());
        let db_pool_idle = Gauge::default();
        registry.register("qm_db_pool_idle_connections", "Idle connections in the database pool.", db_pool_idle.clone());
        let db_pool_max = Gauge::default();
        registry.register("qm_db_pool_max_connections", "The pool's connection limit.", db_pool_max.clone());
        let db_page_connections = Gauge::default();
        registry.register(
            "qm_db_page_connections",
            "Connections of the pages' own set (one statement per page, no ping), idle or in use.",
            db_page_connections.clone(),
        );
        let db_page_idle = Gauge::default();
        registry.register("qm_db_page_idle_connections", "Idle connections of the pages' own set.", db_page_idle.clone());
        let db_page_max = Gauge::default();
        registry.register("qm_db_page_max_connections", "The most connections the pages' set opens.", db_page_max.clone());
        let mut gauges = Vec::with_capacity(GAUGES.len());
        for (name, help) in GAUGES {
            let family = GaugeFamily::default();
            registry.register(*name, *help, family.clone());
            gauges.push((*name, family));
        }
        Self {
            registry,
            http_requests,
            http_duration,
            sync_cycles,
            sync_cycle_duration,
            pushes,
            units_reserved,
            job_runs,
            collector_duration,
            collector_failures,
            collector_timeouts,
            events_published,
            sse_clients,
            db_pool_connections,
            db_pool_idle,
            db_pool_max,
            db_page_connections,
            db_page_idle,
            db_page_max,
            gauges,
        }
    }

    /// Counts one answered HTTP request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.http_requests.get_or_create(&HttpLabels { method: method.clone(), route: route.clone(), status }).inc();
        self.http_duration.get_or_create(&RouteLabels { method, route }).observe(seconds);
    }

    /// Counts one finished job run.
    pub fn observe_job(&self, job: &str, outcome: &str) {
        self.job_runs.get_or_create(&JobLabels { job_name: job.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// Counts pushes to a channel.
    pub fn observe_pushes(&self, channel: &str, confirmed: u32, rejected: u32, deferred: u32) {
        for (outcome, n) in [("confirmed", confirmed), ("rejected", rejected), ("deferred", deferred)] {
            if n > 0 {
                self.pushes.get_or_create(&PushLabels { channel: channel.to_owned(), outcome: outcome.to_owned() }).inc_by(u64::from(n));
            }
        }
    }

    /// Replaces every scrape-time gauge with `samples` (name, labels, value);
    /// a name not in [`GAUGES`] is ignored (a collector's typo cannot break the scrape).
    pub fn set_gauges(&self, samples: &[(&'static str, Labels, f64)]) {
        for (_, family) in &self.gauges {
            family.clear();
        }
        for (name, labels, value) in samples {
            if let Some((_, family)) = self.gauges.iter().find(|(n, _)| n == name) {
                family.get_or_create(labels).set(*value);
            }
        }
    }

    /// The exposition text (OpenMetrics 1.0, which Prometheus reads natively).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_reach_the_text() {
        let m = Metrics::new();
        m.observe_http("GET", "/pick/{id}", 200, 0.002);
        m.observe_pushes("woocommerce", 3, 1, 0);
        m.set_gauges(&[("qm_outbox_depth", vec![("channel".into(), "ebay".into())], 7.0), ("qm_no_such_gauge", vec![], 1.0)]);
        let text = m.encode();
        assert!(text.contains(r#"qm_http_requests_total{method="GET",route="/pick/{id}",status="200"} 1"#), "{text}");
        assert!(text.contains(r#"qm_pushes_total{channel="woocommerce",outcome="confirmed"} 3"#), "{text}");
        assert!(!text.contains(r#"outcome="deferred""#), "{text}");
        assert!(text.contains(r#"qm_outbox_depth{channel="ebay"} 7.0"#), "{text}");
        assert!(!text.contains("qm_no_such_gauge"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        // A later scrape replaces the gauges: a channel gone is gone.
        m.set_gauges(&[]);
        assert!(!m.encode().contains(r#"qm_outbox_depth{channel="ebay"}"#));
    }
}
