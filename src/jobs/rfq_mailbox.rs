//! Reads the tenant's mailbox (see [`crate::quotes::mailbox`]). Schedule:
//! every minute; while `qm serve` runs, IMAP IDLE wakes it as soon as mail
//! arrives when the server offers IDLE ([`watch`]).

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::{CronJob, Ran, Runner};
use crate::{app::AppState, db::lock::LockCheck, quotes::mailbox::RfqMailbox};

struct Job(RfqMailbox);

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(Job(mailbox(state)?)))
}

fn mailbox(state: &AppState) -> anyhow::Result<RfqMailbox> {
    let cfg = state.config.mailbox.clone().context("no `mailbox` section")?;
    let password = state.secrets.get("mailbox.password").cloned().context("mailbox.password did not resolve")?;
    Ok(RfqMailbox { pool: state.pool.clone(), lookup: state.lookup.clone(), cfg, password, base_dir: state.loaded.base_dir() })
}

impl CronJob for Job {
    fn default_schedule(&self) -> String {
        "5 * * * * *".into()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(self.0.run_once().await?)?) }.boxed()
    }
}

/// While the appliance runs: waits on the mailbox with IMAP IDLE and runs
/// the job (under its lock) as soon as the server says mail arrived. Returns
/// when the mailbox is not configured, or the server has no IDLE (the
/// schedule then polls). Reconnects after a failure, waiting a minute.
pub async fn watch(state: AppState, runner: Runner, job: Arc<dyn CronJob>) {
    let Ok(mb) = mailbox(&state) else { return };
    if !mb.idle() {
        return;
    }
    let name = crate::runs::JobName::RfqMailbox.as_str();
    loop {
        // Servers drop an IDLE after 30 minutes; renew before.
        match mb.wait_for_mail(Duration::from_secs(25 * 60)).await {
            Ok(None) => {
                tracing::info!("the mailbox server has no IDLE; RFQ mail is read on the schedule");
                return;
            }
            Ok(Some(false)) => {}
            Ok(Some(true)) => {
                // A run already under way (the schedule's, or a replica's)
                // may have read the mailbox before this message came: when
                // the lock is held, run again once it is free (up to 5 min).
                for _ in 0..150 {
                    match super::run_guarded(&runner, name, job.as_ref()).await {
                        Ok(Ran::Skipped { .. }) => tokio::time::sleep(Duration::from_secs(2)).await,
                        _ => break,
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "mailbox watch: {e:#}; trying again in a minute");
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        }
    }
}
