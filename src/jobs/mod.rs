//! The cron fleet. Each job is one file implementing [`CronJob`] (its
//! default schedule, lock, timeout and run), named once in
//! [`crate::runs::JobName`] and built by [`make`]; this module schedules them
//! with tokio-cron-scheduler, holds each job's advisory lock so replicas
//! never overlap ([`run_guarded`], the one lock-and-metrics path), bounds
//! each run, and records every run in `job_runs`. A tenant moves a job with
//! `schedules.<name>`. A job is an adapter: it calls a domain's entry point.

pub mod alerts;
pub mod backup;
pub mod backup_check;
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
pub mod session_sweep;
pub mod shipment_writeback;
pub mod tracking_sweep;
pub mod webhook_sync;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::{MySqlPool, mysql::MySqlConnectOptions};
use tokio_cron_scheduler::{Job, JobScheduler};

pub use crate::runs::{JobName, record};
use crate::{
    app::AppState,
    db::lock::{self, LockCheck, LockError, LockName},
    metrics::Metrics,
    runs,
};

/// One job of the fleet.
pub trait CronJob: Send + Sync {
    /// When it runs unless the tenant file says otherwise: six-field cron (with seconds), UTC.
    fn default_schedule(&self) -> String;
    /// Whether replicas must take turns (a MariaDB advisory lock `qm:<tenant>:<lock>`, tried once).
    fn exclusive(&self) -> bool {
        true
    }
    /// The longest a run may take; past it the run is recorded failed.
    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }
    /// Whether this replica can run it at all (`Err`: why not, e.g. the
    /// files it needs are on another node). Asked before the lock, so a
    /// replica that cannot run a job never takes its turn from one that can.
    fn runs_here(&self) -> Result<(), String> {
        Ok(())
    }
    /// Whether it also runs once when the appliance starts.
    fn at_start(&self) -> bool {
        false
    }
    /// One run; the value is the run's summary. `lock`: the job's advisory
    /// lock, held by this run, for the job to check inside its writes.
    fn run(&self, lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>>;
}

/// Builds the job of that name for this tenant (which runs it: [`JobName::runs_for`]).
pub fn make(name: JobName, state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    match name {
        JobName::SessionSweep => session_sweep::job(state),
        JobName::CodeLookupRefresh => code_lookup_refresh::job(state),
        JobName::PrintRetry => print_retry::job(state),
        JobName::ShipmentWriteback => shipment_writeback::job(state),
        JobName::QuoteExpiry => quote_expiry::job(state),
        JobName::CatalogSync => catalog_sync::job(state),
        JobName::InventoryPoll => inventory_poll::job(state),
        JobName::BooksPost => books_post::job(state),
        JobName::MailSend => mail_send::job(state),
        JobName::RfqMailbox => rfq_mailbox::job(state),
        JobName::TrackingSweep => tracking_sweep::job(state),
        JobName::Alerts => alerts::job(state),
        JobName::ReviewRequests => review_requests::job(state),
        JobName::DailySummary => daily_summary::job(state),
        JobName::PriceFeeds => price_feeds::job(state),
        JobName::Backup => backup::job(state),
        JobName::BackupCheck => backup_check::job(state),
    }
}

/// A job as this tenant runs it.
#[derive(Clone)]
pub struct Scheduled {
    pub name: JobName,
    pub job: Arc<dyn CronJob>,
    /// `schedules.<name>` from the tenant file, else the job's default.
    pub schedule: String,
}

/// The jobs this tenant runs, with the schedule each runs on.
pub fn fleet(state: &AppState) -> anyhow::Result<Vec<Scheduled>> {
    let mut out = Vec::new();
    for name in JobName::running(&state.config) {
        let job = make(name, state)?;
        let schedule = state.config.schedules.get(name.as_str()).cloned().unwrap_or_else(|| job.default_schedule());
        out.push(Scheduled { name, job, schedule });
    }
    Ok(out)
}

/// Starts the scheduler with every job the tenant runs (or only those in `only`).
pub async fn start(state: AppState, only: Option<&[JobName]>) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let runner = Runner::of(&state);
    for Scheduled { name, job, schedule } in fleet(&state)? {
        if only.is_some_and(|names| !names.contains(&name)) {
            continue;
        }
        if name == JobName::RfqMailbox {
            tokio::spawn(rfq_mailbox::watch(state.clone(), runner.clone(), job.clone()));
        }
        if name == JobName::InventoryPoll {
            tokio::spawn(webhook_sync::watch(state.clone(), runner.clone()));
        }
        if job.at_start() {
            let (job, runner) = (job.clone(), runner.clone());
            tokio::spawn(async move {
                let _ = run_guarded(&runner, name.as_str(), job.as_ref()).await;
            });
        }
        let runner = runner.clone();
        let cron = Job::new_async(schedule.as_str(), move |_id, _lock| {
            let (job, runner) = (job.clone(), runner.clone());
            Box::pin(async move {
                let _ = run_tick(&runner, name.as_str(), job.as_ref(), tick_now()).await;
            })
        })
        .map_err(|e| anyhow::anyhow!("schedules.{name}: `{schedule}` is not a six-field cron expression: {e}"))?;
        scheduler.add(cron).await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}

/// What a run of a job needs around it: where it is recorded, whose lock it
/// takes, where it is counted.
#[derive(Clone)]
pub struct Runner {
    pub pool: MySqlPool,
    pub db_options: Arc<MySqlConnectOptions>,
    pub tenant: String,
    pub metrics: Arc<Metrics>,
}

impl Runner {
    pub fn of(state: &AppState) -> Self {
        Self {
            pool: state.pool.clone(),
            db_options: state.db_options.clone(),
            tenant: state.config.tenant.id.to_string(),
            metrics: state.metrics.clone(),
        }
    }
}

/// How a guarded run went.
#[derive(Debug, Clone, PartialEq)]
pub enum Ran {
    /// It ran; its summary.
    Done(Value),
    /// Another run (here or on a replica) holds its lock: not run, not recorded.
    Skipped { lock: String, holder: String },
    /// This replica cannot run it ([`CronJob::runs_here`]): not run, not recorded.
    NotHere { reason: String },
}

impl Ran {
    /// The summary when it ran.
    pub fn done(self) -> Option<Value> {
        match self {
            Ran::Done(v) => Some(v),
            Ran::Skipped { .. } | Ran::NotHere { .. } => None,
        }
    }
}

/// One run of `job` as the scheduler does it: under its lock (skipped when
/// another replica holds it), bounded by its timeout, recorded in `job_runs`
/// as `name`, counted in `/metrics`. The lock is handed to the job to check
/// inside its writes.
pub async fn run_guarded(runner: &Runner, name: &str, job: &dyn CronJob) -> anyhow::Result<Ran> {
    run_guarded_within(runner, name, job, Duration::ZERO).await
}

/// [`run_guarded`], waiting up to `wait` for the lock (MariaDB's `GET_LOCK`
/// waits; nothing here polls) before skipping.
pub async fn run_guarded_within(runner: &Runner, name: &str, job: &dyn CronJob, wait: Duration) -> anyhow::Result<Ran> {
    run(runner, name, job, wait, None).await
}

/// The tick a scheduler firing now belongs to: now, to the nearest second
/// (every replica's scheduler fires the same cron second, give or take its
/// milliseconds).
pub fn tick_now() -> DateTime<Utc> {
    let millis = Utc::now().timestamp_millis();
    DateTime::from_timestamp((millis + 500).div_euclid(1000), 0).unwrap_or_else(Utc::now)
}

/// The scheduler's run of `tick`: under the lock, a tick another replica
/// already ran is skipped (never run twice), as is a held lock.
pub async fn run_tick(runner: &Runner, name: &str, job: &dyn CronJob, tick: DateTime<Utc>) -> anyhow::Result<Ran> {
    run(runner, name, job, Duration::ZERO, Some(tick)).await
}

async fn run(runner: &Runner, name: &str, job: &dyn CronJob, wait: Duration, tick: Option<DateTime<Utc>>) -> anyhow::Result<Ran> {
    if let Err(reason) = job.runs_here() {
        tracing::debug!(job = name, reason, "not on this replica");
        return Ok(Ran::NotHere { reason });
    }
    let guard = if job.exclusive() {
        let lock = LockName::new(&runner.tenant, JobName::parse(name).map_or(name, |j| j.lock_name()))?;
        match lock::acquire(&runner.db_options, &lock, wait).await {
            Ok(g) => Some(g),
            Err(LockError::Busy { holder, .. }) => {
                tracing::info!(job = name, holder = ?holder, "job lock held elsewhere; skipping this run");
                runner.metrics.observe_job(name, "skipped");
                let holder = holder.map_or("another connection".to_owned(), |h| format!("connection {h}"));
                return Ok(Ran::Skipped { lock: lock.to_string(), holder });
            }
            Err(e) => {
                tracing::error!(job = name, error = %e, "job lock could not be taken");
                return Err(e.into());
            }
        }
    } else {
        None
    };
    if let (Some(g), Some(t)) = (&guard, tick)
        && runs::ran_tick(&runner.pool, name, t).await?
    {
        let skipped =
            Ran::Skipped { lock: g.name().to_string(), holder: format!("another replica, which ran the {} tick", t.format("%H:%M:%S")) };
        runner.metrics.observe_job(name, "skipped");
        if let Some(g) = guard
            && let Err(e) = g.release().await
        {
            tracing::warn!(job = name, error = %e, "job lock release");
        }
        return Ok(skipped);
    }
    let check = guard.as_ref().map(|g| LockCheck { name: g.name().to_string(), connection_id: g.connection_id() });
    let timeout = job.timeout();
    let work = async {
        tokio::time::timeout(timeout, job.run(check)).await.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out after {timeout:?}")))
    };
    let outcome = record(&runner.pool, name, tick, work).await;
    runner.metrics.observe_job(name, if outcome.is_ok() { "ok" } else { "failed" });
    // Released before returning, not when the guard's connection closes in
    // the background: the next tick (here or on a replica) finds it free.
    if let Some(g) = guard
        && let Err(e) = g.release().await
    {
        tracing::warn!(job = name, error = %e, "job lock release");
    }
    outcome.map(Ran::Done)
}
