//! Connections for the pages' reads (and the pick scan's one statement),
//! handed back without a round trip.
//!
//! sqlx 0.9's pool pings every connection as it is returned
//! (`Floating::return_to_pool`, whatever `test_before_acquire` says), so a
//! page that runs one statement through it costs the server two commands.
//! [`Reads`] keeps its own few connections: a page takes one, runs its
//! statement and puts it back as it is. A connection that fails with an I/O
//! or protocol error is dropped, and the read (idempotent) is tried once
//! more on a fresh one, so a server restart or a connection closed while
//! idle costs no page an error. Connections idle longer than
//! [`IDLE_LIMIT`] are closed rather than reused (MariaDB's `wait_timeout`
//! would close them first).

use std::{
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use sqlx::{ConnectOptions, MySqlConnection, mysql::MySqlConnectOptions};
use tokio::sync::Semaphore;

/// Longest a connection waits idle before it is closed instead of reused.
pub const IDLE_LIMIT: Duration = Duration::from_secs(300);

/// Up to `size` connections for single-statement page reads.
pub struct Reads {
    options: MySqlConnectOptions,
    idle: Mutex<Vec<(MySqlConnection, Instant)>>,
    permits: Semaphore,
    size: usize,
    /// Connections open now, idle or in use (for `/metrics`).
    open: AtomicUsize,
}

impl Reads {
    /// `options` as [`super::connect`] sets them up (UTC, utf8mb4).
    pub fn new(options: MySqlConnectOptions, size: usize) -> Self {
        let size = size.max(1);
        Self {
            options: super::session_options(options),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size),
            size,
            open: AtomicUsize::new(0),
        }
    }

    /// (connections open, of which idle, the most it opens), for `/metrics`.
    pub fn gauges(&self) -> (usize, usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        (self.open.load(Ordering::Relaxed), idle, self.size)
    }

    /// Runs `read` on a connection of this set; a failed connection is
    /// replaced and the read tried once more.
    pub async fn run<T, F>(&self, read: F) -> Result<T, sqlx::Error>
    where
        F: for<'c> Fn(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        self.go(read, true).await
    }

    /// Runs `write`, a statement that must not run twice, on a connection of
    /// this set: a failed connection is dropped and the error returned, since
    /// the server may have run the statement before the connection failed.
    pub async fn once<T, F>(&self, write: F) -> Result<T, sqlx::Error>
    where
        F: for<'c> Fn(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        self.go(write, false).await
    }

    async fn go<T, F>(&self, statement: F, retry: bool) -> Result<T, sqlx::Error>
    where
        F: for<'c> Fn(&'c mut MySqlConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        let _permit = self.permits.acquire().await.map_err(|_| sqlx::Error::PoolClosed)?;
        let mut fresh = !retry;
        loop {
            let mut conn = match self.take() {
                Some(c) => c,
                None => {
                    fresh = true;
                    let conn = self.options.connect().await?;
                    self.open.fetch_add(1, Ordering::Relaxed);
                    conn
                }
            };
            match statement(&mut conn).await {
                Err(e) if broken(&e) => {
                    // A connection the server closed (restart, timeout): one more try on a new one.
                    drop(conn);
                    self.open.fetch_sub(1, Ordering::Relaxed);
                    self.clear();
                    if fresh {
                        return Err(e);
                    }
                    fresh = true;
                }
                outcome => {
                    self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((conn, Instant::now()));
                    return outcome;
                }
            }
        }
    }

    /// An idle connection young enough to reuse.
    fn take(&self) -> Option<MySqlConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_LIMIT {
                return Some(conn);
            }
            drop(conn);
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        None
    }

    /// Drops every idle connection (after one was found broken, the rest likely are too).
    fn clear(&self) {
        let dropped = std::mem::take(&mut *self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).len();
        self.open.fetch_sub(dropped, Ordering::Relaxed);
    }
}

/// Whether an error means the connection itself is unusable.
fn broken(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed)
}
