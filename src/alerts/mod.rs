//! Alerts: what needs a person now, mailed once per episode. Each run
//! reads what is wrong (low stock, the sync not finishing, pushes stuck or
//! refused, a printer offline, a job failing twice, quotes about to expire,
//! a shipment in trouble) as keyed alerts; a key not open yet opens an
//! episode, an open key no longer wrong resolves it. The new and resolved
//! episodes of a run go out as one digest per set of recipients (per kind
//! in `alerts.recipients`, else `default`), so many alerts firing together
//! make one mail, and an alert that stays true makes no more mail.

use std::collections::BTreeMap;

use askama::Template;
use chrono::{TimeDelta, Utc};
use sqlx::MySqlPool;

use crate::{
    events::{self, Event, Severity},
    mail::{Brand, Draft, outbox},
    services::Services,
};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Sync,
    Job,
    Printer,
    Pushes,
    ItemsRefused,
    Tracking,
    LowStock,
    QuotesExpiring,
}

impl Kind {
    /// Its name in `alerts.recipients` and in `alert_episodes.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sync => "sync",
            Kind::Job => "job",
            Kind::Printer => "printer",
            Kind::Pushes => "pushes",
            Kind::ItemsRefused => "items_refused",
            Kind::Tracking => "tracking",
            Kind::LowStock => "low_stock",
            Kind::QuotesExpiring => "quotes_expiring",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "sync" => Kind::Sync,
            "job" => Kind::Job,
            "printer" => Kind::Printer,
            "pushes" => Kind::Pushes,
            "items_refused" => Kind::ItemsRefused,
            "tracking" => Kind::Tracking,
            "low_stock" => Kind::LowStock,
            _ => Kind::QuotesExpiring,
        }
    }

    /// The digest's heading for this kind.
    pub fn heading(self) -> &'static str {
        match self {
            Kind::Sync => "Inventory sync",
            Kind::Job => "Jobs failing",
            Kind::Printer => "Printers offline",
            Kind::Pushes => "Stock pushes stuck",
            Kind::ItemsRefused => "Items a channel refused",
            Kind::Tracking => "Shipments in trouble",
            Kind::LowStock => "Low stock",
            Kind::QuotesExpiring => "Quotes expiring",
        }
    }
}

/// One thing wrong now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable while the same thing stays wrong (`printer:bench-1-zebra`).
    pub key: String,
    pub kind: Kind,
    pub message: String,
}

fn alert(kind: Kind, key: impl std::fmt::Display, message: impl Into<String>) -> Alert {
    Alert { key: format!("{}:{key}", kind.as_str()).chars().take(191).collect(), kind, message: message.into().chars().take(512).collect() }
}

/// The backup alerts, read from what each repository last did.
async fn backup_alerts(st: &Services, b: &crate::config::Backup) -> anyhow::Result<Vec<Alert>> {
    let mut out = Vec::new();
    let repos = crate::backup::state::repositories(&st.pool).await?;
    let mut expected = vec!["local"];
    if b.offsite.is_some() {
        expected.push("offsite");
    }
    let now = Utc::now().naive_utc();
    let max_age = TimeDelta::hours(i64::from(b.max_age_hours));
    for name in expected {
        let key = if name == "local" { "backup-late".to_owned() } else { format!("backup-{name}-late") };
        let Some(r) = repos.iter().find(|r| r.name == name) else {
            // Never written: late once the first scheduled backup should have run.
            if let Some(h) = crate::runs::health(&st.pool, "backup").await?
                && now - h.last_started_at > max_age
            {
                out.push(alert(Kind::Job, key, format!("the {name} backup repository has no snapshot yet")));
            }
            continue;
        };
        if r.consecutive_failures >= 2 {
            out.push(alert(
                Kind::Job,
                format!("backup-{name}"),
                format!("the {name} backup failed {} times in a row: {}", r.consecutive_failures, r.last_error.clone().unwrap_or_default()),
            ));
        }
        if let Some(t) = r.last_ok_at
            && now - t > max_age
        {
            out.push(alert(
                Kind::Job,
                key,
                format!("the last good {name} backup is from {}, more than {} hours ago", st.local_time(t), b.max_age_hours),
            ));
        }
        if let Some(e) = &r.check_error {
            out.push(alert(Kind::Job, format!("backup-check-{name}"), format!("restic check of the {name} backup repository failed: {e}")));
        }
    }
    Ok(out)
}

/// Everything wrong now, read through the owners of each fact.
pub async fn active(st: &Services) -> anyhow::Result<Vec<Alert>> {
    let mut out = Vec::new();
    let pool = &st.pool;
    let c = &st.config;
    // The sync: two failed cycles in a row, or none finished for 15 minutes.
    if c.modules.inventory_sync
        && let Some(h) = crate::runs::health(pool, "inventory_poll").await?
    {
        let stale = h.last_ok_at.is_none_or(|t| Utc::now().naive_utc() - t > TimeDelta::minutes(15));
        if h.consecutive_failures >= 2 || (stale && h.consecutive_failures > 0) {
            let why = h.last_error.clone().unwrap_or_else(|| "no cycle finished lately".into());
            out.push(alert(
                Kind::Sync,
                "inventory_poll",
                format!("the inventory sync failed {} time(s) in a row: {why}", h.consecutive_failures),
            ));
        }
    }
    // Other jobs failing twice in a row.
    for job in crate::runs::JobName::running(c) {
        if matches!(
            job,
            crate::runs::JobName::InventoryPoll
                | crate::runs::JobName::Alerts
                | crate::runs::JobName::Backup
                | crate::runs::JobName::BackupCheck
        ) {
            continue;
        }
        let job = job.as_str();
        if let Some(h) = crate::runs::health(pool, job).await?
            && h.consecutive_failures >= 2
        {
            out.push(alert(
                Kind::Job,
                job,
                format!("job {job} failed {} times in a row: {}", h.consecutive_failures, h.last_error.unwrap_or_default()),
            ));
        }
    }
    // Backups, per repository: two failed runs in a row, none good for
    // backup.max_age_hours, or a `restic check` that found damage.
    if let Some(b) = &c.backup {
        out.extend(backup_alerts(st, b).await?);
    }
    // Printers.
    if !c.printers.is_empty() {
        let ctx = crate::integrations::probe::Ctx { timeout: std::time::Duration::from_secs(10), ..st.probes() };
        for (name, status) in crate::integrations::probe::printers(&ctx).await {
            match status {
                Ok(s) if s.is_up() => {}
                Ok(s) => out.push(alert(Kind::Printer, &name, format!("printer {name} is {} ({})", s.state, s.reasons.join(", ")))),
                Err(e) => out.push(alert(Kind::Printer, &name, format!("printer {name} does not answer: {e}"))),
            }
        }
    }
    // Pushes waiting too long, and items refused.
    for d in crate::channels::outbox::depth(pool).await? {
        if let Some(since) = d.oldest_pending
            && Utc::now().naive_utc() - since > TimeDelta::minutes(30)
        {
            out.push(alert(
                Kind::Pushes,
                &d.channel,
                format!("{} stock push(es) to {} waiting since {}", d.pending, d.channel, st.local_time(since)),
            ));
        }
    }
    for (channel, sku, status, error) in crate::channels::outbox::problems(pool).await? {
        if status == "failed" {
            out.push(alert(Kind::ItemsRefused, format!("{channel}:{sku}"), format!("{channel} refused stock for {sku}: {error}")));
        }
    }
    // Shipments the carrier reports trouble with.
    for (id, number, tn, status, detail) in crate::station::tracking::exceptions(pool).await? {
        out.push(alert(Kind::Tracking, id, format!("order {number} ({tn}): {} — {detail}", status.replace('_', " "))));
    }
    // Low stock, per SKU.
    let (_, low) = crate::inventory::figures::low_stock(pool, c.dashboard.low_stock_threshold, 500).await?;
    for l in low {
        out.push(alert(Kind::LowStock, &l.sku, format!("{} ({}): {} free, threshold {}", l.sku, l.name, l.free, l.threshold)));
    }
    // Sent quotes expiring within 3 days.
    if c.modules.quotes {
        for (_, number, customer, until) in crate::quotes::send::expiring(pool, 3).await? {
            out.push(alert(Kind::QuotesExpiring, &number, format!("quote {number} for {customer} expires {}", st.local_time(until))));
        }
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct Open {
    id: u64,
    akey: String,
    kind: String,
    message: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ran {
    pub active: u32,
    pub opened: u32,
    pub resolved: u32,
    pub mails: u32,
}

/// An episode opened or resolved by a run: (id, kind, message).
type Episode = (u64, Kind, String);

/// One episode in a digest.
pub struct Line {
    pub heading: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "mail/alerts.html")]
struct Html<'a> {
    brand: &'a Brand,
    opened: &'a [Line],
    resolved: &'a [Line],
    dashboard: Option<String>,
}

#[derive(Template)]
#[template(path = "mail/alerts.txt")]
struct Text<'a> {
    brand: &'a Brand,
    opened: &'a [Line],
    resolved: &'a [Line],
    dashboard: Option<String>,
}

/// Opens, resolves and tells: one alerts run.
pub async fn run(st: &Services) -> anyhow::Result<Ran> {
    let active = active(st).await?;
    let pool = &st.pool;
    let open: Vec<Open> =
        sqlx::query_as("SELECT id, akey, kind, message FROM alert_episodes WHERE resolved_at IS NULL").fetch_all(pool).await?;
    let mut ran = Ran { active: active.len() as u32, ..Ran::default() };
    let mut opened: Vec<Episode> = Vec::new();
    for a in &active {
        if open.iter().any(|o| o.akey == a.key) {
            continue;
        }
        match sqlx::query("INSERT INTO alert_episodes (akey, kind, message) VALUES (?, ?, ?)")
            .bind(&a.key)
            .bind(a.kind.as_str())
            .bind(&a.message)
            .execute(pool)
            .await
        {
            Ok(r) => {
                opened.push((r.last_insert_id(), a.kind, a.message.clone()));
                events::record(
                    pool,
                    Event::info("alert.opened", a.message.clone()).severity(Severity::Warning).about("alert", r.last_insert_id()),
                )
                .await?;
            }
            // Another replica opened it a moment ago.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut resolved: Vec<Episode> = Vec::new();
    for o in open.iter().filter(|o| !active.iter().any(|a| a.key == o.akey)) {
        let done = sqlx::query("UPDATE alert_episodes SET resolved_at = UTC_TIMESTAMP(6) WHERE id = ? AND resolved_at IS NULL")
            .bind(o.id)
            .execute(pool)
            .await?;
        if done.rows_affected() == 1 {
            resolved.push((o.id, Kind::parse(&o.kind), o.message.clone()));
            events::record(pool, Event::info("alert.resolved", format!("resolved: {}", o.message)).about("alert", o.id)).await?;
        }
    }
    ran.opened = opened.len() as u32;
    ran.resolved = resolved.len() as u32;
    let Some(mailer) = &st.mailer else { return Ok(ran) };
    // One digest per set of recipients.
    let recipients = |k: Kind| -> Vec<String> {
        let r = &st.config.alerts.recipients;
        let mut to = r.get(k.as_str()).or_else(|| r.get("default")).cloned().unwrap_or_default();
        to.sort();
        to
    };
    let mut digests: BTreeMap<Vec<String>, (Vec<Episode>, Vec<Episode>)> = BTreeMap::new();
    for e in opened {
        digests.entry(recipients(e.1)).or_default().0.push(e);
    }
    for e in resolved {
        digests.entry(recipients(e.1)).or_default().1.push(e);
    }
    let brand = Brand::of(&st.config);
    let dashboard = st.config.server.public_url.as_ref().map(|u| format!("{}/dashboard", u.trim_end_matches('/')));
    for (to, (mut new, mut old)) in digests {
        if to.is_empty() {
            continue;
        }
        new.sort_by_key(|e| e.1);
        old.sort_by_key(|e| e.1);
        let lines =
            |v: &[(u64, Kind, String)]| v.iter().map(|(_, k, m)| Line { heading: k.heading(), message: m.clone() }).collect::<Vec<_>>();
        let (nl, ol) = (lines(&new), lines(&old));
        let subject = match (new.len(), old.len()) {
            (0, r) => format!("[{}] {r} alert(s) resolved", brand.name),
            (n, 0) => format!("[{}] {n} new alert(s): {}", brand.name, summary(&new)),
            (n, r) => format!("[{}] {n} new alert(s): {}; {r} resolved", brand.name, summary(&new)),
        };
        let html = Html { brand: &brand, opened: &nl, resolved: &ol, dashboard: dashboard.clone() }.render()?;
        let text = Text { brand: &brand, opened: &nl, resolved: &ol, dashboard: dashboard.clone() }.render()?;
        let draft = Draft { purpose: "alert", subject_ref: None, to, subject, html, text, attachments: Vec::new(), headers: Vec::new() };
        let id = outbox::send(pool, mailer, &draft).await?;
        ran.mails += 1;
        for (e, _, _) in &new {
            sqlx::query("UPDATE alert_episodes SET opened_mail_id = ? WHERE id = ?").bind(id).bind(e).execute(pool).await?;
        }
        for (e, _, _) in &old {
            sqlx::query("UPDATE alert_episodes SET resolved_mail_id = ? WHERE id = ?").bind(id).bind(e).execute(pool).await?;
        }
    }
    Ok(ran)
}

/// "low stock (2), printers offline (1)".
fn summary(v: &[Episode]) -> String {
    let mut counts: BTreeMap<Kind, usize> = BTreeMap::new();
    for (_, k, _) in v {
        *counts.entry(*k).or_default() += 1;
    }
    counts.into_iter().map(|(k, n)| format!("{} ({n})", k.heading().to_lowercase())).collect::<Vec<_>>().join(", ")
}

/// Episodes open now, for the dashboard: (kind, message, opened at).
pub async fn open(pool: &MySqlPool) -> Result<Vec<(String, String, chrono::NaiveDateTime)>, sqlx::Error> {
    sqlx::query_as("SELECT kind, message, opened_at FROM alert_episodes WHERE resolved_at IS NULL ORDER BY opened_at").fetch_all(pool).await
}
