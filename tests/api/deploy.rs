//! Deployment: the Compose stack (Compose Specification schema, Debian's
//! docker-compose, isolation rules), the Dockerfile's rules, rendering two
//! tenants side by side, the real nginx edge in front of a running qm, and
//! backup/restore.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use quartermaster::operators::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, TestDb, csrf_in, free_port};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn compose() -> Value {
    let text = std::fs::read_to_string(format!("{ROOT}/compose/compose.yaml")).expect("compose.yaml");
    serde_yaml::from_str(&text).expect("compose.yaml is YAML")
}

fn qm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_qm"));
    c.env_remove("QM_DATABASE_URL").env_remove("QM_CONFIG").env_remove("QM_DEPLOY_ROOT");
    c
}

/// A tenant file like the example, with another id and no fixed port.
fn tenant_file(dir: &Path, id: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("{ROOT}/tenant-configs/example.yaml")).expect("example");
    let text = text.replace("  id: acme\n", &format!("  id: {id}\n")).replace("  http_port: 8101\n", "");
    let path = dir.join(format!("{id}.yaml"));
    std::fs::write(&path, text).expect("write");
    path
}

fn render(config: &Path, root: &Path) -> String {
    let out = qm().args(["compose", "render", "--config"]).arg(config).arg("--root").arg(root).output().expect("qm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(String::from_utf8_lossy(&out.stdout).trim()).expect(".env")
}

fn env_value<'a>(env: &'a str, key: &str) -> &'a str {
    env.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} missing from .env"))
}

#[test]
fn the_stack_matches_the_compose_specification() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{ROOT}/tests/fixtures/compose-spec.json")).expect("tests/fixtures/compose-spec.json"),
    )
    .expect("json");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let doc = compose();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn debians_docker_compose_accepts_a_rendered_tenant() {
    let dir = tempfile::tempdir().expect("dir");
    let config = tenant_file(dir.path(), "globex");
    let root = dir.path().join("tenants");
    let env = render(&config, &root);
    let secrets = PathBuf::from(env_value(&env, "QM_SECRETS_DIR"));
    std::fs::create_dir_all(&secrets).expect("mkdir");
    for f in ["db_root_password", "wp_db_password", "ops_db_password", "vault_role_id", "vault_secret_id"] {
        std::fs::write(secrets.join(f), "x").expect("secret");
    }
    let bin = std::env::var("QM_DOCKER_COMPOSE_BIN").unwrap_or_else(|_| "docker-compose".into());
    let out = Command::new(&bin)
        .args(["--env-file"])
        .arg(root.join("globex/.env"))
        .args(["-f", &format!("{ROOT}/compose/compose.yaml"), "config", "-q"])
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}; scripts/test installs docker-compose"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn only_the_edge_is_exposed_and_data_lives_in_named_volumes_on_the_internal_network() {
    let doc = compose();
    let services = doc["services"].as_object().expect("services");
    assert!(doc["networks"]["data"]["internal"].as_bool() == Some(true), "the data network is internal");
    for (name, s) in services {
        assert_eq!(s.get("ports").is_some(), name == "edge", "{name}: only edge publishes ports");
        assert!(s.get("healthcheck").is_some(), "{name}: every service has a healthcheck");
        assert!(s.get("restart").is_some(), "{name}: restart policy");
        assert!(s.pointer("/deploy/resources/limits/memory").is_some(), "{name}: memory limit");
        if let Some(deps) = s.get("depends_on").and_then(Value::as_object) {
            for (dep, cond) in deps {
                assert!(services.contains_key(dep), "{name} depends on unknown {dep}");
                assert_eq!(cond["condition"], "service_healthy", "{name} → {dep}");
            }
        }
        for v in s.get("volumes").and_then(Value::as_array).into_iter().flatten() {
            match v {
                Value::String(short) => {
                    let source = short.split(':').next().unwrap_or_default();
                    assert!(
                        !source.starts_with('/') && !source.starts_with('.'),
                        "{name}: {short} is a bind mount, data must be a named volume"
                    );
                    assert!(doc["volumes"].get(source).is_some(), "{name}: {source} is not a declared named volume");
                }
                Value::Object(long) => {
                    // Only read-only configuration may be bind-mounted.
                    assert!(long["type"] != "bind" || long.get("read_only") == Some(&Value::Bool(true)), "{name}: writable bind mount");
                }
                other => panic!("{name}: odd volume {other}"),
            }
        }
    }
    for data in ["mariadb", "redis"] {
        assert_eq!(services[data]["networks"], serde_json::json!(["data"]), "{data} sits only on the internal network");
    }
    assert_eq!(services["edge"]["networks"], serde_json::json!(["front"]), "edge cannot reach the data tier");
}

#[test]
fn the_dockerfile_follows_the_house_rules() {
    let text = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).expect("Dockerfile");
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage");
    for f in &froms {
        let image = f.split_whitespace().nth(1).unwrap_or_default();
        let tag = image.split_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(!tag.is_empty() && tag != "latest", "base image {image} must be pinned");
    }
    let user = text.lines().rfind(|l| l.starts_with("USER ")).expect("a USER line");
    assert!(!user.contains("root") && user.trim() != "USER 0", "runs as non-root: {user}");
    assert!(text.contains("HEALTHCHECK") && text.contains("/healthz"), "healthcheck on /healthz");
    assert!(text.contains("--no-default-features"), "the stand-ins stay out of the image");
    assert!(text.contains("rm -rf /var/lib/apt/lists/*"), "apt lists cleaned");
}

#[test]
fn two_tenants_rendered_side_by_side_share_no_project_port_or_volume() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("tenants");
    let a = render(&tenant_file(dir.path(), "acme"), &root);
    let b = render(&tenant_file(dir.path(), "globex"), &root);
    assert_eq!(env_value(&a, "COMPOSE_PROJECT_NAME"), "qm-acme");
    assert_eq!(env_value(&b, "COMPOSE_PROJECT_NAME"), "qm-globex");
    assert_ne!(env_value(&a, "QM_HTTP_PORT"), env_value(&b, "QM_HTTP_PORT"));
    assert_ne!(env_value(&a, "QM_SECRETS_DIR"), env_value(&b, "QM_SECRETS_DIR"));
    // Volumes are namespaced by project (qm-acme_db_data vs qm-globex_db_data)
    // unless a volume pins a fixed name, which would make tenants share it.
    let doc = compose();
    for (name, v) in doc["volumes"].as_object().expect("volumes") {
        assert!(v.get("name").is_none() && v.get("external").is_none(), "volume {name} must not pin a name shared across projects");
    }
    // Re-rendering keeps a tenant's port; a fixed port another tenant holds is refused.
    assert_eq!(env_value(&render(&tenant_file(dir.path(), "acme"), &root), "QM_HTTP_PORT"), env_value(&a, "QM_HTTP_PORT"));
    let clash = tenant_file(dir.path(), "initech");
    let text = std::fs::read_to_string(&clash)
        .expect("read")
        .replace("deploy:\n", &format!("deploy:\n  http_port: {}\n", env_value(&a, "QM_HTTP_PORT")));
    std::fs::write(&clash, text).expect("write");
    let out = qm().args(["compose", "render", "--config"]).arg(&clash).arg("--root").arg(&root).output().expect("qm");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already published by tenant `acme`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// nginx with the edge config, ports and upstreams on loopback; killed on drop.
pub struct Edge {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Edge {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers before it exits (a SIGKILL would orphan them).
        quartermaster::standin::terminate(&mut self.child, std::time::Duration::from_secs(5));
    }
}

pub async fn start_edge(ops: u16, wp: u16) -> Edge {
    let bin = std::env::var("QM_NGINX_BIN").unwrap_or_else(|_| "/usr/sbin/nginx".into());
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let template = std::fs::read_to_string(format!("{ROOT}/nginx/edge.conf.template")).expect("template");
    let site = template
        .replace("${QM_EDGE_LISTEN}", &format!("127.0.0.1:{port}"))
        .replace("${QM_OPS_UPSTREAM}", &format!("127.0.0.1:{ops}"))
        .replace("${QM_WP_UPSTREAM}", &format!("127.0.0.1:{wp}"))
        .replace("${QM_OPS_PASS}", "http://qm_ops")
        .replace("${QM_OPS_ADDR}", &format!("127.0.0.1:{ops}"))
        .replace("${QM_WP_ADDR}", &format!("127.0.0.1:{wp}"))
        .replace("${QM_WP_PASS}", "http://qm_wp")
        .replace("${QM_SERVER_NAME}", "localhost");
    assert!(!site.contains("${QM_"), "every template variable is substituted");
    std::fs::write(dir.path().join("edge.conf"), site).expect("write");
    let d = dir.path().display();
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n include {d}/edge.conf;\n}}\n"
    );
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, main).expect("write");
    let test = Command::new(&bin)
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .unwrap_or_else(|e| panic!("{bin}: {e}; scripts/test installs nginx"));
    assert!(test.status.success(), "nginx -t: {}", String::from_utf8_lossy(&test.stderr));
    let child = Command::new(&bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Edge { child, port, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_edge_serves_ops_under_a_prefix_streams_events_and_limits_sign_in() {
    let app = TestApp::spawn_with("/ops", "").await;
    app.add_operator("dana", Role::Admin, "correct horse battery").await;
    let wp = axum::Router::new().fallback(|| async { "wordpress storefront" });
    let wp_addr = quartermaster::standin::serve(wp, "127.0.0.1:0").await.expect("wp stub");
    let ops_port: u16 = app.address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let edge = start_edge(ops_port, wp_addr.port()).await;
    let base = format!("http://127.0.0.1:{}", edge.port);
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");

    let store = client.get(format!("{base}/")).send().await.expect("get");
    assert_eq!(store.headers()["server"], "nginx", "no version in the Server header");
    assert_eq!(store.text().await.expect("text"), "wordpress storefront");
    assert_eq!(client.get(format!("{base}/ops/")).send().await.expect("get").headers()["location"], "/ops/sign-in?next=/ops/");
    assert_eq!(
        client.get(format!("{base}/readyz")).send().await.expect("get").status(),
        StatusCode::NOT_FOUND,
        "ops internals are not reachable from outside"
    );
    assert_eq!(
        reqwest::get(format!("{}/readyz", app.address)).await.expect("get").status(),
        StatusCode::OK,
        "but the stack itself can reach them"
    );
    for path in ["/metrics", "/ops/metrics", "/ops/../metrics"] {
        assert_eq!(client.get(format!("{base}{path}")).send().await.expect("get").status(), StatusCode::NOT_FOUND, "{path} from outside");
    }
    assert_eq!(
        reqwest::get(format!("{}/metrics", app.address)).await.expect("get").status(),
        StatusCode::OK,
        "the stack's Prometheus reaches /metrics"
    );

    let page = client.get(format!("{base}/ops/sign-in")).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = csrf_in(&page.text().await.expect("html"));
    let signed = client
        .post(format!("{base}/ops/sign-in"))
        .form(&[("csrf", csrf.as_str()), ("username", "dana"), ("password", "correct horse battery")])
        .send()
        .await
        .expect("post");
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);

    // Server-sent events arrive through the proxy while the stream stays open.
    let mut sse = client.get(format!("{base}/ops/events/stream")).send().await.expect("sse");
    assert_eq!(sse.status(), StatusCode::OK);
    assert!(sse.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    let first = tokio::time::timeout(Duration::from_secs(5), sse.chunk())
        .await
        .expect("the first event arrives before the stream closes")
        .expect("read");
    let first = String::from_utf8_lossy(&first.expect("a chunk, not the end")).into_owned();
    assert!(first.contains("event: log") && first.contains("auth.sign_in"), "{first}");
    drop(sse);

    // Sign-in is rate limited at the edge.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(client.get(format!("{base}/ops/sign-in")).send().await.expect("get").status());
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    assert!(
        client.get(format!("{base}/ops/")).send().await.expect("get").status() != StatusCode::TOO_MANY_REQUESTS,
        "other pages are not limited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_into_a_fresh_database_with_the_same_rows() {
    let source = TestDb::migrated().await;
    quartermaster::demo::seed(&source.pool, 40).await.expect("seed");
    let counts = |pool: sqlx::MySqlPool| async move {
        let mut out = Vec::new();
        for t in ["products", "inventory_lots", "orders", "order_lines", "stock_reservations", "event_log", "_sqlx_migrations"] {
            let (n,): (i64,) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}"))).fetch_one(&pool).await.expect("count");
            out.push((t, n));
        }
        out
    };
    let before = counts(source.pool.clone()).await;
    let dest_dir = tempfile::tempdir().expect("dir");
    let out = Command::new(format!("{ROOT}/scripts/backup"))
        .args(["testco"])
        .arg(dest_dir.path())
        .env("QM_BACKUP_DATABASE_URL", source.url())
        .output()
        .expect("backup");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dump = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(dump.ends_with(".sql.gz"), "{dump}");
    let target = TestDb::empty().await;
    let restored = Command::new(format!("{ROOT}/scripts/restore")).arg(&dump).arg(target.url()).output().expect("restore");
    assert!(restored.status.success(), "{}", String::from_utf8_lossy(&restored.stderr));
    assert_eq!(counts(target.pool.clone()).await, before, "row counts survive the round trip");
    assert!(quartermaster::db::migrations_current(&target.pool).await.expect("query"), "the restored database is current");
}

#[test]
fn new_tenant_writes_a_valid_config_generated_secrets_and_its_env() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let (configs, root) = (dir.path().join("configs"), dir.path().join("tenants"));
    std::fs::create_dir_all(&configs).expect("mkdir");
    let out = Command::new(format!("{ROOT}/scripts/new-tenant"))
        .arg("initech")
        .env("QM_TENANT_CONFIG_DIR", &configs)
        .env("QM_DEPLOY_ROOT", &root)
        .env("QM_BIN", env!("CARGO_BIN_EXE_qm"))
        .output()
        .expect("new-tenant");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let config = configs.join("initech.yaml");
    let check = qm().args(["config", "check"]).arg(&config).output().expect("check");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let text = std::fs::read_to_string(&config).expect("read");
    assert!(text.contains("id: initech") && text.contains("secret/tenants/initech/") && !text.contains("tenants/acme/"));
    let secrets = root.join("initech/secrets");
    assert_eq!(std::fs::metadata(&secrets).expect("dir").permissions().mode() & 0o777, 0o700);
    // Files the containers read as Docker secrets are readable inside the 0700 folder.
    let pw = secrets.join("ops_db_password");
    assert_eq!(std::fs::metadata(&pw).expect("file").permissions().mode() & 0o777, 0o644);
    let unseal = std::fs::read(secrets.join("vault_unseal_key")).expect("the vault's unseal key");
    assert_eq!(unseal.len(), 32, "a 32-byte static-seal key");
    let password = std::fs::read_to_string(&pw).expect("read");
    assert!(password.trim().len() >= 40, "a generated password");
    let env = std::fs::read_to_string(root.join("initech/.env")).expect(".env");
    assert!(env.contains("COMPOSE_PROJECT_NAME=qm-initech"));
    assert!(!env.contains(password.trim()) && !text.contains(password.trim()), "the password stays in the secrets folder");
    let bad = Command::new(format!("{ROOT}/scripts/new-tenant")).arg("Bad_Name").output().expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

/// Migrations from the first release that rolls replicas (swarm) on: the
/// ones before ran with one ops container and are not held to this.
const FIRST_ROLLING_MIGRATION: &str = "20261207000015";

/// What in a migration would break a replica still on the previous image
/// during a rolling update (expand/contract: a release only adds; what it
/// stops using is dropped a release later, in a migration named `*_contract_*`).
fn contracting(sql: &str) -> Vec<String> {
    let text: String = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ").to_uppercase();
    let mut found = Vec::new();
    for statement in text.split(';').map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty()) {
        for bad in ["DROP COLUMN", "DROP TABLE", "RENAME ", " CHANGE ", " MODIFY "] {
            if statement.contains(bad) {
                found.push(format!("{}: {statement}", bad.trim()));
            }
        }
        // A column the old image does not fill must have a value without it.
        for add in statement.split("ADD COLUMN").skip(1) {
            let column = add.split(", ADD").next().unwrap_or(add);
            if column.contains("NOT NULL") && !column.contains("DEFAULT") && !column.contains("AUTO_INCREMENT") {
                found.push(format!("NOT NULL without DEFAULT: {statement}"));
            }
        }
    }
    found
}

#[test]
fn migrations_since_replicas_roll_only_expand_and_a_contracting_one_is_caught() {
    let dir = format!("{ROOT}/migrations");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !name.ends_with(".sql") || name.as_str() < FIRST_ROLLING_MIGRATION || name.contains("_contract_") {
            continue;
        }
        let found = contracting(&std::fs::read_to_string(&path).expect("read"));
        assert!(found.is_empty(), "{name} would break the replica still on the previous image: {found:?}");
        checked += 1;
    }
    assert!(checked >= 1, "the job_runs migration at least is checked");
    // Planted: each of these is caught.
    for planted in [
        "ALTER TABLE orders DROP COLUMN woo_digest;",
        "ALTER TABLE orders RENAME COLUMN woo_id TO store_id;",
        "ALTER TABLE job_runs MODIFY error TEXT NOT NULL;",
        "ALTER TABLE job_runs ADD COLUMN replica VARCHAR(64) NOT NULL;",
        "DROP TABLE sync_rejects;",
    ] {
        assert!(!contracting(planted).is_empty(), "not caught: {planted}");
    }
    // And what expands passes.
    assert!(contracting("ALTER TABLE job_runs ADD COLUMN a INT NULL, ADD COLUMN b INT NOT NULL DEFAULT 0; -- DROP TABLE x").is_empty());
}
