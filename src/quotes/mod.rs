//! RFQs and quotes: intake from the storefront form and raw email with
//! sender-domain reputation, pricing fall-through (stock → supplier →
//! comparables), sales tax behind a provider trait, immutable versions with
//! a customer-facing revision counter, PDFs from versioned templates
//! through WeasyPrint, and acceptance into a WooCommerce order.

pub mod comparables;
pub mod error;
pub mod form;
pub mod listing;
pub mod mailbox;
pub mod mailing;
pub mod price_feeds;
pub mod pricing;
pub mod quote;
pub mod render;
pub mod reputation;
pub mod rfq;
pub mod send;
pub mod snapshot;
pub mod tax;

use sqlx::MySqlPool;

use crate::{channels::woocommerce::WooClient, config::TenantConfig, printing::pdf::WeasyPrint};

pub use self::error::QuoteError;

/// Everything the quote code needs from the running app.
pub struct Ctx<'a> {
    pub pool: &'a MySqlPool,
    pub config: &'a TenantConfig,
    /// The tenant file's folder (comparables feed, logo).
    pub base_dir: &'a std::path::Path,
    pub weasy: &'a WeasyPrint,
    pub woo: &'a WooClient,
    /// The tenant's mail server: a sent quote is mailed to the buyer with its PDF.
    pub mailer: Option<&'a crate::mail::Mailer>,
}
