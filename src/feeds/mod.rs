//! Price feeds: each `sources.supplier_catalogs` and `sources.competitors`
//! entry is a CSV or JSON list (a file next to the tenant file, or an
//! http(s) URL) read on its own schedule. A URL is fetched with a
//! conditional GET (ETag / Last-Modified kept in `feed_state`), a file only
//! when its modification time moved. Rows are read by the columns the entry
//! names; a row that cannot be read is reported with its line and skipped,
//! the others go on. Supplier rows become `supplier_costs` observations
//! (pricing's "fresh supplier cost"), competitor rows become comparables.

use std::{path::Path, time::Duration};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::MySqlPool;

use crate::{config::NamedSource, money};

/// The largest feed read (a 100,000-row price file is a few MiB).
pub const MAX_BYTES: usize = 128 * 1024 * 1024;

/// A row as the feed gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based: the CSV line (header is line 1) or the JSON item's position.
    pub line: usize,
    pub sku: Option<String>,
    pub gtin: Option<String>,
    pub part_number: Option<String>,
    pub cost_minor: i64,
    pub currency: String,
    pub observed_at: NaiveDateTime,
}

/// A row that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    pub line: usize,
    pub reason: String,
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The same as last time (304, or the file did not change).
    Unchanged,
    /// New content, with the validators to send next time.
    Body { bytes: Vec<u8>, etag: Option<String>, last_modified: Option<String> },
}

/// Why a feed could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("feed `{name}`: {message}")]
    Unreadable { name: String, message: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn unreadable(name: &str, message: impl Into<String>) -> FeedError {
    FeedError::Unreadable { name: name.to_owned(), message: message.into() }
}

/// What `feed_state` remembers of a feed.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct State {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub fetched_at: Option<NaiveDateTime>,
}

/// The state of feed `name` (empty before its first fetch).
pub async fn state(pool: &MySqlPool, name: &str) -> Result<State, sqlx::Error> {
    Ok(sqlx::query_as::<_, State>("SELECT etag, last_modified, fetched_at FROM feed_state WHERE name = ?")
        .bind(name)
        .fetch_optional(pool)
        .await?
        .unwrap_or_default())
}

/// Records a fetch.
pub async fn remember(
    pool: &MySqlPool,
    name: &str,
    etag: Option<&str>,
    last_modified: Option<&str>,
    read: u32,
    bad: u32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO feed_state (name, etag, last_modified, fetched_at, rows_read, rows_bad) VALUES (?, ?, ?, UTC_TIMESTAMP(6), ?, ?)
           ON DUPLICATE KEY UPDATE etag = VALUES(etag), last_modified = VALUES(last_modified), fetched_at = VALUES(fetched_at),
                                   rows_read = VALUES(rows_read), rows_bad = VALUES(rows_bad)"#,
    )
    .bind(name)
    .bind(etag)
    .bind(last_modified)
    .bind(read)
    .bind(bad)
    .execute(pool)
    .await?;
    Ok(())
}

/// Notes that a fetch found nothing new.
pub async fn touched(pool: &MySqlPool, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feed_state (name, fetched_at) VALUES (?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE fetched_at = VALUES(fetched_at)",
    )
    .bind(name)
    .execute(pool)
    .await?;
    Ok(())
}

/// Fetches `src` (a URL conditionally, a file by its modification time).
pub async fn fetch(http: &reqwest::Client, src: &NamedSource, base_dir: &Path, known: &State) -> Result<Fetched, FeedError> {
    let name = &src.name;
    if src.location.starts_with("http://") || src.location.starts_with("https://") {
        let mut req = http.get(&src.location);
        if let Some(e) = &known.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(m) = &known.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
        }
        let resp = req.send().await.map_err(|e| unreadable(name, format!("cannot fetch it: {}", e.without_url())))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::Unchanged);
        }
        if !status.is_success() {
            return Err(unreadable(name, format!("the server answered HTTP {}", status.as_u16())));
        }
        let header = |h: reqwest::header::HeaderName| resp.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (etag, last_modified) = (header(reqwest::header::ETAG), header(reqwest::header::LAST_MODIFIED));
        if resp.content_length().is_some_and(|n| n as usize > MAX_BYTES) {
            return Err(unreadable(name, format!("larger than {} MiB", MAX_BYTES / 1024 / 1024)));
        }
        let bytes = resp.bytes().await.map_err(|e| unreadable(name, format!("reading it: {}", e.without_url())))?;
        if bytes.len() > MAX_BYTES {
            return Err(unreadable(name, format!("larger than {} MiB", MAX_BYTES / 1024 / 1024)));
        }
        return Ok(Fetched::Body { bytes: bytes.to_vec(), etag, last_modified });
    }
    let path = base_dir.join(&src.location);
    let meta = tokio::fs::metadata(&path).await.map_err(|e| unreadable(name, format!("{}: {e}", path.display())))?;
    if meta.len() as usize > MAX_BYTES {
        return Err(unreadable(name, format!("{} is larger than {} MiB", path.display(), MAX_BYTES / 1024 / 1024)));
    }
    let stamp = meta.modified().ok().map(|m| DateTime::<Utc>::from(m).to_rfc3339());
    if stamp.is_some() && stamp == known.last_modified {
        return Ok(Fetched::Unchanged);
    }
    let bytes = tokio::fs::read(&path).await.map_err(|e| unreadable(name, format!("{}: {e}", path.display())))?;
    Ok(Fetched::Body { bytes, etag: None, last_modified: stamp })
}

fn parse_time(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.naive_utc())
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
        .or_else(|| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
        .or_else(|| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// Reads the rows of a feed by the entry's columns. Rows that cannot be read
/// come back refused with their line; a feed whose shape is wrong (no such
/// column, not a JSON list) is an error.
pub fn parse(src: &NamedSource, bytes: &[u8], currency: &str, fetched_at: NaiveDateTime) -> Result<(Vec<Row>, Vec<Refused>), FeedError> {
    let cols = &src.columns;
    // Each record is read through `get(column name)`.
    enum Record {
        Csv(csv::StringRecord),
        Json(serde_json::Value),
    }
    let mut records: Vec<(usize, Record)> = Vec::new();
    let mut header_index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    if src.format == "json" {
        let items: Vec<serde_json::Value> =
            serde_json::from_slice(bytes).map_err(|e| unreadable(&src.name, format!("not a JSON list of objects: {e}")))?;
        records.extend(items.into_iter().enumerate().map(|(i, v)| (i + 1, Record::Json(v))));
    } else {
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(bytes);
        let headers = reader.headers().map_err(|e| unreadable(&src.name, format!("line 1: {e}")))?;
        for (i, h) in headers.iter().enumerate() {
            header_index.entry(h.trim_start_matches('\u{feff}').to_ascii_lowercase()).or_insert(i);
        }
        if !header_index.contains_key(&cols.cost.to_ascii_lowercase()) {
            let names: Vec<&str> = headers.iter().collect();
            return Err(unreadable(&src.name, format!("no `{}` column (columns.cost); the header has {}", cols.cost, names.join(", "))));
        }
        for rec in reader.records() {
            let r = rec.map_err(|e| unreadable(&src.name, e.to_string()))?;
            let line = r.position().map_or(0, |p| p.line() as usize);
            records.push((line, Record::Csv(r)));
        }
    }
    let column = |name: &str| header_index.get(&name.to_ascii_lowercase()).copied();
    let (c_sku, c_gtin, c_part, c_cost, c_cur, c_at) = (
        cols.sku.as_deref().and_then(column),
        cols.gtin.as_deref().and_then(column),
        cols.part_number.as_deref().and_then(column),
        column(&cols.cost),
        cols.currency.as_deref().and_then(column),
        cols.observed_at.as_deref().and_then(column),
    );
    let value = |r: &Record, key: Option<&str>, idx: Option<usize>| -> Option<String> {
        match r {
            Record::Csv(rec) => idx.and_then(|i| rec.get(i)).filter(|v| !v.is_empty()).map(str::to_owned),
            Record::Json(v) => key
                .and_then(|k| v.get(k))
                .filter(|x| !x.is_null())
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .filter(|v| !v.is_empty()),
        }
    };
    let mut rows = Vec::with_capacity(records.len());
    let mut refused = Vec::new();
    for (line, r) in &records {
        let line = *line;
        let sku = value(r, cols.sku.as_deref(), c_sku);
        let gtin = value(r, cols.gtin.as_deref(), c_gtin);
        let part = value(r, cols.part_number.as_deref(), c_part);
        if sku.is_none() && gtin.is_none() && part.is_none() {
            refused.push(Refused { line, reason: "names no product (no SKU, GTIN or part number)".into() });
            continue;
        }
        let row_currency = value(r, cols.currency.as_deref(), c_cur).map(|c| c.to_ascii_uppercase()).unwrap_or_else(|| currency.to_owned());
        let Some(cost_text) = value(r, Some(&cols.cost), c_cost) else {
            refused.push(Refused { line, reason: format!("no {}", cols.cost) });
            continue;
        };
        let cost = match money::parse_minor(&cost_text, money::exponent(&row_currency)) {
            Ok(c) if c >= 0 => c,
            Ok(_) => {
                refused.push(Refused { line, reason: format!("{} `{cost_text}` is below zero", cols.cost) });
                continue;
            }
            Err(e) => {
                refused.push(Refused { line, reason: format!("{} `{cost_text}`: {e}", cols.cost) });
                continue;
            }
        };
        let observed_at = match value(r, cols.observed_at.as_deref(), c_at) {
            Some(t) => match parse_time(&t) {
                Some(at) => at,
                None => {
                    refused.push(Refused { line, reason: format!("`{t}` is not a date (YYYY-MM-DD or RFC 3339)") });
                    continue;
                }
            },
            None => fetched_at,
        };
        rows.push(Row { line, sku, gtin, part_number: part, cost_minor: cost, currency: row_currency, observed_at });
    }
    Ok((rows, refused))
}

/// The HTTP client feeds are fetched with.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedColumns;

    fn src(format: &str, columns: FeedColumns) -> NamedSource {
        NamedSource { name: "grainger".into(), location: "x".into(), format: format.into(), supplier: None, schedule: None, columns }
    }

    #[test]
    fn rows_are_read_by_their_columns_and_bad_ones_named_by_line() {
        let cols = FeedColumns {
            sku: Some("Item".into()),
            gtin: Some("UPC".into()),
            part_number: Some("Part".into()),
            cost: "Net Price".into(),
            currency: None,
            observed_at: Some("As Of".into()),
        };
        let csv = b"Item,UPC,Part,Net Price,As Of\nHXB-1,,G-100,12.50,2026-12-01\n,012345000027,,abc,2026-12-01\n,,,1.00,\nVLV-3,,,-2,\n,,G-7,3.1,someday\n";
        let now = NaiveDateTime::default();
        let (rows, refused) = parse(&src("csv", cols), csv, "USD", now).expect("parsed");
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].sku.as_deref(), rows[0].part_number.as_deref(), rows[0].cost_minor), (Some("HXB-1"), Some("G-100"), 1250));
        assert_eq!(rows[0].observed_at.to_string(), "2026-12-01 00:00:00");
        let lines: Vec<usize> = refused.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5, 6], "{refused:?}");
        assert!(refused[0].reason.contains("Net Price `abc`"), "{refused:?}");
        assert!(refused[1].reason.contains("names no product"));
        assert!(refused[2].reason.contains("below zero"));
        assert!(refused[3].reason.contains("`someday` is not a date"));
    }

    #[test]
    fn json_items_and_a_missing_cost_column() {
        let json = br#"[{"sku":"HXB-1","cost":"4.25"},{"sku":"X","cost":null},{"gtin":"012345000027","cost":7}]"#;
        let (rows, refused) = parse(&src("json", FeedColumns::default()), json, "USD", NaiveDateTime::default()).expect("parsed");
        assert_eq!(rows.iter().map(|r| r.cost_minor).collect::<Vec<_>>(), [425, 700]);
        assert_eq!(refused.iter().map(|r| r.line).collect::<Vec<_>>(), [2]);
        let bad =
            parse(&src("csv", FeedColumns::default()), b"sku,price\nA,1\n", "USD", NaiveDateTime::default()).expect_err("no cost column");
        assert!(bad.to_string().contains("no `cost` column"), "{bad}");
    }
}
