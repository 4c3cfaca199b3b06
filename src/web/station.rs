//! The pick station pages: queue, pick, pack and ship. Server-rendered and
//! keyboard-first: the main verb is Enter in the focused field, every other
//! action is a plain form with a function key (app.js clicks `data-key`
//! buttons), and everything works without JavaScript. Each state change is
//! one CSRF-checked POST recorded in the event log by the station domain.

use askama::Template;
use axum::{
    Form, Router,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;

use super::{
    AppError, AppState, Page, Result,
    chrome::{Chrome, chromed},
    session::{self, Session},
};
use crate::{
    config::BoxDef,
    ids::OrderId,
    operators::Role,
    station::{
        FieldError, StationError, labels,
        pack::{self, PackForm, PackageForm},
        pick::{self, PickLine},
        queue::{self, Entry, Head},
        ship::{self, ShipmentView, StationPrinters},
        slip,
    },
};

const STATION_COOKIE: &str = "qm_station";
const ANYONE: &[Role] = &[Role::Picker, Role::BackOffice];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pick", get(queue_page))
        .route("/pick/next", post(claim_next))
        .route("/pick/{order}", get(pick_page))
        .route("/pick/{order}/claim", post(claim))
        .route("/pick/{order}/release", post(release))
        .route("/pick/{order}/scan", post(scan))
        .route("/pick/{order}/pack", get(pack_page).post(pack_submit))
        .route("/pick/{order}/unpack", post(unpack))
        .route("/pick/{order}/ship", get(ship_page))
        .route("/pick/{order}/buy", post(buy))
        .route("/pick/{order}/shipped", post(shipped))
        .route("/pick/{order}/reprint", post(reprint))
        .route("/pick/{order}/slip.pdf", get(slip_pdf))
}

/// What every station page shows in its header.
struct Frame {
    chrome: Chrome,
    station: String,
    station_name: String,
}

impl Frame {
    /// The frame at the station asked for (queue filter), else this browser's.
    fn new(state: &AppState, s: &Session, jar: &CookieJar, asked: Option<&str>) -> Self {
        let station = station_of(state, jar, asked);
        let station_name = state.config.stations.iter().find(|st| st.id == station).map_or_else(|| station.clone(), |st| st.name.clone());
        Self { chrome: Chrome::signed_in(state, s), station, station_name }
    }
}

/// Station pages reach the frame's fields (`base`, `csrf`…) as their own,
/// which is what base.html and nav.html read.
macro_rules! framed {
    ($($page:ty),*) => {$(
        impl std::ops::Deref for $page {
            type Target = Frame;
            fn deref(&self) -> &Frame {
                &self.f
            }
        }
    )*};
}
framed!(QueuePage, PickPage, PackPage, ShipPage);

/// The station this browser works at: the one asked for, else the cookie, else the first.
fn station_of(state: &AppState, jar: &CookieJar, asked: Option<&str>) -> String {
    let known = |id: &str| state.config.stations.iter().any(|s| s.id == id);
    asked
        .filter(|a| known(a))
        .map(str::to_owned)
        .or_else(|| jar.get(STATION_COOKIE).map(|c| c.value().to_owned()).filter(|c| known(c)))
        .or_else(|| state.config.stations.first().map(|s| s.id.clone()))
        .unwrap_or_else(|| "default".into())
}

fn see(state: &AppState, path: &str) -> Response {
    Redirect::to(&format!("{}{path}", state.base)).into_response()
}

// ---------------------------------------------------------------- queue

#[derive(Template)]
#[template(path = "station/queue.html")]
struct QueuePage {
    f: Frame,
    stations: Vec<(String, String)>,
    status: String,
    /// (state, orders, shown now)
    counts: Vec<(&'static str, i64, bool)>,
    entries: Vec<EntryRow>,
    me: crate::ids::OperatorId,
    alert: Option<String>,
    notice: Option<String>,
}

struct EntryRow {
    e: Entry,
    ordered: String,
}

#[derive(Deserialize, Default)]
struct QueueQuery {
    station: Option<String>,
    status: Option<String>,
    shipped: Option<String>,
    empty: Option<String>,
}

async fn queue_view(state: &AppState, s: &Session, jar: &CookieJar, q: &QueueQuery, alert: Option<String>) -> Result<QueuePage> {
    let f = Frame::new(state, s, jar, q.station.as_deref());
    let wanted = q.status.as_deref().and_then(queue::QueueStatus::parse);
    let status = wanted.map(|s| s.as_str().to_owned()).unwrap_or_default();
    let station = f.station.clone();
    let board = state
        .reads
        .run(move |c| {
            let station = station.clone();
            Box::pin(async move { queue::board(c, Some(&station), wanted, 200).await })
        })
        .await?;
    let entries = board.entries.into_iter().map(|e| EntryRow { ordered: state.local_time(e.ordered_at), e }).collect();
    let notice = match (&q.shipped, &q.empty) {
        (Some(n), _) => Some(format!("Order {n} shipped.")),
        (None, Some(_)) => Some("Nothing is waiting to be picked.".to_owned()),
        _ => None,
    };
    let counts = board.counts.into_iter().map(|(st, n)| (st.as_str(), n, Some(st) == wanted)).collect();
    Ok(QueuePage {
        stations: state.config.stations.iter().map(|st| (st.id.clone(), st.name.clone())).collect(),
        status,
        counts,
        entries,
        me: s.operator.id,
        alert,
        notice,
        f,
    })
}

async fn queue_page(State(state): State<AppState>, s: Session, jar: CookieJar, Query(q): Query<QueueQuery>) -> Result<Response> {
    s.require(ANYONE)?;
    let page = queue_view(&state, &s, &jar, &q, None).await?;
    let jar = jar.add(session::cookie(&state, STATION_COOKIE, page.f.station.clone()));
    Ok((jar, Page(page)).into_response())
}

/// A refusal shown on the queue page (409: someone else has it, or its state moved on).
async fn refused(state: &AppState, s: &Session, jar: &CookieJar, e: StationError) -> Result<Response> {
    if let StationError::Db(d) = e {
        return Err(d.into());
    }
    let status = match &e {
        StationError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        StationError::NotFound(_) => StatusCode::NOT_FOUND,
        StationError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CONFLICT,
    };
    let page = queue_view(state, s, jar, &QueueQuery::default(), Some(e.to_string())).await?;
    Ok((status, Page(page)).into_response())
}

#[derive(Deserialize)]
struct StationForm {
    #[serde(default)]
    station: String,
}

async fn claim_next(State(state): State<AppState>, s: Session, jar: CookieJar, Form(f): Form<StationForm>) -> Result<Response> {
    s.require(ANYONE)?;
    let station = station_of(&state, &jar, Some(&f.station));
    match queue::claim_next(&state.pool, s.operator.id, &station).await {
        Ok(Some(order)) => Ok(see(&state, &format!("/pick/{order}"))),
        Ok(None) => Ok(see(&state, "/pick?empty=1")),
        Err(e) => refused(&state, &s, &jar, e).await,
    }
}

async fn claim(
    State(state): State<AppState>,
    s: Session,
    jar: CookieJar,
    Path(order): Path<OrderId>,
    Form(f): Form<StationForm>,
) -> Result<Response> {
    s.require(ANYONE)?;
    let station = station_of(&state, &jar, Some(&f.station));
    match queue::claim(&state.pool, order, s.operator.id, &station).await {
        Ok(()) => Ok(see(&state, &format!("/pick/{order}"))),
        Err(e) => refused(&state, &s, &jar, e).await,
    }
}

async fn release(State(state): State<AppState>, s: Session, jar: CookieJar, Path(order): Path<OrderId>) -> Result<Response> {
    s.require(ANYONE)?;
    match queue::release(&state.pool, order, s.operator.id).await {
        Ok(()) => Ok(see(&state, "/pick")),
        Err(e) => refused(&state, &s, &jar, e).await,
    }
}

// ---------------------------------------------------------------- pick

#[derive(Template)]
#[template(path = "station/pick.html")]
struct PickPage {
    f: Frame,
    e: Head,
    lines: Vec<PickLine>,
    picked: u32,
    total: u32,
    mine: bool,
    last: Option<u64>,
    ok: Option<String>,
    mis: Option<String>,
    code: String,
}

#[derive(Deserialize, Default)]
struct PickQuery {
    last: Option<u64>,
}

async fn pick_view(state: &AppState, s: &Session, jar: &CookieJar, order: OrderId) -> Result<PickPage> {
    let (e, lines) = state.reads.run(move |c| Box::pin(pick::sheet(c, order))).await?.ok_or(AppError::NotFound)?;
    Ok(PickPage {
        picked: lines.iter().map(|l| l.picked).sum(),
        total: lines.iter().map(|l| l.quantity).sum(),
        mine: e.operator_id == Some(s.operator.id),
        f: Frame::new(state, s, jar, None),
        e,
        lines,
        last: None,
        ok: None,
        mis: None,
        code: String::new(),
    })
}

async fn pick_page(
    State(state): State<AppState>,
    s: Session,
    jar: CookieJar,
    Path(order): Path<OrderId>,
    Query(q): Query<PickQuery>,
) -> Result<Response> {
    s.require(ANYONE)?;
    let mut page = pick_view(&state, &s, &jar, order).await?;
    if let Some(line) = q.last.and_then(|id| page.lines.iter().find(|l| l.line_id == id)) {
        page.ok = Some(format!("✓ {} {}/{}", line.sku, line.picked, line.quantity));
        page.last = Some(line.line_id);
    }
    Ok(Page(page).into_response())
}

#[derive(Deserialize)]
struct ScanForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    count: String,
}

async fn scan(
    State(state): State<AppState>,
    s: Session,
    jar: CookieJar,
    Path(order): Path<OrderId>,
    Form(f): Form<ScanForm>,
) -> Result<Response> {
    s.require(ANYONE)?;
    let count = match f.count.trim() {
        "" => Some(1),
        c => c.parse::<u32>().ok(),
    };
    let outcome = match count {
        Some(n) => pick::scan(&state.pool, &state.reads, &state.lookup, order, s.operator.id, &f.code, n).await,
        None => Ok(Err(pick::Mis::BadCount)),
    };
    match outcome {
        Ok(Ok(c)) if c.order_picked => Ok(see(&state, &format!("/pick/{order}/pack"))),
        Ok(Ok(c)) => Ok(see(&state, &format!("/pick/{order}?last={}", c.line_id))),
        Ok(Err(mis)) => {
            let mut page = pick_view(&state, &s, &jar, order).await?;
            page.mis = Some(mis.to_string());
            page.code = f.code.chars().take(64).collect();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
        Err(e) => refused(&state, &s, &jar, e).await,
    }
}

// ---------------------------------------------------------------- pack

struct PackageRow {
    n: usize,
    box_id: String,
    weight: String,
    length: String,
    width: String,
    height: String,
}

struct SerialSlot {
    line_id: u64,
    sku: String,
    unit: u32,
    value: String,
}

#[derive(Template)]
#[template(path = "station/pack.html")]
struct PackPage {
    f: Frame,
    e: Head,
    lines: Vec<PickLine>,
    boxes: Vec<BoxDef>,
    packages: Vec<PackageRow>,
    line_package: Vec<(u64, String)>,
    serials: Vec<SerialSlot>,
    errors: Vec<FieldError>,
}

impl PackPage {
    fn error_for(&self, field: &str) -> String {
        self.errors.iter().filter(|e| e.field == field).map(|e| e.message.clone()).collect::<Vec<_>>().join("; ")
    }

    fn package_of(&self, line: &u64) -> String {
        self.line_package.iter().find(|(l, _)| l == line).map_or_else(|| "1".to_owned(), |(_, p)| p.clone())
    }
}

#[derive(Deserialize, Default)]
struct PackQuery {
    packages: Option<usize>,
}

async fn pack_view(state: &AppState, s: &Session, jar: &CookieJar, order: OrderId, count: usize) -> Result<PackPage> {
    let (e, lines) = state.reads.run(move |c| Box::pin(pick::sheet(c, order))).await?.ok_or(AppError::NotFound)?;
    let boxes = state.config.boxes.clone();
    let first = boxes.first();
    let packages = (1..=count.clamp(1, 50))
        .map(|n| PackageRow {
            n,
            box_id: first.map(|b| b.id.clone()).unwrap_or_default(),
            weight: String::new(),
            length: first.map(|b| b.length_mm.to_string()).unwrap_or_default(),
            width: first.map(|b| b.width_mm.to_string()).unwrap_or_default(),
            height: first.map(|b| b.height_mm.to_string()).unwrap_or_default(),
        })
        .collect();
    let serials = lines
        .iter()
        .filter(|l| l.serial_tracked)
        .flat_map(|l| (1..=l.quantity).map(move |unit| SerialSlot { line_id: l.line_id, sku: l.sku.clone(), unit, value: String::new() }))
        .collect();
    Ok(PackPage { f: Frame::new(state, s, jar, None), e, lines, boxes, packages, line_package: Vec::new(), serials, errors: Vec::new() })
}

async fn pack_page(
    State(state): State<AppState>,
    s: Session,
    jar: CookieJar,
    Path(order): Path<OrderId>,
    Query(q): Query<PackQuery>,
) -> Result<Response> {
    s.require(ANYONE)?;
    let page = pack_view(&state, &s, &jar, order, q.packages.unwrap_or(1)).await?;
    Ok(Page(page).into_response())
}

/// Reads the pack form's numbered fields (`box_1`, `weight_1`, `package_of_<line>`, `serial_<line>_<unit>`).
fn read_pack_form(fields: &[(String, String)]) -> PackForm {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let count = get("packages").and_then(|c| c.trim().parse::<usize>().ok()).unwrap_or(1).clamp(1, 50);
    let packages = (1..=count)
        .map(|n| PackageForm {
            box_id: get(&format!("box_{n}")).unwrap_or_default(),
            weight: get(&format!("weight_{n}")).unwrap_or_default(),
            length_mm: get(&format!("length_{n}")).unwrap_or_default(),
            width_mm: get(&format!("width_{n}")).unwrap_or_default(),
            height_mm: get(&format!("height_{n}")).unwrap_or_default(),
        })
        .collect();
    let mut form = PackForm { packages, ..PackForm::default() };
    for (name, value) in fields {
        if let Some(line) = name.strip_prefix("package_of_").and_then(|l| l.parse::<u64>().ok()) {
            form.line_packages.push((line, value.clone()));
        } else if let Some((line, unit)) = name.strip_prefix("serial_").and_then(|r| r.split_once('_')) {
            if let (Ok(line), Ok(unit)) = (line.parse::<u64>(), unit.parse::<u32>()) {
                form.serials.push((line, unit, value.clone()));
            }
        }
    }
    form
}

async fn pack_submit(
    State(state): State<AppState>,
    s: Session,
    jar: CookieJar,
    Path(order): Path<OrderId>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    s.require(ANYONE)?;
    let form = read_pack_form(&fields);
    let (carrier, service) = ship::draft_service(&state.config, state.carrier.as_deref());
    match pack::pack(&state.pool, order, s.operator.id, &form, &state.config.boxes, carrier, &service).await {
        Ok(Ok(_)) => {
            // A label for each serial captured, to stick on its unit before it is boxed.
            let (_, printers) = printers_here(&state, &jar);
            let printed = labels::print_serials(&state.pool, &printers, order, (s.operator.id, s.operator.username.as_str())).await?;
            show_printed(&state, &s, &jar, order, printed, "(serial labels) sent to the label printer").await
        }
        Ok(Err(errors)) => {
            let mut page = pack_view(&state, &s, &jar, order, form.packages.len()).await?;
            // Hand back what was typed, with every problem next to its field.
            for (row, typed) in page.packages.iter_mut().zip(&form.packages) {
                (row.box_id, row.weight, row.length, row.width, row.height) =
                    (typed.box_id.clone(), typed.weight.clone(), typed.length_mm.clone(), typed.width_mm.clone(), typed.height_mm.clone());
            }
            page.line_package = form.line_packages.clone();
            for slot in &mut page.serials {
                if let Some((_, _, v)) = form.serials.iter().find(|(l, u, _)| *l == slot.line_id && *u == slot.unit) {
                    slot.value = v.chars().take(64).collect();
                }
            }
            page.errors = errors;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
        Err(e) => refused(&state, &s, &jar, e).await,
    }
}

async fn unpack(State(state): State<AppState>, s: Session, jar: CookieJar, Path(order): Path<OrderId>) -> Result<Response> {
    s.require(ANYONE)?;
    match pack::unpack(&state.pool, order, s.operator.id).await {
        Ok(()) => Ok(see(&state, &format!("/pick/{order}/pack"))),
        Err(e) => refused(&state, &s, &jar, e).await,
    }
}

// ---------------------------------------------------------------- ship

#[derive(Template)]
#[template(path = "station/ship.html")]
struct ShipPage {
    f: Frame,
    e: Head,
    shipment: Option<ShipmentView>,
    cost: String,
    waiting: Vec<(u64, String, String, Option<String>)>,
    has_carrier: bool,
    alert: Option<String>,
    notice: Vec<String>,
}

#[derive(Deserialize, Default)]
struct ShipQuery {
    printed: Option<u32>,
}

async fn ship_view(state: &AppState, s: &Session, jar: &CookieJar, order: OrderId) -> Result<ShipPage> {
    let ship::ShipView { head: e, shipment, waiting } =
        state.reads.run(move |c| Box::pin(ship::view(c, order))).await?.ok_or(AppError::NotFound)?;
    let exp = crate::money::exponent(&state.config.tenant.currency);
    let cost = shipment.as_ref().and_then(|sh| sh.cost_minor).map(|c| crate::money::format_minor(c, exp)).unwrap_or_default();
    Ok(ShipPage {
        f: Frame::new(state, s, jar, None),
        e,
        shipment,
        cost,
        waiting,
        has_carrier: state.carrier.is_some(),
        alert: None,
        notice: Vec::new(),
    })
}

async fn ship_page(
    State(state): State<AppState>,
    s: Session,
    jar: CookieJar,
    Path(order): Path<OrderId>,
    Query(q): Query<ShipQuery>,
) -> Result<Response> {
    s.require(ANYONE)?;
    let mut page = ship_view(&state, &s, &jar, order).await?;
    if let Some(n) = q.printed {
        page.notice.push(format!("{n} document(s) sent to the printers."));
    }
    Ok(Page(page).into_response())
}

/// The printers of the station this browser works at.
pub(super) fn printers_here(state: &AppState, jar: &CookieJar) -> (String, StationPrinters) {
    let station = station_of(state, jar, None);
    let printers = StationPrinters::for_station(&state.config.printers, &station);
    (station, printers)
}

async fn buy(State(state): State<AppState>, s: Session, jar: CookieJar, Path(order): Path<OrderId>) -> Result<Response> {
    s.require(ANYONE)?;
    let Some(carrier) = state.carrier.clone() else {
        let mut page = ship_view(&state, &s, &jar, order).await?;
        page.alert = Some("No carrier is configured for this tenant (add the ups section to the tenant file).".into());
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response());
    };
    let shipment = match ship::buy(&state.pool, carrier.as_ref(), order, s.operator.id).await {
        Ok(Ok(id)) => id,
        Ok(Err(carrier_error)) => {
            let mut page = ship_view(&state, &s, &jar, order).await?;
            page.alert = Some(carrier_error.to_string());
            return Ok((StatusCode::BAD_GATEWAY, Page(page)).into_response());
        }
        Err(e) => return refused(&state, &s, &jar, e).await,
    };
    let printed = print_all(&state, &jar, order, shipment, &s).await?;
    show_printed(&state, &s, &jar, order, printed, "sent to the printers").await
}

/// The ship page after printing: a redirect when everything printed,
/// else the page with what did not (kept and retried) and why.
async fn show_printed(
    state: &AppState,
    s: &Session,
    jar: &CookieJar,
    order: OrderId,
    printed: ship::Printed,
    done: &str,
) -> Result<Response> {
    if printed.queued.is_empty() && printed.missing.is_empty() {
        let query = if printed.sent > 0 { format!("?printed={}", printed.sent) } else { String::new() };
        return Ok(see(state, &format!("/pick/{order}/ship{query}")));
    }
    let mut page = ship_view(state, s, jar, order).await?;
    page.notice.push(format!("{} document(s) {done}.", printed.sent));
    page.notice.extend(printed.missing);
    page.alert = (!printed.queued.is_empty()).then(|| format!("Not printed yet: {}", printed.queued.join("; ")));
    Ok(Page(page).into_response())
}

/// Labels and the slip to this station's printers.
async fn print_all(state: &AppState, jar: &CookieJar, order: OrderId, shipment: u64, s: &Session) -> Result<ship::Printed> {
    let station = station_of(state, jar, None);
    let operator = (s.operator.id, s.operator.username.as_str());
    Ok(ship::print_shipment(&state.pool, &state.config, &state.weasy, &station, order, shipment, operator).await?)
}

async fn shipped(State(state): State<AppState>, s: Session, jar: CookieJar, Path(order): Path<OrderId>) -> Result<Response> {
    s.require(ANYONE)?;
    let shipment = match ship::mark_shipped(&state.pool, order, s.operator.id).await {
        Ok(id) => id,
        Err(e) => return refused(&state, &s, &jar, e).await,
    };
    // Into the books now (the books_post job catches up whatever this misses).
    if let Some(ledger) = &state.ledger {
        if let Err(e) = ledger.catch_up(&state.pool).await {
            tracing::warn!(error = %e, "posting the shipment to the books failed; the books_post job retries");
        }
    }
    // Tell WooCommerce now (waiting at most 5 s); if it is down the every-minute job keeps trying and the ship page says so.
    ship::write_back_within(&state.pool, &state.woo, shipment, std::time::Duration::from_secs(5)).await?;
    let number = queue::entry(&state.pool, order).await?.map(|e| e.number).unwrap_or_default();
    Ok(see(&state, &format!("/pick?shipped={}", super::error::urlencode(&number))))
}

async fn reprint(State(state): State<AppState>, s: Session, jar: CookieJar, Path(order): Path<OrderId>) -> Result<Response> {
    s.require(ANYONE)?;
    let Some(sh) = ship::current(&state.pool, order).await? else { return Err(AppError::NotFound) };
    let printed = ship::reprint(&state.pool, sh.id, &state.config.printers, s.operator.id).await?;
    show_printed(&state, &s, &jar, order, printed, "sent again").await
}

async fn slip_pdf(State(state): State<AppState>, s: Session, jar: CookieJar, Path(order): Path<OrderId>) -> Result<Response> {
    s.require(ANYONE)?;
    queue::entry(&state.pool, order).await?.ok_or(AppError::NotFound)?;
    let station = station_of(&state, &jar, None);
    match slip::pdf(&state.pool, &state.config, order, ship::station_paper(&state.config, &station), &state.weasy).await {
        Ok(pdf) => {
            Ok(([(header::CONTENT_TYPE, "application/pdf"), (header::CONTENT_DISPOSITION, "inline; filename=\"packing-slip.pdf\"")], pdf)
                .into_response())
        }
        Err(slip::SlipError::Db(e)) => Err(e.into()),
        Err(e) => Err(AppError::Internal(anyhow::anyhow!(e))),
    }
}

chromed!(Frame);
