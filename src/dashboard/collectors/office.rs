//! The back office: RFQs, quotes, today's margin and receivables.

use chrono::{TimeDelta, Utc};

use crate::{
    dashboard::{Level, Reading, ago},
    quotes::{listing, send},
    services::Services,
};

fn quotes_off(st: &Services) -> Option<Reading> {
    (!st.config.modules.quotes).then(|| Reading::new("off", Level::Off).detail("modules.quotes is off"))
}

fn books_off(st: &Services) -> Option<Reading> {
    st.ledger.is_none().then(|| Reading::new("off", Level::Off).detail("the accounting module is off"))
}

/// `part` of `whole` as a percentage with one decimal, in integers ("34.2 %").
pub fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "n/a".into();
    }
    let (p, w) = (i128::from(part), i128::from(whole));
    let tenths = (p.abs() * 1000 + w.abs() / 2) / w.abs();
    let sign = if (p < 0) != (w < 0) && tenths != 0 { "-" } else { "" };
    format!("{sign}{}.{} %", tenths / 10, tenths % 10)
}

pub async fn open_rfqs(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = quotes_off(st) {
        return Ok(off);
    }
    let (n, oldest) = listing::open_rfqs(&st.pool).await?;
    let age_h = oldest.map_or(0, |t| (Utc::now().naive_utc() - t).num_hours());
    let mut r = Reading::new(n, if n == 0 { Level::Ok } else { Level::by(age_h, 24, 72) }).sample("qm_open_rfqs", &[], n as f64);
    if let Some(t) = oldest {
        r = r.detail(format!("oldest arrived {} ago", ago(t)));
    }
    Ok(r)
}

pub async fn expiring_quotes(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = quotes_off(st) {
        return Ok(off);
    }
    let list = send::expiring(&st.pool, 7).await?;
    let mut r = Reading::new(list.len(), if list.is_empty() { Level::Ok } else { Level::Warn })
        .detail("sent quotes whose validity ends within 7 days")
        .sample("qm_quotes_expiring", &[], list.len() as f64);
    for (_, number, customer, until) in list.iter().take(5) {
        r = r.row(format!("{number} {customer}"), format!("until {}", st.local_time(*until)));
    }
    Ok(r)
}

pub async fn win_rate(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = quotes_off(st) {
        return Ok(off);
    }
    let since = Utc::now().naive_utc() - TimeDelta::days(30);
    let (won, lost, expired, open) = listing::outcomes_since(&st.pool, since).await?;
    let decided = won + lost + expired;
    Ok(Reading::new(percent(won, decided), Level::Ok)
        .detail(format!("{won} won of {decided} decided ({lost} lost, {expired} expired); {open} still open"))
        .row("won", won.to_string())
        .row("lost", lost.to_string())
        .row("expired", expired.to_string()))
}

pub async fn today_margin(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = books_off(st) {
        return Ok(off);
    }
    let Some(ledger) = &st.ledger else { return Ok(Reading::default()) };
    let day = crate::calendar::today(st.tz());
    let rows = crate::books::reports::daily_margin(&st.pool, &crate::calendar::json(&[day])).await?;
    let (revenue, cogs) = rows.first().map_or((0, 0), |(_, r, c)| (*r, *c));
    let margin = revenue - cogs;
    let money = |m: i64| format!("{} {}", ledger.books.money(m), ledger.books.currency);
    Ok(Reading::new(money(margin), if margin < 0 { Level::Warn } else { Level::Ok })
        .detail(format!("gross margin {} of revenue, posted today", percent(margin, revenue)))
        .row("revenue", money(revenue))
        .row("COGS (FIFO)", money(cogs)))
}

pub async fn receivables(st: &Services) -> anyhow::Result<Reading> {
    if let Some(off) = books_off(st) {
        return Ok(off);
    }
    let Some(ledger) = &st.ledger else { return Ok(Reading::default()) };
    let open = crate::books::receivables::list(&st.pool, &ledger.books, true).await?;
    let now = Utc::now().naive_utc();
    let mut buckets = [(0i64, 0i64); crate::books::receivables::BUCKETS.len()];
    for r in &open {
        let b = crate::books::receivables::bucket((now - r.invoiced_at).num_days());
        buckets[b].0 += 1;
        buckets[b].1 += r.outstanding();
    }
    let total: i64 = open.iter().map(crate::books::receivables::Receivable::outstanding).sum();
    let overdue_60 = buckets[3].0 + buckets[4].0;
    let money = |m: i64| format!("{} {}", ledger.books.money(m), ledger.books.currency);
    let mut r =
        Reading::new(money(total), if overdue_60 > 0 { Level::Warn } else { Level::Ok }).detail(format!("{} open invoice(s)", open.len()));
    for (name, (n, amount)) in crate::books::receivables::BUCKETS.iter().zip(buckets) {
        r = r.row(*name, format!("{n}: {}", money(amount))).sample("qm_ar_outstanding_invoices", &[("bucket", name)], n as f64);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_round_half_up_in_integers() {
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(2, 3), "66.7 %");
        assert_eq!(percent(0, 0), "n/a");
        assert_eq!(percent(-50, 200), "-25.0 %");
        assert_eq!(percent(i64::MAX, i64::MAX), "100.0 %");
    }
}
