//! `backup_repositories`: what each repository last did (owner of the table).

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

/// One repository's row.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Repository {
    pub name: String,
    pub location: String,
    pub last_ok_at: Option<NaiveDateTime>,
    pub last_snapshot: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub size_bytes: Option<u64>,
    pub snapshots: Option<u32>,
    pub checked_at: Option<NaiveDateTime>,
    pub check_error: Option<String>,
}

fn clip(s: &str) -> String {
    s.chars().take(1000).collect()
}

/// A snapshot landed (or was copied): `snapshots` in all, `size` bytes.
pub async fn succeeded(
    pool: &MySqlPool,
    name: &str,
    location: &str,
    snapshot: &str,
    snapshots: u32,
    size: Option<u64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO backup_repositories (name, location, last_ok_at, last_snapshot, last_error, consecutive_failures, size_bytes, snapshots)
           VALUES (?, ?, UTC_TIMESTAMP(6), ?, NULL, 0, ?, ?)
           ON DUPLICATE KEY UPDATE location = VALUES(location), last_ok_at = VALUES(last_ok_at), last_snapshot = VALUES(last_snapshot),
             last_error = NULL, consecutive_failures = 0, size_bytes = COALESCE(VALUES(size_bytes), size_bytes), snapshots = VALUES(snapshots)"#,
    )
    .bind(name)
    .bind(location)
    .bind(snapshot)
    .bind(size)
    .bind(snapshots)
    .execute(pool)
    .await
    .map(drop)
}

/// A run failed for this repository.
pub async fn failed(pool: &MySqlPool, name: &str, location: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO backup_repositories (name, location, last_error, consecutive_failures) VALUES (?, ?, ?, 1)
           ON DUPLICATE KEY UPDATE location = VALUES(location), last_error = VALUES(last_error), consecutive_failures = consecutive_failures + 1"#,
    )
    .bind(name)
    .bind(location)
    .bind(clip(error))
    .execute(pool)
    .await
    .map(drop)
}

/// A `restic check` finished: `error` None when it found nothing wrong.
pub async fn checked(pool: &MySqlPool, name: &str, location: &str, error: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO backup_repositories (name, location, checked_at, check_error) VALUES (?, ?, UTC_TIMESTAMP(6), ?)
           ON DUPLICATE KEY UPDATE location = VALUES(location), checked_at = VALUES(checked_at), check_error = VALUES(check_error)"#,
    )
    .bind(name)
    .bind(location)
    .bind(error.map(clip))
    .execute(pool)
    .await
    .map(drop)
}

/// Every repository this tenant has written to.
pub async fn repositories(pool: &MySqlPool) -> Result<Vec<Repository>, sqlx::Error> {
    sqlx::query_as::<_, Repository>(
        r#"SELECT CAST(name AS CHAR) AS name, location, last_ok_at, last_snapshot, last_error, consecutive_failures, size_bytes,
                  snapshots, checked_at, check_error
           FROM backup_repositories ORDER BY name"#,
    )
    .fetch_all(pool)
    .await
}
