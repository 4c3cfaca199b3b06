//! The short cycles webhooks ask for: the orders verified deliveries put in
//! the [`crate::sync::webhook::Inbox`] are taken together and synced by
//! [`crate::sync::StockSync::run_for`], under the poller's lock and recorded
//! as an `inventory_poll` run. A full cycle holding the lock is waited for
//! (the short one then still runs: the full one may have read its feed before
//! the change); after [`GIVE_UP_AFTER`] the orders are left to the poller.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::{CronJob, JobName, Ran, Runner, inventory_poll, run_guarded_within};
use crate::{app::AppState, db::lock::LockCheck, sync::StockSync};

/// How long a short cycle waits for the lock before leaving its orders to the poller.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

struct Scoped<'a> {
    sync: &'a StockSync,
    orders: Vec<u64>,
}

impl CronJob for Scoped<'_> {
    fn default_schedule(&self) -> String {
        String::new()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }
    fn run(&self, lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async move {
            let lock = lock.context("the sync runs only under its lock")?;
            Ok(serde_json::to_value(self.sync.run_for(&self.orders, &lock).await?)?)
        }
        .boxed()
    }
}

/// Runs for as long as the appliance does.
pub async fn watch(state: AppState, runner: Runner) {
    let inbox: Arc<crate::sync::webhook::Inbox> = state.webhooks.clone();
    let sync = inventory_poll::sync(&state);
    loop {
        let orders = inbox.take().await;
        let job = Scoped { sync: &sync, orders };
        match run_guarded_within(&runner, JobName::InventoryPoll.as_str(), &job, GIVE_UP_AFTER).await {
            Ok(Ran::Done(_)) => {}
            Ok(Ran::NotHere { .. }) => {}
            Ok(Ran::Skipped { holder, .. }) => {
                tracing::warn!(orders = ?job.orders, holder, "webhook cycle: the poller's lock stayed held; the next poll reads these orders");
            }
            // Recorded as a failed run (job_runs, the event log): the poller reads them again.
            Err(e) => tracing::warn!(orders = ?job.orders, error = %e, "webhook cycle failed; the next poll reads these orders"),
        }
    }
}
