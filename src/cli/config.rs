//! `qm config check` and `qm integrations`: the tenant file and the services it names.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{Failure, load};
use crate::{
    config::{
        LoadedConfig, check,
        resolve::{Resolver, Secrets},
    },
    db, startup,
};

#[derive(Debug, Subcommand)]
pub(super) enum ConfigCommand {
    /// Check tenant files: YAML syntax, schema, cross-field rules.
    ///
    /// Prints every problem as FILE:LINE key.path: message and exits 0 only
    /// when every file is valid, then the integrations the tenant's modules
    /// use and whether each is set up. Never prints a secret.
    Check {
        /// Also resolve every secret reference and report those that fail,
        /// and probe each integration (does it answer now?).
        #[arg(long)]
        resolve: bool,
        /// Tenant files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub(super) async fn run(cmd: ConfigCommand) -> Result<(), Failure> {
    match cmd {
        ConfigCommand::Check { resolve, files } => config_check(&files, resolve).await,
    }
}

/// `qm integrations [--probe]`.
pub(super) async fn integrations(config: &Path, probe: bool) -> Result<(), Failure> {
    let loaded = load(config)?;
    let secrets = if probe {
        let mut resolver = Resolver::for_config(&loaded);
        let (secrets, failures) = resolver.resolve_all(&loaded).await;
        for (key, e) in &failures {
            println!("{key}: did not resolve: {e}");
        }
        Some(secrets)
    } else {
        None
    };
    let (lines, healthy) = integrations_report(&loaded, secrets.as_ref()).await;
    for l in lines {
        println!("{l}");
    }
    if healthy { Ok(()) } else { Err(Failure::Reported) }
}

/// The registry for a tenant, a line each (`ups: needed by fulfillment —
/// configured (…) — probe OK 212 ms`), probed when `secrets` are given;
/// and whether every needed integration is set up and every probe answered.
async fn integrations_report(loaded: &LoadedConfig, secrets: Option<&Secrets>) -> (Vec<String>, bool) {
    use crate::integrations::{self, Health, probe};
    let c = &loaded.config;
    let entries = integrations::for_tenant(c);
    let on: Vec<&str> = [
        integrations::Module::InventorySync,
        integrations::Module::Ebay,
        integrations::Module::Quotes,
        integrations::Module::Fulfillment,
        integrations::Module::Accounting,
        integrations::Module::Dashboard,
    ]
    .into_iter()
    .filter(|m| m.enabled(c))
    .map(|m| m.name())
    .collect();
    let mut healthy = entries.iter().all(|e| !e.is_gap());
    let ctx = match secrets {
        Some(secrets) => {
            let pool = match db::connect_options(Some(loaded), secrets) {
                Ok(o) => sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(std::time::Duration::from_secs(5))
                    .connect_lazy_with(o),
                Err(_) => sqlx::mysql::MySqlPoolOptions::new().connect_lazy_with(sqlx::mysql::MySqlConnectOptions::new()),
            };
            let clients = startup::clients(c, secrets).ok();
            Some(probe::Ctx {
                config: std::sync::Arc::new(c.clone()),
                secrets: std::sync::Arc::new(secrets.clone()),
                pool: Some(pool),
                woo: clients.as_ref().map(|k| k.woo.clone()),
                ebay: clients.as_ref().and_then(|k| k.ebay.clone()),
                carrier: clients.and_then(|k| k.carrier),
                weasy: crate::printing::pdf::WeasyPrint::default(),
                base_dir: loaded.base_dir(),
                timeout: std::time::Duration::from_secs(10),
            })
        }
        None => None,
    };
    let probes = futures::future::join_all(entries.iter().map(|e| {
        let ctx = ctx.clone();
        async move {
            match (&ctx, e.integration.health, e.setup.is_configured()) {
                (Some(ctx), Health::Probe(_), true) => probe::probe(ctx, e.integration.key).await,
                _ => None,
            }
        }
    }))
    .await;
    let mut lines = vec![format!("integrations of {} (modules on: {}):", c.tenant.id, on.join(", "))];
    for (e, outcome) in entries.iter().zip(probes) {
        let mut line = e.line();
        if let Some(o) = outcome {
            healthy &= o.ok;
            line = format!("{line} — {o}");
        }
        lines.push(format!("  {line}"));
    }
    (lines, healthy)
}

async fn config_check(files: &[PathBuf], resolve: bool) -> Result<(), Failure> {
    let mut all_ok = true;
    for path in files {
        let text = crate::config::files::read_text(path, crate::config::files::TENANT_FILE_MAX)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        let label = path.display().to_string();
        let config = match check::check_str(&label, &text) {
            Ok(c) => c,
            Err(e) => {
                println!("{e}");
                all_ok = false;
                continue;
            }
        };
        let loaded = LoadedConfig { path: path.clone(), config };
        if !resolve {
            println!("{label}: ok");
            for l in integrations_report(&loaded, None).await.0 {
                println!("  {l}");
            }
            continue;
        }
        let mut resolver = Resolver::for_config(&loaded);
        let (secrets, failures) = resolver.resolve_all(&loaded).await;
        let total = loaded.config.secret_refs().len();
        for (key, e) in &failures {
            let line = check::locate(&text, &format!("/{}", key.replace('.', "/")));
            let at = line.map(|l| format!(":{l}")).unwrap_or_default();
            println!("{label}{at} {key}: {e}");
        }
        if failures.is_empty() {
            println!("{label}: ok, {total} of {total} references resolved");
        } else {
            all_ok = false;
            println!("{label}: {} of {total} references did not resolve", failures.len());
        }
        for l in integrations_report(&loaded, Some(&secrets)).await.0 {
            println!("  {l}");
        }
        drop(secrets);
    }
    if all_ok { Ok(()) } else { Err(Failure::Reported) }
}
