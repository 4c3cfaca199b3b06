//! Opens and resolves alert episodes and mails the digests (see
//! [`crate::alerts`]). Schedule: every 5 minutes at second 20.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

struct Alerts {
    state: AppState,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(Alerts { state: state.clone() }))
}

impl CronJob for Alerts {
    fn default_schedule(&self) -> String {
        "20 */5 * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::alerts::run(&self.state).await?)?) }.boxed()
    }
}
