//! The job fleet: one list, the tenant file's names, replicas taking turns
//! under the job's advisory lock, and a bound on every run.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};
use quartermaster::jobs::{self, CronJob};
use serde_json::{Value, json};

use crate::helpers::TestApp;

#[tokio::test]
async fn every_job_is_listed_once_and_the_tenant_file_knows_each_name() {
    let app = TestApp::spawn().await;
    let fleet = jobs::fleet(&app.state).expect("fleet");
    let names: Vec<&str> = fleet.iter().map(|(j, _)| j.name()).collect();
    for n in &names {
        assert!(jobs::NAMES.contains(n), "{n} is missing from jobs::NAMES");
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a job is listed twice: {names:?}");
    for (job, schedule) in &fleet {
        assert_eq!(schedule.split_whitespace().count(), 6, "{}: {schedule}", job.name());
    }
    // The schema's `schedules` keys are the fleet's names, less the poller (on polling.inventory_cron).
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tenant-configs/schema/tenant.schema.json")).expect("schema"),
    )
    .expect("json");
    let mut keys: Vec<&str> =
        schema["properties"]["schedules"]["properties"].as_object().expect("schedules").keys().map(String::as_str).collect();
    keys.sort();
    let mut want: Vec<&str> = jobs::NAMES.iter().copied().filter(|n| *n != "inventory_poll").collect();
    want.sort();
    assert_eq!(keys, want);
}

/// A job that takes `takes` and counts its runs.
struct Slow {
    takes: Duration,
    limit: Duration,
    runs: Arc<std::sync::atomic::AtomicU32>,
}

impl CronJob for Slow {
    fn name(&self) -> &'static str {
        "test_slow"
    }
    fn default_schedule(&self) -> String {
        "0 0 * * * *".into()
    }
    fn timeout(&self) -> Duration {
        self.limit
    }
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>> {
        async {
            self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(self.takes).await;
            Ok(json!({ "slept_ms": self.takes.as_millis() as u64 }))
        }
        .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_take_turns_and_a_run_past_its_bound_is_recorded_failed() {
    let app = TestApp::spawn().await;
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let job = Slow { takes: Duration::from_millis(800), limit: Duration::from_secs(30), runs: runs.clone() };
    let (a, b) = tokio::join!(jobs::run_guarded(&app.state, &job), jobs::run_guarded(&app.state, &job));
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert!(a.is_some() != b.is_some(), "exactly one ran: {a:?} {b:?}");
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The lock is free again afterwards.
    assert!(jobs::run_guarded(&app.state, &job).await.expect("again").is_some());

    let late = Slow { takes: Duration::from_secs(5), limit: Duration::from_millis(200), runs };
    let err = jobs::run_guarded(&app.state, &late).await.expect_err("bounded");
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
