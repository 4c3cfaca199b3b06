//! Back-office inventory pages: receiving a supplier invoice (CSV pasted or
//! loaded from a file by the browser) and lot adjustments, each recorded
//! with the signed-in operator.

use askama::Template;
use axum::{
    Form, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::NaiveDate;
use serde::Deserialize;

use super::{AppState, Page, Result, session::Session};
use crate::{
    inventory::receive::{self, Invoice, REASONS},
    money,
    operators::Role,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/inventory/receive", get(page).post(submit)).route("/inventory/adjust", axum::routing::post(adjust))
}

/// A recent lot for the list under the forms.
pub struct LotRow {
    pub id: u64,
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
    base: String,
    tenant_name: String,
    operator: String,
    role: &'static str,
    csrf: String,
    supplier: String,
    invoice: String,
    date: String,
    csv: String,
    errors: Vec<String>,
    notice: Option<String>,
    reasons: &'static [&'static str],
    lots: Vec<LotRow>,
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
            base: state.base.to_string(),
            tenant_name: state.config.tenant.name.clone(),
            operator: s.operator.display_name.clone(),
            role: s.operator.role.label(),
            csrf: s.csrf.clone(),
            supplier: String::new(),
            invoice: String::new(),
            date: chrono::Utc::now().with_timezone(&state.tz()).date_naive().to_string(),
            csv: String::new(),
            errors: Vec::new(),
            notice: None,
            reasons: REASONS,
            lots,
        })
    }
}

async fn page(State(state): State<AppState>, s: Session) -> Result<Page<ReceivePage>> {
    s.require(&[Role::BackOffice])?;
    Ok(Page(ReceivePage::new(&state, &s).await?))
}

#[derive(Deserialize)]
struct ReceiveForm {
    supplier: String,
    invoice: String,
    date: String,
    csv: String,
}

async fn submit(State(state): State<AppState>, s: Session, Form(f): Form<ReceiveForm>) -> Result<Response> {
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
                done.notice = Some(format!("Received invoice {reference} from {supplier}: {} lots, {} units.", r.lots, r.units));
                return Ok(Page(done).into_response());
            }
            Err(receive::ReceiveError::Db(e)) => return Err(e.into()),
            Err(e) => p.errors.push(e.to_string()),
        }
    }
    // Nothing was written: hand the form back with every problem and the text as typed.
    (p.supplier, p.invoice, p.date, p.csv) = (supplier, reference, f.date, f.csv);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(p)).into_response())
}

#[derive(Deserialize)]
struct AdjustForm {
    lot: String,
    delta: String,
    reason: String,
    note: String,
}

async fn adjust(State(state): State<AppState>, s: Session, Form(f): Form<AdjustForm>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let mut p = ReceivePage::new(&state, &s).await?;
    let lot = f.lot.trim().parse::<u64>().map_err(|_| p.errors.push("lot: expected a lot number".into())).ok();
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
