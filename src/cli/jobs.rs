//! `qm job list` and `qm job run NAME`: the fleet as the tenant runs it.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Failure, load};
use crate::{jobs, startup};

#[derive(Debug, Subcommand)]
pub(super) enum JobCommand {
    /// Every job this tenant runs: its schedule, its last run and how it ended,
    /// its last success and how many runs failed in a row since.
    List {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
    /// Runs one job now, as the scheduler does: under its lock (skipped when
    /// another replica runs it), bounded by its timeout, recorded in job_runs.
    /// Prints the run's summary; exits 1 when it failed.
    Run {
        /// The job's name, as `qm job list` shows it.
        name: String,
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
}

pub(super) async fn run(cmd: JobCommand) -> Result<(), Failure> {
    match cmd {
        JobCommand::List { config } => {
            let state = startup::prepare(load(&config)?).await?;
            println!(
                "{:<20} {:<16} {:<28} {:<8} {:>9} {:<28} failed in a row",
                "job", "schedule", "last run", "outcome", "took", "last success"
            );
            for jobs::Scheduled { name, schedule, .. } in jobs::fleet(&state)? {
                let h = crate::runs::health(&state.pool, name.as_str()).await.map_err(anyhow::Error::from)?;
                let (last, outcome, took, ok, failed) = match h {
                    Some(h) => (
                        state.local_time(h.last_started_at),
                        h.last_status.clone(),
                        h.last_finished_at
                            .map(|f| format!("{} ms", (f - h.last_started_at).num_milliseconds()))
                            .unwrap_or_else(|| "-".into()),
                        h.last_ok_at.map(|t| state.local_time(t)).unwrap_or_else(|| "never".into()),
                        h.consecutive_failures,
                    ),
                    None => ("never".into(), "-".into(), "-".into(), "never".into(), 0),
                };
                println!("{:<20} {:<16} {:<28} {:<8} {:>9} {:<28} {}", name.as_str(), schedule, last, outcome, took, ok, failed);
            }
            Ok(())
        }
        JobCommand::Run { name, config } => {
            let state = startup::prepare(load(&config)?).await?;
            let fleet = jobs::fleet(&state)?;
            let Some(job) = fleet.iter().find(|j| j.name.as_str() == name) else {
                let names: Vec<&str> = fleet.iter().map(|j| j.name.as_str()).collect();
                return Err(Failure::Usage(format!("no job `{name}` for this tenant; its jobs: {}", names.join(", "))));
            };
            match jobs::run_guarded(&jobs::Runner::of(&state), &name, job.job.as_ref()).await {
                Ok(jobs::Ran::Done(summary)) => {
                    println!("{name}: ok {summary}");
                    Ok(())
                }
                Ok(jobs::Ran::Skipped { holder, .. }) => {
                    println!("{name}: skipped: another replica holds its lock and is running it ({holder})");
                    Ok(())
                }
                Ok(jobs::Ran::NotHere { reason }) => {
                    println!("{name}: not run here: {reason}");
                    Ok(())
                }
                Err(e) => Err(Failure::Failed(e.context(format!("{name} failed (recorded in job_runs)")))),
            }
        }
    }
}
