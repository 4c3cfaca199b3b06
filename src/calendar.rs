//! The tenant's days: a local calendar day as the UTC interval the database
//! compares with (timestamps are UTC in the database; days are the tenant's).

use chrono::{Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// One local day and the UTC instants it starts and ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
}

/// The UTC instant a local date starts at (the first instant that exists,
/// so a day that begins in a DST gap starts when the clocks allow).
fn start_of(tz: Tz, date: NaiveDate) -> NaiveDateTime {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..=3).find_map(|h| tz.from_local_datetime(&(midnight + Duration::hours(h))).earliest()).map(|t| t.naive_utc()).unwrap_or(midnight)
}

impl Day {
    pub fn of(tz: Tz, date: NaiveDate) -> Day {
        let next = date.succ_opt().unwrap_or(date);
        Day { date, start: start_of(tz, date), end: start_of(tz, next) }
    }
}

/// Today in the tenant's zone.
pub fn today(tz: Tz) -> Day {
    Day::of(tz, Utc::now().with_timezone(&tz).date_naive())
}

/// The last `n` local days, oldest first, ending today.
pub fn last_days(tz: Tz, n: u32) -> Vec<Day> {
    let today = Utc::now().with_timezone(&tz).date_naive();
    (0..i64::from(n)).rev().map(|back| Day::of(tz, today - Duration::days(back))).collect()
}

/// The days as one JSON parameter for `JSON_TABLE(?, '$[*]' COLUMNS (day DATE PATH '$.d', s DATETIME(6) PATH '$.s', e DATETIME(6) PATH '$.e'))`.
pub fn json(days: &[Day]) -> String {
    let list: Vec<serde_json::Value> = days
        .iter()
        .map(|d| {
            serde_json::json!({
                "d": d.date.to_string(),
                "s": d.start.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                "e": d.end.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_its_local_midnights_in_utc() {
        let tz: Tz = "America/Chicago".parse().expect("zone");
        let d = Day::of(tz, NaiveDate::from_ymd_opt(2026, 12, 3).expect("date"));
        assert_eq!(d.start.to_string(), "2026-12-03 06:00:00");
        assert_eq!(d.end.to_string(), "2026-12-04 06:00:00");
        // The day clocks go back has 25 hours.
        let fall = Day::of(tz, NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"));
        assert_eq!((fall.end - fall.start).num_hours(), 25);
        // Half-hour zones stay exact.
        let kolkata: Tz = "Asia/Kolkata".parse().expect("zone");
        assert_eq!(Day::of(kolkata, NaiveDate::from_ymd_opt(2026, 12, 3).expect("date")).start.to_string(), "2026-12-02 18:30:00");
    }

    #[test]
    fn a_day_starting_in_a_dst_gap_starts_when_the_clocks_allow() {
        // Santiago skips 00:00–01:00 on the first Sunday of September.
        let tz: Tz = "America/Santiago".parse().expect("zone");
        let d = Day::of(tz, NaiveDate::from_ymd_opt(2026, 9, 6).expect("date"));
        assert_eq!(d.start.to_string(), "2026-09-06 04:00:00");
        assert_eq!((d.end - d.start).num_hours(), 23);
    }

    #[test]
    fn the_last_days_end_today() {
        let days = last_days(Tz::UTC, 30);
        assert_eq!(days.len(), 30);
        assert_eq!(days[29].date, Utc::now().date_naive());
        assert!(json(&days[..1]).contains(r#""s":""#));
    }
}
