//! Advisory locks over MariaDB `GET_LOCK`/`RELEASE_LOCK`, named per tenant
//! (`qm:<tenant>:<job>`), so two replicas or two overlapping runs never do
//! the same job at once.
//!
//! A lock lives on a connection, so each held lock owns a dedicated
//! connection for its whole life: sqlx does not reset a pooled connection
//! when it goes back to the pool, and a lock taken on one would leak to the
//! next borrower. Dropping the guard (on success or any error path) releases
//! the lock by closing that connection; [`LockGuard::release`] does it
//! explicitly and reports the outcome.

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, MySqlConnection, mysql::MySqlConnectOptions};

/// MariaDB's limit on a user lock's name.
pub const MAX_NAME_LEN: usize = 64;

/// A lock name, `qm:<tenant>:<job>`, checked against MariaDB's 64-character limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockName(String);

impl LockName {
    /// Builds `qm:<tenant>:<job>`.
    pub fn new(tenant: &str, job: &str) -> Result<Self, LockError> {
        let name = format!("qm:{tenant}:{job}");
        if name.len() > MAX_NAME_LEN {
            return Err(LockError::NameTooLong(name));
        }
        if tenant.is_empty() || job.is_empty() {
            return Err(LockError::NameTooLong(name));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LockName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What can go wrong with a lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock name `{0}` is empty in a part or longer than 64 characters")]
    NameTooLong(String),
    #[error("lock `{name}` is held by connection {holder:?}; gave up after {waited:?}")]
    Busy { name: String, holder: Option<u64>, waited: Duration },
    #[error("lock `{0}` is no longer held by this connection")]
    Lost(String),
    #[error("GET_LOCK(`{0}`) returned NULL (server error or killed connection)")]
    Null(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A held advisory lock and the connection it lives on.
pub struct LockGuard {
    name: LockName,
    conn: Option<MySqlConnection>,
    connection_id: u64,
}

/// Takes `name`, waiting up to `timeout` (zero: try once).
///
/// MariaDB, unlike MySQL, answers NULL to a negative or NULL timeout instead
/// of waiting forever, so "forever" is not offered: pass a bound.
#[tracing::instrument(skip(options), fields(lock = %name))]
pub async fn acquire(options: &MySqlConnectOptions, name: &LockName, timeout: Duration) -> Result<LockGuard, LockError> {
    let mut conn = options.connect().await?;
    // GET_LOCK takes whole or fractional seconds.
    let seconds = timeout.as_secs_f64();
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)").bind(name.as_str()).bind(seconds).fetch_one(&mut conn).await?;
    match got {
        Some(1) => {
            let connection_id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()").fetch_one(&mut conn).await?;
            tracing::debug!(connection_id, "lock taken");
            Ok(LockGuard { name: name.clone(), conn: Some(conn), connection_id })
        }
        Some(_) => {
            let holder = holder(&mut conn, name).await.unwrap_or(None);
            let _ = conn.close().await;
            Err(LockError::Busy { name: name.to_string(), holder, waited: timeout })
        }
        None => {
            let _ = conn.close().await;
            Err(LockError::Null(name.to_string()))
        }
    }
}

/// The connection id holding `name`, if any.
pub async fn holder(conn: &mut MySqlConnection, name: &LockName) -> Result<Option<u64>, sqlx::Error> {
    // IS_USED_LOCK answers a signed BIGINT.
    let id: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)").bind(name.as_str()).fetch_one(conn).await?;
    Ok(id.and_then(|i| u64::try_from(i).ok()))
}

impl LockGuard {
    /// The lock's name.
    pub fn name(&self) -> &LockName {
        &self.name
    }

    /// The server connection id that holds the lock.
    pub fn connection_id(&self) -> u64 {
        self.connection_id
    }

    /// Confirms the lock is still ours (`IS_USED_LOCK(name) = CONNECTION_ID()`);
    /// call it before critical work. A killed connection or a server restart
    /// fails here instead of letting two holders proceed.
    pub async fn ensure_held(&mut self) -> Result<(), LockError> {
        let conn = self.conn.as_mut().ok_or_else(|| LockError::Lost(self.name.to_string()))?;
        let held: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?) = CONNECTION_ID()")
            .bind(self.name.as_str())
            .fetch_one(conn)
            .await
            .map_err(|_| LockError::Lost(self.name.to_string()))?;
        if held == Some(1) { Ok(()) } else { Err(LockError::Lost(self.name.to_string())) }
    }

    /// Releases the lock and closes its connection.
    pub async fn release(mut self) -> Result<(), LockError> {
        let Some(mut conn) = self.conn.take() else { return Ok(()) };
        let released: Option<i64> = sqlx::query_scalar("SELECT RELEASE_LOCK(?)").bind(self.name.as_str()).fetch_one(&mut conn).await?;
        let _ = conn.close().await;
        if released == Some(1) { Ok(()) } else { Err(LockError::Lost(self.name.to_string())) }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the connection releases every lock it holds. Dropping a
        // sqlx connection closes its socket; do it gracefully when a runtime
        // is there to run the close.
        if let Some(conn) = self.conn.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = conn.close().await;
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_per_tenant_and_bounded() {
        assert_eq!(LockName::new("acme", "poller").map(|n| n.to_string()).ok(), Some("qm:acme:poller".into()));
        let long = "x".repeat(60);
        assert!(matches!(LockName::new("acme", &long), Err(LockError::NameTooLong(_))));
        assert!(LockName::new("acme", &"y".repeat(64 - "qm:acme:".len())).is_ok());
    }
}

/// A cycle's advisory lock, checked from any connection: the lock must still
/// be held by the connection that took it.
#[derive(Debug, Clone)]
pub struct LockCheck {
    pub name: String,
    pub connection_id: u64,
}

/// Why a [`LockCheck`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the advisory lock `{0}` is no longer held by this run")]
    Lost(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl LockCheck {
    /// `Err(Lost)` when another connection (or none) holds the lock now.
    pub async fn check(&self, conn: &mut MySqlConnection) -> Result<(), CheckError> {
        let holder: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)").bind(&self.name).fetch_one(&mut *conn).await?;
        if holder.and_then(|h| u64::try_from(h).ok()) == Some(self.connection_id) {
            Ok(())
        } else {
            Err(CheckError::Lost(self.name.clone()))
        }
    }
}
