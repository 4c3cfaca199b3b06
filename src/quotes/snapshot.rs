//! What a version is, forever: the snapshot of lines, prices and their
//! sources, customer, terms and totals, and how two of them differ.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::pricing::PriceSource;
use crate::money;

/// The most lines one quote holds.
pub const MAX_LINES: usize = 2000;

/// A line as the back office sets it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LineInput {
    pub product_id: Option<u64>,
    pub description: String,
    pub quantity: u32,
    /// A price typed by a person, with the reason (required).
    pub manual_price: Option<(i64, String)>,
}

/// Who the quote is for and where it ships.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Customer {
    pub name: String,
    pub email: String,
    pub company: Option<String>,
    pub country: String,
    pub state: String,
    pub postcode: String,
    /// Street and city lines, as the back office keys them (versions before them have none).
    #[serde(default)]
    pub address_lines: Vec<String>,
}

fn en_us() -> String {
    "en-US".into()
}

/// One line of a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Line {
    pub line_no: u16,
    pub product_id: Option<u64>,
    pub woo_id: Option<u64>,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: u32,
    pub unit_price_minor: Option<i64>,
    pub price_source: PriceSource,
    pub price_reason: String,
    pub tax_rate_ppm: u32,
    pub tax_source: String,
    pub tax_minor: i64,
    pub total_minor: i64,
}

/// What a version is, forever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    pub number: String,
    pub version_no: u32,
    pub template_version: String,
    pub currency: String,
    pub customer: Customer,
    pub sender_name: String,
    pub sender_email: Option<String>,
    /// The seller as the document shows it: address lines and phone, as they were when the version was made.
    #[serde(default)]
    pub seller_address: Vec<String>,
    #[serde(default)]
    pub seller_phone: Option<String>,
    /// How amounts are written (BCP 47).
    #[serde(default = "en_us")]
    pub locale: String,
    pub primary_color: String,
    pub terms: Option<String>,
    pub valid_from: NaiveDateTime,
    pub valid_until: NaiveDateTime,
    pub timezone: String,
    pub lines: Vec<Line>,
    /// Lines only.
    pub subtotal_minor: i64,
    /// Quoted shipping (0 when none) and the tax on it (0 unless the tenant taxes shipping).
    #[serde(default)]
    pub shipping_minor: i64,
    #[serde(default)]
    pub shipping_tax_minor: i64,
    /// Line tax plus shipping tax.
    pub tax_minor: i64,
    /// Subtotal + shipping + tax.
    pub total_minor: i64,
    pub change_note: Option<String>,
}

impl Snapshot {
    pub fn unpriced(&self) -> usize {
        self.lines.iter().filter(|l| l.unit_price_minor.is_none()).count()
    }
}

/// What changed between two versions, line by line, for the history page.
pub fn diff(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let exp = money::exponent(&b.currency);
    let price = |p: Option<i64>| p.map_or_else(|| "unpriced".to_owned(), |p| money::format_minor(p, exp));
    let key = |l: &Line| (l.product_id, l.description.clone());
    for lb in &b.lines {
        match a.lines.iter().find(|la| key(la) == key(lb)) {
            None => out.push(format!("+ {} × {} at {}", lb.quantity, lb.description, price(lb.unit_price_minor))),
            Some(la) => {
                if la.quantity != lb.quantity {
                    out.push(format!("~ {}: quantity {} → {}", lb.description, la.quantity, lb.quantity));
                }
                if la.unit_price_minor != lb.unit_price_minor {
                    out.push(format!(
                        "~ {}: price {} → {} ({})",
                        lb.description,
                        price(la.unit_price_minor),
                        price(lb.unit_price_minor),
                        lb.price_reason
                    ));
                }
            }
        }
    }
    for la in &a.lines {
        if !b.lines.iter().any(|lb| key(lb) == key(la)) {
            out.push(format!("- {} × {}", la.quantity, la.description));
        }
    }
    if a.customer != b.customer {
        out.push(format!(
            "~ customer/destination: {} {} {} → {} {} {}",
            a.customer.email, a.customer.state, a.customer.postcode, b.customer.email, b.customer.state, b.customer.postcode
        ));
    }
    if a.total_minor != b.total_minor {
        out.push(format!("~ total {} → {}", money::format_minor(a.total_minor, exp), money::format_minor(b.total_minor, exp)));
    }
    out
}
