//! Quote documents from versioned templates: a version names its template
//! version (`templates/quotes/v1/…`), so re-rendering an old version uses
//! the template it was sent with. A new look is a new folder and a new
//! arm here; old arms are never edited.

use askama::Template;
use chrono_tz::Tz;

use super::snapshot::Snapshot;
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

/// One row of v2's tax summary.
pub struct TaxRow {
    pub name: String,
    pub base: String,
    pub tax: String,
}

/// Version 2: the seller's address and phone, the buyer's street, amounts as
/// the tenant's locale writes them, right-aligned numbers under
/// right-aligned headings, and a tax summary (per rate, and on shipping) that
/// adds up to the sales tax.
#[derive(Template)]
#[template(path = "quotes/v2/quote.html")]
struct V2<'a> {
    s: &'a Snapshot,
    revision: String,
    valid_from: String,
    valid_until: String,
    destination: String,
    lines: Vec<PrintLine>,
    taxes: Vec<TaxRow>,
    subtotal: String,
    shipping: Option<String>,
    tax: String,
    total: String,
    logo: Option<String>,
}

/// A rate as a buyer reads it: "San Francisco 8.625%" (not the provider's note).
fn rate_name(source: &str) -> String {
    let name = source.split_once(": ").map_or(source, |(_, n)| n);
    if name.starts_with("no rate") || name.is_empty() { "No sales tax".to_owned() } else { name.to_owned() }
}

/// The tax summary: one row per rate over the lines it taxed, and one for
/// shipping when it was taxed. The rows add up to the snapshot's tax.
pub fn tax_rows(s: &Snapshot) -> Vec<(String, i64, i64)> {
    let mut rows: Vec<(String, u32, i64, i64)> = Vec::new();
    for l in &s.lines {
        let name = rate_name(&l.tax_source);
        match rows.iter_mut().find(|r| r.0 == name && r.1 == l.tax_rate_ppm) {
            Some(r) => {
                r.2 += l.total_minor;
                r.3 += l.tax_minor;
            }
            None => rows.push((name, l.tax_rate_ppm, l.total_minor, l.tax_minor)),
        }
    }
    let mut out: Vec<(String, i64, i64)> = rows.into_iter().map(|(n, _, b, t)| (n, b, t)).collect();
    if s.shipping_tax_minor != 0 {
        out.push(("On shipping".to_owned(), s.shipping_minor, s.shipping_tax_minor));
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no template version `{0}` (known: v1, v2)")]
    UnknownTemplate(String),
    #[error(transparent)]
    Template(#[from] askama::Error),
}

/// The lines as printed, money shown by `show` (each template formats its own way).
fn print_lines(s: &Snapshot, show: impl Fn(i64) -> String) -> Vec<PrintLine> {
    s.lines
        .iter()
        .map(|l| PrintLine {
            no: l.line_no,
            sku: l.sku.clone().unwrap_or_default(),
            description: l.description.clone(),
            quantity: l.quantity,
            unit: l.unit_price_minor.map(&show).unwrap_or_default(),
            tax: show(l.tax_minor),
            total: show(l.total_minor),
        })
        .collect()
}

/// `R3` for the customer's third revision, `DRAFT` before one is sent.
fn revision_label(revision: Option<u32>) -> String {
    revision.map_or_else(|| "DRAFT".to_owned(), |r| format!("R{r}"))
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
            revision: revision_label(revision),
            valid_from: local(s.valid_from),
            valid_until: local(s.valid_until),
            lines: print_lines(s, m),
            subtotal: m(s.subtotal_minor),
            shipping: (s.shipping_minor != 0).then(|| m(s.shipping_minor)),
            tax: m(s.tax_minor),
            total: m(s.total_minor),
            tax_sources,
            logo: logo.filter(|p| p.exists()).map(|p| format!("file://{}", p.display())),
        }
        .render()?),
        "v2" => {
            let locale = money::Locale::parse(&s.locale);
            let show = |v: i64| money::display(v, &s.currency, locale);
            let date = |t: chrono::NaiveDateTime| t.and_utc().with_timezone(&tz).format("%B %-d, %Y").to_string();
            let destination = [s.customer.state.as_str(), s.customer.postcode.as_str(), s.customer.country.as_str()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            Ok(V2 {
                s,
                revision: revision_label(revision),
                valid_from: date(s.valid_from),
                valid_until: date(s.valid_until),
                destination,
                lines: print_lines(s, show),
                taxes: tax_rows(s).into_iter().map(|(name, base, tax)| TaxRow { name, base: show(base), tax: show(tax) }).collect(),
                subtotal: show(s.subtotal_minor),
                shipping: (s.shipping_minor != 0).then(|| show(s.shipping_minor)),
                tax: show(s.tax_minor),
                total: show(s.total_minor),
                logo: logo.filter(|p| p.exists()).map(|p| format!("file://{}", p.display())),
            }
            .render()?)
        }
        other => Err(RenderError::UnknownTemplate(other.to_owned())),
    }
}
