//! The integration registry: every outside service the appliance talks to
//! (or will), with what it powers, which module needs it, whether each
//! tenant brings its own, how its health is checked, and how this tenant's
//! file sets it up. `qm config check`, `qm integrations` and the dashboard
//! all read this one list.

pub mod probe;

use crate::config::TenantConfig;

/// A part of the appliance a tenant turns on or off (`modules:`), or the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    /// Always on.
    Core,
    InventorySync,
    Ebay,
    Quotes,
    Fulfillment,
    Accounting,
    Dashboard,
}

impl Module {
    pub fn name(self) -> &'static str {
        match self {
            Module::Core => "core",
            Module::InventorySync => "inventory_sync",
            Module::Ebay => "ebay",
            Module::Quotes => "quotes",
            Module::Fulfillment => "fulfillment",
            Module::Accounting => "accounting",
            Module::Dashboard => "dashboard",
        }
    }

    /// Whether the tenant runs this module.
    pub fn enabled(self, c: &TenantConfig) -> bool {
        let m = &c.modules;
        match self {
            Module::Core => true,
            Module::InventorySync => m.inventory_sync,
            Module::Ebay => m.ebay,
            Module::Quotes => m.quotes,
            Module::Fulfillment => m.fulfillment,
            Module::Accounting => m.accounting && c.accounting.is_some(),
            Module::Dashboard => m.dashboard,
        }
    }
}

/// How an integration's health is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// A live probe, described (see [`probe::probe`]).
    Probe(&'static str),
    /// Nothing to call: only the tenant file's settings are checked.
    Settings,
    /// Not built in this version: nothing calls it yet.
    Planned,
}

/// How this tenant's file sets an integration up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setup {
    /// Set up; the detail says where to (no secrets).
    Configured(String),
    /// Not set up; the fix says what to add.
    Missing(String),
    /// Not used by this tenant's configuration (e.g. no secret lives in Vault).
    NotUsed(String),
    /// Nothing in this version uses it yet.
    Planned(String),
}

impl Setup {
    pub fn is_configured(&self) -> bool {
        matches!(self, Setup::Configured(_))
    }
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setup::Configured(d) if d.is_empty() => f.write_str("configured"),
            Setup::Configured(d) => write!(f, "configured ({d})"),
            Setup::Missing(fix) => write!(f, "NOT configured: {fix}"),
            Setup::NotUsed(why) => write!(f, "not used: {why}"),
            Setup::Planned(what) => write!(f, "not available in this version: {what}"),
        }
    }
}

/// One outside service.
#[derive(Debug)]
pub struct Integration {
    /// Its key (`ups`), used in output, metrics labels and the dashboard.
    pub key: &'static str,
    pub name: &'static str,
    /// What it powers.
    pub powers: &'static str,
    /// The modules that need it (listed when any of them is on).
    pub needed_by: &'static [Module],
    /// Whether the modules cannot work without it (otherwise it adds to them).
    pub required: bool,
    /// Whether each tenant brings its own (account, credentials, server).
    pub per_tenant: bool,
    pub health: Health,
    /// How this tenant's file sets it up.
    pub setup: fn(&TenantConfig) -> Setup,
}

fn configured(detail: impl Into<String>) -> Setup {
    Setup::Configured(detail.into())
}

fn missing(fix: &str) -> Setup {
    Setup::Missing(fix.to_owned())
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(|h| format!("{h}{}", u.port().map(|p| format!(":{p}")).unwrap_or_default())))
        .unwrap_or_default()
}

/// Every integration, in the order they are listed.
pub const REGISTRY: &[Integration] = &[
    Integration {
        key: "mariadb",
        name: "MariaDB",
        powers: "everything the appliance keeps (lots, orders, quotes, books, events)",
        needed_by: &[Module::Core],
        required: true,
        per_tenant: true,
        health: Health::Probe("SELECT 1 over the pool"),
        setup: |c| {
            if crate::db::url_from_env() {
                configured("QM_DATABASE_URL (it wins over the file's database section)")
            } else {
                configured(format!("{}:{}/{}", c.database.host, c.database.port, c.database.name))
            }
        },
    },
    Integration {
        key: "vault",
        name: "Vault (OpenBao)",
        powers: "the secrets the tenant file refers to, resolved at start",
        needed_by: &[Module::Core],
        required: false,
        per_tenant: true,
        health: Health::Probe("GET /v1/sys/health"),
        setup: |c| match &c.vault {
            Some(v) => configured(host_of(&v.address)),
            None => Setup::NotUsed("no secret reference is ref+vault://; secrets come from files or the environment".into()),
        },
    },
    Integration {
        key: "woocommerce",
        name: "WooCommerce REST API",
        powers: "orders in, stock out, tracking written back, quotes accepted as orders",
        needed_by: &[Module::InventorySync, Module::Quotes, Module::Fulfillment],
        required: true,
        per_tenant: true,
        health: Health::Probe("GET /wp-json/wc/v3/products?per_page=1 with the tenant's key"),
        setup: |c| configured(host_of(&c.woocommerce.base_url)),
    },
    Integration {
        key: "woocommerce_webhooks",
        name: "WooCommerce webhooks",
        powers: "orders reserved within seconds of a change in the store (the poller stays the safety net)",
        needed_by: &[Module::InventorySync],
        required: false,
        per_tenant: true,
        health: Health::Probe("GET /wp-json/wc/v3/webhooks: Quartermaster's four active; one the store disabled is re-enabled"),
        setup: |c| match &c.woocommerce.webhooks {
            Some(w) => configured(format!("delivering to {}; `qm webhooks install` creates them", w.delivery_url)),
            None => missing(
                "add woocommerce.webhooks (secret: ref+…, delivery_url) and run `qm webhooks install`; until then orders arrive with the 5-minute poller",
            ),
        },
    },
    Integration {
        key: "wordpress",
        name: "WordPress application password",
        powers: "WordPress REST calls outside WooCommerce (media, pages)",
        needed_by: &[Module::Core],
        required: false,
        per_tenant: true,
        health: Health::Planned,
        setup: |_| Setup::Planned("nothing calls WordPress's own REST API yet; WooCommerce's key covers every call made".into()),
    },
    Integration {
        key: "payment_fees",
        name: "Payment gateway fee data",
        powers: "gateway-fee splits in the books",
        needed_by: &[Module::Accounting],
        required: false,
        per_tenant: true,
        health: Health::Settings,
        setup: |c| match &c.accounting {
            Some(a) if !a.gateway_fees.is_empty() => {
                configured(a.gateway_fees.iter().map(|g| g.gateway.as_str()).collect::<Vec<_>>().join(", "))
            }
            _ => missing(
                "add accounting.gateway_fees: [{gateway: stripe, percent: 2.9, fixed_minor: 30}]; until then fees come only from the Stripe/PayPal plugins' order meta",
            ),
        },
    },
    Integration {
        key: "smtp",
        name: "SMTP server",
        powers: "quote emails, alerts and the daily summary",
        needed_by: &[Module::Quotes, Module::Dashboard],
        required: false,
        per_tenant: true,
        health: Health::Probe("connect, STARTTLS/TLS and the login, as mail is sent"),
        setup: |c| match &c.smtp {
            Some(s) => configured(format!("{}:{}, {}", s.host, s.port, s.tls)),
            None => missing("add smtp: {host: mail.example.com, port: 587, from: sales@example.com, username: …, password: ref+vault://…}"),
        },
    },
    Integration {
        key: "ebay",
        name: "eBay Sell Inventory API",
        powers: "true stock on the tenant's eBay listings",
        needed_by: &[Module::Ebay],
        required: true,
        per_tenant: true,
        health: Health::Probe("OAuth refresh-token grant (a fresh access token)"),
        setup: |c| match &c.ebay {
            Some(e) => configured(format!("{}, {}", e.environment, e.marketplace_id)),
            None => missing(
                "add ebay: {environment: production, marketplace_id: EBAY_US, client_id: ref+…, client_secret: ref+…, refresh_token: ref+…}",
            ),
        },
    },
    Integration {
        key: "ups",
        name: "UPS API",
        powers: "shipping labels (multi-piece) and tracking",
        needed_by: &[Module::Fulfillment],
        required: true,
        per_tenant: true,
        health: Health::Probe("OAuth client-credentials token"),
        setup: |c| match &c.ups {
            Some(u) => configured(format!("{}, account {}", u.environment, u.account_number)),
            None => missing("add ups: {environment: production, account_number: …, client_id: ref+…, client_secret: ref+…, shipper: {…}}"),
        },
    },
    Integration {
        key: "carriers",
        name: "Other carriers (FedEx, USPS, DHL)",
        powers: "labels from carriers other than UPS",
        needed_by: &[Module::Fulfillment],
        required: false,
        per_tenant: true,
        health: Health::Planned,
        setup: |_| Setup::Planned("only UPS is built; the Carrier trait is the seam for others".into()),
    },
    Integration {
        key: "tracking",
        name: "Tracking aggregator",
        powers: "one tracking feed across carriers",
        needed_by: &[Module::Fulfillment],
        required: false,
        per_tenant: true,
        health: Health::Planned,
        setup: |_| Setup::Planned("tracking is asked of the carrier that sold the label".into()),
    },
    Integration {
        key: "cups",
        name: "CUPS / IPP printers",
        powers: "ZPL labels and packing slips at the stations",
        needed_by: &[Module::Fulfillment],
        required: true,
        per_tenant: true,
        health: Health::Probe("IPP Get-Printer-Attributes (state, reasons, queued jobs) per printer"),
        setup: |c| {
            if c.printers.is_empty() {
                missing("add printers: [{name: zebra-1, uri: ipp://cups:631/printers/zebra-1, kind: zpl, station: bench-1}]")
            } else {
                configured(c.printers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "))
            }
        },
    },
    Integration {
        key: "weasyprint",
        name: "WeasyPrint",
        powers: "quote PDFs and packing slips",
        needed_by: &[Module::Quotes, Module::Fulfillment],
        required: true,
        per_tenant: false,
        health: Health::Probe("weasyprint --version"),
        setup: |_| configured("the image's weasyprint (QM_WEASYPRINT overrides)"),
    },
    Integration {
        key: "gnucash",
        name: "GnuCash",
        powers: "the books exported as a GnuCash file",
        needed_by: &[Module::Accounting],
        required: false,
        per_tenant: false,
        health: Health::Probe("GnuCash's Python bindings load"),
        setup: |_| configured("python3-gnucash, for `qm books export --gnucash`"),
    },
    Integration {
        key: "tax",
        name: "Sales tax rates",
        powers: "tax on quotes",
        needed_by: &[Module::Quotes],
        required: false,
        per_tenant: true,
        health: Health::Settings,
        setup: |c| {
            if c.tax.rates.is_empty() {
                missing("add tax.rates: [{country: US, state: CA, rate: \"7.25\"}]; until then quotes carry no tax")
            } else {
                configured(format!("{} rate(s), the native table", c.tax.rates.len()))
            }
        },
    },
    Integration {
        key: "comparables",
        name: "Marketplace comparables",
        powers: "the last step of quote pricing",
        needed_by: &[Module::Quotes],
        required: false,
        per_tenant: true,
        health: Health::Settings,
        setup: |c| match &c.pricing.comps {
            Some(comps) => configured(format!("{} ({})", comps.source, comps.format)),
            None => missing(
                "add pricing.comps: {source: comps.csv}; until then lines without stock or a fresh supplier cost are priced by hand",
            ),
        },
    },
    Integration {
        key: "supplier_feeds",
        name: "Supplier price feeds",
        powers: "fresh supplier costs for quote pricing, and competitor comparables",
        needed_by: &[Module::Quotes],
        required: false,
        per_tenant: true,
        health: Health::Settings,
        setup: |c| {
            let s = &c.sources;
            if s.supplier_catalogs.is_empty() && s.competitors.is_empty() {
                missing(
                    "add sources.supplier_catalogs: [{name: grainger, location: https://…/prices.csv, columns: {sku: Item, cost: Net}}]; until then costs come from receipts",
                )
            } else {
                configured(format!("{} supplier catalog(s), {} competitor list(s)", s.supplier_catalogs.len(), s.competitors.len()))
            }
        },
    },
    Integration {
        key: "mailbox",
        name: "RFQ mailbox (IMAP)",
        powers: "RFQs read from the tenant's mailbox, and bounces of the mail sent",
        needed_by: &[Module::Quotes],
        required: false,
        per_tenant: true,
        health: Health::Probe("IMAP login and SELECT of the folder"),
        setup: |c| match &c.mailbox {
            Some(m) => configured(format!("{}:{} {}, folder {}", m.host, m.port, m.tls, m.folder)),
            None => missing(
                "add mailbox: {host: imap.example.com, username: rfq@…, password: ref+vault://…}; until then RFQ mail reaches POST /rfq/email from a forwarder",
            ),
        },
    },
    Integration {
        key: "backup_storage",
        name: "Backup storage",
        powers: "offsite copies of the tenant's restic backups (S3-compatible: Cloudflare R2, AWS S3, any S3 API)",
        needed_by: &[Module::Core],
        required: false,
        per_tenant: true,
        health: Health::Probe("restic opens the offsite repository (or finds none yet) with the tenant's credentials"),
        setup: |c| match c.backup.as_ref().map(|b| (b, b.offsite.as_ref())) {
            Some((_, Some(o))) => configured(format!("{} (region {})", o.repository, o.region)),
            Some((b, None)) => missing(&format!(
                "backups stay on this host ({}): add backup.offsite: {{repository: s3:https://…/bucket/tenant, access_key_id: ref+…, secret_access_key: ref+…}}",
                b.repository
            )),
            None => missing("add a backup section (backup: {password: ref+vault://…}), then backup.offsite"),
        },
    },
    Integration {
        key: "ai",
        name: "AI provider",
        powers: "reading free-form RFQs",
        needed_by: &[Module::Quotes],
        required: false,
        per_tenant: true,
        health: Health::Planned,
        setup: |_| Setup::Planned("RFQs are read by rules (SKU, GTIN, quantities)".into()),
    },
    Integration {
        key: "prometheus",
        name: "Prometheus",
        powers: "metrics and alert rules for whoever runs the tenant",
        needed_by: &[Module::Dashboard],
        required: false,
        per_tenant: false,
        health: Health::Settings,
        setup: |c| match &c.monitoring.metrics_token {
            Some(_) => configured("/metrics with a bearer token"),
            None => configured("/metrics open on the internal network; set monitoring.metrics_token to require a token"),
        },
    },
];

/// The integration with `key`.
pub fn by_key(key: &str) -> Option<&'static Integration> {
    REGISTRY.iter().find(|i| i.key == key)
}

/// One line of the registry for a tenant.
#[derive(Debug, Clone)]
pub struct Entry {
    pub integration: &'static Integration,
    /// The enabled modules that need it.
    pub needed_by: Vec<Module>,
    pub setup: Setup,
}

impl Entry {
    /// `ups: needed by fulfillment — configured (…)`.
    pub fn line(&self) -> String {
        let by: Vec<&str> = self.needed_by.iter().map(|m| m.name()).collect();
        let need = if self.integration.required { "needed by" } else { "used by" };
        format!("{}: {need} {} — {}", self.integration.key, by.join(", "), self.setup)
    }

    /// Whether a module cannot work as configured (required and not set up).
    pub fn is_gap(&self) -> bool {
        self.integration.required && matches!(self.setup, Setup::Missing(_))
    }
}

/// The integrations this tenant's enabled modules use, in registry order.
pub fn for_tenant(c: &TenantConfig) -> Vec<Entry> {
    REGISTRY
        .iter()
        .filter_map(|i| {
            let needed_by: Vec<Module> = i.needed_by.iter().copied().filter(|m| m.enabled(c)).collect();
            (!needed_by.is_empty()).then(|| Entry { integration: i, needed_by, setup: (i.setup)(c) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_every_module_is_served() {
        let mut keys: Vec<&str> = REGISTRY.iter().map(|i| i.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate keys");
        assert!(REGISTRY.len() >= 15);
        for i in REGISTRY {
            assert!(!i.needed_by.is_empty(), "{} is needed by nothing", i.key);
            assert_eq!(matches!(i.health, Health::Planned), matches!((i.setup)(&example()), Setup::Planned(_)), "{}", i.key);
        }
    }

    fn example() -> TenantConfig {
        crate::config::check::check_str("example.yaml", include_str!("../../tenant-configs/example.yaml"))
            .expect("example tenant file is valid")
    }

    #[test]
    fn a_missing_integration_says_what_to_add() {
        let mut c = example();
        c.ups = None;
        c.modules.fulfillment = true;
        let ups = for_tenant(&c).into_iter().find(|e| e.integration.key == "ups").expect("ups listed");
        assert!(ups.is_gap());
        assert!(ups.line().starts_with("ups: needed by fulfillment — NOT configured: add ups:"), "{}", ups.line());
        c.modules.fulfillment = false;
        assert!(for_tenant(&c).iter().all(|e| e.integration.key != "ups"), "a module that is off needs nothing");
    }
}
