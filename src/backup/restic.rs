//! restic, driven as a command (Debian's `restic`): one [`Repo`] per
//! repository, its password and S3 credentials handed over in restic's own
//! environment variables (never on the command line, never in a message),
//! `--json` read back where restic offers it.

use std::{path::Path, process::Stdio, time::Duration};

use serde::Deserialize;
use tokio::process::Command;

use super::BackupError;
use crate::config::Secret;

/// One restic repository as this tenant reaches it.
pub struct Repo {
    /// `local` or `offsite`: its row in `backup_repositories`.
    pub name: &'static str,
    /// Where it is (a folder or `s3:…`); holds no credential.
    pub location: String,
    password: Secret,
    /// S3 credentials and region, for an `s3:` repository.
    env: Vec<(&'static str, Secret)>,
    cache: std::path::PathBuf,
}

/// A snapshot as `restic snapshots --json` lists it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Snapshot {
    pub id: String,
    pub short_id: String,
    pub time: String,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub hostname: String,
}

/// The last line of `restic backup --json`.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct BackupSummary {
    pub snapshot_id: String,
    #[serde(default)]
    pub files_new: u64,
    #[serde(default)]
    pub files_changed: u64,
    #[serde(default)]
    pub files_unmodified: u64,
    #[serde(default)]
    pub data_added: u64,
    #[serde(default)]
    pub total_files_processed: u64,
    #[serde(default)]
    pub total_bytes_processed: u64,
    #[serde(default)]
    pub total_duration: f64,
}

#[derive(Deserialize)]
struct Stats {
    total_size: u64,
}

/// What `forget --prune` keeps.
pub struct Keep {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
    pub last: u32,
}

impl Repo {
    pub fn new(name: &'static str, location: String, password: Secret, cache: &Path) -> Self {
        Self { name, location, password, env: Vec::new(), cache: cache.to_owned() }
    }

    /// Adds S3 credentials (restic reads AWS_* for `s3:` repositories).
    pub fn with_s3(mut self, key_id: Secret, secret_key: Secret, region: &str) -> Self {
        self.env.push(("AWS_ACCESS_KEY_ID", key_id));
        self.env.push(("AWS_SECRET_ACCESS_KEY", secret_key));
        self.env.push(("AWS_DEFAULT_REGION", Secret::new(region.to_owned())));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("restic");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("HOME", &self.cache)
            .env("RESTIC_REPOSITORY", &self.location)
            .env("RESTIC_PASSWORD", self.password.expose())
            .arg("--cache-dir")
            .arg(&self.cache)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v.expose());
        }
        cmd
    }

    /// Runs `restic ARGS` (with `extra` environment), bounded by `limit`;
    /// stdout on success, else an error naming the step with restic's own
    /// last words (any secret value scrubbed from them).
    async fn run(&self, step: &'static str, args: &[&str], extra: &[(&str, &Secret)], limit: Duration) -> Result<Vec<u8>, BackupError> {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in extra {
            cmd.env(k, v.expose());
        }
        let child = cmd.spawn().map_err(|e| BackupError::Io { step: format!("starting restic (install restic): {step}"), source: e })?;
        let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| BackupError::Io { step: format!("restic {step}"), source: e })?,
            Err(_) => {
                return Err(BackupError::Restic {
                    repo: self.name,
                    step,
                    status: "timed out".into(),
                    stderr: format!("no answer within {} s", limit.as_secs()),
                });
            }
        };
        if out.status.success() {
            return Ok(out.stdout);
        }
        let mut stderr = super::tail(&String::from_utf8_lossy(&out.stderr));
        for s in std::iter::once(&self.password).chain(self.env.iter().map(|(_, v)| v)).chain(extra.iter().map(|(_, v)| *v)) {
            if s.expose().len() >= 4 {
                stderr = stderr.replace(s.expose(), "[redacted]");
            }
        }
        Err(BackupError::Restic { repo: self.name, step, status: out.status.to_string(), stderr })
    }

    /// Opens the repository, creating it when there is none yet. `like`: a
    /// repository whose chunker parameters it takes (so `copy` deduplicates).
    pub async fn open_or_init(&self, like: Option<&Repo>) -> Result<bool, BackupError> {
        let opened = self.run("open", &["cat", "config"], &[], Duration::from_secs(120)).await;
        let Err(open_error) = opened else { return Ok(false) };
        let init = match like {
            Some(src) => {
                self.run(
                    "init",
                    &["init", "--copy-chunker-params", "--from-repo", &src.location],
                    &[("RESTIC_FROM_PASSWORD", &src.password)],
                    Duration::from_secs(120),
                )
                .await
            }
            None => self.run("init", &["init"], &[], Duration::from_secs(120)).await,
        };
        match init {
            Ok(_) => Ok(true),
            // It exists, so opening it failed for another reason (a wrong password): that is the error.
            Err(BackupError::Restic { stderr, .. }) if stderr.contains("already exists") || stderr.contains("already initialized") => {
                Err(open_error)
            }
            Err(e) => Err(e),
        }
    }

    /// `restic backup PATHS` as one snapshot of `host`, tagged.
    pub async fn backup(&self, paths: &[&Path], host: &str, tags: &[String], limit: Duration) -> Result<BackupSummary, BackupError> {
        let mut args: Vec<String> = vec!["backup".into(), "--json".into(), "--host".into(), host.into()];
        for t in tags {
            args.push("--tag".into());
            args.push(t.clone());
        }
        args.extend(paths.iter().map(|p| p.display().to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run("backup", &refs, &[], limit).await?;
        let text = String::from_utf8_lossy(&out);
        text.lines()
            .rev()
            .find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message_type"] == "summary").then(|| serde_json::from_value(v).ok()).flatten()
            })
            .ok_or_else(|| BackupError::Restic {
                repo: self.name,
                step: "backup",
                status: "no summary".into(),
                stderr: "restic printed no summary line".into(),
            })
    }

    /// The snapshots of `host`, oldest first.
    pub async fn snapshots(&self, host: &str) -> Result<Vec<Snapshot>, BackupError> {
        let out = self.run("snapshots", &["snapshots", "--json", "--host", host], &[], Duration::from_secs(300)).await?;
        serde_json::from_slice(&out).map_err(|e| BackupError::Restic {
            repo: self.name,
            step: "snapshots",
            status: "unreadable".into(),
            stderr: e.to_string(),
        })
    }

    /// `forget` by the tenant's policy, then `prune`.
    pub async fn forget(&self, host: &str, keep: &Keep) -> Result<(), BackupError> {
        let (d, w, m, l) = (keep.daily.to_string(), keep.weekly.to_string(), keep.monthly.to_string(), keep.last.to_string());
        // A run killed mid-way leaves its lock behind; unlock removes only stale ones.
        self.run("unlock", &["unlock"], &[], Duration::from_secs(120)).await?;
        self.run(
            "forget",
            &[
                "forget",
                "--host",
                host,
                "--group-by",
                "host",
                "--keep-daily",
                &d,
                "--keep-weekly",
                &w,
                "--keep-monthly",
                &m,
                "--keep-last",
                &l,
                "--prune",
            ],
            &[],
            Duration::from_secs(3600),
        )
        .await
        .map(drop)
    }

    /// Copies every snapshot of `host` that `from` has and this one lacks.
    pub async fn copy_from(&self, from: &Repo, host: &str, limit: Duration) -> Result<(), BackupError> {
        self.run("copy", &["copy", "--from-repo", &from.location, "--host", host], &[("RESTIC_FROM_PASSWORD", &from.password)], limit)
            .await
            .map(drop)
    }

    /// `restic check --read-data-subset SUBSET`.
    pub async fn check(&self, subset: &str) -> Result<(), BackupError> {
        self.run("unlock", &["unlock"], &[], Duration::from_secs(120)).await?;
        self.run("check", &["check", "--read-data-subset", subset], &[], Duration::from_secs(6 * 3600)).await.map(drop)
    }

    /// What the repository holds on its storage (`stats --mode raw-data`).
    pub async fn size(&self) -> Result<u64, BackupError> {
        let out = self.run("stats", &["stats", "--json", "--mode", "raw-data"], &[], Duration::from_secs(600)).await?;
        serde_json::from_slice::<Stats>(&out).map(|s| s.total_size).map_err(|e| BackupError::Restic {
            repo: self.name,
            step: "stats",
            status: "unreadable".into(),
            stderr: e.to_string(),
        })
    }

    /// Restores `snapshot` (an id or `latest`) of `host` under `target`.
    pub async fn restore(&self, snapshot: &str, host: &str, target: &Path) -> Result<(), BackupError> {
        let target = target.display().to_string();
        self.run("restore", &["restore", snapshot, "--host", host, "--target", &target], &[], Duration::from_secs(6 * 3600)).await.map(drop)
    }
}
