//! Marketplace comparables read from competitor feeds (`sources.competitors`):
//! observations kept per product, read back by SKU for pricing's last step.

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

use crate::inventory::costs::Observation;

/// Records competitor prices from `source`; returns rows written.
pub async fn record(pool: &MySqlPool, source: &str, obs: &[Observation]) -> Result<u64, sqlx::Error> {
    let mut written = 0;
    for chunk in obs.chunks(5000) {
        written += sqlx::query(
            r#"INSERT INTO comparables (source, product_id, price_minor, currency, observed_at)
               SELECT ?, j.product_id, j.cost, j.currency, j.observed_at
               FROM JSON_TABLE(?, '$[*]' COLUMNS (product_id BIGINT UNSIGNED PATH '$.product_id', cost BIGINT PATH '$.cost_minor',
                                                  currency CHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$.currency', observed_at DATETIME(6) PATH '$.observed_at')) j
               ON DUPLICATE KEY UPDATE price_minor = VALUES(price_minor)"#,
        )
        .bind(source.chars().take(160).collect::<String>())
        .bind(serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into()))
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(written)
}

/// Comparables in `currency` observed since `since`: (SKU, observed at, price).
pub async fn since(pool: &MySqlPool, currency: &str, since: NaiveDateTime) -> Result<Vec<(String, NaiveDateTime, i64)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT p.sku, c.observed_at, c.price_minor FROM comparables c JOIN products p ON p.id = c.product_id
           WHERE c.currency = ? AND c.observed_at >= ? ORDER BY c.observed_at"#,
    )
    .bind(currency)
    .bind(since)
    .fetch_all(pool)
    .await
}
