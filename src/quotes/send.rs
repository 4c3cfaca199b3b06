//! A version goes out and comes back: the PDF rendered from its snapshot,
//! sending (the revision counter, the stored PDF, the mail to the buyer),
//! the buyer's signed link, acceptance into a WooCommerce order, lost and
//! expired quotes.

use crate::ids::OperatorId;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::MySqlPool;

use super::render;
use super::{
    Ctx, QuoteError,
    error::{check_len, invalid},
    quote::{head, versions},
    snapshot::Snapshot,
};
use crate::{
    channels::woocommerce::types::{NewBilling, NewFee, NewLine, NewOrder},
    events::{self, Event},
    money::{self},
};

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

/// Marks sent quotes whose window ended by `now` (UTC) expired (the hourly
/// job, with the clock's now). Returns how many.
pub async fn expire_due(pool: &MySqlPool, now: NaiveDateTime) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        r#"UPDATE quotes q JOIN quote_versions v ON v.quote_id = q.id AND v.revision = q.revision
           SET q.status = 'expired', q.accept_token_hash = NULL
           WHERE q.status = 'sent' AND v.valid_until <= ?"#,
    )
    .bind(now)
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
