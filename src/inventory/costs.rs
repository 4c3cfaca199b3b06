//! Supplier cost observations from price feeds: each feed row names its
//! product by SKU, GTIN or the supplier's part number; part numbers are
//! learned from rows that carry a SKU or GTIN too. Costs land in
//! `supplier_costs` with the time they were observed, where pricing's
//! freshness check reads them.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

use super::lookup::CodeLookup;
use crate::feeds::Row;

/// The supplier's id, created when new.
pub async fn supplier_id(pool: &MySqlPool, name: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("INSERT IGNORE INTO suppliers (name) VALUES (?)").bind(name).execute(pool).await?;
    sqlx::query_scalar("SELECT id FROM suppliers WHERE name = ?").bind(name).fetch_one(pool).await
}

/// The product each row names (`None`: none found), in row order, learning
/// new part numbers of `supplier` on the way.
pub async fn resolve(pool: &MySqlPool, lookup: &CodeLookup, supplier: Option<u64>, rows: &[Row]) -> Result<Vec<Option<u64>>, sqlx::Error> {
    let codes: Vec<&str> = rows.iter().flat_map(|r| [r.sku.as_deref(), r.gtin.as_deref()]).flatten().collect();
    let hits = lookup.resolve_many(pool, &codes).await?;
    let parts: HashMap<String, u64> = match supplier {
        Some(s) => {
            let wanted: Vec<&str> = rows.iter().filter_map(|r| r.part_number.as_deref()).collect();
            let found: Vec<(String, u64)> = sqlx::query_as(
                r#"SELECT p.part_number, p.product_id FROM JSON_TABLE(?, '$[*]' COLUMNS (part VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$')) w
                   JOIN supplier_parts p ON p.supplier_id = ? AND p.part_number = w.part"#,
            )
            .bind(crate::db::json_list(&wanted))
            .bind(s)
            .fetch_all(pool)
            .await?;
            found.into_iter().collect()
        }
        None => HashMap::new(),
    };
    let by_code: Vec<Option<u64>> = rows
        .iter()
        .map(|r| [r.sku.as_deref(), r.gtin.as_deref()].into_iter().flatten().find_map(|c| hits.get(c).map(|h| h.product_id)))
        .collect();
    // Part numbers this feed teaches (rows naming both), usable by its other rows at once.
    let mut learned: Vec<(String, u64)> = rows
        .iter()
        .zip(&by_code)
        .filter_map(|(r, pid)| match (pid, &r.part_number) {
            (Some(pid), Some(part)) if !parts.contains_key(part) => Some((part.chars().take(64).collect::<String>(), *pid)),
            _ => None,
        })
        .collect();
    let taught: HashMap<&str, u64> = learned.iter().map(|(p, id)| (p.as_str(), *id)).collect();
    let out: Vec<Option<u64>> = rows
        .iter()
        .zip(&by_code)
        .map(|(r, pid)| {
            pid.or_else(|| r.part_number.as_ref().and_then(|p| parts.get(p).copied().or_else(|| taught.get(p.as_str()).copied())))
        })
        .collect();
    if let (Some(s), false) = (supplier, learned.is_empty()) {
        learned.sort();
        learned.dedup_by(|a, b| a.0 == b.0);
        for chunk in learned.chunks(5000) {
            sqlx::query(
                r#"INSERT IGNORE INTO supplier_parts (supplier_id, part_number, product_id)
                   SELECT ?, j.part, j.product FROM JSON_TABLE(?, '$[*]' COLUMNS (part VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$[0]', product BIGINT UNSIGNED PATH '$[1]')) j"#,
            )
            .bind(s)
            .bind(crate::db::json_list(chunk))
            .execute(pool)
            .await?;
        }
    }
    Ok(out)
}

/// One cost observation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Observation {
    pub product_id: u64,
    pub cost_minor: i64,
    pub currency: String,
    /// `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
    pub observed_at: String,
}

impl Observation {
    pub fn new(product_id: u64, cost_minor: i64, currency: &str, at: NaiveDateTime) -> Self {
        Self { product_id, cost_minor, currency: currency.to_owned(), observed_at: at.format("%Y-%m-%d %H:%M:%S%.6f").to_string() }
    }
}

/// Records observations of `supplier` from `source` (a repeated observation
/// of the same time keeps its latest cost); returns rows written.
pub async fn record(pool: &MySqlPool, supplier: u64, source: &str, obs: &[Observation]) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for chunk in obs.chunks(5000) {
        written += sqlx::query(
            r#"INSERT INTO supplier_costs (supplier_id, product_id, unit_cost_minor, currency, observed_at, source)
               SELECT ?, j.product_id, j.cost, j.currency, j.observed_at, ?
               FROM JSON_TABLE(?, '$[*]' COLUMNS (product_id BIGINT UNSIGNED PATH '$.product_id', cost BIGINT PATH '$.cost_minor',
                                                  currency CHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$.currency', observed_at DATETIME(6) PATH '$.observed_at')) j
               ON DUPLICATE KEY UPDATE unit_cost_minor = VALUES(unit_cost_minor), source = VALUES(source)"#,
        )
        .bind(supplier)
        .bind(source.chars().take(120).collect::<String>())
        .bind(serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into()))
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(written)
}
