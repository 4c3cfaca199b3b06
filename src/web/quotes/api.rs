//! The machine API (`X-QM-Intake-Token`): RFQ intake from the storefront
//! form and mail forwarders, and a buyer's quotes as JSON. Every refusal is
//! one [`ApiError`]: a status and `{"error", "field"}` (a database failure
//! is a logged 500 with no detail), never an HTML or plain-text page.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::{
    money,
    quotes::{
        QuoteError, listing, quote,
        rfq::{self, FormRequest},
    },
    web::AppState,
};

/// The API's one error: a status, what is wrong, the field it is about, and
/// any further keys the caller can act on (e.g. `limit_bytes`).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    field: Option<&'static str>,
    extra: Map<String, Value>,
}

type ApiResult = std::result::Result<Response, ApiError>;

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self { status, error: error.into(), field: None, extra: Map::new() }
    }
    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), self.error.into());
        if let Some(f) = self.field {
            body.insert("field".into(), f.into());
        }
        body.extend(self.extra);
        (self.status, Json(Value::Object(body))).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side; it has been logged")
    }
}

impl From<QuoteError> for ApiError {
    fn from(e: QuoteError) -> Self {
        match e {
            QuoteError::Db(d) => d.into(),
            other => {
                tracing::error!(error = %other, "quote error in the API");
                ApiError::new(super::status_of(&other), other.to_string())
            }
        }
    }
}

/// Refuses a request without the tenant's `X-QM-Intake-Token`.
fn check_token(state: &AppState, headers: &HeaderMap) -> std::result::Result<(), ApiError> {
    let Some(expected) = state.secrets.get("quotes.intake_token") else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "RFQ intake is not configured for this tenant (quotes.intake_token)"));
    };
    let given = headers.get("x-qm-intake-token").map(|v| v.as_bytes()).unwrap_or_default();
    if bool::from(given.ct_eq(expected.expose().as_bytes())) && !given.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "X-QM-Intake-Token is missing or wrong").field("X-QM-Intake-Token"))
    }
}

/// A stored RFQ: 201 with what was read, or (kept for inspection) the 422 naming what could not be.
fn stored_response(stored: &rfq::Stored) -> ApiResult {
    if let Some(m) = &stored.malformed {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m.message.clone())
            .field(m.field)
            .with("rfq", stored.id)
            .with("kept", true)
            .with("detail", format!("{m}; the request is kept as RFQ {} for inspection", stored.id)));
    }
    let body = json!({
        "rfq": stored.id,
        "items": stored.items,
        "unmatched": stored.unmatched,
        "not_read": stored.not_read,
        "limits": { "bytes": rfq::MAX_BYTES, "items": rfq::MAX_ITEMS, "lines": rfq::MAX_LINES },
        "reputation": stored.reputation.as_ref().map(|r| r.score)
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The 413 for an RFQ over the limit, naming the field and the limit.
fn too_large() -> ApiError {
    let mib = rfq::MAX_BYTES / (1024 * 1024);
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("an RFQ is at most {mib} MiB")).field("body").with("limit_bytes", rfq::MAX_BYTES)
}

/// The body, or its refusal (too large, or cut off mid-way).
fn intake_body(body: std::result::Result<Bytes, BytesRejection>) -> std::result::Result<Bytes, ApiError> {
    match body {
        Ok(b) if b.len() <= rfq::MAX_BYTES => Ok(b),
        Ok(_) => Err(too_large()),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
        Err(e) => Err(ApiError::new(e.status(), format!("the body could not be read: {}", e.body_text())).field("body")),
    }
}

/// `POST /rfq`: the storefront's request-a-quote form, JSON or form-encoded.
pub(super) async fn intake_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> ApiResult {
    check_token(&state, &headers)?;
    let body = intake_body(body)?;
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let parsed = if ctype.starts_with("application/json") {
        serde_json::from_slice::<FormRequest>(&body)
            .map_err(|e| rfq::Malformed { field: "body", message: format!("not the expected JSON: {e}") })
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<FormRequest>(&body)
            .map_err(|e| rfq::Malformed { field: "body", message: format!("not the expected form: {e}") })
    } else {
        Err(rfq::Malformed { field: "Content-Type", message: "send application/json or application/x-www-form-urlencoded".into() })
    }
    .and_then(FormRequest::into_request);
    let stored = rfq::store(&state.pool, &state.lookup, "form", &body, parsed).await?;
    stored_response(&stored)
}

/// `POST /rfq/email`: one raw RFC 822 message (message/rfc822 or text/plain).
pub(super) async fn intake_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> ApiResult {
    check_token(&state, &headers)?;
    let body = intake_body(body)?;
    let stored = rfq::store(&state.pool, &state.lookup, "email", &body, rfq::parse_email(&body)).await?;
    stored_response(&stored)
}

#[derive(Deserialize)]
pub(super) struct EmailQuery {
    #[serde(default)]
    email: String,
}

/// `GET /api/quotes?email=`: a buyer's sent and accepted quotes, for the storefront's account page.
pub(super) async fn quotes(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<EmailQuery>) -> ApiResult {
    check_token(&state, &headers)?;
    if !q.email.contains('@') {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "an email address is required").field("email"));
    }
    let exp = money::exponent(&state.config.tenant.currency);
    let list: Vec<serde_json::Value> = listing::for_buyer(&state.pool, q.email.trim())
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "number": r.number,
                "revision": r.revision.map(|x| format!("R{x}")),
                "status": r.status,
                "total": money::format_minor(r.total_minor, exp),
                "currency": r.currency,
                "valid_until": r.valid_until.and_utc().to_rfc3339(),
                "woocommerce_order": r.woo_order_id,
            })
        })
        .collect();
    Ok(Json(json!({ "quotes": list })).into_response())
}

/// `GET /api/quotes/{number}`: the latest sent version's lines and totals.
pub(super) async fn quote(State(state): State<AppState>, headers: HeaderMap, Path(number): Path<String>) -> ApiResult {
    check_token(&state, &headers)?;
    let Some(id) = listing::id_by_number(&state.pool, &number).await? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such quote").field("number"));
    };
    let vs = quote::versions(&state.pool, id).await?;
    let Some(v) = vs.iter().rev().find(|v| v.state == "sent") else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "this quote has not been sent").field("number"));
    };
    let s = &v.snapshot;
    let exp = money::exponent(&s.currency);
    Ok(Json(json!({
        "number": s.number,
        "revision": v.revision.map(|r| format!("R{r}")),
        "currency": s.currency,
        "valid_until": s.valid_until.and_utc().to_rfc3339(),
        "lines": s.lines.iter().map(|l| json!({ "sku": l.sku, "description": l.description, "quantity": l.quantity,
            "unit_price": l.unit_price_minor.map(|p| money::format_minor(p, exp)), "tax": money::format_minor(l.tax_minor, exp), "total": money::format_minor(l.total_minor, exp) })).collect::<Vec<_>>(),
        "subtotal": money::format_minor(s.subtotal_minor, exp),
        "tax": money::format_minor(s.tax_minor, exp),
        "total": money::format_minor(s.total_minor, exp),
    }))
    .into_response())
}
