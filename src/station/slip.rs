//! The packing slip: an askama HTML template rendered to PDF by WeasyPrint
//! on the station's paper (letter, A4 or 4x6), printed beside the labels.

use crate::ids::OrderId;
use askama::Template;
use sqlx::MySqlPool;

use crate::{
    config::TenantConfig,
    printing::pdf::{PdfError, WeasyPrint},
};

/// One line on the slip.
pub struct SlipLine {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub package: u16,
    pub serials: Vec<String>,
}

/// One package's page: its lines and its own tracking number.
pub struct SlipPackage {
    pub seq: u16,
    pub tracking: Option<String>,
    pub lines: Vec<SlipLine>,
}

/// The slip: a page per package (so each box carries its own contents and
/// tracking number), with the return address.
#[derive(Template)]
#[template(path = "station/packing_slip.html")]
pub struct PackingSlip {
    pub page_size: &'static str,
    /// 4x6 paper: tighter margins and type.
    pub small: bool,
    pub sender: String,
    pub primary_color: String,
    pub return_address: Vec<String>,
    pub number: String,
    pub ordered_on: String,
    pub ship_to: Vec<String>,
    pub packages: Vec<SlipPackage>,
}

/// CSS `@page size` for the station's paper.
pub fn page_size(paper: &str) -> &'static str {
    match paper {
        "a4" => "A4",
        "4x6" => "4in 6in",
        _ => "letter",
    }
}

#[derive(sqlx::FromRow)]
struct SlipOrder {
    number: String,
    woo_created_at: chrono::NaiveDateTime,
    ship_name: String,
    ship_company: String,
    ship_address1: String,
    ship_address2: String,
    ship_city: String,
    ship_state: String,
    ship_postcode: String,
    ship_country: String,
}

/// Builds the slip for an order from what is stored (lines, serials, packages).
pub async fn build(pool: &MySqlPool, config: &TenantConfig, order_id: OrderId, paper: &str) -> Result<PackingSlip, sqlx::Error> {
    let o = sqlx::query_as::<_, SlipOrder>(
        r#"SELECT number, woo_created_at, ship_name, ship_company, ship_address1, ship_address2, ship_city, ship_state, ship_postcode, ship_country
           FROM orders WHERE id = ?"#,
    )
    .bind(order_id)
    .fetch_one(pool)
    .await?;
    let city_line = format!("{} {} {}", o.ship_city, o.ship_state, o.ship_postcode).split_whitespace().collect::<Vec<_>>().join(" ");
    let ship_to: Vec<String> = [o.ship_name, o.ship_company, o.ship_address1, o.ship_address2, city_line, o.ship_country]
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect();
    let rows = sqlx::query_as::<_, (String, String, u32, Option<u16>, Option<String>)>(
        r#"SELECT l.sku, l.name, l.quantity, l.package_seq,
                  (SELECT GROUP_CONCAT(s.serial ORDER BY s.serial SEPARATOR '\n') FROM lot_serials s WHERE s.order_line_id = l.id) AS serials
           FROM order_lines l WHERE l.order_id = ? AND NOT l.removed ORDER BY COALESCE(l.package_seq, 1), l.id"#,
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    let lines: Vec<SlipLine> = rows
        .into_iter()
        .map(|(sku, name, quantity, package, serials)| SlipLine {
            sku,
            name,
            quantity,
            package: package.unwrap_or(1),
            serials: serials.map(|s| s.lines().map(str::to_owned).collect()).unwrap_or_default(),
        })
        .collect();
    let tracking: Vec<(u16, Option<String>)> = sqlx::query_as(
        "SELECT p.seq, p.tracking_number FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE s.order_id = ? AND s.status <> 'voided' ORDER BY s.id, p.seq",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    let count = lines.iter().map(|l| l.package).chain(tracking.iter().map(|t| t.0)).max().unwrap_or(1).max(1);
    let mut packages: Vec<SlipPackage> = (1..=count)
        .map(|seq| SlipPackage { seq, tracking: tracking.iter().rev().find(|t| t.0 == seq).and_then(|t| t.1.clone()), lines: Vec::new() })
        .collect();
    for l in lines {
        let i = usize::from(l.package.clamp(1, count)) - 1;
        packages[i].lines.push(l);
    }
    // The return address: the business's, else where UPS picks up from.
    let return_address = match (&config.branding.address, &config.ups) {
        (Some(a), _) => address_lines(a),
        (None, Some(u)) => address_lines(&u.shipper),
        _ => Vec::new(),
    };
    Ok(PackingSlip {
        page_size: page_size(paper),
        small: paper == "4x6",
        sender: config.branding.sender_name.clone(),
        primary_color: config.branding.primary_color.clone(),
        return_address,
        number: o.number,
        ordered_on: o.woo_created_at.and_utc().with_timezone(&config.tenant.timezone).format("%Y-%m-%d").to_string(),
        ship_to,
        packages,
    })
}

fn address_lines(a: &crate::config::Address) -> Vec<String> {
    let mut out = vec![a.name.clone(), a.line1.clone()];
    out.extend(a.line2.clone());
    out.push(
        [a.city.as_str(), a.state.as_deref().unwrap_or(""), a.postcode.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
    );
    out.push(a.country.clone());
    out
}

/// Why a slip could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SlipError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("packing slip template: {0}")]
    Template(#[from] askama::Error),
    #[error("packing slip PDF: {0}")]
    Pdf(#[from] PdfError),
}

/// The slip as PDF.
pub async fn pdf(
    pool: &MySqlPool,
    config: &TenantConfig,
    order_id: OrderId,
    paper: &str,
    weasy: &WeasyPrint,
) -> Result<Vec<u8>, SlipError> {
    let html = build(pool, config, order_id, paper).await?.render()?;
    Ok(weasy.render(html, None).await?)
}
