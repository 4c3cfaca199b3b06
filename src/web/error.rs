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
    /// 401: a machine caller's credentials (a webhook's signature) did not hold; says which.
    #[error("{0}")]
    Unauthorized(String),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 503: this appliance is not set up for the request (names the key that would).
    #[error("{0}")]
    NotSetUp(String),
    /// 409: the thing has moved on (expired, already accepted, another's).
    #[error("{0}")]
    Conflict(String),
    /// 429: a cap is reached (live event streams); says which and what to do.
    #[error("{0}")]
    TooMany(String),
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

/// A quote refusal where a handler has no page of its own to show it on:
/// the user's part keeps its status and text; the rest keeps its source
/// chain for the log.
impl From<crate::quotes::QuoteError> for AppError {
    fn from(e: crate::quotes::QuoteError) -> Self {
        use crate::quotes::QuoteError;
        match e {
            QuoteError::NotFound(_) => AppError::NotFound,
            QuoteError::Invalid { field, message } => AppError::Invalid { field, message },
            QuoteError::BadToken => AppError::Forbidden,
            QuoteError::Expired { .. } | QuoteError::WrongState { .. } => AppError::Conflict(e.to_string()),
            QuoteError::Db(d) => AppError::Sqlx(d),
            other @ (QuoteError::Pdf(_) | QuoteError::Woo(_)) => AppError::Internal(anyhow::Error::new(other)),
        }
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
            AppError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, self.to_string()),
            AppError::NotSetUp(_) => (StatusCode::SERVICE_UNAVAILABLE, self.to_string()),
            AppError::Conflict(_) => (StatusCode::CONFLICT, self.to_string()),
            AppError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, self.to_string()),
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

pub use crate::urls::encode as urlencode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_path_is_encoded_but_stays_readable() {
        assert_eq!(urlencode("/pick/12"), "/pick/12");
        assert_eq!(urlencode("/q/A B?x=1&y=ü#f"), "/q/A%20B%3Fx%3D1%26y%3D%C3%BC%23f");
    }

    #[test]
    fn a_quote_refusal_keeps_its_status() {
        use crate::quotes::QuoteError;
        let status = |e: QuoteError| AppError::from(e).into_response().status();
        assert_eq!(status(QuoteError::NotFound("Q-1".into())), StatusCode::NOT_FOUND);
        assert_eq!(status(QuoteError::Invalid { field: "lines", message: "x".into() }), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(QuoteError::BadToken), StatusCode::FORBIDDEN);
        assert_eq!(status(QuoteError::WrongState { number: "Q".into(), status: "sent".into(), message: "m".into() }), StatusCode::CONFLICT);
        assert_eq!(status(QuoteError::Pdf("weasyprint died".into())), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
