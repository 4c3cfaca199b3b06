//! Resends queued print jobs whose retry time has come. Schedule: every
//! minute at second 15, when the tenant has printers.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, config::Printer, printing::ipp};

struct PrintRetry {
    pool: MySqlPool,
    printers: Vec<Printer>,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(PrintRetry { pool: state.pool.clone(), printers: state.config.printers.clone() }))
}

impl CronJob for PrintRetry {
    fn default_schedule(&self) -> String {
        "15 * * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(ipp::retry_due(&self.pool, &self.printers).await?)?) }.boxed()
    }
}
