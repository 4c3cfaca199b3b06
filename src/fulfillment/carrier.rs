//! The carrier contract: one call buys labels for every package of a
//! shipment (N tracking numbers, N labels, one master tracking number).

use async_trait::async_trait;

/// A package as packed at the station (metric, as measured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parcel {
    pub weight_g: u32,
    pub length_mm: u32,
    pub width_mm: u32,
    pub height_mm: u32,
}

/// Where it goes: the same address shape the tenant file uses for the shipper.
pub use crate::config::Address as Destination;

/// One shipment to buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentRequest {
    pub reference: String,
    pub service_code: String,
    pub to: Destination,
    pub parcels: Vec<Parcel>,
}

/// One bought package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub tracking_number: String,
    /// `ZPL`, `GIF`, `PDF` as the carrier names it.
    pub format: String,
    pub bytes: Vec<u8>,
}

/// A bought shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub master_tracking: String,
    pub labels: Vec<Label>,
    pub total_charge: Option<(String, String)>,
}

/// A tracking status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackStatus {
    pub tracking_number: String,
    /// Status type letter (D delivered, I in transit, M manifest, X exception…).
    pub status_type: String,
    pub description: String,
    pub delivered_on: Option<String>,
}

/// Why a carrier call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The carrier refused the request (its code and message).
    #[error("{carrier} refused: {code}: {message}")]
    Refused { carrier: &'static str, status: u16, code: String, message: String },
    /// Worth retrying (429, connection refused before anything was sent).
    #[error("{carrier}: {message} (will retry)")]
    Transient { carrier: &'static str, message: String },
    /// A purchase whose outcome is unknown (timeout, 5xx): retrying blindly
    /// could buy the labels twice, so a person checks first.
    #[error("{carrier}: {message}; the shipment may or may not exist: check the carrier before retrying")]
    Unknown { carrier: &'static str, message: String },
}

/// A carrier.
#[async_trait]
pub trait Carrier: Send + Sync {
    fn name(&self) -> &'static str;
    /// Buys labels for every parcel in one call.
    async fn ship(&self, request: &ShipmentRequest) -> Result<Shipment, CarrierError>;
    /// The latest status of a package.
    async fn track(&self, tracking_number: &str) -> Result<TrackStatus, CarrierError>;
    /// Whether the carrier answers and takes our credentials now (the
    /// dashboard's health tile, `qm integrations --probe`); buys nothing.
    async fn probe(&self) -> Result<(), CarrierError>;
}

/// Grams → pounds with one decimal, rounded up (carriers bill up).
pub fn grams_to_lbs(g: u32) -> String {
    let tenths = (u64::from(g) * 10_000).div_ceil(453_592);
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Millimetres → whole inches, rounded up.
pub fn mm_to_in(mm: u32) -> String {
    (u64::from(mm) * 10).div_ceil(254).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_up() {
        assert_eq!(grams_to_lbs(454), "1.1");
        assert_eq!(grams_to_lbs(500), "1.2");
        assert_eq!(grams_to_lbs(22_679), "50.0");
        assert_eq!(mm_to_in(254), "10");
        assert_eq!(mm_to_in(255), "11");
    }
}
