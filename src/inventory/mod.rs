//! Inventory: products, FIFO lots and serials, reservations, the order and
//! catalog mirrors, and the codes scanners send.

pub mod catalog;
pub mod costs;
pub mod figures;
pub mod gtin;
pub mod landed;
pub mod lookup;
pub mod onboard;
pub mod orders;
pub mod receive;
pub mod reserve;
pub mod returns;
pub mod seed;
pub mod stock;

/// How far back a fresh tenant's first cycle (and onboarding) reads orders.
pub const FIRST_LOOKBACK_DAYS: i64 = 30;
