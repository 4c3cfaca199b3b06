//! `mail_outbox`: every message is a row (its exact bytes) before the SMTP
//! server sees it. A message the server could not take now is retried with
//! backoff; one it refused for good, or still not taken after
//! [`MAX_ATTEMPTS`], is marked failed and told to the event log. Nothing is
//! dropped silently, and what was sent is what the row keeps.

use chrono::{NaiveDateTime, TimeDelta, Utc};
use sqlx::MySqlPool;

use super::{Composed, Draft, MailError, Mailer};
use crate::events::{self, Event, Severity};

/// Attempts before a message is given up (about 11 hours of backoff).
pub const MAX_ATTEMPTS: u32 = 12;

/// Queues a composed draft; returns its row id.
pub async fn queue(pool: &MySqlPool, draft: &Draft, composed: &Composed) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        r#"INSERT INTO mail_outbox (purpose, subject_ref, recipients, subject, message, message_id)
           VALUES (?, ?, ?, ?, ?, ?)"#,
    )
    .bind(draft.purpose)
    .bind(&draft.subject_ref)
    .bind(draft.to.join(", ").chars().take(1024).collect::<String>())
    .bind(draft.subject.chars().take(255).collect::<String>())
    .bind(&composed.bytes)
    .bind(&composed.message_id)
    .execute(pool)
    .await?
    .last_insert_id())
}

/// Composes, queues and tries to send at once; returns the row id (the
/// message stays queued for the sender job when the server cannot take it now).
pub async fn send(pool: &MySqlPool, mailer: &Mailer, draft: &Draft) -> Result<u64, OutboxError> {
    let composed = mailer.compose(draft)?;
    let id = queue(pool, draft, &composed).await?;
    attempt(pool, mailer, id).await?;
    Ok(id)
}

/// Why a message could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What a pass of the sender did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pass {
    pub sent: u32,
    pub retrying: u32,
    pub failed: u32,
}

#[derive(sqlx::FromRow)]
struct DueMail {
    id: u64,
    recipients: String,
    message: Vec<u8>,
    attempts: u32,
    subject: String,
}

/// The state a message ended an attempt in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Retrying,
    Failed,
}

/// Sends row `id` now (if it is pending).
pub async fn attempt(pool: &MySqlPool, mailer: &Mailer, id: u64) -> Result<Option<Outcome>, sqlx::Error> {
    let row = sqlx::query_as::<_, DueMail>(
        "SELECT id, recipients, message, attempts, subject FROM mail_outbox WHERE id = ? AND status = 'pending'",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(r) => Ok(Some(deliver(pool, mailer, r).await?)),
        None => Ok(None),
    }
}

/// Sends every due message, at most `limit`.
pub async fn send_due(pool: &MySqlPool, mailer: &Mailer, limit: u32) -> Result<Pass, sqlx::Error> {
    let due = sqlx::query_as::<_, DueMail>(
        r#"SELECT id, recipients, message, attempts, subject FROM mail_outbox
           WHERE status = 'pending' AND next_attempt_at <= UTC_TIMESTAMP(6) ORDER BY id LIMIT ?"#,
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut pass = Pass::default();
    for r in due {
        match deliver(pool, mailer, r).await? {
            Outcome::Sent => pass.sent += 1,
            Outcome::Retrying => pass.retrying += 1,
            Outcome::Failed => pass.failed += 1,
        }
    }
    Ok(pass)
}

/// The wait before attempt `n + 1`: a minute, doubling, at most an hour.
pub fn backoff(attempts: u32) -> TimeDelta {
    TimeDelta::minutes((1i64 << attempts.min(6)).min(60))
}

async fn deliver(pool: &MySqlPool, mailer: &Mailer, r: DueMail) -> Result<Outcome, sqlx::Error> {
    let to: Vec<String> = r.recipients.split(", ").map(str::to_owned).collect();
    match mailer.send_raw(&to, &r.message).await {
        Ok(()) => {
            sqlx::query(
                "UPDATE mail_outbox SET status = 'sent', sent_at = UTC_TIMESTAMP(6), attempts = attempts + 1, last_error = NULL WHERE id = ?",
            )
            .bind(r.id)
            .execute(pool)
            .await?;
            Ok(Outcome::Sent)
        }
        Err(e) => {
            let attempts = r.attempts + 1;
            let give_up = matches!(e, MailError::Refused(_) | MailError::Compose(_)) || attempts >= MAX_ATTEMPTS;
            let error: String = e.to_string().chars().take(512).collect();
            let next = Utc::now().naive_utc() + backoff(attempts);
            sqlx::query("UPDATE mail_outbox SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?")
                .bind(if give_up { "failed" } else { "pending" })
                .bind(attempts)
                .bind(&error)
                .bind(next)
                .bind(r.id)
                .execute(pool)
                .await?;
            if give_up {
                events::record(
                    pool,
                    Event::info("mail.failed", format!("mail “{}” to {} was not sent: {error}", r.subject, r.recipients))
                        .severity(Severity::Error)
                        .audience(events::Audience::BackOffice)
                        .about("mail", r.id),
                )
                .await?;
                Ok(Outcome::Failed)
            } else {
                tracing::warn!(mail = r.id, attempts, error = %error, "mail not sent yet; will retry");
                Ok(Outcome::Retrying)
            }
        }
    }
}

/// A queued or sent message, as a page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Record {
    pub id: u64,
    pub purpose: String,
    pub recipients: String,
    pub subject: String,
    pub message_id: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub bounce_reason: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Every message about `subject_ref`, oldest first.
pub async fn for_subject(pool: &MySqlPool, subject_ref: &str) -> Result<Vec<Record>, sqlx::Error> {
    sqlx::query_as::<_, Record>(
        r#"SELECT id, purpose, recipients, subject, message_id, CAST(status AS CHAR) AS status, attempts, last_error, sent_at, bounce_reason, created_at
           FROM mail_outbox WHERE subject_ref = ? ORDER BY id"#,
    )
    .bind(subject_ref)
    .fetch_all(pool)
    .await
}

/// The exact bytes of message `id`.
pub async fn message(pool: &MySqlPool, id: u64) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT message FROM mail_outbox WHERE id = ?").bind(id).fetch_optional(pool).await
}

/// Marks the message with `message_id` bounced; returns its recipients when it was ours.
pub async fn bounced(pool: &MySqlPool, message_id: &str, reason: &str) -> Result<Option<String>, sqlx::Error> {
    let id = if message_id.starts_with('<') { message_id.to_owned() } else { format!("<{message_id}>") };
    let done = sqlx::query(
        "UPDATE mail_outbox SET status = 'bounced', bounced_at = UTC_TIMESTAMP(6), bounce_reason = ? WHERE message_id = ? AND status <> 'bounced'",
    )
    .bind(reason.chars().take(512).collect::<String>())
    .bind(&id)
    .execute(pool)
    .await?
    .rows_affected();
    if done == 0 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT recipients FROM mail_outbox WHERE message_id = ?").bind(&id).fetch_optional(pool).await
}

/// Messages waiting and given up: (pending, failed), for the dashboard.
pub async fn counts(pool: &MySqlPool) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(status = 'pending'), 0) AS SIGNED), CAST(COALESCE(SUM(status = 'failed'), 0) AS SIGNED) FROM mail_outbox WHERE status IN ('pending', 'failed')",
    )
    .fetch_one(pool)
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let m: Vec<i64> = (1..=8).map(|a| super::backoff(a).num_minutes()).collect();
        assert_eq!(m, [2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
