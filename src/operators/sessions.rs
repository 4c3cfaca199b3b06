//! Sign-in sessions: a random token in the cookie, only its SHA-256 in the
//! database (a leaked table signs nobody in), a CSRF token per session and a
//! sliding expiry. The web layer owns the cookie; this owns the rows.

use crate::ids::OperatorId;
use chrono::{TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::MySqlPool;

use super::{Operator, OperatorRow};
use crate::token::random_token;

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Starts a session; returns the cookie token.
pub async fn create(
    pool: &MySqlPool,
    operator_id: OperatorId,
    hours: u32,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<String, sqlx::Error> {
    let token = random_token();
    let expires = Utc::now().naive_utc() + TimeDelta::hours(i64::from(hours));
    sqlx::query("INSERT INTO sessions (token_hash, operator_id, csrf_token, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(token_hash(&token))
        .bind(operator_id)
        .bind(random_token())
        .bind(expires)
        .bind(ip.map(|s| s.chars().take(45).collect::<String>()))
        .bind(user_agent.map(|s| s.chars().take(255).collect::<String>()))
        .execute(pool)
        .await?;
    Ok(token)
}

/// Ends every session of an operator; returns how many.
pub async fn destroy_all(pool: &MySqlPool, operator_id: OperatorId) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE operator_id = ?").bind(operator_id).execute(pool).await?.rows_affected())
}

/// Ends a session.
pub async fn destroy(pool: &MySqlPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(token_hash(token)).execute(pool).await?;
    Ok(())
}

/// Deletes sessions past their expiry; returns how many.
pub async fn sweep(pool: &MySqlPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= UTC_TIMESTAMP(6)").execute(pool).await?.rows_affected())
}

#[derive(sqlx::FromRow)]
struct Live {
    id: OperatorId,
    username: String,
    display_name: String,
    role: String,
    csrf_token: String,
    stale: i64,
}

/// The operator signed in with `token` and the session's CSRF token; extends
/// the session when it is in use (sliding expiry, written at most once a minute).
pub async fn lookup(pool: &MySqlPool, token: &str, hours: u32) -> Result<Option<(Operator, String)>, sqlx::Error> {
    let hash = token_hash(token);
    let row = sqlx::query_as::<_, Live>(
        r#"SELECT o.id, o.username, o.display_name, o.role, s.csrf_token,
                  s.last_seen_at < UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE AS stale
           FROM sessions s JOIN operators o ON o.id = s.operator_id
           WHERE s.token_hash = ? AND s.expires_at > UTC_TIMESTAMP(6) AND NOT o.disabled"#,
    )
    .bind(&hash)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.stale == 1 {
        let expires = Utc::now().naive_utc() + TimeDelta::hours(i64::from(hours));
        sqlx::query("UPDATE sessions SET last_seen_at = UTC_TIMESTAMP(6), expires_at = ? WHERE token_hash = ?")
            .bind(expires)
            .bind(&hash)
            .execute(pool)
            .await?;
    }
    let operator = Operator::try_from(OperatorRow { id: row.id, username: row.username, display_name: row.display_name, role: row.role })?;
    Ok(Some((operator, row.csrf_token)))
}
