//! The tenant's mailbox (`mailbox:`): each new message is stored as an RFQ
//! exactly as `POST /rfq/email` stores one (raw bytes first), or, when it is
//! a bounce of mail we sent, marks that mail bounced and counts it against
//! the recipient's domain; then it is filed (moved to `processed_folder`, or
//! flagged `\Seen`). The job `rfq_mailbox` runs a pass every minute.

use std::{sync::Arc, time::Duration};

use sqlx::MySqlPool;

use crate::{
    config::{Mailbox, Secret},
    events::{self, Event, Severity},
    inventory::lookup::CodeLookup,
    mail::{dsn, imap},
    quotes::{reputation, rfq},
};

/// Messages read per round trip.
const BATCH: usize = 50;

/// The mailbox RFQs arrive in.
pub struct RfqMailbox {
    pub pool: MySqlPool,
    pub lookup: Arc<CodeLookup>,
    pub cfg: Mailbox,
    pub password: Secret,
    /// Where relative paths of the tenant file (a CA file) start.
    pub base_dir: std::path::PathBuf,
}

impl RfqMailbox {
    /// Whether the server should be watched with IMAP IDLE (`mailbox.idle`).
    pub fn idle(&self) -> bool {
        self.cfg.idle
    }

    /// Waits until the server says mail arrived (true) or `renew` passes (false).
    /// `Ok(None)`: the server has no IDLE.
    pub async fn wait_for_mail(&self, renew: Duration) -> anyhow::Result<Option<bool>> {
        let inbox = imap::open(&self.cfg, &self.password, &self.base_dir, Duration::from_secs(30)).await?;
        if !inbox.idle {
            inbox.close().await;
            return Ok(None);
        }
        let (inbox, changed) = inbox.idle(renew).await?;
        inbox.close().await;
        Ok(Some(changed))
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
