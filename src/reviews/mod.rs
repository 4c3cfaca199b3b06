//! Review requests: `reviews.after_days` after an order's delivery, one
//! mail to the buyer asking for a review, once per order, never to an order
//! that was refunded or cancelled, never to an address that opted out. Each
//! mail carries a signed unsubscribe link (and `List-Unsubscribe` for
//! one-click) that works without a sign-in.

use askama::Template;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use sqlx::MySqlPool;

use crate::{
    config::Secret,
    ids::OrderId,
    mail::{Brand, Draft, optout, outbox},
    services::Services,
};

#[derive(sqlx::FromRow)]
struct Candidate {
    id: OrderId,
    number: String,
    customer_name: String,
    customer_email: Option<String>,
    status: String,
    refunds: i64,
    delivered_at: NaiveDateTime,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ran {
    pub sent: u32,
    pub skipped: u32,
}

#[derive(Template)]
#[template(path = "mail/review.html")]
struct Html<'a> {
    brand: &'a Brand,
    customer: &'a str,
    number: &'a str,
    delivered: &'a str,
    link: &'a str,
    unsubscribe: &'a str,
}

#[derive(Template)]
#[template(path = "mail/review.txt")]
struct Text<'a> {
    brand: &'a Brand,
    customer: &'a str,
    number: &'a str,
    delivered: &'a str,
    link: &'a str,
    unsubscribe: &'a str,
}

/// The unsubscribe link for `email`.
pub fn unsubscribe_link(public_url: &str, key: &Secret, email: &str) -> String {
    format!("{}/unsubscribe?e={}&t={}", public_url.trim_end_matches('/'), crate::urls::encode(email), optout::token(key, email))
}

/// Orders delivered between `from` and `to` with no request yet.
async fn candidates(pool: &MySqlPool, from: NaiveDateTime, to: NaiveDateTime) -> Result<Vec<Candidate>, sqlx::Error> {
    sqlx::query_as::<_, Candidate>(
        r#"SELECT o.id, o.number, o.customer_name, o.customer_email, o.status,
                  (SELECT COUNT(*) FROM order_refunds r WHERE r.order_id = o.id) AS refunds, MAX(s.delivered_at) AS delivered_at
           FROM orders o JOIN shipments s ON s.order_id = o.id
           WHERE s.delivered_at >= ? AND s.delivered_at < ?
             AND NOT EXISTS (SELECT 1 FROM review_requests q WHERE q.order_id = o.id)
           GROUP BY o.id, o.number, o.customer_name, o.customer_email, o.status
           ORDER BY o.id LIMIT 500"#,
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

async fn skip(pool: &MySqlPool, order: OrderId, email: Option<&str>, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT IGNORE INTO review_requests (order_id, email, status, reason) VALUES (?, ?, 'skipped', ?)")
        .bind(order)
        .bind(email)
        .bind(reason)
        .execute(pool)
        .await?;
    Ok(())
}

/// One run: every order delivered `after_days` ago (up to two weeks more) not asked yet.
pub async fn run(st: &Services) -> anyhow::Result<Ran> {
    let mut ran = Ran::default();
    let (Some(cfg), Some(mailer), Some(public)) = (&st.config.reviews, &st.mailer, &st.config.server.public_url) else { return Ok(ran) };
    let key = st.secrets.get("reviews.link_key").cloned().ok_or_else(|| anyhow::anyhow!("reviews.link_key did not resolve"))?;
    let to = Utc::now().naive_utc() - TimeDelta::days(i64::from(cfg.after_days));
    let from = to - TimeDelta::days(14);
    let brand = Brand::of(&st.config);
    for c in candidates(&st.pool, from, to).await? {
        let email = c.customer_email.as_deref().map(str::trim).filter(|e| e.contains('@'));
        let Some(email) = email else {
            skip(&st.pool, c.id, None, "no email address on the order").await?;
            ran.skipped += 1;
            continue;
        };
        if c.refunds > 0 || matches!(c.status.as_str(), "refunded" | "cancelled" | "failed") {
            skip(&st.pool, c.id, Some(email), &format!("the order was {}", if c.refunds > 0 { "refunded" } else { c.status.as_str() }))
                .await?;
            ran.skipped += 1;
            continue;
        }
        if optout::opted_out(&st.pool, email).await? {
            skip(&st.pool, c.id, Some(email), "the buyer opted out of review requests").await?;
            ran.skipped += 1;
            continue;
        }
        // Recorded before it is queued: a crash in between loses one request rather than sending two.
        let claimed = sqlx::query("INSERT IGNORE INTO review_requests (order_id, email, status) VALUES (?, ?, 'sent')")
            .bind(c.id)
            .bind(email)
            .execute(&st.pool)
            .await?
            .rows_affected();
        if claimed == 0 {
            continue;
        }
        let link = cfg.link.replace("{order}", &crate::urls::encode(&c.number));
        let unsubscribe = unsubscribe_link(public, &key, email);
        let delivered = st.local_time(c.delivered_at);
        let delivered = delivered.split(' ').next().unwrap_or_default();
        let customer = if c.customer_name.trim().is_empty() { "there" } else { c.customer_name.trim() };
        let html = Html { brand: &brand, customer, number: &c.number, delivered, link: &link, unsubscribe: &unsubscribe }.render()?;
        let text = Text { brand: &brand, customer, number: &c.number, delivered, link: &link, unsubscribe: &unsubscribe }.render()?;
        let draft = Draft {
            purpose: "review",
            subject_ref: Some(format!("order:{}", c.id)),
            to: vec![email.to_owned()],
            subject: format!("How was your order {} from {}?", c.number, brand.name),
            html,
            text,
            attachments: Vec::new(),
            headers: vec![
                ("List-Unsubscribe".into(), format!("<{unsubscribe}>")),
                ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
            ],
        };
        let id = outbox::send(&st.pool, mailer, &draft).await?;
        sqlx::query("UPDATE review_requests SET mail_id = ? WHERE order_id = ?").bind(id).bind(c.id).execute(&st.pool).await?;
        ran.sent += 1;
    }
    Ok(ran)
}
