//! The cron fleet. Each job is one file implementing [`CronJob`] (its name,
//! default schedule, lock, timeout and run) and one line in [`FLEET`]; this
//! module schedules them with tokio-cron-scheduler, holds each job's
//! advisory lock so replicas never overlap, bounds each run, and records
//! every run in `job_runs`. A tenant moves a job with `schedules.<name>`.

pub mod alerts;
pub mod backup;
pub mod books_post;
pub mod catalog_sync;
pub mod code_lookup_refresh;
pub mod daily_summary;
pub mod inventory_poll;
pub mod mail_send;
pub mod price_feeds;
pub mod print_retry;
pub mod quote_expiry;
pub mod review_requests;
pub mod rfq_mailbox;
pub mod runs;
pub mod session_sweep;
pub mod shipment_writeback;
pub mod tracking_sweep;

use std::{future::Future, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::MySqlPool;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::{
    app::AppState,
    db::lock::{self, LockError, LockName},
    events::{Event, Severity},
};

/// One job of the fleet.
pub trait CronJob: Send + Sync {
    /// Its name in `job_runs`, the logs, its lock and the tenant file's `schedules`.
    fn name(&self) -> &'static str;
    /// When it runs unless the tenant file says otherwise: six-field cron (with seconds), UTC.
    fn default_schedule(&self) -> String;
    /// Whether replicas must take turns (a MariaDB advisory lock `qm:<tenant>:<name>`, tried once).
    fn exclusive(&self) -> bool {
        true
    }
    /// The longest a run may take; past it the run is recorded failed.
    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }
    /// Whether it also runs once when the appliance starts.
    fn at_start(&self) -> bool {
        false
    }
    /// One run; the value is the run's summary.
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>>;
}

/// Builds a job for this tenant, or `None` when its module is off.
pub type Maker = fn(&AppState) -> anyhow::Result<Option<Arc<dyn CronJob>>>;

/// Every job, in one list: a new job is a file and a line here.
pub const FLEET: &[Maker] = &[
    session_sweep::job,
    code_lookup_refresh::job,
    print_retry::job,
    shipment_writeback::job,
    quote_expiry::job,
    catalog_sync::job,
    inventory_poll::job,
    books_post::job,
    mail_send::job,
    rfq_mailbox::job,
    tracking_sweep::job,
    alerts::job,
    review_requests::job,
    daily_summary::job,
    price_feeds::job,
    backup::job,
];

/// The names `schedules` may use, for the tenant file's schema and its checks.
pub const NAMES: &[&str] = &[
    "session_sweep",
    "code_lookup_refresh",
    "print_retry",
    "shipment_writeback",
    "quote_expiry",
    "catalog_sync",
    "inventory_poll",
    "books_post",
    "mail_send",
    "rfq_mailbox",
    "tracking_sweep",
    "alerts",
    "review_requests",
    "daily_summary",
    "price_feeds",
];

/// The jobs this tenant runs, with the schedule each runs on.
pub fn fleet(state: &AppState) -> anyhow::Result<Vec<(Arc<dyn CronJob>, String)>> {
    let mut out = Vec::new();
    for make in FLEET {
        if let Some(job) = make(state)? {
            let schedule = state.config.schedules.get(job.name()).cloned().unwrap_or_else(|| job.default_schedule());
            out.push((job, schedule));
        }
    }
    Ok(out)
}

/// Starts the scheduler with every job the tenant runs (or only those named in `only`).
pub async fn start(state: AppState, only: Option<&[&str]>) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    for (job, schedule) in fleet(&state)? {
        if only.is_some_and(|names| !names.contains(&job.name())) {
            continue;
        }
        if job.name() == "rfq_mailbox" {
            tokio::spawn(rfq_mailbox::watch(state.clone(), job.clone()));
        }
        if job.at_start() {
            let (job, state) = (job.clone(), state.clone());
            tokio::spawn(async move {
                let _ = run_guarded(&state, job.as_ref()).await;
            });
        }
        let state = state.clone();
        let cron = Job::new_async(schedule.as_str(), move |_id, _lock| {
            let (job, state) = (job.clone(), state.clone());
            Box::pin(async move {
                let _ = run_guarded(&state, job.as_ref()).await;
            })
        })
        .map_err(|e| anyhow::anyhow!("schedules: `{schedule}` is not a six-field cron expression: {e}"))?;
        scheduler.add(cron).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}

/// One run of `job` as the scheduler does it: under its lock (skipped when
/// another replica holds it), bounded by its timeout, recorded in `job_runs`.
/// `Ok(None)`: another replica is running it.
pub async fn run_guarded(state: &AppState, job: &dyn CronJob) -> anyhow::Result<Option<Value>> {
    let guard = if job.exclusive() {
        let name = LockName::new(&state.config.tenant.id.to_string(), job.name())?;
        match lock::acquire(&state.db_options, &name, Duration::ZERO).await {
            Ok(g) => Some(g),
            Err(LockError::Busy { holder, .. }) => {
                tracing::info!(job = job.name(), holder = ?holder, "job lock held elsewhere; skipping this run");
                state.metrics.observe_job(job.name(), "skipped");
                return Ok(None);
            }
            Err(e) => {
                tracing::error!(job = job.name(), error = %e, "job lock could not be taken");
                return Err(e.into());
            }
        }
    } else {
        None
    };
    let timeout = job.timeout();
    let work =
        async { tokio::time::timeout(timeout, job.run()).await.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out after {timeout:?}"))) };
    let outcome = record(&state.pool, job.name(), work).await;
    state.metrics.observe_job(job.name(), if outcome.is_ok() { "ok" } else { "failed" });
    // Released before returning, not when the guard's connection closes in
    // the background: the next tick (here or on a replica) finds it free.
    if let Some(g) = guard
        && let Err(e) = g.release().await
    {
        tracing::warn!(job = job.name(), error = %e, "job lock release");
    }
    outcome.map(Some)
}

/// Runs `work` as one recorded job run: a `job_runs` row that ends `ok` with
/// the summary or `failed` with the error chain (also logged). A failure is
/// told to the event log each time (`job.failed`), and the first success
/// after failures once (`job.recovered`); a job that keeps succeeding stays
/// quiet there, so a once-a-minute job does not drown the log.
pub async fn record<F>(pool: &MySqlPool, job: &str, work: F) -> anyhow::Result<Value>
where
    F: Future<Output = anyhow::Result<Value>>,
{
    let id = sqlx::query("INSERT INTO job_runs (job) VALUES (?)").bind(job).execute(pool).await?.last_insert_id();
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
