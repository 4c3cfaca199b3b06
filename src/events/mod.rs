//! The event log: every state change an operator or a job makes is one row,
//! shown on the dashboard and streamed to it. [`record`] writes the row and
//! wakes this process's [`bus::EventBus`], which fans new rows out to every
//! live stream (rows written by other replicas arrive by its polling).

pub mod bus;
pub mod slots;

use crate::ids::OperatorId;
use serde_json::Value;
use sqlx::MySqlExecutor;

use crate::operators::Role;

/// Who may see an event. Pickers see `All`; the back office also
/// `BackOffice` (RFQs and quotes carry customers' addresses); admins see
/// everything, `Admin` included (failed sign-ins carry usernames and IPs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    All,
    BackOffice,
    Admin,
}

impl Audience {
    /// The column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::All => "all",
            Audience::BackOffice => "back_office",
            Audience::Admin => "admin",
        }
    }

    /// Reads the column's value (an unknown one is the narrowest audience).
    pub fn parse(s: &str) -> Self {
        match s {
            "all" => Audience::All,
            "back_office" => Audience::BackOffice,
            _ => Audience::Admin,
        }
    }

    /// Whether `role` may see what is meant for this audience.
    pub fn visible_to_role(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            Role::BackOffice => self != Audience::Admin,
            Role::Picker => self == Audience::All,
        }
    }

    /// The audience an event of this kind has unless it says otherwise.
    pub fn for_kind(kind: &str) -> Self {
        match kind.split('.').next().unwrap_or_default() {
            "auth" => Audience::Admin,
            "quote" | "rfq" | "books" => Audience::BackOffice,
            _ => Audience::All,
        }
    }

    /// The three `audience` values a role may read, for `audience IN (?, ?, ?)`.
    pub fn visible_to(role: Role) -> [&'static str; 3] {
        match role {
            Role::Picker => ["all", "all", "all"],
            Role::BackOffice => ["all", "back_office", "back_office"],
            Role::Admin => ["all", "back_office", "admin"],
        }
    }
}

/// How loud an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One entry of the event log.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Dotted kind, e.g. `auth.sign_in`, `auth.locked_out`.
    pub kind: &'a str,
    pub severity: Severity,
    pub audience: Audience,
    /// The operator who acted, if a person did.
    pub operator_id: Option<OperatorId>,
    /// What it is about, e.g. (`operator`, `17`).
    pub subject: Option<(&'a str, String)>,
    /// One readable line; no secrets, no personal data beyond names.
    pub message: String,
    pub data: Option<Value>,
}

impl<'a> Event<'a> {
    /// An info event with just a kind and a message.
    pub fn info(kind: &'a str, message: impl Into<String>) -> Self {
        Self {
            kind,
            severity: Severity::Info,
            audience: Audience::for_kind(kind),
            operator_id: None,
            subject: None,
            message: message.into(),
            data: None,
        }
    }

    pub fn audience(mut self, a: Audience) -> Self {
        self.audience = a;
        self
    }

    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    pub fn by(mut self, operator_id: OperatorId) -> Self {
        self.operator_id = Some(operator_id);
        self
    }

    pub fn about(mut self, kind: &'a str, id: impl ToString) -> Self {
        self.subject = Some((kind, id.to_string()));
        self
    }
}

/// One row of the log as the live streams carry it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    pub id: u64,
    pub occurred_at: chrono::NaiveDateTime,
    pub kind: String,
    pub severity: String,
    pub audience: String,
    pub message: String,
}

/// The latest `limit` events `role` may see, newest first.
pub async fn recent(db: impl MySqlExecutor<'_>, role: Role, limit: u32) -> Result<Vec<Row>, sqlx::Error> {
    let [a, b, c] = Audience::visible_to(role);
    sqlx::query_as::<_, Row>(
        r#"SELECT id, occurred_at, kind, CAST(severity AS CHAR) AS severity, CAST(audience AS CHAR) AS audience, message
           FROM event_log WHERE audience IN (?, ?, ?) ORDER BY id DESC LIMIT ?"#,
    )
    .bind(a)
    .bind(b)
    .bind(c)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Events after `after_id` that `role` may see, oldest first, at most `limit`.
pub async fn after(db: impl MySqlExecutor<'_>, role: Role, after_id: u64, limit: u32) -> Result<Vec<Row>, sqlx::Error> {
    let [a, b, c] = Audience::visible_to(role);
    sqlx::query_as::<_, Row>(
        r#"SELECT id, occurred_at, kind, CAST(severity AS CHAR) AS severity, CAST(audience AS CHAR) AS audience, message
           FROM event_log WHERE id > ? AND audience IN (?, ?, ?) ORDER BY id LIMIT ?"#,
    )
    .bind(after_id)
    .bind(a)
    .bind(b)
    .bind(c)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The id just before the latest `back` events: where a live stream starts
/// so a new page has something at once.
pub async fn id_before_latest(db: impl MySqlExecutor<'_>, back: u64) -> Result<u64, sqlx::Error> {
    sqlx::query_scalar::<_, u64>("SELECT CAST(GREATEST(COALESCE(MAX(id), 0) - ?, 0) AS UNSIGNED) FROM event_log")
        .bind(back)
        .fetch_one(db)
        .await
}

/// Every row with `after < id <= upto` (any audience), oldest first, at most `limit`.
pub async fn between(db: impl MySqlExecutor<'_>, after: u64, upto: u64, limit: u32) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as::<_, Row>(
        r#"SELECT id, occurred_at, kind, CAST(severity AS CHAR) AS severity, CAST(audience AS CHAR) AS audience, message
           FROM event_log WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"#,
    )
    .bind(after)
    .bind(upto)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Whether an event of `kind` was ever recorded (a one-time step's mark).
pub async fn any_of_kind(db: impl MySqlExecutor<'_>, kind: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM event_log WHERE kind = ? LIMIT 1").bind(kind).fetch_one(db).await.map(|n| n > 0)
}

/// The newest event's id (0 when the log is empty).
pub async fn newest_id(db: impl MySqlExecutor<'_>) -> Result<u64, sqlx::Error> {
    sqlx::query_scalar::<_, u64>("SELECT CAST(COALESCE(MAX(id), 0) AS UNSIGNED) FROM event_log").fetch_one(db).await
}

/// Wakes this process's live streams for events a stored procedure wrote
/// (`pick_scan`): rows not written through [`record`].
pub fn recorded_elsewhere() {
    bus::recorded();
}

/// Appends an event and wakes this process's live streams (a row written
/// inside a transaction reaches them when the bus next polls after the commit).
pub async fn record(db: impl MySqlExecutor<'_>, e: Event<'_>) -> Result<u64, sqlx::Error> {
    let (subject_type, subject_id) = e.subject.map_or((None, None), |(t, id)| (Some(t), Some(id)));
    let message: String = e.message.chars().take(512).collect();
    let r = sqlx::query(
        r#"INSERT INTO event_log (kind, severity, audience, operator_id, subject_type, subject_id, message, data)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)"#,
    )
    .bind(e.kind)
    .bind(e.severity.as_str())
    .bind(e.audience.as_str())
    .bind(e.operator_id)
    .bind(subject_type)
    .bind(subject_id)
    .bind(message)
    .bind(e.data.map(|d| d.to_string()))
    .execute(db)
    .await?;
    bus::recorded();
    Ok(r.last_insert_id())
}
