//! Fulfilment: carriers (UPS first), shipments with several packages.

pub mod carrier;
pub mod ups;
