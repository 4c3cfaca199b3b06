//! The floor at a glance, for the dashboard: what waits to be picked, who is
//! picking where, what is packed and not yet shipped, and what shipped.

use chrono::NaiveDateTime;
use sqlx::MySqlPool;

use crate::calendar::Day;

/// Orders waiting in the queue: how many and since when the oldest waits.
pub async fn awaiting_pick(pool: &MySqlPool) -> Result<(i64, Option<NaiveDateTime>), sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM pick_queue WHERE status = 'queued'").fetch_one(pool).await
}

/// Orders being picked, per station ("" for one claimed without a station).
pub async fn picking_by_station(pool: &MySqlPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT COALESCE(station, ''), COUNT(*) FROM pick_queue WHERE status = 'picking' GROUP BY station ORDER BY station")
        .fetch_all(pool)
        .await
}

/// Orders picked or packed and not shipped: (picked, packed, oldest packed since).
pub async fn packed_not_shipped(pool: &MySqlPool) -> Result<(i64, i64, Option<NaiveDateTime>), sqlx::Error> {
    sqlx::query_as(
        r#"SELECT CAST(COALESCE(SUM(status = 'picked'), 0) AS SIGNED), CAST(COALESCE(SUM(status = 'packed'), 0) AS SIGNED),
                  MIN(IF(status = 'packed', updated_at, NULL))
           FROM pick_queue WHERE status IN ('picked', 'packed')"#,
    )
    .fetch_one(pool)
    .await
}

/// Shipments marked shipped within `day`: (shipments, packages).
pub async fn shipped_on(pool: &MySqlPool, day: &Day) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        r#"SELECT COUNT(DISTINCT s.id), COUNT(p.id) FROM shipments s LEFT JOIN packages p ON p.shipment_id = s.id
           WHERE s.status = 'shipped' AND s.shipped_at >= ? AND s.shipped_at < ?"#,
    )
    .bind(day.start)
    .bind(day.end)
    .fetch_one(pool)
    .await
}

/// Shipments per local day (`days` from [`crate::calendar::json`]), oldest first.
pub async fn shipments_per_day(pool: &MySqlPool, days: &str) -> Result<Vec<(chrono::NaiveDate, i64)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT d.day, COUNT(s.id)
           FROM JSON_TABLE(?, '$[*]' COLUMNS (day DATE PATH '$.d', s DATETIME(6) PATH '$.s', e DATETIME(6) PATH '$.e')) d
           LEFT JOIN shipments s ON s.status = 'shipped' AND s.shipped_at >= d.s AND s.shipped_at < d.e
           GROUP BY d.day ORDER BY d.day"#,
    )
    .bind(days)
    .fetch_all(pool)
    .await
}
