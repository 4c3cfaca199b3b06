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
