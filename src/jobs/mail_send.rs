//! Sends queued mail whose (re)try time has come. Schedule: every 30
//! seconds, when the tenant has an `smtp` section. A message the server
//! refuses for good, or still cannot take after a dozen tries, is marked
//! failed and told to the event log (`mail.failed`).

use anyhow::Context;
use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, mail::Mailer};

struct MailSend {
    pool: MySqlPool,
    mailer: Arc<Mailer>,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    let mailer = state.mailer.clone().context("no mail server (smtp)")?;
    Ok(Arc::new(MailSend { pool: state.pool.clone(), mailer }))
}

impl CronJob for MailSend {
    fn default_schedule(&self) -> String {
        "*/30 * * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::mail::outbox::send_due(&self.pool, &self.mailer, 200).await?)?) }.boxed()
    }
}
