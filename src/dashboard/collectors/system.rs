//! The appliance itself: its jobs, the scanner's lookup, the database and the data disk.

use crate::{
    dashboard::{Level, Reading, ago, unix},
    services::Services,
};

pub async fn jobs(st: &Services) -> anyhow::Result<Reading> {
    let names: Vec<&'static str> = crate::runs::JobName::running(&st.config).map(|j| j.as_str()).collect();
    let (mut ok, mut ran, mut worst) = (0usize, 0usize, Level::Ok);
    let mut r = Reading::default();
    for name in &names {
        let Some(h) = crate::runs::health(&st.pool, name).await? else {
            r = r.row(*name, "not run yet");
            continue;
        };
        ran += 1;
        let level = match h.consecutive_failures {
            0 => Level::Ok,
            1 => Level::Warn,
            _ => Level::Bad,
        };
        if level == Level::Ok {
            ok += 1;
        }
        if matches!((worst, level), (Level::Ok, Level::Warn | Level::Bad) | (Level::Warn, Level::Bad)) {
            worst = level;
        }
        let when = format!("{} {} ago", h.last_status, ago(h.last_finished_at.unwrap_or(h.last_started_at)));
        let shown = if h.consecutive_failures > 0 { format!("{when}, {} failed in a row", h.consecutive_failures) } else { when };
        r = r.row(*name, shown).sample("qm_job_consecutive_failures", &[("job_name", name)], f64::from(h.consecutive_failures));
        if let Some(t) = h.last_ok_at {
            r = r.sample("qm_job_last_success_timestamp_seconds", &[("job_name", name)], unix(t));
        }
    }
    r.value = if ran == 0 { "–".into() } else { format!("{ok}/{ran}") };
    r.level = Some(worst);
    r.detail = match names.len() - ran {
        0 => "jobs whose last run succeeded".into(),
        n => format!("last runs that succeeded; {n} not run yet"),
    };
    Ok(r)
}

pub async fn scanner(st: &Services) -> anyhow::Result<Reading> {
    let (hits, misses) = st.lookup.hits_and_misses();
    let total = hits + misses;
    let codes = st.lookup.len();
    if total == 0 {
        return Ok(Reading::new("n/a", Level::Ok).detail(format!("no scans since start; {codes} codes in memory")));
    }
    let ratio = hits as f64 / total as f64;
    let shown = super::office::percent(hits as i64, total as i64);
    Ok(Reading::new(shown, if ratio < 0.9 && total >= 50 { Level::Warn } else { Level::Ok })
        .detail(format!("{hits} of {total} scans answered from memory; {codes} codes held"))
        .sample("qm_scanner_lookup_hit_ratio", &[], ratio))
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut whole = n;
    let mut tenths = 0;
    while whole >= 1024 && unit < UNITS.len() - 1 {
        tenths = (whole % 1024) * 10 / 1024;
        whole /= 1024;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{whole}.{tenths} {}", UNITS[unit]) }
}

pub async fn database(st: &Services) -> anyhow::Result<Reading> {
    let size = crate::db::size_bytes(&st.pool).await?;
    let ping = crate::db::ping(&st.pool).await?;
    let pool = &st.pool;
    Ok(Reading::new(bytes(size), Level::Ok)
        .detail(format!(
            "round trip {} µs; pool {} of {} in use",
            ping.as_micros(),
            pool.size() as usize - pool.num_idle(),
            st.config.database.max_connections
        ))
        .sample("qm_database_size_bytes", &[], size as f64))
}

pub async fn disk(st: &Services) -> anyhow::Result<Reading> {
    let dir = st.loaded.data_dir();
    let (free, total) = tokio::task::spawn_blocking(move || (fs4::available_space(&dir), fs4::total_space(&dir))).await?;
    let (free, total) = (free?, total?);
    let free_pct = (free * 100).checked_div(total).unwrap_or(100);
    let level = match free_pct {
        0..5 => Level::Bad,
        5..15 => Level::Warn,
        _ => Level::Ok,
    };
    Ok(Reading::new(bytes(free), level)
        .detail(format!("free: {free_pct} % of {} on the data directory's disk", bytes(total)))
        .sample("qm_data_dir_free_bytes", &[], free as f64)
        .sample("qm_data_dir_total_bytes", &[], total as f64))
}

pub async fn alerts(st: &Services) -> anyhow::Result<Reading> {
    let open = crate::alerts::open(&st.pool).await?;
    let mut r = Reading::new(open.len(), if open.is_empty() { Level::Ok } else { Level::Bad }).detail(if open.is_empty() {
        "nothing needs a person".to_owned()
    } else {
        "mailed once when each began".to_owned()
    });
    for (kind, message, since) in open.iter().take(4) {
        r = r.row(kind.replace('_', " "), format!("{message} (since {})", ago(*since)));
    }
    Ok(r)
}

pub async fn mail(st: &Services) -> anyhow::Result<Reading> {
    if st.mailer.is_none() {
        return Ok(Reading::new("off", Level::Off).detail("no smtp section: nothing is mailed"));
    }
    let (pending, failed) = crate::mail::outbox::counts(&st.pool).await?;
    let level = if failed > 0 {
        Level::Bad
    } else if pending > 0 {
        Level::Warn
    } else {
        Level::Ok
    };
    Ok(Reading::new(pending, level).detail(format!("waiting to be sent; {failed} could not be sent")))
}

pub async fn backups(st: &Services) -> anyhow::Result<Reading> {
    let Some(b) = &st.config.backup else {
        return Ok(Reading::new("off", Level::Off).detail("no backup section: nothing is backed up"));
    };
    let repos = crate::backup::state::repositories(&st.pool).await?;
    let mut want = vec!["local"];
    if b.offsite.is_some() {
        want.push("offsite");
    }
    let mut r = Reading::default();
    let mut worst = Level::Ok;
    let mut newest = None;
    for name in want {
        let Some(repo) = repos.iter().find(|x| x.name == name) else {
            r = r.row(name, "no snapshot yet");
            worst = worse(worst, Level::Warn);
            continue;
        };
        let stale =
            repo.last_ok_at.is_none_or(|t| chrono::Utc::now().naive_utc() - t > chrono::TimeDelta::hours(i64::from(b.max_age_hours)));
        let level = if repo.check_error.is_some() || repo.consecutive_failures >= 2 || stale {
            Level::Bad
        } else if repo.consecutive_failures == 1 {
            Level::Warn
        } else {
            Level::Ok
        };
        worst = worse(worst, level);
        let mut shown = match repo.last_ok_at {
            Some(t) => format!("last good {} ago", ago(t)),
            None => "no good snapshot".into(),
        };
        if let Some(n) = repo.size_bytes {
            shown.push_str(&format!(", {}", bytes(n)));
        }
        if repo.consecutive_failures > 0 {
            shown.push_str(&format!(", {} failed in a row", repo.consecutive_failures));
        }
        if repo.check_error.is_some() {
            shown.push_str(", check failed");
        }
        r = r.row(name, shown).sample("qm_backup_consecutive_failures", &[("repository", name)], f64::from(repo.consecutive_failures));
        if let Some(t) = repo.last_ok_at {
            r = r.sample("qm_backup_last_success_timestamp_seconds", &[("repository", name)], unix(t));
            newest = newest.max(Some(t));
        }
        if let Some(n) = repo.size_bytes {
            r = r.sample("qm_backup_repository_bytes", &[("repository", name)], n as f64);
        }
        if repo.checked_at.is_some() {
            r = r.sample("qm_backup_check_ok", &[("repository", name)], if repo.check_error.is_none() { 1.0 } else { 0.0 });
        }
    }
    r.value = newest.map_or_else(|| "none".to_owned(), |t| format!("{} ago", ago(t)));
    r.level = Some(worst);
    r.detail = "restic snapshots of both databases, wp-content and the data directory".into();
    Ok(r)
}

fn worse(a: Level, b: Level) -> Level {
    match (a, b) {
        (Level::Bad, _) | (_, Level::Bad) => Level::Bad,
        (Level::Warn, _) | (_, Level::Warn) => Level::Warn,
        _ => Level::Ok,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
