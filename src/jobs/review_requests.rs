//! Asks delivered orders' buyers for a review (see [`crate::reviews`]).
//! Schedule: hourly at minute 25, with a `reviews` section and a mail server.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

struct ReviewRequests {
    state: AppState,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(ReviewRequests { state: state.clone() }))
}

impl CronJob for ReviewRequests {
    fn default_schedule(&self) -> String {
        "0 25 * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::reviews::run(&self.state).await?)?) }.boxed()
    }
}
