//! MariaDB: connection options, the embedded migrations, and the guard that
//! keeps one tenant's appliance off another tenant's database.

pub mod lock;
pub mod reads;

use std::{str::FromStr, time::Duration};

use sqlx::{
    MySqlPool,
    migrate::Migrator,
    mysql::{MySqlConnectOptions, MySqlPoolOptions},
};

use crate::config::{LoadedConfig, resolve::Secrets};

/// The schema, embedded from `migrations/` and applied by `qm migrate` and at
/// server start; append-only, never edited once applied.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Where the database is, and how it was named.
#[derive(Debug, thiserror::Error)]
pub enum DbTargetError {
    #[error("QM_DATABASE_URL is not a valid mysql:// URL: {0}")]
    BadUrl(String),
    #[error("no database: pass --config FILE (with a `database` section) or set QM_DATABASE_URL")]
    Missing,
    #[error("database.password did not resolve; run `qm config check --resolve` to see why")]
    PasswordUnresolved,
}

/// Connect options from `QM_DATABASE_URL` when set (it wins), else from the
/// tenant file's `database` section with its password resolved.
pub fn connect_options(config: Option<&LoadedConfig>, secrets: &Secrets) -> Result<MySqlConnectOptions, DbTargetError> {
    if let Ok(url) = std::env::var("QM_DATABASE_URL") {
        // The URL may hold a password: report only that it is malformed.
        return MySqlConnectOptions::from_str(&url).map_err(|_| DbTargetError::BadUrl("check scheme, host and database name".into()));
    }
    let db = &config.ok_or(DbTargetError::Missing)?.config.database;
    let password = secrets.get("database.password").ok_or(DbTargetError::PasswordUnresolved)?;
    Ok(MySqlConnectOptions::new().host(&db.host).port(db.port).username(&db.user).password(password.expose()).database(&db.name))
}

/// Where `mariadb-dump` finds the database: host, port, user, password, name
/// (from `QM_DATABASE_URL` when set, else the tenant file). The password goes
/// to the child's environment (`MYSQL_PWD`), never to its command line.
pub struct DumpTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: crate::config::secret::Secret,
    pub database: String,
}

pub fn dump_target(config: &LoadedConfig, secrets: &Secrets) -> Result<DumpTarget, DbTargetError> {
    use crate::config::secret::Secret;
    if let Ok(raw) = std::env::var("QM_DATABASE_URL") {
        let url = url::Url::parse(&raw).map_err(|_| DbTargetError::BadUrl("check scheme, host and database name".into()))?;
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        return Ok(DumpTarget {
            host: url.host_str().unwrap_or("127.0.0.1").to_owned(),
            port: url.port().unwrap_or(3306),
            user: decode(url.username()),
            password: Secret::new(decode(url.password().unwrap_or(""))),
            database: url.path().trim_start_matches('/').to_owned(),
        });
    }
    let db = &config.config.database;
    let password = secrets.get("database.password").ok_or(DbTargetError::PasswordUnresolved)?;
    Ok(DumpTarget { host: db.host.clone(), port: db.port, user: db.user.clone(), password: password.clone(), database: db.name.clone() })
}

/// Whether the options come from `QM_DATABASE_URL` (then the tenant file's
/// database password need not resolve).
pub fn url_from_env() -> bool {
    std::env::var_os("QM_DATABASE_URL").is_some()
}

/// A pool with UTC sessions (timestamps are UTC in the database).
pub async fn connect(options: MySqlConnectOptions, max_connections: u32) -> Result<MySqlPool, sqlx::Error> {
    MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // No ping before each use: it doubled the round trips of every page.
        // A connection the server dropped fails one statement and is discarded;
        // idle ones are closed well before MariaDB's wait_timeout (8 h).
        .test_before_acquire(false)
        .idle_timeout(Duration::from_secs(300))
        .connect_with(session_options(options))
        .await
}

/// Every connection's session: UTC timestamps, utf8mb4.
pub(crate) fn session_options(options: MySqlConnectOptions) -> MySqlConnectOptions {
    options.timezone(Some("+00:00".into())).charset("utf8mb4")
}

/// Why the database could not be reached or created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(
        "database `{name}` does not exist (or this account has no rights on it), and this account may not create it ({reason}). As a MariaDB administrator, run:\n  CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n  GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'%';\nthen run `qm migrate` again"
    )]
    CannotCreate { name: String, user: String, reason: String },
    #[error("cannot connect to MariaDB at {host}:{port} as `{user}`: {reason}")]
    Connect { host: String, port: u16, user: String, reason: String },
}

/// [`connect`], creating the database first when it does not exist and the
/// account may create it (`qm migrate` on a fresh server).
pub async fn connect_creating(options: MySqlConnectOptions, max_connections: u32) -> Result<MySqlPool, CreateError> {
    let (host, port, user) = (options.get_host().to_owned(), options.get_port(), options.get_username().to_owned());
    match connect(options.clone(), max_connections).await {
        Ok(p) => Ok(p),
        // 1049 Unknown database; 1044 Access denied to a database (MariaDB says
        // that, too, when the database is missing and the account has no global rights).
        Err(sqlx::Error::Database(d))
            if d.code().as_deref() == Some("42000")
                && (d.message().contains("Unknown database") || d.message().contains("to database")) =>
        {
            let name = options.get_database().unwrap_or_default().to_owned();
            let server = options.clone().database("");
            let created = async {
                use sqlx::{ConnectOptions, Connection};
                let mut conn = server.connect().await?;
                let ident = name.replace('`', "``");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE IF NOT EXISTS `{ident}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            }
            .await;
            match created {
                Ok(()) => {
                    tracing::info!(database = %name, "created the database");
                    connect(options, max_connections).await.map_err(|e| CreateError::Connect { host, port, user, reason: db_reason(&e) })
                }
                Err(e) => Err(CreateError::CannotCreate { name, user, reason: db_reason(&e) }),
            }
        }
        Err(e) => Err(CreateError::Connect { host, port, user, reason: db_reason(&e) }),
    }
}

/// A database error's own message, once (sqlx's Display repeats the chain).
fn db_reason(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => format!("{} ({})", d.message(), d.code().unwrap_or_default()),
        other => other.to_string(),
    }
}

/// A list bound as one parameter, for statements that are written out in
/// full (and so checked against the schema): a JSON array the statement
/// reads with `JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids`
/// (or, for strings, `… (v VARCHAR(…) PATH '$')`). One statement however
/// long the list, no SQL built at run time.
pub fn json_list<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

/// Applies pending migrations; safe to run any number of times and from
/// several replicas at once (sqlx serialises them with a database lock).
pub async fn migrate(pool: &MySqlPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when every embedded migration is applied and none failed.
pub async fn migrations_current(pool: &MySqlPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1").fetch_all(pool).await?;
    Ok(MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).all(|m| applied.iter().any(|(v,)| *v == m.version)))
}

/// A database belongs to the first tenant that claims it; any other tenant's
/// appliance refuses to start on it, so a copy-pasted connection string cannot
/// mix two tenants' data.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "this database belongs to tenant `{owner}`, but the config is for tenant `{wanted}`; point database.name at the right database"
    )]
    OtherTenant { owner: String, wanted: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Records `tenant` as the database's owner, or checks that it already is.
pub async fn claim_for_tenant(pool: &MySqlPool, tenant: &str) -> Result<(), ClaimError> {
    sqlx::query("INSERT IGNORE INTO appliance (id, tenant_id) VALUES (1, ?)").bind(tenant).execute(pool).await?;
    let (owner,): (String,) = sqlx::query_as("SELECT tenant_id FROM appliance WHERE id = 1").fetch_one(pool).await?;
    if owner == tenant { Ok(()) } else { Err(ClaimError::OtherTenant { owner, wanted: tenant.to_owned() }) }
}

/// Data and index bytes of the connected database (the dashboard, `/metrics`).
pub async fn size_bytes(pool: &MySqlPool) -> Result<u64, sqlx::Error> {
    sqlx::query_scalar::<_, u64>(
        "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS UNSIGNED) FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .fetch_one(pool)
    .await
}

/// One round trip to the database, timed (readiness, the integration probe).
pub async fn ping(pool: &MySqlPool) -> Result<std::time::Duration, sqlx::Error> {
    let started = std::time::Instant::now();
    sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool).await?;
    Ok(started.elapsed())
}
