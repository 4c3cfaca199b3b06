//! The `backup` section: restic repositories, retention, the store's part, offsite.

use std::path::PathBuf;

use serde::Deserialize;

use super::{SecretRef, default_db_port};

/// Automated backups with restic: one encrypted, deduplicated repository per
/// tenant (and optionally a second one offsite on S3-compatible storage),
/// each run one snapshot of both databases, the store's `wp-content`, the
/// data directory and the tenant file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// The local restic repository: a folder (in the stack, on the `backups`
    /// volume) or any location restic takes (`sftp:…`, `s3:…`).
    #[serde(default = "default_backup_repository")]
    pub repository: String,
    /// The repository's password (encrypts everything in it).
    pub password: SecretRef,
    /// Where dumps are staged before restic reads them, restic's cache and
    /// restores are unpacked (in the stack, on the `backups` volume).
    #[serde(default = "default_backup_work_dir")]
    pub work_dir: PathBuf,
    /// `restic forget --keep-daily`...
    #[serde(default = "default_keep_daily")]
    pub keep_daily: u32,
    /// ...`--keep-weekly`...
    #[serde(default = "default_keep_weekly")]
    pub keep_weekly: u32,
    /// ...and `--keep-monthly`, then `prune`.
    #[serde(default = "default_keep_monthly")]
    pub keep_monthly: u32,
    /// `--keep-last`: also keep this many newest snapshots, whatever their day (0: none beyond the policy).
    #[serde(default)]
    pub keep_last: u32,
    /// `restic check --read-data-subset` of the scheduled check (`5%`, `1/10`, `100%`).
    #[serde(default = "default_check_subset")]
    pub check_subset: String,
    /// No successful backup (or offsite copy) for this long raises an alert.
    #[serde(default = "default_backup_max_age")]
    pub max_age_hours: u32,
    /// The store: its database and `wp-content` go into every snapshot.
    pub wordpress: Option<WordpressBackup>,
    /// A second repository on S3-compatible object storage, each snapshot copied there.
    pub offsite: Option<Offsite>,
}

/// The store's part of a backup.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordpressBackup {
    pub database: BackupDatabase,
    /// The store's `wp-content` as the ops container sees it (in the stack,
    /// the `wp_data` volume mounted read-only at /srv/wordpress).
    #[serde(default = "default_wp_content")]
    pub content_dir: PathBuf,
}

/// A database reached with a user that may read it (SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupDatabase {
    pub host: String,
    #[serde(default = "default_db_port")]
    pub port: u16,
    pub name: String,
    pub user: String,
    pub password: SecretRef,
}

/// The offsite repository (Cloudflare R2, S3, MinIO, any S3 API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offsite {
    /// `s3:https://<endpoint>/<bucket>/<prefix>`.
    pub repository: String,
    /// Its password; the local repository's when unset.
    pub password: Option<SecretRef>,
    pub access_key_id: SecretRef,
    pub secret_access_key: SecretRef,
    /// The S3 region (R2 takes `auto`).
    #[serde(default = "default_offsite_region")]
    pub region: String,
}

fn default_backup_repository() -> String {
    "/var/backups/quartermaster/restic".into()
}
fn default_backup_work_dir() -> PathBuf {
    PathBuf::from("/var/backups/quartermaster/work")
}
fn default_wp_content() -> PathBuf {
    PathBuf::from("/srv/wordpress/wp-content")
}
fn default_offsite_region() -> String {
    "auto".into()
}
fn default_keep_daily() -> u32 {
    7
}
fn default_keep_weekly() -> u32 {
    4
}
fn default_keep_monthly() -> u32 {
    6
}
fn default_check_subset() -> String {
    "5%".into()
}
fn default_backup_max_age() -> u32 {
    26
}
