//! Test harness: a real MariaDB database (and user) per test, the app on a
//! free loopback port, and a cookie-keeping HTTP client.

use std::{path::PathBuf, str::FromStr, time::Duration};

use quartermaster::{
    config::LoadedConfig,
    operators::{self, Role, Username},
    startup::{self, Application},
};
use rand::RngCore;
use sqlx::{ConnectOptions, Connection, MySqlConnection, MySqlPool, mysql::MySqlConnectOptions};

/// The MariaDB server tests use (no database in the URL).
pub fn server_url() -> String {
    std::env::var("QM_TEST_DATABASE_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()).trim_end_matches('/').to_owned()
}

/// (host, port) of the test server.
pub fn server_host_port() -> (String, u16) {
    let opts = MySqlConnectOptions::from_str(&server_url()).expect("QM_TEST_DATABASE_URL is a mysql:// URL");
    (opts.get_host().to_owned(), opts.get_port())
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A database and a user of its own, both dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub user: String,
    pub password: String,
    pub pool: MySqlPool,
}

impl TestDb {
    /// An empty database (no migrations).
    pub async fn empty() -> Self {
        let name = format!("qmt_{}", random_hex(6));
        let user = name.clone();
        let password = format!("pw-{}", random_hex(12));
        let mut admin = admin().await;
        for sql in [
            format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
            format!("CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'"),
            format!("CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'"),
            format!("GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'localhost'"),
            format!("GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'127.0.0.1'"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.expect("create test database");
        }
        let _ = admin.close().await;
        let pool = quartermaster::db::connect(Self::options_for(&name, &user, &password), 8).await.expect("connect to test database");
        Self { name, user, password, pool }
    }

    /// A database with every migration applied.
    pub async fn migrated() -> Self {
        let db = Self::empty().await;
        quartermaster::db::migrate(&db.pool).await.expect("migrations apply");
        db
    }

    fn options_for(name: &str, user: &str, password: &str) -> MySqlConnectOptions {
        let (host, port) = server_host_port();
        MySqlConnectOptions::new().host(&host).port(port).username(user).password(password).database(name)
    }

    /// Options for dedicated connections (locks).
    pub fn options(&self) -> MySqlConnectOptions {
        Self::options_for(&self.name, &self.user, &self.password)
    }

    /// `mysql://user:pass@host:port/db`.
    pub fn url(&self) -> String {
        let (host, port) = server_host_port();
        format!("mysql://{}:{}@{host}:{port}/{}", self.user, self.password, self.name)
    }
}

/// A root connection to the test server.
pub async fn admin() -> MySqlConnection {
    MySqlConnectOptions::from_str(&server_url()).expect("server url").connect().await.expect("connect to the test MariaDB as root")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (name, user) = (self.name.clone(), self.user.clone());
        // Drop runs outside async; use a small runtime on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let mut admin = admin().await;
                // A failed test can leave connections mid-transaction, whose
                // metadata locks would make DROP DATABASE wait forever.
                let _ = sqlx::raw_sql("SET SESSION lock_wait_timeout = 20").execute(&mut admin).await;
                let ids: Vec<u64> = sqlx::query_scalar("SELECT id FROM information_schema.processlist WHERE user = ?")
                    .bind(&user)
                    .fetch_all(&mut admin)
                    .await
                    .unwrap_or_default();
                for id in ids {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL CONNECTION {id}"))).execute(&mut admin).await;
                }
                for sql in [
                    format!("DROP DATABASE IF EXISTS `{name}`"),
                    format!("DROP USER IF EXISTS '{user}'@'localhost'"),
                    format!("DROP USER IF EXISTS '{user}'@'127.0.0.1'"),
                ] {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

/// The tenant id of the test tenant on `db`: its own per test, because
/// advisory locks (`qm:<tenant>:<job>`) are server-wide and every test
/// shares one MariaDB server. Quote numbers keep the prefix `TESTCO`.
pub fn tenant_id(db: &TestDb) -> String {
    db.name.replace('_', "-")
}

/// The RFQ intake token in every test tenant's `secrets/intake_token`.
pub const INTAKE_TOKEN: &str = "intake-token-for-tests-0123456789";

/// Secrets the test tenant's references point at (files in its folder).
pub struct TestSecrets {
    pub woo_key: String,
    pub woo_secret: String,
}

/// A tenant folder: `tenant.yaml` plus `secrets/*` files.
pub struct TenantDir {
    pub dir: tempfile::TempDir,
    pub secrets: TestSecrets,
}

impl TenantDir {
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tenant.yaml")
    }

    /// Writes a tenant file for `db`; `extra_server` lines go under `server:`.
    pub fn write(db: &TestDb, base_path: &str, extra_server: &str) -> Self {
        let creds = (format!("ck_{}", random_hex(20)), format!("cs_{}", random_hex(20)));
        Self::write_with(
            db,
            base_path,
            extra_server,
            "http://127.0.0.1:9",
            (&creds.0, &creds.1),
            "stations: [{ id: bench-1, name: Bench 1 }]\n",
        )
    }

    /// The same with WooCommerce at `woo_url` and `extra` top-level YAML
    /// (stations, printers, boxes, ups…). `secrets/ups_id` and
    /// `secrets/ups_secret` hold `ups-client` and `ups-secret`.
    pub fn write_with(db: &TestDb, base_path: &str, extra_server: &str, woo_url: &str, woo_creds: (&str, &str), extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = TestSecrets { woo_key: woo_creds.0.to_owned(), woo_secret: woo_creds.1.to_owned() };
        std::fs::create_dir_all(dir.path().join("secrets")).expect("mkdir");
        std::fs::write(dir.path().join("secrets/db_password"), format!("{}\n", db.password)).expect("write");
        std::fs::write(dir.path().join("secrets/woo_key"), &secrets.woo_key).expect("write");
        std::fs::write(dir.path().join("secrets/woo_secret"), &secrets.woo_secret).expect("write");
        std::fs::write(dir.path().join("secrets/ups_id"), "ups-client").expect("write");
        std::fs::write(dir.path().join("secrets/ups_secret"), "ups-secret").expect("write");
        std::fs::write(dir.path().join("secrets/intake_token"), INTAKE_TOKEN).expect("write");
        let (host, port) = server_host_port();
        let yaml = format!(
            r#"tenant: {{ id: {tenant}, quote_prefix: TESTCO, name: Test Co, timezone: America/Chicago, currency: USD }}
branding: {{ sender_name: Test Co Sales }}
domains: {{ storefront: shop.test.example }}
server:
  listen: 127.0.0.1:0
  base_path: "{base_path}"
  secure_cookies: false
{extra_server}
data_dir: {data}
database:
  host: "{host}"
  port: {port}
  name: {name}
  user: {user}
  password: ref+file://secrets/db_password
modules: {{ ebay: false, accounting: false }}
woocommerce:
  base_url: {woo_url}
  consumer_key: ref+file://secrets/woo_key
  consumer_secret: ref+file://secrets/woo_secret
polling: {{}}
{extra}"#,
            data = dir.path().join("data").display(),
            tenant = tenant_id(db),
            name = db.name,
            user = db.user,
        );
        std::fs::write(dir.path().join("tenant.yaml"), yaml).expect("write tenant file");
        Self { dir, secrets }
    }
}

/// The application running on a free port against its own database.
pub struct TestApp {
    pub address: String,
    /// The running app's state (pool, config, clients), for seeding and jobs.
    pub state: quartermaster::web::AppState,
    pub base: String,
    pub client: reqwest::Client,
    /// Keeps the tenant folder (config and secret files) alive.
    pub _tenant: TenantDir,
    pub db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with("", "").await
    }

    /// Spawns with a base path and extra `server:` lines.
    pub async fn spawn_with(base_path: &str, extra_server: &str) -> Self {
        let db = TestDb::empty().await;
        let tenant = TenantDir::write(&db, base_path, extra_server);
        Self::spawn_in(db, tenant, base_path).await
    }

    pub async fn spawn_in(db: TestDb, tenant: TenantDir, base_path: &str) -> Self {
        Self::spawn_tweaked(db, tenant, base_path, |_| {}).await
    }

    /// [`Self::spawn_in`], changing the prepared state before it serves (e.g. the dashboard's collectors).
    pub async fn spawn_tweaked(
        db: TestDb,
        tenant: TenantDir,
        base_path: &str,
        tweak: impl FnOnce(&mut quartermaster::web::AppState),
    ) -> Self {
        // QM_TEST_LOG=1 shows the app's logs (errors behind a 500) in the test output.
        if std::env::var_os("QM_TEST_LOG").is_some() {
            static LOGS: std::sync::Once = std::sync::Once::new();
            LOGS.call_once(quartermaster::telemetry::init);
        }
        let loaded = LoadedConfig::load(&tenant.config_path()).unwrap_or_else(|e| panic!("test tenant file: {e}"));
        let mut state = startup::prepare(loaded).await.unwrap_or_else(|e| panic!("prepare: {e:#}"));
        tweak(&mut state);
        let app = Application::build(state.clone(), "127.0.0.1:0").await.expect("bind");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let client = cookie_client();
        Self { address, state, base: base_path.to_owned(), client, _tenant: tenant, db }
    }

    /// A second replica of this tenant: another server prepared from the same
    /// tenant file (its own state, key and caches) on the same database. Its address.
    pub async fn replica(&self) -> String {
        let app = Application::build(self.replica_state().await, "127.0.0.1:0").await.expect("bind");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        address
    }

    /// A second replica's state (prepared from the same tenant file, with its
    /// own caches and key, on the same database), for a scheduler of its own.
    pub async fn replica_state(&self) -> quartermaster::app::AppState {
        let loaded = LoadedConfig::load(&self._tenant.config_path()).unwrap_or_else(|e| panic!("test tenant file: {e}"));
        startup::prepare(loaded).await.unwrap_or_else(|e| panic!("prepare: {e:#}"))
    }

    /// This browser (the app's own cookie jar).
    fn me(&self) -> Browser {
        Browser { address: self.address.clone(), base: self.base.clone(), client: self.client.clone() }
    }

    /// Another browser on the same app: its own cookies, so its own session.
    pub fn browser(&self) -> Browser {
        Browser { address: self.address.clone(), base: self.base.clone(), client: cookie_client() }
    }

    pub fn url(&self, path: &str) -> String {
        self.me().url(path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.me().get(path).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.me().post_form(path, form).await
    }

    /// Creates an operator directly in the database.
    pub async fn add_operator(&self, username: &str, role: Role, password: &str) -> quartermaster::ids::OperatorId {
        let name = Username::parse(username).expect("username");
        operators::create(&self.db.pool, &name, "", role, &quartermaster::config::Secret::new(password)).await.expect("create operator")
    }

    /// Opens the sign-in page and posts the form; returns the POST's response.
    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.me().sign_in(username, password).await
    }
}

/// A browser: cookies kept, redirects not followed.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One browser talking to a test app.
#[derive(Clone)]
pub struct Browser {
    pub address: String,
    pub base: String,
    pub client: reqwest::Client,
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}{path}", self.address, self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.url(path)).form(form).send().await.expect("POST")
    }

    /// Opens the sign-in page and posts the form; returns the POST's response.
    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        let page = self.get("/sign-in").await.text().await.expect("sign-in page");
        let csrf = csrf_in(&page);
        self.post_form("/sign-in", &[("csrf", &csrf), ("username", username), ("password", password)]).await
    }
}

/// The home page an admin sees for the tenant `tenant` on `db` (an app started for it).
pub async fn home_page_of(db: &TestDb, tenant: &TenantDir) -> String {
    let loaded = LoadedConfig::load(&tenant.config_path()).unwrap_or_else(|e| panic!("tenant file: {e}"));
    let state = startup::prepare(loaded).await.unwrap_or_else(|e| panic!("prepare: {e:#}"));
    let app = Application::build(state, "127.0.0.1:0").await.expect("bind");
    let browser = Browser { address: format!("http://127.0.0.1:{}", app.port()), base: String::new(), client: cookie_client() };
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let name = Username::parse("home-admin").expect("username");
    operators::create(&db.pool, &name, "", Role::Admin, &quartermaster::config::Secret::new("correct horse battery")).await.expect("admin");
    assert_eq!(browser.sign_in("home-admin", "correct horse battery").await.status().as_u16(), 303);
    browser.get("/").await.text().await.expect("home")
}

/// The CSRF token in a page's form.
pub fn csrf_in(html: &str) -> String {
    // A session's token (64 hex) or a signed pre-sign-in one (nonce.mac).
    let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{64}|[0-9a-f]{32}\.[0-9a-f]{64})""#).expect("regex");
    re.captures(html).map(|c| c[1].to_owned()).unwrap_or_else(|| panic!("no csrf field in page:\n{html}"))
}

/// The text of a PDF, by Debian's pdftotext (scripts/test installs poppler-utils).
pub fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (scripts/test installs poppler-utils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// pdfinfo's "Page size" line of a PDF.
pub fn pdf_page_size(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = std::process::Command::new("pdfinfo").arg(&path).output().expect("pdfinfo (scripts/test installs poppler-utils)");
    String::from_utf8_lossy(&out.stdout).lines().find(|l| l.starts_with("Page size")).unwrap_or_default().to_owned()
}

/// The job `name` as this test app's tenant runs it.
pub fn job(state: &quartermaster::app::AppState, name: &str) -> quartermaster::jobs::Scheduled {
    quartermaster::jobs::fleet(state)
        .expect("fleet")
        .into_iter()
        .find(|j| j.name.as_str() == name)
        .unwrap_or_else(|| panic!("the tenant runs no job {name}"))
}

/// Runs `job` as the scheduler does ([`quartermaster::jobs::run_guarded`])
/// and returns its summary. Each test app is a tenant of its own, so no
/// other test holds its lock: a skip is a failure.
pub async fn run_job(state: &quartermaster::app::AppState, job: &quartermaster::jobs::Scheduled) -> serde_json::Value {
    let runner = quartermaster::jobs::Runner::of(state);
    match quartermaster::jobs::run_guarded(&runner, job.name.as_str(), job.job.as_ref()).await {
        Ok(quartermaster::jobs::Ran::Done(summary)) => summary,
        Ok(skipped) => panic!("{}: {skipped:?}", job.name),
        Err(e) => panic!("{}: {e:#}", job.name),
    }
}
