//! UPS through the stand-in built from UPS's documented payloads.

use std::time::Duration;

use quartermaster::{
    config::{Address, Secret},
    fulfillment::{
        carrier::{Carrier, CarrierError, Destination, Parcel, ShipmentRequest},
        ups::{UpsClient, parse_shipment},
    },
    standin::{
        self,
        ups::{UpsFault, UpsStandin},
    },
};

fn shipper() -> Address {
    Address {
        name: "ACME Industrial".into(),
        phone: Some("3125550142".into()),
        line1: "1200 W Fulton Market".into(),
        line2: None,
        city: "Chicago".into(),
        state: Some("IL".into()),
        postcode: "60607".into(),
        country: "US".into(),
    }
}

async fn ups(timeout: Duration) -> (UpsStandin, UpsClient) {
    let s = UpsStandin::new("ups-client", "ups-secret");
    let addr = standin::serve(s.router(), "127.0.0.1:0").await.expect("serve");
    let c = UpsClient::new(&format!("http://{addr}"), "A1B2C3", Secret::new("ups-client"), Secret::new("ups-secret"), shipper(), timeout)
        .expect("client");
    (s, c)
}

fn request(n: usize) -> ShipmentRequest {
    ShipmentRequest {
        reference: "Order 90012".into(),
        service_code: "03".into(),
        to: Destination {
            name: "Dana Whitfield".into(),
            line1: "969 Market St".into(),
            city: "San Francisco".into(),
            state: Some("CA".into()),
            postcode: "94103".into(),
            country: "US".into(),
            ..Destination::default()
        },
        parcels: (0..n).map(|i| Parcel { weight_g: 2_000 + i as u32 * 500, length_mm: 305, width_mm: 254, height_mm: 203 }).collect(),
    }
}

#[tokio::test]
async fn one_call_buys_every_package_n_tracking_numbers_and_n_zpl_labels() {
    let (s, c) = ups(Duration::from_secs(5)).await;
    let shipment = c.ship(&request(3)).await.expect("ship");
    assert_eq!(s.shipments().len(), 1, "one carrier call for the whole shipment");
    let sent = &s.shipments()[0];
    let packages = sent.pointer("/ShipmentRequest/Shipment/Package").and_then(|p| p.as_array()).expect("packages");
    assert_eq!(packages.len(), 3);
    assert_eq!(packages[0]["PackageWeight"]["Weight"], "4.5", "2000 g billed as 4.5 lb (rounded up)");
    assert_eq!(sent.pointer("/ShipmentRequest/LabelSpecification/LabelImageFormat/Code").and_then(|v| v.as_str()), Some("ZPL"));
    assert_eq!(sent.pointer("/ShipmentRequest/LabelSpecification/LabelStockSize/Height").and_then(|v| v.as_str()), Some("6"));
    assert_eq!(shipment.labels.len(), 3);
    let numbers: std::collections::BTreeSet<&str> = shipment.labels.iter().map(|l| l.tracking_number.as_str()).collect();
    assert_eq!(numbers.len(), 3, "distinct tracking numbers");
    assert_eq!(shipment.master_tracking, shipment.labels[0].tracking_number);
    for l in &shipment.labels {
        assert_eq!(l.format, "ZPL");
        let zpl = String::from_utf8_lossy(&l.bytes);
        assert!(zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ") && zpl.contains(&l.tracking_number), "{zpl}");
    }
    let again = c.ship(&request(1)).await.expect("second shipment");
    assert_eq!(s.shipments().len(), 2);
    assert!(c.requests() <= 3, "the OAuth token is reused, not fetched per call: {}", c.requests());
    assert_ne!(again.master_tracking, shipment.master_tracking);
}

#[test]
fn an_older_single_package_answer_with_an_object_is_read_too() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../src/standin/fixtures/ups/ship-response-single-package-v1-object.json")).expect("fixture");
    let s = parse_shipment(&v).expect("object form");
    assert_eq!(s.labels.len(), 1);
    assert_eq!(s.labels[0].format, "GIF");
    assert!(s.labels[0].bytes.starts_with(b"GIF8"), "the base64 label decodes");
    let multi: serde_json::Value =
        serde_json::from_str(include_str!("../../src/standin/fixtures/ups/ship-response-multipiece.json")).expect("fixture");
    assert_eq!(parse_shipment(&multi).expect("array form").labels.len(), 3);
}

#[tokio::test]
async fn refusals_name_the_ups_error_and_an_unknown_outcome_is_not_retried_blindly() {
    let (s, c) = ups(Duration::from_secs(1)).await;
    s.inject(&[UpsFault::Refuse]);
    let err = c.ship(&request(2)).await.expect_err("refused");
    assert!(matches!(&err, CarrierError::Refused { code, .. } if code == "111600"), "{err}");
    assert!(err.to_string().contains("BillShipper payment method is not valid"));
    s.inject(&[UpsFault::Delay(Duration::from_secs(3))]);
    let err = c.ship(&request(2)).await.expect_err("timeout");
    assert!(matches!(err, CarrierError::Unknown { .. }), "{err}");
    assert!(err.to_string().contains("check the carrier before retrying"));
    s.inject(&[UpsFault::Unavailable]);
    assert!(matches!(c.ship(&request(1)).await, Err(CarrierError::Unknown { .. })));
    let bad = UpsClient::new("http://127.0.0.1:9", "A1B2C3", Secret::new("x"), Secret::new("y"), shipper(), Duration::from_secs(1))
        .expect("client");
    assert!(matches!(bad.ship(&request(1)).await, Err(CarrierError::Transient { .. })), "nothing listening: safe to retry");
}

#[tokio::test]
async fn tracking_reads_the_latest_activity() {
    let (_s, c) = ups(Duration::from_secs(5)).await;
    let t = c.track("1Z1486YY0110000297").await.expect("track");
    assert_eq!(t.tracking_number, "1Z1486YY0110000297");
    assert_eq!((t.status_type.as_str(), t.description.as_str()), ("D", "DELIVERED"));
    assert_eq!(t.delivered_on.as_deref(), Some("20220126"));
}

#[test]
fn stand_in_tracking_numbers_carry_valid_1z_check_digits() {
    // The fixture's numbers (valid per its README) come out of the same rule.
    assert_eq!(standin::ups::tracking_number("1486YY", 1_000_029), "1Z1486YY0110000297");
    assert_eq!(standin::ups::tracking_number("1486YY", 1_000_030), "1Z1486YY0110000304");
}
