//! Automated backups (job `backup`): a consistent dump of the tenant's
//! database (`mariadb-dump --single-transaction`, gzip) and an archive of the
//! data directory, written to `backup.directory` as one folder per backup
//! (`<tenant>-<UTC stamp>/` with a `manifest.json` of sizes and SHA-256s),
//! optionally copied to `backup.copy_to`, then pruned to the newest backup of
//! each of the last `keep_daily` days and `keep_weekly` ISO weeks.
//! `scripts/restore` puts one back.

use std::{collections::BTreeSet, path::Path, process::Stdio};

use chrono::{Datelike, NaiveDateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::{io::AsyncReadExt, process::Command};

use crate::{
    config::{Backup, LoadedConfig, resolve::Secrets},
    db::DumpTarget,
};

const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// Why a backup failed; the message names the step and the tool's own words.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{step}: {source}")]
    Io { step: String, source: std::io::Error },
    #[error("{tool} failed ({status}): {stderr}")]
    Tool { tool: &'static str, status: String, stderr: String },
    #[error("{0}")]
    Target(#[from] crate::db::DbTargetError),
}

fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let step = step.into();
    move |source| BackupError::Io { step, source }
}

/// One file of a backup.
#[derive(Debug, Serialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a run did (the job's summary).
#[derive(Debug, Serialize)]
pub struct Taken {
    pub backup: String,
    pub files: Vec<FileEntry>,
    pub copied_to: Option<String>,
    pub kept: usize,
    pub deleted: Vec<String>,
}

/// Takes one backup of the tenant's database (as `loaded` and its `secrets`
/// reach it) and data folder now, and prunes old ones.
pub async fn run(loaded: &LoadedConfig, secrets: &Secrets, cfg: &Backup) -> Result<Taken, BackupError> {
    let tenant = loaded.config.tenant.id.as_str();
    let target = crate::db::dump_target(loaded, secrets)?;
    let now = Utc::now().naive_utc();
    let name = format!("{tenant}-{}", now.format(STAMP));
    let partial = cfg.directory.join(format!("{name}.partial"));
    tokio::fs::create_dir_all(&partial).await.map_err(io(format!("creating {}", partial.display())))?;
    let result = take(&partial, &target, &loaded.data_dir(), tenant, now).await;
    let files = match result {
        Ok(f) => f,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            return Err(e);
        }
    };
    let done = cfg.directory.join(&name);
    tokio::fs::rename(&partial, &done).await.map_err(io(format!("renaming {}", partial.display())))?;
    let copied_to = match &cfg.copy_to {
        Some(remote) => {
            let dest = remote.join(&name);
            copy_dir(&done, &dest).await?;
            Some(dest.display().to_string())
        }
        None => None,
    };
    let (kept, deleted) = prune(&cfg.directory, tenant, cfg.keep_daily, cfg.keep_weekly).await?;
    if let Some(remote) = &cfg.copy_to {
        prune(remote, tenant, cfg.keep_daily, cfg.keep_weekly).await?;
    }
    Ok(Taken { backup: name, files, copied_to, kept, deleted })
}

async fn take(dir: &Path, db: &DumpTarget, data_dir: &Path, tenant: &str, at: NaiveDateTime) -> Result<Vec<FileEntry>, BackupError> {
    let dump = dir.join("database.sql.gz");
    let file = std::fs::File::create(&dump).map_err(io(format!("creating {}", dump.display())))?;
    let mut dumper = Command::new("mariadb-dump")
        .args(["--single-transaction", "--routines", "--triggers", "--hex-blob", "--no-tablespaces", "--default-character-set=utf8mb4"])
        .arg(format!("--host={}", db.host))
        .arg(format!("--port={}", db.port))
        .arg(format!("--user={}", db.user))
        .arg(&db.database)
        .env("MYSQL_PWD", db.password.expose())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io("starting mariadb-dump (install mariadb-client)"))?;
    let out: Stdio = dumper.stdout.take().expect("piped").try_into().map_err(io("piping mariadb-dump"))?;
    let mut gzip = Command::new("gzip")
        .arg("-c")
        .stdin(out)
        .stdout(file)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(io("starting gzip"))?;
    let mut err = String::new();
    if let Some(mut e) = dumper.stderr.take() {
        let _ = e.read_to_string(&mut err).await;
    }
    let status = dumper.wait().await.map_err(io("waiting for mariadb-dump"))?;
    let gz = gzip.wait().await.map_err(io("waiting for gzip"))?;
    if !status.success() {
        return Err(BackupError::Tool { tool: "mariadb-dump", status: status.to_string(), stderr: tail(&err) });
    }
    if !gz.success() {
        return Err(BackupError::Tool { tool: "gzip", status: gz.to_string(), stderr: String::new() });
    }
    let archive = dir.join("data.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(data_dir)
        .arg(".")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(io("starting tar"))?;
    // 1: some file changed while it was read (a cache being rewritten); the archive is still whole.
    if !(tar.status.success() || tar.status.code() == Some(1)) {
        return Err(BackupError::Tool { tool: "tar", status: tar.status.to_string(), stderr: tail(&String::from_utf8_lossy(&tar.stderr)) });
    }
    let mut files = Vec::new();
    for p in [&dump, &archive] {
        files.push(entry(p).await?);
    }
    let manifest = serde_json::json!({
        "tenant": tenant,
        "taken_at": at.and_utc().to_rfc3339(),
        "database": db.database,
        "migration": crate::db::MIGRATOR.iter().map(|m| m.version).max(),
        "files": files,
    });
    let path = dir.join("manifest.json");
    tokio::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap_or_default()).await.map_err(io("writing manifest.json"))?;
    Ok(files)
}

fn tail(s: &str) -> String {
    let t = s.trim();
    let start = t.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
    t[start..].to_owned()
}

/// A file's size and SHA-256, read in blocks (a data archive may be larger than memory).
async fn entry(p: &Path) -> Result<FileEntry, BackupError> {
    let mut file = tokio::fs::File::open(p).await.map_err(io(format!("reading {}", p.display())))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).await.map_err(io(format!("reading {}", p.display())))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileEntry {
        name: p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        bytes,
        sha256: hex::encode(hash.finalize()),
    })
}

async fn copy_dir(from: &Path, to: &Path) -> Result<(), BackupError> {
    let partial = to.with_extension("partial");
    tokio::fs::create_dir_all(&partial).await.map_err(io(format!("creating {}", partial.display())))?;
    let mut rd = tokio::fs::read_dir(from).await.map_err(io(format!("reading {}", from.display())))?;
    while let Some(e) = rd.next_entry().await.map_err(io(format!("reading {}", from.display())))? {
        tokio::fs::copy(e.path(), partial.join(e.file_name())).await.map_err(io(format!("copying to {}", partial.display())))?;
    }
    tokio::fs::rename(&partial, to).await.map_err(io(format!("renaming {}", partial.display())))
}

/// The backups of `tenant` in `dir`, newest first: (folder name, when taken).
pub fn list(dir: &Path, tenant: &str) -> Vec<(String, NaiveDateTime)> {
    let prefix = format!("{tenant}-");
    let mut out: Vec<(String, NaiveDateTime)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let at = NaiveDateTime::parse_from_str(name.strip_prefix(&prefix)?, STAMP).ok()?;
            Some((name, at))
        })
        .collect();
    out.sort_by_key(|b| std::cmp::Reverse(b.1));
    out
}

/// Which backups to keep: the newest of each of the `daily` most recent
/// days that have one, and the newest of each of the `weekly` most recent
/// ISO weeks that have one. `taken` is newest first.
pub fn retain(taken: &[NaiveDateTime], daily: u32, weekly: u32) -> BTreeSet<usize> {
    let mut keep = BTreeSet::new();
    let mut days = BTreeSet::new();
    let mut weeks = BTreeSet::new();
    for (i, t) in taken.iter().enumerate() {
        let day = t.date();
        if !days.contains(&day) && days.len() < daily as usize {
            days.insert(day);
            keep.insert(i);
        }
        let week = (t.iso_week().year(), t.iso_week().week());
        if !weeks.contains(&week) && weeks.len() < weekly as usize {
            weeks.insert(week);
            keep.insert(i);
        }
    }
    keep
}

async fn prune(dir: &Path, tenant: &str, daily: u32, weekly: u32) -> Result<(usize, Vec<String>), BackupError> {
    let all = list(dir, tenant);
    let keep = retain(&all.iter().map(|(_, t)| *t).collect::<Vec<_>>(), daily, weekly);
    let mut deleted = Vec::new();
    for (i, (name, _)) in all.iter().enumerate() {
        if !keep.contains(&i) {
            tokio::fs::remove_dir_all(dir.join(name)).await.map_err(io(format!("deleting {name}")))?;
            deleted.push(name.clone());
        }
    }
    Ok((keep.len(), deleted))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeDelta};

    use super::retain;

    #[test]
    fn keeps_the_newest_of_each_recent_day_and_week() {
        // Four backups a day for 60 days, newest first.
        let start = NaiveDate::from_ymd_opt(2026, 12, 3).and_then(|d| d.and_hms_opt(23, 0, 0)).expect("a date");
        let taken: Vec<_> = (0..240).map(|i| start - TimeDelta::hours(6 * i)).collect();
        let keep = retain(&taken, 7, 4);
        let kept: Vec<_> = keep.iter().map(|&i| taken[i]).collect();
        // The 7 newest days each keep their newest (23:00) backup...
        for d in 0..7 {
            assert!(kept.contains(&(start - TimeDelta::days(d))), "day {d} kept");
        }
        // ...and no day keeps two.
        let mut days: Vec<_> = kept.iter().map(|t| t.date()).collect();
        days.dedup();
        assert_eq!(days.len(), kept.len());
        // 2026-12-03 is a Thursday: the days kept cover ISO weeks 49 and 48;
        // weeks 47 and 46 keep their newest (Sunday 23:00) backup.
        for day in [22, 15] {
            let sunday = NaiveDate::from_ymd_opt(2026, 11, day).and_then(|d| d.and_hms_opt(23, 0, 0)).expect("a date");
            assert!(kept.contains(&sunday), "{sunday}");
        }
        assert_eq!(kept.len(), 7 + 2);
        assert!(retain(&taken, 0, 0).is_empty());
        assert_eq!(retain(&taken[..1], 7, 4).len(), 1);
    }
}
