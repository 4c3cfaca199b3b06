//! Reading `job_runs` back: each job's last run, its last success and how
//! many runs failed in a row since (the dashboard, `/metrics`, alerts), and
//! the poller's pushes per day (the charts).

use chrono::{NaiveDate, NaiveDateTime};
use sqlx::MySqlPool;

/// How a job has been doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobHealth {
    pub job: String,
    /// The last run's status (`running`, `ok`, `failed`).
    pub last_status: String,
    pub last_started_at: NaiveDateTime,
    pub last_finished_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    /// When the last successful run finished, and its summary.
    pub last_ok_at: Option<NaiveDateTime>,
    pub last_ok_summary: Option<String>,
    /// Failed runs since the last success (or in the runs read, when none succeeded).
    pub consecutive_failures: u32,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    status: String,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    error: Option<String>,
    summary: Option<String>,
}

/// Runs read per job to count failures in a row.
const WINDOW: u32 = 50;

/// `job`'s health, or `None` when it never ran.
pub async fn health(pool: &MySqlPool, job: &str) -> Result<Option<JobHealth>, sqlx::Error> {
    let rows = sqlx::query_as::<_, RunRow>(
        r#"SELECT CAST(status AS CHAR) AS status, started_at, finished_at, error, CAST(summary AS CHAR) AS summary
           FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?"#,
    )
    .bind(job)
    .bind(WINDOW)
    .fetch_all(pool)
    .await?;
    let Some(last) = rows.first() else { return Ok(None) };
    let ok = rows.iter().find(|r| r.status == "ok");
    let consecutive_failures = rows.iter().take_while(|r| r.status != "ok").filter(|r| r.status == "failed").count() as u32;
    let (last_ok_at, last_ok_summary) = match ok {
        Some(r) => (r.finished_at, r.summary.clone()),
        None => {
            let older: Option<(Option<NaiveDateTime>, Option<String>)> = sqlx::query_as(
                "SELECT finished_at, CAST(summary AS CHAR) FROM job_runs WHERE job = ? AND status = 'ok' ORDER BY id DESC LIMIT 1",
            )
            .bind(job)
            .fetch_optional(pool)
            .await?;
            older.map_or((None, None), |(at, s)| (at, s))
        }
    };
    Ok(Some(JobHealth {
        job: job.to_owned(),
        last_status: last.status.clone(),
        last_started_at: last.started_at,
        last_finished_at: last.finished_at,
        last_error: last.error.clone(),
        last_ok_at,
        last_ok_summary,
        consecutive_failures,
    }))
}

/// Stock quantities the poller pushed per local day (`days` from
/// [`crate::calendar::json`]), from its runs' summaries, oldest first.
pub async fn pushes_per_day(pool: &MySqlPool, days: &str) -> Result<Vec<(NaiveDate, i64)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT d.day, CAST(COALESCE(SUM(JSON_VALUE(r.summary, '$.skus_pushed')), 0) AS SIGNED)
           FROM JSON_TABLE(?, '$[*]' COLUMNS (day DATE PATH '$.d', s DATETIME(6) PATH '$.s', e DATETIME(6) PATH '$.e')) d
           LEFT JOIN job_runs r ON r.job = 'inventory_poll' AND r.status = 'ok' AND r.started_at >= d.s AND r.started_at < d.e
           GROUP BY d.day ORDER BY d.day"#,
    )
    .bind(days)
    .fetch_all(pool)
    .await
}
