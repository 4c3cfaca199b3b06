//! Inventory: products, FIFO lots and serials, reservations, the order and
//! catalog mirrors, and the codes scanners send.

pub mod catalog;
pub mod gtin;
pub mod lookup;
pub mod orders;
pub mod receive;
pub mod reserve;
