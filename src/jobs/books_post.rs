//! Posts to the books every fact still waiting (shipments, receipts, landed
//! charges, adjustments, refunds, receivable payments). Pages post right
//! after the act too; this catches up whatever they missed (a crash, another
//! replica, the sync's refunds and payments). Schedule: every minute, with
//! the accounting module.

use anyhow::Context;
use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, books::Ledger};

struct BooksPost {
    pool: MySqlPool,
    ledger: Arc<Ledger>,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    let ledger = state.ledger.clone().context("the books are not open (modules.accounting)")?;
    Ok(Arc::new(BooksPost { pool: state.pool.clone(), ledger }))
}

impl CronJob for BooksPost {
    fn default_schedule(&self) -> String {
        "30 * * * * *".into()
    }
    fn at_start(&self) -> bool {
        true
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(self.ledger.catch_up(&self.pool).await?)?) }.boxed()
    }
}
