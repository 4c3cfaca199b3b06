//! The daily summary mail (see [`crate::summary`]). Schedule: every 15
//! minutes; it sends once a local day, at the first run past `daily_summary.at`.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::app::AppState;

struct DailySummary {
    state: AppState,
}

pub fn job(state: &AppState) -> anyhow::Result<Option<Arc<dyn CronJob>>> {
    if state.config.daily_summary.is_none() || state.mailer.is_none() {
        return Ok(None);
    }
    Ok(Some(Arc::new(DailySummary { state: state.clone() })))
}

impl CronJob for DailySummary {
    fn name(&self) -> &'static str {
        "daily_summary"
    }
    fn default_schedule(&self) -> String {
        "30 */15 * * * *".into()
    }
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::summary::run(&self.state).await?)?) }.boxed()
    }
}
