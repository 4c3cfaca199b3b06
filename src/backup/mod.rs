//! Whole-tenant backups with restic (jobs `backup` and `backup_check`).
//!
//! A run stages consistent dumps of the ops database and the store's
//! database (`mariadb-dump --single-transaction`, plain SQL so restic
//! deduplicates them between runs), the tenant file and a `backup.json`
//! describing the layout, then takes **one** restic snapshot of the staging
//! folder, the data directory and the store's `wp-content`, tagged with the
//! tenant and the kind. restic encrypts, deduplicates, and writes a snapshot
//! only once everything it names is stored: a run killed mid-way leaves no
//! snapshot to restore. Retention is restic's `forget --prune`; the offsite
//! repository (S3-compatible) receives every snapshot with `restic copy`.
//! What each repository last did is in `backup_repositories` ([`state`]),
//! for the alerts, the dashboard and Prometheus.

pub mod restic;
pub mod state;

use std::{path::Path, path::PathBuf, process::Stdio, time::Duration};

use chrono::Utc;
use serde::Serialize;
use sqlx::MySqlPool;
use tokio::process::Command;

use self::restic::{Keep, Repo, Snapshot};
use crate::config::{Backup, LoadedConfig, Secret, resolve::Secrets};

/// Why a backup step failed; the message names the step and the tool's own words.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{step}: {source}")]
    Io { step: String, source: std::io::Error },
    #[error("{tool} failed ({status}): {stderr}")]
    Tool { tool: &'static str, status: String, stderr: String },
    #[error("restic {step} ({repo} repository) failed ({status}): {stderr}")]
    Restic { repo: &'static str, step: &'static str, status: String, stderr: String },
    #[error("{0}")]
    Target(#[from] crate::db::DbTargetError),
    #[error("{0} did not resolve (see `qm config check`)")]
    Unresolved(&'static str),
    #[error("the tenant file has no `backup` section")]
    NotConfigured,
    #[error("the tenant file has no `backup.offsite` section")]
    NoOffsite,
    #[error("the local snapshot {snapshot} landed, but the offsite copy failed: {reason}")]
    Offsite { snapshot: String, reason: String },
    #[error("{0}")]
    Layout(String),
    #[error("recording the run: {0}")]
    Db(#[from] sqlx::Error),
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let step = step.into();
    move |source| BackupError::Io { step, source }
}

/// The last 400 characters of a tool's stderr.
fn tail(s: &str) -> String {
    let t = s.trim();
    let start = t.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
    t[start..].to_owned()
}

/// Which repository to read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    Local,
    Offsite,
}

/// What a backup run did (the job's summary).
#[derive(Debug, Serialize)]
pub struct Taken {
    pub snapshot: String,
    pub kind: String,
    pub holds: Vec<String>,
    pub files: u64,
    pub bytes_processed: u64,
    pub bytes_added: u64,
    pub seconds: f64,
    pub local_snapshots: u32,
    pub local_bytes: Option<u64>,
    pub offsite: Option<String>,
}

/// What `restic check` found, per repository.
#[derive(Debug, Serialize)]
pub struct Checked {
    pub subset: String,
    pub repositories: Vec<(String, String)>,
}

/// The layout a snapshot records in its `backup.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Layout {
    pub tenant: String,
    pub taken_at: String,
    pub kind: String,
    pub migration: Option<i64>,
    pub staging: PathBuf,
    pub data_dir: PathBuf,
    pub wp_content: Option<PathBuf>,
    pub databases: Vec<String>,
}

/// One tenant's backups: its file, its secrets, its `backup` section.
pub struct Backups<'a> {
    loaded: &'a LoadedConfig,
    secrets: &'a Secrets,
    cfg: &'a Backup,
}

impl<'a> Backups<'a> {
    pub fn new(loaded: &'a LoadedConfig, secrets: &'a Secrets) -> Result<Self, BackupError> {
        let cfg = loaded.config.backup.as_ref().ok_or(BackupError::NotConfigured)?;
        Ok(Self { loaded, secrets, cfg })
    }

    fn host(&self) -> &str {
        self.loaded.config.tenant.id.as_str()
    }

    /// Whether this replica is on the node that holds the store's files (and
    /// so the local repository beside them). Under swarm, ops replicas move
    /// between nodes while the store's volume stays on its data node; a
    /// replica elsewhere finds `content_dir` empty (a fresh local volume) and
    /// leaves the backup and its check to a replica on the data node.
    pub fn here(&self) -> Result<(), String> {
        let Some(wp) = &self.cfg.wordpress else { return Ok(()) };
        let has_files = std::fs::read_dir(&wp.content_dir).is_ok_and(|mut d| d.next().is_some());
        if has_files {
            Ok(())
        } else {
            Err(format!(
                "the store's files ({}) are not on this node; a replica on the tenant's data node backs up",
                wp.content_dir.display()
            ))
        }
    }

    fn secret(&self, path: &'static str) -> Result<Secret, BackupError> {
        self.secrets.get(path).cloned().ok_or(BackupError::Unresolved(path))
    }

    fn cache(&self) -> PathBuf {
        self.cfg.work_dir.join("cache")
    }

    /// The local repository.
    pub fn local(&self) -> Result<Repo, BackupError> {
        Ok(Repo::new("local", self.cfg.repository.clone(), self.secret("backup.password")?, &self.cache()))
    }

    /// The offsite repository, when configured.
    pub fn offsite(&self) -> Result<Option<Repo>, BackupError> {
        let Some(o) = &self.cfg.offsite else { return Ok(None) };
        let password = match o.password {
            Some(_) => self.secret("backup.offsite.password")?,
            None => self.secret("backup.password")?,
        };
        Ok(Some(Repo::new("offsite", o.repository.clone(), password, &self.cache()).with_s3(
            self.secret("backup.offsite.access_key_id")?,
            self.secret("backup.offsite.secret_access_key")?,
            &o.region,
        )))
    }

    fn repo(&self, from: Source) -> Result<Repo, BackupError> {
        match from {
            Source::Local => self.local(),
            Source::Offsite => self.offsite()?.ok_or(BackupError::NoOffsite),
        }
    }

    fn keep(&self) -> Keep {
        Keep { daily: self.cfg.keep_daily, weekly: self.cfg.keep_weekly, monthly: self.cfg.keep_monthly, last: self.cfg.keep_last }
    }

    /// One backup now: stage the dumps, snapshot, forget by the policy, copy
    /// offsite. Each repository's outcome is recorded; a failed offsite copy
    /// fails the run after the local snapshot has landed (and says so).
    pub async fn run(&self, pool: &MySqlPool, kind: &str) -> Result<Taken, BackupError> {
        let local = self.local()?;
        let result = self.take(&local, kind).await;
        let (taken, layout) = match result {
            Ok(t) => t,
            Err(e) => {
                state::failed(pool, local.name, &local.location, &e.to_string()).await?;
                return Err(e);
            }
        };
        let snaps = local.snapshots(self.host()).await.map(|s| s.len() as u32).unwrap_or(0);
        let size = local.size().await.ok();
        state::succeeded(pool, local.name, &local.location, &taken.snapshot_id, snaps, size).await?;
        let mut holds = vec!["ops database".to_owned(), "data directory".to_owned(), "tenant file".to_owned()];
        if layout.wp_content.is_some() {
            holds.splice(1..1, ["store database".to_owned(), "wp-content".to_owned()]);
        }
        let mut out = Taken {
            snapshot: taken.snapshot_id.clone(),
            kind: kind.to_owned(),
            holds,
            files: taken.total_files_processed,
            bytes_processed: taken.total_bytes_processed,
            bytes_added: taken.data_added,
            seconds: taken.total_duration,
            local_snapshots: snaps,
            local_bytes: size,
            offsite: None,
        };
        let off = match self.offsite() {
            Ok(off) => off,
            // Its credentials did not resolve: the local snapshot still stands, and the run says so.
            Err(e) => return Err(BackupError::Offsite { snapshot: taken.snapshot_id, reason: e.to_string() }),
        };
        if let Some(off) = off {
            match self.copy_offsite(&local, &off).await {
                Ok((n, size)) => {
                    state::succeeded(pool, off.name, &off.location, &taken.snapshot_id, n, size).await?;
                    out.offsite = Some(format!("{} snapshots at {}", n, off.location));
                }
                Err(e) => {
                    state::failed(pool, off.name, &off.location, &e.to_string()).await?;
                    return Err(BackupError::Offsite { snapshot: taken.snapshot_id, reason: e.to_string() });
                }
            }
        }
        Ok(out)
    }

    async fn take(&self, local: &Repo, kind: &str) -> Result<(restic::BackupSummary, Layout), BackupError> {
        let staging = self.cfg.work_dir.join("staging");
        // What a killed run left behind is stale: start clean.
        if staging.exists() {
            tokio::fs::remove_dir_all(&staging).await.map_err(io(format!("clearing {}", staging.display())))?;
        }
        tokio::fs::create_dir_all(&staging).await.map_err(io(format!("creating {}", staging.display())))?;
        tokio::fs::create_dir_all(self.cache()).await.map_err(io("creating restic's cache folder"))?;
        let result = self.stage_and_snapshot(local, kind, &staging).await;
        let _ = tokio::fs::remove_dir_all(&staging).await;
        let taken = result?;
        if let Err(e) = local.forget(self.host(), &self.keep()).await {
            tracing::warn!(error = %e, "forget/prune of the local repository failed; the snapshot stands");
        }
        Ok(taken)
    }

    async fn stage_and_snapshot(&self, local: &Repo, kind: &str, staging: &Path) -> Result<(restic::BackupSummary, Layout), BackupError> {
        let ops = crate::db::dump_target(self.loaded, self.secrets)?;
        dump(&ops.host, ops.port, &ops.user, &ops.password, &ops.database, &staging.join("ops.sql")).await?;
        let mut databases = vec!["ops".to_owned()];
        let mut paths: Vec<PathBuf> = vec![staging.to_owned(), self.loaded.data_dir()];
        let mut wp_content = None;
        if let Some(wp) = &self.cfg.wordpress {
            let pw = self.secret("backup.wordpress.database.password")?;
            let db = &wp.database;
            dump(&db.host, db.port, &db.user, &pw, &db.name, &staging.join("wordpress.sql")).await?;
            databases.push("wordpress".into());
            if !wp.content_dir.is_dir() {
                return Err(BackupError::Layout(format!(
                    "backup.wordpress.content_dir {} is not a folder here (the stack mounts wp_data at /srv/wordpress)",
                    wp.content_dir.display()
                )));
            }
            self.here().map_err(BackupError::Layout)?;
            paths.push(wp.content_dir.clone());
            wp_content = Some(wp.content_dir.clone());
        }
        tokio::fs::copy(&self.loaded.path, staging.join("tenant.yaml")).await.map_err(io("copying the tenant file"))?;
        let layout = Layout {
            tenant: self.host().to_owned(),
            taken_at: Utc::now().to_rfc3339(),
            kind: kind.to_owned(),
            migration: crate::db::MIGRATOR.iter().map(|m| m.version).max(),
            staging: staging.to_owned(),
            data_dir: self.loaded.data_dir(),
            wp_content,
            databases,
        };
        let json = serde_json::to_vec_pretty(&layout).unwrap_or_default();
        tokio::fs::write(staging.join("backup.json"), json).await.map_err(io("writing backup.json"))?;
        local.open_or_init(None).await?;
        let tags = [format!("tenant={}", self.host()), format!("kind={kind}")];
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let summary = local.backup(&refs, self.host(), &tags, Duration::from_secs(3 * 3600)).await?;
        Ok((summary, layout))
    }

    async fn copy_offsite(&self, local: &Repo, off: &Repo) -> Result<(u32, Option<u64>), BackupError> {
        off.open_or_init(Some(local)).await?;
        off.copy_from(local, self.host(), Duration::from_secs(3 * 3600)).await?;
        off.forget(self.host(), &self.keep()).await?;
        let n = off.snapshots(self.host()).await?.len() as u32;
        Ok((n, off.size().await.ok()))
    }

    /// `restic check --read-data-subset` of each repository; each result
    /// recorded. Fails when any check failed.
    pub async fn check(&self, pool: &MySqlPool) -> Result<Checked, BackupError> {
        let subset = self.cfg.check_subset.clone();
        let mut repos = vec![self.local()?];
        repos.extend(self.offsite()?);
        let mut out = Checked { subset: subset.clone(), repositories: Vec::new() };
        let mut first_error = None;
        for r in &repos {
            match r.check(&subset).await {
                Ok(()) => {
                    state::checked(pool, r.name, &r.location, None).await?;
                    out.repositories.push((r.name.to_owned(), "no errors".into()));
                }
                Err(e) => {
                    state::checked(pool, r.name, &r.location, Some(&e.to_string())).await?;
                    out.repositories.push((r.name.to_owned(), e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// The tenant's snapshots in one repository, oldest first.
    pub async fn snapshots(&self, from: Source) -> Result<Vec<Snapshot>, BackupError> {
        self.repo(from)?.snapshots(self.host()).await
    }

    /// Unpacks `snapshot` (an id or `latest`) into `target` as
    /// `ops.sql`, `wordpress.sql`, `tenant.yaml`, `backup.json`, `data/`
    /// and `wp-content/`, for `scripts/restore` to load.
    pub async fn unpack(&self, from: Source, snapshot: &str, target: &Path) -> Result<Layout, BackupError> {
        let repo = self.repo(from)?;
        tokio::fs::create_dir_all(self.cache()).await.map_err(io("creating restic's cache folder"))?;
        if target.exists() {
            tokio::fs::remove_dir_all(target).await.map_err(io(format!("clearing {}", target.display())))?;
        }
        let raw = target.join(".restic");
        repo.restore(snapshot, self.host(), &raw).await?;
        let inside = |p: &Path| raw.join(p.strip_prefix("/").unwrap_or(p));
        let found = find_layout(&raw)
            .ok_or_else(|| BackupError::Layout(format!("snapshot {snapshot} holds no backup.json: not a Quartermaster backup")))?;
        let text = tokio::fs::read(&found).await.map_err(io("reading backup.json"))?;
        let layout: Layout = serde_json::from_slice(&text).map_err(|e| BackupError::Layout(format!("backup.json: {e}")))?;
        let staged = inside(&layout.staging);
        let mut rd = tokio::fs::read_dir(&staged).await.map_err(io(format!("reading {}", staged.display())))?;
        while let Some(e) = rd.next_entry().await.map_err(io("reading the restored staging folder"))? {
            tokio::fs::rename(e.path(), target.join(e.file_name())).await.map_err(io("moving a restored dump"))?;
        }
        move_or_make(&inside(&layout.data_dir), &target.join("data")).await?;
        if let Some(wp) = &layout.wp_content {
            move_or_make(&inside(wp), &target.join("wp-content")).await?;
        }
        tokio::fs::remove_dir_all(&raw).await.map_err(io("removing restic's restore folder"))?;
        Ok(layout)
    }
}

/// The offsite repository answers (the `backup_storage` probe): restic
/// opens it and counts the tenant's snapshots. `None` without `backup.offsite`.
pub async fn probe_offsite(config: &crate::config::TenantConfig, secrets: &Secrets) -> Option<Result<String, String>> {
    let b = config.backup.as_ref()?;
    let o = b.offsite.as_ref()?;
    let get = |k: &'static str| secrets.get(k).cloned().ok_or_else(|| format!("{k} did not resolve"));
    let repo = (|| -> Result<Repo, String> {
        let password = if o.password.is_some() { get("backup.offsite.password")? } else { get("backup.password")? };
        Ok(Repo::new("offsite", o.repository.clone(), password, &b.work_dir.join("cache")).with_s3(
            get("backup.offsite.access_key_id")?,
            get("backup.offsite.secret_access_key")?,
            &o.region,
        ))
    })();
    let repo = match repo {
        Ok(r) => r,
        Err(e) => return Some(Err(e)),
    };
    Some(match repo.snapshots(config.tenant.id.as_str()).await {
        Ok(s) => Ok(format!("{} snapshot(s) at {}", s.len(), o.repository)),
        Err(e) => Err(e.to_string()),
    })
}

async fn move_or_make(from: &Path, to: &Path) -> Result<(), BackupError> {
    if from.exists() {
        tokio::fs::rename(from, to).await.map_err(io(format!("moving {}", from.display())))
    } else {
        tokio::fs::create_dir_all(to).await.map_err(io(format!("creating {}", to.display())))
    }
}

/// The `backup.json` under a restored tree (the staging folder's path is the snapshot's own).
fn find_layout(root: &Path) -> Option<PathBuf> {
    let mut stack = vec![(root.to_owned(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let candidate = dir.join("backup.json");
        if candidate.is_file() && dir.join("ops.sql").is_file() {
            return Some(candidate);
        }
        if depth < 8 {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((e.path(), depth + 1));
                }
            }
        }
    }
    None
}

/// `mariadb-dump --single-transaction` of one database into `out`.
async fn dump(host: &str, port: u16, user: &str, password: &Secret, database: &str, out: &Path) -> Result<(), BackupError> {
    let file = std::fs::File::create(out).map_err(io(format!("creating {}", out.display())))?;
    let child = Command::new("mariadb-dump")
        .args([
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--no-tablespaces",
            "--default-character-set=utf8mb4",
        ])
        .arg(format!("--host={host}"))
        .arg(format!("--port={port}"))
        .arg(format!("--user={user}"))
        .arg(database)
        .env("MYSQL_PWD", password.expose())
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io("starting mariadb-dump (install mariadb-client)"))?;
    let done = child.wait_with_output().await.map_err(io("waiting for mariadb-dump"))?;
    if !done.status.success() {
        return Err(BackupError::Tool {
            tool: "mariadb-dump",
            status: format!("{} of {database}", done.status),
            stderr: tail(&String::from_utf8_lossy(&done.stderr)),
        });
    }
    Ok(())
}
