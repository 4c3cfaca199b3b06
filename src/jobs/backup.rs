//! The automated backup (see [`crate::backup`]). Schedule: daily at 02:30 UTC.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

struct BackupJob {
    state: AppState,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(BackupJob { state: state.clone() }))
}

impl CronJob for BackupJob {
    fn runs_here(&self) -> Result<(), String> {
        let s = &self.state;
        crate::backup::Backups::new(&s.loaded, &s.secrets).map_or(Ok(()), |b| b.here())
    }
    fn default_schedule(&self) -> String {
        "0 30 2 * * *".into()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(4 * 3600)
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async {
            let s = &self.state;
            let taken = crate::backup::Backups::new(&s.loaded, &s.secrets)?.run(&s.pool, "scheduled").await?;
            Ok(serde_json::to_value(taken)?)
        }
        .boxed()
    }
}
