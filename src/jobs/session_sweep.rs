//! Deletes expired sessions. Schedule: every 15 minutes.

use sqlx::MySqlPool;

/// Deletes sessions past their expiry; returns how many.
pub async fn run_once(pool: &MySqlPool) -> anyhow::Result<u64> {
    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= UTC_TIMESTAMP(6)").execute(pool).await?;
    Ok(r.rows_affected())
}
