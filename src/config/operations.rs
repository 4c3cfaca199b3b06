//! The tenant file's operations sections: the RFQ mailbox, alerts, review
//! requests, the daily summary, tracking, the dashboard, monitoring and how
//! the tenant is deployed (Compose or Swarm).

use std::path::PathBuf;

use serde::Deserialize;

use super::SecretRef;

/// The IMAP mailbox the appliance reads RFQs from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    pub host: String,
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// `tls` (implicit, 993), `starttls` or `none` (a server on the same host only).
    #[serde(default = "default_imap_tls")]
    pub tls: String,
    pub username: String,
    pub password: SecretRef,
    /// The folder RFQs arrive in.
    #[serde(default = "default_inbox")]
    pub folder: String,
    /// Where a read message is moved; without it, it is flagged \Seen and left.
    pub processed_folder: Option<String>,
    /// A PEM file of the CA that signed the server's certificate (a private one).
    pub ca_file: Option<PathBuf>,
    /// Wait for new mail with IMAP IDLE when the server offers it (else poll on the schedule).
    #[serde(default = "super::yes")]
    pub idle: bool,
}

fn default_imap_port() -> u16 {
    993
}
fn default_imap_tls() -> String {
    "tls".into()
}
fn default_inbox() -> String {
    "INBOX".into()
}

/// Who is told of which alert, by email.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    /// Recipients by alert kind (`low_stock`, `sync`, `pushes`, `printer`,
    /// `job`, `quotes_expiring`, `items_refused`, `tracking`); `default` for
    /// every kind not named. No recipients, no alert mail (the dashboard still shows them).
    pub recipients: std::collections::BTreeMap<String, Vec<String>>,
}

/// Review requests after delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reviews {
    /// Days after delivery the request goes out.
    #[serde(default = "default_review_days")]
    pub after_days: u32,
    /// Where the buyer writes the review; `{order}` is replaced by the order number.
    pub link: String,
    /// The key unsubscribe links are signed with (a reference).
    pub link_key: SecretRef,
}

fn default_review_days() -> u32 {
    7
}

/// The daily summary mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailySummary {
    /// Local time it is sent, `HH:MM` in the tenant's zone.
    #[serde(default = "default_summary_at")]
    pub at: String,
    pub to: Vec<String>,
}

fn default_summary_at() -> String {
    "07:00".into()
}

/// The tracking sweep's bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tracking {
    /// A shipment not delivered this many days after it shipped is no longer asked about.
    pub max_days: u32,
    /// Shipments asked about in one run at most.
    pub per_run: u32,
    /// Requests a second to the carrier at most.
    pub requests_per_second: u32,
}

impl Default for Tracking {
    fn default() -> Self {
        Self { max_days: 30, per_run: 500, requests_per_second: 5 }
    }
}

/// What the dashboard counts as a problem, and how often live tiles refresh.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dashboard {
    /// A SKU is low when its free units are at or below this, unless the
    /// product has its own threshold (WooCommerce's "Low stock threshold").
    pub low_stock_threshold: u32,
    /// Lots expiring within this many days are listed.
    pub expiry_warning_days: u32,
    /// Seconds between live tile refreshes while a dashboard is open.
    pub refresh_seconds: u32,
}

impl Default for Dashboard {
    fn default() -> Self {
        Self { low_stock_threshold: 2, expiry_warning_days: 30, refresh_seconds: 5 }
    }
}

/// `/metrics` for the operator's Prometheus.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretRef>,
}

/// How `qm compose render` lays out the tenant's Compose project.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Deploy {
    pub http_port: Option<u16>,
    pub http_bind: String,
    pub image_tag: String,
    /// Set when the tenant runs on Docker Swarm (`scripts/swarm deploy`).
    pub swarm: Option<Swarm>,
}

impl Default for Deploy {
    fn default() -> Self {
        Self { http_port: None, http_bind: "0.0.0.0".into(), image_tag: "latest".into(), swarm: None }
    }
}

/// The tenant on Docker Swarm: where its volumes live, how many ops replicas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Swarm {
    /// The node (its hostname) holding the tenant's volumes: MariaDB, Redis,
    /// the vault, WordPress and the edge are pinned to it.
    pub data_node: String,
    #[serde(default = "Swarm::default_replicas")]
    pub ops_replicas: u8,
}

impl Swarm {
    fn default_replicas() -> u8 {
        2
    }
}
