//! Backup benchmark (run with `scripts/bench --bench backup`): a tenant with a
//! generated WordPress database (`QM_BENCH_WP_DB_MB`, default 1024: rows of
//! 4 KiB random hex text, as post content compresses) and uploads
//! (`QM_BENCH_UPLOADS_MB`, default 2048: 4 MiB files of random bytes, as
//! JPEGs do not compress), backed up with restic through the backup
//! domain's own entry point: the first run, an incremental run after 1% of
//! the rows and uploads changed, and the restore (unpack plus loading both
//! dumps with the mariadb client). Prints times, repository growth, and the
//! RPO/RTO they give; writes target/bench/backup.md.

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

fn mb(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn du(path: &Path) -> u64 {
    let out = Command::new("du").args(["-sb"]).arg(path).output().expect("du");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn human(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn write_random(path: &Path, bytes: u64) {
    let mut f = std::fs::File::create(path).expect("upload");
    let mut urandom = std::fs::File::open("/dev/urandom").expect("urandom");
    std::io::copy(&mut std::io::Read::take(&mut urandom, bytes), &mut f).expect("fill");
}

fn load(server_host: &str, port: u16, db: &str, dump: &Path) {
    let input = std::fs::File::open(dump).expect("dump");
    let status = Command::new("mariadb")
        .args(["-h", server_host, "-P", &port.to_string(), "-u", "root", db])
        .stdin(Stdio::from(input))
        .status()
        .expect("mariadb");
    assert!(status.success(), "loading {}", dump.display());
}

#[tokio::main]
async fn main() {
    let server = std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    common::with_database_url(&server, "qmbench_backup_ops");
    let url = url::Url::parse(&server).expect("server url");
    let (host, port) = (url.host_str().unwrap_or("127.0.0.1").to_owned(), url.port().unwrap_or(3306));
    let (db_mb, up_mb) = (mb("QM_BENCH_WP_DB_MB", 1024), mb("QM_BENCH_UPLOADS_MB", 2048));

    let (ops, _) = common::fresh_db(&server, "qmbench_backup_ops", 4).await;
    quartermaster::demo::seed(&ops, 200).await.expect("seed");
    // The store's database: db_mb of 4 KiB rows of random hex.
    let rows = db_mb * 256;
    let (wp, _) = common::fresh_db(&server, "qmbench_backup_wp", 2).await;
    let text = (0..128).map(|_| "MD5(RAND())").collect::<Vec<_>>().join(", ");
    sqlx::raw_sql("CREATE TABLE wp_posts (ID BIGINT PRIMARY KEY, post_content LONGTEXT) ENGINE=InnoDB").execute(&wp).await.expect("table");
    let t = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(8192);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO wp_posts SELECT seq, CONCAT({text}) FROM seq_{}_to_{}",
            done + 1,
            done + n
        )))
        .execute(&wp)
        .await
        .expect("rows");
        done += n;
    }
    let generated_db = t.elapsed();

    // The backup job reads the store with a user of its own, as in the stack (the tenant file's `secret` is its password).
    sqlx::raw_sql(
        "DROP USER IF EXISTS 'qmbench_backup'@'%'; CREATE USER 'qmbench_backup'@'%' IDENTIFIED BY 'unused'; \
         GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER, EVENT ON qmbench_backup_wp.* TO 'qmbench_backup'@'%'",
    )
    .execute(&wp)
    .await
    .expect("backup user");
    let work = tempfile::tempdir_in("target").expect("work dir");
    let content = work.path().join("wp-content");
    std::fs::create_dir_all(content.join("uploads")).expect("mkdir");
    let files = up_mb / 4;
    for i in 0..files {
        write_random(&content.join(format!("uploads/photo-{i:05}.jpg")), 4 << 20);
    }
    let extra = format!(
        "backup:\n  repository: {repo}\n  password: ref+file://secret\n  work_dir: {work}\n  keep_last: 10\n  wordpress:\n    database: {{ host: \"{host}\", port: {port}, name: qmbench_backup_wp, user: qmbench_backup, password: ref+file://secret }}\n    content_dir: {content}\n",
        repo = work.path().join("restic").display(),
        work = work.path().join("work").display(),
        content = content.display(),
    );
    let (state, _dir) = common::app_state(&extra).await;
    let backups = quartermaster::backup::Backups::new(&state.loaded, &state.secrets).expect("backup section");

    let t = Instant::now();
    let first = backups.run(&state.pool, "manual").await.expect("first backup");
    let first_time = t.elapsed();
    let repo_first = du(&work.path().join("restic"));

    // 1% changes: rows rewritten, uploads replaced and added.
    let changed_rows = (rows / 100).max(1);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("UPDATE wp_posts SET post_content = CONCAT({text}) WHERE ID <= {changed_rows}")))
        .execute(&wp)
        .await
        .expect("update");
    let changed_files = (files / 100).max(1);
    for i in 0..changed_files {
        write_random(&content.join(format!("uploads/photo-{i:05}.jpg")), 4 << 20);
        write_random(&content.join(format!("uploads/new-{i:05}.jpg")), 4 << 20);
    }
    let t = Instant::now();
    let second = backups.run(&state.pool, "manual").await.expect("incremental backup");
    let second_time = t.elapsed();
    let repo_second = du(&work.path().join("restic"));

    let target = work.path().join("restore");
    let t = Instant::now();
    backups.unpack(quartermaster::backup::Source::Local, "latest", &target).await.expect("unpack");
    let unpack_time = t.elapsed();
    let t = Instant::now();
    common::drop_db(&server, "qmbench_backup_restored").await;
    let mut admin =
        sqlx::ConnectOptions::connect(&<sqlx::mysql::MySqlConnectOptions as std::str::FromStr>::from_str(&server).expect("url"))
            .await
            .expect("admin");
    sqlx::raw_sql("CREATE DATABASE qmbench_backup_restored_ops; CREATE DATABASE qmbench_backup_restored")
        .execute(&mut admin)
        .await
        .expect("dbs");
    load(&host, port, "qmbench_backup_restored_ops", &target.join("ops.sql"));
    load(&host, port, "qmbench_backup_restored", &target.join("wordpress.sql"));
    let load_time = t.elapsed();
    let counted = Command::new("mariadb")
        .args([
            "-h",
            &host,
            "-P",
            &port.to_string(),
            "-u",
            "root",
            "-N",
            "-B",
            "-e",
            "SELECT COUNT(*) FROM qmbench_backup_restored.wp_posts",
        ])
        .output()
        .expect("mariadb");
    let restored_rows: u64 = String::from_utf8_lossy(&counted.stdout).trim().parse().unwrap_or(0);
    assert_eq!(restored_rows, rows, "every row restored");
    let _ = sqlx::raw_sql("DROP DATABASE qmbench_backup_restored_ops; DROP DATABASE qmbench_backup_restored").execute(&mut admin).await;
    common::drop_db(&server, "qmbench_backup_wp").await;
    common::drop_db(&server, "qmbench_backup_ops").await;

    let rows_out = vec![
        (
            "tenant".into(),
            format!(
                "WordPress database {db_mb} MiB ({rows} rows, generated in {:.0} s), uploads {up_mb} MiB ({files} files), ops demo data",
                generated_db.as_secs_f64()
            ),
        ),
        (
            "first backup".into(),
            format!(
                "{:.1} s; {} read, {} added; repository {}",
                first_time.as_secs_f64(),
                human(first.bytes_processed),
                human(first.bytes_added),
                human(repo_first)
            ),
        ),
        (
            "incremental after 1% changed".into(),
            format!(
                "{:.1} s; {} added; repository +{}",
                second_time.as_secs_f64(),
                human(second.bytes_added),
                human(repo_second.saturating_sub(repo_first))
            ),
        ),
        ("restore: unpack the snapshot".into(), format!("{:.1} s", unpack_time.as_secs_f64())),
        ("restore: load both dumps (mariadb client)".into(), format!("{:.1} s", load_time.as_secs_f64())),
        ("RPO (daily schedule)".into(), format!("24 h + {:.0} s (one run)", second_time.as_secs_f64())),
        ("RTO (data part; plus stack start)".into(), format!("{:.0} s", (unpack_time + load_time).as_secs_f64())),
        ("load average".into(), common::load()),
    ];
    common::table("backup", "restic backup of a whole tenant", &rows_out);
}
