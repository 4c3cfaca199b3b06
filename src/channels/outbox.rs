//! The durable outbox of stock pushes. A push is a row before it is a
//! request, so a crash or an outage loses nothing: the next run resumes it.
//! One pending row per channel and SKU: a newer quantity replaces the older
//! one (bursts coalesce into one revision, which eBay's daily revision limit
//! needs). Confirmed items update `channel_stock`; items the channel refuses
//! are marked failed with the channel's error code and shown, not retried;
//! a channel that is down keeps its rows pending with a growing backoff.

use chrono::{NaiveDateTime, TimeDelta, Utc};
use serde_json::json;
use std::collections::HashMap;

use sqlx::MySqlPool;

use super::{ChannelError, ItemResult, StockChannel, StockUpdate, retry::RetryPolicy};
use crate::{
    db::lock::{CheckError, LockCheck},
    events::{self, Event, Severity},
};

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Drained {
    pub confirmed: u32,
    pub rejected: u32,
    /// Items left pending for a later run because the channel failed.
    pub deferred: u32,
    /// Rows whose payload did not decode: failed, never pushed as a quantity.
    pub bad_rows: u32,
    /// Products the channel confirmed in this drain.
    #[serde(skip)]
    pub confirmed_ids: Vec<u64>,
}

/// A stored payload, decoded strictly: a row that lacks a field is an error
/// on that row, never a quantity of 0.
#[derive(serde::Deserialize)]
struct Payload {
    product_id: u64,
    sku: String,
    external_id: Option<u64>,
    parent_id: Option<u64>,
    quantity: i64,
}

/// Queues (or replaces) the pending quantity of one product for a channel.
pub async fn enqueue(pool: &MySqlPool, channel: &str, u: &StockUpdate, not_before: Option<NaiveDateTime>) -> Result<(), sqlx::Error> {
    enqueue_many(pool, channel, &[(u.clone(), not_before)]).await
}

/// Rows one enqueue statement carries at most (a few hundred bytes each).
const ENQUEUE_CHUNK: usize = 1000;

/// Queues (or replaces) the pending quantity of each product for a channel,
/// a statement per thousand: a cycle that changes 800 SKUs costs one round
/// trip here, not 800.
pub async fn enqueue_many(pool: &MySqlPool, channel: &str, updates: &[(StockUpdate, Option<NaiveDateTime>)]) -> Result<(), sqlx::Error> {
    let now = Utc::now().naive_utc();
    for chunk in updates.chunks(ENQUEUE_CHUNK) {
        let rows: Vec<(&str, u64, String, String)> = chunk
            .iter()
            .map(|(u, not_before)| {
                let payload = json!({ "product_id": u.product_id, "sku": u.sku, "external_id": u.external_id, "parent_id": u.parent_id, "quantity": u.quantity });
                (u.sku.as_str(), u.product_id, payload.to_string(), not_before.unwrap_or(now).format("%Y-%m-%d %H:%M:%S%.6f").to_string())
            })
            .collect();
        sqlx::query(
            r#"INSERT INTO channel_outbox (channel, kind, subject, product_id, payload, next_attempt_at)
               SELECT ?, 'stock', j.j_subject, j.j_product, j.j_payload, j.j_due
               FROM JSON_TABLE(?, '$[*]' COLUMNS (
                   j_subject VARCHAR(100) COLLATE utf8mb4_unicode_ci PATH '$[0]',
                   j_product BIGINT UNSIGNED PATH '$[1]',
                   j_payload VARCHAR(2000) COLLATE utf8mb4_unicode_ci PATH '$[2]',
                   j_due DATETIME(6) PATH '$[3]')) AS j
               ON DUPLICATE KEY UPDATE
                   -- A drop in quantity is pushed as early as either request asks
                   -- (overselling is worse than a late increase). Assignments run
                   -- left to right, so compare before replacing the payload.
                   next_attempt_at = IF(CAST(JSON_VALUE(VALUES(payload), '$.quantity') AS SIGNED) < CAST(JSON_VALUE(payload, '$.quantity') AS SIGNED),
                                        LEAST(next_attempt_at, VALUES(next_attempt_at)), next_attempt_at),
                   payload = VALUES(payload)"#,
        )
        .bind(channel)
        .bind(crate::db::json_list(&rows))
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Pushes every due pending row of `channel`, batch by batch.
pub async fn drain(pool: &MySqlPool, channel: &dyn StockChannel, retry: RetryPolicy) -> Result<Drained, sqlx::Error> {
    drain_guarded(pool, channel, retry, None).await.map_err(|e| match e {
        DrainError::Db(e) => e,
        DrainError::LockLost(name) => sqlx::Error::Protocol(format!("lock {name} lost")),
    })
}

/// Why a guarded drain stopped.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    #[error("the cycle lost its advisory lock `{0}` before a push; it stopped without pushing")]
    LockLost(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// [`drain`], checking before every batch that `guard`'s advisory lock is still held.
pub async fn drain_guarded(
    pool: &MySqlPool,
    channel: &dyn StockChannel,
    retry: RetryPolicy,
    guard: Option<&LockCheck>,
) -> Result<Drained, DrainError> {
    let mut out = Drained::default();
    loop {
        if let Some(g) = guard {
            let mut conn = pool.acquire().await?;
            match g.check(&mut conn).await {
                Ok(()) => {}
                Err(CheckError::Lost(name)) => return Err(DrainError::LockLost(name)),
                Err(CheckError::Db(e)) => return Err(e.into()),
            }
        }
        let rows = sqlx::query_as::<_, (u64, u32, String)>(
            r#"SELECT id, attempts, payload FROM channel_outbox
               WHERE channel = ? AND status = 'pending' AND next_attempt_at <= UTC_TIMESTAMP(6)
               ORDER BY id LIMIT ?"#,
        )
        .bind(channel.name())
        .bind(channel.batch_limit() as u64)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            return Ok(out);
        }
        let mut batch = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for (id, attempts, payload) in rows {
            let v: Payload = match serde_json::from_str(&payload) {
                Ok(v) => v,
                Err(e) => {
                    let msg = format!("the queued payload does not decode ({e}); nothing was pushed for it");
                    sqlx::query(
                        "UPDATE channel_outbox SET status = 'failed', last_error_code = 'bad_payload', last_error = ? WHERE id = ?",
                    )
                    .bind(&msg)
                    .bind(id)
                    .execute(pool)
                    .await?;
                    events::record(
                        pool,
                        Event::info("channel.bad_payload", format!("{} outbox row {id}: {msg}", channel.name())).severity(Severity::Error),
                    )
                    .await?;
                    out.bad_rows += 1;
                    continue;
                }
            };
            ids.push((id, attempts, v.product_id));
            batch.push(StockUpdate {
                product_id: v.product_id,
                sku: v.sku,
                external_id: v.external_id,
                parent_id: v.parent_id,
                quantity: v.quantity,
            });
        }
        if batch.is_empty() {
            continue;
        }
        match channel.push(&batch).await {
            Ok(results) => {
                let mut confirmed: Vec<(u64, u64, i64)> = Vec::new();
                for (id, _, product_id) in &ids {
                    let Some(result) = results.iter().find(|r| matches!(r, ItemResult::Confirmed { product_id: p, .. } | ItemResult::Rejected { product_id: p, .. } if p == product_id)) else {
                        continue;
                    };
                    match result {
                        ItemResult::Confirmed { quantity, .. } => confirmed.push((*id, *product_id, *quantity)),
                        ItemResult::Rejected { code, message, .. } => {
                            sqlx::query("UPDATE channel_outbox SET status = 'failed', attempts = attempts + 1, last_error_code = ?, last_error = ? WHERE id = ?")
                                .bind(code)
                                .bind(message.chars().take(512).collect::<String>())
                                .bind(id)
                                .execute(pool)
                                .await?;
                            let sku = batch.iter().find(|u| u.product_id == *product_id).map(|u| u.sku.clone()).unwrap_or_default();
                            events::record(
                                pool,
                                Event::info(
                                    "channel.item_rejected",
                                    format!("{} refused stock for {sku}: {code}: {message}", channel.name()),
                                )
                                .severity(Severity::Warning)
                                .about("product", product_id),
                            )
                            .await?;
                            out.rejected += 1;
                        }
                    }
                }
                // The batch's confirmations in one transaction: the rows done, what the channel now shows.
                if !confirmed.is_empty() {
                    let done: Vec<u64> = confirmed.iter().map(|(id, _, _)| *id).collect();
                    let shown: Vec<(u64, i64)> = confirmed.iter().map(|(_, p, q)| (*p, *q)).collect();
                    let mut tx = pool.begin().await?;
                    sqlx::query(
                        r#"UPDATE channel_outbox o JOIN JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS j ON j.id = o.id
                           SET o.status = 'done', o.attempts = o.attempts + 1, o.last_error = NULL, o.last_error_code = NULL"#,
                    )
                    .bind(crate::db::json_list(&done))
                    .execute(&mut *tx)
                    .await?;
                    record_shown(&mut *tx, channel.name(), &shown).await?;
                    tx.commit().await?;
                    out.confirmed += confirmed.len() as u32;
                    out.confirmed_ids.extend(shown.iter().map(|(p, _)| *p));
                }
            }
            Err(e) => {
                // The whole call failed after its retries: keep every row, later.
                let attempts = ids.iter().map(|(_, a, _)| *a).max().unwrap_or(0) + 1;
                let wait = retry.backoff(attempts.min(10)).max(std::time::Duration::from_secs(5)) * if e.is_transient() { 1 } else { 4 };
                let next = Utc::now().naive_utc() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::seconds(60));
                for (id, _, _) in &ids {
                    sqlx::query("UPDATE channel_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error_code = ?, last_error = ? WHERE id = ?")
                        .bind(next)
                        .bind(e.code())
                        .bind(e.to_string().chars().take(512).collect::<String>())
                        .bind(id)
                        .execute(pool)
                        .await?;
                }
                let severity = if matches!(e, ChannelError::Permanent { .. }) { Severity::Error } else { Severity::Warning };
                let when = next.format("%H:%M:%S UTC");
                events::record(
                    pool,
                    Event::info("channel.push_deferred", format!("{} items kept; next attempt at {when}: {e}", ids.len()))
                        .severity(severity),
                )
                .await?;
                out.deferred += ids.len() as u32;
                return Ok(out);
            }
        }
    }
}

/// Pending and failed pushes, for the dashboard.
pub async fn problems(pool: &MySqlPool) -> Result<Vec<(String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT channel, subject, status, CONCAT(COALESCE(last_error_code, ''), ': ', COALESCE(last_error, ''))
           FROM channel_outbox WHERE status = 'failed' OR (status = 'pending' AND attempts > 0) ORDER BY updated_at DESC LIMIT 100"#,
    )
    .fetch_all(pool)
    .await
}

/// Pushes still waiting for a retry: (SKU, next attempt, last error).
pub async fn waiting(pool: &MySqlPool, channel: &str) -> Result<Vec<(String, NaiveDateTime, String)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT subject, next_attempt_at, CONCAT(COALESCE(last_error_code, ''), ': ', COALESCE(last_error, ''))
           FROM channel_outbox WHERE channel = ? AND status = 'pending' AND attempts > 0 ORDER BY next_attempt_at, id LIMIT 50"#,
    )
    .bind(channel)
    .fetch_all(pool)
    .await
}

/// What `channel` last confirmed (or showed) for each of `products`.
pub async fn confirmed(pool: &MySqlPool, channel: &str, products: &[u64]) -> Result<HashMap<u64, i64>, sqlx::Error> {
    if products.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query_as::<_, (u64, i32)>(
        r#"SELECT cs.product_id, cs.confirmed_qty FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids
           JOIN channel_stock cs ON cs.channel = ? AND cs.product_id = ids.id"#,
    )
    .bind(crate::db::json_list(products))
    .bind(channel)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(p, q)| (p, i64::from(q))).collect())
}

/// Records what `channel` shows now for each product (read back from it), in one statement.
pub async fn record_shown<'e>(db: impl sqlx::MySqlExecutor<'e>, channel: &str, shown: &[(u64, i64)]) -> Result<(), sqlx::Error> {
    if shown.is_empty() {
        return Ok(());
    }
    let clamped: Vec<(u64, i32)> =
        shown.iter().map(|(p, q)| (*p, i32::try_from(*q).unwrap_or(if *q < 0 { i32::MIN } else { i32::MAX }))).collect();
    sqlx::query(
        r#"INSERT INTO channel_stock (channel, product_id, confirmed_qty, confirmed_at)
           SELECT ?, j.product_id, j.qty, UTC_TIMESTAMP(6)
           FROM JSON_TABLE(?, '$[*]' COLUMNS (product_id BIGINT UNSIGNED PATH '$[0]', qty INT PATH '$[1]')) AS j
           ON DUPLICATE KEY UPDATE confirmed_qty = VALUES(confirmed_qty), confirmed_at = VALUES(confirmed_at)"#,
    )
    .bind(channel)
    .bind(crate::db::json_list(&clamped))
    .execute(db)
    .await?;
    Ok(())
}

/// The outbox per channel, for the dashboard and `/metrics`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Depth {
    pub channel: String,
    /// Pushes waiting (due or not).
    pub pending: i64,
    /// Of those, ones that already failed at least once.
    pub retrying: i64,
    /// Pushes the channel refused for good.
    pub failed: i64,
    /// Since when the oldest pending push waits.
    pub oldest_pending: Option<NaiveDateTime>,
}

/// [`Depth`] of every channel that has rows.
pub async fn depth(pool: &MySqlPool) -> Result<Vec<Depth>, sqlx::Error> {
    sqlx::query_as::<_, Depth>(
        r#"SELECT channel,
                  CAST(COALESCE(SUM(status = 'pending'), 0) AS SIGNED) AS pending,
                  CAST(COALESCE(SUM(status = 'pending' AND attempts > 0), 0) AS SIGNED) AS retrying,
                  CAST(COALESCE(SUM(status = 'failed'), 0) AS SIGNED) AS failed,
                  MIN(IF(status = 'pending', created_at, NULL)) AS oldest_pending
           FROM channel_outbox WHERE status IN ('pending', 'failed') GROUP BY channel ORDER BY channel"#,
    )
    .fetch_all(pool)
    .await
}
