//! Whole-tenant backups with restic (issue 31), against Debian's restic, a
//! real S3 implementation on loopback (moto in server mode, from PyPI) and
//! MariaDB. What a backup holds is read back with the restic CLI itself and
//! with the mariadb client, never with Quartermaster's own reader.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{TenantDir, TestApp, TestDb, free_port, job, random_hex, server_host_port};

/// moto's S3 server on a free loopback port, stopped by its PID on drop.
/// `QM_MOTO_PYTHON` (scripts/test sets it) is the Python that has moto.
struct S3 {
    child: Child,
    port: u16,
}

impl S3 {
    fn start() -> Self {
        let port = free_port();
        let python = std::env::var("QM_MOTO_PYTHON").unwrap_or_else(|_| "python3".into());
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto[server] (pip install 'moto[server]'; scripts/test installs it)");
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "moto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PASSWORD: &str = "restic-test-password-0123456789";

/// A tenant whose backup section points at folders of `dir` and, when
/// `offsite` is set, at that S3 URL.
struct Fixture {
    app: TestApp,
    wp: TestDb,
    root: PathBuf,
}

fn restic(repo: &str, args: &[&str]) -> std::process::Output {
    Command::new("restic")
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("AWS_ACCESS_KEY_ID", "test-key-id")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-key")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .arg("--no-cache")
        .args(args)
        .output()
        .expect("restic (apt-get install restic)")
}

fn snapshots(repo: &str) -> Vec<serde_json::Value> {
    let out = restic(repo, &["snapshots", "--json"]);
    assert!(out.status.success(), "restic snapshots: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("snapshots json")
}

async fn fixture(offsite: Option<String>, ops_data_mb: usize) -> Fixture {
    let db = TestDb::migrated().await;
    quartermaster::demo::seed(&db.pool, 12).await.expect("seed");
    // The store's database: a table of posts as WordPress keeps them.
    let wp = TestDb::empty().await;
    sqlx::raw_sql("CREATE TABLE wp_posts (ID BIGINT PRIMARY KEY, post_title TEXT, post_type VARCHAR(20)); INSERT INTO wp_posts VALUES (1, 'Blue widget', 'product'), (2, 'Order 1001', 'shop_order')")
        .execute(&wp.pool)
        .await
        .expect("wp tables");
    let root = tempfile::tempdir().expect("tempdir").keep();
    let content = root.join("wp-content");
    std::fs::create_dir_all(content.join("uploads/2026/12")).expect("mkdir");
    std::fs::write(content.join("uploads/2026/12/widget.jpg"), random_hex(4096)).expect("upload");
    std::fs::create_dir_all(content.join("mu-plugins")).expect("mkdir");
    std::fs::write(content.join("mu-plugins/companion.php"), "<?php // companion\n").expect("plugin");
    let (host, port) = server_host_port();
    let offsite_yaml = match &offsite {
        Some(url) => format!(
            "  offsite: {{ repository: \"{url}\", access_key_id: ref+file://secrets/s3_id, secret_access_key: ref+file://secrets/s3_key, region: us-east-1 }}\n"
        ),
        None => String::new(),
    };
    let extra = format!(
        "stations: [{{ id: bench-1, name: Bench 1 }}]\nbackup:\n  repository: {repo}\n  password: ref+file://secrets/restic\n  work_dir: {work}\n  check_subset: \"100%\"\n  keep_last: 10\n  wordpress:\n    database: {{ host: \"{host}\", port: {port}, name: {wpname}, user: {wpuser}, password: ref+file://secrets/wp_db }}\n    content_dir: {content}\n{offsite_yaml}",
        repo = root.join("restic").display(),
        work = root.join("work").display(),
        wpname = wp.name,
        wpuser = wp.user,
        content = content.display(),
    );
    let tenant = TenantDir::write_with(&db, "", "", "http://127.0.0.1:9", ("ck_x", "cs_x"), &extra);
    let secrets = tenant.dir.path().join("secrets");
    std::fs::write(secrets.join("restic"), PASSWORD).expect("write");
    std::fs::write(secrets.join("wp_db"), &wp.password).expect("write");
    std::fs::write(secrets.join("s3_id"), "test-key-id").expect("write");
    std::fs::write(secrets.join("s3_key"), "test-secret-key").expect("write");
    let data = tenant.dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("codes.json"), "{\"00012345678905\": 1}").expect("data file");
    if ops_data_mb > 0 {
        let mut f = std::fs::File::create(data.join("big.bin")).expect("big file");
        let mut urandom = std::fs::File::open("/dev/urandom").expect("urandom");
        std::io::copy(&mut std::io::Read::take(&mut urandom, (ops_data_mb as u64) << 20), &mut f).expect("fill");
    }
    let app = TestApp::spawn_in(db, tenant, "").await;
    Fixture { app, wp, root }
}

impl Fixture {
    fn local(&self) -> String {
        self.root.join("restic").display().to_string()
    }
    fn config(&self) -> PathBuf {
        self.app._tenant.config_path()
    }
    async fn run(&self, name: &str) -> anyhow::Result<quartermaster::jobs::Ran> {
        let j = job(&self.app.state, name);
        let runner = quartermaster::jobs::Runner::of(&self.app.state);
        quartermaster::jobs::run_guarded(&runner, name, j.job.as_ref()).await
    }
    async fn alerts(&self) -> Vec<String> {
        quartermaster::alerts::active(&self.app.state)
            .await
            .expect("alerts")
            .into_iter()
            .map(|a| format!("{} {}", a.key, a.message))
            .collect()
    }
}

fn qm(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_qm")).args(args).arg("--config").arg(config).output().expect("qm")
}

fn mysql(db: &str, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let (host, port) = server_host_port();
    let mut child = Command::new("mariadb")
        .args(["-h", &host, "-P", &port.to_string(), "-u", "root", db])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mariadb client");
    child.stdin.take().expect("stdin").write_all(input).expect("write");
    child.wait_with_output().expect("mariadb")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_snapshot_holds_both_databases_wp_content_and_data_is_copied_offsite_and_restores() {
    let s3 = S3::start();
    let url = format!("s3:http://127.0.0.1:{}/qm-backups/{}", s3.port, random_hex(4));
    let f = fixture(Some(url.clone()), 0).await;
    let ran = f.run("backup").await.expect("the backup runs");
    let summary = ran.done().expect("done");
    assert_eq!(summary["kind"], "scheduled", "{summary}");

    // The local repository, read by restic itself: one snapshot, tagged, holding everything.
    let snaps = snapshots(&f.local());
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let tags: Vec<&str> = snaps[0]["tags"].as_array().expect("tags").iter().filter_map(|t| t.as_str()).collect();
    let tenant = f.app.state.config.tenant.id.as_str().to_owned();
    assert!(tags.contains(&format!("tenant={tenant}").as_str()) && tags.contains(&"kind=scheduled"), "{tags:?}");
    assert_eq!(snaps[0]["hostname"], tenant.as_str());
    let ls = restic(&f.local(), &["ls", "latest"]);
    let listing = String::from_utf8_lossy(&ls.stdout);
    for want in [
        "/ops.sql",
        "/wordpress.sql",
        "/tenant.yaml",
        "/backup.json",
        "/uploads/2026/12/widget.jpg",
        "/mu-plugins/companion.php",
        "/codes.json",
    ] {
        assert!(listing.lines().any(|l| l.ends_with(want)), "{want} not in the snapshot:\n{listing}");
    }
    let secret_file = f.app._tenant.dir.path().join("secrets/restic");
    assert!(!listing.contains(&secret_file.display().to_string()), "the secrets folder is not backed up");

    // The offsite copy, read back from the S3 server by restic.
    let off = snapshots(&url);
    assert_eq!(off.len(), 1, "{off:?}");
    assert_eq!(off[0]["time"], snaps[0]["time"], "the same snapshot, copied");

    // A second run is incremental: the offsite copy keeps up, restic's check is clean.
    f.run("backup").await.expect("second backup");
    assert_eq!(snapshots(&url).len(), 2);
    f.run("backup_check").await.expect("restic check passes on both repositories");
    let repos = quartermaster::backup::state::repositories(&f.app.state.pool).await.expect("rows");
    assert_eq!(
        repos.iter().map(|r| (r.name.as_str(), r.consecutive_failures, r.check_error.is_none())).collect::<Vec<_>>(),
        [("local", 0, true), ("offsite", 0, true)]
    );
    assert!(repos.iter().all(|r| r.size_bytes.is_some_and(|b| b > 0) && r.last_ok_at.is_some()), "{repos:?}");
    let metrics = f.app.get("/metrics").await.text().await.expect("metrics");
    for series in ["qm_backup_last_success_timestamp_seconds{repository=\"offsite\"}", "qm_backup_repository_bytes{repository=\"local\"}"] {
        assert!(metrics.contains(series), "{series} in /metrics");
    }

    // Restore from the offsite repository alone (the host's disk is gone).
    std::fs::remove_dir_all(f.root.join("restic")).expect("lose the local repository");
    let target = f.root.join("restore");
    let out = qm(&f.config(), &["backup", "unpack", "--from", "offsite", "--target", target.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read(target.join("wp-content/uploads/2026/12/widget.jpg")).expect("upload restored"),
        std::fs::read(f.root.join("wp-content/uploads/2026/12/widget.jpg")).expect("original")
    );
    assert_eq!(std::fs::read_to_string(target.join("data/codes.json")).expect("data restored"), "{\"00012345678905\": 1}");
    // Both dumps load into fresh databases with the mariadb client and hold the same rows.
    let (fresh_ops, fresh_wp) = (TestDb::empty().await, TestDb::empty().await);
    for (db, file) in [(&fresh_ops, "ops.sql"), (&fresh_wp, "wordpress.sql")] {
        let loaded = mysql(&db.name, &std::fs::read(target.join(file)).expect("dump"));
        assert!(loaded.status.success(), "{file}: {}", String::from_utf8_lossy(&loaded.stderr));
    }
    let count =
        |pool: sqlx::MySqlPool, q: &'static str| async move { sqlx::query_scalar::<_, i64>(q).fetch_one(&pool).await.expect("count") };
    for q in ["SELECT COUNT(*) FROM inventory_lots", "SELECT COUNT(*) FROM orders", "SELECT COUNT(*) FROM stock_reservations"] {
        assert_eq!(count(fresh_ops.pool.clone(), q).await, count(f.app.db.pool.clone(), q).await, "{q}");
    }
    assert_eq!(count(fresh_wp.pool.clone(), "SELECT COUNT(*) FROM wp_posts").await, 2);
    let _ = &f.wp;
    drop(s3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_offsite_still_lands_locally_alerts_after_two_and_a_damaged_pack_is_found() {
    let refused = format!("s3:http://127.0.0.1:{}/qm-backups/x", free_port());
    let f = fixture(Some(refused), 0).await;
    for attempt in 1..=2 {
        let err = f.run("backup").await.expect_err("the offsite half fails").to_string();
        assert!(err.contains("the local snapshot") && err.contains("offsite copy failed"), "{err}");
        assert!(!err.contains(PASSWORD) && !err.contains("test-secret-key"), "no secret in the error: {err}");
        assert_eq!(snapshots(&f.local()).len(), attempt, "the local snapshot landed");
        let alerts = f.alerts().await;
        let offsite_alert = alerts.iter().any(|a| a.contains("backup-offsite") && a.contains("failed 2 times"));
        assert_eq!(offsite_alert, attempt == 2, "attempt {attempt}: {alerts:?}");
        assert!(!alerts.iter().any(|a| a.contains("job:backup ")), "one alert, not a second generic one: {alerts:?}");
    }

    // Damage every pack file of the local repository: the check finds it and alerts.
    let mut damaged = 0;
    for e in walk(&f.root.join("restic/data")) {
        let mut bytes = std::fs::read(&e).expect("pack");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&e, bytes).expect("damage");
        damaged += 1;
    }
    assert!(damaged > 0);
    let err = f.run("backup_check").await.expect_err("check fails").to_string();
    assert!(err.contains("restic check (local repository)"), "{err}");
    let alerts = f.alerts().await;
    assert!(alerts.iter().any(|a| a.contains("backup-check-local")), "{alerts:?}");
    // Independent of us: restic's own check agrees the repository is damaged.
    assert!(!restic(&f.local(), &["check", "--read-data"]).status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_killed_mid_way_leaves_no_snapshot_and_the_next_run_completes() {
    let f = fixture(None, 300).await;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(env!("CARGO_BIN_EXE_qm"))
            .args(["backup", "now", "--config"])
            .arg(f.config())
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("qm backup now")
    };
    // Wait until restic holds its lock in the repository (it is writing), then SIGKILL the whole group.
    let locks = f.root.join("restic/locks");
    let until = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_dir(&locks).is_ok_and(|mut d| d.next().is_some()) {
        assert!(Instant::now() < until, "restic never took its lock");
        assert!(child.try_wait().expect("wait").is_none(), "the backup finished before it could be killed: make the data bigger");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The process group this test started: qm and its restic.
    let killed = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status().expect("kill");
    assert!(killed.success());
    let _ = child.wait();
    assert_eq!(snapshots(&f.local()).len(), 0, "no half snapshot");
    let out = qm(&f.config(), &["backup", "now"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let snaps = snapshots(&f.local());
    assert_eq!(snaps.len(), 1);
    assert!(snaps[0]["tags"].as_array().expect("tags").iter().any(|t| t == "kind=manual"));
    let check = restic(&f.local(), &["check"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

/// A tmpfs of `mb` MiB mounted at `dir` (the tests run as root, as CI does),
/// unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, mb: u32) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"]).arg(dir).output().expect("mount");
        assert!(out.status.success(), "mounting a small tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        Self(dir.to_path_buf())
    }
    fn grow(&self, mb: u32) {
        let out = Command::new("mount").args(["-o", &format!("remount,size={mb}m")]).arg(&self.0).output().expect("mount");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_run_with_its_reason_keeps_the_last_snapshot_and_the_next_run_completes() {
    // 24 MiB of data that does not compress, into a repository with room for about half of it.
    let f = fixture(None, 24).await;
    let disk = SmallDisk::mount(&f.root.join("restic"), 12);
    for attempt in 1..=2 {
        let err = f.run("backup").await.expect_err("the repository's disk is full").to_string();
        assert!(err.contains("no space left on device"), "the reason is named: {err}");
        assert!(err.contains("local repository"), "the run says which repository: {err}");
        assert!(!err.contains(PASSWORD), "no secret in the error: {err}");
        let alerts = f.alerts().await;
        let full = alerts.iter().any(|a| a.contains("backup-local") && a.contains("no space left on device"));
        assert_eq!(full, attempt == 2, "alerted after two, with the reason: {alerts:?}");
    }
    // restic's own view: the repository opens and holds no snapshot, so nothing half-written can be restored.
    assert_eq!(snapshots(&f.local()).len(), 0, "no half snapshot");

    // Room again (the operator grew the disk): the next run lands, restic's check is clean.
    disk.grow(96);
    f.run("backup").await.expect("the next run completes");
    assert_eq!(snapshots(&f.local()).len(), 1);
    let check = restic(&f.local(), &["check"]);
    assert!(check.status.success(), "{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(!f.alerts().await.iter().any(|a| a.contains("backup-local")), "the alert clears once a run lands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_by_hand_waits_for_the_running_backup_instead_of_failing_on_restics_lock() {
    use quartermaster::db::lock::{LockName, acquire};
    let f = fixture(None, 0).await;
    f.run("backup").await.expect("a first backup");
    // A scheduled backup is running: it holds the tenant's backup lock.
    let name = LockName::new(&f.app.state.config.tenant.id.to_string(), "backup").expect("lock name");
    let held = acquire(&f.app.state.db_options, &name, Duration::from_secs(5)).await.expect("lock");
    let child = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["backup", "check", "--config"])
        .arg(f.config())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qm backup check");
    let mut child = child;
    // It says it waits, and does not finish while the lock is held.
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).expect("read");
    assert!(line.contains("a backup or check is running; waiting for it"), "{line}");
    assert!(child.try_wait().expect("wait").is_none(), "the check went ahead of the running backup");
    drop(held);
    let out = child.wait_with_output().expect("qm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("local: no errors"), "{}", String::from_utf8_lossy(&out.stdout));
}
