//! The web layer's one error type. Each variant maps to a status; database
//! and internal errors become a plain 500 with a request id, and their chain
//! is logged once, here, never shown.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};

/// Result alias for handlers.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 303 to the sign-in page (browser pages); carries where to return.
    #[error("sign-in required")]
    SignInRequired { next: String, base: String },
    /// 403: signed in, but the role may not do this.
    #[error("your role may not open this page")]
    Forbidden,
    /// 403: a form without the right CSRF token.
    #[error("the form expired or came from another site; reload the page and try again")]
    Csrf,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 400/422 naming the field and what is wrong with it.
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// 500 from the database; logged, not shown.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// 500 from a template; logged, not shown.
    #[error(transparent)]
    Render(#[from] askama::Error),
    /// 500 from anything else; logged, not shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A 422 naming a form field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { field, message: message.into() }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, text) = match &self {
            AppError::SignInRequired { next, base } => {
                let target = format!("{base}/sign-in?next={}", urlencode(next));
                return Redirect::to(&target).into_response();
            }
            AppError::Forbidden | AppError::Csrf => (StatusCode::FORBIDDEN, self.to_string()),
            AppError::NotFound => (StatusCode::NOT_FOUND, self.to_string()),
            AppError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, self.to_string()),
            AppError::Sqlx(e) => {
                tracing::error!(error = %e, "database error");
                (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side; it has been logged".to_owned())
            }
            AppError::Render(e) => {
                tracing::error!(error = %e, "template error");
                (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side; it has been logged".to_owned())
            }
            AppError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side; it has been logged".to_owned())
            }
        };
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
    }
}

/// Percent-encodes a path for a query parameter.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
