//! Reads the tenant's mailbox (`mailbox:`): each new message is stored as
//! an RFQ exactly as `POST /rfq/email` stores one (raw bytes first), or,
//! when it is a bounce of mail we sent, marks that mail bounced and counts
//! it against the recipient's domain; then it is filed (moved to
//! `processed_folder`, or flagged `\Seen`). Schedule: every minute; while
//! `qm serve` runs, IMAP IDLE wakes it as soon as mail arrives when the
//! server offers IDLE ([`watch`]).

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::{
    app::AppState,
    config::{Mailbox, Secret},
    events::{self, Event, Severity},
    inventory::lookup::CodeLookup,
    mail::{dsn, imap},
    quotes::{reputation, rfq},
};

/// Messages read per round trip.
const BATCH: usize = 50;

pub struct RfqMailbox {
    pool: MySqlPool,
    lookup: Arc<CodeLookup>,
    cfg: Mailbox,
    password: Secret,
    base_dir: std::path::PathBuf,
}

pub fn job(state: &AppState) -> anyhow::Result<Option<Arc<dyn CronJob>>> {
    Ok(make(state)?.map(|j| Arc::new(j) as Arc<dyn CronJob>))
}

fn make(state: &AppState) -> anyhow::Result<Option<RfqMailbox>> {
    let Some(cfg) = state.config.mailbox.clone() else { return Ok(None) };
    let password = state.secrets.get("mailbox.password").cloned().context("mailbox.password did not resolve")?;
    Ok(Some(RfqMailbox { pool: state.pool.clone(), lookup: state.lookup.clone(), cfg, password, base_dir: state.loaded.base_dir() }))
}

impl CronJob for RfqMailbox {
    fn name(&self) -> &'static str {
        "rfq_mailbox"
    }
    fn default_schedule(&self) -> String {
        "5 * * * * *".into()
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(self.run_once().await?)?) }.boxed()
    }
}

/// What a pass read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Read {
    pub messages: u32,
    pub rfqs: u32,
    /// Messages stored before (read again after an interruption): filed, not stored twice.
    pub already_stored: u32,
    pub bounces: u32,
    /// Bounces of mail that is not ours (filed, nothing counted).
    pub foreign_bounces: u32,
}

impl RfqMailbox {
    /// One pass: every message above the last UID taken.
    pub async fn run_once(&self) -> anyhow::Result<Read> {
        let mut inbox = imap::open(&self.cfg, &self.password, &self.base_dir, Duration::from_secs(30)).await?;
        let outcome = self.drain(&mut inbox).await;
        inbox.close().await;
        outcome
    }

    async fn drain(&self, inbox: &mut imap::Inbox) -> anyhow::Result<Read> {
        let mut read = Read::default();
        let mut last = imap::last_uid(&self.pool, &inbox.key, inbox.uidvalidity).await?;
        loop {
            let batch = inbox.after(last, BATCH).await?;
            if batch.is_empty() {
                return Ok(read);
            }
            for m in batch {
                read.messages += 1;
                if let Some(b) = dsn::parse(&m.raw) {
                    self.bounce(&b, &mut read).await?;
                } else {
                    let origin = rfq::MailOrigin { mailbox: inbox.key.clone(), uidvalidity: inbox.uidvalidity, uid: m.uid };
                    match rfq::store_mailed(&self.pool, &self.lookup, &m.raw, &origin).await? {
                        Some(_) => read.rfqs += 1,
                        None => read.already_stored += 1,
                    }
                }
                inbox.done(m.uid).await?;
                imap::taken(&self.pool, &inbox.key, inbox.uidvalidity, m.uid).await?;
                last = last.max(m.uid);
            }
        }
    }

    async fn bounce(&self, b: &dsn::Bounce, read: &mut Read) -> anyhow::Result<()> {
        let ours = match &b.message_id {
            Some(id) => crate::mail::outbox::bounced(&self.pool, id, &format!("{} {}", b.status, b.diagnostic)).await?,
            None => None,
        };
        let Some(recipients) = ours else {
            read.foreign_bounces += 1;
            return Ok(());
        };
        read.bounces += 1;
        let domain = b.recipient.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
        reputation::record_bounce(&self.pool, &domain).await?;
        events::record(
            &self.pool,
            Event::info("mail.bounced", format!("mail to {recipients} bounced: {} {}", b.status, b.diagnostic))
                .severity(Severity::Warning)
                .audience(events::Audience::BackOffice),
        )
        .await?;
        Ok(())
    }
}

/// While the appliance runs: waits on the mailbox with IMAP IDLE and runs
/// the job (under its lock) as soon as the server says mail arrived. Returns
/// when the mailbox is not configured, or the server has no IDLE (the
/// schedule then polls). Reconnects after a failure, waiting a minute.
pub async fn watch(state: AppState, job: Arc<dyn CronJob>) {
    let Ok(Some(mb)) = make(&state) else { return };
    if !mb.cfg.idle {
        return;
    }
    loop {
        let inbox = match imap::open(&mb.cfg, &mb.password, &mb.base_dir, Duration::from_secs(30)).await {
            Ok(i) if i.idle => i,
            Ok(i) => {
                tracing::info!("the mailbox server has no IDLE; RFQ mail is read on the schedule");
                i.close().await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "mailbox watch could not connect; trying again in a minute");
                tokio::time::sleep(Duration::from_secs(60)).await;
                continue;
            }
        };
        // Servers drop an IDLE after 30 minutes; renew before.
        match inbox.idle(Duration::from_secs(25 * 60)).await {
            Ok((inbox, changed)) => {
                inbox.close().await;
                if changed {
                    // A run already under way (the schedule's, or a replica's)
                    // may have read the mailbox before this message came: when
                    // the lock is held, run again once it is free (up to 5 min).
                    for _ in 0..150 {
                        match super::run_guarded(&state, job.as_ref()).await {
                            Ok(None) => tokio::time::sleep(Duration::from_secs(2)).await,
                            _ => break,
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "mailbox IDLE ended; reconnecting in a minute");
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
        }
    }
}
