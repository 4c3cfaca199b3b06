//! Why a quote action was refused, and the limits a field is held to.

use chrono::NaiveDateTime;

use super::snapshot::Customer;
use crate::money::Money;

/// Why a quote action was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error("quote {0} not found")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("quote {number} expired on {until} (UTC): re-issue it with fresh prices")]
    Expired { number: String, until: NaiveDateTime },
    #[error("quote {number} is {status}: {message}")]
    WrongState { number: String, status: String, message: String },
    #[error("the acceptance link is not valid (wrong, used or expired)")]
    BadToken,
    #[error("quote PDF: {0}")]
    Pdf(String),
    #[error("WooCommerce did not take the order: {0}; the quote stays sent, try accepting again")]
    Woo(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> QuoteError {
    QuoteError::Invalid { field, message: message.into() }
}

/// A line whose amount does not fit: a 422 naming the line, never a saturated value.
pub(super) fn too_large(line: usize, what: &str, exp: u32) -> QuoteError {
    invalid("lines", format!("line {line}: {what} is larger than the largest amount a quote can hold ({})", Money::MAX.format(exp)))
}

/// The longest text each field keeps (the columns' widths): a longer value
/// is refused with the field and its limit, never cut or failed on insert.
pub mod limits {
    pub const NAME: usize = 160;
    pub const COMPANY: usize = 160;
    /// RFC 5321: a 64-character local part, 254 characters in all.
    pub const EMAIL: usize = 254;
    pub const EMAIL_LOCAL: usize = 64;
    /// "Baden-Württemberg", "Newfoundland and Labrador" and their kin.
    pub const STATE: usize = 64;
    pub const POSTCODE: usize = 32;
    pub const DESCRIPTION: usize = 255;
    pub const NOTE: usize = 255;
    pub const REASON: usize = 255;
}

/// `Err` naming the field and its limit when `value` has more than `max` characters.
pub fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), QuoteError> {
    let n = value.chars().count();
    if n > max { Err(invalid(field, format!("at most {max} characters (this one has {n})"))) } else { Ok(()) }
}

pub(super) fn check_customer(c: &Customer) -> Result<(), QuoteError> {
    if c.name.trim().is_empty() {
        return Err(invalid("customer.name", "required"));
    }
    check_len("customer.name", &c.name, limits::NAME)?;
    check_len("customer.company", c.company.as_deref().unwrap_or_default(), limits::COMPANY)?;
    check_len("customer.email", &c.email, limits::EMAIL)?;
    check_len("state", &c.state, limits::STATE)?;
    check_len("postcode", &c.postcode, limits::POSTCODE)?;
    for line in &c.address_lines {
        check_len("street", line, limits::NAME)?;
    }
    match c.email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            check_len("customer.email", local, limits::EMAIL_LOCAL)?;
        }
        _ => return Err(invalid("customer.email", "an email address such as buyer@example.com is required")),
    }
    if c.email.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
        return Err(invalid("customer.email", "an address has no spaces or control characters"));
    }
    if !c.country.is_empty() && (c.country.len() != 2 || !c.country.chars().all(|ch| ch.is_ascii_uppercase())) {
        return Err(invalid("customer.country", "a two-letter country code such as US"));
    }
    Ok(())
}
