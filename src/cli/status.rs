//! `qm status`: one tenant at a glance, for the operator and for
//! `scripts/fleet` (which asks every tenant with `--json`): the version, the
//! schema, the last sync, the last backup per repository and the open alerts.

use std::path::PathBuf;

use chrono::NaiveDateTime;
use clap::Args;
use serde::Serialize;

use super::{Failure, load};
use crate::startup;

#[derive(Debug, Args)]
pub(super) struct StatusArgs {
    #[arg(short, long, env = "QM_CONFIG")]
    config: PathBuf,
    /// One JSON object instead of lines of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Status {
    tenant: String,
    version: &'static str,
    /// Every migration this binary carries is applied.
    schema_current: bool,
    sync: Option<Run>,
    backups: Vec<Backup>,
    alerts: Vec<Alert>,
}

/// A job's last run and last success (UTC, ISO 8601).
#[derive(Serialize)]
struct Run {
    last_status: String,
    last_started_at: String,
    last_ok_at: Option<String>,
    consecutive_failures: u32,
}

#[derive(Serialize)]
struct Backup {
    repository: String,
    last_ok_at: Option<String>,
    last_snapshot: Option<String>,
    consecutive_failures: u32,
    check_ok: Option<bool>,
}

#[derive(Serialize)]
struct Alert {
    kind: String,
    message: String,
    opened_at: String,
}

fn iso(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) async fn run(args: StatusArgs) -> Result<(), Failure> {
    let state = startup::prepare(load(&args.config)?).await?;
    let pool = &state.pool;
    let sync = crate::runs::health(pool, "inventory_poll").await.map_err(anyhow::Error::from)?.map(|h| Run {
        last_status: h.last_status,
        last_started_at: iso(h.last_started_at),
        last_ok_at: h.last_ok_at.map(iso),
        consecutive_failures: h.consecutive_failures,
    });
    let backups = crate::backup::state::repositories(pool)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|r| Backup {
            check_ok: r.checked_at.map(|_| r.check_error.is_none()),
            repository: r.name,
            last_ok_at: r.last_ok_at.map(iso),
            last_snapshot: r.last_snapshot,
            consecutive_failures: r.consecutive_failures,
        })
        .collect();
    let alerts = crate::alerts::open(pool)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|(kind, message, opened_at)| Alert { kind, message, opened_at: iso(opened_at) })
        .collect();
    let status = Status {
        tenant: state.config.tenant.id.to_string(),
        version: env!("CARGO_PKG_VERSION"),
        schema_current: crate::db::migrations_current(pool).await.map_err(anyhow::Error::from)?,
        sync,
        backups,
        alerts,
    };
    if args.json {
        println!("{}", serde_json::to_string(&status).map_err(anyhow::Error::from)?);
        return Ok(());
    }
    let or_never = |t: &Option<String>| t.clone().unwrap_or_else(|| "never".into());
    println!("tenant    {} (qm {}, schema {})", status.tenant, status.version, if status.schema_current { "current" } else { "behind" });
    match &status.sync {
        Some(s) => println!(
            "sync      last run {} {}, last success {}, {} failed in a row",
            s.last_started_at,
            s.last_status,
            or_never(&s.last_ok_at),
            s.consecutive_failures
        ),
        None => println!("sync      never ran"),
    }
    if status.backups.is_empty() {
        println!("backup    none yet");
    }
    for b in &status.backups {
        let check = match b.check_ok {
            Some(true) => "check ok",
            Some(false) => "check FAILED",
            None => "never checked",
        };
        println!(
            "backup    {}: last good {} ({}), {} failed in a row, {check}",
            b.repository,
            or_never(&b.last_ok_at),
            b.last_snapshot.as_deref().unwrap_or("-"),
            b.consecutive_failures
        );
    }
    println!("alerts    {} open", status.alerts.len());
    for a in &status.alerts {
        println!("          [{}] {} (since {})", a.kind, a.message, a.opened_at);
    }
    Ok(())
}
