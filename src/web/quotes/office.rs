//! The back office's quote pages: the RFQ inbox with reputation, one RFQ,
//! the quote editor (price source per line, hand-set prices with a reason),
//! versions and their diff, send (PDF, revision), accept, re-issue, lost.

use askama::Template;
use axum::{
    Form,
    extract::{Path, Query, State},
    http::header,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{BACK_OFFICE, ctx, m, status_of};
use crate::{
    money,
    quotes::{
        QuoteError, form, listing,
        pricing::PriceSource,
        quote::{self, Version},
        reputation::{Factor, LOW},
        send::{self, Acceptor},
        snapshot,
    },
    web::{
        AppError, AppState, Page, Result,
        chrome::{Chrome, chromed},
        session::Session,
    },
};

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
pub(super) struct InboxPage {
    chrome: Chrome,
    rfqs: Vec<RfqRow>,
    quotes: Vec<QuoteRow>,
    expiring: usize,
}

pub(super) async fn inbox(State(state): State<AppState>, s: Session) -> Result<Page<InboxPage>> {
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
    let soon: Vec<u64> = send::expiring(&state.pool, 7).await?.into_iter().map(|q| q.0).collect();
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
    Ok(Page(InboxPage { chrome: Chrome::signed_in(&state, &s), expiring: soon.len(), rfqs, quotes }))
}

// ----------------------------------------------------------------- one RFQ

/// An RFQ item: (line, as written, code, product, quantity).
type ItemRow = (u16, String, Option<String>, Option<u64>, u32);

#[derive(Template)]
#[template(path = "quotes/rfq.html")]
pub(super) struct RfqPage {
    chrome: Chrome,
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
        chrome: Chrome::signed_in(state, s),
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

pub(super) async fn rfq_page(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Page<RfqPage>> {
    s.require(BACK_OFFICE)?;
    Ok(Page(rfq_view(&state, &s, id).await?))
}

#[derive(Deserialize)]
pub(super) struct Destination {
    #[serde(default)]
    country: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postcode: String,
}

pub(super) async fn quote_from_rfq(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<u64>,
    Form(d): Form<Destination>,
) -> Result<Response> {
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
    /// What became of each mail of this version: "to x: sent at …".
    mail: Vec<String>,
}

#[derive(Template)]
#[template(path = "quotes/quote.html")]
pub(super) struct QuotePage {
    chrome: Chrome,
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
pub(super) struct QuoteQuery {
    a: Option<u32>,
    b: Option<u32>,
}

async fn quote_view(state: &AppState, s: &Session, id: u64, q: &QuoteQuery) -> Result<QuotePage> {
    let head = listing::head(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    let vs = quote::versions(&state.pool, id).await?;
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
    let mut mails = Vec::with_capacity(vs.len());
    for v in &vs {
        let sends =
            if v.state == "sent" { crate::mail::outbox::for_subject(&state.pool, &send::mailing_ref(v.id)).await? } else { Vec::new() };
        mails.push(
            sends
                .into_iter()
                .map(|r| match r.status.as_str() {
                    "sent" => format!("mailed to {}: sent {}", r.recipients, r.sent_at.map(|t| state.local_time(t)).unwrap_or_default()),
                    "bounced" => format!("mailed to {}: BOUNCED ({})", r.recipients, r.bounce_reason.unwrap_or_default()),
                    "failed" => format!("mailed to {}: NOT SENT ({})", r.recipients, r.last_error.unwrap_or_default()),
                    _ => format!(
                        "mailed to {}: waiting to be sent{}",
                        r.recipients,
                        r.last_error.map(|e| format!(" (last try: {e})")).unwrap_or_default()
                    ),
                })
                .collect::<Vec<_>>(),
        );
    }
    let versions = vs
        .iter()
        .zip(mails)
        .map(|(v, mail)| VersionRow {
            version_no: v.version_no,
            revision: v.revision.map(|r| format!("R{r}")).unwrap_or_default(),
            state: v.state.clone(),
            at: state.local_time(v.created_at),
            by: v.created_by.clone().unwrap_or_default(),
            note: v.change_note.clone().unwrap_or_default(),
            total: m(state, v.snapshot.total_minor),
            valid_until: state.local_time(v.snapshot.valid_until),
            mail,
        })
        .collect();
    let diff = match (q.a, q.b) {
        (Some(a), Some(b)) => {
            let find = |n: u32| vs.iter().find(|v| v.version_no == n);
            match (find(a), find(b)) {
                (Some(x), Some(y)) => Some((a, b, snapshot::diff(&x.snapshot, &y.snapshot))),
                _ => None,
            }
        }
        _ => None,
    };
    Ok(QuotePage {
        chrome: Chrome::signed_in(state, s),
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

pub(super) async fn quote_page(
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

pub(super) async fn revise(
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

pub(super) async fn send(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    match send::send(&ctx(&state, &base_dir), id, s.operator.id).await {
        Ok(sent) => {
            // The link is shown once, in this response: never in a URL we redirect to (it would land in logs and history).
            let mut page = quote_view(&state, &s, id, &QuoteQuery::default()).await?;
            let link = format!("{}/q/{}?token={}", state.base, crate::web::error::urlencode(&page.number), sent.accept_token);
            let mailed = match &sent.mailed {
                Some(Ok(_)) => format!(" Mailed to {} with the PDF.", page.latest.snapshot.customer.email),
                Some(Err(e)) => format!(" It could NOT be mailed ({e}); send the PDF yourself or mail it again below."),
                None => " No mail server is set up (smtp), so nothing was mailed.".into(),
            };
            page.notice = Some(format!(
                "Sent as R{}.{mailed} The buyer's acceptance link (shown only now; it works until the quote expires): {link}",
                sent.revision
            ));
            page.sent_revision = Some(sent.revision);
            page.accept_link = Some(link);
            Ok(Page(page).into_response())
        }
        Err(e) => refused(&state, &s, id, e).await,
    }
}

/// Mails the latest sent version again (after a bounce or a failure), with its stored PDF.
pub(super) async fn mail_again(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    let outcome = send::mail_again(&ctx(&state, &base_dir), id, s.operator.id).await;
    back_to_quote(&state, &s, id, outcome).await
}

pub(super) async fn accept(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    let outcome = send::accept(&ctx(&state, &base_dir), id, Acceptor::BackOffice(s.operator.id)).await;
    back_to_quote(&state, &s, id, outcome).await
}

pub(super) async fn reissue(State(state): State<AppState>, s: Session, Path(id): Path<u64>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let base_dir = state.loaded.base_dir();
    let outcome = quote::reissue(&ctx(&state, &base_dir), id, s.operator.id).await;
    back_to_quote(&state, &s, id, outcome).await
}

#[derive(Deserialize)]
pub(super) struct LostForm {
    #[serde(default)]
    reason: String,
}

pub(super) async fn lost(State(state): State<AppState>, s: Session, Path(id): Path<u64>, Form(f): Form<LostForm>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let outcome = send::mark_lost(&state.pool, id, &f.reason, s.operator.id).await;
    back_to_quote(&state, &s, id, outcome).await
}

/// A version's PDF: the stored bytes for a sent version, a fresh draft render otherwise.
pub(super) async fn version_pdf(State(state): State<AppState>, s: Session, Path((id, version)): Path<(u64, u32)>) -> Result<Response> {
    s.require(BACK_OFFICE)?;
    let vs = quote::versions(&state.pool, id).await?;
    let v = vs.iter().find(|v| v.version_no == version).ok_or(AppError::NotFound)?;
    let pdf = match send::stored_pdf(&state.pool, v.id).await? {
        Some((pdf, _)) => pdf,
        None => {
            let base_dir = state.loaded.base_dir();
            send::render_pdf(&ctx(&state, &base_dir), &v.snapshot, v.revision).await?
        }
    };
    let name = format!("{}-{}.pdf", v.snapshot.number, v.revision.map_or_else(|| format!("draft{}", v.version_no), |r| format!("R{r}")));
    Ok(([(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\""))], pdf)
        .into_response())
}

chromed!(InboxPage, RfqPage, QuotePage);
