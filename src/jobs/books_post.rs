//! Posts to the books every fact still waiting (shipments, receipts, landed
//! charges, adjustments, refunds, receivable payments). Pages post right
//! after the act too; this catches up whatever they missed (a crash, another
//! replica, the sync's refunds and payments). Schedule: every minute, with
//! the accounting module.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::{app::AppState, books::Ledger};

struct BooksPost {
    pool: MySqlPool,
    ledger: Arc<Ledger>,
}

pub fn job(state: &AppState) -> anyhow::Result<Option<Arc<dyn CronJob>>> {
    Ok(state.ledger.clone().map(|ledger| Arc::new(BooksPost { pool: state.pool.clone(), ledger }) as Arc<dyn CronJob>))
}

impl CronJob for BooksPost {
    fn name(&self) -> &'static str {
        "books_post"
    }
    fn default_schedule(&self) -> String {
        "30 * * * * *".into()
    }
    fn at_start(&self) -> bool {
        true
    }
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(self.ledger.catch_up(&self.pool).await?)?) }.boxed()
    }
}
