//! Packing: packages from the tenant's box list with their weights and
//! dimensions, lines assigned to packages, and a serial for each unit of a
//! serial-tracked line, validated against its lot's serials or registered
//! on the lot. Success creates a draft shipment (one package row each).

use crate::ids::OperatorId;
use crate::ids::OrderId;
use std::collections::HashSet;

use sqlx::MySqlPool;

use super::{FieldError, StationError, lock_held, pick, queue::QueueStatus};
use crate::{
    config::BoxDef,
    events::{self, Event},
    inventory::orders,
};

/// One package as typed at the bench.
#[derive(Debug, Clone, Default)]
pub struct PackageForm {
    pub box_id: String,
    pub weight: String,
    pub length_mm: String,
    pub width_mm: String,
    pub height_mm: String,
}

/// The whole pack form.
#[derive(Debug, Clone, Default)]
pub struct PackForm {
    pub packages: Vec<PackageForm>,
    /// (line id, package number as typed).
    pub line_packages: Vec<(u64, String)>,
    /// (line id, unit index from 1, serial as scanned).
    pub serials: Vec<(u64, u32, String)>,
}

/// A package ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub box_id: String,
    pub weight_g: u32,
    pub length_mm: u32,
    pub width_mm: u32,
    pub height_mm: u32,
}

/// Parses a weight: `1200`, `1200 g`, `1.2 kg`, `2.5 lb`, `40 oz` → whole
/// grams, rounded up, with integer arithmetic only.
pub fn parse_weight_g(text: &str) -> Result<u32, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    // (numerator, denominator) of grams per unit.
    let (per_num, per_den): (u128, u128) = match unit {
        "" | "g" => (1, 1),
        "kg" => (1000, 1),
        "lb" | "lbs" => (45_359_237, 100_000),
        "oz" => (45_359_237, 1_600_000),
        other => return Err(format!("unknown unit “{other}”: use g, kg, lb or oz")),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if num.is_empty() || int.len() > 7 || frac.len() > 4 || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err("expected a weight such as 1200 g, 1.2 kg or 2.5 lb".into());
    }
    let scale = 10u128.pow(frac.len() as u32);
    let value: u128 = format!("{int}{frac}").parse().map_err(|_| "expected a number".to_owned())?;
    let grams = (value * per_num).div_ceil(scale * per_den);
    match u32::try_from(grams) {
        Ok(0) | Err(_) => Err("must be more than 0 g".into()),
        Ok(g) => Ok(g),
    }
}

fn parse_mm(field: &str, text: &str, errors: &mut Vec<FieldError>) -> u32 {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=3000).contains(&n) => n,
        _ => {
            errors.push(FieldError::new(field, "whole millimetres from 1 to 3000"));
            0
        }
    }
}

/// Packages to store and each line's package number.
pub type Packing = (Vec<Package>, Vec<(u64, u16)>);

/// Checks the form against the boxes and the pick sheet; returns the packages
/// and each line's package number, or every problem by field.
pub fn validate(form: &PackForm, boxes: &[BoxDef], lines: &[pick::PickLine]) -> Result<Packing, Vec<FieldError>> {
    let mut errors = Vec::new();
    if form.packages.is_empty() {
        errors.push(FieldError::new("packages", "at least one package"));
    }
    if form.packages.len() > 50 {
        errors.push(FieldError::new("packages", "at most 50 packages in one shipment"));
    }
    let mut packages = Vec::new();
    for (i, p) in form.packages.iter().enumerate() {
        let n = i + 1;
        let Some(b) = boxes.iter().find(|b| b.id == p.box_id) else {
            errors.push(FieldError::new(
                format!("box_{n}"),
                format!("choose one of: {}", boxes.iter().map(|b| b.id.as_str()).collect::<Vec<_>>().join(", ")),
            ));
            continue;
        };
        let weight_g = match parse_weight_g(&p.weight) {
            Ok(w) if b.max_weight_g.is_some_and(|max| w > max) => {
                errors.push(FieldError::new(
                    format!("weight_{n}"),
                    format!("{w} g is over the {} limit of {} g: split into another package", b.name, b.max_weight_g.unwrap_or(0)),
                ));
                0
            }
            Ok(w) => w,
            Err(e) => {
                errors.push(FieldError::new(format!("weight_{n}"), e));
                0
            }
        };
        let length_mm = parse_mm(&format!("length_{n}"), &p.length_mm, &mut errors);
        let width_mm = parse_mm(&format!("width_{n}"), &p.width_mm, &mut errors);
        let height_mm = parse_mm(&format!("height_{n}"), &p.height_mm, &mut errors);
        packages.push(Package { box_id: b.id.clone(), weight_g, length_mm, width_mm, height_mm });
    }
    let count = form.packages.len();
    let mut assigned = Vec::new();
    let mut used = vec![false; count];
    for line in lines {
        let typed = form.line_packages.iter().find(|(id, _)| *id == line.line_id).map_or("1", |(_, s)| s.as_str());
        match typed.trim().parse::<usize>() {
            Ok(n) if (1..=count).contains(&n) => {
                used[n - 1] = true;
                assigned.push((line.line_id, n as u16));
            }
            _ => errors
                .push(FieldError::new(format!("package_of_{}", line.line_id), format!("{}: a package number from 1 to {count}", line.sku))),
        }
    }
    for (i, u) in used.iter().enumerate() {
        if !u && count > 0 {
            errors.push(FieldError::new(
                format!("box_{}", i + 1),
                format!("package {} has no lines in it: remove it or move a line into it", i + 1),
            ));
        }
    }
    let mut seen = HashSet::new();
    for line in lines.iter().filter(|l| l.serial_tracked) {
        for unit in 1..=line.quantity {
            let field = format!("serial_{}_{unit}", line.line_id);
            let serial = form.serials.iter().find(|(l, u, _)| *l == line.line_id && *u == unit).map_or("", |(_, _, s)| s.trim());
            if serial.is_empty() {
                errors.push(FieldError::new(field, format!("{} unit {unit}: scan its serial", line.sku)));
            } else if serial.len() > 64 || !serial.chars().all(|c| c.is_ascii_graphic()) {
                errors.push(FieldError::new(
                    field,
                    format!("{} unit {unit}: a serial is up to 64 letters, digits or symbols, no spaces", line.sku),
                ));
            } else if !seen.insert((line.product_id, serial.to_owned())) {
                errors.push(FieldError::new(field, format!("{} unit {unit}: serial {serial} was scanned twice", line.sku)));
            }
        }
    }
    if errors.is_empty() { Ok((packages, assigned)) } else { Err(errors) }
}

/// Packs a picked order: validates, checks serials against the lots, and
/// writes the draft shipment, its packages and the serials in one transaction.
pub async fn pack(
    pool: &MySqlPool,
    order_id: OrderId,
    operator_id: OperatorId,
    form: &PackForm,
    boxes: &[BoxDef],
    carrier: &str,
    service: &str,
) -> Result<Result<u64, Vec<FieldError>>, StationError> {
    let lines = pick::sheet(pool, order_id).await?.map(|(_, lines)| lines).unwrap_or_default();
    let (packages, assigned) = match validate(form, boxes, &lines) {
        Ok(v) => v,
        Err(errors) => return Ok(Err(errors)),
    };
    let mut tx = pool.begin().await?;
    let number = lock_held(&mut tx, order_id, operator_id, QueueStatus::Picked).await?;
    let shipment = sqlx::query("INSERT INTO shipments (order_id, carrier, service_code, status, operator_id) VALUES (?, ?, ?, 'draft', ?)")
        .bind(order_id)
        .bind(carrier)
        .bind(service)
        .bind(operator_id)
        .execute(&mut *tx)
        .await?
        .last_insert_id();
    let mut package_ids = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        let id = sqlx::query(
            "INSERT INTO packages (shipment_id, seq, box_id, weight_g, length_mm, width_mm, height_mm) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(shipment)
        .bind((i + 1) as u16)
        .bind(&p.box_id)
        .bind(p.weight_g)
        .bind(p.length_mm)
        .bind(p.width_mm)
        .bind(p.height_mm)
        .execute(&mut *tx)
        .await?
        .last_insert_id();
        package_ids.push(id);
    }
    for (line_id, seq) in &assigned {
        orders::set_package_seq(&mut tx, *line_id, *seq).await?;
    }
    let mut errors = Vec::new();
    for line in lines.iter().filter(|l| l.serial_tracked) {
        let Some(product) = line.product_id else { continue };
        let seq = assigned.iter().find(|(l, _)| *l == line.line_id).map_or(1, |(_, s)| *s);
        let package_id = package_ids.get(usize::from(seq) - 1).copied();
        // The lots reserved for this line, oldest first, with how many units each gives it.
        let mut room = sqlx::query_as::<_, (u64, String, u64, i64)>(
            r#"SELECT r.lot_id, lot.lot_ref, CAST(SUM(r.quantity) AS UNSIGNED) AS qty,
                      (SELECT COUNT(*) FROM lot_serials s WHERE s.lot_id = r.lot_id AND s.captured_at = 'receipt') AS known
               FROM stock_reservations r JOIN inventory_lots lot ON lot.id = r.lot_id
               WHERE r.order_line_id = ? AND r.status = 'open' GROUP BY r.lot_id, lot.lot_ref ORDER BY lot.received_at, lot.id FOR UPDATE"#,
        )
        .bind(line.line_id)
        .fetch_all(&mut *tx)
        .await?;
        for unit in 1..=line.quantity {
            let field = format!("serial_{}_{unit}", line.line_id);
            let serial = form.serials.iter().find(|(l, u, _)| *l == line.line_id && *u == unit).map_or("", |(_, _, s)| s.trim());
            let existing = sqlx::query_as::<_, (u64, u64, String, String)>(
                r#"SELECT s.id, s.lot_id, CAST(s.status AS CHAR) AS status, lot.lot_ref
                   FROM lot_serials s JOIN inventory_lots lot ON lot.id = s.lot_id WHERE s.product_id = ? AND s.serial = ? FOR UPDATE"#,
            )
            .bind(product)
            .bind(serial)
            .fetch_optional(&mut *tx)
            .await?;
            match existing {
                Some((id, lot, status, lot_ref)) => {
                    if status != "in_stock" {
                        errors.push(FieldError::new(field, format!("serial {serial} is already {status}")));
                    } else if let Some(slot) = room.iter_mut().find(|r| r.0 == lot && r.2 > 0) {
                        slot.2 -= 1;
                        sqlx::query("UPDATE lot_serials SET status = 'packed', order_line_id = ?, package_id = ? WHERE id = ?")
                            .bind(line.line_id)
                            .bind(package_id)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    } else {
                        errors.push(FieldError::new(
                            field,
                            format!(
                                "serial {serial} is in lot {lot_ref}, which is not reserved for this line: take the unit from {}",
                                lot_refs(&room)
                            ),
                        ));
                    }
                }
                None => {
                    // Lots whose serials were recorded at receipt validate; others register what is scanned.
                    match room.iter_mut().find(|r| r.2 > 0 && r.3 == 0) {
                        Some(slot) => {
                            slot.2 -= 1;
                            let lot = slot.0;
                            sqlx::query("INSERT INTO lot_serials (lot_id, product_id, serial, order_line_id, package_id, status, captured_at) VALUES (?, ?, ?, ?, ?, 'packed', 'pack')")
                                .bind(lot)
                                .bind(product)
                                .bind(serial)
                                .bind(line.line_id)
                                .bind(package_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        None => errors.push(FieldError::new(
                            field,
                            format!("serial {serial} is not one of the serials recorded for lot {}: check the unit", lot_refs(&room)),
                        )),
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        // Nothing is written: the transaction is dropped (rolled back).
        return Ok(Err(errors));
    }
    sqlx::query("UPDATE pick_queue SET status = 'packed' WHERE order_id = ?").bind(order_id).execute(&mut *tx).await?;
    let weights: Vec<String> = packages.iter().map(|p| format!("{} {} g", p.box_id, p.weight_g)).collect();
    events::record(
        &mut *tx,
        Event::info("pick.packed", format!("order {number} packed: {} package(s): {}", packages.len(), weights.join(", ")))
            .by(operator_id)
            .about("order", order_id),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(shipment))
}

fn lot_refs(room: &[(u64, String, u64, i64)]) -> String {
    let refs: Vec<&str> = room.iter().map(|r| r.1.as_str()).collect();
    if refs.is_empty() { "(no lot reserved)".into() } else { refs.join(" or ") }
}

/// Undoes packing while no label is bought: serials registered at packing
/// are forgotten, serials known from receipt go back in stock, the draft
/// shipment is deleted and the order is `picked` again.
pub async fn unpack(pool: &MySqlPool, order_id: OrderId, operator_id: OperatorId) -> Result<(), StationError> {
    let mut tx = pool.begin().await?;
    let number = lock_held(&mut tx, order_id, operator_id, QueueStatus::Packed).await?;
    let bought: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shipments WHERE order_id = ? AND status <> 'draft'")
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
    if bought > 0 {
        return Err(StationError::Invalid(format!("order {number} already has labels: void them with the carrier first")));
    }
    sqlx::query("DELETE s FROM lot_serials s JOIN order_lines l ON l.id = s.order_line_id WHERE l.order_id = ? AND s.captured_at = 'pack'")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE lot_serials s JOIN order_lines l ON l.id = s.order_line_id SET s.status = 'in_stock', s.order_line_id = NULL, s.package_id = NULL WHERE l.order_id = ?")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    orders::clear_package_seqs(&mut tx, order_id).await?;
    sqlx::query("DELETE FROM shipments WHERE order_id = ? AND status = 'draft'").bind(order_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE pick_queue SET status = 'picked' WHERE order_id = ?").bind(order_id).execute(&mut *tx).await?;
    events::record(
        &mut *tx,
        Event::info("pick.unpacked", format!("order {number} unpacked to re-pack")).by(operator_id).about("order", order_id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_weight_g;

    #[test]
    fn weights_parse_to_whole_grams_rounded_up() {
        assert_eq!(parse_weight_g("1200"), Ok(1200));
        assert_eq!(parse_weight_g("1200 g"), Ok(1200));
        assert_eq!(parse_weight_g("1.2kg"), Ok(1200));
        assert_eq!(parse_weight_g("2.5 lb"), Ok(1134));
        assert_eq!(parse_weight_g("1 LB"), Ok(454));
        assert_eq!(parse_weight_g("16 oz"), Ok(454));
        assert!(parse_weight_g("0").is_err());
        assert!(parse_weight_g("-3").is_err());
        assert!(parse_weight_g("3 stone").expect_err("no such unit").contains("unknown unit"));
        assert!(parse_weight_g("1.2.3").is_err());
        assert!(parse_weight_g("99999999999").is_err());
    }
}
