//! Operators: the people who sign in (pickers, back office, admins), their
//! argon2 password hashes, and the lock-out after repeated failed sign-ins.

mod password;

use chrono::{NaiveDateTime, TimeDelta, Utc};
use sqlx::{MySqlPool, Row};

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
    pub id: u64,
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
) -> Result<u64, OperatorError> {
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
        Ok(r) => Ok(r.last_insert_id()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(OperatorError::Exists(username.as_str().to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// Lock-out rule: after `max_failures` wrong passwords in a row the account
/// refuses every sign-in (even a correct one) for `lockout`.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lockout: TimeDelta,
}

/// How a sign-in went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Password matched.
    Ok(Operator),
    /// Unknown user, wrong password or disabled account (the page says the same for all three).
    Invalid,
    /// Too many failures; try again after this UTC time.
    LockedOut { until: NaiveDateTime },
}

/// Checks a username and password, counting failures and locking the account
/// when the policy says so. One transaction with the operator row locked, so
/// parallel attempts cannot slip past the counter.
#[tracing::instrument(skip_all, fields(username = %username))]
pub async fn authenticate(pool: &MySqlPool, username: &str, password: &Secret, policy: LockoutPolicy) -> Result<SignIn, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        r#"SELECT id, username, display_name, role, password_hash, failed_attempts, locked_until, disabled
           FROM operators WHERE username = ? FOR UPDATE"#,
    )
    .bind(username)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        // Spend the same time as a real check so timing does not reveal which names exist.
        password::burn(password.clone()).await;
        return Ok(SignIn::Invalid);
    };
    let now = Utc::now().naive_utc();
    let locked_until: Option<NaiveDateTime> = row.try_get("locked_until")?;
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Ok(SignIn::LockedOut { until });
    }
    let hash: String = row.try_get("password_hash")?;
    let disabled: bool = row.try_get("disabled")?;
    let id: u64 = row.try_get("id")?;
    if password::verify(password.clone(), hash).await && !disabled {
        sqlx::query("UPDATE operators SET failed_attempts = 0, locked_until = NULL, last_sign_in_at = ? WHERE id = ?")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let role: String = row.try_get("role")?;
        return Ok(SignIn::Ok(Operator {
            id,
            username: row.try_get("username")?,
            display_name: row.try_get("display_name")?,
            role: Role::parse(&role).unwrap_or(Role::Picker),
        }));
    }
    let failures: u32 = row.try_get::<u32, _>("failed_attempts")? + 1;
    let outcome = if failures >= policy.max_failures {
        let until = now + policy.lockout;
        sqlx::query("UPDATE operators SET failed_attempts = 0, locked_until = ? WHERE id = ?")
            .bind(until)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        SignIn::LockedOut { until }
    } else {
        sqlx::query("UPDATE operators SET failed_attempts = ? WHERE id = ?").bind(failures).bind(id).execute(&mut *tx).await?;
        SignIn::Invalid
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Loads an operator by id (for sessions).
pub async fn by_id(pool: &MySqlPool, id: u64) -> Result<Option<Operator>, sqlx::Error> {
    let row = sqlx::query("SELECT id, username, display_name, role FROM operators WHERE id = ? AND NOT disabled")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| from_row(&r)).transpose()
}

pub(crate) fn from_row(r: &sqlx::mysql::MySqlRow) -> Result<Operator, sqlx::Error> {
    let role: String = r.try_get("role")?;
    Ok(Operator {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role: Role::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {role}").into()))?,
    })
}
