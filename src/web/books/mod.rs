//! The books' pages: journal, trial balance, COGS trail, inventory
//! valuation, receivables aging, an order's books, an invoice's landed
//! charges, and periods. Each report is one table also served as CSV
//! (`?format=csv`); figures in the tenant's currency, dates in its zone.

use std::{collections::HashMap, sync::Arc};

use askama::Template;
use axum::{
    Form, Router,
    extract::{FromRequestParts, Query, State},
    http::request::Parts,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use super::{
    AppError, AppState, Page, Result,
    chrome::{Chrome, chromed},
    session::Session,
};
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

mod documents;

use self::documents::{charge, invoice_page, order_page, refund};

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
    chrome: Chrome,
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
            chrome: Chrome::signed_in(state, s),
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

/// A table as CSV (figures as plain decimals), for a spreadsheet; no cell
/// can be a formula ([`crate::web::csv`]).
fn csv(t: &Table, file: &str) -> Response {
    let body = super::csv::table(&t.headers, &t.numeric, t.rows.iter().map(|r| r.iter().map(|c| c.text.as_str()).collect()));
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

/// A back-office operator (or an admin) of a tenant whose books are on: the
/// books' pages answer 404 with the accounting module off.
struct Keeper(Session, Arc<Ledger>);

impl FromRequestParts<AppState> for Keeper {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let s = Session::from_request_parts(parts, state).await?;
        s.require(&[Role::BackOffice])?;
        let l = state.ledger.clone().ok_or(AppError::NotFound)?;
        Ok(Keeper(s, l))
    }
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

async fn index(State(state): State<AppState>, Keeper(s, _l): Keeper, Query(q): Query<Q>) -> Result<Response> {
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
    let b = r.base.clone();
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

async fn post_now(State(state): State<AppState>, Keeper(_s, l): Keeper) -> Result<Response> {
    let posted = l.catch_up(&state.pool).await.map_err(books_error)?;
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

async fn journal_page(State(state): State<AppState>, Keeper(s, _l): Keeper, Query(q): Query<Q>) -> Result<Response> {
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

async fn trial_balance(State(state): State<AppState>, Keeper(s, _l): Keeper, Query(q): Query<Q>) -> Result<Response> {
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

async fn cogs(State(state): State<AppState>, Keeper(s, _l): Keeper, Query(q): Query<Q>) -> Result<Response> {
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

async fn valuation(State(state): State<AppState>, Keeper(s, _l): Keeper, Query(q): Query<Q>) -> Result<Response> {
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

async fn aging(State(state): State<AppState>, Keeper(s, l): Keeper, Query(q): Query<Q>) -> Result<Response> {
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

async fn payment(State(state): State<AppState>, Keeper(s, l): Keeper, Form(f): Form<PaymentForm>) -> Result<Response> {
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

#[derive(Deserialize)]
struct CloseForm {
    #[serde(default)]
    month: String,
}

async fn close_period(State(state): State<AppState>, Keeper(s, l): Keeper, Form(f): Form<CloseForm>) -> Result<Response> {
    let month = NaiveDate::parse_from_str(&format!("{}-01", f.month.trim()), "%Y-%m-%d")
        .map_err(|_| AppError::invalid("month", "a month as YYYY-MM"))?;
    let this_month = today(&state).with_day0(0).unwrap_or(month);
    if month >= this_month {
        return Err(AppError::invalid("month", "only a month that has ended can be closed"));
    }
    // Whatever is waiting posts first, into the month it belongs to.
    l.catch_up(&state.pool).await.map_err(books_error)?;
    let closed = journal::close_period(&state.pool, month, Some(s.operator.id)).await.map_err(books_error)?;
    let note = if closed {
        format!("{} closed: it takes no more postings.", f.month.trim())
    } else {
        format!("{} was already closed.", f.month.trim())
    };
    Ok(back(&state, "/books", &note))
}

use chrono::Datelike as _;

chromed!(Report);
