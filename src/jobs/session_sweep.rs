//! Deletes expired sessions. Schedule: every 15 minutes, at second 30.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::{Value, json};
use sqlx::MySqlPool;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

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
        async { Ok(json!({ "deleted": crate::operators::sessions::sweep(&self.pool).await? })) }.boxed()
    }
}
