//! Lot and serial labels to the station's ZPL printer: a label for each lot
//! of a receipt (and again from the lot's page), and one per serial when an
//! order is packed. Every label is a print job first (`printing::ipp`), so a
//! printer that is down loses nothing; names and lot refs go through the
//! label builder's field escaping whatever they hold.

use crate::ids::OperatorId;
use crate::ids::OrderId;
use sqlx::MySqlPool;

use super::ship::{Printed, StationPrinters, tally};
use crate::{
    events::{self, Event},
    inventory::stock::LotDetail,
    printing::{
        ipp::{self, DocumentKind},
        zpl,
    },
};

/// The most copies of one lot label printed at once.
pub const MAX_COPIES: u32 = 50;

const NO_PRINTER: &str = "no label (ZPL) printer at this station: print the labels from a station that has one";

/// Prints `copies` of the label of each of `lots` to the station's label printer.
pub async fn print_lots(
    pool: &MySqlPool,
    printers: &StationPrinters,
    lots: &[LotDetail],
    copies: u32,
    operator: (OperatorId, &str),
) -> Result<Printed, sqlx::Error> {
    let mut out = Printed::default();
    let Some(printer) = &printers.labels else {
        out.missing.push(NO_PRINTER.into());
        return Ok(out);
    };
    for lot in lots {
        let label = zpl::lot_label(&lot.sku, &lot.name, &lot.lot_ref, &lot.location);
        for _ in 0..copies.clamp(1, MAX_COPIES) {
            let (_, attempt) = ipp::submit(pool, printer, DocumentKind::LotLabel, label.clone(), Some(operator)).await?;
            tally(&mut out, attempt, &format!("lot {} label", lot.lot_ref));
        }
    }
    if let [lot] = lots {
        events::record(
            pool,
            Event::info(
                "lot.label_printed",
                format!("lot {} ({}): {} label(s) sent, {} queued", lot.lot_ref, lot.sku, out.sent, out.queued.len()),
            )
            .by(operator.0)
            .about("lot", lot.id),
        )
        .await?;
    }
    Ok(out)
}

/// Prints a label for every serial packed into `order_id`'s packages, in line order.
pub async fn print_serials(
    pool: &MySqlPool,
    printers: &StationPrinters,
    order_id: OrderId,
    operator: (OperatorId, &str),
) -> Result<Printed, sqlx::Error> {
    let serials = sqlx::query_as::<_, (String, String)>(
        r#"SELECT p.sku, s.serial FROM lot_serials s
           JOIN order_lines l ON l.id = s.order_line_id JOIN products p ON p.id = s.product_id
           WHERE l.order_id = ? AND s.status = 'packed' ORDER BY l.id, s.serial"#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    let mut out = Printed::default();
    if serials.is_empty() {
        return Ok(out);
    }
    let Some(printer) = &printers.labels else {
        out.missing.push(NO_PRINTER.into());
        return Ok(out);
    };
    for (sku, serial) in &serials {
        let (_, attempt) = ipp::submit(pool, printer, DocumentKind::SerialLabel, zpl::serial_label(sku, serial), Some(operator)).await?;
        tally(&mut out, attempt, &format!("serial {serial} label"));
    }
    Ok(out)
}
