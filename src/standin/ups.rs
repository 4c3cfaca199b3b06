//! A UPS stand-in: OAuth client credentials, Shipping v2409 (one tracking
//! number and one base64 ZPL label per package, in one answer; v1 answers
//! a single package as an object, as UPS's own sample shows), Tracking v1,
//! and injected failures (a refusal with UPS's error envelope, 5xx, delay).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use serde_json::{Value, json};

const TOKEN: &str = include_str!("fixtures/ups/oauth-token-response.json");
const TOKEN_ERROR: &str = include_str!("fixtures/ups/oauth-token-error.json");
const MULTI: &str = include_str!("fixtures/ups/ship-response-multipiece.json");
const SINGLE_V1: &str = include_str!("fixtures/ups/ship-response-single-package-v1-object.json");
const ERROR: &str = include_str!("fixtures/ups/error.json");
const TRACK: &str = include_str!("fixtures/ups/track-response.json");

/// A failure for the next ship call.
#[derive(Debug, Clone, Copy)]
pub enum UpsFault {
    /// 400 with UPS's error envelope (BillShipper not valid…).
    Refuse,
    /// HTTP 503.
    Unavailable,
    /// Answer after this long.
    Delay(Duration),
}

#[derive(Default)]
struct Account {
    client_id: String,
    client_secret: String,
    tokens: Vec<String>,
    shipments: Vec<Value>,
    next: u32,
    faults: VecDeque<UpsFault>,
    /// Tracking status by number: (type, description, date).
    tracks: std::collections::HashMap<String, (String, String, String)>,
    track_latency: Duration,
    track_requests: u64,
}

/// A simulated UPS account.
#[derive(Clone)]
pub struct UpsStandin {
    acct: Arc<Mutex<Account>>,
}

/// A 1Z tracking number with a valid check digit for `serial`.
pub fn tracking_number(shipper: &str, serial: u32) -> String {
    let body = format!("{shipper}01{:07}", serial % 10_000_000);
    // 1Z check digit: letters map to digits ((c - 'A' + 2) % 10), odd/even weights 1/2.
    let digits: Vec<u32> =
        body.chars().map(|c| if c.is_ascii_digit() { c as u32 - '0' as u32 } else { (c as u32 - 'A' as u32 + 2) % 10 }).collect();
    let sum: u32 = digits.iter().enumerate().map(|(i, d)| if i % 2 == 1 { d * 2 } else { *d }).sum();
    format!("1Z{body}{}", (10 - sum % 10) % 10)
}

impl UpsStandin {
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        Self {
            acct: Arc::new(Mutex::new(Account { client_id: client_id.into(), client_secret: client_secret.into(), ..Account::default() })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Account) -> T) -> T {
        let mut a = self.acct.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut a)
    }

    pub fn inject(&self, faults: &[UpsFault]) {
        self.with(|a| a.faults.extend(faults.iter().copied()));
    }

    /// What tracking says of `number` from now on: UPS's activity status
    /// `type` (D delivered, I in transit, X exception, RS returned to the
    /// shipper, M label created, …), its description and date (YYYYMMDD). A
    /// number given no status answers as the captured sample: delivered.
    pub fn set_track(&self, number: &str, status_type: &str, description: &str, date: &str) {
        self.with(|a| a.tracks.insert(number.to_owned(), (status_type.to_owned(), description.to_owned(), date.to_owned())));
    }

    /// Tracking answers wait this long (a slow carrier, for the benchmark).
    pub fn set_track_latency(&self, d: Duration) {
        self.with(|a| a.track_latency = d);
    }

    /// Tracking requests received.
    pub fn track_requests(&self) -> u64 {
        self.with(|a| a.track_requests)
    }

    /// Ship requests received (the bodies), in order.
    pub fn shipments(&self) -> Vec<Value> {
        self.with(|a| a.shipments.clone())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/security/v1/oauth/token", post(token))
            .route("/api/shipments/{version}/ship", post(ship))
            .route("/api/track/v1/details/{number}", get(track))
            .with_state(self.clone())
    }
}

async fn token(State(u): State<UpsStandin>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")).unwrap_or_default();
    let creds = base64::engine::general_purpose::STANDARD.decode(basic).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_default();
    let form: std::collections::BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let ok = u.with(|a| creds == format!("{}:{}", a.client_id, a.client_secret))
        && form.get("grant_type").map(String::as_str) == Some("client_credentials");
    if !ok {
        return (StatusCode::UNAUTHORIZED, [("content-type", "application/json")], TOKEN_ERROR).into_response();
    }
    let mut v: Value = serde_json::from_str(TOKEN).unwrap_or_default();
    let t = format!("ups-standin-{}", crate::token::random_token());
    v["access_token"] = json!(t);
    u.with(|a| a.tokens.push(t));
    Json(v).into_response()
}

fn authorised(u: &UpsStandin, headers: &HeaderMap) -> bool {
    let bearer =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default().to_owned();
    u.with(|a| a.tokens.contains(&bearer))
}

async fn ship(State(u): State<UpsStandin>, Path(version): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorised(&u, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            r#"{"response":{"errors":[{"code":"250002","message":"Invalid Authentication Information."}]}}"#,
        )
            .into_response();
    }
    match u.with(|a| a.faults.pop_front()) {
        Some(UpsFault::Refuse) => return (StatusCode::BAD_REQUEST, [("content-type", "application/json")], ERROR).into_response(),
        Some(UpsFault::Unavailable) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Some(UpsFault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let packages = req.pointer("/ShipmentRequest/Shipment/Package").and_then(Value::as_array).map_or(0, Vec::len);
    if packages == 0 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "response": { "errors": [{ "code": "120100", "message": "Missing or invalid Package." }] } })),
        )
            .into_response();
    }
    let shipper = req.pointer("/ShipmentRequest/Shipment/Shipper/ShipperNumber").and_then(Value::as_str).unwrap_or("1486YY").to_owned();
    let first = u.with(|a| {
        a.shipments.push(req.clone());
        let n = a.next;
        a.next += packages as u32;
        n
    });
    if version == "v1" && packages == 1 {
        return Json(serde_json::from_str::<Value>(SINGLE_V1).unwrap_or_default()).into_response();
    }
    let mut v: Value = serde_json::from_str(MULTI).unwrap_or_default();
    let template = v.pointer("/ShipmentResponse/ShipmentResults/PackageResults/0").cloned().unwrap_or_default();
    let results: Vec<Value> = (0..packages)
        .map(|i| {
            let tn = tracking_number(&shipper, first + i as u32 + 1);
            let zpl = format!("^XA^CI28^FO40,40^A0N,36,36^FDSTAND-IN UPS LABEL^FS^FO40,100^A0N,30,30^FDPKG {} OF {packages}^FS^FO40,160^BY3^BCN,120,Y,N,N^FD{tn}^FS^XZ\n", i + 1);
            let mut p = template.clone();
            p["TrackingNumber"] = json!(tn);
            p["ShippingLabel"]["GraphicImage"] = json!(base64::engine::general_purpose::STANDARD.encode(zpl));
            p
        })
        .collect();
    v["ShipmentResponse"]["ShipmentResults"]["ShipmentIdentificationNumber"] = results[0]["TrackingNumber"].clone();
    v["ShipmentResponse"]["ShipmentResults"]["PackageResults"] = json!(results);
    Json(v).into_response()
}

async fn track(State(u): State<UpsStandin>, Path(number): Path<String>, headers: HeaderMap) -> Response {
    if !authorised(&u, &headers) || headers.get("transId").is_none() || headers.get("transactionSrc").is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "response": { "errors": [{ "code": "TV0001", "message": "transId and transactionSrc are required" }] } })),
        )
            .into_response();
    }
    let (set, latency) = u.with(|a| {
        a.track_requests += 1;
        (a.tracks.get(&number).cloned(), a.track_latency)
    });
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let text = TRACK.replace("<Tracking Number>", &number).replace("<Inquiry Number>", &number);
    let Some((status_type, description, date)) = set else {
        return (StatusCode::OK, [("content-type", "application/json")], text).into_response();
    };
    // The sample's latest activity, given the status; a package not delivered has no DEL date.
    let mut v: Value = serde_json::from_str(&text).unwrap_or_default();
    if let Some(pkg) = v.pointer_mut("/trackResponse/shipment/0/package/0") {
        pkg["activity"][0]["status"]["type"] = json!(status_type);
        pkg["activity"][0]["status"]["description"] = json!(description);
        pkg["activity"][0]["date"] = json!(date);
        if status_type == "D" {
            pkg["deliveryDate"] = json!([{ "type": "DEL", "date": date }]);
        } else if let Some(obj) = pkg.as_object_mut() {
            obj.remove("deliveryDate");
            obj.remove("deliveryTime");
        }
    }
    Json(v).into_response()
}
