//! The daily summary: at `daily_summary.at` in the tenant's zone, one mail
//! (HTML and text) with yesterday's orders and sales, shipments, revenue,
//! COGS and gross margin from the books when they are on, what is
//! backordered, and the problems open now. Sent once per local day: the
//! mail outbox remembers it under `summary:<date>`.

use askama::Template;
use chrono::{NaiveTime, TimeDelta, Utc};

use crate::{
    calendar,
    mail::{Brand, Draft, outbox},
    money,
    services::Services,
};

/// Yesterday's figures as the mail shows them.
#[derive(Debug, Clone)]
pub struct Figures {
    pub day: String,
    pub orders: i64,
    pub sales: String,
    pub shipments: i64,
    /// (revenue, COGS, margin, margin %) when the books are on.
    pub books: Option<(String, String, String, String)>,
    pub backordered_orders: i64,
    pub backordered_units: i64,
    pub problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "mail/summary.html")]
struct Html<'a> {
    brand: &'a Brand,
    f: &'a Figures,
}

#[derive(Template)]
#[template(path = "mail/summary.txt")]
struct Text<'a> {
    brand: &'a Brand,
    f: &'a Figures,
}

/// Reads yesterday's (local) figures.
pub async fn figures(st: &Services) -> anyhow::Result<Figures> {
    let tz = st.tz();
    let today = calendar::today(tz).date;
    let yesterday = calendar::Day::of(tz, today - TimeDelta::days(1));
    let json = calendar::json(&[yesterday]);
    let currency = &st.config.tenant.currency;
    let locale = money::Locale::parse(&st.config.tenant.locale);
    let m = |minor: i64| money::display(minor, currency, locale);
    let sales = crate::inventory::figures::sales_per_day(&st.pool, &json).await?;
    let (orders, sales_minor) = sales.first().map_or((0, 0), |(_, n, t)| (*n, *t));
    let shipments = crate::station::floor::shipments_per_day(&st.pool, &json).await?.first().map_or(0, |(_, n)| *n);
    let books = match &st.ledger {
        Some(_) => {
            let rows = crate::books::reports::daily_margin(&st.pool, &json).await?;
            let (revenue, cogs) = rows.first().map_or((0, 0), |(_, r, c)| (*r, *c));
            Some((m(revenue), m(cogs), m(revenue - cogs), crate::dashboard::collectors::percent(revenue - cogs, revenue)))
        }
        None => None,
    };
    let (_, backordered_orders, backordered_units) =
        crate::inventory::figures::backorders(&st.pool, &st.config.woocommerce.order_statuses).await?;
    let mut problems: Vec<String> = crate::alerts::open(&st.pool).await?.into_iter().map(|(_, message, _)| message).collect();
    let (rejected, _) = crate::inventory::figures::rejected_orders(&st.pool).await?;
    if rejected > 0 {
        problems.push(format!("{rejected} WooCommerce order(s) the sync could not take (the home page lists them)"));
    }
    let (_, mail_failed) = outbox::counts(&st.pool).await?;
    if mail_failed > 0 {
        problems.push(format!("{mail_failed} mail(s) could not be sent"));
    }
    Ok(Figures {
        day: yesterday.date.format("%A %B %-d, %Y").to_string(),
        orders,
        sales: m(sales_minor),
        shipments,
        books,
        backordered_orders,
        backordered_units,
        problems,
    })
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ran {
    /// The local date a summary was queued for, when one was.
    pub sent_for: Option<String>,
    /// Why not, otherwise.
    pub waiting: Option<String>,
}

/// Sends today's summary (of yesterday) once the local time is past `at`.
pub async fn run(st: &Services) -> anyhow::Result<Ran> {
    let (Some(cfg), Some(mailer)) = (&st.config.daily_summary, &st.mailer) else {
        return Ok(Ran { sent_for: None, waiting: Some("no daily_summary or smtp section".into()) });
    };
    let at = NaiveTime::parse_from_str(&cfg.at, "%H:%M").unwrap_or(NaiveTime::MIN);
    let now = Utc::now().with_timezone(&st.tz());
    let date = now.date_naive().to_string();
    if now.time() < at {
        return Ok(Ran { sent_for: None, waiting: Some(format!("it goes out at {} {}", cfg.at, st.tz().name())) });
    }
    let subject_ref = format!("summary:{date}");
    if !outbox::for_subject(&st.pool, &subject_ref).await?.is_empty() {
        return Ok(Ran { sent_for: None, waiting: Some(format!("already sent for {date}")) });
    }
    let f = figures(st).await?;
    let brand = Brand::of(&st.config);
    let draft = Draft {
        purpose: "summary",
        subject_ref: Some(subject_ref),
        to: cfg.to.clone(),
        subject: format!(
            "{}: {} — {} order(s), {} shipment(s){}",
            brand.name,
            f.day,
            f.orders,
            f.shipments,
            if f.problems.is_empty() { String::new() } else { format!(", {} problem(s)", f.problems.len()) }
        ),
        html: Html { brand: &brand, f: &f }.render()?,
        text: Text { brand: &brand, f: &f }.render()?,
        attachments: Vec::new(),
        headers: Vec::new(),
    };
    outbox::send(&st.pool, mailer, &draft).await?;
    Ok(Ran { sent_for: Some(date), waiting: None })
}
