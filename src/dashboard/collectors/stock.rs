//! Stock and the sync: backorders, low stock, lots near expiry, the poller,
//! skipped orders and the outbox of pushes.

use chrono::{TimeDelta, Utc};

use crate::{
    dashboard::{Level, Reading, ago, unix},
    inventory::figures,
    services::Services,
};

pub async fn backorders(st: &Services) -> anyhow::Result<Reading> {
    let (lines, orders, units) = figures::backorders(&st.pool, &st.config.woocommerce.order_statuses).await?;
    Ok(Reading::new(orders, if orders == 0 { Level::Ok } else { Level::Warn })
        .detail(format!("order(s) short of stock: {lines} line(s), {units} unit(s)"))
        .sample("qm_backordered_lines", &[], lines as f64))
}

pub async fn low_stock(st: &Services) -> anyhow::Result<Reading> {
    let default = st.config.dashboard.low_stock_threshold;
    let (count, lowest) = figures::low_stock(&st.pool, default, 5).await?;
    let mut r = Reading::new(count, if count == 0 { Level::Ok } else { Level::Warn })
        .detail(format!("SKU(s) at or below their threshold (default {default})"))
        .sample("qm_low_stock_skus", &[], count as f64);
    for l in lowest {
        r = r.row(l.sku, format!("{} free (threshold {})", l.free, l.threshold));
    }
    Ok(r)
}

pub async fn expiring_lots(st: &Services) -> anyhow::Result<Reading> {
    let days = st.config.dashboard.expiry_warning_days;
    let today = crate::calendar::today(st.tz()).date;
    let until = today + TimeDelta::days(i64::from(days));
    let (count, soonest) = figures::expiring_lots(&st.pool, until, 5).await?;
    let expired = soonest.iter().any(|l| l.expires_on < today);
    let level = if expired {
        Level::Bad
    } else if count > 0 {
        Level::Warn
    } else {
        Level::Ok
    };
    let mut r = Reading::new(count, level).detail(format!("lot(s) with stock expiring within {days} days")).sample(
        "qm_lots_near_expiry",
        &[],
        count as f64,
    );
    for l in soonest {
        r = r.row(format!("{} {}", l.sku, l.lot_ref), format!("{} left, expires {}", l.remaining, l.expires_on));
    }
    Ok(r)
}

/// The poller's figures come from its recorded runs, so every replica shows the same.
pub async fn sync(st: &Services) -> anyhow::Result<Reading> {
    if !st.config.modules.inventory_sync {
        return Ok(Reading::new("off", Level::Off).detail("modules.inventory_sync is off"));
    }
    let Some(h) = crate::runs::health(&st.pool, "inventory_poll").await? else {
        return Ok(Reading::new("never ran", Level::Warn).detail(format!("on {}", st.config.polling.inventory_cron)));
    };
    let last_ms = h
        .last_ok_summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.get("duration_ms").and_then(serde_json::Value::as_u64));
    let lag_min = h.last_ok_at.map(|t| (Utc::now().naive_utc() - t).num_minutes());
    let level = match (h.consecutive_failures, lag_min) {
        (f, _) if f >= 2 => Level::Bad,
        (_, Some(m)) if m > 60 => Level::Bad,
        (1, _) => Level::Warn,
        (_, Some(m)) if m > 15 => Level::Warn,
        (_, None) => Level::Bad,
        _ => Level::Ok,
    };
    let value = h.last_ok_at.map_or_else(|| "no success yet".to_owned(), |t| format!("{} ago", ago(t)));
    let mut r = Reading::new(value, level).detail(match last_ms {
        Some(ms) => format!("last good cycle took {ms} ms"),
        None => "no cycle has finished".into(),
    });
    if h.consecutive_failures > 0 {
        r = r.row("failed in a row", h.consecutive_failures.to_string());
        if let Some(e) = &h.last_error {
            r = r.row("last error", e.chars().take(160).collect::<String>());
        }
    }
    if let Some(t) = h.last_ok_at {
        r = r.sample("qm_sync_last_success_timestamp_seconds", &[], unix(t));
    }
    if let Some(ms) = last_ms {
        r = r.sample("qm_sync_last_cycle_seconds", &[], ms as f64 / 1000.0);
    }
    Ok(r)
}

pub async fn sync_rejects(st: &Services) -> anyhow::Result<Reading> {
    let (n, latest) = figures::rejected_orders(&st.pool).await?;
    let mut r = Reading::new(n, if n == 0 { Level::Ok } else { Level::Bad })
        .detail(if n == 0 {
            "every order mirrored".to_owned()
        } else {
            "WooCommerce order(s) the sync could not take (home page lists them)".to_owned()
        })
        .sample("qm_sync_rejected_orders", &[], n as f64);
    if let Some(t) = latest {
        r = r.row("last tried", ago(t));
    }
    Ok(r)
}

pub async fn outbox(st: &Services) -> anyhow::Result<Reading> {
    let depth = crate::channels::outbox::depth(&st.pool).await?;
    let pending: i64 = depth.iter().map(|d| d.pending).sum();
    let failed: i64 = depth.iter().map(|d| d.failed).sum();
    let retrying: i64 = depth.iter().map(|d| d.retrying).sum();
    let oldest_min = depth.iter().filter_map(|d| d.oldest_pending).min().map(|t| (Utc::now().naive_utc() - t).num_minutes());
    let level = if failed > 0 || oldest_min.is_some_and(|m| m > 60) {
        Level::Bad
    } else if retrying > 0 || oldest_min.is_some_and(|m| m > 15) {
        Level::Warn
    } else {
        Level::Ok
    };
    let mut r = Reading::new(pending, level).detail(format!("{retrying} retrying, {failed} refused by a channel"));
    for d in &depth {
        r = r
            .row(d.channel.clone(), format!("{} waiting, {} refused", d.pending, d.failed))
            .sample("qm_outbox_depth", &[("channel", &d.channel)], d.pending as f64)
            .sample("qm_outbox_refused", &[("channel", &d.channel)], d.failed as f64);
    }
    // A quiet outbox still reports zero for the tenant's channels, so alerts see a series.
    for channel in ["woocommerce"].into_iter().chain(st.config.modules.ebay.then_some("ebay")) {
        if !depth.iter().any(|d| d.channel == channel) {
            r = r.sample("qm_outbox_depth", &[("channel", channel)], 0.0).sample("qm_outbox_refused", &[("channel", channel)], 0.0);
        }
    }
    Ok(r)
}
