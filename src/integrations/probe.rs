//! Live health probes: does the service answer, and take our credentials,
//! right now? Each is cheap, read-only, bounded by a timeout and says why
//! it failed without a secret in the message.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::MySqlPool;

use crate::{
    channels::{ebay::EbayClient, woocommerce::WooClient},
    config::{TenantConfig, resolve::Secrets},
    fulfillment::carrier::Carrier,
    printing::{
        ipp::{self, PrinterStatus, PrinterTarget},
        pdf::WeasyPrint,
    },
};

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub took: Duration,
    /// What answered (`WeasyPrint version 57.2`) or why not.
    pub detail: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.took.as_millis();
        if self.ok {
            write!(f, "probe OK {ms} ms")?;
        } else {
            write!(f, "probe FAILED after {ms} ms")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// What the probes can reach.
#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<TenantConfig>,
    pub secrets: Arc<Secrets>,
    pub pool: Option<MySqlPool>,
    pub woo: Option<Arc<WooClient>>,
    /// eBay, when the module is on (built with the other clients).
    pub ebay: Option<Arc<EbayClient>>,
    pub carrier: Option<Arc<dyn Carrier>>,
    pub weasy: WeasyPrint,
    /// The tenant file's folder (private CA files).
    pub base_dir: std::path::PathBuf,
    /// The most any one probe may take.
    pub timeout: Duration,
}

impl Ctx {
    /// The configured printers as IPP targets.
    pub fn printers(&self) -> Vec<PrinterTarget> {
        self.config.printers.iter().map(|p| PrinterTarget { name: p.name.clone(), uri: p.uri.clone() }).collect()
    }
}

/// Runs `key`'s probe; `None` when it has no live probe or is not set up here.
pub async fn probe(ctx: &Ctx, key: &str) -> Option<Outcome> {
    let started = Instant::now();
    let result: Result<Option<String>, String> = match tokio::time::timeout(ctx.timeout, run(ctx, key)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", ctx.timeout.as_secs())),
    };
    let took = started.elapsed();
    match result {
        Ok(None) => None,
        Ok(Some(detail)) => Some(Outcome { ok: true, took, detail }),
        Err(detail) => Some(Outcome { ok: false, took, detail }),
    }
}

async fn run(ctx: &Ctx, key: &str) -> Result<Option<String>, String> {
    let c = &ctx.config;
    match key {
        "mariadb" => match &ctx.pool {
            Some(pool) => crate::db::ping(pool).await.map(|_| Some(String::new())).map_err(|e| e.to_string()),
            None => Ok(None),
        },
        "vault" => match &c.vault {
            Some(v) => vault_health(&v.address, ctx.timeout).await.map(Some),
            None => Ok(None),
        },
        "woocommerce" => match &ctx.woo {
            Some(w) => w.probe().await.map(|()| Some(String::new())).map_err(|e| e.to_string()),
            None => Ok(None),
        },
        "woocommerce_webhooks" => match (&ctx.woo, &c.woocommerce.webhooks) {
            (Some(w), Some(cfg)) => match crate::sync::webhook::status(w, cfg, true).await {
                Ok(found) => crate::sync::webhook::health(&found).map(Some),
                Err(e) => Err(e.to_string()),
            },
            _ => Ok(None),
        },
        "ebay" => match &ctx.ebay {
            Some(e) => e.probe().await.map(|()| Some(String::new())).map_err(|e| e.to_string()),
            None => Ok(None),
        },
        "ups" => match (&ctx.carrier, c.ups.is_some()) {
            (Some(carrier), true) => carrier.probe().await.map(|()| Some(String::new())).map_err(|e| e.to_string()),
            _ => Ok(None),
        },
        "smtp" => match &c.smtp {
            Some(s) => {
                let mailer = crate::mail::Mailer::new(s, ctx.secrets.get("smtp.password"), "", &ctx.base_dir).map_err(|e| e.to_string())?;
                mailer
                    .probe()
                    .await
                    .map(|()| {
                        Some(format!(
                            "{}:{} took the connection{}",
                            s.host,
                            s.port,
                            if s.username.is_some() { " and the login" } else { "" }
                        ))
                    })
                    .map_err(|e| e.to_string())
            }
            None => Ok(None),
        },
        "cups" => {
            if c.printers.is_empty() {
                return Ok(None);
            }
            let statuses = printers(ctx).await;
            let down: Vec<String> = statuses
                .iter()
                .filter_map(|(name, s)| match s {
                    Ok(st) if st.is_up() => None,
                    Ok(st) => Some(format!("{name} {} {}", st.state, st.reasons.join(" "))),
                    Err(e) => Some(format!("{name}: {e}")),
                })
                .collect();
            if down.is_empty() { Ok(Some(format!("{} printer(s) up", statuses.len()))) } else { Err(down.join("; ")) }
        }
        "mailbox" => match (&c.mailbox, ctx.secrets.get("mailbox.password")) {
            (Some(m), Some(password)) => {
                let base_dir = ctx.base_dir.clone();
                let inbox = crate::mail::imap::open(m, password, &base_dir, ctx.timeout).await.map_err(|e| e.to_string())?;
                let detail = format!("folder {} (UIDVALIDITY {}){}", m.folder, inbox.uidvalidity, if inbox.idle { ", IDLE" } else { "" });
                inbox.close().await;
                Ok(Some(detail))
            }
            _ => Ok(None),
        },
        "backup_storage" => crate::backup::probe_offsite(c, &ctx.secrets).await.transpose(),
        "weasyprint" => ctx.weasy.version().await.map(Some).map_err(|e| e.to_string()),
        "gnucash" => crate::books::export::gnucash_version().await.map(Some),
        _ => Ok(None),
    }
}

/// Every configured printer's status, asked in parallel.
pub async fn printers(ctx: &Ctx) -> Vec<(String, Result<PrinterStatus, String>)> {
    let timeout = ctx.timeout;
    let asks = ctx.printers().into_iter().map(|p| async move {
        let status = ipp::status(&p, timeout).await;
        (p.name, status)
    });
    futures::future::join_all(asks).await
}

/// OpenBao/Vault's unauthenticated health endpoint: 200 active, 429/473
/// standby (both serve reads), 501 not initialised, 503 sealed.
async fn vault_health(address: &str, timeout: Duration) -> Result<String, String> {
    let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
    let url = format!("{}/v1/sys/health", address.trim_end_matches('/'));
    let resp = http.get(&url).send().await.map_err(|e| format!("cannot reach {address}: {}", e.without_url()))?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let version = body.get("version").and_then(|v| v.as_str()).unwrap_or("").to_owned();
    match status {
        200 => Ok(format!("active {version}").trim().to_owned()),
        429 | 473 => Ok(format!("standby {version}").trim().to_owned()),
        501 => Err("not initialised".into()),
        503 => Err("sealed: unseal it before the appliance can start".into()),
        other => Err(format!("answered HTTP {other}")),
    }
}
