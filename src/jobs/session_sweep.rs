//! Deletes expired sessions. Schedule: every 15 minutes.

use sqlx::MySqlPool;

/// Deletes sessions past their expiry; returns how many.
pub async fn run_once(pool: &MySqlPool) -> anyhow::Result<u64> {
    Ok(crate::operators::sessions::sweep(pool).await?)
}
