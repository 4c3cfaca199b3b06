//! `qm sync` and `qm onboard`: the stock sync by hand.

use std::path::{Path, PathBuf};

use super::{Failure, RECEIPT_FILE_MAX, load};
use crate::{
    app::AppState,
    jobs::{self, JobName, Ran, Runner, inventory_poll},
    startup,
    sync::Summary,
    telemetry,
};

/// One cycle as the scheduler runs it (under the poller's lock, recorded in
/// `job_runs`); `None` when another replica holds the lock (said on stdout).
async fn one_cycle(state: &AppState) -> Result<Option<Summary>, Failure> {
    let job = inventory_poll::InventoryPoll::new(inventory_poll::sync(state), state.config.polling.inventory_cron.clone());
    match jobs::run_guarded(&Runner::of(state), JobName::InventoryPoll.as_str(), &job).await? {
        Ran::Done(v) => Ok(Some(serde_json::from_value(v).map_err(anyhow::Error::from)?)),
        Ran::Skipped { lock, holder } => {
            println!("skipped: lock {lock} is held by {holder}");
            Ok(None)
        }
        Ran::NotHere { reason } => {
            println!("not run here: {reason}");
            Ok(None)
        }
    }
}

/// `qm sync [--once] [--dry-run] [--catalog]`.
pub(super) async fn sync(config: &Path, once: bool, dry_run: bool, catalog: bool) -> Result<(), Failure> {
    telemetry::init();
    let state = startup::prepare(load(config)?).await?;
    if !once && !dry_run {
        if !state.config.modules.inventory_sync {
            return Err(Failure::Usage("modules.inventory_sync is off in the tenant file: nothing to schedule".into()));
        }
        let mut scheduler = jobs::start(state.clone(), Some(&[JobName::InventoryPoll, JobName::CatalogSync])).await?;
        println!("syncing on the tenant's schedule (polling.inventory_cron `{}`); Ctrl-C stops", state.config.polling.inventory_cron);
        startup::shutdown_signal().await;
        let _ = scheduler.shutdown().await;
        return Ok(());
    }
    if dry_run {
        let plan = inventory_poll::sync(&state).dry_run().await.map_err(anyhow::Error::from)?;
        for p in &plan {
            println!("{}: {} → {}", p.sku, p.store.map_or("(none)".to_owned(), |v| v.to_string()), p.new);
        }
        println!("dry run: {} SKU(s) would be pushed; nothing was written", plan.len());
        return Ok(());
    }
    let catalog_requests_before = crate::channels::StockChannel::requests(state.woo.as_ref());
    if catalog {
        let c = &state.config;
        let summary =
            crate::inventory::catalog::sync_from_woo(&state.pool, &state.woo, &c.tenant.currency, c.woocommerce.fix_manage_stock).await?;
        println!(
            "catalog: {} seen, {} upserted, {} not managing stock, {} fixed, {} bad GTINs, {} requests (nothing pushed)",
            summary.seen,
            summary.upserted,
            summary.not_managing_stock.len(),
            summary.fixed_manage_stock,
            summary.bad_gtins.len(),
            crate::channels::StockChannel::requests(state.woo.as_ref()) - catalog_requests_before
        );
    }
    let Some(summary) = one_cycle(&state).await? else { return Ok(()) };
    println!("{summary}");
    for e in &summary.errors {
        println!("  error: {e}");
    }
    if summary.errors.is_empty() { Ok(()) } else { Err(Failure::Reported) }
}

/// `qm onboard`: the store's stock as opening lots, then the first cycle.
pub(super) async fn onboard(
    config: &Path,
    costs: Option<PathBuf>,
    default_unit_cost: Option<String>,
    dry_run: bool,
) -> Result<(), Failure> {
    telemetry::init();
    let state = startup::prepare(load(config)?).await?;
    let c = &state.config;
    let currency = c.tenant.currency.clone();
    let costs = match &costs {
        Some(path) => {
            let text =
                crate::config::files::read_text(path, RECEIPT_FILE_MAX).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
            crate::inventory::onboard::read_costs(&path.display().to_string(), &text, &currency)
                .map_err(|e| Failure::Usage(e.to_string()))?
        }
        None => Default::default(),
    };
    let default_cost = match &default_unit_cost {
        Some(v) => Some(
            crate::money::parse_minor(v, crate::money::exponent(&currency))
                .map_err(|e| Failure::Usage(format!("--default-unit-cost `{v}`: {e}")))?,
        ),
        None => None,
    };
    if costs.is_empty() && default_cost.is_none() {
        return Err(Failure::Usage(
            "give the opening lots a unit cost: --costs FILE.csv (columns sku,unit_cost) and/or --default-unit-cost AMOUNT (e.g. 0.00)"
                .into(),
        ));
    }
    let (plan, products) =
        crate::inventory::onboard::plan(&state.pool, &state.woo, &c.woocommerce.order_statuses, &costs, default_cost).await?;
    let exp = crate::money::exponent(&currency);
    for l in &plan.lots {
        println!(
            "{}: store {} + open orders {} → opening lot {} @ {} ({})",
            l.sku,
            l.store_qty,
            l.open_order_qty,
            l.lot_qty,
            crate::money::format_minor(l.unit_cost_minor, exp),
            l.cost_source
        );
    }
    for (sku, why) in &plan.skipped {
        println!("{sku}: no lot: {why}");
    }
    if dry_run {
        println!(
            "dry run: {} product(s) seen, {} opening lot(s) would be created, {} skipped; no stock would be pushed (each product's available quantity equals the store's); nothing was written",
            plan.products_seen,
            plan.lots.len(),
            plan.skipped.len()
        );
        return Ok(());
    }
    let created = crate::inventory::onboard::apply(&state.pool, &state.woo, &products, &plan, &currency).await?;
    println!("onboarded: {created} opening lot(s) created, {} skipped", plan.skipped.len());
    if let Some(summary) = one_cycle(&state).await? {
        println!("first cycle: {summary}");
    }
    Ok(())
}
