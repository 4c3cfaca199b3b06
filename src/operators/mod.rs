//! Operators: the people who sign in (pickers, back office, admins), their
//! argon2 password hashes, and the lock-out after repeated failed sign-ins.

mod password;
pub mod sessions;

use crate::ids::OperatorId;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use sqlx::MySqlPool;

use crate::config::Secret;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Role {
    /// Everything, including operators and settings.
    Admin,
    /// Quotes, dashboard, books, receiving.
    BackOffice,
    /// The pick station.
    Picker,
}

impl Role {
    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::BackOffice => "back_office",
            Role::Picker => "picker",
        }
    }

    /// A human label.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Admin",
            Role::BackOffice => "Back office",
            Role::Picker => "Picker",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "back_office" => Some(Role::BackOffice),
            "picker" => Some(Role::Picker),
            _ => None,
        }
    }
}

/// A signed-in or listed operator (never carries the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: OperatorId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

/// A username: 2–64 of letters, digits, `.`, `_`, `-`, `@`; compared as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, OperatorError> {
        let s = s.trim();
        let ok = (2..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
        if ok { Ok(Self(s.to_owned())) } else { Err(OperatorError::BadUsername) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an operator could not be created.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("username must be 2-64 characters of letters, digits, '.', '_', '-' or '@'")]
    BadUsername,
    #[error("password must be at least 10 characters")]
    WeakPassword,
    #[error("an operator named `{0}` already exists")]
    Exists(String),
    #[error("no operator named `{0}`")]
    Unknown(String),
    #[error("password hashing failed")]
    Hash,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Creates an operator; the password is hashed with argon2id.
pub async fn create(
    pool: &MySqlPool,
    username: &Username,
    display_name: &str,
    role: Role,
    password: &Secret,
) -> Result<OperatorId, OperatorError> {
    if password.expose().chars().count() < 10 {
        return Err(OperatorError::WeakPassword);
    }
    let hash = password::hash(password.clone()).await.ok_or(OperatorError::Hash)?;
    let display = if display_name.trim().is_empty() { username.as_str() } else { display_name.trim() };
    let result = sqlx::query("INSERT INTO operators (username, display_name, role, password_hash) VALUES (?, ?, ?, ?)")
        .bind(username.as_str())
        .bind(display)
        .bind(role.as_str())
        .bind(hash)
        .execute(pool)
        .await;
    match result {
        Ok(r) => Ok(OperatorId(r.last_insert_id())),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(OperatorError::Exists(username.as_str().to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Throttle rule. After `max_failures` wrong passwords in a row for one
/// account name from one client address, that pair waits before its next
/// try: one minute, then doubling up to `lockout`. Other addresses (the pick
/// station) are not slowed, so a stranger cannot lock staff out; one address
/// failing across many names is slowed too (five times the allowance).
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lockout: TimeDelta,
}

/// How a sign-in went. Unknown names and wrong passwords are the same
/// outcome, and are throttled the same way, so answers never tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Password matched.
    Ok(Operator),
    /// Unknown user, wrong password or disabled account (the page says the same for all three).
    Invalid,
    /// Too many failures from this client for this name (or for any name): try again after this UTC time.
    Throttled { until: NaiveDateTime },
}

/// The row counting one client's failures across every name.
const ANY_ACCOUNT: &str = "*";
/// Failures older than this are forgiven.
const FORGET_AFTER: TimeDelta = TimeDelta::days(1);

/// One throttle row, locked for this transaction: (failures, blocked_until).
async fn throttle_row(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    account: &str,
    client: &str,
    now: NaiveDateTime,
) -> Result<(u32, Option<NaiveDateTime>), sqlx::Error> {
    sqlx::query("INSERT IGNORE INTO sign_in_throttle (account, client, failures, last_failure_at) VALUES (?, ?, 0, ?)")
        .bind(account)
        .bind(client)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    let (failures, blocked, last): (u32, Option<NaiveDateTime>, NaiveDateTime) =
        sqlx::query_as("SELECT failures, blocked_until, last_failure_at FROM sign_in_throttle WHERE account = ? AND client = ? FOR UPDATE")
            .bind(account)
            .bind(client)
            .fetch_one(&mut **tx)
            .await?;
    Ok(if now - last > FORGET_AFTER { (0, None) } else { (failures, blocked.filter(|b| *b > now)) })
}

/// Counts a failure on a throttle row; returns the time it is blocked until, if it now is.
async fn count_failure(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    (account, client): (&str, &str),
    failures: u32,
    allowance: u32,
    lockout: TimeDelta,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, sqlx::Error> {
    let failures = failures + 1;
    let blocked = (failures >= allowance).then(|| {
        let doubling = (failures - allowance).min(16);
        now + TimeDelta::minutes(1i64 << doubling).min(lockout.max(TimeDelta::minutes(1)))
    });
    sqlx::query("UPDATE sign_in_throttle SET failures = ?, blocked_until = ?, last_failure_at = ? WHERE account = ? AND client = ?")
        .bind(failures)
        .bind(blocked)
        .bind(now)
        .bind(account)
        .bind(client)
        .execute(&mut **tx)
        .await?;
    Ok(blocked)
}

/// Checks a username and password from `client` (its address), throttling
/// repeated failures of that pair. One transaction with the pair's throttle
/// row locked, so parallel attempts cannot slip past the counter. A
/// throttled pair is answered without checking the password at all.
#[tracing::instrument(skip_all, fields(username = %username))]
pub async fn authenticate(
    pool: &MySqlPool,
    username: &str,
    password: &Secret,
    client: &str,
    policy: LockoutPolicy,
) -> Result<SignIn, sqlx::Error> {
    let account: String = username.chars().take(64).collect();
    let client: String = client.chars().take(45).collect();
    let now = Utc::now().naive_utc();
    let mut tx = pool.begin().await?;
    let (pair_failures, pair_blocked) = throttle_row(&mut tx, &account, &client, now).await?;
    let (any_failures, any_blocked) = throttle_row(&mut tx, ANY_ACCOUNT, &client, now).await?;
    if let Some(until) = pair_blocked.max(any_blocked) {
        tx.commit().await?;
        return Ok(SignIn::Throttled { until });
    }
    let row = sqlx::query_as::<_, Credentials>(
        "SELECT id, username, display_name, role, password_hash, disabled FROM operators WHERE username = ?",
    )
    .bind(username)
    .fetch_optional(&mut *tx)
    .await?;
    let verified = match &row {
        Some(r) => password::verify(password.clone(), r.password_hash.clone()).await && !r.disabled,
        None => {
            // Spend the same time as a real check so timing does not reveal which names exist.
            password::burn(password.clone()).await;
            false
        }
    };
    if let (true, Some(r)) = (verified, row) {
        let id = r.id;
        sqlx::query("DELETE FROM sign_in_throttle WHERE account = ? AND client = ?").bind(&account).bind(&client).execute(&mut *tx).await?;
        sqlx::query("UPDATE operators SET last_sign_in_at = ? WHERE id = ?").bind(now).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        return Ok(SignIn::Ok(Operator {
            id,
            username: r.username,
            display_name: r.display_name,
            role: Role::parse(&r.role).unwrap_or(Role::Picker),
        }));
    }
    let allowance = policy.max_failures.max(1);
    let pair = count_failure(&mut tx, (&account, &client), pair_failures, allowance, policy.lockout, now).await?;
    let any = count_failure(&mut tx, (ANY_ACCOUNT, &client), any_failures, allowance.saturating_mul(5), policy.lockout, now).await?;
    // Rows nobody has failed on for a day are dropped as the table is used.
    sqlx::query("DELETE FROM sign_in_throttle WHERE last_failure_at < ? LIMIT 100").bind(now - FORGET_AFTER).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(match pair.max(any) {
        Some(until) => SignIn::Throttled { until },
        None => SignIn::Invalid,
    })
}

/// Sets a new password and ends every session of the operator (a changed
/// password must lock out whoever had the old one). Returns the sessions ended.
pub async fn set_password(pool: &MySqlPool, username: &Username, password: &Secret) -> Result<u64, OperatorError> {
    if password.expose().chars().count() < 10 {
        return Err(OperatorError::WeakPassword);
    }
    let hash = password::hash(password.clone()).await.ok_or(OperatorError::Hash)?;
    let mut tx = pool.begin().await?;
    let id: Option<u64> = sqlx::query_scalar("SELECT id FROM operators WHERE username = ? FOR UPDATE")
        .bind(username.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let id = id.ok_or_else(|| OperatorError::Unknown(username.as_str().to_owned()))?;
    sqlx::query("UPDATE operators SET password_hash = ? WHERE id = ?").bind(hash).bind(id).execute(&mut *tx).await?;
    let ended = sqlx::query("DELETE FROM sessions WHERE operator_id = ?").bind(id).execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok(ended)
}

/// The first admin made (the one `scripts/dev` creates for the demo).
pub async fn first_admin(pool: &MySqlPool) -> Result<Option<OperatorId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM operators WHERE role = 'admin' ORDER BY id LIMIT 1").fetch_optional(pool).await
}

/// Loads an operator by id (for sessions).
pub async fn by_id(pool: &MySqlPool, id: OperatorId) -> Result<Option<Operator>, sqlx::Error> {
    sqlx::query_as::<_, OperatorRow>("SELECT id, username, display_name, role FROM operators WHERE id = ? AND NOT disabled")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .map(Operator::try_from)
        .transpose()
}

/// An operator as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct OperatorRow {
    pub id: OperatorId,
    pub username: String,
    pub display_name: String,
    pub role: String,
}

impl TryFrom<OperatorRow> for Operator {
    type Error = sqlx::Error;
    fn try_from(r: OperatorRow) -> Result<Self, sqlx::Error> {
        let role = Role::parse(&r.role).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {}", r.role).into()))?;
        Ok(Operator { id: r.id, username: r.username, display_name: r.display_name, role })
    }
}

/// What a sign-in checks.
#[derive(sqlx::FromRow)]
struct Credentials {
    id: OperatorId,
    username: String,
    display_name: String,
    role: String,
    password_hash: String,
    disabled: bool,
}
