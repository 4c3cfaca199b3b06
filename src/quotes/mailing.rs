//! A sent quote goes to the buyer by mail: the tenant's branded message
//! (HTML and text) with the version's stored PDF attached as it is stored
//! (its SHA-256 unchanged) and, when `server.public_url` is set, the
//! acceptance link. The message is queued in the mail outbox under
//! `quote_version:<id>`, so the quote page lists every send of a version
//! and what became of it (sent, retrying, failed, bounced).

use askama::Template;

use super::{Ctx, snapshot::Snapshot};
use crate::{
    mail::{self, Attached, Brand, Draft, Mailer, outbox},
    money,
};

#[derive(Template)]
#[template(path = "mail/quote.html")]
struct Html<'a> {
    brand: &'a Brand,
    customer: &'a str,
    number: &'a str,
    revision: u32,
    total: &'a str,
    valid_until: &'a str,
    lines: usize,
    accept_link: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/quote.txt")]
struct Text<'a> {
    brand: &'a Brand,
    customer: &'a str,
    number: &'a str,
    revision: u32,
    total: &'a str,
    valid_until: &'a str,
    lines: usize,
    accept_link: Option<&'a str>,
}

/// The outbox key of a version's sends.
pub fn subject_ref(version_id: u64) -> String {
    format!("quote_version:{version_id}")
}

/// Mails version `version_id` (revision `revision`, the stored `pdf`) to the buyer; returns the outbox id.
pub async fn email(
    ctx: &Ctx<'_>,
    mailer: &Mailer,
    version_id: u64,
    revision: u32,
    s: &Snapshot,
    pdf: &[u8],
    accept_token: Option<&str>,
) -> Result<u64, outbox::OutboxError> {
    let brand = Brand::of(ctx.config);
    let total = money::display(s.total_minor, &s.currency, money::Locale::parse(&s.locale));
    let tz: chrono_tz::Tz = s.timezone.parse().unwrap_or(chrono_tz::UTC);
    let valid_until = s.valid_until.and_utc().with_timezone(&tz).format("%B %-d, %Y").to_string();
    let link = match (&ctx.config.server.public_url, accept_token) {
        (Some(base), Some(token)) => Some(format!("{}/q/{}?token={token}", base.trim_end_matches('/'), crate::urls::encode(&s.number))),
        _ => None,
    };
    let name = s.customer.name.trim();
    let customer = if name.is_empty() { "customer" } else { name };
    let (number, lines, accept_link) = (s.number.as_str(), s.lines.len(), link.as_deref());
    let html = Html { brand: &brand, customer, number, revision, total: &total, valid_until: &valid_until, lines, accept_link }
        .render()
        .map_err(|e| mail::MailError::Compose(e.to_string()))?;
    let text = Text { brand: &brand, customer, number, revision, total: &total, valid_until: &valid_until, lines, accept_link }
        .render()
        .map_err(|e| mail::MailError::Compose(e.to_string()))?;
    let draft = Draft {
        purpose: "quote",
        subject_ref: Some(subject_ref(version_id)),
        to: vec![s.customer.email.clone()],
        subject: format!("Quote {} R{revision} from {}", s.number, brand.name),
        html,
        text,
        attachments: vec![Attached {
            filename: format!("{}-R{revision}.pdf", s.number),
            content_type: "application/pdf".into(),
            bytes: pdf.to_vec(),
        }],
        headers: Vec::new(),
    };
    outbox::send(ctx.pool, mailer, &draft).await
}
