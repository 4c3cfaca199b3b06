//! `restic check --read-data-subset` of the tenant's backup repositories (see
//! [`crate::backup`]). Schedule: Sundays at 04:00 UTC. It takes the backup
//! job's lock, so a check never meets a backup in the same repository.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::app::AppState;
use crate::db::lock::LockCheck;

struct BackupCheckJob {
    state: AppState,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(BackupCheckJob { state: state.clone() }))
}

impl CronJob for BackupCheckJob {
    fn runs_here(&self) -> Result<(), String> {
        let s = &self.state;
        crate::backup::Backups::new(&s.loaded, &s.secrets).map_or(Ok(()), |b| b.here())
    }
    fn default_schedule(&self) -> String {
        "0 0 4 * * Sun".into()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(6 * 3600)
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async {
            let s = &self.state;
            let checked = crate::backup::Backups::new(&s.loaded, &s.secrets)?.check(&s.pool).await?;
            Ok(serde_json::to_value(checked)?)
        }
        .boxed()
    }
}
