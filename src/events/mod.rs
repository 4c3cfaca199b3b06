//! The event log: every state change an operator or a job makes is one row,
//! shown on the dashboard and streamed to it.

use serde_json::Value;
use sqlx::MySqlExecutor;

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
    /// The operator who acted, if a person did.
    pub operator_id: Option<u64>,
    /// What it is about, e.g. (`operator`, `17`).
    pub subject: Option<(&'a str, String)>,
    /// One readable line; no secrets, no personal data beyond names.
    pub message: String,
    pub data: Option<Value>,
}

impl<'a> Event<'a> {
    /// An info event with just a kind and a message.
    pub fn info(kind: &'a str, message: impl Into<String>) -> Self {
        Self { kind, severity: Severity::Info, operator_id: None, subject: None, message: message.into(), data: None }
    }

    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    pub fn by(mut self, operator_id: u64) -> Self {
        self.operator_id = Some(operator_id);
        self
    }

    pub fn about(mut self, kind: &'a str, id: impl ToString) -> Self {
        self.subject = Some((kind, id.to_string()));
        self
    }
}

/// Appends an event.
pub async fn record(db: impl MySqlExecutor<'_>, e: Event<'_>) -> Result<u64, sqlx::Error> {
    let (subject_type, subject_id) = e.subject.map_or((None, None), |(t, id)| (Some(t), Some(id)));
    let message: String = e.message.chars().take(512).collect();
    let r = sqlx::query(
        r#"INSERT INTO event_log (kind, severity, operator_id, subject_type, subject_id, message, data)
           VALUES (?, ?, ?, ?, ?, ?, ?)"#,
    )
    .bind(e.kind)
    .bind(e.severity.as_str())
    .bind(e.operator_id)
    .bind(subject_type)
    .bind(subject_id)
    .bind(message)
    .bind(e.data.map(|d| d.to_string()))
    .execute(db)
    .await?;
    Ok(r.last_insert_id())
}
