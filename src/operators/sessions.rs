//! Sign-in sessions: a random token in the cookie, only its SHA-256 in the
//! database (a leaked table signs nobody in), a CSRF token per session and a
//! sliding expiry. The web layer owns the cookie; this owns the rows.
//!
//! [`SessionCache`] keeps sessions this process verified for a few seconds,
//! so a page costs no round trip for its session. Revocation still reaches
//! every replica: an entry is trusted only for the cache's TTL and then
//! checked against the table again, so a sign-out, a password change or
//! "sign out everywhere" made anywhere (another replica, the CLI) ends the
//! session here within the TTL; made through this process, at once.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use crate::ids::OperatorId;
use chrono::{TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::{MySqlConnection, MySqlPool};

use crate::db::reads::Reads;

use super::{Operator, OperatorRow};
use crate::token::random_token;

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Sessions one operator holds at once; signing in past it ends the oldest.
pub const MAX_PER_OPERATOR: u32 = 20;

/// Starts a session; returns the cookie token. An operator holds at most
/// [`MAX_PER_OPERATOR`] sessions: the oldest beyond it are ended here.
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
        .bind(&token_hash(&token)[..])
        .bind(operator_id)
        .bind(random_token())
        .bind(expires)
        .bind(ip.map(|s| s.chars().take(45).collect::<String>()))
        .bind(user_agent.map(|s| s.chars().take(255).collect::<String>()))
        .execute(pool)
        .await?;
    let ended = sqlx::query(
        r#"DELETE FROM sessions WHERE operator_id = ? AND token_hash NOT IN
           (SELECT token_hash FROM (SELECT token_hash FROM sessions WHERE operator_id = ? ORDER BY created_at DESC, token_hash LIMIT ?) AS newest)"#,
    )
    .bind(operator_id)
    .bind(operator_id)
    .bind(MAX_PER_OPERATOR)
    .execute(pool)
    .await?
    .rows_affected();
    if ended > 0 {
        tracing::info!(operator = %operator_id, ended, "signed in past the session cap: the oldest sessions were ended");
    }
    Ok(token)
}

/// Ends every session of an operator; returns how many.
pub async fn destroy_all(pool: &MySqlPool, operator_id: OperatorId) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE operator_id = ?").bind(operator_id).execute(pool).await?.rows_affected())
}

/// Ends a session.
pub async fn destroy(pool: &MySqlPool, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?").bind(&token_hash(token)[..]).execute(pool).await?;
    Ok(())
}

/// Deletes sessions past their expiry; returns how many.
pub async fn sweep(pool: &MySqlPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= UTC_TIMESTAMP(6)").execute(pool).await?.rows_affected())
}

/// The operator signed in with `token` and the session's CSRF token; extends
/// the session when it is in use (sliding expiry, written at most once a minute).
pub async fn lookup(pool: &MySqlPool, token: &str, hours: u32) -> Result<Option<(Operator, String)>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    lookup_hash(&mut conn, token_hash(token), hours).await
}

async fn lookup_hash(conn: &mut MySqlConnection, hash: [u8; 32], hours: u32) -> Result<Option<(Operator, String)>, sqlx::Error> {
    let row = sqlx::query_as::<_, (OperatorId, String, String, String, String, i64)>(
        r#"SELECT o.id, o.username, o.display_name, o.role, s.csrf_token,
                  s.last_seen_at < UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE AS stale
           FROM sessions s JOIN operators o ON o.id = s.operator_id
           WHERE s.token_hash = ? AND s.expires_at > UTC_TIMESTAMP(6) AND NOT o.disabled"#,
    )
    .bind(&hash[..])
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, username, display_name, role, csrf, stale)) = row else { return Ok(None) };
    if stale == 1 {
        let expires = Utc::now().naive_utc() + TimeDelta::hours(i64::from(hours));
        sqlx::query("UPDATE sessions SET last_seen_at = UTC_TIMESTAMP(6), expires_at = ? WHERE token_hash = ?")
            .bind(expires)
            .bind(&hash[..])
            .execute(&mut *conn)
            .await?;
    }
    let operator = Operator::try_from(OperatorRow { id, username, display_name, role })?;
    Ok(Some((operator, csrf)))
}

/// Sessions verified against the table within the last `ttl`, by token hash.
pub struct SessionCache {
    ttl: Duration,
    entries: RwLock<HashMap<[u8; 32], Verified>>,
}

#[derive(Clone)]
struct Verified {
    at: Instant,
    operator: Operator,
    csrf: String,
}

/// Most sessions the cache holds; past this, expired entries are dropped
/// (and, if all are fresh, the lot: the next requests re-check the table).
const CACHE_CAPACITY: usize = 10_000;

impl SessionCache {
    /// A cache trusting a check for `ttl`; zero checks the table every time.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: RwLock::new(HashMap::new()) }
    }

    /// [`lookup`], answered from memory when this process checked the
    /// session within the TTL.
    pub async fn lookup(&self, reads: &Reads, token: &str, hours: u32) -> Result<Option<(Operator, String)>, sqlx::Error> {
        let hash = token_hash(token);
        if let Some(v) = self.fresh(&hash) {
            return Ok(Some((v.operator, v.csrf)));
        }
        let found = reads.run(move |conn| Box::pin(lookup_hash(conn, hash, hours))).await?;
        match &found {
            _ if self.ttl.is_zero() => {}
            Some((operator, csrf)) => {
                let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                if entries.len() >= CACHE_CAPACITY {
                    let ttl = self.ttl;
                    entries.retain(|_, v| v.at.elapsed() < ttl);
                    if entries.len() >= CACHE_CAPACITY {
                        entries.clear();
                    }
                }
                entries.insert(hash, Verified { at: Instant::now(), operator: operator.clone(), csrf: csrf.clone() });
            }
            None => self.forget_hash(&hash),
        }
        Ok(found)
    }

    fn fresh(&self, hash: &[u8; 32]) -> Option<Verified> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.get(hash).filter(|v| v.at.elapsed() < self.ttl).cloned()
    }

    fn forget_hash(&self, hash: &[u8; 32]) {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(hash);
    }

    /// Drops a session this process ended ([`destroy`]).
    pub fn forget(&self, token: &str) {
        self.forget_hash(&token_hash(token));
    }

    /// Drops every session of an operator ([`destroy_all`]).
    pub fn forget_operator(&self, operator_id: OperatorId) {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, v| v.operator.id != operator_id);
    }
}
