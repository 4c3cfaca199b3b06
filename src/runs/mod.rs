//! The job-run ledger, the table `job_runs`: every run of every job of the
//! fleet (scheduled, `qm job run`, `qm sync --once`) is one row, from
//! `running` to `ok`, `failed` or `abandoned`. The fleet writes it
//! ([`record`]); the dashboard, alerts, `/metrics` and `qm job list` read it
//! back ([`health`]). The jobs themselves are named once, in [`catalog`].

pub mod catalog;
mod health;

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sqlx::MySqlPool;

pub use self::{
    catalog::JobName,
    health::{JobHealth, health, pushes_per_day},
};
use crate::events::{Event, Severity};

/// A run row older than this, still `running` while its job's lock is held by the caller, died.
const ABANDONED_AFTER: TimeDelta = TimeDelta::seconds(2);

/// Whether a run of `job` for the scheduled `tick` is on file (a replica that
/// took the job's lock before this one). Asked under the lock.
pub async fn ran_tick(pool: &MySqlPool, job: &str, tick: DateTime<Utc>) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM job_runs WHERE job = ? AND tick_at = ?")
        .bind(job)
        .bind(tick.naive_utc())
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// This process's name in `job_runs.runner`: the host name (under Docker the
/// container's id, so each replica is told apart), read once.
fn runner() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().chars().take(128).collect())
            .unwrap_or_default()
    })
}

/// Runs `work` as one recorded job run: a `job_runs` row that ends `ok` with
/// the summary or `failed` with the error chain (also logged). A failure is
/// told to the event log each time (`job.failed`), and the first success
/// after failures once (`job.recovered`); a job that keeps succeeding stays
/// quiet there, so a once-a-minute job does not drown the log.
pub async fn record<F>(pool: &MySqlPool, job: &str, tick: Option<DateTime<Utc>>, work: F) -> anyhow::Result<Value>
where
    F: Future<Output = anyhow::Result<Value>>,
{
    let id = sqlx::query("INSERT INTO job_runs (job, runner, tick_at) VALUES (?, ?, ?)")
        .bind(job)
        .bind(runner())
        .bind(tick.map(|t| t.naive_utc()))
        .execute(pool)
        .await?
        .last_insert_id();
    let outcome = work.await;
    let (status, summary, error) = match &outcome {
        Ok(v) => ("ok", Some(v.to_string()), None),
        Err(e) => {
            tracing::error!(job, error = format!("{e:#}"), "job failed");
            ("failed", None, Some(format!("{e:#}").chars().take(1024).collect::<String>()))
        }
    };
    sqlx::query("UPDATE job_runs SET status = ?, finished_at = UTC_TIMESTAMP(6), summary = ?, error = ? WHERE id = ?")
        .bind(status)
        .bind(summary)
        .bind(&error)
        .bind(id)
        .execute(pool)
        .await?;
    let previous: Option<String> = sqlx::query_scalar(
        "SELECT CAST(status AS CHAR) FROM job_runs WHERE job = ? AND id < ? AND status <> 'running' ORDER BY id DESC LIMIT 1",
    )
    .bind(job)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let told = match (&error, previous.as_deref()) {
        (Some(e), _) => Some(Event::info("job.failed", format!("{job} failed: {e}")).severity(Severity::Error)),
        (None, Some("failed")) => Some(Event::info("job.recovered", format!("{job} ran fine again after failing"))),
        _ => None,
    };
    if let Some(event) = told {
        crate::events::record(pool, event.about("job", id)).await?;
    }
    outcome
}

/// Marks runs of `job` that died (killed, connection lost) as `abandoned`.
/// Called by a run that holds the job's lock: no other run can be working.
pub async fn close_abandoned(pool: &MySqlPool, job: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"UPDATE job_runs SET status = 'abandoned', finished_at = UTC_TIMESTAMP(6),
               error = 'the run ended without finishing (killed, or its database connection was lost); the next run took over'
           WHERE job = ? AND status = 'running' AND started_at < ?"#,
    )
    .bind(job)
    .bind((Utc::now() - ABANDONED_AFTER).naive_utc())
    .execute(pool)
    .await?;
    Ok(())
}
