//! What the quote pages and the buyer API list: RFQs and quotes as rows,
//! read from the tables this module owns (the write paths are in `rfq` and
//! `quote`).

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

/// An RFQ in the inbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RfqSummary {
    pub id: u64,
    pub received_at: NaiveDateTime,
    /// The sender's address, or "(unreadable)".
    pub sender: String,
    /// The subject, else why it could not be read.
    pub subject: String,
    pub status: String,
    pub reputation_score: Option<i16>,
    pub items: i64,
    /// Items that matched no product.
    pub unmatched: i64,
}

/// The latest `limit` RFQs, newest first.
pub async fn rfqs(pool: &MySqlPool, limit: u32) -> Result<Vec<RfqSummary>, sqlx::Error> {
    sqlx::query_as::<_, RfqSummary>(
        r#"SELECT r.id, r.received_at, COALESCE(r.sender_email, '(unreadable)') AS sender,
                  COALESCE(r.subject, r.parse_error, '') AS subject, CAST(r.status AS CHAR) AS status, r.reputation_score,
                  (SELECT COUNT(*) FROM rfq_items i WHERE i.rfq_id = r.id) AS items,
                  (SELECT COUNT(*) FROM rfq_items i WHERE i.rfq_id = r.id AND i.product_id IS NULL) AS unmatched
           FROM rfqs r ORDER BY r.id DESC LIMIT ?"#,
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One RFQ as its page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RfqDetail {
    pub sender_email: Option<String>,
    pub sender_name: Option<String>,
    pub subject: Option<String>,
    pub status: String,
    pub parse_error: Option<String>,
    pub intake_note: Option<String>,
    pub reputation_score: Option<i16>,
    /// The reputation factors as JSON text.
    pub factors: Option<String>,
    pub body: Option<String>,
    /// Size of the raw message as received.
    pub raw_len: i64,
}

/// An RFQ item: (line, as written, code, product, quantity).
pub type RfqItem = (u16, String, Option<String>, Option<u64>, u32);

/// RFQ `id`, or `None`.
pub async fn rfq(pool: &MySqlPool, id: u64) -> Result<Option<RfqDetail>, sqlx::Error> {
    sqlx::query_as::<_, RfqDetail>(
        r#"SELECT sender_email, sender_name, subject, CAST(status AS CHAR) AS status, parse_error, intake_note, reputation_score,
                  CAST(reputation_factors AS CHAR) AS factors, body, CAST(COALESCE(LENGTH(raw), 0) AS SIGNED) AS raw_len
           FROM rfqs WHERE id = ?"#,
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The items of RFQ `id`, in line order.
pub async fn rfq_items(pool: &MySqlPool, id: u64) -> Result<Vec<RfqItem>, sqlx::Error> {
    sqlx::query_as::<_, (u16, String, Option<String>, Option<u64>, u32)>(
        "SELECT line_no, raw_text, code, product_id, quantity FROM rfq_items WHERE rfq_id = ? ORDER BY line_no",
    )
    .bind(id)
    .fetch_all(pool)
    .await
}

/// A quote in the inbox, with its latest version's total and validity.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuoteSummary {
    pub id: u64,
    pub number: String,
    pub customer_email: String,
    pub status: String,
    pub revision: Option<u32>,
    pub total_minor: i64,
    pub valid_until: NaiveDateTime,
}

/// The latest `limit` quotes, newest first.
pub async fn quotes(pool: &MySqlPool, limit: u32) -> Result<Vec<QuoteSummary>, sqlx::Error> {
    sqlx::query_as::<_, QuoteSummary>(
        r#"SELECT q.id, q.number, q.customer_email, CAST(q.status AS CHAR) AS status, q.revision, v.total_minor, v.valid_until
           FROM quotes q
           JOIN quote_versions v ON v.quote_id = q.id AND v.version_no = (SELECT MAX(version_no) FROM quote_versions x WHERE x.quote_id = q.id)
           ORDER BY q.id DESC LIMIT ?"#,
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A quote's head: its number, status and the WooCommerce order it became.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Head {
    pub number: String,
    pub status: String,
    pub woo_order_id: Option<u64>,
}

/// The head of quote `id`, or `None`.
pub async fn head(pool: &MySqlPool, id: u64) -> Result<Option<Head>, sqlx::Error> {
    sqlx::query_as::<_, Head>("SELECT number, CAST(status AS CHAR) AS status, woo_order_id FROM quotes WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The quote numbered `number`, or `None`.
pub async fn id_by_number(pool: &MySqlPool, number: &str) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar::<_, u64>("SELECT id FROM quotes WHERE number = ?").bind(number).fetch_optional(pool).await
}

/// A quote as its buyer sees it in their account: the revision they were sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuyerQuote {
    pub number: String,
    pub status: String,
    pub revision: Option<u32>,
    pub woo_order_id: Option<u64>,
    pub total_minor: i64,
    pub currency: String,
    pub valid_until: NaiveDateTime,
}

/// The sent, accepted and expired quotes addressed to `email`, latest sent first.
pub async fn for_buyer(pool: &MySqlPool, email: &str) -> Result<Vec<BuyerQuote>, sqlx::Error> {
    sqlx::query_as::<_, BuyerQuote>(
        r#"SELECT q.number, CAST(q.status AS CHAR) AS status, q.revision, q.woo_order_id, v.total_minor, v.currency, v.valid_until
           FROM quotes q JOIN quote_versions v ON v.quote_id = q.id AND v.revision = q.revision
           WHERE q.customer_email = ? AND q.status IN ('sent', 'accepted', 'expired') ORDER BY v.sent_at DESC"#,
    )
    .bind(email)
    .fetch_all(pool)
    .await
}

/// RFQs waiting for a quote: (how many, when the oldest arrived).
pub async fn open_rfqs(pool: &MySqlPool) -> Result<(i64, Option<NaiveDateTime>), sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*), MIN(received_at) FROM rfqs WHERE status = 'new'").fetch_one(pool).await
}

/// How the quotes first sent since `since` ended: (accepted, lost, expired, still open).
pub async fn outcomes_since(pool: &MySqlPool, since: NaiveDateTime) -> Result<(i64, i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        r#"SELECT CAST(COALESCE(SUM(q.status = 'accepted'), 0) AS SIGNED), CAST(COALESCE(SUM(q.status = 'lost'), 0) AS SIGNED),
                  CAST(COALESCE(SUM(q.status = 'expired'), 0) AS SIGNED), CAST(COALESCE(SUM(q.status = 'sent'), 0) AS SIGNED)
           FROM quotes q
           WHERE (SELECT MIN(v.sent_at) FROM quote_versions v WHERE v.quote_id = q.id) >= ?"#,
    )
    .bind(since)
    .fetch_one(pool)
    .await
}
