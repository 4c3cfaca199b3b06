//! The 30-day charts: sales, gross margin, shipments and stock pushes per
//! local day, laid out here as bar geometry and drawn as inline SVG by the
//! page's template (no script, nothing the strict CSP would refuse).

use chrono::NaiveDate;

use crate::services::Services;

/// Days the charts cover.
pub const DAYS: u32 = 30;

const WIDTH: i64 = 600;
const HEIGHT: i64 = 150;
const GAP: i64 = 2;

/// One day's bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
    /// Below zero (a day whose refunds outweighed its sales).
    pub negative: bool,
    /// "Dec 3: 1,234.50 USD", the bar's tooltip and its text for screen readers.
    pub label: String,
}

/// One chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub width: i64,
    pub height: i64,
    /// Where zero is.
    pub baseline: i64,
    pub bars: Vec<Bar>,
    /// The largest value, as shown on the axis.
    pub max_label: String,
    /// The 30 days' total, as shown.
    pub total_label: String,
    pub first_day: String,
    pub last_day: String,
    /// Why there is nothing to draw (module off), when so.
    pub note: String,
}

/// Lays out `values` (one per day, oldest first) as bars; `show` formats a value.
pub fn layout(id: &'static str, title: &str, values: &[(NaiveDate, i64)], show: &dyn Fn(i64) -> String) -> Chart {
    let n = values.len().max(1) as i64;
    let top = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(0);
    let bottom = values.iter().map(|(_, v)| *v).min().unwrap_or(0).min(0);
    let span = (top - bottom).max(1);
    // All zero: the axis sits at the bottom, as for any chart of counts.
    let baseline = if top == 0 && bottom == 0 { HEIGHT } else { HEIGHT * top / span };
    let slot = WIDTH / n;
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, (day, v))| {
            let h = (HEIGHT * v.abs() / span).max(i64::from(*v != 0));
            Bar {
                x: i as i64 * slot + GAP / 2,
                y: if *v >= 0 { baseline - h } else { baseline },
                w: (slot - GAP).max(1),
                h,
                negative: *v < 0,
                label: format!("{}: {}", day.format("%b %-d"), show(*v)),
            }
        })
        .collect();
    let total: i64 = values.iter().map(|(_, v)| *v).sum();
    Chart {
        id,
        title: title.to_owned(),
        width: WIDTH,
        height: HEIGHT,
        baseline,
        bars,
        max_label: show(top),
        total_label: show(total),
        first_day: values.first().map(|(d, _)| d.format("%b %-d").to_string()).unwrap_or_default(),
        last_day: values.last().map(|(d, _)| d.format("%b %-d").to_string()).unwrap_or_default(),
        note: String::new(),
    }
}

/// The four charts over the last [`DAYS`] local days.
pub async fn build(st: &Services) -> anyhow::Result<Vec<Chart>> {
    let days = crate::calendar::last_days(st.tz(), DAYS);
    let json = crate::calendar::json(&days);
    let (sales, shipments, pushes, margin) = tokio::try_join!(
        crate::inventory::figures::sales_per_day(&st.pool, &json),
        crate::station::floor::shipments_per_day(&st.pool, &json),
        crate::runs::pushes_per_day(&st.pool, &json),
        async {
            match &st.ledger {
                Some(_) => crate::books::reports::daily_margin(&st.pool, &json).await.map(Some),
                None => Ok(None),
            }
        },
    )?;
    let currency = st.config.tenant.currency.clone();
    let exp = crate::money::exponent(&currency);
    let money = move |m: i64| format!("{} {currency}", crate::money::format_minor(m, exp));
    let count = |n: i64| n.to_string();
    let mut charts = Vec::with_capacity(4);
    charts.push(layout("sales", "Sales (orders placed, by total)", &sales.iter().map(|(d, _, t)| (*d, *t)).collect::<Vec<_>>(), &money));
    let mut m = match margin {
        Some(rows) => layout(
            "margin",
            "Gross margin (revenue − FIFO COGS, posted)",
            &rows.iter().map(|(d, r, c)| (*d, r - c)).collect::<Vec<_>>(),
            &money,
        ),
        None => layout("margin", "Gross margin", &[], &money),
    };
    if st.ledger.is_none() {
        m.note = "The books are off for this tenant (modules.accounting); margin comes from them.".into();
    }
    charts.push(m);
    charts.push(layout("shipments", "Shipments", &shipments, &count));
    charts.push(layout("pushes", "Stock pushes to the channels", &pushes, &count));
    Ok(charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).expect("date")
    }

    #[test]
    fn bars_scale_to_the_largest_and_negatives_hang_below_zero() {
        let c = layout("t", "T", &[(day(1), 10), (day(2), 0), (day(3), -5)], &|v| v.to_string());
        assert_eq!(c.baseline, 100, "zero sits two thirds down for a span of 15 with 10 on top");
        assert_eq!((c.bars[0].y, c.bars[0].h), (0, 100));
        assert_eq!(c.bars[1].h, 0);
        assert!(c.bars[2].negative);
        assert_eq!((c.bars[2].y, c.bars[2].h), (100, 50));
        assert_eq!(c.total_label, "5");
        assert_eq!(c.bars[0].label, "Dec 1: 10");
        // A tiny value still shows.
        let tiny = layout("t", "T", &[(day(1), 1_000_000), (day(2), 1)], &|v| v.to_string());
        assert_eq!(tiny.bars[1].h, 1);
    }

    #[test]
    fn no_data_draws_nothing_without_dividing_by_zero() {
        let c = layout("t", "T", &[], &|v| v.to_string());
        assert!(c.bars.is_empty());
        assert_eq!(c.baseline, HEIGHT, "an empty chart's axis is at the bottom");
        assert_eq!(c.max_label, "0");
    }
}
