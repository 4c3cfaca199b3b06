//! RFQ intake through two doors: the storefront's request-a-quote form
//! (JSON or form-encoded) and raw RFC 822 email (`POST /rfq/email`,
//! `qm rfq import FILE.eml`). The raw request is stored FIRST, so a
//! malformed one is kept for inspection (status `unparseable`, with the
//! reason) and never lost. Requested items come from the body's lines and
//! CSV attachments: a SKU or any GTIN form the normaliser accepts plus a
//! quantity; lines that name no known product stay for a person to map.

use mail_parser::{MessageParser, MimeHeaders};
use serde::Deserialize;
use sqlx::MySqlPool;

use super::reputation::{self, Evidence, Reputation};
use crate::{
    events::{self, Event, Severity},
    inventory::lookup::CodeLookup,
};

/// Largest RFQ accepted (bigger bodies are refused before parsing).
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// One requested item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub raw_text: String,
    pub code: Option<String>,
    pub product_id: Option<u64>,
    pub quantity: u32,
}

/// What was received, parsed.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub sender_email: String,
    pub sender_name: Option<String>,
    pub company: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub attachments: Vec<(String, String, Vec<u8>)>,
    pub authentication_results: Vec<String>,
}

/// Why a request could not be read; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Malformed {
    pub field: &'static str,
    pub message: String,
}

fn malformed(field: &'static str, message: impl Into<String>) -> Malformed {
    Malformed { field, message: message.into() }
}

/// A stored RFQ.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: u64,
    /// Set when the request could not be read: it is kept as `unparseable`.
    pub malformed: Option<Malformed>,
    pub items: usize,
    pub unmatched: usize,
    /// Candidate lines past the bounds ([`MAX_ITEMS`], [`MAX_LINES`]), left in the raw message.
    pub not_read: usize,
    pub reputation: Option<Reputation>,
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

/// Parses an RFC 822 message.
pub fn parse_email(raw: &[u8]) -> Result<Request, Malformed> {
    let msg = MessageParser::default().parse(raw).ok_or_else(|| malformed("message", "not an RFC 822 message"))?;
    let from = msg.from().and_then(|a| a.first()).ok_or_else(|| malformed("From", "the message has no sender"))?;
    let email = from.address().map(str::trim).unwrap_or_default().to_owned();
    if !valid_email(&email) {
        return Err(malformed("From", format!("`{}` is not an email address", email.chars().take(80).collect::<String>())));
    }
    let body = msg.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
    let attachments = msg
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or("attachment").to_owned(),
                a.content_type().map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or(""))).unwrap_or_default(),
                a.contents().to_vec(),
            )
        })
        .collect();
    let authentication_results = msg.header_values("Authentication-Results").filter_map(|v| v.as_text().map(str::to_owned)).collect();
    Ok(Request {
        sender_email: email,
        // A display name is one line of text, whatever its encoded words decode to.
        sender_name: from
            .name()
            .map(|n| n.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>())
            .filter(|n| !n.trim().is_empty()),
        company: None,
        subject: msg.subject().map(str::to_owned),
        body,
        attachments,
        authentication_results,
    })
}

/// The storefront form, as JSON or form fields.
#[derive(Debug, Deserialize, Default)]
pub struct FormRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub message: String,
    /// One request per line ("HXB-1 x 12"); the JSON form may send a list instead.
    #[serde(default)]
    pub items: ItemsField,
}

#[derive(Debug, Deserialize, Default)]
#[serde(untagged)]
pub enum ItemsField {
    #[default]
    None,
    Text(String),
    List(Vec<FormItem>),
}

#[derive(Debug, Deserialize)]
pub struct FormItem {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub description: String,
    pub quantity: u32,
}

impl FormRequest {
    pub fn into_request(self) -> Result<Request, Malformed> {
        let email = self.email.trim().to_owned();
        if email.is_empty() {
            return Err(malformed("email", "required"));
        }
        if !valid_email(&email) {
            return Err(malformed("email", "is not an email address"));
        }
        let mut lines = Vec::new();
        match self.items {
            ItemsField::None => {}
            ItemsField::Text(t) => lines.push(t),
            ItemsField::List(list) => {
                for (i, it) in list.iter().enumerate() {
                    if it.quantity == 0 {
                        return Err(malformed("items", format!("item {}: quantity must be at least 1", i + 1)));
                    }
                    let what = if it.code.trim().is_empty() { it.description.trim() } else { it.code.trim() };
                    if what.is_empty() {
                        return Err(malformed("items", format!("item {}: needs a code or a description", i + 1)));
                    }
                    lines.push(format!("{} x {}", what, it.quantity));
                }
            }
        }
        if lines.iter().all(|l| l.trim().is_empty()) && self.message.trim().is_empty() {
            return Err(malformed("items", "say what you need: items or a message"));
        }
        let body = [lines.join("\n"), self.message].into_iter().filter(|s| !s.trim().is_empty()).collect::<Vec<_>>().join("\n\n");
        Ok(Request {
            sender_email: email,
            sender_name: Some(self.name.trim().to_owned()).filter(|n| !n.is_empty()),
            company: Some(self.company.trim().to_owned()).filter(|c| !c.is_empty()),
            subject: Some("Request for quote (storefront form)".into()),
            body,
            attachments: Vec::new(),
            authentication_results: Vec::new(),
        })
    }
}

/// Where a signature or quoted reply starts, nothing below is a request.
fn ends_request(line: &str) -> bool {
    let l = line.trim().to_ascii_lowercase();
    l == "--"
        || l.starts_with("-- ")
        || l.starts_with("regards")
        || l.starts_with("best regards")
        || l.starts_with("thanks")
        || l.starts_with("thank you")
        || l.starts_with("sent from")
        || l.starts_with("on ") && l.ends_with("wrote:")
}

/// A quantity token: `12`, `12x`, `x12`, `12pcs`, `qty:12`, `(12)`.
fn quantity_of(token: &str) -> Option<u32> {
    let t = token.trim_matches(|c: char| matches!(c, '(' | ')' | ',' | ';' | ':' | '.')).to_ascii_lowercase();
    let t = t.strip_prefix("qty").unwrap_or(&t).trim_start_matches([':', '=']);
    let t = t.strip_prefix('x').or_else(|| t.strip_prefix('×')).unwrap_or(t);
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    if num.is_empty() || num.len() > 6 || !matches!(unit, "" | "x" | "×" | "pcs" | "pc" | "ea" | "units" | "unit" | "each") {
        return None;
    }
    num.parse().ok().filter(|n| *n > 0)
}

/// The most items one RFQ becomes; lines past it stay in the stored raw
/// message and the RFQ says how many were not read.
pub const MAX_ITEMS: usize = 500;
/// The most text lines read for items (body and CSV attachments together).
pub const MAX_LINES: usize = 5_000;
/// Tokens of one line tried as codes.
const MAX_TOKENS: usize = 40;

/// Items found, and how many candidate lines the bounds left unread.
#[derive(Debug, Default)]
pub struct Extracted {
    pub items: Vec<Item>,
    pub not_read: usize,
}

/// A line that may name items, with its tokens.
struct Candidate {
    text: String,
    tokens: Vec<String>,
}

/// The lines of `text` that may name items (up to the signature), at most `budget` of them.
fn candidates(text: &str, budget: &mut usize, not_read: &mut usize, out: &mut Vec<Candidate>) {
    for line in text.lines() {
        if ends_request(line) {
            break;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('>') || line.len() > 200 || !line.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        if *budget == 0 {
            *not_read += 1;
            continue;
        }
        *budget -= 1;
        let tokens = line
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '\t')
            .filter(|t| !t.is_empty())
            .take(MAX_TOKENS)
            .map(|t| t.trim_matches(|c: char| matches!(c, '(' | ')' | ':' | '.' | '"' | '\'')).to_owned())
            .collect();
        out.push(Candidate { text: line.to_owned(), tokens });
    }
}

/// Finds items in text lines; every line with a number that names no product
/// is kept unmatched. Every code of every line is looked up in one batch.
pub async fn extract(pool: &MySqlPool, lookup: &CodeLookup, texts: &[&str]) -> Result<Extracted, sqlx::Error> {
    let (mut budget, mut not_read, mut lines) = (MAX_LINES, 0, Vec::new());
    for text in texts {
        candidates(text, &mut budget, &mut not_read, &mut lines);
    }
    let mut typed: Vec<&str> = lines.iter().flat_map(|l| l.tokens.iter().map(String::as_str)).filter(|t| t.len() >= 2).collect();
    typed.sort_unstable();
    typed.dedup();
    let hits = lookup.resolve_many(pool, &typed).await?;
    let mut out = Extracted { items: Vec::new(), not_read };
    for line in &lines {
        // A code-like token first; a number that could be a quantity (`40021`) only when nothing else names a product.
        let looks_like_qty = |t: &str| t.len() < 3 || quantity_of(t).is_some() && t.len() < 6;
        let found = line
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| !looks_like_qty(t))
            .chain(line.tokens.iter().enumerate().filter(|(_, t)| looks_like_qty(t)))
            .find_map(|(i, t)| hits.get(t).map(|h| (i, t.clone(), h.product_id)));
        let qty =
            line.tokens.iter().enumerate().filter(|(i, _)| found.as_ref().is_none_or(|f| f.0 != *i)).find_map(|(_, t)| quantity_of(t));
        let item = match (found, qty) {
            (Some((_, code, product)), q) => Item {
                raw_text: line.text.chars().take(255).collect(),
                code: Some(code),
                product_id: Some(product),
                quantity: q.unwrap_or(1),
            },
            (None, Some(q)) => Item { raw_text: line.text.chars().take(255).collect(), code: None, product_id: None, quantity: q },
            (None, None) => continue,
        };
        if out.items.len() == MAX_ITEMS {
            out.not_read += 1;
        } else {
            out.items.push(item);
        }
    }
    Ok(out)
}

/// Turns a CSV line list into `code x qty` lines (columns named sku/part/code/item and qty/quantity, else the first two).
pub fn csv_lines(bytes: &[u8]) -> String {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(bytes);
    let rows: Vec<csv::StringRecord> = r.records().filter_map(Result::ok).collect();
    let Some(first) = rows.first() else { return String::new() };
    let find = |names: &[&str]| first.iter().position(|h| names.contains(&h.to_ascii_lowercase().as_str()));
    let (code, qty, skip) =
        match (find(&["sku", "part", "part number", "code", "item", "gtin", "upc"]), find(&["qty", "quantity", "amount"])) {
            (Some(c), Some(q)) => (c, q, 1),
            _ => (0, 1, 0),
        };
    rows.iter().skip(skip).map(|r| format!("{} x {}", r.get(code).unwrap_or(""), r.get(qty).unwrap_or(""))).collect::<Vec<_>>().join("\n")
}

/// Where a message read from a mailbox came from: its folder, the folder's
/// UIDVALIDITY and its UID. The pair is unique on `rfqs`, so a message read
/// again (a crash between storing and filing it) is not stored twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOrigin {
    pub mailbox: String,
    pub uidvalidity: u32,
    pub uid: u32,
}

/// Stores a received RFQ: raw bytes first, then what could be read of it.
pub async fn store(
    pool: &MySqlPool,
    lookup: &CodeLookup,
    source: &str,
    raw: &[u8],
    parsed: Result<Request, Malformed>,
) -> Result<Stored, sqlx::Error> {
    let id = sqlx::query("INSERT INTO rfqs (source, status, raw) VALUES (?, 'unparseable', ?)")
        .bind(source)
        .bind(raw)
        .execute(pool)
        .await?
        .last_insert_id();
    read_into(pool, lookup, id, source, parsed).await
}

/// Stores a message read from the tenant's mailbox, once: `None` when the
/// message (by its origin) was stored before.
pub async fn store_mailed(pool: &MySqlPool, lookup: &CodeLookup, raw: &[u8], origin: &MailOrigin) -> Result<Option<Stored>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO rfqs (source, source_mailbox, source_uidvalidity, source_uid, status, raw) VALUES ('email', ?, ?, ?, 'unparseable', ?)",
    )
    .bind(origin.mailbox.chars().take(255).collect::<String>())
    .bind(origin.uidvalidity)
    .bind(origin.uid)
    .bind(raw)
    .execute(pool)
    .await;
    let id = match inserted {
        Ok(r) => r.last_insert_id(),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
        Err(e) => return Err(e),
    };
    read_into(pool, lookup, id, "mailbox", parse_email(raw)).await.map(Some)
}

/// Reads a stored raw request into its RFQ row and items.
async fn read_into(
    pool: &MySqlPool,
    lookup: &CodeLookup,
    id: u64,
    source: &str,
    parsed: Result<Request, Malformed>,
) -> Result<Stored, sqlx::Error> {
    let req = match parsed {
        Ok(r) => r,
        Err(m) => {
            sqlx::query("UPDATE rfqs SET parse_error = ? WHERE id = ?")
                .bind(m.to_string().chars().take(512).collect::<String>())
                .bind(id)
                .execute(pool)
                .await?;
            events::record(
                pool,
                Event::info("rfq.unparseable", format!("RFQ {id} from the {source} could not be read: {m}; kept for inspection"))
                    .severity(Severity::Warning)
                    .about("rfq", id),
            )
            .await?;
            return Ok(Stored { id, malformed: Some(m), items: 0, unmatched: 0, not_read: 0, reputation: None });
        }
    };
    let domain = req.sender_email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
    let history = reputation::history(pool, &domain).await?;
    let rep = reputation::score(
        &Evidence { domain: &domain, display_name: req.sender_name.as_deref(), authentication_results: req.authentication_results.clone() },
        history,
    );
    // The body (up to its signature), then each CSV line list on its own.
    let csvs: Vec<String> = req
        .attachments
        .iter()
        .filter(|(name, ctype, _)| ctype.ends_with("/csv") || name.to_ascii_lowercase().ends_with(".csv"))
        .map(|(_, _, bytes)| csv_lines(bytes))
        .collect();
    let texts: Vec<&str> = std::iter::once(req.body.as_str()).chain(csvs.iter().map(String::as_str)).collect();
    let Extracted { items, not_read } = extract(pool, lookup, &texts).await?;
    let intake_note = (not_read > 0).then(|| {
        format!(
            "{not_read} more line(s) were not read: an RFQ becomes at most {MAX_ITEMS} items from at most {MAX_LINES} lines; the raw message is kept whole"
        )
    });
    let attachments: Vec<serde_json::Value> =
        req.attachments.iter().map(|(n, t, b)| serde_json::json!({ "name": n, "type": t, "bytes": b.len() })).collect();
    let mut tx = pool.begin().await?;
    sqlx::query(
        r#"UPDATE rfqs SET status = 'new', sender_email = ?, sender_name = ?, sender_domain = ?, sender_company = ?, subject = ?, body = ?, attachments = ?,
                          reputation_score = ?, reputation_factors = ?, intake_note = ? WHERE id = ?"#,
    )
    .bind(&req.sender_email)
    .bind(req.sender_name.as_ref().map(|n| n.chars().take(160).collect::<String>()))
    .bind(&domain)
    .bind(req.company.as_ref().map(|n| n.chars().take(160).collect::<String>()))
    .bind(req.subject.as_ref().map(|s| s.chars().take(255).collect::<String>()))
    .bind(&req.body)
    .bind(serde_json::Value::Array(attachments).to_string())
    .bind(rep.score as i16)
    .bind(serde_json::to_string(&rep.factors).unwrap_or_default())
    .bind(&intake_note)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    for (i, it) in items.iter().enumerate() {
        sqlx::query("INSERT INTO rfq_items (rfq_id, line_no, raw_text, code, product_id, quantity) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind((i + 1) as u16)
            .bind(&it.raw_text)
            .bind(&it.code)
            .bind(it.product_id)
            .bind(it.quantity)
            .execute(&mut *tx)
            .await?;
    }
    let unmatched = items.iter().filter(|i| i.product_id.is_none()).count();
    let flag = if rep.low() { " (low reputation: check before quoting)" } else { "" };
    events::record(
        &mut *tx,
        Event::info(
            "rfq.received",
            format!(
                "RFQ {id} from {domain} by {source}: {} item(s), {unmatched} to map; reputation {}{flag}{}",
                items.len(),
                rep.score,
                intake_note.as_ref().map(|n| format!("; {n}")).unwrap_or_default()
            ),
        )
        .severity(if rep.low() { Severity::Warning } else { Severity::Info })
        .about("rfq", id),
    )
    .await?;
    tx.commit().await?;
    Ok(Stored { id, malformed: None, items: items.len(), unmatched, not_read, reputation: Some(rep) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_the_ways_buyers_write_them() {
        for (t, q) in [
            ("12", Some(12)),
            ("12x", Some(12)),
            ("x12", Some(12)),
            ("12pcs", Some(12)),
            ("qty:7", Some(7)),
            ("(3)", Some(3)),
            ("0", None),
            ("M8", None),
            ("12mm", None),
        ] {
            assert_eq!(quantity_of(t), q, "{t}");
        }
    }

    #[test]
    fn a_message_without_a_sender_is_malformed_and_says_so() {
        let e = parse_email(b"Subject: hi\r\n\r\nbody").expect_err("no from");
        assert_eq!(e.field, "From");
        let ok = parse_email(
            b"From: \"Dana W\" <dana@buyer.example>\r\nSubject: RFQ\r\nAuthentication-Results: mx; spf=pass\r\n\r\nHXB-1 x 12\r\n",
        )
        .expect("parsed");
        assert_eq!((ok.sender_email.as_str(), ok.sender_name.as_deref()), ("dana@buyer.example", Some("Dana W")));
        assert_eq!(ok.authentication_results.len(), 1);
    }

    #[test]
    fn csv_line_lists_become_request_lines() {
        assert_eq!(csv_lines(b"Part,Description,Qty\nHXB-1,Hex bolt,12\nNUT-2,Nut,3\n"), "HXB-1 x 12\nNUT-2 x 3");
        assert_eq!(csv_lines(b"HXB-1,12\n"), "HXB-1 x 12");
    }
}
