//! The quote editor's form, read into a customer, lines, shipping and the
//! change note: pure (no database, no app state), so the fuzz targets and
//! property tests reach it directly. One pass over the fields, whatever
//! their number; prices through [`Money`], so an amount past the limit is a
//! refusal naming the line.

use std::collections::HashMap;

use super::{
    QuoteError,
    snapshot::{Customer, LineInput, MAX_LINES},
};
use crate::money::Money;

/// The editor's form: `note`, customer fields, and numbered line fields
/// (`product_N` as SKU, `description_N`, `quantity_N`, `price_N`, `reason_N`).
/// The editor's form read: customer, (SKU, line) pairs, shipping, and the change note.
pub type Revision = (Customer, Vec<(Option<String>, LineInput)>, i64, String);

pub fn read_revision(fields: &[(String, String)], exp: u32) -> Result<Revision, QuoteError> {
    // Five fields per line and a handful more; anything beyond is not this form.
    if fields.len() > 5 * MAX_LINES + 32 {
        return Err(QuoteError::Invalid { field: "lines", message: format!("at most {MAX_LINES} lines ({} fields sent)", fields.len()) });
    }
    // One pass over the body; the first value of a repeated field counts.
    let mut map: HashMap<&str, &str> = HashMap::with_capacity(fields.len());
    for (k, v) in fields {
        map.entry(k.as_str()).or_insert(v.as_str());
    }
    let get = |k: &str| map.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let customer = Customer {
        name: get("customer_name"),
        email: get("customer_email"),
        company: Some(get("customer_company")).filter(|c| !c.is_empty()),
        country: get("country").to_uppercase(),
        state: get("state"),
        postcode: get("postcode"),
        address_lines: ["street1", "street2", "city"].iter().map(|k| get(k)).filter(|l| !l.is_empty()).collect(),
    };
    let mut lines = Vec::new();
    for n in 1..=MAX_LINES {
        if !map.contains_key(format!("quantity_{n}").as_str()) {
            break;
        }
        let (sku, desc, qty, price, reason) = (
            get(&format!("product_{n}")),
            get(&format!("description_{n}")),
            get(&format!("quantity_{n}")),
            get(&format!("price_{n}")),
            get(&format!("reason_{n}")),
        );
        if sku.is_empty() && desc.is_empty() && qty.is_empty() {
            continue;
        }
        let quantity = qty
            .parse::<u32>()
            .map_err(|_| QuoteError::Invalid { field: "quantity", message: format!("line {n}: a whole number of at least 1") })?;
        if quantity == 0 {
            continue; // a zero quantity removes the line
        }
        let manual_price = if price.is_empty() {
            None
        } else {
            let p = Money::parse(&price, exp).map_err(|e| QuoteError::Invalid { field: "price", message: format!("line {n}: {e}") })?;
            Some((p.minor(), reason))
        };
        lines.push((Some(sku).filter(|s| !s.is_empty()), LineInput { product_id: None, description: desc, quantity, manual_price }));
    }
    let shipping = match get("shipping").as_str() {
        "" => 0,
        text => Money::parse(text, exp).map_err(|e| QuoteError::Invalid { field: "shipping", message: e.to_string() })?.minor(),
    };
    Ok((customer, lines, shipping, get("note")))
}
