//! The tracking sweep: for shipped shipments not yet delivered (and shipped
//! within `tracking.max_days`), the carrier's latest status of the master
//! package. A change becomes an event; delivery sets `delivered_at` and
//! tells the WooCommerce order (a note and `_qm_delivered_at`, retried on
//! the next sweep when the store does not answer); an exception (damaged,
//! address problem, returned to the shipper) is kept for the alerts. Calls
//! are paced to `tracking.requests_per_second` and bounded per run.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{NaiveDate, NaiveDateTime, Utc};
use sqlx::MySqlPool;

use crate::{
    channels::woocommerce::WooClient,
    config::Tracking,
    events::{self, Event, Severity},
    fulfillment::carrier::{Carrier, CarrierError, TrackStatus},
};

/// What the sweep makes of a carrier status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    /// Damaged, address problem, held, refused…
    Exception,
    /// On its way back to us.
    Returned,
    Unknown,
}

impl Phase {
    /// UPS's activity status types (Tracking API appendix): D delivered (DO,
    /// DD at a CFS), I in transit, P pickup, O out for delivery, W warehousing,
    /// M/MV billing information (label), X exception, RS returned to shipper.
    pub fn of_ups(status_type: &str) -> Phase {
        match status_type {
            "D" | "DO" | "DD" => Phase::Delivered,
            "I" | "P" | "W" => Phase::InTransit,
            "O" => Phase::OutForDelivery,
            "M" | "MV" => Phase::LabelCreated,
            "X" => Phase::Exception,
            "RS" => Phase::Returned,
            _ => Phase::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::LabelCreated => "label_created",
            Phase::InTransit => "in_transit",
            Phase::OutForDelivery => "out_for_delivery",
            Phase::Delivered => "delivered",
            Phase::Exception => "exception",
            Phase::Returned => "returned",
            Phase::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Tracked {
    id: u64,
    carrier: String,
    master_tracking: Option<String>,
    tracking_status: Option<String>,
    tracking_detail: Option<String>,
    woo_id: u64,
    number: String,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Swept {
    pub asked: u32,
    pub changed: u32,
    pub delivered: u32,
    pub exceptions: u32,
    pub carrier_errors: u32,
    /// Deliveries WooCommerce was told of (this sweep, including earlier ones it had missed).
    pub written_back: u32,
    pub writeback_failed: u32,
}

/// Sweeps up to `cfg.per_run` shipments, oldest checked first.
pub async fn sweep(pool: &MySqlPool, carrier: Arc<dyn Carrier>, woo: &WooClient, cfg: &Tracking) -> Result<Swept, sqlx::Error> {
    let due = sqlx::query_as::<_, Tracked>(
        r#"SELECT s.id, s.carrier, s.master_tracking, s.tracking_status, s.tracking_detail, o.woo_id, o.number
           FROM shipments s JOIN orders o ON o.id = s.order_id
           WHERE s.status = 'shipped' AND s.delivered_at IS NULL AND s.master_tracking IS NOT NULL
             AND s.shipped_at >= UTC_TIMESTAMP(6) - INTERVAL ? DAY AND s.carrier = ?
           ORDER BY s.tracking_checked_at IS NOT NULL, s.tracking_checked_at, s.id LIMIT ?"#,
    )
    .bind(cfg.max_days)
    .bind(carrier.name().to_ascii_lowercase())
    .bind(cfg.per_run)
    .fetch_all(pool)
    .await?;
    let mut out = Swept::default();
    // Paced: one request started every 1/rps seconds, at most rps in flight.
    let gap = Duration::from_secs(1) / cfg.requests_per_second.max(1);
    let in_flight = (cfg.requests_per_second as usize).clamp(1, 16);
    let mut next = Instant::now();
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut queue = due.into_iter();
    use futures::StreamExt;
    loop {
        while pending.len() < in_flight {
            let Some(d) = queue.next() else { break };
            tokio::time::sleep_until(next.into()).await;
            next = Instant::now() + gap;
            let carrier = carrier.clone();
            pending.push(async move {
                let number = d.master_tracking.clone().unwrap_or_default();
                let r = carrier.track(&number).await;
                (d, r)
            });
        }
        let Some((d, r)) = pending.next().await else { break };
        out.asked += 1;
        match r {
            Ok(t) => apply(pool, woo, &d, &t, &mut out).await?,
            Err(e) => {
                out.carrier_errors += 1;
                sqlx::query("UPDATE shipments SET tracking_checked_at = UTC_TIMESTAMP(6) WHERE id = ?").bind(d.id).execute(pool).await?;
                if !matches!(e, CarrierError::Transient { .. }) {
                    tracing::warn!(shipment = d.id, error = %e, "tracking refused");
                }
            }
        }
    }
    out.written_back += retry_writebacks(pool, woo, &mut out).await?;
    Ok(out)
}

/// `YYYYMMDD` (UPS's dates) as the noon of that day, UTC (the carrier gives no zone).
fn carrier_date(s: &str) -> Option<NaiveDateTime> {
    NaiveDate::parse_from_str(s, "%Y%m%d").ok().and_then(|d| d.and_hms_opt(12, 0, 0))
}

async fn apply(pool: &MySqlPool, woo: &WooClient, d: &Tracked, t: &TrackStatus, out: &mut Swept) -> Result<(), sqlx::Error> {
    let phase = Phase::of_ups(&t.status_type);
    let detail: String = t.description.chars().take(255).collect();
    let changed = d.tracking_status.as_deref() != Some(phase.as_str()) || d.tracking_detail.as_deref() != Some(detail.as_str());
    let delivered_at =
        (phase == Phase::Delivered).then(|| t.delivered_on.as_deref().and_then(carrier_date).unwrap_or_else(|| Utc::now().naive_utc()));
    sqlx::query(
        r#"UPDATE shipments SET tracking_status = ?, tracking_detail = ?, tracking_at = IF(?, UTC_TIMESTAMP(6), tracking_at),
               tracking_checked_at = UTC_TIMESTAMP(6), delivered_at = ?, delivery_writeback = IF(? IS NULL, delivery_writeback, 'pending')
           WHERE id = ?"#,
    )
    .bind(phase.as_str())
    .bind(&detail)
    .bind(changed)
    .bind(delivered_at)
    .bind(delivered_at)
    .bind(d.id)
    .execute(pool)
    .await?;
    if !changed {
        return Ok(());
    }
    out.changed += 1;
    let tn = d.master_tracking.clone().unwrap_or_default();
    let (kind, severity) = match phase {
        Phase::Delivered => ("tracking.delivered", Severity::Info),
        Phase::Exception | Phase::Returned => ("tracking.exception", Severity::Warning),
        _ => ("tracking.updated", Severity::Info),
    };
    events::record(
        pool,
        Event::info(
            kind,
            format!("order {} ({} {tn}): {} — {detail}", d.number, d.carrier.to_uppercase(), phase.as_str().replace('_', " ")),
        )
        .severity(severity)
        .about("shipment", d.id),
    )
    .await?;
    match phase {
        Phase::Delivered => {
            out.delivered += 1;
            if let Some(at) = delivered_at {
                if tell_delivered(pool, woo, d.id, d.woo_id, &tn, &d.carrier, at).await? {
                    out.written_back += 1;
                } else {
                    out.writeback_failed += 1;
                }
            }
        }
        Phase::Exception | Phase::Returned => out.exceptions += 1,
        _ => {}
    }
    Ok(())
}

async fn tell_delivered(
    pool: &MySqlPool,
    woo: &WooClient,
    shipment: u64,
    woo_id: u64,
    tn: &str,
    carrier: &str,
    at: NaiveDateTime,
) -> Result<bool, sqlx::Error> {
    let stamp = at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let note = format!("Delivered ({} {tn}) on {}.", carrier.to_uppercase(), at.format("%Y-%m-%d"));
    let ok = woo.mark_delivered(woo_id, &stamp, &note).await.is_ok();
    sqlx::query("UPDATE shipments SET delivery_writeback = ? WHERE id = ?")
        .bind(if ok { "done" } else { "failed" })
        .bind(shipment)
        .execute(pool)
        .await?;
    Ok(ok)
}

/// Deliveries WooCommerce has not been told of yet (the store was down): told now.
async fn retry_writebacks(pool: &MySqlPool, woo: &WooClient, out: &mut Swept) -> Result<u32, sqlx::Error> {
    let rows = sqlx::query_as::<_, (u64, u64, Option<String>, String, NaiveDateTime)>(
        r#"SELECT s.id, o.woo_id, s.master_tracking, s.carrier, s.delivered_at FROM shipments s JOIN orders o ON o.id = s.order_id
           WHERE s.delivery_writeback = 'failed' AND s.delivered_at IS NOT NULL ORDER BY s.id LIMIT 100"#,
    )
    .fetch_all(pool)
    .await?;
    let mut done = 0;
    for (id, woo_id, tn, carrier, at) in rows {
        if tell_delivered(pool, woo, id, woo_id, tn.as_deref().unwrap_or_default(), &carrier, at).await? {
            done += 1;
        } else {
            out.writeback_failed += 1;
        }
    }
    Ok(done)
}

/// Shipments whose carrier reports a problem now (the alerts): (shipment, order number, tracking, status, detail).
pub async fn exceptions(pool: &MySqlPool) -> Result<Vec<(u64, String, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        r#"SELECT s.id, o.number, COALESCE(s.master_tracking, ''), COALESCE(s.tracking_status, ''), COALESCE(s.tracking_detail, '')
           FROM shipments s JOIN orders o ON o.id = s.order_id
           WHERE s.delivered_at IS NULL AND s.tracking_status IN ('exception', 'returned') ORDER BY s.id"#,
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ups_status_types_map_to_phases() {
        assert_eq!(Phase::of_ups("D"), Phase::Delivered);
        assert_eq!(Phase::of_ups("X"), Phase::Exception);
        assert_eq!(Phase::of_ups("RS"), Phase::Returned);
        assert_eq!(Phase::of_ups("I"), Phase::InTransit);
        assert_eq!(Phase::of_ups("M"), Phase::LabelCreated);
        assert_eq!(Phase::of_ups("??"), Phase::Unknown);
        assert_eq!(carrier_date("20220126").map(|d| d.to_string()).as_deref(), Some("2022-01-26 12:00:00"));
        assert!(carrier_date("2022-01-26").is_none());
    }
}
