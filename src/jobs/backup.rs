//! The automated backup (see [`crate::backup`]). Schedule: daily at 02:30 UTC.

use anyhow::Context;
use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, config::Backup};

struct BackupJob {
    state: AppState,
    cfg: Backup,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    let cfg = state.config.backup.clone().context("no `backup` section")?;
    Ok(Arc::new(BackupJob { state: state.clone(), cfg }))
}

impl CronJob for BackupJob {
    fn default_schedule(&self) -> String {
        "0 30 2 * * *".into()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(3600)
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::backup::run(&self.state.loaded, &self.state.secrets, &self.cfg).await?)?) }.boxed()
    }
}
