//! The daily summary mail (see [`crate::summary`]). Schedule: every 15
//! minutes; it sends once a local day, at the first run past `daily_summary.at`.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

struct DailySummary {
    state: AppState,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(DailySummary { state: state.clone() }))
}

impl CronJob for DailySummary {
    fn default_schedule(&self) -> String {
        "30 */15 * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::summary::run(&self.state).await?)?) }.boxed()
    }
}
