//! Inventory: products, lots, serials and the codes scanners send.

pub mod gtin;
