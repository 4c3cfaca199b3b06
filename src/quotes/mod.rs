//! RFQs and quotes: intake from the storefront form and raw email with
//! sender-domain reputation, pricing fall-through (stock → supplier →
//! comparables), sales tax behind a provider trait, immutable versions with
//! a customer-facing revision counter, PDFs from versioned templates
//! through WeasyPrint, and acceptance into a WooCommerce order.

pub mod comparables;
pub mod form;
pub mod listing;
pub mod mailing;
pub mod pricing;
pub mod quote;
pub mod render;
pub mod reputation;
pub mod rfq;
pub mod tax;
