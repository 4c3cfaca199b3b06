//! Shipping a packed order: one carrier call buys every package's label,
//! labels go to the station's ZPL printer and the packing slip to its PDF
//! printer (both recorded in print_jobs, so reprint is one call), then
//! "shipped" consumes the reserved stock and writes the tracking numbers
//! back to WooCommerce (note + meta, status completed), retried until it
//! lands and visible on the station while it has not.

use crate::ids::OperatorId;
use crate::ids::OrderId;
use std::sync::Arc;

use sqlx::MySqlPool;

use super::{
    StationError, lock_held,
    queue::{Head, QueueStatus},
};
use crate::{
    channels::woocommerce::WooClient,
    config::{Address, Printer, PrinterKind, TenantConfig},
    events::{self, Event, Severity},
    fulfillment::carrier::{Carrier, CarrierError, Parcel, ShipmentRequest},
    money,
    printing::ipp::{self, Attempt, DocumentKind, PrinterTarget},
    printing::pdf::WeasyPrint,
};

/// A shipment as the ship page shows it.
#[derive(Debug, Clone)]
pub struct ShipmentView {
    pub id: u64,
    pub carrier: String,
    pub service: String,
    pub status: String,
    pub master_tracking: Option<String>,
    pub cost_minor: Option<i64>,
    pub woo_writeback: Option<String>,
    pub woo_error: Option<String>,
    pub packages: Vec<PackageView>,
}

#[derive(Debug, Clone)]
pub struct PackageView {
    pub seq: u16,
    pub box_id: String,
    pub weight_g: u32,
    pub dims: String,
    pub tracking: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ShipmentRow {
    id: u64,
    carrier: String,
    service_code: String,
    status: String,
    master_tracking: Option<String>,
    cost_minor: Option<i64>,
    woo_writeback: Option<String>,
    woo_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PackageRow {
    seq: u16,
    box_id: String,
    weight_g: u32,
    length_mm: u32,
    width_mm: u32,
    height_mm: u32,
    tracking_number: Option<String>,
}

/// What the ship page shows, read in one statement.
pub struct ShipView {
    pub head: Head,
    pub shipment: Option<ShipmentView>,
    /// Print jobs of the shipment not printed yet: (id, printer, document kind, last error).
    pub waiting: Vec<(u64, String, String, Option<String>)>,
}

/// The ship page of an order in the queue: its head, its current (not
/// voided) shipment with the packages, and the shipment's print jobs still
/// waiting. One statement: the packages and jobs come as JSON arrays.
pub async fn view<'e>(db: impl sqlx::MySqlExecutor<'e>, order_id: OrderId) -> Result<Option<ShipView>, sqlx::Error> {
    let Some(row) = sqlx::query_as::<_, (
        // The head.
        String,
        String,
        String,
        Option<OperatorId>,
        Option<String>,
        // The shipment.
        Option<u64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        // Its packages and its waiting print jobs, as JSON arrays.
        Option<String>,
        Option<String>
    )>(
        r#"SELECT o.number, o.customer_name, CAST(q.status AS CHAR), q.operator_id, p.display_name,
                  s.id, s.carrier, s.service_code, CAST(s.status AS CHAR), s.master_tracking, s.cost_minor,
                  CAST(s.woo_writeback AS CHAR), s.woo_error,
                  (SELECT JSON_ARRAYAGG(JSON_ARRAY(k.seq, k.box_id, k.weight_g, k.length_mm, k.width_mm, k.height_mm, k.tracking_number) ORDER BY k.seq)
                   FROM packages k WHERE k.shipment_id = s.id),
                  (SELECT JSON_ARRAYAGG(JSON_ARRAY(j.id, j.printer, CAST(j.document_kind AS CHAR), j.last_error) ORDER BY j.id)
                   FROM print_jobs j WHERE j.shipment_id = s.id AND j.state IN ('queued', 'failed'))
           FROM pick_queue q JOIN orders o ON o.id = q.order_id
           LEFT JOIN operators p ON p.id = q.operator_id
           LEFT JOIN shipments s ON s.id = (SELECT MAX(x.id) FROM shipments x WHERE x.order_id = q.order_id AND x.status <> 'voided')
           WHERE q.order_id = ?"#,
    )
    .bind(order_id)
    .fetch_optional(db)
    .await?
    else {
        return Ok(None);
    };
    let (
        number,
        customer,
        status,
        holder,
        holder_name,
        id,
        carrier,
        service,
        state,
        master_tracking,
        cost_minor,
        writeback,
        woo_error,
        packages,
        jobs,
    ) = row;
    let head = Head::from_columns(order_id, (number, customer, status, holder, holder_name))?;
    let Some(id) = id else { return Ok(Some(ShipView { head, shipment: None, waiting: Vec::new() })) };
    let packages: Vec<PackageJson> = json_array(packages)?;
    let waiting = json_array(jobs)?;
    let shipment = ShipmentView {
        id,
        carrier: carrier.unwrap_or_default(),
        service: service.unwrap_or_default(),
        status: state.unwrap_or_default(),
        master_tracking,
        cost_minor,
        woo_writeback: writeback,
        woo_error,
        packages: packages
            .into_iter()
            .map(|(seq, box_id, weight_g, l, w, h, tracking)| PackageView {
                seq,
                box_id,
                weight_g,
                dims: format!("{l}×{w}×{h} mm"),
                tracking,
            })
            .collect(),
    };
    Ok(Some(ShipView { head, shipment: Some(shipment), waiting }))
}

/// A package as `view` reads it: seq, box, weight, length, width, height, tracking.
type PackageJson = (u16, String, u32, u32, u32, u32, Option<String>);

/// A JSON_ARRAYAGG column (NULL for no rows) as typed rows.
fn json_array<T: serde::de::DeserializeOwned>(text: Option<String>) -> Result<Vec<T>, sqlx::Error> {
    text.map_or(Ok(Vec::new()), |t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e))))
}

/// The order's current (not voided) shipment.
pub async fn current(pool: &MySqlPool, order_id: OrderId) -> Result<Option<ShipmentView>, sqlx::Error> {
    let Some(s) = sqlx::query_as::<_, ShipmentRow>(
        r#"SELECT id, carrier, service_code, CAST(status AS CHAR) AS status, master_tracking, cost_minor,
                  CAST(woo_writeback AS CHAR) AS woo_writeback, woo_error
           FROM shipments WHERE order_id = ? AND status <> 'voided' ORDER BY id DESC LIMIT 1"#,
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let packages = sqlx::query_as::<_, PackageRow>(
        "SELECT seq, box_id, weight_g, length_mm, width_mm, height_mm, tracking_number FROM packages WHERE shipment_id = ? ORDER BY seq",
    )
    .bind(s.id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|p| PackageView {
        seq: p.seq,
        box_id: p.box_id,
        weight_g: p.weight_g,
        dims: format!("{}×{}×{} mm", p.length_mm, p.width_mm, p.height_mm),
        tracking: p.tracking_number,
    })
    .collect();
    Ok(Some(ShipmentView {
        id: s.id,
        carrier: s.carrier,
        service: s.service_code,
        status: s.status,
        master_tracking: s.master_tracking,
        cost_minor: s.cost_minor,
        woo_writeback: s.woo_writeback,
        woo_error: s.woo_error,
        packages,
    }))
}

#[derive(sqlx::FromRow)]
struct ShipTo {
    ship_name: String,
    ship_company: String,
    ship_address1: String,
    ship_address2: String,
    ship_city: String,
    ship_state: String,
    ship_postcode: String,
    ship_country: String,
    ship_phone: String,
}

/// The order's ship-to address as the carrier wants it.
pub async fn destination(pool: &MySqlPool, order_id: OrderId) -> Result<Address, sqlx::Error> {
    let r = sqlx::query_as::<_, ShipTo>(
        r#"SELECT ship_name, ship_company, ship_address1, ship_address2, ship_city, ship_state, ship_postcode, ship_country, ship_phone
           FROM orders WHERE id = ?"#,
    )
    .bind(order_id)
    .fetch_one(pool)
    .await?;
    let opt = |v: String| Some(v).filter(|s| !s.trim().is_empty());
    Ok(Address {
        name: if r.ship_name.trim().is_empty() { r.ship_company } else { r.ship_name },
        phone: opt(r.ship_phone),
        line1: r.ship_address1,
        line2: opt(r.ship_address2),
        city: r.ship_city,
        state: opt(r.ship_state),
        postcode: r.ship_postcode,
        country: r.ship_country,
    })
}

/// Buys labels for every package of the order's draft shipment in one call
/// and stores N tracking numbers and N labels. A carrier refusal or outage
/// is returned for the page (and recorded); nothing is half-stored.
pub async fn buy(
    pool: &MySqlPool,
    carrier: &dyn Carrier,
    order_id: OrderId,
    operator_id: OperatorId,
) -> Result<Result<u64, CarrierError>, StationError> {
    // Check the holder and state without keeping a transaction open across the carrier call.
    let number = {
        let mut tx = pool.begin().await?;
        let n = lock_held(&mut tx, order_id, operator_id, QueueStatus::Packed).await?;
        tx.commit().await?;
        n
    };
    let Some(draft) = current(pool, order_id).await?.filter(|s| s.status == "draft") else {
        return Err(StationError::Invalid(format!("order {number} has no packed shipment without labels")));
    };
    let to = destination(pool, order_id).await?;
    if to.line1.trim().is_empty() || to.city.trim().is_empty() || to.postcode.trim().is_empty() || to.country.len() != 2 {
        return Err(StationError::Invalid(format!(
            "order {number} has no complete shipping address in WooCommerce (street, city, postcode, country): fix the order there"
        )));
    }
    let parcels: Vec<Parcel> = sqlx::query_as::<_, (u32, u32, u32, u32)>(
        "SELECT weight_g, length_mm, width_mm, height_mm FROM packages WHERE shipment_id = ? ORDER BY seq",
    )
    .bind(draft.id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(weight_g, length_mm, width_mm, height_mm)| Parcel { weight_g, length_mm, width_mm, height_mm })
    .collect();
    let request = ShipmentRequest { reference: format!("Order {number}"), service_code: draft.service.clone(), to, parcels };
    let bought = match carrier.ship(&request).await {
        Ok(b) => b,
        Err(e) => {
            let severity = if matches!(e, CarrierError::Unknown { .. }) { Severity::Error } else { Severity::Warning };
            events::record(
                pool,
                Event::info("ship.carrier_failed", format!("order {number}: {e}"))
                    .severity(severity)
                    .by(operator_id)
                    .about("order", order_id),
            )
            .await?;
            return Ok(Err(e));
        }
    };
    if bought.labels.len() != request.parcels.len() {
        let e = CarrierError::Unknown {
            carrier: carrier.name(),
            message: format!("asked for {} labels, got {}", request.parcels.len(), bought.labels.len()),
        };
        events::record(
            pool,
            Event::info("ship.carrier_failed", format!("order {number}: {e}"))
                .severity(Severity::Error)
                .by(operator_id)
                .about("order", order_id),
        )
        .await?;
        return Ok(Err(e));
    }
    let currency: String = sqlx::query_scalar("SELECT currency FROM orders WHERE id = ?").bind(order_id).fetch_one(pool).await?;
    let cost = bought
        .total_charge
        .as_ref()
        .filter(|(c, _)| c.eq_ignore_ascii_case(&currency))
        .and_then(|(_, v)| money::parse_minor(v, money::exponent(&currency)).ok());
    let mut tx = pool.begin().await?;
    lock_held(&mut tx, order_id, operator_id, QueueStatus::Packed).await?;
    sqlx::query("UPDATE shipments SET status = 'purchased', master_tracking = ?, cost_minor = ? WHERE id = ? AND status = 'draft'")
        .bind(&bought.master_tracking)
        .bind(cost)
        .bind(draft.id)
        .execute(&mut *tx)
        .await?;
    for (i, label) in bought.labels.iter().enumerate() {
        let format = if label.format.eq_ignore_ascii_case("pdf") { "pdf" } else { "zpl" };
        sqlx::query("UPDATE packages SET tracking_number = ?, label_format = ?, label = ? WHERE shipment_id = ? AND seq = ?")
            .bind(&label.tracking_number)
            .bind(format)
            .bind(&label.bytes)
            .bind(draft.id)
            .bind((i + 1) as u16)
            .execute(&mut *tx)
            .await?;
    }
    let numbers: Vec<&str> = bought.labels.iter().map(|l| l.tracking_number.as_str()).collect();
    events::record(
        &mut *tx,
        Event::info(
            "ship.labels_bought",
            format!("order {number}: {} label(s) from {}: {}", numbers.len(), carrier.name(), numbers.join(", ")),
        )
        .by(operator_id)
        .about("order", order_id),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(draft.id))
}

/// A station's printers, by kind.
#[derive(Debug, Clone, Default)]
pub struct StationPrinters {
    pub labels: Option<PrinterTarget>,
    pub slips: Option<PrinterTarget>,
}

impl StationPrinters {
    pub fn for_station(printers: &[Printer], station: &str) -> Self {
        let pick = |kind: PrinterKind| {
            printers
                .iter()
                .find(|p| p.station == station && p.kind == kind)
                .map(|p| PrinterTarget { name: p.name.clone(), uri: p.uri.clone() })
        };
        Self { labels: pick(PrinterKind::Zpl), slips: pick(PrinterKind::Pdf) }
    }
}

/// What printing a shipment did, for the page.
#[derive(Debug, Clone, Default)]
pub struct Printed {
    pub sent: u32,
    pub queued: Vec<String>,
    pub missing: Vec<String>,
}

/// The carrier and service a packed order's shipment is drafted with: the
/// configured carrier (or "none") and the tenant's UPS default service
/// (UPS Ground when the tenant names none).
pub fn draft_service(config: &TenantConfig, carrier: Option<&dyn Carrier>) -> (&'static str, String) {
    let service = config.ups.as_ref().map_or_else(crate::config::default_ups_service, |u| u.default_service.clone());
    (carrier.map_or("none", |c| c.name()), service)
}

/// The paper a station's page printer takes (`letter` unless the tenant says otherwise).
pub fn station_paper<'a>(config: &'a TenantConfig, station: &str) -> &'a str {
    config.stations.iter().find(|st| st.id == station).map_or("letter", |st| st.paper.as_str())
}

/// Everything a bought shipment prints at `station`: its labels to the
/// label printer, and the packing slip, rendered now on the station's
/// paper, to the page printer. A slip that does not render is reported
/// with the rest, not lost silently.
pub async fn print_shipment(
    pool: &MySqlPool,
    config: &TenantConfig,
    weasy: &WeasyPrint,
    station: &str,
    order_id: OrderId,
    shipment_id: u64,
    operator: (OperatorId, &str),
) -> Result<Printed, sqlx::Error> {
    let printers = StationPrinters::for_station(&config.printers, station);
    let mut problems = Vec::new();
    let slip_pdf = if printers.slips.is_some() {
        match super::slip::pdf(pool, config, order_id, station_paper(config, station), weasy).await {
            Ok(pdf) => Some(pdf),
            Err(super::slip::SlipError::Db(e)) => return Err(e),
            Err(e) => {
                tracing::error!(error = %e, order_id = order_id.0, "packing slip did not render");
                problems.push(format!("packing slip: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut printed = print(pool, shipment_id, &printers, slip_pdf, operator).await?;
    printed.queued.extend(problems);
    Ok(printed)
}

/// Prints every label of a bought shipment, then the slip (if one is given).
pub async fn print(
    pool: &MySqlPool,
    shipment_id: u64,
    printers: &StationPrinters,
    slip: Option<Vec<u8>>,
    operator: (OperatorId, &str),
) -> Result<Printed, sqlx::Error> {
    let mut out = Printed::default();
    let labels: Vec<(u16, Vec<u8>)> =
        sqlx::query_as("SELECT seq, label FROM packages WHERE shipment_id = ? AND label IS NOT NULL ORDER BY seq")
            .bind(shipment_id)
            .fetch_all(pool)
            .await?;
    match &printers.labels {
        Some(p) => {
            for (seq, bytes) in labels {
                let (_, attempt) = ipp::submit_for(pool, p, DocumentKind::ShippingLabel, bytes, Some(operator), Some(shipment_id)).await?;
                tally(&mut out, attempt, &format!("label {seq}"));
            }
        }
        None => out.missing.push("no label (ZPL) printer at this station: labels are stored, print them from another station".into()),
    }
    match (&printers.slips, slip) {
        (Some(p), Some(pdf)) => {
            let (_, attempt) = ipp::submit_for(pool, p, DocumentKind::PackingSlip, pdf, Some(operator), Some(shipment_id)).await?;
            tally(&mut out, attempt, "packing slip");
        }
        (None, _) => out.missing.push("no PDF printer at this station: download the packing slip instead".into()),
        (Some(_), None) => {}
    }
    Ok(out)
}

pub(super) fn tally(out: &mut Printed, attempt: Attempt, what: &str) {
    match attempt {
        Attempt::Sent { .. } => out.sent += 1,
        Attempt::Queued { error, .. } => out.queued.push(format!("{what}: {error} (kept, retried every minute)")),
    }
}

/// Sends every print job of a shipment again (the reprint key).
pub async fn reprint(pool: &MySqlPool, shipment_id: u64, printers: &[Printer], operator_id: OperatorId) -> Result<Printed, sqlx::Error> {
    let jobs = ipp::jobs_of_shipment(pool, shipment_id).await?;
    let mut out = Printed::default();
    for (job, printer, kind) in jobs {
        let Some(p) = printers.iter().find(|p| p.name == printer) else {
            out.missing.push(format!("{kind}: printer {printer} is no longer in the tenant file"));
            continue;
        };
        let attempt = ipp::resend(pool, job, &PrinterTarget { name: p.name.clone(), uri: p.uri.clone() }).await?;
        tally(&mut out, attempt, &kind.replace('_', " "));
    }
    events::record(
        pool,
        Event::info("ship.reprinted", format!("shipment {shipment_id}: {} sent, {} queued", out.sent, out.queued.len()))
            .by(operator_id)
            .about("shipment", shipment_id),
    )
    .await?;
    Ok(out)
}

/// Marks a bought shipment shipped: reserved stock is consumed from its
/// lots, serials are shipped, the queue row is done, and the WooCommerce
/// write-back is queued. Returns the shipment id.
pub async fn mark_shipped(pool: &MySqlPool, order_id: OrderId, operator_id: OperatorId) -> Result<u64, StationError> {
    let mut tx = pool.begin().await?;
    let number = lock_held(&mut tx, order_id, operator_id, QueueStatus::Packed).await?;
    let Some(shipment): Option<u64> =
        sqlx::query_scalar("SELECT id FROM shipments WHERE order_id = ? AND status = 'purchased' ORDER BY id DESC LIMIT 1 FOR UPDATE")
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Err(StationError::Invalid(format!("order {number} has no bought labels yet: buy them first")));
    };
    let open = crate::inventory::reserve::consume_for_shipment(&mut tx, order_id, shipment).await?;
    sqlx::query("UPDATE lot_serials s JOIN order_lines l ON l.id = s.order_line_id SET s.status = 'shipped' WHERE l.order_id = ? AND s.status = 'packed'").bind(order_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE shipments SET status = 'shipped', shipped_at = UTC_TIMESTAMP(6), woo_writeback = 'pending' WHERE id = ?")
        .bind(shipment)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE pick_queue SET status = 'shipped', shipped_at = UTC_TIMESTAMP(6) WHERE order_id = ?")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    let units: u32 = open.iter().map(|o| o.quantity).sum();
    events::record(
        &mut *tx,
        Event::info("ship.shipped", format!("order {number} shipped ({units} unit(s) taken from stock)"))
            .by(operator_id)
            .about("order", order_id),
    )
    .await?;
    tx.commit().await?;
    Ok(shipment)
}

/// Sets when a shipment left and arrived: for history brought in after the
/// fact (the demo tenant's month, an import), never for a shipment made here.
pub async fn set_times(
    pool: &MySqlPool,
    shipment: u64,
    shipped_at: chrono::NaiveDateTime,
    delivered_at: Option<chrono::NaiveDateTime>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE shipments SET shipped_at = ?, delivered_at = ? WHERE id = ?")
        .bind(shipped_at)
        .bind(delivered_at)
        .bind(shipment)
        .execute(pool)
        .await?;
    Ok(())
}
/// Records units of an order as shipped without a label bought here (a
/// partial shipment, a drop shipment, a courier's own label): a shipment of
/// carrier `carrier` shipped at once, the units taken from the order's
/// reservations oldest lots first, all of them or per line at most `only`.
/// The WooCommerce write-back is not queued (no tracking of ours to write).
/// Returns the shipment id.
pub async fn record_shipment(
    pool: &MySqlPool,
    order_id: OrderId,
    only: Option<&std::collections::HashMap<u64, u32>>,
    carrier: &str,
    operator_id: Option<OperatorId>,
) -> Result<u64, StationError> {
    let carrier: String = carrier.chars().take(16).collect();
    if carrier.trim().is_empty() {
        return Err(StationError::Invalid("carrier: name the carrier (up to 16 characters)".into()));
    }
    let mut tx = pool.begin().await?;
    let shipment = sqlx::query(
        "INSERT INTO shipments (order_id, carrier, service_code, status, operator_id, shipped_at) VALUES (?, ?, '', 'shipped', ?, UTC_TIMESTAMP(6))",
    )
    .bind(order_id)
    .bind(&carrier)
    .bind(operator_id)
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    let taken = crate::inventory::reserve::consume(&mut tx, order_id, shipment, only).await?;
    if taken.is_empty() {
        return Err(StationError::Invalid(format!("order {order_id} has no reserved units to ship")));
    }
    let units: u32 = taken.iter().map(|t| t.quantity).sum();
    let mut event =
        Event::info("ship.recorded", format!("order {order_id}: {units} unit(s) shipped by {carrier} (recorded)")).about("order", order_id);
    if let Some(op) = operator_id {
        event = event.by(op);
    }
    events::record(&mut *tx, event).await?;
    tx.commit().await?;
    Ok(shipment)
}

/// Writes one shipped shipment's tracking back to WooCommerce: the order
/// is completed with the tracking numbers in its meta, then a note. Both
/// calls are safe to repeat, so a failure just leaves it pending.
pub async fn write_back(pool: &MySqlPool, woo: &WooClient, shipment_id: u64) -> Result<bool, sqlx::Error> {
    let (carrier, master, woo_id, number) = sqlx::query_as::<_, (String, Option<String>, u64, String)>(
        "SELECT s.carrier, s.master_tracking, o.woo_id, o.number FROM shipments s JOIN orders o ON o.id = s.order_id WHERE s.id = ?",
    )
    .bind(shipment_id)
    .fetch_one(pool)
    .await?;
    let tracking: Vec<String> =
        sqlx::query_scalar("SELECT tracking_number FROM packages WHERE shipment_id = ? AND tracking_number IS NOT NULL ORDER BY seq")
            .bind(shipment_id)
            .fetch_all(pool)
            .await?;
    let carrier_name = carrier.to_uppercase();
    let result = async {
        woo.complete_order(woo_id, &carrier_name, master.as_deref().unwrap_or_default(), &tracking).await?;
        let note = format!("Shipped with {carrier_name} in {} package(s). Tracking: {}", tracking.len(), tracking.join(", "));
        woo.add_order_note(woo_id, &note).await
    }
    .await;
    match result {
        Ok(()) => {
            sqlx::query("UPDATE shipments SET woo_writeback = 'done', woo_error = NULL WHERE id = ?")
                .bind(shipment_id)
                .execute(pool)
                .await?;
            events::record(
                pool,
                Event::info("ship.woo_updated", format!("order {number}: WooCommerce completed with tracking {}", tracking.join(", ")))
                    .about("shipment", shipment_id),
            )
            .await?;
            Ok(true)
        }
        Err(e) => {
            let msg: String = e.to_string().chars().take(500).collect();
            sqlx::query("UPDATE shipments SET woo_writeback = 'failed', woo_error = ? WHERE id = ?")
                .bind(&msg)
                .bind(shipment_id)
                .execute(pool)
                .await?;
            events::record(
                pool,
                Event::info("ship.woo_failed", format!("order {number}: tracking not yet in WooCommerce: {msg}; retried every minute"))
                    .severity(Severity::Warning)
                    .about("shipment", shipment_id),
            )
            .await?;
            Ok(false)
        }
    }
}

/// [`write_back`] with a bound on how long the station waits: WooCommerce
/// retrying with backoff must not hold a picker for seconds. Past `wait`
/// the shipment shows as not yet written back and the every-minute job
/// finishes it (both calls are safe to repeat).
pub async fn write_back_within(
    pool: &MySqlPool,
    woo: &WooClient,
    shipment_id: u64,
    wait: std::time::Duration,
) -> Result<bool, sqlx::Error> {
    if let Ok(done) = tokio::time::timeout(wait, write_back(pool, woo, shipment_id)).await {
        return done;
    }
    let msg = format!("WooCommerce did not answer within {} s", wait.as_secs());
    sqlx::query("UPDATE shipments SET woo_writeback = 'failed', woo_error = ? WHERE id = ? AND woo_writeback <> 'done'")
        .bind(&msg)
        .bind(shipment_id)
        .execute(pool)
        .await?;
    events::record(
        pool,
        Event::info("ship.woo_failed", format!("shipment {shipment_id}: tracking not yet in WooCommerce: {msg}; retried every minute"))
            .severity(Severity::Warning)
            .about("shipment", shipment_id),
    )
    .await?;
    Ok(false)
}

/// Retries every write-back not yet done (the every-minute job). Returns (done, still failing).
pub async fn write_back_pending(pool: &MySqlPool, woo: Arc<WooClient>) -> Result<(u32, u32), sqlx::Error> {
    let ids: Vec<u64> = sqlx::query_scalar(
        "SELECT id FROM shipments WHERE status = 'shipped' AND woo_writeback IN ('pending', 'failed') ORDER BY id LIMIT 200",
    )
    .fetch_all(pool)
    .await?;
    let (mut ok, mut failed) = (0, 0);
    for id in ids {
        if write_back(pool, &woo, id).await? { ok += 1 } else { failed += 1 }
    }
    Ok((ok, failed))
}
