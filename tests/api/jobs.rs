//! The job fleet: one list, the tenant file's names, replicas taking turns
//! under the job's advisory lock, and a bound on every run.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};
use quartermaster::{
    db::lock::LockCheck,
    jobs::{self, CronJob, JobName, Ran, Runner},
};
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn every_job_is_named_once_and_the_tenant_file_and_readme_know_each_name() {
    let app = TestApp::spawn().await;
    // The fleet builds what the catalog says this tenant runs, each on a six-field schedule.
    let fleet = jobs::fleet(&app.state).expect("fleet");
    let names: Vec<JobName> = fleet.iter().map(|j| j.name).collect();
    let want: Vec<JobName> = JobName::running(&app.state.config).collect();
    assert_eq!(names, want);
    for j in &fleet {
        assert_eq!(j.schedule.split_whitespace().count(), 6, "{}: {}", j.name, j.schedule);
    }
    let all: Vec<&str> = JobName::ALL.iter().map(|j| j.as_str()).collect();
    // The schema's `schedules` keys are the catalog's names.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tenant-configs/schema/tenant.schema.json")).expect("schema"),
    )
    .expect("json");
    let mut keys: Vec<&str> =
        schema["properties"]["schedules"]["properties"].as_object().expect("schedules").keys().map(String::as_str).collect();
    keys.sort();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "tenant.schema.json's schedules keys");
    // README.md's table of jobs has a row for each, once.
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let table = docs.split("| job | default schedule (UTC) | does |").nth(1).expect("the table of jobs");
    let mut listed: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.strip_prefix("| `")?.split_once('`').map(|(name, _)| name))
        .collect();
    listed.sort();
    assert_eq!(listed, sorted, "README.md's table of jobs");
}

#[tokio::test]
async fn schedules_backup_moves_the_backup_job() {
    let db = crate::helpers::TestDb::empty().await;
    let backups = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "stations: [{{ id: bench-1, name: Bench 1 }}]\nbackup: {{ repository: {}, password: ref+file://secrets/db_password }}\nschedules: {{ backup: \"0 15 3 * * *\" }}\n",
        backups.path().display()
    );
    let tenant = crate::helpers::TenantDir::write_with(&db, "", "", "http://127.0.0.1:9", ("ck_x", "cs_x"), &extra);
    let app = TestApp::spawn_in(db, tenant, "").await;
    let backup = crate::helpers::job(&app.state, "backup");
    assert_eq!(backup.schedule, "0 15 3 * * *");
}

/// A job that counts its runs, says it started, and finishes when `gate` opens.
struct Slow {
    gate: Arc<tokio::sync::Semaphore>,
    started: Arc<tokio::sync::Notify>,
    limit: Duration,
    runs: Arc<std::sync::atomic::AtomicU32>,
}

impl CronJob for Slow {
    fn default_schedule(&self) -> String {
        "0 0 * * * *".into()
    }
    fn timeout(&self) -> Duration {
        self.limit
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async {
            self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.started.notify_one();
            let _pass = self.gate.acquire().await?;
            Ok(json!({ "ran": true }))
        }
        .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_take_turns_and_a_run_past_its_bound_is_recorded_failed() {
    let app = TestApp::spawn().await;
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (gate, started) = (Arc::new(tokio::sync::Semaphore::new(0)), Arc::new(tokio::sync::Notify::new()));
    let job = Arc::new(Slow { gate: gate.clone(), started: started.clone(), limit: Duration::from_secs(30), runs: runs.clone() });
    let runner = Runner::of(&app.state);
    // One replica runs it and is inside its run; the other, meanwhile, finds the lock held.
    let first = tokio::spawn({
        let (runner, job) = (runner.clone(), job.clone());
        async move { jobs::run_guarded(&runner, "test_slow", job.as_ref()).await }
    });
    started.notified().await;
    let b = jobs::run_guarded(&runner, "test_slow", job.as_ref()).await.expect("second");
    assert!(matches!(b, Ran::Skipped { .. }), "the other replica skips while it runs: {b:?}");
    gate.add_permits(2);
    let a = first.await.expect("join").expect("first");
    assert!(matches!(a, Ran::Done(_)), "{a:?}");
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The lock is free again afterwards.
    assert!(matches!(jobs::run_guarded(&runner, "test_slow", job.as_ref()).await.expect("again"), Ran::Done(_)));

    // A run whose gate never opens is stopped at its bound and recorded failed.
    let late = Slow { gate: Arc::new(tokio::sync::Semaphore::new(0)), started, limit: Duration::from_millis(200), runs };
    let err = jobs::run_guarded(&runner, "test_slow", &late).await.expect_err("bounded");
    assert!(err.to_string().contains("timed out"), "{err}");
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT CAST(status AS CHAR), error FROM job_runs WHERE job = 'test_slow' ORDER BY id")
            .fetch_all(&app.db.pool)
            .await
            .expect("runs");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[1].0.as_str(), rows[2].0.as_str()), ("ok", "ok", "failed"));
    assert!(rows[2].1.as_deref().unwrap_or_default().contains("timed out"), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_one_replica_ran_is_not_run_again_by_another_that_gets_the_lock_after_it() {
    let app = TestApp::spawn().await;
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(10));
    let job = Slow { gate, started: Arc::new(tokio::sync::Notify::new()), limit: Duration::from_secs(30), runs: runs.clone() };
    // Two replicas: each its own runner (its own pool and lock connections), one database.
    let (a, b) = (Runner::of(&app.state), Runner::of(&app.state));
    let tick = jobs::tick_now();
    // The first replica's run is over before the second's scheduler gets the lock (a slow or late tick).
    assert!(matches!(jobs::run_tick(&a, "test_slow", &job, tick).await.expect("first"), Ran::Done(_)));
    let late = jobs::run_tick(&b, "test_slow", &job, tick).await.expect("second");
    let Ran::Skipped { holder, .. } = &late else { panic!("the same tick ran twice: {late:?}") };
    assert!(holder.contains(&tick.format("%H:%M:%S").to_string()), "{holder}");
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "one run for the tick");
    // The next tick runs, on whichever replica; a run by hand (no tick) always runs.
    let next = tick + chrono::TimeDelta::seconds(5);
    assert!(matches!(jobs::run_tick(&b, "test_slow", &job, next).await.expect("next tick"), Ran::Done(_)));
    assert!(matches!(jobs::run_guarded(&b, "test_slow", &job).await.expect("by hand"), Ran::Done(_)));
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    let rows: Vec<(Option<String>, Option<chrono::NaiveDateTime>)> =
        sqlx::query_as("SELECT runner, tick_at FROM job_runs WHERE job = 'test_slow' ORDER BY id")
            .fetch_all(&app.db.pool)
            .await
            .expect("runs");
    assert_eq!(rows.iter().map(|r| r.1).collect::<Vec<_>>(), vec![Some(tick.naive_utc()), Some(next.naive_utc()), None]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert!(rows.iter().all(|r| r.0.as_deref() == Some(host.trim())), "each run names its runner: {rows:?}");
}
