//! Quotes on the web: the back office's RFQ inbox (with reputation), the
//! quote editor (price source per line, hand-set prices with a reason),
//! versions and their diff, send (PDF, revision), accept, re-issue; the
//! buyer's signed acceptance link; and the machine API the storefront and
//! mail forwarders use (`X-QM-Intake-Token`): RFQ intake and a buyer's
//! quotes as JSON.

use askama::Template;
use axum::{
    Extension, Form, Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{
    AppError, AppState, Page, Result,
    session::{MaybeSession, Session},
};
use crate::{
    money,
    operators::Role,
    quotes::{
        form, listing,
        pricing::PriceSource,
        quote::{self, Acceptor, Ctx, QuoteError, Version},
        reputation::{Factor, LOW},
        rfq::{self, FormRequest},
    },
};

const BACK_OFFICE: &[Role] = &[Role::BackOffice];

/// Pages (behind sessions and CSRF).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/quotes", get(inbox))
        .route("/rfqs/{id}", get(rfq_page))
        .route("/rfqs/{id}/quote", post(quote_from_rfq))
        .route("/quotes/{id}", get(quote_page))
        .route("/quotes/{id}/revise", post(revise))
        .route("/quotes/{id}/send", post(send))
        .route("/quotes/{id}/accept", post(accept))
        .route("/quotes/{id}/reissue", post(reissue))
        .route("/quotes/{id}/lost", post(lost))
        .route("/quotes/{id}/versions/{version}/pdf", get(version_pdf))
        .route("/q/{number}", get(buyer_page).post(buyer_accept))
}

/// The machine API (no session; the intake token instead).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/rfq", post(intake_form))
        .route("/rfq/email", post(intake_email))
        // RFQs up to rfq::MAX_BYTES are stored first; a larger body gets a JSON 413 from the handler.
        .layer(DefaultBodyLimit::max(rfq::MAX_BYTES))
        .route("/api/quotes", get(api_quotes))
        .route("/api/quotes/{number}", get(api_quote))
}

fn ctx<'a>(state: &'a AppState, base_dir: &'a std::path::Path) -> Ctx<'a> {
    Ctx { pool: &state.pool, config: &state.config, base_dir, weasy: &state.weasy, woo: &state.woo }
}

fn m(state: &AppState, minor: i64) -> String {
    money::format_minor(minor, money::exponent(&state.config.tenant.currency))
}

/// The status and text a quote refusal gets on a page or in the API.
fn status_of(e: &QuoteError) -> StatusCode {
    match e {
        QuoteError::NotFound(_) => StatusCode::NOT_FOUND,
        QuoteError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        QuoteError::Expired { .. } | QuoteError::WrongState { .. } => StatusCode::CONFLICT,
        QuoteError::BadToken => StatusCode::FORBIDDEN,
        QuoteError::Woo(_) => StatusCode::BAD_GATEWAY,
        QuoteError::Pdf(_) | QuoteError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

// ----------------------------------------------------------------- inbox

struct RfqRow {
    id: u64,
    received: String,
    sender: String,
    subject: String,
    status: String,
    score: Option<i16>,
    low: bool,
    items: i64,
    unmatched: i64,
}

struct QuoteRow {
    id: u64,
    number: String,
    customer: String,
    status: String,
    revision: Option<u32>,
    total: String,
    valid_until: String,
    expiring: bool,
}

#[derive(Template)]
#[template(path = "quotes/inbox.html")]
struct InboxPage {
    base: String,
    tenant_name: String,
    operator: String,
    role: &'static str,
    csrf: String,
    rfqs: Vec<RfqRow>,
    quotes: Vec<QuoteRow>,
    expiring: usize,
}

async fn inbox(State(state): State<AppState>, s: Session) -> Result<Page<InboxPage>> {
    s.require(BACK_OFFICE)?;
    let rfqs = listing::rfqs(&state.pool, 100)
        .await?
        .into_iter()
        .map(|r| RfqRow {
            id: r.id,
            received: state.local_time(r.received_at),
            sender: r.sender,
            subject: r.subject,
            status: r.status,
            low: r.reputation_score.is_some_and(|s| i32::from(s) < LOW),
            score: r.reputation_score,
            items: r.items,
            unmatched: r.unmatched,
        })
        .collect();
    let soon: Vec<u64> = quote::expiring(&state.pool, 7).await?.into_iter().map(|q| q.0).collect();
    let quotes = listing::quotes(&state.pool, 100)
        .await?
        .into_iter()
        .map(|q| QuoteRow {
            expiring: soon.contains(&q.id),
            id: q.id,
            number: q.number,
            customer: q.customer_email,
            status: q.status,
            revision: q.revision,
            total: m(&state, q.total_minor),
            valid_until: state.local_time(q.valid_until),
        })
        .collect();
    Ok(Page(InboxPage {
        base: state.base.to_string(),
        tenant_name: state.config.tenant.name.clone(),
        operator: s.operator.display_name.clone(),
        role: s.operator.role.label(),
        csrf: s.csrf.clone(),
        expiring: soon.len(),
        rfqs,
        quotes,
    }))
}

// ----------------------------------------------------------------- one RFQ

/// An RFQ item: (line, as written, code, product, quantity).
type ItemRow = (u16, String, Option<String>, Option<u64>, u32);

#[derive(Template)]
#[template(path = "quotes/rfq.html")]
struct RfqPage {
    base: String,
    tenant_name: String,
    operator: String,
    role: &'static str,
    csrf: String,
    id: u64,
    sender: String,
    sender_name: String,
    subject: String,
    status: String,
    parse_error: Option<String>,
    intake_note: Option<String>,
    score: Option<i16>,
    low: bool,
    factors: Vec<Factor>,
    items: Vec<ItemRow>,
    body: String,
    raw_len: usize,
    alert: Option<String>,
}

async fn rfq_view(state: &AppState, s: &Session, id: u64) -> Result<RfqPage> {
    let r = listing::rfq(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    let items = listing::rfq_items(&state.pool, id).await?;
    Ok(RfqPage {
        base: state.base.to_string(),
        tenant_name: state.config.tenant.name.clone(),
        operator: s.operator.display_name.clone(),
        role: s.operator.role.label(),
        csrf: s.csrf.clone(),
        id,
        sender: r.sender_email.unwrap_or_default(),
        sender_name: r.sender_name.unwrap_or_default(),
        subject: r.subject.unwrap_or_default(),
        status: r.status,
        parse_error: r.parse_error,
        intake_note: r.intake_note,
        low: r.reputation_score.is_some_and(|v| i32::from(v) < LOW),
        score: r.reputation_score,
        factors: r.factors.and_then(|f| serde_json::from_str(&f).ok()).unwrap_or_default(),
        items,
        body: r.body.unwrap_or_default(),
        raw_len: usize::try_from(r.raw_len).unwrap_or(0),
        alert: None,
    })
}

async fn rfq_page(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Page<RfqPage>> {
    s.require(BACK_OFFICE)?;
    Ok(Page(rfq_view(&state, &s, id).await?))
}

#[derive(Deserialize)]
struct Destination {
    #[serde(default)]
    country: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postcode: String,
}

async fn quote_from_rfq(State(state): State<AppState>, s: Session, Path(id): Path<u64>, Form(d): Form<Destination>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    let country = d.country.trim().to_uppercase();
    match quote::create_from_rfq(&ctx(&state, &base_dir), id, (&country, d.state.trim(), d.postcode.trim()), Some(s.operator.id)).await {
        Ok((quote_id, _)) => Ok(Redirect::to(&format!("{}/quotes/{quote_id}", state.base)).into_response()),
        Err(QuoteError::Db(e)) => Err(e.into()),
        Err(e) => {
            let mut page = rfq_view(&state, &s, id).await?;
            page.alert = Some(e.to_string());
            Ok((status_of(&e), Page(page)).into_response())
        }
    }
}

// ----------------------------------------------------------------- one quote

struct LineRow {
    no: u16,
    sku: String,
    description: String,
    quantity: u32,
    unit: String,
    source: &'static str,
    reason: String,
    tax: String,
    total: String,
    manual_price: String,
}

struct VersionRow {
    version_no: u32,
    revision: String,
    state: String,
    at: String,
    by: String,
    note: String,
    total: String,
    valid_until: String,
}

#[derive(Template)]
#[template(path = "quotes/quote.html")]
struct QuotePage {
    base: String,
    tenant_name: String,
    operator: String,
    role: &'static str,
    csrf: String,
    id: u64,
    number: String,
    status: String,
    woo_order: Option<u64>,
    latest: Version,
    lines: Vec<LineRow>,
    versions: Vec<VersionRow>,
    subtotal: String,
    tax: String,
    total: String,
    unpriced: usize,
    valid_until: String,
    shipping: String,
    diff: Option<(u32, u32, Vec<String>)>,
    alert: Option<String>,
    notice: Option<String>,
    /// Set on the response to Send only.
    sent_revision: Option<u32>,
    accept_link: Option<String>,
}

#[derive(Deserialize, Default)]
struct QuoteQuery {
    a: Option<u32>,
    b: Option<u32>,
}

async fn quote_view(state: &AppState, s: &Session, id: u64, q: &QuoteQuery) -> Result<QuotePage> {
    let head = listing::head(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    let vs = quote::versions(&state.pool, id).await.map_err(|e| match e {
        QuoteError::Db(d) => AppError::from(d),
        other => AppError::Internal(anyhow::anyhow!(other.to_string())),
    })?;
    let latest = vs.last().cloned().ok_or(AppError::NotFound)?;
    let snap = &latest.snapshot;
    let lines = snap
        .lines
        .iter()
        .map(|l| LineRow {
            no: l.line_no,
            sku: l.sku.clone().unwrap_or_default(),
            description: l.description.clone(),
            quantity: l.quantity,
            unit: l.unit_price_minor.map(|p| m(state, p)).unwrap_or_else(|| "—".into()),
            source: l.price_source.as_str(),
            reason: l.price_reason.clone(),
            tax: format!("{} ({})", m(state, l.tax_minor), l.tax_source),
            total: m(state, l.total_minor),
            manual_price: if l.price_source == PriceSource::Manual {
                l.unit_price_minor.map(|p| m(state, p)).unwrap_or_default()
            } else {
                String::new()
            },
        })
        .collect();
    let versions = vs
        .iter()
        .map(|v| VersionRow {
            version_no: v.version_no,
            revision: v.revision.map(|r| format!("R{r}")).unwrap_or_default(),
            state: v.state.clone(),
            at: state.local_time(v.created_at),
            by: v.created_by.clone().unwrap_or_default(),
            note: v.change_note.clone().unwrap_or_default(),
            total: m(state, v.snapshot.total_minor),
            valid_until: state.local_time(v.snapshot.valid_until),
        })
        .collect();
    let diff = match (q.a, q.b) {
        (Some(a), Some(b)) => {
            let find = |n: u32| vs.iter().find(|v| v.version_no == n);
            match (find(a), find(b)) {
                (Some(x), Some(y)) => Some((a, b, quote::diff(&x.snapshot, &y.snapshot))),
                _ => None,
            }
        }
        _ => None,
    };
    Ok(QuotePage {
        base: state.base.to_string(),
        tenant_name: state.config.tenant.name.clone(),
        operator: s.operator.display_name.clone(),
        role: s.operator.role.label(),
        csrf: s.csrf.clone(),
        id,
        number: head.number,
        status: head.status,
        woo_order: head.woo_order_id,
        subtotal: m(state, snap.subtotal_minor),
        tax: m(state, snap.tax_minor),
        total: m(state, snap.total_minor),
        unpriced: snap.unpriced(),
        valid_until: state.local_time(snap.valid_until),
        shipping: m(state, snap.shipping_minor),
        latest,
        lines,
        versions,
        diff,
        alert: None,
        notice: None,
        sent_revision: None,
        accept_link: None,
    })
}

async fn quote_page(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<u64>,
    Query(q): Query<QuoteQuery>,
) -> Result<Page<QuotePage>> {
    s.require(BACK_OFFICE)?;
    Ok(Page(quote_view(&state, &s, id, &q).await?))
}

/// Shows a refusal on the quote page with its status.
async fn refused(state: &AppState, s: &Session, id: u64, e: QuoteError) -> Result<Response> {
    if let QuoteError::Db(d) = e {
        return Err(d.into());
    }
    if matches!(e, QuoteError::Pdf(_)) {
        tracing::error!(error = %e, quote = id, "quote PDF failed");
    }
    let mut page = quote_view(state, s, id, &QuoteQuery::default()).await?;
    page.alert = Some(e.to_string());
    Ok((status_of(&e), Page(page)).into_response())
}

async fn revise(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<u64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let exp = money::exponent(&state.config.tenant.currency);
    let (customer, raw_lines, shipping, note) = match form::read_revision(&fields, exp) {
        Ok(v) => v,
        Err(e) => return refused(&state, &s, id, e).await,
    };
    let mut lines = Vec::new();
    for (sku, mut line) in raw_lines {
        if let Some(sku) = sku {
            match crate::inventory::catalog::id_by_sku(&state.pool, &sku).await? {
                Some(pid) => line.product_id = Some(pid),
                None => {
                    return refused(
                        &state,
                        &s,
                        id,
                        QuoteError::Invalid { field: "product", message: format!("no product with SKU {sku}") },
                    )
                    .await;
                }
            }
        }
        lines.push(line);
    }
    let base_dir = state.loaded.base_dir();
    let outcome = quote::revise(&ctx(&state, &base_dir), id, &customer, &lines, shipping, &note, s.operator.id).await;
    back_to_quote(&state, &s, id, outcome).await
}

/// After an action: back to the quote page (303), or the page with the refusal.
async fn back_to_quote<T>(state: &AppState, s: &Session, id: u64, outcome: std::result::Result<T, QuoteError>) -> Result<Response> {
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("{}/quotes/{id}", state.base)).into_response()),
        Err(e) => refused(state, s, id, e).await,
    }
}

async fn send(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    match quote::send(&ctx(&state, &base_dir), id, s.operator.id).await {
        Ok(sent) => {
            // The link is shown once, in this response: never in a URL we redirect to (it would land in logs and history).
            let mut page = quote_view(&state, &s, id, &QuoteQuery::default()).await?;
            let link = format!("{}/q/{}?token={}", state.base, super::error::urlencode(&page.number), sent.accept_token);
            page.notice = Some(format!(
                "Sent as R{}. The buyer's acceptance link (shown only now; it works until the quote expires): {link}",
                sent.revision
            ));
            page.sent_revision = Some(sent.revision);
            page.accept_link = Some(link);
            Ok(Page(page).into_response())
        }
        Err(e) => refused(&state, &s, id, e).await,
    }
}

async fn accept(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    let outcome = quote::accept(&ctx(&state, &base_dir), id, Acceptor::BackOffice(s.operator.id)).await;
    back_to_quote(&state, &s, id, outcome).await
}

async fn reissue(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    let outcome = quote::reissue(&ctx(&state, &base_dir), id, s.operator.id).await;
    back_to_quote(&state, &s, id, outcome).await
}

#[derive(Deserialize)]
struct LostForm {
    #[serde(default)]
    reason: String,
}

async fn lost(State(state): State<AppState>, s: Session, Path(id): Path<u64>, Form(f): Form<LostForm>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let outcome = quote::mark_lost(&state.pool, id, &f.reason, s.operator.id).await;
    back_to_quote(&state, &s, id, outcome).await
}

/// A version's PDF: the stored bytes for a sent version, a fresh draft render otherwise.
async fn version_pdf(State(state): State<AppState>, s: Session, Path((id, version)): Path<(u64, u32)>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let vs = quote::versions(&state.pool, id).await.map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?;
    let v = vs.iter().find(|v| v.version_no == version).ok_or(AppError::NotFound)?;
    let pdf = match quote::stored_pdf(&state.pool, v.id).await? {
        Some((pdf, _)) => pdf,
        None => {
            let base_dir = state.loaded.base_dir();
            quote::render_pdf(&ctx(&state, &base_dir), &v.snapshot, v.revision)
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?
        }
    };
    let name = format!("{}-{}.pdf", v.snapshot.number, v.revision.map_or_else(|| format!("draft{}", v.version_no), |r| format!("R{r}")));
    Ok(([(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\""))], pdf)
        .into_response())
}

// ----------------------------------------------------------------- the buyer's link

#[derive(Template)]
#[template(path = "quotes/buyer.html")]
struct BuyerPage {
    base: String,
    tenant_name: String,
    csrf: String,
    number: String,
    token: String,
    revision: String,
    lines: Vec<(String, u32, String, String)>,
    total: String,
    valid_until: String,
    status: String,
    alert: Option<String>,
    done: Option<u64>,
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn buyer_view(state: &AppState, csrf: String, number: &str, token: &str) -> std::result::Result<BuyerPage, (StatusCode, String)> {
    let refuse = || (StatusCode::FORBIDDEN, QuoteError::BadToken.to_string());
    let id = match quote::quote_for_link(&state.pool, number, token).await {
        Ok(id) => id,
        Err(QuoteError::Db(_)) => return Err((StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side".to_owned())),
        Err(_) => return Err(refuse()),
    };
    let status = match listing::head(&state.pool, id).await {
        Ok(Some(h)) => h.status,
        _ => return Err(refuse()),
    };
    let vs = quote::versions(&state.pool, id).await.map_err(|_| refuse())?;
    let v = vs.iter().rev().find(|v| v.state == "sent").ok_or_else(refuse)?;
    let s = &v.snapshot;
    Ok(BuyerPage {
        base: state.base.to_string(),
        tenant_name: state.config.tenant.name.clone(),
        csrf,
        number: number.to_owned(),
        token: token.to_owned(),
        revision: v.revision.map(|r| format!("R{r}")).unwrap_or_default(),
        lines: s
            .lines
            .iter()
            .map(|l| {
                (l.description.clone(), l.quantity, l.unit_price_minor.map(|p| m(state, p)).unwrap_or_default(), m(state, l.total_minor))
            })
            .collect(),
        total: format!("{} {}", m(state, s.total_minor), s.currency),
        valid_until: state.local_time(s.valid_until),
        status,
        alert: None,
        done: None,
    })
}

/// The CSRF token the buyer's form must carry: the session's when someone is
/// signed in on this browser (the middleware checks that one), else the cookie's.
fn buyer_csrf(state: &AppState, jar: CookieJar, signed: Option<Session>) -> (CookieJar, String) {
    match signed {
        Some(s) => (jar, s.csrf),
        None => super::auth::csrf_cookie(state, jar),
    }
}

async fn buyer_page(
    State(state): State<AppState>,
    Extension(MaybeSession(signed)): Extension<MaybeSession>,
    jar: CookieJar,
    Path(number): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let (jar, csrf) = buyer_csrf(&state, jar, signed);
    match buyer_view(&state, csrf, &number, &q.token).await {
        Ok(page) => (jar, Page(page)).into_response(),
        Err((status, text)) => (status, text).into_response(),
    }
}

#[derive(Deserialize)]
struct BuyerForm {
    #[serde(default)]
    token: String,
}

async fn buyer_accept(
    State(state): State<AppState>,
    Extension(MaybeSession(signed)): Extension<MaybeSession>,
    jar: CookieJar,
    Path(number): Path<String>,
    Form(f): Form<BuyerForm>,
) -> Response {
    let (jar, csrf) = buyer_csrf(&state, jar, signed);
    let mut page = match buyer_view(&state, csrf, &number, &f.token).await {
        Ok(p) => p,
        Err((status, text)) => return (status, text).into_response(),
    };
    let base_dir = state.loaded.base_dir();
    let outcome = match quote::quote_for_link(&state.pool, &number, &f.token).await {
        Ok(id) => quote::accept(&ctx(&state, &base_dir), id, Acceptor::Buyer { number: &number, token: &f.token }).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(order) => {
            page.done = Some(order);
            page.status = "accepted".into();
            (jar, Page(page)).into_response()
        }
        Err(e) => {
            let status = status_of(&e);
            page.alert = Some(if matches!(e, QuoteError::Db(_) | QuoteError::Pdf(_)) {
                "something went wrong on our side; please try again".into()
            } else {
                e.to_string()
            });
            (status, jar, Page(page)).into_response()
        }
    }
}

// ----------------------------------------------------------------- machine API

/// The refusal for a request without the tenant's `X-QM-Intake-Token`, if any.
fn intake_refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = state.secrets.get("quotes.intake_token") else {
        return Some(
            (StatusCode::NOT_FOUND, Json(json!({ "error": "RFQ intake is not configured for this tenant (quotes.intake_token)" })))
                .into_response(),
        );
    };
    let given = headers.get("x-qm-intake-token").map(|v| v.as_bytes()).unwrap_or_default();
    if bool::from(given.ct_eq(expected.expose().as_bytes())) && !given.is_empty() {
        None
    } else {
        Some(
            (StatusCode::UNAUTHORIZED, Json(json!({ "error": "X-QM-Intake-Token is missing or wrong", "field": "X-QM-Intake-Token" })))
                .into_response(),
        )
    }
}

fn stored_response(stored: &rfq::Stored) -> Response {
    match &stored.malformed {
        Some(m) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": m.message, "field": m.field, "rfq": stored.id, "kept": true, "detail": format!("{m}; the request is kept as RFQ {} for inspection", stored.id) })),
        )
            .into_response(),
        None => (
            StatusCode::CREATED,
            Json(json!({
                "rfq": stored.id,
                "items": stored.items,
                "unmatched": stored.unmatched,
                "not_read": stored.not_read,
                "limits": { "bytes": rfq::MAX_BYTES, "items": rfq::MAX_ITEMS, "lines": rfq::MAX_LINES },
                "reputation": stored.reputation.as_ref().map(|r| r.score)
            })),
        )
            .into_response(),
    }
}

/// `POST /rfq`: the storefront's request-a-quote form, JSON or form-encoded.
/// The 413 for an RFQ over the limit, naming the field and the limit.
fn too_large() -> Response {
    let mib = rfq::MAX_BYTES / (1024 * 1024);
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(json!({ "error": format!("an RFQ is at most {mib} MiB"), "field": "body", "limit_bytes": rfq::MAX_BYTES })),
    )
        .into_response()
}

/// The body, or the response refusing it (too large, or cut off mid-way).
fn intake_body(body: std::result::Result<Bytes, BytesRejection>) -> std::result::Result<Bytes, Box<Response>> {
    match body {
        Ok(b) if b.len() <= rfq::MAX_BYTES => Ok(b),
        Ok(_) => Err(Box::new(too_large())),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(Box::new(too_large())),
        Err(e) => Err(Box::new(
            (e.status(), Json(json!({ "error": format!("the body could not be read: {}", e.body_text()), "field": "body" })))
                .into_response(),
        )),
    }
}

async fn intake_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    if let Some(r) = intake_refusal(&state, &headers) {
        return Ok(r);
    }
    let body = match intake_body(body) {
        Ok(b) => b,
        Err(r) => return Ok(*r),
    };
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
    Ok(stored_response(&stored))
}

/// `POST /rfq/email`: one raw RFC 822 message (message/rfc822 or text/plain).
async fn intake_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    if let Some(r) = intake_refusal(&state, &headers) {
        return Ok(r);
    }
    let body = match intake_body(body) {
        Ok(b) => b,
        Err(r) => return Ok(*r),
    };
    let stored = rfq::store(&state.pool, &state.lookup, "email", &body, rfq::parse_email(&body)).await?;
    Ok(stored_response(&stored))
}

#[derive(Deserialize)]
struct EmailQuery {
    #[serde(default)]
    email: String,
}

/// `GET /api/quotes?email=`: a buyer's sent and accepted quotes, for the storefront's account page.
async fn api_quotes(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<EmailQuery>) -> Result<Response> {
    if let Some(r) = intake_refusal(&state, &headers) {
        return Ok(r);
    }
    if !q.email.contains('@') {
        return Ok(
            (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": "an email address is required", "field": "email" }))).into_response()
        );
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
async fn api_quote(State(state): State<AppState>, headers: HeaderMap, Path(number): Path<String>) -> Result<Response> {
    if let Some(r) = intake_refusal(&state, &headers) {
        return Ok(r);
    }
    let Some(id) = listing::id_by_number(&state.pool, &number).await? else {
        return Ok((StatusCode::NOT_FOUND, Json(json!({ "error": "no such quote", "field": "number" }))).into_response());
    };
    let vs = quote::versions(&state.pool, id).await.map_err(|e| AppError::Internal(anyhow::anyhow!(e.to_string())))?;
    let Some(v) = vs.iter().rev().find(|v| v.state == "sent") else {
        return Ok((StatusCode::NOT_FOUND, Json(json!({ "error": "this quote has not been sent", "field": "number" }))).into_response());
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
