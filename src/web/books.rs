//! The books' pages: journal, trial balance, COGS trail, inventory
//! valuation, receivables aging, an order's books, an invoice's landed
//! charges, and periods. Each report is one table also served as CSV
//! (`?format=csv`); figures in the tenant's currency, dates in its zone.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use super::{AppError, AppState, Page, Result, session::Session};
use crate::{
    books::{
        Ledger, journal, receivables,
        refunds::{self, NewRefund},
        reports::{self, JournalFilter},
        trail,
    },
    ids::OrderId,
    inventory::{
        landed::{self, Basis, NewCharge},
        receive,
    },
    money,
    operators::Role,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/books", get(index))
        .route("/books/post", post(post_now))
        .route("/books/journal", get(journal_page))
        .route("/books/trial-balance", get(trial_balance))
        .route("/books/cogs", get(cogs))
        .route("/books/valuation", get(valuation))
        .route("/books/ar", get(aging))
        .route("/books/ar/payments", post(payment))
        .route("/books/orders/{id}", get(order_page))
        .route("/books/orders/{id}/refunds", post(refund))
        .route("/books/invoices/{id}", get(invoice_page))
        .route("/books/invoices/{id}/charges", post(charge))
        .route("/books/periods/close", post(close_period))
}

/// A text cell, a link when `href` is set.
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
}

fn c(text: impl Into<String>) -> Cell {
    Cell { text: text.into(), href: None }
}

fn link(text: impl Into<String>, href: String) -> Cell {
    Cell { text: text.into(), href: Some(href) }
}

/// One table of a report.
pub struct Table {
    pub caption: String,
    pub headers: Vec<&'static str>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<Cell>>,
    pub foot: Vec<String>,
}

impl Table {
    /// Headers ending in `#` are right-aligned figures (the mark is dropped).
    fn new(caption: impl Into<String>, headers: &[&'static str]) -> Table {
        Table {
            caption: caption.into(),
            numeric: headers.iter().map(|h| h.ends_with('#')).collect(),
            headers: headers.iter().map(|h| h.trim_end_matches('#')).collect(),
            rows: Vec::new(),
            foot: Vec::new(),
        }
    }
}

/// An input of a filter or a form.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    pub hint: &'static str,
}

fn field(name: &'static str, label: &'static str, value: impl Into<String>, hint: &'static str) -> Field {
    Field { name, label, value: value.into(), hint }
}

pub struct FormSpec {
    pub id: &'static str,
    pub title: &'static str,
    pub action: String,
    pub fields: Vec<Field>,
    pub button: &'static str,
}

#[derive(Template)]
#[template(path = "books/report.html")]
struct Report {
    base: String,
    tenant_name: String,
    operator: String,
    role: &'static str,
    csrf: String,
    title: String,
    intro: Option<String>,
    notice: Option<String>,
    alert: Option<String>,
    filters: Vec<Field>,
    csv_href: Option<String>,
    tables: Vec<Table>,
    forms: Vec<FormSpec>,
    links: Vec<(String, String)>,
}

impl Report {
    fn new(state: &AppState, s: &Session, title: impl Into<String>) -> Report {
        Report {
            base: state.base.to_string(),
            tenant_name: state.config.tenant.name.clone(),
            operator: s.operator.display_name.clone(),
            role: s.operator.role.label(),
            csrf: s.csrf.clone(),
            title: title.into(),
            intro: None,
            notice: None,
            alert: None,
            filters: Vec::new(),
            csv_href: None,
            tables: Vec::new(),
            forms: Vec::new(),
            links: Vec::new(),
        }
    }

    /// The page, or its first table as CSV when asked.
    fn respond(mut self, q: &Q, file: &str) -> Response {
        if q.format.as_deref() == Some("csv") {
            return match self.tables.first() {
                Some(t) => csv(t, file),
                None => AppError::NotFound.into_response(),
            };
        }
        if self.csv_href.is_none() && !self.tables.is_empty() {
            self.csv_href = Some(csv_href(&self.base, file, q));
        }
        Page(self).into_response()
    }
}

fn csv_href(base: &str, file: &str, q: &Q) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![("format", "csv")];
    for (k, v) in [("from", &q.from), ("to", &q.to), ("until", &q.until), ("account", &q.account), ("order", &q.order)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((k, v));
        }
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{base}/books/{file}?{query}")
}

/// A table as CSV (figures as plain decimals), for a spreadsheet.
fn csv(t: &Table, file: &str) -> Response {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&t.headers);
    for r in &t.rows {
        let _ = w.write_record(r.iter().map(|c| c.text.as_str()));
    }
    let body = w.into_inner().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}.csv\"", file.replace('/', "-"))),
        ],
        body,
    )
        .into_response()
}

/// The filters every report reads (all text; parsed with named errors).
#[derive(Debug, Default, Deserialize)]
pub struct Q {
    from: Option<String>,
    to: Option<String>,
    until: Option<String>,
    account: Option<String>,
    order: Option<String>,
    format: Option<String>,
    notice: Option<String>,
}

fn ledger(state: &AppState) -> Result<Arc<Ledger>> {
    state.ledger.clone().ok_or(AppError::NotFound)
}

fn money_of(state: &AppState, minor: i64) -> String {
    money::format_minor(minor, money::exponent(&state.config.tenant.currency))
}

/// A debit or credit cell: the amount, or blank for the side a line is not on.
fn side(state: &AppState, minor: i64) -> Cell {
    c(if minor != 0 { money_of(state, minor) } else { String::new() })
}

fn parse_money(state: &AppState, field: &'static str, text: &str) -> Result<i64> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    money::parse_minor(t, money::exponent(&state.config.tenant.currency))
        .map_err(|e| AppError::invalid(field, format!("{e} (an amount such as 12.50)")))
}

fn parse_day(field: &'static str, text: Option<&str>) -> Result<Option<NaiveDate>> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d").map(Some).map_err(|_| AppError::invalid(field, "a date as YYYY-MM-DD")),
    }
}

/// The UTC instant a tenant-local day begins.
fn day_start(state: &AppState, d: NaiveDate) -> NaiveDateTime {
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    state.tz().from_local_datetime(&midnight).earliest().map(|t| t.naive_utc()).unwrap_or(midnight)
}

fn today(state: &AppState) -> NaiveDate {
    Utc::now().with_timezone(&state.tz()).date_naive()
}

async fn index(State(state): State<AppState>, s: Session, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let audit = reports::audit(&state.pool).await?;
    let waiting = crate::books::post::waiting(&state.pool).await?;
    let mut r = Report::new(&state, &s, "Books");
    r.notice = q.notice.clone();
    r.intro = Some(format!(
        "{} entries, {} lines posted; the trial balance nets to {}. Inventory account {}, lots on hand at landed cost {}. Waiting to post: {} shipment(s), {} refund(s).",
        audit.entries,
        audit.lines,
        money_of(&state, audit.trial_balance_net),
        money_of(&state, audit.inventory_account_minor),
        money_of(&state, audit.inventory_valuation_minor),
        waiting.get("shipments").copied().unwrap_or(0),
        waiting.get("refunds").copied().unwrap_or(0),
    ));
    if !audit.problems.is_empty() {
        r.alert = Some(format!("The books do not hold together: {}", audit.problems.join("; ")));
    }
    let b = &r.base;
    r.links = vec![
        (format!("{b}/books/journal"), "Journal".into()),
        (format!("{b}/books/trial-balance"), "Trial balance".into()),
        (format!("{b}/books/cogs"), "COGS trail".into()),
        (format!("{b}/books/valuation"), "Inventory valuation".into()),
        (format!("{b}/books/ar"), "Receivables aging".into()),
    ];
    let mut invoices = Table::new("Supplier invoices (landed charges)", &["Invoice", "Supplier", "Date", "Basis", "Total#"]);
    for i in receive::invoices(&state.pool, None, 20).await? {
        invoices.rows.push(vec![
            link(i.invoice_ref, format!("{b}/books/invoices/{}", i.id)),
            c(i.supplier),
            c(i.invoice_date.to_string()),
            c(i.allocation_basis),
            c(money_of(&state, i.total_minor)),
        ]);
    }
    let mut periods = Table::new("Closed periods", &["Month", "Closed"]);
    for (month, at) in journal::closed_periods(&state.pool).await? {
        periods.rows.push(vec![c(month.format("%Y-%m").to_string()), c(state.local_time(at))]);
    }
    r.tables = vec![invoices, periods];
    r.forms = vec![
        FormSpec {
            id: "close",
            title: "Close a month",
            action: format!("{b}/books/periods/close"),
            fields: vec![field("month", "Month (YYYY-MM)", "", "2026-11")],
            button: "Close the month",
        },
        FormSpec { id: "post", title: "Post what is waiting", action: format!("{b}/books/post"), fields: Vec::new(), button: "Post now" },
    ];
    Ok(Page(r).into_response())
}

fn back(state: &AppState, path: &str, notice: &str) -> Response {
    let to = format!("{}{path}?{}", state.base, serde_urlencoded::to_string([("notice", notice)]).unwrap_or_default());
    axum::response::Redirect::to(&to).into_response()
}

async fn post_now(State(state): State<AppState>, s: Session) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let posted = ledger(&state)?.catch_up(&state.pool).await.map_err(books_error)?;
    Ok(back(&state, "/books", &format!("{} entr(ies) posted.", posted.total())))
}

/// A books refusal: the user's part as a 422 naming its field, the rest a 500.
fn books_error(e: crate::books::BooksError) -> AppError {
    use crate::books::BooksError;
    match e {
        BooksError::Db(d) => AppError::Sqlx(d),
        BooksError::Invalid(m) => {
            let (f, rest) = m.split_once(": ").unwrap_or(("books", m.as_str()));
            let field = match f {
                "amount" => "amount",
                "reference" => "reference",
                "restock" => "restock",
                "order" => "order",
                "entry" => "entry",
                "kind" => "kind",
                _ => "books",
            };
            AppError::invalid(field, if field == "books" { m.clone() } else { rest.to_owned() })
        }
        other => AppError::Internal(anyhow::Error::new(other)),
    }
}

async fn journal_page(State(state): State<AppState>, s: Session, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let from = parse_day("from", q.from.as_deref())?;
    let to = parse_day("to", q.to.as_deref())?;
    let order = match q.order.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        Some(o) => Some(OrderId(o.parse().map_err(|_| AppError::invalid("order", "an order id (the number in /books/orders/…)"))?)),
        None => None,
    };
    let filter = JournalFilter {
        from: from.map(|d| day_start(&state, d)),
        to: to.and_then(|d| d.succ_opt()).map(|d| day_start(&state, d)),
        account_code: q.account.clone().filter(|a| !a.trim().is_empty()),
        order_id: order,
        limit: 5_000,
    };
    let lines = reports::journal(&state.pool, &filter).await?;
    let mut r = Report::new(&state, &s, "Journal");
    r.filters = vec![
        field("from", "From", q.from.clone().unwrap_or_default(), "YYYY-MM-DD"),
        field("to", "To", q.to.clone().unwrap_or_default(), "YYYY-MM-DD"),
        field("account", "Account code", q.account.clone().unwrap_or_default(), "1200"),
        field("order", "Order id", q.order.clone().unwrap_or_default(), ""),
    ];
    let mut t = Table::new("Posted entries", &["Entry", "Date", "Period", "Memo", "Account", "Debit#", "Credit#"]);
    let (mut dr, mut cr) = (0i64, 0i64);
    for l in lines {
        dr += l.debit_minor;
        cr += l.credit_minor;
        t.rows.push(vec![
            c(format!("#{}{}", l.entry_id, l.reverses_id.map(|r| format!(" (reverses #{r})")).unwrap_or_default())),
            c(state.local_time(l.occurred_at)),
            c(l.period.format("%Y-%m").to_string()),
            match l.order_id {
                Some(o) => link(l.memo, format!("{}/books/orders/{o}", state.base)),
                None => c(l.memo),
            },
            c(format!("{} {}", l.code, l.account)),
            side(&state, l.debit_minor),
            side(&state, l.credit_minor),
        ]);
    }
    t.foot = vec![String::new(), String::new(), String::new(), String::new(), "Totals".into(), money_of(&state, dr), money_of(&state, cr)];
    r.tables.push(t);
    Ok(r.respond(&q, "journal"))
}

async fn trial_balance(State(state): State<AppState>, s: Session, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let until = parse_day("until", q.until.as_deref())?;
    let rows = reports::trial_balance(&state.pool, until.and_then(|d| d.succ_opt()).map(|d| day_start(&state, d))).await?;
    let mut r = Report::new(&state, &s, "Trial balance");
    r.filters = vec![field("until", "As of (end of day)", q.until.clone().unwrap_or_default(), "YYYY-MM-DD")];
    let mut t = Table::new("Accounts", &["Code", "Account", "Kind", "Debits#", "Credits#", "Balance#"]);
    let (mut dr, mut cr) = (0i64, 0i64);
    for b in rows {
        dr += b.debit_minor;
        cr += b.credit_minor;
        t.rows.push(vec![
            link(b.code.clone(), format!("{}/books/journal?account={}", state.base, b.code)),
            c(b.name.clone()),
            c(b.kind.clone()),
            c(money_of(&state, b.debit_minor)),
            c(money_of(&state, b.credit_minor)),
            c(money_of(&state, b.net())),
        ]);
    }
    t.foot = vec![String::new(), "Totals".into(), String::new(), money_of(&state, dr), money_of(&state, cr), money_of(&state, dr - cr)];
    r.intro = Some("Balance is debits minus credits: assets and expenses positive, liabilities, equity and income negative.".into());
    r.tables.push(t);
    Ok(r.respond(&q, "trial-balance"))
}

fn trail_table(state: &AppState, caption: String, rows: Vec<trail::TrailRow>) -> Table {
    let mut t = Table::new(
        caption,
        &[
            "Day",
            "Order",
            "Line SKU",
            "Kind",
            "Lot",
            "Lot received",
            "Qty#",
            "Unit cost#",
            "Extended#",
            "Line qty#",
            "Line cost#",
            "Day qty#",
            "Day cost#",
        ],
    );
    for r in rows {
        t.rows.push(vec![
            c(r.day.to_string()),
            link(r.order_number, format!("{}/books/orders/{}", state.base, r.order_id)),
            c(r.sku),
            c(r.kind),
            link(r.lot_ref, format!("{}/inventory/lots/{}", state.base, r.lot_id)),
            c(state.local_time(r.lot_received_at)),
            c(r.quantity.to_string()),
            c(money_of(state, r.unit_cost_minor)),
            c(money_of(state, r.total_minor)),
            c(r.line_cum_qty.to_string()),
            c(money_of(state, r.line_cum_minor)),
            c(r.day_cum_qty.to_string()),
            c(money_of(state, r.day_cum_minor)),
        ]);
    }
    t
}

async fn cogs(State(state): State<AppState>, s: Session, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let to = parse_day("to", q.to.as_deref())?.unwrap_or_else(|| today(&state));
    let from = parse_day("from", q.from.as_deref())?.unwrap_or_else(|| to - chrono::Duration::days(30));
    if from > to {
        return Err(AppError::invalid("from", "must not be after to"));
    }
    let rows = trail::between(&state.pool, from, to, 50_000).await?;
    let total: i64 = rows.iter().map(|r| r.total_minor).sum();
    let mut r = Report::new(&state, &s, "COGS trail");
    r.filters = vec![field("from", "From", from.to_string(), "YYYY-MM-DD"), field("to", "To", to.to_string(), "YYYY-MM-DD")];
    r.intro =
        Some(format!("Every unit sold or returned from {from} to {to}, by the lot it came from: {} in all.", money_of(&state, total)));
    r.tables.push(trail_table(&state, format!("{from} – {to}"), rows));
    Ok(r.respond(&Q { from: Some(from.to_string()), to: Some(to.to_string()), ..q }, "cogs"))
}

async fn valuation(State(state): State<AppState>, s: Session, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let lots = reports::valuation(&state.pool).await?;
    let total: i64 = lots.iter().map(|l| l.value_minor).sum();
    let mut r = Report::new(&state, &s, "Inventory valuation");
    let mut t =
        Table::new("Lots on hand at landed cost", &["SKU", "Lot", "Received", "On hand#", "Invoice cost#", "Landed cost#", "Value#"]);
    for l in lots {
        t.rows.push(vec![
            c(l.sku),
            link(l.lot_ref, format!("{}/inventory/lots/{}", state.base, l.lot_id)),
            c(state.local_time(l.received_at)),
            c(l.qty_remaining.to_string()),
            c(money_of(&state, l.unit_cost_minor)),
            c(money_of(&state, l.landed_unit_cost_minor)),
            c(money_of(&state, l.value_minor)),
        ]);
    }
    t.foot = vec![String::new(), String::new(), String::new(), String::new(), String::new(), "Total".into(), money_of(&state, total)];
    r.tables.push(t);
    Ok(r.respond(&q, "valuation"))
}

async fn aging(State(state): State<AppState>, s: Session, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let l = ledger(&state)?;
    Ok(aging_report(&state, &s, &l, &q).await?.respond(&q, "ar"))
}

async fn aging_report(state: &AppState, s: &Session, l: &Ledger, q: &Q) -> Result<Report> {
    let open = receivables::list(&state.pool, &l.books, true).await?;
    let today = today(state);
    let mut r = Report::new(state, s, "Receivables aging");
    r.notice = q.notice.clone();
    let mut t = Table::new(
        "Open receivables (days since invoiced at shipment)",
        &["Order", "Customer", "Method", "Invoiced", "Total#", "Paid#", "Refunded#", "Current#", "1–30#", "31–60#", "61–90#", "90+#"],
    );
    let mut sums = [0i64; 5];
    for x in &open {
        let days = (today - l.books.local_day(x.invoiced_at)).num_days();
        let b = receivables::bucket(days);
        sums[b] += x.outstanding();
        let mut row = vec![
            link(x.number.clone(), format!("{}/books/orders/{}", state.base, x.order_id)),
            c(x.customer_name.clone()),
            c(x.payment_method.clone()),
            c(l.books.local_day(x.invoiced_at).to_string()),
            c(money_of(state, x.total_minor)),
            c(money_of(state, x.paid_minor)),
            c(money_of(state, x.refunded_minor)),
        ];
        for i in 0..5 {
            row.push(c(if i == b { money_of(state, x.outstanding()) } else { String::new() }));
        }
        t.rows.push(row);
    }
    t.foot = vec![String::new(); 7];
    t.foot.extend(sums.iter().map(|v| money_of(state, *v)));
    r.tables.push(t);
    r.forms.push(FormSpec {
        id: "pay",
        title: "Enter a payment",
        action: format!("{}/books/ar/payments", state.base),
        fields: vec![
            field("order", "Order number", "", ""),
            field("amount", "Amount", "", "120.00"),
            field("paid_on", "Paid on", today.to_string(), "YYYY-MM-DD"),
            field("reference", "Reference", "", "cheque 1042"),
        ],
        button: "Record the payment",
    });
    Ok(r)
}

#[derive(Deserialize)]
struct PaymentForm {
    #[serde(default)]
    order: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    paid_on: String,
    #[serde(default)]
    reference: String,
}

async fn payment(State(state): State<AppState>, s: Session, Form(f): Form<PaymentForm>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let l = ledger(&state)?;
    match enter_payment(&state, &s, &l, &f).await {
        Ok(notice) => Ok(back(&state, "/books/ar", &notice)),
        Err(e @ AppError::Invalid { .. }) => {
            let mut page = aging_report(&state, &s, &l, &Q::default()).await?;
            page.alert = Some(e.to_string());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn enter_payment(state: &AppState, s: &Session, l: &Ledger, f: &PaymentForm) -> Result<String> {
    let open = receivables::list(&state.pool, &l.books, false).await?;
    let order = open
        .iter()
        .find(|r| r.number == f.order.trim())
        .ok_or_else(|| AppError::invalid("order", format!("no receivable order numbered \"{}\" whose sale has posted", f.order.trim())))?;
    let amount = parse_money(state, "amount", &f.amount)?;
    let paid_on =
        parse_day("paid_on", Some(&f.paid_on))?.ok_or_else(|| AppError::invalid("paid_on", "the date the payment arrived, YYYY-MM-DD"))?;
    receivables::pay(&state.pool, &l.books, order.order_id, amount, paid_on, &f.reference, Some(s.operator.id))
        .await
        .map_err(books_error)?;
    l.catch_up(&state.pool).await.map_err(books_error)?;
    Ok(format!("Payment of {} for order {} recorded and posted.", money_of(state, amount), order.number))
}

async fn order_report(state: &AppState, s: &Session, order: OrderId) -> Result<Report> {
    let trail_rows = trail::of_order(&state.pool, order).await?;
    let lines = reports::journal(&state.pool, &JournalFilter { order_id: Some(order), limit: 1_000, ..Default::default() }).await?;
    if trail_rows.is_empty() && lines.is_empty() {
        return Err(AppError::NotFound);
    }
    let number = trail_rows.first().map(|t| t.order_number.clone()).unwrap_or_else(|| order.to_string());
    let mut r = Report::new(state, s, format!("Order {number} in the books"));
    let cogs: i64 = trail_rows.iter().map(|t| t.total_minor).sum();
    r.intro = Some(format!("Cost of goods from its trail: {}.", money_of(state, cogs)));
    r.tables.push(trail_table(state, "COGS trail".into(), trail_rows));
    let mut t = Table::new("Entries", &["Entry", "Date", "Memo", "Account", "Debit#", "Credit#"]);
    for l in lines {
        t.rows.push(vec![
            c(format!("#{}", l.entry_id)),
            c(state.local_time(l.occurred_at)),
            c(l.memo),
            c(format!("{} {}", l.code, l.account)),
            side(state, l.debit_minor),
            side(state, l.credit_minor),
        ]);
    }
    r.tables.push(t);
    r.forms.push(FormSpec {
        id: "refund",
        title: "Record a refund",
        action: format!("{}/books/orders/{order}/refunds", state.base),
        fields: vec![
            field("goods", "Goods refunded", "", "0.00"),
            field("shipping", "Shipping refunded", "", "0.00"),
            field("tax", "Tax refunded", "", "0.00"),
            field("restock", "Units back in stock (line id × qty)", "", "e.g. 12x1, 13x2 — empty for no restock"),
            field("reason", "Reason", "", ""),
        ],
        button: "Record the refund",
    });
    Ok(r)
}

async fn order_page(State(state): State<AppState>, s: Session, Path(order): Path<OrderId>, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let mut r = order_report(&state, &s, order).await?;
    r.notice = q.notice.clone();
    Ok(r.respond(&q, &format!("orders/{order}")))
}

#[derive(Deserialize)]
struct RefundForm {
    #[serde(default)]
    goods: String,
    #[serde(default)]
    shipping: String,
    #[serde(default)]
    tax: String,
    #[serde(default)]
    restock: String,
    #[serde(default)]
    reason: String,
}

/// `12x1, 13x2` → [(12, 1), (13, 2)].
fn parse_restock(text: &str) -> Result<Vec<(u64, u32)>> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        let (line, qty) = part
            .split_once(['x', '×'])
            .ok_or_else(|| AppError::invalid("restock", format!("`{part}`: write line id x quantity, e.g. 12x1")))?;
        let line = line.trim().parse().map_err(|_| AppError::invalid("restock", format!("`{part}`: the line id is a number")))?;
        let qty = qty
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| AppError::invalid("restock", format!("`{part}`: the quantity is a whole number above 0")))?;
        out.push((line, qty));
    }
    Ok(out)
}

async fn refund(State(state): State<AppState>, s: Session, Path(order): Path<OrderId>, Form(f): Form<RefundForm>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let l = ledger(&state)?;
    let parsed = (|| {
        Ok::<_, AppError>(NewRefund {
            order_id: order,
            woo_refund_id: None,
            goods_minor: parse_money(&state, "goods", &f.goods)?,
            shipping_minor: parse_money(&state, "shipping", &f.shipping)?,
            tax_minor: parse_money(&state, "tax", &f.tax)?,
            restock: parse_restock(&f.restock)?,
            reason: f.reason.trim().to_owned(),
            refunded_at: Utc::now().naive_utc(),
        })
    })();
    let done = match parsed {
        Ok(r) => refunds::record(&state.pool, &l.books, &r).await.map_err(books_error),
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        if matches!(e, AppError::Invalid { .. }) {
            let mut page = order_report(&state, &s, order).await?;
            page.alert = Some(e.to_string());
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response());
        }
        return Err(e);
    }
    l.catch_up(&state.pool).await.map_err(books_error)?;
    Ok(back(&state, &format!("/books/orders/{order}"), "Refund recorded and posted."))
}

async fn invoice_report(state: &AppState, s: &Session, id: u64) -> Result<Report> {
    let invoice = receive::invoices(&state.pool, Some(id), 1).await?.into_iter().next().ok_or(AppError::NotFound)?;
    let mut r = Report::new(state, s, format!("Invoice {} from {}", invoice.invoice_ref, invoice.supplier));
    r.intro = Some(format!(
        "Dated {}, {} at invoice cost; charges are allocated by {} (a charge can choose another basis, which becomes the invoice's).",
        invoice.invoice_date,
        money_of(state, invoice.total_minor),
        invoice.allocation_basis
    ));
    let mut lots = Table::new("Lots", &["SKU", "Lot", "Received#", "On hand#", "Invoice cost#", "Landed cost#"]);
    let landed_costs: HashMap<u64, i64> =
        reports::valuation(&state.pool).await?.into_iter().map(|v| (v.lot_id.0, v.landed_unit_cost_minor)).collect();
    for l in crate::inventory::stock::lots_of_invoice(&state.pool, id).await? {
        lots.rows.push(vec![
            c(l.sku),
            link(l.lot_ref, format!("{}/inventory/lots/{}", state.base, l.id)),
            c(l.qty_received.to_string()),
            c(l.qty_remaining.to_string()),
            c(money_of(state, l.unit_cost_minor)),
            c(landed_costs.get(&l.id.0).map(|v| money_of(state, *v)).unwrap_or_else(|| "— (none on hand)".into())),
        ]);
    }
    r.tables.push(lots);
    for ch in landed::charges_of_invoice(&state.pool, id).await? {
        let mut t = Table::new(
            format!(
                "{} {} · {} · by {} · {}",
                ch.kind,
                ch.reference,
                money_of(state, ch.amount_minor),
                ch.basis,
                state.local_time(ch.charged_at)
            ),
            &["Lot", "SKU", "Basis#", "Share#", "Per unit#", "On hand#", "To inventory#", "To COGS#"],
        );
        for a in landed::allocations(&state.pool, ch.id).await? {
            t.rows.push(vec![
                c(a.lot_ref),
                c(a.sku),
                c(a.basis_amount.to_string()),
                c(money_of(state, a.share_minor)),
                c(money_of(state, a.per_unit_minor)),
                c(a.units_on_hand.to_string()),
                c(money_of(state, a.inventory_minor)),
                c(money_of(state, a.cogs_minor)),
            ]);
        }
        r.tables.push(t);
    }
    r.forms.push(FormSpec {
        id: "charge",
        title: "Add a landed charge",
        action: format!("{}/books/invoices/{id}/charges", state.base),
        fields: vec![
            field("kind", "Kind (freight, duty, brokerage, other)", "freight", ""),
            field("amount", "Amount", "", "85.00"),
            field("reference", "Reference", "", "the freight bill number"),
            field("basis", "Allocate by (value, quantity, weight)", invoice.allocation_basis, ""),
        ],
        button: "Allocate the charge",
    });
    Ok(r)
}

async fn invoice_page(State(state): State<AppState>, s: Session, Path(id): Path<u64>, Query(q): Query<Q>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let mut r = invoice_report(&state, &s, id).await?;
    r.notice = q.notice.clone();
    Ok(r.respond(&q, &format!("invoices/{id}")))
}

#[derive(Deserialize)]
struct ChargeForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    basis: String,
}

async fn charge(State(state): State<AppState>, s: Session, Path(id): Path<u64>, Form(f): Form<ChargeForm>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    let l = ledger(&state)?;
    let result = async {
        let basis = match f.basis.trim() {
            "" => None,
            b => Some(Basis::parse(b).ok_or_else(|| AppError::invalid("basis", "one of value, quantity, weight"))?),
        };
        let amount = parse_money(&state, "amount", &f.amount)?;
        let c = NewCharge {
            invoice_id: id,
            kind: f.kind.trim().to_owned(),
            reference: f.reference.trim().to_owned(),
            amount_minor: amount,
            basis,
            charged_at: Utc::now().naive_utc(),
            operator_id: Some(s.operator.id),
        };
        landed::add_charge(&state.pool, &c).await.map_err(|e| match e {
            landed::LandedError::Db(d) => AppError::Sqlx(d),
            landed::LandedError::NoInvoice(_) => AppError::NotFound,
            landed::LandedError::Kind(_) => AppError::invalid("kind", e.to_string()),
            landed::LandedError::Amount => AppError::invalid("amount", e.to_string()),
            landed::LandedError::Reference => AppError::invalid("reference", e.to_string()),
            landed::LandedError::NoWeight(_) | landed::LandedError::NoLots => AppError::invalid("basis", e.to_string()),
        })
    }
    .await;
    match result {
        Ok(_) => {
            l.catch_up(&state.pool).await.map_err(books_error)?;
            Ok(back(&state, &format!("/books/invoices/{id}"), "Charge allocated and posted."))
        }
        Err(e @ AppError::Invalid { .. }) => {
            let mut page = invoice_report(&state, &s, id).await?;
            page.alert = Some(e.to_string());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct CloseForm {
    #[serde(default)]
    month: String,
}

async fn close_period(State(state): State<AppState>, s: Session, Form(f): Form<CloseForm>) -> Result<Response> {
    s.require(&[Role::BackOffice])?;
    ledger(&state)?;
    let month = NaiveDate::parse_from_str(&format!("{}-01", f.month.trim()), "%Y-%m-%d")
        .map_err(|_| AppError::invalid("month", "a month as YYYY-MM"))?;
    let this_month = today(&state).with_day0(0).unwrap_or(month);
    if month >= this_month {
        return Err(AppError::invalid("month", "only a month that has ended can be closed"));
    }
    // Whatever is waiting posts first, into the month it belongs to.
    ledger(&state)?.catch_up(&state.pool).await.map_err(books_error)?;
    let closed = journal::close_period(&state.pool, month, Some(s.operator.id)).await.map_err(books_error)?;
    let note = if closed {
        format!("{} closed: it takes no more postings.", f.month.trim())
    } else {
        format!("{} was already closed.", f.month.trim())
    };
    Ok(back(&state, "/books", &note))
}

use chrono::Datelike as _;
