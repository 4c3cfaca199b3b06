//! Quotes and their versions. A version is an immutable snapshot (lines,
//! prices and their sources, customer, destination and tax source, terms,
//! template version, totals, validity window); every change makes a new
//! version. Sending renders the PDF from the snapshot, stores it with its
//! hash and bumps the customer-facing revision (R0, R1, …); drafts never
//! do. The database refuses to change a sent version, its lines or its PDF
//! (triggers), and this code never tries. Acceptance, by the back office or
//! by the buyer's expiring signed link, creates the WooCommerce order from
//! the sent snapshot, exactly as quoted.

use crate::ids::OperatorId;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::MySqlPool;

use super::{
    pricing::{Comparables, PriceSource, Pricer},
    render,
    tax::{NativeTax, TaxProvider, TaxQuery, tax_on},
};
use crate::{
    channels::woocommerce::{
        WooClient,
        types::{NewBilling, NewFee, NewLine, NewOrder},
    },
    config::TenantConfig,
    events::{self, Event},
    money::{self, Money},
    printing::pdf::WeasyPrint,
};

/// The most lines one quote holds.
pub const MAX_LINES: usize = 2000;

/// Everything the quote code needs from the running app.
pub struct Ctx<'a> {
    pub pool: &'a MySqlPool,
    pub config: &'a TenantConfig,
    /// The tenant file's folder (comparables feed, logo).
    pub base_dir: &'a std::path::Path,
    pub weasy: &'a WeasyPrint,
    pub woo: &'a WooClient,
    /// The tenant's mail server: a sent quote is mailed to the buyer with its PDF.
    pub mailer: Option<&'a crate::mail::Mailer>,
}

/// Why a quote action was refused.
#[derive(Debug, thiserror::Error)]
pub enum QuoteError {
    #[error("quote {0} not found")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("quote {number} expired on {until} (UTC): re-issue it with fresh prices")]
    Expired { number: String, until: NaiveDateTime },
    #[error("quote {number} is {status}: {message}")]
    WrongState { number: String, status: String, message: String },
    #[error("the acceptance link is not valid (wrong, used or expired)")]
    BadToken,
    #[error("quote PDF: {0}")]
    Pdf(String),
    #[error("WooCommerce did not take the order: {0}; the quote stays sent, try accepting again")]
    Woo(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> QuoteError {
    QuoteError::Invalid { field, message: message.into() }
}

/// A line whose amount does not fit: a 422 naming the line, never a saturated value.
fn too_large(line: usize, what: &str, exp: u32) -> QuoteError {
    invalid("lines", format!("line {line}: {what} is larger than the largest amount a quote can hold ({})", Money::MAX.format(exp)))
}

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

/// Prices lines (fall-through), applies tax and totals: a draft snapshot.
async fn build(
    ctx: &Ctx<'_>,
    number: &str,
    version_no: u32,
    customer: &Customer,
    inputs: &[LineInput],
    shipping_minor: i64,
    note: Option<String>,
) -> Result<Snapshot, QuoteError> {
    if shipping_minor < 0 {
        return Err(invalid("shipping", "cannot be negative"));
    }
    if inputs.is_empty() {
        return Err(invalid("lines", "a quote needs at least one line"));
    }
    if inputs.len() > MAX_LINES {
        return Err(invalid("lines", format!("at most {MAX_LINES} lines")));
    }
    let c = ctx.config;
    let currency = c.tenant.currency.clone();
    let comps = match Comparables::load(&c.pricing, ctx.base_dir, &currency).await {
        Ok(comps) => comps,
        Err(e) => {
            // The quote still prices from stock and suppliers; the problem is visible.
            events::record(ctx.pool, Event::info("quote.comparables_unreadable", e.to_string()).severity(events::Severity::Warning))
                .await?;
            Comparables::default()
        }
    };
    let comps = comps.with_stored(ctx.pool, &currency).await?;
    let now = Utc::now().naive_utc();
    let pricer = Pricer { pool: ctx.pool, pricing: &c.pricing, comps: &comps, currency: &currency, now };
    let taxes = NativeTax::new(c.tax.clone());
    let exp = money::exponent(&currency);
    let mut lines = Vec::with_capacity(inputs.len());
    let mut totals: Vec<(Money, Money)> = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        if input.quantity == 0 {
            return Err(invalid("lines", format!("line {}: quantity must be at least 1", i + 1)));
        }
        if input.description.trim().chars().count() > limits::DESCRIPTION {
            return Err(invalid("lines", format!("line {}: the description has more than {} characters", i + 1, limits::DESCRIPTION)));
        }
        if input.manual_price.as_ref().is_some_and(|(_, r)| r.trim().chars().count() > limits::REASON) {
            return Err(invalid("lines", format!("line {}: the price reason has more than {} characters", i + 1, limits::REASON)));
        }
        let product = match input.product_id {
            Some(id) => {
                sqlx::query_as::<_, (String, String, Option<u64>, String)>("SELECT sku, name, woo_id, tax_class FROM products WHERE id = ?")
                    .bind(id)
                    .fetch_optional(ctx.pool)
                    .await?
            }
            None => None,
        };
        if input.product_id.is_some() && product.is_none() {
            return Err(invalid("lines", format!("line {}: product {} does not exist", i + 1, input.product_id.unwrap_or(0))));
        }
        let (sku, name, woo_id, tax_class) = match product {
            Some((sku, name, woo_id, tax_class)) => (Some(sku), Some(name), woo_id, tax_class),
            None => (None, None, None, "standard".to_owned()),
        };
        let priced = match &input.manual_price {
            Some((price, reason)) if reason.trim().is_empty() => {
                return Err(invalid("lines", format!("line {}: a hand-set price needs a reason", i + 1)));
            }
            Some((price, _)) if *price < 0 => return Err(invalid("lines", format!("line {}: price cannot be negative", i + 1))),
            Some((price, reason)) => super::pricing::Priced {
                unit_price_minor: Some(*price),
                source: PriceSource::Manual,
                reason: reason.trim().chars().take(255).collect(),
            },
            None => pricer.price(input.product_id, input.quantity).await?,
        };
        let rate = taxes.rate(&TaxQuery {
            country: customer.country.clone(),
            state: customer.state.clone(),
            postcode: customer.postcode.clone(),
            tax_class,
        });
        let n = i + 1;
        let unit = priced.unit_price_minor.map(Money::from_minor).transpose().map_err(|_| too_large(n, "the unit price", exp))?;
        let total = unit
            .map_or(Ok(Money::ZERO), |u| u.times(input.quantity))
            .map_err(|_| too_large(n, &format!("{} × {}", input.quantity, unit.map_or_else(String::new, |u| u.format(exp))), exp))?;
        let line_tax = tax_on(total, rate.ppm).map_err(|_| too_large(n, "the tax", exp))?;
        let description =
            if input.description.trim().is_empty() { name.clone().unwrap_or_default() } else { input.description.trim().to_owned() };
        lines.push(Line {
            line_no: (i + 1) as u16,
            product_id: input.product_id,
            woo_id,
            sku,
            description: description.chars().take(255).collect(),
            quantity: input.quantity,
            unit_price_minor: priced.unit_price_minor,
            price_source: priced.source,
            price_reason: priced.reason.chars().take(255).collect(),
            tax_rate_ppm: rate.ppm,
            tax_source: rate.source.chars().take(120).collect(),
            tax_minor: line_tax.minor(),
            total_minor: total.minor(),
        });
        totals.push((total, line_tax));
    }
    let sum_err = |what: &str| {
        invalid("lines", format!("the quote's {what} is larger than the largest amount a quote can hold ({})", Money::MAX.format(exp)))
    };
    let subtotal = Money::sum(totals.iter().map(|t| t.0)).map_err(|_| sum_err("subtotal"))?;
    let shipping = Money::from_minor(shipping_minor).map_err(|_| invalid("shipping", "larger than the largest amount allowed"))?;
    let shipping_tax = if taxes.shipping_taxable() {
        let rate = taxes.rate(&TaxQuery {
            country: customer.country.clone(),
            state: customer.state.clone(),
            postcode: customer.postcode.clone(),
            tax_class: "standard".into(),
        });
        tax_on(shipping, rate.ppm).map_err(|_| invalid("shipping", "its tax is larger than the largest amount allowed"))?
    } else {
        Money::ZERO
    };
    let tax = Money::sum(totals.iter().map(|t| t.1).chain([shipping_tax])).map_err(|_| sum_err("tax"))?;
    let total = Money::sum([subtotal, shipping, tax]).map_err(|_| sum_err("total"))?;
    Ok(Snapshot {
        number: number.to_owned(),
        version_no,
        template_version: c.quotes.template.clone(),
        currency,
        customer: customer.clone(),
        sender_name: c.branding.sender_name.clone(),
        sender_email: c.branding.sender_email.clone(),
        seller_address: crate::mail::Brand::of(c).address_lines,
        seller_phone: c.branding.phone.clone(),
        locale: c.tenant.locale.clone(),
        primary_color: c.branding.primary_color.clone(),
        terms: c.quotes.terms.clone(),
        valid_from: now,
        valid_until: now + TimeDelta::days(i64::from(c.pricing.quote_validity_days.max(1))),
        timezone: c.tenant.timezone.name().to_owned(),
        lines,
        subtotal_minor: subtotal.minor(),
        shipping_minor,
        shipping_tax_minor: shipping_tax.minor(),
        tax_minor: tax.minor(),
        total_minor: total.minor(),
        change_note: note,
    })
}

/// Stores a snapshot as a new draft version; returns its id.
async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::MySql>,
    quote_id: u64,
    s: &Snapshot,
    operator: Option<OperatorId>,
) -> Result<u64, sqlx::Error> {
    let id = sqlx::query(
        r#"INSERT INTO quote_versions (quote_id, version_no, state, template_version, currency, valid_from, valid_until, subtotal_minor, tax_minor, total_minor, snapshot, created_by, change_note)
           VALUES (?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"#,
    )
    .bind(quote_id)
    .bind(s.version_no)
    .bind(&s.template_version)
    .bind(&s.currency)
    .bind(s.valid_from)
    .bind(s.valid_until)
    .bind(s.subtotal_minor)
    .bind(s.tax_minor)
    .bind(s.total_minor)
    .bind(serde_json::to_string(s).unwrap_or_default())
    .bind(operator)
    .bind(&s.change_note)
    .execute(&mut **tx)
    .await?
    .last_insert_id();
    for l in &s.lines {
        sqlx::query(
            r#"INSERT INTO quote_lines (quote_version_id, line_no, product_id, sku, description, quantity, unit_price_minor, price_source, price_reason, tax_rate_ppm, tax_source, tax_minor, total_minor)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"#,
        )
        .bind(id)
        .bind(l.line_no)
        .bind(l.product_id)
        .bind(&l.sku)
        .bind(&l.description)
        .bind(l.quantity)
        .bind(l.unit_price_minor)
        .bind(l.price_source.as_str())
        .bind(&l.price_reason)
        .bind(l.tax_rate_ppm)
        .bind(&l.tax_source)
        .bind(l.tax_minor)
        .bind(l.total_minor)
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// The next quote number: tenant prefix + a gap-free sequence.
async fn next_number(tx: &mut sqlx::Transaction<'_, sqlx::MySql>, config: &TenantConfig) -> Result<String, sqlx::Error> {
    sqlx::query(
        "INSERT INTO counters (name, value) VALUES ('quote', LAST_INSERT_ID(1)) ON DUPLICATE KEY UPDATE value = LAST_INSERT_ID(value + 1)",
    )
    .execute(&mut **tx)
    .await?;
    let n: u64 = sqlx::query_scalar("SELECT LAST_INSERT_ID()").fetch_one(&mut **tx).await?;
    let prefix = config.tenant.quote_prefix.clone().unwrap_or_else(|| config.tenant.id.to_string().to_uppercase());
    Ok(format!("{prefix}-{n:05}"))
}

/// The longest text each field keeps (the columns' widths): a longer value
/// is refused with the field and its limit, never cut or failed on insert.
pub mod limits {
    pub const NAME: usize = 160;
    pub const COMPANY: usize = 160;
    /// RFC 5321: a 64-character local part, 254 characters in all.
    pub const EMAIL: usize = 254;
    pub const EMAIL_LOCAL: usize = 64;
    /// "Baden-Württemberg", "Newfoundland and Labrador" and their kin.
    pub const STATE: usize = 64;
    pub const POSTCODE: usize = 32;
    pub const DESCRIPTION: usize = 255;
    pub const NOTE: usize = 255;
    pub const REASON: usize = 255;
}

/// `Err` naming the field and its limit when `value` has more than `max` characters.
pub fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), QuoteError> {
    let n = value.chars().count();
    if n > max { Err(invalid(field, format!("at most {max} characters (this one has {n})"))) } else { Ok(()) }
}

fn check_customer(c: &Customer) -> Result<(), QuoteError> {
    if c.name.trim().is_empty() {
        return Err(invalid("customer.name", "required"));
    }
    check_len("customer.name", &c.name, limits::NAME)?;
    check_len("customer.company", c.company.as_deref().unwrap_or_default(), limits::COMPANY)?;
    check_len("customer.email", &c.email, limits::EMAIL)?;
    check_len("state", &c.state, limits::STATE)?;
    check_len("postcode", &c.postcode, limits::POSTCODE)?;
    for line in &c.address_lines {
        check_len("street", line, limits::NAME)?;
    }
    match c.email.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            check_len("customer.email", local, limits::EMAIL_LOCAL)?;
        }
        _ => return Err(invalid("customer.email", "an email address such as buyer@example.com is required")),
    }
    if c.email.chars().any(|ch| ch.is_control() || ch.is_whitespace()) {
        return Err(invalid("customer.email", "an address has no spaces or control characters"));
    }
    if !c.country.is_empty() && (c.country.len() != 2 || !c.country.chars().all(|ch| ch.is_ascii_uppercase())) {
        return Err(invalid("customer.country", "a two-letter country code such as US"));
    }
    Ok(())
}

/// A new quote with a first draft version; returns (quote id, number).
pub async fn create(
    ctx: &Ctx<'_>,
    customer: &Customer,
    lines: &[LineInput],
    rfq_id: Option<u64>,
    operator: Option<OperatorId>,
) -> Result<(u64, String), QuoteError> {
    check_customer(customer)?;
    // Price before taking the numbering lock.
    let draft = build(ctx, "", 1, customer, lines, 0, Some("first version".into())).await?;
    let mut tx = ctx.pool.begin().await?;
    let number = next_number(&mut tx, ctx.config).await?;
    let snapshot = Snapshot { number: number.clone(), ..draft };
    let id = sqlx::query(
        "INSERT INTO quotes (number, rfq_id, customer_email, customer_name, customer_company, ship_country, ship_state, ship_postcode, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&number)
    .bind(rfq_id)
    .bind(&customer.email)
    .bind(&customer.name)
    .bind(&customer.company)
    .bind(&customer.country)
    .bind(&customer.state)
    .bind(&customer.postcode)
    .bind(operator)
    .execute(&mut *tx)
    .await?
    .last_insert_id();
    insert_version(&mut tx, id, &snapshot, operator).await?;
    if let Some(rfq) = rfq_id {
        sqlx::query("UPDATE rfqs SET status = 'quoted' WHERE id = ?").bind(rfq).execute(&mut *tx).await?;
    }
    let mut e = Event::info(
        "quote.created",
        format!("quote {number} for {} ({} lines, {} unpriced)", customer.email, snapshot.lines.len(), snapshot.unpriced()),
    )
    .about("quote", id);
    if let Some(op) = operator {
        e = e.by(op);
    }
    events::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok((id, number))
}

/// A quote from an RFQ: its sender, and one line per requested item.
pub async fn create_from_rfq(
    ctx: &Ctx<'_>,
    rfq_id: u64,
    destination: (&str, &str, &str),
    operator: Option<OperatorId>,
) -> Result<(u64, String), QuoteError> {
    let (email, name, company, status) = sqlx::query_as::<_, (Option<String>, Option<String>, Option<String>, String)>(
        "SELECT sender_email, sender_name, sender_company, CAST(status AS CHAR) AS status FROM rfqs WHERE id = ?",
    )
    .bind(rfq_id)
    .fetch_optional(ctx.pool)
    .await?
    .ok_or_else(|| QuoteError::NotFound(format!("RFQ {rfq_id}")))?;
    if status == "unparseable" {
        return Err(invalid("rfq", "this RFQ could not be read; look at its raw message and enter the quote by hand"));
    }
    let items: Vec<(Option<u64>, String, u32)> =
        sqlx::query_as("SELECT product_id, raw_text, quantity FROM rfq_items WHERE rfq_id = ? ORDER BY line_no")
            .bind(rfq_id)
            .fetch_all(ctx.pool)
            .await?;
    let lines: Vec<LineInput> = items
        .into_iter()
        .map(|(product_id, raw, quantity)| LineInput {
            product_id,
            description: if product_id.is_some() { String::new() } else { raw },
            quantity,
            manual_price: None,
        })
        .collect();
    let email = email.unwrap_or_default();
    // Without a name, the address's local part (at most 64 characters) stands in.
    let fallback = || email.rsplit_once('@').map_or(email.as_str(), |(local, _)| local).chars().take(limits::NAME).collect();
    let customer = Customer {
        name: name.filter(|n| !n.trim().is_empty()).unwrap_or_else(fallback),
        email,
        company,
        country: destination.0.to_owned(),
        state: destination.1.to_owned(),
        postcode: destination.2.to_owned(),
        address_lines: Vec::new(),
    };
    create(ctx, &customer, &lines, Some(rfq_id), operator).await
}

/// A version as stored.
#[derive(Debug, Clone)]
pub struct Version {
    pub id: u64,
    pub version_no: u32,
    pub revision: Option<u32>,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub change_note: Option<String>,
    pub snapshot: Snapshot,
}

/// Every version of a quote, oldest first.
pub async fn versions(pool: &MySqlPool, quote_id: u64) -> Result<Vec<Version>, QuoteError> {
    let rows = sqlx::query_as::<_, VersionRow>(
        r#"SELECT v.id, v.version_no, v.revision, CAST(v.state AS CHAR) AS state, v.created_at, v.change_note,
                  CAST(v.snapshot AS CHAR) AS snapshot, o.display_name AS created_by
           FROM quote_versions v LEFT JOIN operators o ON o.id = v.created_by WHERE v.quote_id = ? ORDER BY v.version_no"#,
    )
    .bind(quote_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Version {
                id: r.id,
                version_no: r.version_no,
                revision: r.revision,
                state: r.state,
                created_at: r.created_at,
                created_by: r.created_by,
                change_note: r.change_note,
                snapshot: serde_json::from_str(&r.snapshot).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            })
        })
        .collect()
}

/// A `quote_versions` row as read, its snapshot still JSON text.
#[derive(sqlx::FromRow)]
struct VersionRow {
    id: u64,
    version_no: u32,
    revision: Option<u32>,
    state: String,
    created_at: NaiveDateTime,
    created_by: Option<String>,
    change_note: Option<String>,
    snapshot: String,
}

/// (id, number, status) of a quote by id.
async fn head(pool: &MySqlPool, quote_id: u64) -> Result<(String, String), QuoteError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT number, CAST(status AS CHAR) FROM quotes WHERE id = ?").bind(quote_id).fetch_optional(pool).await?;
    row.ok_or_else(|| QuoteError::NotFound(quote_id.to_string()))
}

/// A change: a new draft version with these lines and shipping charge
/// (prices re-run, hand-set prices kept).
pub async fn revise(
    ctx: &Ctx<'_>,
    quote_id: u64,
    customer: &Customer,
    lines: &[LineInput],
    shipping_minor: i64,
    note: &str,
    operator: OperatorId,
) -> Result<u64, QuoteError> {
    check_customer(customer)?;
    let (number, status) = head(ctx.pool, quote_id).await?;
    if matches!(status.as_str(), "accepted" | "cancelled") {
        return Err(QuoteError::WrongState { number, status, message: "it can no longer change".into() });
    }
    if note.trim().is_empty() {
        return Err(invalid("note", "say what changed (it is kept in the history)"));
    }
    check_len("note", note.trim(), limits::NOTE)?;
    let next: u32 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(version_no), 0) + 1 AS UNSIGNED) FROM quote_versions WHERE quote_id = ?")
        .bind(quote_id)
        .fetch_one(ctx.pool)
        .await?;
    let snapshot = build(ctx, &number, next, customer, lines, shipping_minor, Some(note.trim().chars().take(255).collect())).await?;
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("SELECT id FROM quotes WHERE id = ? FOR UPDATE").bind(quote_id).execute(&mut *tx).await?;
    let id = insert_version(&mut tx, quote_id, &snapshot, Some(operator)).await?;
    sqlx::query("UPDATE quotes SET customer_email = ?, customer_name = ?, customer_company = ?, ship_country = ?, ship_state = ?, ship_postcode = ?, status = IF(status = 'expired', 'draft', status) WHERE id = ?")
        .bind(&customer.email)
        .bind(&customer.name)
        .bind(&customer.company)
        .bind(&customer.country)
        .bind(&customer.state)
        .bind(&customer.postcode)
        .bind(quote_id)
        .execute(&mut *tx)
        .await?;
    events::record(
        &mut *tx,
        Event::info("quote.revised", format!("quote {number} version {next}: {}", note.trim())).by(operator).about("quote", quote_id),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Re-issues a quote (typically expired): the same lines priced afresh, a new validity window.
pub async fn reissue(ctx: &Ctx<'_>, quote_id: u64, operator: OperatorId) -> Result<u64, QuoteError> {
    let vs = versions(ctx.pool, quote_id).await?;
    let last = vs.last().ok_or_else(|| QuoteError::NotFound(quote_id.to_string()))?;
    let lines: Vec<LineInput> = last
        .snapshot
        .lines
        .iter()
        .map(|l| LineInput {
            product_id: l.product_id,
            description: l.description.clone(),
            quantity: l.quantity,
            manual_price: (l.price_source == PriceSource::Manual).then(|| (l.unit_price_minor.unwrap_or(0), l.price_reason.clone())),
        })
        .collect();
    revise(ctx, quote_id, &last.snapshot.customer.clone(), &lines, last.snapshot.shipping_minor, "re-issued with fresh prices", operator)
        .await
}

/// The PDF of a snapshot with the template version it names.
pub async fn render_pdf(ctx: &Ctx<'_>, s: &Snapshot, revision: Option<u32>) -> Result<Vec<u8>, QuoteError> {
    let html = render::html(s, revision, ctx.config.branding.logo.as_ref().map(|l| ctx.base_dir.join(l)))
        .map_err(|e| QuoteError::Pdf(e.to_string()))?;
    ctx.weasy.render(html, Some(ctx.base_dir)).await.map_err(|e| QuoteError::Pdf(e.to_string()))
}

/// What sending produced.
#[derive(Debug, Clone)]
pub struct Sent {
    pub version_id: u64,
    pub revision: u32,
    pub pdf: Vec<u8>,
    /// The buyer's acceptance token (only its hash is stored): put it in the link.
    pub accept_token: String,
    /// The mail to the buyer (its outbox id), or why it could not be queued; `None` without a mail server.
    pub mailed: Option<Result<u64, String>>,
}

/// Sends the latest draft: renders and stores its PDF, marks it sent with the next revision.
pub async fn send(ctx: &Ctx<'_>, quote_id: u64, operator: OperatorId) -> Result<Sent, QuoteError> {
    let (number, status) = head(ctx.pool, quote_id).await?;
    if matches!(status.as_str(), "accepted" | "cancelled" | "lost") {
        return Err(QuoteError::WrongState { number, status, message: "it cannot be sent".into() });
    }
    let vs = versions(ctx.pool, quote_id).await?;
    let Some(draft) = vs.last().filter(|v| v.state == "draft") else {
        return Err(QuoteError::WrongState {
            number,
            status,
            message: "the latest version was already sent; change something to make a new version".into(),
        });
    };
    if draft.snapshot.unpriced() > 0 {
        return Err(invalid(
            "lines",
            format!("{} line(s) have no price: price them (with a reason) before sending", draft.snapshot.unpriced()),
        ));
    }
    if draft.snapshot.valid_until <= Utc::now().naive_utc() {
        return Err(QuoteError::Expired { number, until: draft.snapshot.valid_until });
    }
    let revision: u32 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(revision) + 1, 0) AS UNSIGNED) FROM quote_versions WHERE quote_id = ?")
            .bind(quote_id)
            .fetch_one(ctx.pool)
            .await?;
    let pdf = render_pdf(ctx, &draft.snapshot, Some(revision)).await?;
    let sha = Sha256::digest(&pdf).to_vec();
    let token = crate::token::random_token();
    let token_hash = Sha256::digest(token.as_bytes()).to_vec();
    let expires = Utc::now().naive_utc() + TimeDelta::hours(i64::from(ctx.config.quotes.accept_link_hours));
    let mut tx = ctx.pool.begin().await?;
    sqlx::query("SELECT id FROM quotes WHERE id = ? FOR UPDATE").bind(quote_id).execute(&mut *tx).await?;
    let done = sqlx::query("UPDATE quote_versions SET state = 'sent', revision = ?, sent_at = UTC_TIMESTAMP(6), pdf_sha256 = ? WHERE id = ? AND state = 'draft'")
        .bind(revision)
        .bind(&sha)
        .bind(draft.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if done != 1 {
        return Err(QuoteError::WrongState { number, status, message: "someone else sent it a moment ago".into() });
    }
    sqlx::query("INSERT INTO quote_pdfs (quote_version_id, sha256, pdf) VALUES (?, ?, ?)")
        .bind(draft.id)
        .bind(&sha)
        .bind(&pdf)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE quotes SET status = 'sent', revision = ?, accept_token_hash = ?, accept_token_expires_at = ? WHERE id = ?")
        .bind(revision)
        .bind(&token_hash)
        .bind(expires.min(draft.snapshot.valid_until))
        .bind(quote_id)
        .execute(&mut *tx)
        .await?;
    let domain = draft.snapshot.customer.email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    sqlx::query("INSERT INTO sender_domains (domain, quotes_sent) VALUES (?, 1) ON DUPLICATE KEY UPDATE quotes_sent = quotes_sent + 1")
        .bind(&domain)
        .execute(&mut *tx)
        .await?;
    events::record(
        &mut *tx,
        Event::info(
            "quote.sent",
            format!(
                "quote {number} R{revision} sent to {} ({} {})",
                draft.snapshot.customer.email,
                money::format_minor(draft.snapshot.total_minor, money::exponent(&draft.snapshot.currency)),
                draft.snapshot.currency
            ),
        )
        .by(operator)
        .about("quote", quote_id),
    )
    .await?;
    tx.commit().await?;
    // The quote is sent whatever the mail does: a mail that cannot be queued is told, and can be sent again.
    let mailed = match ctx.mailer {
        Some(mailer) => {
            let outcome = super::mailing::email(ctx, mailer, draft.id, revision, &draft.snapshot, &pdf, Some(&token))
                .await
                .map_err(|e| e.to_string());
            if let Err(e) = &outcome {
                events::record(
                    ctx.pool,
                    Event::info(
                        "quote.email_failed",
                        format!("quote {number} R{revision} was not mailed to {}: {e}", draft.snapshot.customer.email),
                    )
                    .severity(events::Severity::Warning)
                    .about("quote", quote_id),
                )
                .await?;
            }
            Some(outcome)
        }
        None => None,
    };
    Ok(Sent { version_id: draft.id, revision, pdf, accept_token: token, mailed })
}

/// The mail outbox key of a version's sends.
pub fn mailing_ref(version_id: u64) -> String {
    super::mailing::subject_ref(version_id)
}

/// Mails the latest sent version again with its stored PDF (no acceptance
/// link: that was shown once, at sending). Refused without a mail server.
pub async fn mail_again(ctx: &Ctx<'_>, quote_id: u64, operator: OperatorId) -> Result<u64, QuoteError> {
    let (number, status) = head(ctx.pool, quote_id).await?;
    let Some(mailer) = ctx.mailer else { return Err(invalid("smtp", "no mail server is set up for this tenant (smtp)")) };
    let vs = versions(ctx.pool, quote_id).await?;
    let Some(v) = vs.iter().rev().find(|v| v.state == "sent") else {
        return Err(QuoteError::WrongState { number, status, message: "no version has been sent yet".into() });
    };
    let (pdf, _) = stored_pdf(ctx.pool, v.id).await?.ok_or_else(|| QuoteError::NotFound(number.clone()))?;
    let revision = v.revision.unwrap_or(0);
    let id =
        super::mailing::email(ctx, mailer, v.id, revision, &v.snapshot, &pdf, None).await.map_err(|e| invalid("mail", e.to_string()))?;
    events::record(
        ctx.pool,
        Event::info("quote.mailed_again", format!("quote {number} R{revision} mailed again to {}", v.snapshot.customer.email))
            .by(operator)
            .about("quote", quote_id),
    )
    .await?;
    Ok(id)
}

/// Who accepts.
#[derive(Debug, Clone)]
pub enum Acceptor<'a> {
    BackOffice(OperatorId),
    /// The buyer, through the signed link.
    Buyer {
        number: &'a str,
        token: &'a str,
    },
}

/// The quote a buyer's link opens: the number and token must match an
/// unexpired acceptance token (compared by hash, in constant time).
pub async fn quote_for_link(pool: &MySqlPool, number: &str, token: &str) -> Result<u64, QuoteError> {
    let row: Option<(u64, Option<Vec<u8>>, Option<NaiveDateTime>)> =
        sqlx::query_as("SELECT id, accept_token_hash, accept_token_expires_at FROM quotes WHERE number = ?")
            .bind(number)
            .fetch_optional(pool)
            .await?;
    let Some((id, stored, expires)) = row else { return Err(QuoteError::BadToken) };
    let given = Sha256::digest(token.as_bytes()).to_vec();
    use subtle::ConstantTimeEq;
    let matches = stored.as_deref().is_some_and(|s| bool::from(s.ct_eq(&given)));
    if !matches || expires.is_none_or(|e| e <= Utc::now().naive_utc()) {
        return Err(QuoteError::BadToken);
    }
    Ok(id)
}

/// Accepts the latest sent version: creates the WooCommerce order from its
/// snapshot (exact prices and quantities) and links it. Returns the Woo order id.
pub async fn accept(ctx: &Ctx<'_>, quote_id: u64, by: Acceptor<'_>) -> Result<u64, QuoteError> {
    if let Acceptor::Buyer { number, token } = &by {
        if quote_for_link(ctx.pool, number, token).await? != quote_id {
            return Err(QuoteError::BadToken);
        }
    }
    let (number, status, existing) = sqlx::query_as::<_, (String, String, Option<u64>)>(
        "SELECT number, CAST(status AS CHAR) AS status, woo_order_id FROM quotes WHERE id = ?",
    )
    .bind(quote_id)
    .fetch_optional(ctx.pool)
    .await?
    .ok_or_else(|| QuoteError::NotFound(quote_id.to_string()))?;
    if status == "accepted" {
        return existing.ok_or(QuoteError::WrongState { number, status, message: "already accepted".into() });
    }
    if status != "sent" {
        return Err(QuoteError::WrongState { number, status, message: "only a sent quote can be accepted".into() });
    }
    let vs = versions(ctx.pool, quote_id).await?;
    let sent = vs.iter().rev().find(|v| v.state == "sent").ok_or_else(|| QuoteError::WrongState {
        number: number.clone(),
        status: status.clone(),
        message: "nothing was sent".into(),
    })?;
    let s = &sent.snapshot;
    if s.valid_until <= Utc::now().naive_utc() {
        sqlx::query("UPDATE quotes SET status = 'expired' WHERE id = ? AND status = 'sent'").bind(quote_id).execute(ctx.pool).await?;
        return Err(QuoteError::Expired { number, until: s.valid_until });
    }
    let revision = sent.revision.unwrap_or(0);

    // One acceptor at a time: the claim is taken by a conditional update (a
    // claim older than two minutes belongs to a request that died).
    let claim = hex::encode(rand::random::<[u8; 16]>());
    let claimed = sqlx::query(
        r#"UPDATE quotes SET accept_claim = ?, accept_claimed_at = UTC_TIMESTAMP(6), accept_started_at = COALESCE(accept_started_at, UTC_TIMESTAMP(6))
           WHERE id = ? AND status = 'sent' AND (accept_claim IS NULL OR accept_claimed_at < UTC_TIMESTAMP(6) - INTERVAL 2 MINUTE)"#,
    )
    .bind(&claim)
    .bind(quote_id)
    .execute(ctx.pool)
    .await?
    .rows_affected();
    if claimed != 1 {
        let (status, order): (String, Option<u64>) =
            sqlx::query_as("SELECT CAST(status AS CHAR), woo_order_id FROM quotes WHERE id = ?").bind(quote_id).fetch_one(ctx.pool).await?;
        return match (status.as_str(), order) {
            ("accepted", Some(order)) => Ok(order),
            _ => Err(QuoteError::WrongState { number, status, message: "it is being accepted right now; reload in a moment".into() }),
        };
    }
    let release = || async {
        let _ = sqlx::query("UPDATE quotes SET accept_claim = NULL WHERE id = ? AND accept_claim = ?")
            .bind(quote_id)
            .bind(&claim)
            .execute(ctx.pool)
            .await;
    };
    // An earlier attempt (timed out, or its process died) may have made the order: look before making one.
    // (The claim set both times at once for a first attempt; an earlier one began before this claim.)
    let (started, claimed_at): (Option<NaiveDateTime>, Option<NaiveDateTime>) =
        sqlx::query_as("SELECT accept_started_at, accept_claimed_at FROM quotes WHERE id = ?").bind(quote_id).fetch_one(ctx.pool).await?;
    let earlier = match (started, claimed_at) {
        (Some(at), Some(now)) if at < now => ctx.woo.order_for_quote(&number, revision, at.and_utc()).await,
        _ => Ok(None),
    };
    let made = match earlier {
        Ok(Some(order)) => Ok(order),
        Ok(None) => ctx.woo.create_order_for_quote(&new_order(s, revision)).await,
        Err(e) => Err(e),
    };
    let woo_order = match made {
        Ok(order) => order,
        Err(e) => {
            release().await;
            return Err(QuoteError::Woo(e.to_string()));
        }
    };
    let who = match by {
        Acceptor::BackOffice(op) => format!("operator {op}"),
        Acceptor::Buyer { .. } => format!("buyer {}", s.customer.email),
    };
    let mut tx = ctx.pool.begin().await?;
    let done = sqlx::query(
        r#"UPDATE quotes SET status = 'accepted', woo_order_id = ?, accepted_version_id = ?, accepted_at = UTC_TIMESTAMP(6), accepted_by = ?,
                             accept_token_hash = NULL, accept_claim = NULL
           WHERE id = ? AND status = 'sent' AND accept_claim = ?"#,
    )
    .bind(woo_order)
    .bind(sent.id)
    .bind(&who)
    .bind(quote_id)
    .bind(&claim)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done != 1 {
        // The claim expired under a very slow WooCommerce and another acceptor took over; it finds this order by its meta.
        return Err(QuoteError::WrongState { number, status, message: "it was accepted by another request a moment ago".into() });
    }
    let domain = s.customer.email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    sqlx::query("INSERT INTO sender_domains (domain, quotes_won) VALUES (?, 1) ON DUPLICATE KEY UPDATE quotes_won = quotes_won + 1")
        .bind(&domain)
        .execute(&mut *tx)
        .await?;
    let mut e = Event::info("quote.accepted", format!("quote {number} R{revision} accepted by {who}: WooCommerce order {woo_order}"))
        .about("quote", quote_id);
    if let Acceptor::BackOffice(op) = by {
        e = e.by(op);
    }
    events::record(&mut *tx, e).await?;
    tx.commit().await?;
    Ok(woo_order)
}

/// The WooCommerce order a sent snapshot becomes, exactly as quoted. Lines
/// without a store product (custom items) and the tax become fee lines, so
/// the order's total is the quote's.
pub fn new_order(s: &Snapshot, revision: u32) -> NewOrder {
    let mut name = s.customer.name.splitn(2, ' ');
    let (first, last) = (name.next().unwrap_or_default(), name.next().unwrap_or_default());
    let mut fees: Vec<NewFee> = s
        .lines
        .iter()
        .filter(|l| l.woo_id.is_none())
        .map(|l| NewFee {
            name: format!("{} × {} (quote {} line {})", l.description, l.quantity, s.number, l.line_no),
            total_minor: l.total_minor,
        })
        .collect();
    if s.tax_minor != 0 {
        fees.push(NewFee { name: format!("Sales tax (quote {} R{revision})", s.number), total_minor: s.tax_minor });
    }
    NewOrder {
        quote: s.number.clone(),
        revision,
        currency: s.currency.clone(),
        exponent: money::exponent(&s.currency),
        billing: NewBilling {
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            email: s.customer.email.clone(),
            company: s.customer.company.clone().unwrap_or_default(),
            country: s.customer.country.clone(),
            state: s.customer.state.clone(),
            postcode: s.customer.postcode.clone(),
        },
        lines: s
            .lines
            .iter()
            .filter_map(|l| l.woo_id.map(|woo_id| NewLine { woo_id, quantity: l.quantity, total_minor: l.total_minor }))
            .collect(),
        fees,
        shipping: (s.shipping_minor > 0).then(|| NewFee { name: format!("Shipping (quote {})", s.number), total_minor: s.shipping_minor }),
        total_minor: s.total_minor,
    }
}

/// The buyer declined (or went elsewhere): the quote is lost, which the
/// sender domain's history remembers.
pub async fn mark_lost(pool: &MySqlPool, quote_id: u64, reason: &str, operator: OperatorId) -> Result<(), QuoteError> {
    let (number, status) = head(pool, quote_id).await?;
    if !matches!(status.as_str(), "sent" | "expired" | "draft") {
        return Err(QuoteError::WrongState { number, status, message: "it cannot be marked lost".into() });
    }
    if reason.trim().is_empty() {
        return Err(invalid("reason", "say why it was lost (price, lead time, no answer…)"));
    }
    check_len("reason", reason.trim(), 400)?;
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE quotes SET status = 'lost', accept_token_hash = NULL WHERE id = ?").bind(quote_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE sender_domains d JOIN quotes q ON d.domain = SUBSTRING_INDEX(q.customer_email, '@', -1) SET d.quotes_lost = d.quotes_lost + 1 WHERE q.id = ?").bind(quote_id).execute(&mut *tx).await?;
    events::record(
        &mut *tx,
        Event::info("quote.lost", format!("quote {number} lost: {}", reason.trim())).by(operator).about("quote", quote_id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks sent quotes past their window expired (the hourly job). Returns how many.
pub async fn expire_due(pool: &MySqlPool) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        r#"UPDATE quotes q JOIN quote_versions v ON v.quote_id = q.id AND v.revision = q.revision
           SET q.status = 'expired', q.accept_token_hash = NULL
           WHERE q.status = 'sent' AND v.valid_until <= UTC_TIMESTAMP(6)"#,
    )
    .execute(pool)
    .await?
    .rows_affected();
    if done > 0 {
        events::record(
            pool,
            Event::info("quote.expired", format!("{done} quote(s) passed their validity window; re-issue them with fresh prices")),
        )
        .await?;
    }
    Ok(done)
}

/// Sent quotes whose window ends within `days` (the dashboard's list): (id, number, customer, valid_until).
pub async fn expiring(pool: &MySqlPool, days: u32) -> Result<Vec<(u64, String, String, NaiveDateTime)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT q.id, q.number, q.customer_email, v.valid_until FROM quotes q
           JOIN quote_versions v ON v.quote_id = q.id AND v.revision = q.revision
           WHERE q.status = 'sent' AND v.valid_until <= UTC_TIMESTAMP(6) + INTERVAL ? DAY ORDER BY v.valid_until"#,
    )
    .bind(days)
    .fetch_all(pool)
    .await
}

/// The stored PDF of a sent version and its hash.
pub async fn stored_pdf(pool: &MySqlPool, version_id: u64) -> Result<Option<(Vec<u8>, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT pdf, sha256 FROM quote_pdfs WHERE quote_version_id = ?").bind(version_id).fetch_optional(pool).await
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
