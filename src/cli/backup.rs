//! `qm backup now|snapshots|check|unpack`: the tenant's restic backups by hand
//! (the jobs `backup` and `backup_check` do the same on their schedules).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use super::{Failure, load};
use crate::{
    backup::{Backups, Source},
    config::{LoadedConfig, resolve::Resolver, resolve::Secrets},
    db::lock::{self, LockError, LockGuard, LockName},
    runs::JobName,
};

/// How long a backup or check by hand waits for a running one.
const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The tenant's backup lock, the one the `backup` and `backup_check` jobs
/// take: a backup or check by hand waits for the scheduled one (restic would
/// refuse a check while a backup holds its repository lock), and the
/// scheduler skips while this one runs.
async fn turn(loaded: &LoadedConfig, secrets: &Secrets) -> Result<LockGuard, Failure> {
    let options = crate::db::connect_options(Some(loaded), secrets).map_err(|e| Failure::Usage(e.to_string()))?;
    let name = LockName::new(&loaded.config.tenant.id.to_string(), JobName::Backup.lock_name()).map_err(anyhow::Error::from)?;
    match lock::acquire(&options, &name, std::time::Duration::ZERO).await {
        Ok(g) => return Ok(g),
        Err(LockError::Busy { .. }) => eprintln!("a backup or check is running; waiting for it (up to {} min)", TURN_WAIT.as_secs() / 60),
        Err(e) => return Err(Failure::Failed(e.into())),
    }
    lock::acquire(&options, &name, TURN_WAIT).await.map_err(|e| Failure::Failed(anyhow::Error::from(e).context("the backup lock")))
}

#[derive(Debug, Subcommand)]
pub(super) enum BackupCommand {
    /// Take a backup now (tagged kind=manual): one snapshot of both
    /// databases, wp-content, the data directory and the tenant file, then
    /// the offsite copy. Waits its turn behind a running scheduled backup
    /// or check. Exits 1 when either half failed, naming it.
    Now {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
    /// List the tenant's snapshots in one repository (id, time, tags).
    Snapshots {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "local")]
        from: Source,
    },
    /// `restic check --read-data-subset backup.check_subset` of each
    /// repository, after a running backup finishes; exits 1 when one found damage.
    Check {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
    /// Unpack a snapshot into a folder as ops.sql, wordpress.sql,
    /// tenant.yaml, backup.json, data/ and wp-content/ (scripts/restore
    /// loads them into a stack).
    Unpack {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// A snapshot id, or `latest`.
        #[arg(long, default_value = "latest")]
        snapshot: String,
        #[arg(long, value_enum, default_value = "local")]
        from: Source,
        /// The folder to unpack into (emptied first).
        #[arg(long)]
        target: PathBuf,
    },
}

async fn open(config: &Path) -> Result<(LoadedConfig, Secrets), Failure> {
    let loaded = load(config)?;
    if loaded.config.backup.is_none() {
        return Err(Failure::Usage(format!(
            "{}: there is no `backup` section: add backup: {{password: ref+vault://…}} (tenant-configs/README.md)",
            config.display()
        )));
    }
    let mut resolver = Resolver::for_config(&loaded);
    let (secrets, failures) = resolver.resolve_all(&loaded).await;
    if let Some((key, e)) = failures.iter().find(|(k, _)| k.starts_with("backup.") || *k == "database.password") {
        return Err(Failure::Failed(anyhow::anyhow!("{key} did not resolve: {e}")));
    }
    Ok((loaded, secrets))
}

pub(super) async fn run(cmd: BackupCommand) -> Result<(), Failure> {
    match cmd {
        BackupCommand::Now { config } => {
            let (loaded, secrets) = open(&config).await?;
            let pool = super::connect(Some(&config)).await?;
            let _turn = turn(&loaded, &secrets).await?;
            let taken = Backups::new(&loaded, &secrets).map_err(anyhow::Error::from)?.run(&pool, "manual").await.context("backup")?;
            println!("{}", serde_json::to_string_pretty(&taken).unwrap_or_default());
        }
        BackupCommand::Snapshots { config, from } => {
            let (loaded, secrets) = open(&config).await?;
            let snaps = Backups::new(&loaded, &secrets).map_err(anyhow::Error::from)?.snapshots(from).await.context("snapshots")?;
            for s in &snaps {
                println!("{}  {}  {}", s.short_id, s.time, s.tags.join(","));
            }
            println!("{} snapshot(s)", snaps.len());
        }
        BackupCommand::Check { config } => {
            let (loaded, secrets) = open(&config).await?;
            let pool = super::connect(Some(&config)).await?;
            let _turn = turn(&loaded, &secrets).await?;
            let checked = Backups::new(&loaded, &secrets).map_err(anyhow::Error::from)?.check(&pool).await.context("check")?;
            for (repo, result) in &checked.repositories {
                println!("{repo}: {result} (read {})", checked.subset);
            }
        }
        BackupCommand::Unpack { config, snapshot, from, target } => {
            let (loaded, secrets) = open(&config).await?;
            let layout =
                Backups::new(&loaded, &secrets).map_err(anyhow::Error::from)?.unpack(from, &snapshot, &target).await.context("unpack")?;
            println!(
                "unpacked {snapshot} of {} taken {} ({}) into {}: {}",
                layout.tenant,
                layout.taken_at,
                layout.kind,
                target.display(),
                layout.databases.join(" and ")
            );
        }
    }
    Ok(())
}
