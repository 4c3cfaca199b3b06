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
use sqlx::MySqlPool;

use super::{
    Ctx, QuoteError,
    error::{check_customer, check_len, invalid, limits, too_large},
    snapshot::{Customer, Line, LineInput, MAX_LINES, Snapshot},
};
use super::{
    pricing::{Comparables, PriceSource, Pricer},
    tax::{NativeTax, TaxProvider, TaxQuery, tax_on},
};
use crate::{
    config::TenantConfig,
    events::{self, Event},
    money::{self, Money},
};

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
pub(super) async fn head(pool: &MySqlPool, quote_id: u64) -> Result<(String, String), QuoteError> {
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
