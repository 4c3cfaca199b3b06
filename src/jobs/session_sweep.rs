//! Deletes expired sessions. Schedule: every 15 minutes, at second 30.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::{Value, json};
use sqlx::MySqlPool;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

/// Deletes sessions past their expiry; returns how many.
pub async fn run_once(pool: &MySqlPool) -> anyhow::Result<u64> {
    Ok(crate::operators::sessions::sweep(pool).await?)
}

struct SessionSweep {
    pool: MySqlPool,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(SessionSweep { pool: state.pool.clone() }))
}

impl CronJob for SessionSweep {
    fn default_schedule(&self) -> String {
        "30 */15 * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(json!({ "deleted": run_once(&self.pool).await? })) }.boxed()
    }
}
