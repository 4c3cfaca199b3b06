//! The `qm` command line: help, exit codes, operators, migrations.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use crate::helpers::TestDb;

fn qm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qm"));
    c.env_remove("QM_DATABASE_URL").env_remove("QM_CONFIG");
    c
}

#[test]
fn help_explains_every_verb() {
    let out = qm().arg("--help").output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for verb in ["serve", "migrate", "config", "operator", "demo"] {
        assert!(help.contains(verb), "{verb} missing from help:\n{help}");
    }
    let out = qm().args(["config", "check", "--help"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--resolve"));
}

#[test]
fn bad_arguments_and_missing_files_exit_2_with_one_clear_line() {
    let out = qm().arg("frobnicate").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = qm().args(["serve", "--config", "/no/such/tenant.yaml"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("qm: cannot read /no/such/tenant.yaml"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = qm().args(["migrate"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "no database given");
    assert!(String::from_utf8_lossy(&out.stderr).contains("QM_DATABASE_URL"));
}

#[tokio::test]
async fn migrate_and_operator_add_work_from_the_database_url() {
    let db = TestDb::empty().await;
    let out = qm().arg("migrate").env("QM_DATABASE_URL", db.url()).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(quartermaster::db::migrations_current(&db.pool).await.expect("query"));

    let add = |password: &str| {
        let mut child = qm()
            .args(["operator", "add", "--username", "priya", "--role", "back-office", "--display-name", "Priya N.", "--password-stdin"])
            .env("QM_DATABASE_URL", db.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("write");
        child.wait_with_output().expect("wait")
    };
    let short = add("short");
    assert_eq!(short.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));
    let ok = add("a-long-enough-password");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let (role, hash): (String, String) =
        sqlx::query_as("SELECT role, password_hash FROM operators WHERE username = 'priya'").fetch_one(&db.pool).await.expect("row");
    assert_eq!(role, "back_office");
    assert!(hash.starts_with("$argon2id$"), "argon2id hash, got {hash}");
    let again = add("a-long-enough-password");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test]
async fn demo_seed_fills_an_empty_database_once() {
    let db = TestDb::empty().await;
    let out = qm().args(["demo", "seed", "--products", "120"]).env("QM_DATABASE_URL", db.url()).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (products, bad_upcs): (i64, i64) = sqlx::query_as("SELECT COUNT(*), CAST(COALESCE(SUM(upc IS NULL), 0) AS SIGNED) FROM products")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!((products, bad_upcs), (120, 0));
    let upcs: Vec<(String,)> = sqlx::query_as("SELECT upc FROM products").fetch_all(&db.pool).await.expect("upcs");
    assert!(upcs.iter().all(|(u,)| quartermaster::inventory::gtin::has_valid_check_digit(u)), "every demo UPC has a valid check digit");
    let (lots, orders): (i64, i64) = sqlx::query_as("SELECT (SELECT COUNT(*) FROM inventory_lots), (SELECT COUNT(*) FROM orders)")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert!(lots >= 120 && orders > 0, "lots {lots}, orders {orders}");
    let again = qm().args(["demo", "seed"]).env("QM_DATABASE_URL", db.url()).output().expect("run");
    assert!(String::from_utf8_lossy(&again.stdout).contains("already present"));
}

/// `qm status` reads the tenant's own tables: what it prints moves with them.
#[tokio::test]
async fn status_shows_version_sync_backups_and_open_alerts_as_text_and_json() {
    let app = crate::helpers::TestApp::spawn().await;
    let status = |json: bool| {
        let mut c = qm();
        c.args(["status", "--config"]).arg(app._tenant.config_path());
        if json {
            c.arg("--json");
        }
        let out = c.output().expect("qm status");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    // A tenant that has done nothing yet.
    let fresh: serde_json::Value = serde_json::from_str(&status(true)).expect("json");
    assert_eq!(fresh["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(fresh["schema_current"], true);
    assert!(fresh["sync"].is_null(), "{fresh}");
    assert_eq!(fresh["alerts"].as_array().map(Vec::len), Some(0));
    assert!(status(false).contains("sync      never ran"));

    // Two failed sync cycles after a good one, a local backup that landed, an offsite one that failed twice, one open alert.
    sqlx::raw_sql(
        "INSERT INTO job_runs (job, status, started_at, finished_at) VALUES
           ('inventory_poll', 'ok', '2026-12-07 10:00:00', '2026-12-07 10:00:01'),
           ('inventory_poll', 'failed', '2026-12-07 10:05:00', '2026-12-07 10:05:01'),
           ('inventory_poll', 'failed', '2026-12-07 10:10:00', '2026-12-07 10:10:01');
         INSERT INTO backup_repositories (name, location, last_ok_at, last_snapshot, consecutive_failures, checked_at, check_error) VALUES
           ('local', '/var/backups/quartermaster/restic', '2026-12-07 02:30:09', 'abc123', 0, '2026-12-06 04:00:00', NULL),
           ('offsite', 's3:https://r2.example/bucket', NULL, NULL, 2, NULL, NULL);
         INSERT INTO alert_episodes (akey, kind, message, opened_at) VALUES ('job:backup-offsite', 'job', 'the offsite backup failed 2 times in a row', '2026-12-07 02:31:00');",
    )
    .execute(&app.db.pool)
    .await
    .expect("seed");
    let s: serde_json::Value = serde_json::from_str(&status(true)).expect("json");
    assert_eq!(s["tenant"], app.state.config.tenant.id.to_string());
    assert_eq!(s["sync"]["last_status"], "failed");
    assert_eq!(s["sync"]["last_ok_at"], "2026-12-07T10:00:01Z");
    assert_eq!(s["sync"]["consecutive_failures"], 2);
    let backups = s["backups"].as_array().expect("backups");
    let local = backups.iter().find(|b| b["repository"] == "local").expect("local");
    assert_eq!(
        (local["last_ok_at"].as_str(), local["last_snapshot"].as_str(), local["check_ok"].as_bool()),
        (Some("2026-12-07T02:30:09Z"), Some("abc123"), Some(true))
    );
    let offsite = backups.iter().find(|b| b["repository"] == "offsite").expect("offsite");
    assert_eq!((offsite["consecutive_failures"].as_u64(), offsite["check_ok"].as_bool()), (Some(2), None));
    assert_eq!(s["alerts"][0]["message"], "the offsite backup failed 2 times in a row");
    let text = status(false);
    assert!(text.contains("2 failed in a row") && text.contains("offsite: last good never") && text.contains("alerts    1 open"), "{text}");
    assert!(text.contains("[job] the offsite backup failed 2 times in a row"), "{text}");
}
