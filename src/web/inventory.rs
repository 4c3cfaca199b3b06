//! Back-office inventory pages: receiving a supplier invoice (CSV pasted or
//! loaded from a file by the browser) and lot adjustments, each recorded
//! with the signed-in operator.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use axum_extra::extract::cookie::CookieJar;
use chrono::NaiveDate;
use serde::Deserialize;

use super::{
    AppError, AppState, Page, Result,
    chrome::{Chrome, chromed},
    session::Session,
    station::printers_here,
};
use crate::{
    ids::LotId,
    inventory::{
        receive::{self, Invoice, REASONS},
        stock::{self, LotDetail},
    },
    money,
    operators::Role,
    station::{labels, ship::Printed},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/inventory/receive", get(page).post(submit))
        .route("/inventory/adjust", post(adjust))
        .route("/inventory/lots/{id}", get(lot_page))
        .route("/inventory/lots/{id}/label", post(lot_label))
}

/// What printing labels did, in a sentence for the page; the second part
/// names what did not print (kept and retried, or no printer).
fn printed_note(p: &Printed) -> (String, Option<String>) {
    let mut problems = p.missing.clone();
    problems.extend(p.queued.iter().map(|q| format!("not printed yet: {q}")));
    (format!("{} label(s) sent to the label printer.", p.sent), (!problems.is_empty()).then(|| problems.join("; ")))
}

/// A recent lot for the list under the forms.
pub struct LotRow {
    pub id: LotId,
    pub sku: String,
    pub lot_ref: String,
    pub received: String,
    pub remaining: u32,
    pub reserved: u32,
    pub unit_cost: String,
}

#[derive(Template)]
#[template(path = "inventory/receive.html")]
struct ReceivePage {
    chrome: Chrome,
    supplier: String,
    invoice: String,
    date: String,
    csv: String,
    errors: Vec<String>,
    notice: Option<String>,
    reasons: &'static [&'static str],
    lots: Vec<LotRow>,
    /// Lot labels that did not print (kept and retried, or no printer).
    print_problem: Option<String>,
    /// Whether the receipt prints a label for each lot.
    print_labels: bool,
}

impl ReceivePage {
    async fn new(state: &AppState, s: &Session) -> Result<Self> {
        let exp = money::exponent(&state.config.tenant.currency);
        let lots = crate::inventory::stock::recent_lots(&state.pool, 25)
            .await?
            .into_iter()
            .map(|l| LotRow {
                id: l.id,
                sku: l.sku,
                lot_ref: l.lot_ref,
                received: state.local_time(l.received_at),
                remaining: l.qty_remaining,
                reserved: l.qty_reserved,
                unit_cost: money::format_minor(l.unit_cost_minor, exp),
            })
            .collect();
        Ok(Self {
            chrome: Chrome::signed_in(state, s),
            supplier: String::new(),
            invoice: String::new(),
            date: chrono::Utc::now().with_timezone(&state.tz()).date_naive().to_string(),
            csv: String::new(),
            errors: Vec::new(),
            notice: None,
            reasons: REASONS,
            lots,
            print_problem: None,
            print_labels: true,
        })
    }
}

async fn page(State(state): State<AppState>, s: Session) -> Result<Page<ReceivePage>> {
    s.require(&[Role::BackOffice])?;
    Ok(Page(ReceivePage::new(&state, &s).await?))
}

/// Every field defaults, so the role check comes before any complaint about the form.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ReceiveForm {
    supplier: String,
    invoice: String,
    date: String,
    csv: String,
    /// The "print a label for each lot" box (absent when unticked).
    labels: Option<String>,
}

async fn submit(State(state): State<AppState>, s: Session, jar: CookieJar, Form(f): Form<ReceiveForm>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let mut p = ReceivePage::new(&state, &s).await?;
    let supplier = f.supplier.trim().to_owned();
    let reference = f.invoice.trim().to_owned();
    if supplier.is_empty() {
        p.errors.push("supplier: required".into());
    } else if supplier.chars().count() > 160 {
        p.errors.push("supplier: at most 160 characters".into());
    }
    if reference.is_empty() {
        p.errors.push("invoice: required".into());
    } else if reference.chars().count() > 64 {
        p.errors.push("invoice: at most 64 characters".into());
    }
    let date = NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d");
    if date.is_err() {
        p.errors.push("date: expected YYYY-MM-DD".into());
    }
    let rows = match receive::parse_csv(&state.pool, &f.csv, &state.config.tenant.currency).await? {
        Ok(rows) if rows.is_empty() => {
            p.errors.push("csv: no rows below the header".into());
            Vec::new()
        }
        Ok(rows) => rows,
        Err(errors) => {
            p.errors.extend(errors.iter().map(|e| format!("csv {e}")));
            Vec::new()
        }
    };
    if p.errors.is_empty() {
        let invoice = Invoice {
            supplier: supplier.clone(),
            reference: reference.clone(),
            date: date.unwrap_or_default(),
            currency: state.config.tenant.currency.clone(),
        };
        match receive::apply(&state.pool, &invoice, &rows, Some(s.operator.id), &|_, _| {}).await {
            Ok(r) => {
                let mut done = ReceivePage::new(&state, &s).await?;
                let mut notice = format!("Received invoice {reference} from {supplier}: {} lots, {} units.", r.lots, r.units);
                if f.labels.is_some() {
                    let lots = stock::lots_of_invoice(&state.pool, r.invoice_id).await?;
                    let (_, printers) = printers_here(&state, &jar);
                    let printed =
                        labels::print_lots(&state.pool, &printers, &lots, 1, (s.operator.id, s.operator.username.as_str())).await?;
                    let (sent, problems) = printed_note(&printed);
                    notice = format!("{notice} {sent}");
                    done.print_problem = problems;
                }
                done.notice = Some(notice);
                return Ok(Page(done).into_response());
            }
            Err(receive::ReceiveError::Db(e)) => return Err(e.into()),
            Err(e) => p.errors.push(e.to_string()),
        }
    }
    // Nothing was written: hand the form back with every problem and the text as typed.
    (p.supplier, p.invoice, p.date, p.csv, p.print_labels) = (supplier, reference, f.date, f.csv, f.labels.is_some());
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(p)).into_response())
}

/// Every field defaults, so the role check comes before any complaint about the form.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AdjustForm {
    lot: String,
    delta: String,
    reason: String,
    note: String,
}

async fn adjust(State(state): State<AppState>, s: Session, Form(f): Form<AdjustForm>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let mut p = ReceivePage::new(&state, &s).await?;
    let lot = f.lot.trim().parse::<u64>().map(LotId).map_err(|_| p.errors.push("lot: expected a lot number".into())).ok();
    let delta = f.delta.trim().parse::<i32>().map_err(|_| p.errors.push("delta: expected a whole number such as -2".into())).ok();
    if !REASONS.contains(&f.reason.as_str()) {
        p.errors.push(format!("reason: one of {}", REASONS.join(", ")));
    }
    if let (Some(lot), Some(delta), true) = (lot, delta, p.errors.is_empty()) {
        let note = Some(f.note.trim()).filter(|n| !n.is_empty());
        match receive::adjust(&state.pool, lot, delta, &f.reason, note, Some(s.operator.id)).await {
            Ok(left) => {
                let mut done = ReceivePage::new(&state, &s).await?;
                done.notice = Some(format!("Lot {lot} adjusted by {delta} ({}): {left} remaining.", f.reason));
                return Ok(Page(done).into_response());
            }
            Err(receive::AdjustError::Db(e)) => return Err(e.into()),
            Err(e) => p.errors.push(format!("adjustment: {e}")),
        }
    }
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(p)).into_response())
}

#[derive(Template)]
#[template(path = "inventory/lot.html")]
struct LotPage {
    chrome: Chrome,
    lot: LotDetail,
    received: String,
    unit_cost: String,
    max_copies: u32,
    notice: Option<String>,
    alert: Option<String>,
}

async fn lot_view(state: &AppState, s: &Session, id: LotId) -> Result<LotPage> {
    let lot = stock::lot(&state.pool, id).await?.ok_or(AppError::NotFound)?;
    Ok(LotPage {
        chrome: Chrome::signed_in(state, s),
        received: state.local_time(lot.received_at),
        unit_cost: money::format_minor(lot.unit_cost_minor, money::exponent(&state.config.tenant.currency)),
        lot,
        max_copies: labels::MAX_COPIES,
        notice: None,
        alert: None,
    })
}

async fn lot_page(State(state): State<AppState>, s: Session, Path(id): Path<LotId>) -> Result<Page<LotPage>> {
    s.require(&[Role::BackOffice, Role::Picker])?;
    Ok(Page(lot_view(&state, &s, id).await?))
}

#[derive(Deserialize)]
struct LabelForm {
    #[serde(default)]
    copies: String,
}

async fn lot_label(
    State(state): State<AppState>,
    s: Session,
    jar: CookieJar,
    Path(id): Path<LotId>,
    Form(f): Form<LabelForm>,
) -> Result<Response> {
    s.require(&[Role::BackOffice, Role::Picker])?;
    let mut page = lot_view(&state, &s, id).await?;
    let copies = match f.copies.trim() {
        "" => Some(1),
        c => c.parse::<u32>().ok().filter(|n| (1..=labels::MAX_COPIES).contains(n)),
    };
    let Some(copies) = copies else {
        page.alert = Some(format!("copies: a whole number from 1 to {}", labels::MAX_COPIES));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response());
    };
    let (_, printers) = printers_here(&state, &jar);
    let printed =
        labels::print_lots(&state.pool, &printers, std::slice::from_ref(&page.lot), copies, (s.operator.id, s.operator.username.as_str()))
            .await?;
    let (sent, problems) = printed_note(&printed);
    page.notice = Some(sent);
    let status = if printed.missing.is_empty() { StatusCode::OK } else { StatusCode::CONFLICT };
    page.alert = problems;
    Ok((status, Page(page)).into_response())
}

chromed!(ReceivePage, LotPage);
