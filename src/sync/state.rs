//! The sync's own state, the table `sync_state` (name → value): the order
//! watermark, when the whole catalog was last reconciled and when the open
//! orders were last read again.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::MySqlPool;

/// The newest `date_modified_gmt` mirrored without error (RFC 3339).
pub const WATERMARK: &str = "woo.orders.modified_after";
/// When the whole catalog's store stock was last read (RFC 3339).
pub const RECONCILED: &str = "woo.stock.reconciled_at";
/// When the open orders were last read again by id (RFC 3339).
pub const OPEN_CHECKED: &str = "woo.orders.open_checked_at";

async fn get(pool: &MySqlPool, name: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM sync_state WHERE name = ?").bind(name).fetch_optional(pool).await?;
    Ok(v.and_then(|v| DateTime::parse_from_rfc3339(&v).ok()).map(|d| d.with_timezone(&Utc)))
}

/// The order watermark, none before the first cycle.
pub async fn watermark(pool: &MySqlPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    get(pool, WATERMARK).await
}

/// Whether the whole catalog is due to be read (never read, or `every` has passed).
pub async fn reconcile_due(pool: &MySqlPool, every: TimeDelta) -> Result<bool, sqlx::Error> {
    Ok(get(pool, RECONCILED).await?.is_none_or(|l| Utc::now() - l >= every))
}

/// Whether `name` (a time) is older than `every` at `now`, or was never set.
pub async fn due(pool: &MySqlPool, name: &str, every: TimeDelta, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    Ok(get(pool, name).await?.is_none_or(|l| now - l >= every))
}

/// Sets one value.
pub async fn set(pool: &MySqlPool, name: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sync_state (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)")
        .bind(name)
        .bind(value)
        .execute(pool)
        .await?;
    Ok(())
}
