//! The tenant configuration: one YAML file per tenant, validated against
//! `tenant-configs/schema/tenant.schema.json`, holding references to secrets
//! instead of secrets.
//!
//! Loading goes YAML → schema → typed structs → cross-field checks, and every
//! problem found on the way is reported with its file, line and key path
//! (see [`check`]). Secrets are resolved separately (see [`resolve`]).

mod backup;
pub mod check;
pub mod files;
mod lines;
mod operations;
pub mod reference;
pub mod resolve;
pub mod secret;
mod station;

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;

pub use backup::{Backup, BackupDatabase, Offsite, WordpressBackup};
pub use check::{ConfigError, Problem};
pub use operations::{Alerts, DailySummary, Dashboard, Deploy, Mailbox, Monitoring, Reviews, Swarm, Tracking};
pub use reference::SecretRef;
pub use secret::Secret;
pub use station::{BoxDef, Printer, PrinterKind, Station};

/// The JSON Schema every tenant file is checked against, built into the binary.
pub const SCHEMA: &str = include_str!("../../tenant-configs/schema/tenant.schema.json");

/// A tenant file that passed every check, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The typed configuration.
    pub config: TenantConfig,
}

impl LoadedConfig {
    /// Reads and checks a tenant file; every problem is listed in the error.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = files::read_text(path, files::TENANT_FILE_MAX).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let config = check::check_str(&path.display().to_string(), &text)?;
        Ok(Self { path: path.to_owned(), config })
    }

    /// The folder relative `ref+file://` paths and sources are read from.
    pub fn base_dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// Where the appliance keeps its files: `QM_DATA_DIR`, else `data_dir`,
    /// else `./var/data`.
    pub fn data_dir(&self) -> PathBuf {
        std::env::var_os("QM_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| self.config.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("var/data"))
    }
}

/// One tenant's whole configuration. Field docs live in tenant-configs/README.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub tenant: Tenant,
    pub branding: Branding,
    pub domains: Domains,
    #[serde(default)]
    pub server: Server,
    pub data_dir: Option<PathBuf>,
    pub database: Database,
    pub vault: Option<Vault>,
    pub modules: Modules,
    pub woocommerce: WooCommerce,
    pub ebay: Option<Ebay>,
    pub ups: Option<Ups>,
    pub smtp: Option<Smtp>,
    #[serde(default)]
    pub stations: Vec<Station>,
    #[serde(default)]
    pub printers: Vec<Printer>,
    #[serde(default)]
    pub boxes: Vec<BoxDef>,
    #[serde(default)]
    pub pick_priority: Vec<PickPriority>,
    #[serde(default)]
    pub polling: Polling,
    /// When each job of the fleet runs, by job name (six-field cron, UTC);
    /// a job not named runs on its default.
    #[serde(default)]
    pub schedules: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub pricing: Pricing,
    #[serde(default)]
    pub quotes: Quotes,
    #[serde(default)]
    pub tax: Tax,
    pub accounting: Option<Accounting>,
    #[serde(default)]
    pub sources: Sources,
    #[serde(default)]
    pub deploy: Deploy,
    #[serde(default)]
    pub dashboard: Dashboard,
    #[serde(default)]
    pub monitoring: Monitoring,
    /// The mailbox RFQs (and bounces) are read from.
    pub mailbox: Option<Mailbox>,
    #[serde(default)]
    pub alerts: Alerts,
    pub reviews: Option<Reviews>,
    pub daily_summary: Option<DailySummary>,
    #[serde(default)]
    pub tracking: Tracking,
    /// Automated backups (job `backup`); none without this section.
    pub backup: Option<Backup>,
}

impl TenantConfig {
    /// Every secret reference in the file with its key path, except Vault's
    /// own login credentials (those are used to reach Vault, see [`resolve`]).
    pub fn secret_refs(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut refs = vec![
            ("database.password", &self.database.password),
            ("woocommerce.consumer_key", &self.woocommerce.consumer_key),
            ("woocommerce.consumer_secret", &self.woocommerce.consumer_secret),
        ];
        if let Some(e) = &self.ebay {
            refs.push(("ebay.client_id", &e.client_id));
            refs.push(("ebay.client_secret", &e.client_secret));
            refs.push(("ebay.refresh_token", &e.refresh_token));
        }
        if let Some(w) = &self.woocommerce.webhooks {
            refs.push(("woocommerce.webhooks.secret", &w.secret));
        }
        if let Some(u) = &self.ups {
            refs.push(("ups.client_id", &u.client_id));
            refs.push(("ups.client_secret", &u.client_secret));
        }
        if let Some(p) = self.smtp.as_ref().and_then(|s| s.password.as_ref()) {
            refs.push(("smtp.password", p));
        }
        if let Some(t) = &self.quotes.intake_token {
            refs.push(("quotes.intake_token", t));
        }
        if let Some(k) = &self.server.signing_key {
            refs.push(("server.signing_key", k));
        }
        if let Some(t) = &self.monitoring.metrics_token {
            refs.push(("monitoring.metrics_token", t));
        }
        if let Some(m) = &self.mailbox {
            refs.push(("mailbox.password", &m.password));
        }
        if let Some(r) = &self.reviews {
            refs.push(("reviews.link_key", &r.link_key));
        }
        if let Some(b) = &self.backup {
            refs.push(("backup.password", &b.password));
            if let Some(w) = &b.wordpress {
                refs.push(("backup.wordpress.database.password", &w.database.password));
            }
            if let Some(o) = &b.offsite {
                if let Some(p) = &o.password {
                    refs.push(("backup.offsite.password", p));
                }
                refs.push(("backup.offsite.access_key_id", &o.access_key_id));
                refs.push(("backup.offsite.secret_access_key", &o.secret_access_key));
            }
        }
        refs
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub timezone: Tz,
    pub currency: String,
    pub quote_prefix: Option<String>,
    /// How documents and mail write amounts and dates (BCP 47, e.g. `en-US`, `de-DE`).
    #[serde(default = "default_locale")]
    pub locale: String,
}

fn default_locale() -> String {
    "en-US".into()
}

/// A tenant id: lowercase, 2–31 characters; it names locks, databases and
/// Compose projects, so it is checked once here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Parses `^[a-z][a-z0-9-]{1,30}$`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = (2..=31).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok { Ok(Self(s.to_owned())) } else { Err(format!("`{s}` is not a tenant id: 2-31 of a-z, 0-9 and -, starting with a letter")) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    pub logo: Option<PathBuf>,
    #[serde(default = "default_primary")]
    pub primary_color: String,
    #[serde(default = "default_accent")]
    pub accent_color: String,
    pub sender_name: String,
    pub sender_email: Option<String>,
    /// The business's address on documents and mail (and the slip's return address).
    pub address: Option<Address>,
    /// The business's phone on documents and mail.
    pub phone: Option<String>,
}

fn default_primary() -> String {
    "#1F3A5F".into()
}
fn default_accent() -> String {
    "#F2A900".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Domains {
    pub storefront: String,
    pub ops: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    pub listen: String,
    pub base_path: String,
    /// Where buyers reach the ops pages from outside (e.g. `https://shop.example/ops`):
    /// links in mail (quote acceptance, unsubscribe) are built on it.
    pub public_url: Option<String>,
    pub secure_cookies: bool,
    pub session_hours: u32,
    /// How long a session this process checked is trusted before the
    /// table is asked again: the longest a sign-out made elsewhere (another
    /// replica, the CLI) takes to reach this one. 0 asks on every request.
    pub session_check_seconds: u32,
    pub max_failed_sign_ins: u32,
    pub lockout_minutes: u32,
    /// What the server signs its pre-sign-in CSRF tokens with: a secret
    /// reference every replica of the tenant resolves alike. Unset, each
    /// process draws its own (one replica).
    pub signing_key: Option<SecretRef>,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            base_path: String::new(),
            public_url: None,
            secure_cookies: true,
            session_hours: 12,
            session_check_seconds: 5,
            max_failed_sign_ins: 5,
            lockout_minutes: 15,
            signing_key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub host: String,
    #[serde(default = "default_db_port")]
    pub port: u16,
    pub name: String,
    pub user: String,
    pub password: SecretRef,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

pub(crate) fn default_db_port() -> u16 {
    3306
}
fn default_max_connections() -> u32 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vault {
    pub address: String,
    pub namespace: Option<String>,
    #[serde(default = "default_vault_timeout")]
    pub timeout_seconds: u64,
    pub auth: VaultAuth,
}

fn default_vault_timeout() -> u64 {
    10
}

/// How the appliance logs in to Vault.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum VaultAuth {
    /// A token read from a file or the environment.
    Token { token: SecretRef },
    /// AppRole: role id and secret id read from files or the environment.
    Approle {
        #[serde(default = "default_approle_mount")]
        mount: String,
        role_id: SecretRef,
        secret_id: SecretRef,
    },
}

fn default_approle_mount() -> String {
    "approle".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modules {
    #[serde(default = "yes")]
    pub inventory_sync: bool,
    #[serde(default)]
    pub ebay: bool,
    #[serde(default = "yes")]
    pub quotes: bool,
    #[serde(default = "yes")]
    pub fulfillment: bool,
    #[serde(default = "yes")]
    pub accounting: bool,
    #[serde(default = "yes")]
    pub dashboard: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WooCommerce {
    pub base_url: String,
    pub consumer_key: SecretRef,
    pub consumer_secret: SecretRef,
    #[serde(default = "default_order_statuses")]
    pub order_statuses: Vec<String>,
    #[serde(default)]
    pub fix_manage_stock: bool,
    #[serde(default = "default_woo_timeout")]
    pub timeout_seconds: u64,
    /// Push products that never had stock in Quartermaster (off: a first sync cannot zero a store).
    #[serde(default)]
    pub push_unstocked: bool,
    /// The store's address as WordPress knows it (Settings → General), when
    /// `base_url` reaches it by another name (`http://wordpress` inside the
    /// stack): WooCommerce checks OAuth 1.0a signatures against its home URL.
    pub site_url: Option<String>,
    /// WooCommerce webhooks to Quartermaster (`qm webhooks install`): an
    /// order change reaches the sync within seconds; the poller stays.
    pub webhooks: Option<Webhooks>,
}

/// `woocommerce.webhooks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// The secret WooCommerce signs each delivery with (a reference).
    pub secret: SecretRef,
    /// Where the store reaches Quartermaster's `/webhooks/woocommerce`, under
    /// `server.base_path` (inside the stack: `http://ops:8080/ops/webhooks/woocommerce`).
    pub delivery_url: String,
}

fn default_order_statuses() -> Vec<String> {
    vec!["processing".into(), "on-hold".into()]
}
fn default_woo_timeout() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ebay {
    pub environment: String,
    pub marketplace_id: String,
    pub client_id: SecretRef,
    pub client_secret: SecretRef,
    pub refresh_token: SecretRef,
    pub api_base_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ups {
    pub environment: String,
    pub account_number: String,
    pub client_id: SecretRef,
    pub client_secret: SecretRef,
    pub api_base_url: Option<String>,
    #[serde(default = "default_ups_service")]
    pub default_service: String,
    pub shipper: Address,
}

/// UPS Ground: the service a shipment is drafted with when the tenant names none.
pub fn default_ups_service() -> String {
    "03".into()
}

/// A postal address (the UPS shipper; carriers' destinations).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub phone: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postcode: String,
    pub country: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_smtp_tls")]
    pub tls: String,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub from: String,
    /// A PEM file of the CA that signed the server's certificate (a private relay).
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_seconds: u64,
}

fn default_smtp_timeout() -> u64 {
    30
}

fn default_smtp_port() -> u16 {
    587
}
fn default_smtp_tls() -> String {
    "starttls".into()
}

/// RFQ intake and quote acceptance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotes {
    /// The token the storefront and the mail forwarder send (X-QM-Intake-Token).
    pub intake_token: Option<SecretRef>,
    pub accept_link_hours: u32,
    pub template: String,
    pub terms: Option<String>,
}

impl Default for Quotes {
    fn default() -> Self {
        Self { intake_token: None, accept_link_hours: 168, template: "v2".into(), terms: None }
    }
}

/// The native sales-tax table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tax {
    pub shipping_taxable: bool,
    pub rates: Vec<TaxRate>,
}

/// One rate; absent fields match anything.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    pub country: String,
    pub state: Option<String>,
    pub postcode_prefix: Option<String>,
    pub tax_class: Option<String>,
    /// Percent as decimal text.
    pub rate: String,
    pub name: Option<String>,
}

/// A pick-queue priority rule: every condition given must match.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickPriority {
    pub shipping_method: Option<String>,
    /// Decimal text in the tenant's currency.
    pub min_total: Option<String>,
    pub priority: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Polling {
    /// Six-field cron (with seconds), in UTC.
    pub inventory_cron: String,
    pub order_overlap_seconds: u32,
    /// Minutes between full reads of the store's stock (drift correction).
    pub reconcile_minutes: u32,
    /// Most minutes between reads by id of the open orders (every cycle while
    /// there are at most 100): how long a change WooCommerce makes without
    /// moving the order's modified date (a REST line edit, a trash) can go unseen.
    pub open_orders_minutes: u32,
}

impl Default for Polling {
    fn default() -> Self {
        Self { inventory_cron: "0 */5 * * * *".into(), order_overlap_seconds: 120, reconcile_minutes: 60, open_orders_minutes: 15 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pricing {
    pub markup_percent: Percent,
    pub cost_freshness_days: u32,
    pub quote_validity_days: u32,
    pub comps: Option<Comps>,
}

impl Default for Pricing {
    fn default() -> Self {
        Self { markup_percent: Percent { basis_points: 3000 }, cost_freshness_days: 30, quote_validity_days: 30, comps: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comps {
    pub source: String,
    #[serde(default = "default_csv")]
    pub format: String,
    #[serde(default = "default_recent")]
    pub recent: u32,
}

fn default_csv() -> String {
    "csv".into()
}
fn default_recent() -> u32 {
    5
}

/// A percentage held as basis points (1% = 100), never as a float. Written
/// in YAML as `35`, `2.9` or `"12.5"` (at most two decimals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percent {
    pub basis_points: u32,
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.basis_points % 100 {
            0 => write!(f, "{}%", self.basis_points / 100),
            frac => write!(f, "{}.{:02}%", self.basis_points / 100, frac),
        }
    }
}

impl Percent {
    /// Parses the decimal text of a percentage exactly, without floats.
    pub fn parse(text: &str) -> Result<Self, String> {
        let err = || format!("`{text}` is not a percentage with at most two decimals");
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || whole.len() > 4 || frac.len() > 2 || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
            return Err(err());
        }
        let whole: u32 = whole.parse().map_err(|_| err())?;
        let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| err())?;
        Ok(Self { basis_points: whole * 100 + frac })
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read the number's own text so 2.9 stays 2.90, not 2.8999….
        let v = serde_json::Value::deserialize(d)?;
        let text = match &v {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            _ => return Err(serde::de::Error::custom("expected a percentage such as 35 or 2.9")),
        };
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounting {
    pub accounts: Accounts,
    #[serde(default)]
    pub gateway_fees: Vec<GatewayFee>,
    #[serde(default)]
    pub ar_payment_methods: Vec<String>,
    #[serde(default)]
    pub restock_to: RestockTo,
}

/// Where restocked refund units go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestockTo {
    /// Back into the lots they were sold from, at those lots' cost.
    #[default]
    OriginalLot,
    /// Into a new returns lot per refund line, at the cost they were sold at.
    ReturnsLot,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    pub cash: String,
    pub accounts_receivable: String,
    pub inventory: String,
    pub cogs: String,
    pub sales: String,
    pub shipping_income: Option<String>,
    pub gateway_fees: String,
    pub sales_tax_payable: String,
    #[serde(default = "default_payable")]
    pub accounts_payable: String,
    #[serde(default = "default_opening")]
    pub opening_balances: String,
    #[serde(default = "default_refunds")]
    pub refunds: String,
    #[serde(default = "default_adjustments")]
    pub inventory_adjustments: String,
}

fn default_payable() -> String {
    "2000".into()
}
fn default_opening() -> String {
    "3900".into()
}
fn default_refunds() -> String {
    "4900".into()
}
fn default_adjustments() -> String {
    "5100".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFee {
    pub gateway: String,
    pub percent: Percent,
    pub fixed_minor: i64,
    /// The gateway's payment clearing account; the cash account when unset.
    pub clearing: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    #[serde(default)]
    pub supplier_catalogs: Vec<NamedSource>,
    #[serde(default)]
    pub competitors: Vec<NamedSource>,
    #[serde(default)]
    pub datasheets: Vec<NamedSource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedSource {
    pub name: String,
    pub location: String,
    #[serde(default = "default_csv")]
    pub format: String,
    /// The supplier (or competitor) the prices are from; defaults to `name`.
    pub supplier: Option<String>,
    /// When it is fetched (six-field cron, UTC); default every six hours.
    pub schedule: Option<String>,
    /// Which columns (CSV header or JSON key) hold what.
    #[serde(default)]
    pub columns: FeedColumns,
}

/// The columns of a price feed. A row names its product by SKU, GTIN or the
/// supplier's part number (learned from rows that carry a SKU or GTIN too).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedColumns {
    pub sku: Option<String>,
    pub gtin: Option<String>,
    pub part_number: Option<String>,
    /// The unit cost (decimal text in the currency).
    pub cost: String,
    /// Per-row currency; else the tenant's.
    pub currency: Option<String>,
    /// Per-row observation time; else the time of the fetch.
    pub observed_at: Option<String>,
}

impl Default for FeedColumns {
    fn default() -> Self {
        Self {
            sku: Some("sku".into()),
            gtin: Some("gtin".into()),
            part_number: Some("part_number".into()),
            cost: "cost".into(),
            currency: None,
            observed_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Percent;

    #[test]
    fn percent_is_exact() {
        assert_eq!(Percent::parse("2.9").map(|p| p.basis_points), Ok(290));
        assert_eq!(Percent::parse("35").map(|p| p.basis_points), Ok(3500));
        assert_eq!(Percent::parse("3.49").map(|p| p.basis_points), Ok(349));
        assert!(Percent::parse("3.491").is_err());
        assert!(Percent::parse("-1").is_err());
        assert!(Percent::parse(".5").is_err());
    }
}
