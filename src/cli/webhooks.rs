//! `qm webhooks install|status`: the WooCommerce webhooks that bring an
//! order change to the sync within seconds (see [`crate::sync::webhook`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::{Failure, load};
use crate::{config::resolve::Resolver, startup, sync::webhook};

#[derive(Debug, Subcommand)]
pub(super) enum WebhooksCommand {
    /// Create (or bring up to date) one active webhook per order topic
    /// (created, updated, deleted, restored) delivering to
    /// `woocommerce.webhooks.delivery_url`, signed with its secret. Safe to repeat.
    Install {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
    /// Show Quartermaster's webhooks as the store has them, re-enabling any the
    /// store disabled after failed deliveries. Exits 1 when one is missing.
    Status {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
}

pub(super) async fn run(cmd: WebhooksCommand) -> Result<(), Failure> {
    let (install, config) = match cmd {
        WebhooksCommand::Install { config } => (true, config),
        WebhooksCommand::Status { config } => (false, config),
    };
    let (woo, cfg, secret) = store(&config).await?;
    let found = if install { webhook::install(&woo, &cfg, &secret).await } else { webhook::status(&woo, &cfg, true).await }
        .context("the store's webhooks")?;
    for r in &found {
        println!("{r}");
    }
    if found.iter().all(|r| r.hook.as_ref().is_some_and(|h| h.status == "active")) { Ok(()) } else { Err(Failure::Reported) }
}

async fn store(
    config: &Path,
) -> Result<(std::sync::Arc<crate::channels::woocommerce::WooClient>, crate::config::Webhooks, crate::config::Secret), Failure> {
    let loaded = load(config)?;
    let Some(cfg) = loaded.config.woocommerce.webhooks.clone() else {
        return Err(Failure::Usage(format!(
            "{}: woocommerce.webhooks is not set: add `secret: ref+…` and `delivery_url: http://ops:8080/webhooks/woocommerce` under woocommerce (tenant-configs/README.md)",
            config.display()
        )));
    };
    let mut resolver = Resolver::for_config(&loaded);
    let (secrets, failures) = resolver.resolve_all(&loaded).await;
    if let Some((key, e)) = failures.first() {
        return Err(Failure::Failed(anyhow::anyhow!("{key} did not resolve: {e}")));
    }
    let secret = secrets.get("woocommerce.webhooks.secret").cloned().context("woocommerce.webhooks.secret did not resolve")?;
    let woo = startup::clients(&loaded.config, &secrets)?.woo;
    Ok((woo, cfg, secret))
}
