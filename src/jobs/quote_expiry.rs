//! Sent quotes past their validity window become expired. Schedule: hourly
//! at minute 5, with the quotes module.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::{Value, json};
use sqlx::MySqlPool;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

struct QuoteExpiry {
    pool: MySqlPool,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(QuoteExpiry { pool: state.pool.clone() }))
}

impl CronJob for QuoteExpiry {
    fn default_schedule(&self) -> String {
        "0 5 * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(json!({ "expired": crate::quotes::send::expire_due(&self.pool, chrono::Utc::now().naive_utc()).await? })) }.boxed()
    }
}
