//! The pick floor: the queue, who picks where, packed orders, shipments, print jobs.

use chrono::{TimeDelta, Utc};

use crate::{
    dashboard::{Level, Reading, ago},
    services::Services,
    station::floor,
};

fn off_unless_fulfillment(st: &Services) -> Option<Reading> {
    (!st.config.modules.fulfillment).then(|| Reading::new("off", Level::Off).detail("modules.fulfillment is off"))
}

pub async fn awaiting_pick(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = off_unless_fulfillment(st) {
        return Ok(off);
    }
    let (n, oldest) = floor::awaiting_pick(&st.pool).await?;
    let waited_h = oldest.map_or(0, |t| (Utc::now().naive_utc() - t).num_hours());
    let mut r = Reading::new(n, if n == 0 { Level::Ok } else { Level::by(waited_h, 24, 48) }).sample(
        "qm_pick_queue_orders",
        &[("state", "queued")],
        n as f64,
    );
    if let Some(t) = oldest {
        r = r.detail(format!("oldest waits {}", ago(t)));
    }
    Ok(r)
}

pub async fn picking(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = off_unless_fulfillment(st) {
        return Ok(off);
    }
    let by_station = floor::picking_by_station(&st.pool).await?;
    let total: i64 = by_station.iter().map(|(_, n)| n).sum();
    let mut r = Reading::new(total, Level::Ok).detail(if total == 0 { "nobody is picking" } else { "orders claimed at stations" });
    for (station, n) in &by_station {
        let name = if station.is_empty() { "(no station)" } else { station.as_str() };
        let shown = st.config.stations.iter().find(|s| s.id == *station).map_or(name, |s| s.name.as_str());
        r = r.row(shown, n.to_string()).sample("qm_picks_in_progress", &[("station", name)], *n as f64);
    }
    Ok(r.sample("qm_pick_queue_orders", &[("state", "picking")], total as f64))
}

pub async fn packed(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = off_unless_fulfillment(st) {
        return Ok(off);
    }
    let (picked, packed, oldest) = floor::packed_not_shipped(&st.pool).await?;
    let waited_h = oldest.map_or(0, |t| (Utc::now().naive_utc() - t).num_hours());
    let mut r = Reading::new(packed, if packed == 0 { Level::Ok } else { Level::by(waited_h, 4, 24) })
        .detail(format!("{picked} picked, not yet packed"))
        .sample("qm_pick_queue_orders", &[("state", "picked")], picked as f64)
        .sample("qm_pick_queue_orders", &[("state", "packed")], packed as f64);
    if let Some(t) = oldest {
        r = r.row("oldest packed", ago(t));
    }
    Ok(r)
}

pub async fn shipped_today(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = off_unless_fulfillment(st) {
        return Ok(off);
    }
    let day = crate::calendar::today(st.tz());
    let (shipments, packages) = floor::shipped_on(&st.pool, &day).await?;
    Ok(Reading::new(shipments, Level::Ok).detail(format!("{packages} package(s) since midnight ({})", st.tz().name())).sample(
        "qm_shipped_today",
        &[],
        shipments as f64,
    ))
}

pub async fn print_jobs(st: &Services) -> anyhow::Result<Reading> {
    let since = Utc::now().naive_utc() - TimeDelta::hours(24);
    let states = crate::printing::ipp::states_since(&st.pool, since).await?;
    let count = |s: &str| states.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let (failed, queued) = (count("failed"), count("queued"));
    let total: i64 = states.iter().map(|(_, n)| n).sum();
    let level = if failed > 0 {
        Level::Bad
    } else if queued > 0 {
        Level::Warn
    } else {
        Level::Ok
    };
    let mut r = Reading::new(failed + queued, level).detail(format!("failed or waiting, of {total} printed in 24 h"));
    for (state, n) in &states {
        r = r.row(state.clone(), n.to_string()).sample("qm_print_jobs", &[("state", state)], *n as f64);
    }
    Ok(r)
}
