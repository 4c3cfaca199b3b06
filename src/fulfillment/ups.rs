//! UPS: OAuth client credentials, Shipping API v2409 with every package in
//! ONE ShipmentRequest (ZPL 4×6 labels), Tracking API v1. `PackageResults`
//! is read as an array or, as versions before v2403 send for one package,
//! a single object.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::carrier::{Carrier, CarrierError, Label, Shipment, ShipmentRequest, TrackStatus, grams_to_lbs, mm_to_in};
use crate::config::{Address, Secret};

const NAME: &str = "ups";

/// A UPS account.
pub struct UpsClient {
    http: reqwest::Client,
    base: String,
    account: String,
    client_id: Secret,
    client_secret: Secret,
    shipper: Address,
    token: Mutex<Option<(Secret, Instant)>>,
    requests: AtomicU64,
}

fn as_list(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => Vec::new(),
    }
}

/// A non-200 answer to a token or tracking call: 429 and 5xx are worth
/// retrying, anything else is a refusal with UPS's code and message.
fn failed(what: &str, status: u16, body: &Value) -> CarrierError {
    if status == 429 || status >= 500 {
        CarrierError::Transient { carrier: NAME, message: format!("{what}: HTTP {status}") }
    } else {
        refused(status, body)
    }
}

fn refused(status: u16, body: &Value) -> CarrierError {
    let e = body.pointer("/response/errors/0");
    CarrierError::Refused {
        carrier: NAME,
        status,
        code: e.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("error").to_owned(),
        message: e.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("refused").to_owned(),
    }
}

impl UpsClient {
    /// `base` is `https://onlinetools.ups.com`, `https://wwwcie.ups.com` or a stand-in.
    pub fn new(
        base: &str,
        account: &str,
        client_id: Secret,
        client_secret: Secret,
        shipper: Address,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            base: base.trim_end_matches('/').to_owned(),
            account: account.to_owned(),
            client_id,
            client_secret,
            shipper,
            token: Mutex::new(None),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests made (token calls included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn token(&self) -> Result<Secret, CarrierError> {
        self.token_fresh(false).await
    }

    /// A token, fetched anew when `force` (the health probe) or near expiry.
    async fn token_fresh(&self, force: bool) -> Result<Secret, CarrierError> {
        let mut slot = self.token.lock().await;
        if let Some((t, until)) = slot.as_ref() {
            if !force && Instant::now() + Duration::from_secs(60) < *until {
                return Ok(t.clone());
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .http
            .post(format!("{}/security/v1/oauth/token", self.base))
            .basic_auth(self.client_id.expose(), Some(self.client_secret.expose()))
            .header("x-merchant-id", &self.account)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| CarrierError::Transient { carrier: NAME, message: format!("token: {}", e.without_url()) })?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(failed("token", status, &body));
        }
        let token = body.get("access_token").and_then(Value::as_str).ok_or_else(|| refused(status, &json!({})))?;
        // UPS sends expires_in as a string ("14399").
        let ttl = body.get("expires_in").and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64())).unwrap_or(3600);
        let secret = Secret::new(token);
        *slot = Some((secret.clone(), Instant::now() + Duration::from_secs(ttl)));
        Ok(secret)
    }

    fn body(&self, r: &ShipmentRequest) -> Value {
        let s = &self.shipper;
        let packages: Vec<Value> = r
            .parcels
            .iter()
            .map(|p| {
                json!({
                    "Packaging": { "Code": "02", "Description": "Customer supplied package" },
                    "Dimensions": { "UnitOfMeasurement": { "Code": "IN" }, "Length": mm_to_in(p.length_mm), "Width": mm_to_in(p.width_mm), "Height": mm_to_in(p.height_mm) },
                    "PackageWeight": { "UnitOfMeasurement": { "Code": "LBS" }, "Weight": grams_to_lbs(p.weight_g) },
                })
            })
            .collect();
        let addr = |line1: &str, line2: &Option<String>, city: &str, state: &Option<String>, postcode: &str, country: &str| {
            let mut lines = vec![line1.to_owned()];
            lines.extend(line2.clone());
            json!({ "AddressLine": lines, "City": city, "StateProvinceCode": state.clone().unwrap_or_default(), "PostalCode": postcode, "CountryCode": country })
        };
        let t = &r.to;
        json!({ "ShipmentRequest": {
            "Request": { "RequestOption": "nonvalidate", "TransactionReference": { "CustomerContext": r.reference } },
            "Shipment": {
                "Description": r.reference,
                "Shipper": { "Name": s.name, "ShipperNumber": self.account, "Phone": { "Number": s.phone.clone().unwrap_or_default() },
                             "Address": addr(&s.line1, &s.line2, &s.city, &s.state, &s.postcode, &s.country) },
                "ShipFrom": { "Name": s.name, "Address": addr(&s.line1, &s.line2, &s.city, &s.state, &s.postcode, &s.country) },
                "ShipTo": { "Name": t.name, "Phone": { "Number": t.phone.clone().unwrap_or_default() },
                            "Address": addr(&t.line1, &t.line2, &t.city, &t.state, &t.postcode, &t.country) },
                "PaymentInformation": { "ShipmentCharge": [{ "Type": "01", "BillShipper": { "AccountNumber": self.account } }] },
                "Service": { "Code": r.service_code },
                "Package": packages,
            },
            "LabelSpecification": { "LabelImageFormat": { "Code": "ZPL" }, "LabelStockSize": { "Height": "6", "Width": "4" } },
        }})
    }
}

/// Reads a ShipmentResponse (v2409 arrays or the older single objects).
pub fn parse_shipment(body: &Value) -> Result<Shipment, CarrierError> {
    let results = body.pointer("/ShipmentResponse/ShipmentResults").ok_or_else(|| refused(200, body))?;
    let status = body.pointer("/ShipmentResponse/Response/ResponseStatus/Code").and_then(Value::as_str);
    if status != Some("1") {
        return Err(refused(200, body));
    }
    let mut labels = Vec::new();
    for p in as_list(results.get("PackageResults")) {
        let tracking = p.get("TrackingNumber").and_then(Value::as_str).unwrap_or_default().to_owned();
        let format = p.pointer("/ShippingLabel/ImageFormat/Code").and_then(Value::as_str).unwrap_or("ZPL").to_owned();
        let image = p.pointer("/ShippingLabel/GraphicImage").and_then(Value::as_str).unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD.decode(image.trim()).map_err(|e| CarrierError::Refused {
            carrier: NAME,
            status: 200,
            code: "bad_label".into(),
            message: format!("label of {tracking} is not base64: {e}"),
        })?;
        labels.push(Label { tracking_number: tracking, format, bytes });
    }
    let master = results
        .get("ShipmentIdentificationNumber")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| labels.first().map(|l| l.tracking_number.clone()))
        .unwrap_or_default();
    let total = results
        .pointer("/ShipmentCharges/TotalCharges")
        .and_then(|t| Some((t.get("CurrencyCode")?.as_str()?.to_owned(), t.get("MonetaryValue")?.as_str()?.to_owned())));
    Ok(Shipment { master_tracking: master, labels, total_charge: total })
}

#[async_trait]
impl Carrier for UpsClient {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn ship(&self, request: &ShipmentRequest) -> Result<Shipment, CarrierError> {
        let token = self.token().await?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .http
            .post(format!("{}/api/shipments/v2409/ship", self.base))
            .bearer_auth(token.expose())
            .header("transId", &crate::token::random_token()[..32])
            .header("transactionSrc", "quartermaster")
            .json(&self.body(request))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(CarrierError::Transient { carrier: NAME, message: format!("ship: {}", e.without_url()) });
            }
            Err(e) => {
                return Err(CarrierError::Unknown {
                    carrier: NAME,
                    message: if e.is_timeout() { "ship timed out".into() } else { format!("ship: {}", e.without_url()) },
                });
            }
        };
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status {
            200 => parse_shipment(&body),
            429 => Err(CarrierError::Transient { carrier: NAME, message: "ship: HTTP 429 (quota)".into() }),
            s if s >= 500 => Err(CarrierError::Unknown { carrier: NAME, message: format!("ship: HTTP {s}") }),
            s => Err(refused(s, &body)),
        }
    }

    async fn probe(&self) -> Result<(), CarrierError> {
        // A token by client credentials: UPS answers, and takes the account's keys.
        self.token_fresh(true).await.map(|_| ())
    }

    async fn track(&self, tracking_number: &str) -> Result<TrackStatus, CarrierError> {
        let token = self.token().await?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .http
            .get(format!("{}/api/track/v1/details/{tracking_number}", self.base))
            .bearer_auth(token.expose())
            .header("transId", &crate::token::random_token()[..32])
            .header("transactionSrc", "quartermaster")
            .send()
            .await
            .map_err(|e| CarrierError::Transient { carrier: NAME, message: format!("track: {}", e.without_url()) })?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status != 200 {
            return Err(failed("track", status, &body));
        }
        let pkg = body.pointer("/trackResponse/shipment/0/package/0").ok_or_else(|| refused(200, &body))?;
        let latest = pkg.pointer("/activity/0/status");
        Ok(TrackStatus {
            tracking_number: pkg.get("trackingNumber").and_then(Value::as_str).unwrap_or(tracking_number).to_owned(),
            status_type: latest.and_then(|s| s.get("type")).and_then(Value::as_str).unwrap_or_default().to_owned(),
            description: latest.and_then(|s| s.get("description")).and_then(Value::as_str).unwrap_or_default().trim().to_owned(),
            delivered_on: pkg.pointer("/deliveryDate/0/date").and_then(Value::as_str).map(str::to_owned),
        })
    }
}
