//! `qm config check`: every problem at once, with file, line and key path.

use std::process::Command;

fn qm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qm"))
}

fn check(yaml: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("acme.yaml");
    std::fs::write(&path, yaml).expect("write");
    let out = qm().args(["config", "check"]).arg(&path).output().expect("run qm");
    let stdout = String::from_utf8_lossy(&out.stdout).replace(&*path.to_string_lossy(), "acme.yaml");
    (out.status.code().unwrap_or(-1), stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tenant-configs/example.yaml")).expect("example.yaml")
}

fn line_of(yaml: &str, needle: &str) -> usize {
    yaml.lines().position(|l| l.contains(needle)).map(|i| i + 1).unwrap_or_else(|| panic!("{needle} not in yaml"))
}

#[test]
fn the_example_tenant_passes() {
    let out = qm().args(["config", "check", concat!(env!("CARGO_MANIFEST_DIR"), "/tenant-configs/example.yaml")]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("example.yaml: ok"));
}

#[test]
fn the_dev_tenant_passes() {
    let out = qm().args(["config", "check", concat!(env!("CARGO_MANIFEST_DIR"), "/tenant-configs/demo.yaml")]).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn typo_wrong_type_literal_secret_and_bad_reference_are_all_listed_with_lines() {
    let yaml = example()
        .replacen("woocommerce:\n  base_url", "woocomerce:\n  base_url", 1)
        .replace("session_hours: 12", "session_hours: twelve")
        .replace("password: ref+vault://secret/tenants/acme/smtp#/password", "password: Sup3r-Secret-Literal!")
        .replace("station: bench-2\n", "station: bench-9\n")
        .replace("ref+vault://secret/tenants/acme/ups#/client_id", "ref+vault://secret#/client_id");
    let (code, out, _) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    let expect = [
        format!("acme.yaml:{} server.session_hours: expected integer, found a string", line_of(&yaml, "session_hours: twelve")),
        format!("acme.yaml:{} woocomerce: unknown key; did you mean `woocommerce`?", line_of(&yaml, "woocomerce:")),
        format!(
            "acme.yaml:{} smtp.password: a literal secret is not allowed here; use ref+vault://secret/tenants/acme/smtp#/password",
            line_of(&yaml, "Sup3r-Secret-Literal!")
        ),
        format!("acme.yaml:{} ups.client_id: malformed reference;", line_of(&yaml, "ref+vault://secret#/client_id")),
        format!("acme.yaml:{} printers[2].station: no station `bench-9`; stations: bench-1, bench-2", line_of(&yaml, "station: bench-9")),
        "woocommerce: missing required key `woocommerce`".to_owned(),
    ];
    for e in &expect {
        assert!(out.contains(e.as_str()), "missing line:\n  {e}\nin output:\n{out}");
    }
    assert!(!out.contains("Sup3r-Secret-Literal!"), "the literal secret was echoed:\n{out}");
}

#[test]
fn bad_yaml_names_the_line() {
    let (code, out, _) = check("tenant:\n  id: acme\n  name: \"unterminated\nbranding: {}\n");
    assert_eq!(code, 1);
    assert!(out.starts_with("acme.yaml:"), "{out}");
    assert!(out.contains("YAML syntax error"), "{out}");
}

#[test]
fn an_empty_file_says_where_to_start() {
    let (code, out, _) = check("# nothing here\n");
    assert_eq!(code, 1);
    assert!(out.contains("tenant-configs/example.yaml"), "{out}");
}

#[test]
fn vault_login_credentials_must_be_files_or_env() {
    let yaml = example().replace("role_id: ref+file:///run/secrets/vault_role_id", "role_id: ref+vault://secret/x#/y");
    let (code, out, _) = check(&yaml);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("acme.yaml:{} vault.auth.role_id: Vault login credentials must be", line_of(&yaml, "role_id: ref+vault")),),
        "{out}"
    );
    let token_yaml = example().replace("    mount: approle\n", "    method_typo: x\n").replace("method: approle", "method: token");
    let (_, out, _) = check(&token_yaml);
    assert!(out.contains("vault.auth.token: missing required key `token`"), "{out}");
    assert!(out.contains("vault.auth.role_id: not allowed with vault auth method `token`"), "{out}");
    assert!(out.contains("vault.auth.method_typo: unknown key"), "{out}");
}

#[test]
fn a_missing_file_is_one_line_and_exit_2() {
    let out = qm().args(["config", "check", "/nonexistent/tenant.yaml"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/tenant.yaml"), "{err}");
}

#[test]
fn cron_and_time_zone_are_checked() {
    let yaml = example()
        .replace("inventory_cron: \"0 */5 * * * *\"", "inventory_cron: \"*/5 * * * *\"")
        .replace("America/Chicago", "America/Chicagoo");
    let (code, out, _) = check(&yaml);
    assert_eq!(code, 1);
    assert!(out.contains("polling.inventory_cron: not a valid six-field cron expression"), "{out}");
    assert!(out.contains("tenant.timezone: not an IANA time zone"), "{out}");
}

#[test]
fn a_key_given_twice_is_an_error_naming_both_lines_and_never_the_value() {
    // A literal followed by a reference: once accepted silently, in a file called safe to commit.
    let yaml = example().replace(
        "  password: ref+vault://secret/tenants/acme/mariadb#/password",
        "  password: Sup3r-Secret-Literal!\n  password: ref+vault://secret/tenants/acme/mariadb#/password",
    );
    let first = line_of(&yaml, "password: Sup3r");
    let (code, out, _) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    let want = format!("acme.yaml:{} database.password: this key is given twice (lines {first} and {}); keep one", first + 1, first + 1);
    assert!(out.contains(&want), "want `{want}` in:\n{out}");
    assert!(!out.contains("Sup3r-Secret-Literal!"), "the literal was echoed:\n{out}");
    // A top-level key given twice points at both of its lines, not at the wrong one.
    let yaml = format!("{}tenant:\n  id: other\n", example());
    let again = yaml.lines().count() - 1;
    let (code, out, _) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("acme.yaml:{again} tenant: this key is given twice (lines {} and {again})", line_of(&yaml, "tenant:"))),
        "{out}"
    );
}

#[test]
fn empty_comment_only_null_scalar_multi_document_and_alias_bomb_files_name_a_line() {
    let bomb = {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (p, c) in ('a'..'i').zip('b'..'j') {
            s.push_str(&format!("{c}: &{c} [{}]\n", vec![format!("*{p}"); 9].join(", ")));
        }
        s
    };
    let two_docs = format!("{}---\ntenant: {{ id: second }}\n", example());
    let second_line = two_docs.lines().position(|l| l == "---").map(|i| i + 1).expect("---");
    for (name, yaml, line, fragment) in [
        ("empty", String::new(), 1, "the file is empty"),
        ("comments", "# only a comment\n".to_owned(), 1, "the file is empty"),
        ("null", "~\n".to_owned(), 1, "the file is empty"),
        ("a list", "- a\n- b\n".to_owned(), 1, "the file is a list"),
        ("two documents", two_docs, second_line, "a second YAML document starts here"),
        ("alias bomb", bomb, 2, "YAML aliases"),
    ] {
        let (code, out, err) = check(&yaml);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(
            out.contains(&format!("acme.yaml:{line} ")) && out.contains(fragment),
            "{name}: want line {line} and `{fragment}` in:\n{out}"
        );
    }
}

/// Runs `qm` with a deadline: a read that hangs (a FIFO) fails the test instead of hanging it.
fn run_with_deadline(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = qm().args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("run qm");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("qm {args:?} still running after 20 s: a read blocked");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn mkfifo(path: &std::path::Path) {
    let ok = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(ok.success());
}

#[test]
fn fifos_devices_huge_and_non_utf8_tenant_files_are_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo.yaml");
    mkfifo(&fifo);
    let huge = dir.path().join("huge.yaml");
    std::fs::write(&huge, format!("{}# {}\n", example(), "x".repeat(50 * 1024 * 1024))).expect("write");
    let latin1 = dir.path().join("latin1.yaml");
    std::fs::write(&latin1, b"tenant:\n  name: Caf\xe9\n").expect("write");
    for (path, fragment) in [
        (fifo.as_path(), "not a regular file"),
        (std::path::Path::new("/dev/zero"), "not a regular file"),
        (huge.as_path(), "more than the 1048576 allowed"),
        (latin1.as_path(), "not UTF-8 text: line 2"),
        (dir.path(), "a folder"),
    ] {
        let (code, out) = run_with_deadline(&["config".as_ref(), "check".as_ref(), path.as_os_str()]);
        assert_eq!(code, Some(2), "{}: {out}", path.display());
        assert!(out.contains(fragment) && out.contains(&*path.to_string_lossy()), "{}: want `{fragment}` in {out}", path.display());
    }
}

#[tokio::test]
async fn a_secret_reference_to_a_fifo_or_dev_zero_fails_at_once_naming_the_reference() {
    let db = crate::helpers::TestDb::empty().await;
    let tenant = crate::helpers::TenantDir::write(&db, "", "");
    let secret = tenant.dir.path().join("secrets/db_password");
    std::fs::remove_file(&secret).expect("rm");
    mkfifo(&secret);
    let config = tenant.config_path();
    for (label, yaml_edit) in [("fifo", None), ("dev-zero", Some("password: ref+file:///dev/zero"))] {
        if let Some(edit) = yaml_edit {
            let text = std::fs::read_to_string(&config).expect("read").replace("password: ref+file://secrets/db_password", edit);
            std::fs::write(&config, text).expect("write");
        }
        let (code, out) = tokio::task::spawn_blocking({
            let config = config.clone();
            move || run_with_deadline(&["config".as_ref(), "check".as_ref(), "--resolve".as_ref(), config.as_os_str()])
        })
        .await
        .expect("join");
        assert_ne!(code, Some(0), "{label}: {out}");
        assert!(out.contains("database.password") && out.contains("not a regular file"), "{label}: {out}");
    }
}

#[test]
fn a_job_schedule_is_checked_by_name_and_by_cron() {
    let yaml = example().replace("  quote_expiry: \"0 5 * * * *\"", "  quote_expiry: \"every hour\"\n  quote_expiri: \"0 5 * * * *\"");
    let (code, out, _) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    for e in [
        format!("acme.yaml:{} schedules.quote_expiry: not a valid six-field cron expression", line_of(&yaml, "every hour")),
        format!("acme.yaml:{} schedules.quote_expiri: unknown key; did you mean `quote_expiry`?", line_of(&yaml, "quote_expiri:")),
    ] {
        assert!(out.contains(&e), "missing line:\n  {e}\nin output:\n{out}");
    }
}
