//! Quote documents from versioned templates: a version names its template
//! version (`templates/quotes/v1/…`), so re-rendering an old version uses
//! the template it was sent with. A new look is a new folder and a new
//! arm here; old arms are never edited.

use askama::Template;
use chrono_tz::Tz;

use super::quote::Snapshot;
use crate::money;

/// A line as printed.
pub struct PrintLine {
    pub no: u16,
    pub sku: String,
    pub description: String,
    pub quantity: u32,
    pub unit: String,
    pub tax: String,
    pub total: String,
}

#[derive(Template)]
#[template(path = "quotes/v1/quote.html")]
struct V1<'a> {
    s: &'a Snapshot,
    revision: String,
    valid_from: String,
    valid_until: String,
    lines: Vec<PrintLine>,
    subtotal: String,
    shipping: Option<String>,
    tax: String,
    total: String,
    tax_sources: Vec<String>,
    logo: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template version `{0}` (known: v1)")]
    UnknownTemplate(String),
    #[error(transparent)]
    Template(#[from] askama::Error),
}

/// The HTML of a snapshot, with its revision (R0…) when sent.
pub fn html(s: &Snapshot, revision: Option<u32>, logo: Option<std::path::PathBuf>) -> Result<String, RenderError> {
    let exp = money::exponent(&s.currency);
    let m = |v: i64| money::format_minor(v, exp);
    let tz: Tz = s.timezone.parse().unwrap_or(chrono_tz::UTC);
    let local = |t: chrono::NaiveDateTime| t.and_utc().with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string();
    let mut tax_sources: Vec<String> = s.lines.iter().map(|l| l.tax_source.clone()).collect();
    tax_sources.sort();
    tax_sources.dedup();
    match s.template_version.as_str() {
        "v1" => Ok(V1 {
            s,
            revision: revision.map_or_else(|| "DRAFT".to_owned(), |r| format!("R{r}")),
            valid_from: local(s.valid_from),
            valid_until: local(s.valid_until),
            lines: s
                .lines
                .iter()
                .map(|l| PrintLine {
                    no: l.line_no,
                    sku: l.sku.clone().unwrap_or_default(),
                    description: l.description.clone(),
                    quantity: l.quantity,
                    unit: l.unit_price_minor.map(m).unwrap_or_default(),
                    tax: m(l.tax_minor),
                    total: m(l.total_minor),
                })
                .collect(),
            subtotal: m(s.subtotal_minor),
            shipping: (s.shipping_minor != 0).then(|| m(s.shipping_minor)),
            tax: m(s.tax_minor),
            total: m(s.total_minor),
            tax_sources,
            logo: logo.filter(|p| p.exists()).map(|p| format!("file://{}", p.display())),
        }
        .render()?),
        other => Err(RenderError::UnknownTemplate(other.to_owned())),
    }
}
