//! The integrations' live health, through the registry's probes.

use crate::{
    dashboard::{Level, Reading},
    integrations::{self, Setup, probe},
    services::Services,
};

/// A tile for integration `key`: off when the tenant does not use it,
/// NOT configured with the fix when a module needs it, else the probe.
async fn tile(st: &Services, key: &'static str) -> anyhow::Result<Reading> {
    let Some(entry) = integrations::for_tenant(&st.config).into_iter().find(|e| e.integration.key == key) else {
        return Ok(Reading::new("off", Level::Off).detail("no module of this tenant uses it"));
    };
    match &entry.setup {
        Setup::Configured(_) => {}
        Setup::Missing(fix) => {
            let level = if entry.is_gap() { Level::Bad } else { Level::Off };
            return Ok(Reading::new("not set up", level).detail(fix.clone()));
        }
        other => return Ok(Reading::new("not used", Level::Off).detail(other.to_string())),
    }
    let ctx = st.probes();
    let Some(outcome) = probe::probe(&ctx, key).await else {
        return Ok(Reading::new("configured", Level::Ok).detail(entry.setup.to_string()));
    };
    let r = if outcome.ok {
        Reading::new("OK", Level::Ok).detail(format!("answered in {} ms {}", outcome.took.as_millis(), outcome.detail).trim().to_owned())
    } else {
        Reading::new("DOWN", Level::Bad).detail(outcome.detail.clone())
    };
    Ok(r.sample("qm_integration_up", &[("integration", key)], if outcome.ok { 1.0 } else { 0.0 }).sample(
        "qm_integration_probe_seconds",
        &[("integration", key)],
        outcome.took.as_secs_f64(),
    ))
}

pub async fn woocommerce(st: &Services) -> anyhow::Result<Reading> {
    tile(st, "woocommerce").await
}

pub async fn ebay(st: &Services) -> anyhow::Result<Reading> {
    tile(st, "ebay").await
}

pub async fn ups(st: &Services) -> anyhow::Result<Reading> {
    tile(st, "ups").await
}

pub async fn vault(st: &Services) -> anyhow::Result<Reading> {
    tile(st, "vault").await
}

pub async fn smtp(st: &Services) -> anyhow::Result<Reading> {
    tile(st, "smtp").await
}

/// Each printer's state, reasons and queue (IPP Get-Printer-Attributes).
pub async fn printers(st: &Services) -> anyhow::Result<Reading> {
    if st.config.printers.is_empty() {
        let level = if st.config.modules.fulfillment { Level::Warn } else { Level::Off };
        return Ok(Reading::new("none", level).detail("no printers in the tenant file"));
    }
    let ctx = probe::Ctx { timeout: std::time::Duration::from_secs(5), ..st.probes() };
    let statuses = probe::printers(&ctx).await;
    let up = statuses.iter().filter(|(_, s)| s.as_ref().is_ok_and(|s| s.is_up())).count();
    let level = if up == statuses.len() { Level::Ok } else { Level::Bad };
    let mut r = Reading::new(format!("{up}/{}", statuses.len()), level).detail("printers ready");
    for (name, status) in &statuses {
        r = match status {
            Ok(s) => {
                let reasons = if s.reasons.is_empty() { String::new() } else { format!(" ({})", s.reasons.join(", ")) };
                r.row(
                    name.clone(),
                    format!("{}{reasons}, {} queued{}", s.state, s.queued_jobs, if s.accepting { "" } else { ", not accepting jobs" }),
                )
                .sample("qm_printer_up", &[("printer", name)], if s.is_up() { 1.0 } else { 0.0 })
                .sample("qm_printer_queued_jobs", &[("printer", name)], f64::from(s.queued_jobs))
            }
            Err(e) => r.row(name.clone(), e.clone()).sample("qm_printer_up", &[("printer", name)], 0.0),
        };
    }
    Ok(r)
}
