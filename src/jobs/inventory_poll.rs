//! The stock sync's cycle (see [`crate::sync`]) as a job of the fleet, with
//! the inventory sync module, on `polling.inventory_cron`. It runs under the
//! fleet's lock `qm:<tenant>:poller` and hands the lock to the cycle, which
//! checks it inside every write.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::{
    app::AppState,
    channels::retry::RetryPolicy,
    db::lock::LockCheck,
    sync::{Deps, Settings, StockSync},
};

/// The tenant's sync, from the running app's clients.
pub fn sync(state: &AppState) -> StockSync {
    StockSync::new(Deps {
        pool: state.pool.clone(),
        woo: state.woo.clone(),
        ebay: state.ebay.clone(),
        retry: RetryPolicy::default(),
        books: state.ledger.as_ref().map(|l| l.books.clone()),
        metrics: Some(state.metrics.clone()),
        settings: Settings::of(&state.config),
    })
}

/// The cycle as a job.
pub struct InventoryPoll {
    sync: StockSync,
    schedule: String,
}

impl InventoryPoll {
    pub fn new(sync: StockSync, schedule: String) -> Self {
        Self { sync, schedule }
    }
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(InventoryPoll::new(sync(state), state.config.polling.inventory_cron.clone())))
}

impl CronJob for InventoryPoll {
    fn default_schedule(&self) -> String {
        self.schedule.clone()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(1800)
    }
    fn run(&self, lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async move {
            let lock = lock.context("the sync runs only under its lock")?;
            Ok(serde_json::to_value(self.sync.run_once(&lock).await?)?)
        }
        .boxed()
    }
}
