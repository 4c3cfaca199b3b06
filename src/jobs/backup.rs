//! The automated backup (see [`crate::backup`]). Schedule: daily at 02:30 UTC.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::{app::AppState, config::Backup};

struct BackupJob {
    state: AppState,
    cfg: Backup,
}

pub fn job(state: &AppState) -> anyhow::Result<Option<Arc<dyn CronJob>>> {
    let Some(cfg) = state.config.backup.clone() else { return Ok(None) };
    Ok(Some(Arc::new(BackupJob { state: state.clone(), cfg })))
}

impl CronJob for BackupJob {
    fn name(&self) -> &'static str {
        "backup"
    }
    fn default_schedule(&self) -> String {
        "0 30 2 * * *".into()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::backup::run(&self.state, &self.cfg).await?)?) }.boxed()
    }
}
