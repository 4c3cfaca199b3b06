//! Pricing fall-through for quote lines. The first source that can price a
//! line wins, and the line records which and why:
//! 1. in stock: the product's list price, else cost-plus over the FIFO cost
//!    of the lots the quantity would consume;
//! 2. the latest supplier cost × markup, only when fresher than the
//!    configured number of days;
//! 3. marketplace comparables: the median of the N most recent
//!    observations, never below cost.
//!
//! A line none can price is left for a person with every reason. All
//! arithmetic is in integer minor units; markups round up to a whole unit.

use std::{collections::HashMap, path::Path};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use sqlx::MySqlPool;

use crate::{config::Pricing, money};

/// Which source priced a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    InStock,
    Supplier,
    Comparables,
    Manual,
    Unpriced,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::InStock => "in_stock",
            PriceSource::Supplier => "supplier",
            PriceSource::Comparables => "comparables",
            PriceSource::Manual => "manual",
            PriceSource::Unpriced => "unpriced",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "in_stock" => PriceSource::InStock,
            "supplier" => PriceSource::Supplier,
            "comparables" => PriceSource::Comparables,
            "manual" => PriceSource::Manual,
            _ => PriceSource::Unpriced,
        }
    }
}

/// A priced (or unpriceable) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub unit_price_minor: Option<i64>,
    pub source: PriceSource,
    pub reason: String,
}

/// `cost × (1 + markup)`, rounded up to a whole minor unit.
pub fn mark_up(cost_minor: i64, basis_points: u32) -> i64 {
    let v = i128::from(cost_minor) * i128::from(10_000 + basis_points);
    i64::try_from((v + 9_999).div_euclid(10_000)).unwrap_or(i64::MAX)
}

/// The median of the `n` most recent observations (even counts average the
/// middle two, rounding up), or None.
pub fn recent_median(obs: &[(NaiveDateTime, i64)], n: usize) -> Option<i64> {
    let mut recent: Vec<&(NaiveDateTime, i64)> = obs.iter().collect();
    recent.sort_by_key(|o| std::cmp::Reverse(o.0));
    let mut prices: Vec<i64> = recent.into_iter().take(n.max(1)).map(|o| o.1).collect();
    if prices.is_empty() {
        return None;
    }
    prices.sort_unstable();
    let mid = prices.len() / 2;
    Some(if prices.len() % 2 == 1 { prices[mid] } else { (prices[mid - 1] + prices[mid] + 1).div_euclid(2) })
}

/// Marketplace observations by SKU.
#[derive(Debug, Clone, Default)]
pub struct Comparables {
    by_sku: HashMap<String, Vec<(NaiveDateTime, i64)>>,
    pub source: String,
}

/// Why comparables could not be read (the quote still prices from other sources).
#[derive(Debug, thiserror::Error)]
pub enum CompsError {
    #[error("comparables {feed}: {message}")]
    Unreadable { feed: String, message: String },
}

impl Comparables {
    /// Parses a feed: CSV `sku,price,observed_at` or JSON `[{"sku","price","observed_at"}]`,
    /// prices as decimal text, dates `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS` (UTC).
    pub fn parse(bytes: &[u8], format: &str, currency: &str, source: &str) -> Result<Self, CompsError> {
        let bad = |message: String| CompsError::Unreadable { feed: source.to_owned(), message };
        let exp = money::exponent(currency);
        let mut rows: Vec<(String, String, String)> = Vec::new();
        if format == "json" {
            let v: Vec<serde_json::Value> = serde_json::from_slice(bytes).map_err(|e| bad(format!("not a JSON array: {e}")))?;
            for (i, o) in v.iter().enumerate() {
                let text = |k: &str| o.get(k).map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned));
                match (text("sku"), text("price"), text("observed_at")) {
                    (Some(s), Some(p), Some(d)) => rows.push((s, p, d)),
                    _ => return Err(bad(format!("item {i}: needs sku, price and observed_at"))),
                }
            }
        } else {
            let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
            for (i, rec) in r.records().enumerate() {
                let rec = rec.map_err(|e| bad(format!("row {}: {e}", i + 2)))?;
                match (rec.get(0), rec.get(1), rec.get(2)) {
                    (Some(s), Some(p), Some(d)) => rows.push((s.to_owned(), p.to_owned(), d.to_owned())),
                    _ => return Err(bad(format!("row {}: needs sku,price,observed_at", i + 2))),
                }
            }
        }
        let mut by_sku: HashMap<String, Vec<(NaiveDateTime, i64)>> = HashMap::new();
        for (i, (sku, price, at)) in rows.into_iter().enumerate() {
            let price = money::parse_minor(&price, exp).map_err(|e| bad(format!("entry {}: price: {e}", i + 1)))?;
            let at = NaiveDateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDate::parse_from_str(&at, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
                .map_err(|e| bad(format!("entry {}: observed_at: {e}", i + 1)))?;
            by_sku.entry(sku).or_default().push((at, price));
        }
        Ok(Self { by_sku, source: source.to_owned() })
    }

    /// Loads the tenant's configured feed: a file (relative to the tenant
    /// file) or an http(s) URL. No feed configured: empty.
    pub async fn load(pricing: &Pricing, base_dir: &Path, currency: &str) -> Result<Self, CompsError> {
        let Some(c) = &pricing.comps else { return Ok(Self::default()) };
        let bytes = if c.source.starts_with("http://") || c.source.starts_with("https://") {
            let bad = |message: String| CompsError::Unreadable { feed: c.source.clone(), message };
            let resp = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .map_err(|e| bad(e.to_string()))?
                .get(&c.source)
                .send()
                .await
                .map_err(|e| bad(e.without_url().to_string()))?;
            if !resp.status().is_success() {
                return Err(bad(format!("HTTP {}", resp.status().as_u16())));
            }
            resp.bytes().await.map_err(|e| bad(e.without_url().to_string()))?.to_vec()
        } else {
            let path = base_dir.join(&c.source);
            tokio::fs::read(&path).await.map_err(|e| CompsError::Unreadable { feed: c.source.clone(), message: e.to_string() })?
        };
        Self::parse(&bytes, &c.format, currency, &c.source)
    }

    /// Adds the comparables competitor feeds stored (the last 180 days, in `currency`).
    pub async fn with_stored(mut self, pool: &MySqlPool, currency: &str) -> Result<Self, sqlx::Error> {
        let since = chrono::Utc::now().naive_utc() - TimeDelta::days(180);
        let stored = super::comparables::since(pool, currency, since).await?;
        if !stored.is_empty() && self.source.is_empty() {
            self.source = "competitor feeds".into();
        }
        for (sku, at, price) in stored {
            self.by_sku.entry(sku).or_default().push((at, price));
        }
        Ok(self)
    }

    pub fn for_sku(&self, sku: &str) -> &[(NaiveDateTime, i64)] {
        self.by_sku.get(sku).map_or(&[], Vec::as_slice)
    }
}

/// Prices lines for one quote.
pub struct Pricer<'a> {
    pub pool: &'a MySqlPool,
    pub pricing: &'a Pricing,
    pub comps: &'a Comparables,
    pub currency: &'a str,
    pub now: NaiveDateTime,
}

impl Pricer<'_> {
    fn money(&self, minor: i64) -> String {
        money::format_minor(minor, money::exponent(self.currency))
    }

    /// The first source that can price `quantity` of the product.
    pub async fn price(&self, product_id: Option<u64>, quantity: u32) -> Result<Priced, sqlx::Error> {
        let Some(product) = product_id else {
            return Ok(Priced {
                unit_price_minor: None,
                source: PriceSource::Unpriced,
                reason: "no product matched: map the line to a product or price it by hand".into(),
            });
        };
        let Some((sku, list)) = sqlx::query_as::<_, (String, Option<i64>)>("SELECT sku, price_minor FROM products WHERE id = ?")
            .bind(product)
            .fetch_optional(self.pool)
            .await?
        else {
            return Ok(Priced {
                unit_price_minor: None,
                source: PriceSource::Unpriced,
                reason: format!("product {product} no longer exists"),
            });
        };
        let markup = self.pricing.markup_percent.basis_points;
        let mut why = Vec::new();

        // 1. In stock: free units in lots, oldest first.
        let lots = crate::inventory::stock::free_lots(self.pool, product).await?;
        let free: i64 = lots.iter().map(|l| l.0).sum();
        if free >= i64::from(quantity) {
            let (mut need, mut cost) = (i64::from(quantity), 0i64);
            for (q, c) in &lots {
                let take = need.min(*q);
                cost += take * c;
                need -= take;
                if need == 0 {
                    break;
                }
            }
            let unit_cost = (cost + i64::from(quantity) - 1).div_euclid(i64::from(quantity).max(1));
            return Ok(match list {
                Some(price) => {
                    Priced { unit_price_minor: Some(price), source: PriceSource::InStock, reason: format!("{free} in stock; list price") }
                }
                None => Priced {
                    unit_price_minor: Some(mark_up(unit_cost, markup)),
                    source: PriceSource::InStock,
                    reason: format!("{free} in stock; FIFO cost {} + {}", self.money(unit_cost), self.pricing.markup_percent),
                },
            });
        }
        why.push(format!("only {free} in stock"));

        // 2. Supplier landed cost, if fresh.
        let latest = crate::inventory::receive::latest_cost(self.pool, product, self.currency)
            .await?
            .map(|c| (c.unit_cost_minor, c.observed_at, c.supplier));
        let fresh_after = self.now - TimeDelta::days(i64::from(self.pricing.cost_freshness_days));
        match &latest {
            Some((cost, at, supplier)) if *at >= fresh_after => {
                return Ok(Priced {
                    unit_price_minor: Some(mark_up(*cost, markup)),
                    source: PriceSource::Supplier,
                    reason: format!(
                        "{}; {supplier} cost {} on {} + {}",
                        why.join("; "),
                        self.money(*cost),
                        at.date(),
                        self.pricing.markup_percent
                    ),
                });
            }
            Some((_, at, supplier)) => {
                why.push(format!("{supplier} cost from {} is older than {} days", at.date(), self.pricing.cost_freshness_days))
            }
            None => why.push("no supplier cost".into()),
        }

        // 3. Comparables, floored at what it costs us.
        let n = self.pricing.comps.as_ref().map_or(5, |c| c.recent as usize);
        match recent_median(self.comps.for_sku(&sku), n) {
            Some(median) => {
                // What a unit costs us: the oldest free lot, else the latest supplier cost (even stale).
                let cost = lots.first().map(|l| l.1).or(latest.as_ref().map(|l| l.0));
                let (price, floor_note) = match cost {
                    Some(c) if c > median => (c, format!("; raised to cost {}", self.money(c))),
                    _ => (median, String::new()),
                };
                let count = self.comps.for_sku(&sku).len().min(n);
                Ok(Priced {
                    unit_price_minor: Some(price),
                    source: PriceSource::Comparables,
                    reason: format!("{}; median of {count} recent comparables {}{floor_note}", why.join("; "), self.money(median)),
                })
            }
            None => {
                why.push("no comparables".into());
                Ok(Priced {
                    unit_price_minor: None,
                    source: PriceSource::Unpriced,
                    reason: format!("{}: price it by hand", why.join("; ")),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(d: &str) -> NaiveDateTime {
        NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date").and_hms_opt(0, 0, 0).expect("time")
    }

    #[test]
    fn markup_rounds_up_to_a_whole_cent() {
        assert_eq!(mark_up(1000, 3500), 1350);
        assert_eq!(mark_up(333, 3500), 450, "449.55 → 450");
        assert_eq!(mark_up(0, 3500), 0);
    }

    #[test]
    fn the_median_uses_only_the_most_recent() {
        let obs = vec![
            (at("2026-01-01"), 100_000),
            (at("2026-11-01"), 1200),
            (at("2026-11-02"), 1000),
            (at("2026-11-03"), 1100),
            (at("2026-11-04"), 900),
        ];
        assert_eq!(recent_median(&obs, 3), Some(1000), "the old outlier is not among the 3 newest");
        assert_eq!(recent_median(&obs, 4), Some(1050));
        assert_eq!(recent_median(&[], 5), None);
    }

    #[test]
    fn feeds_parse_from_csv_and_json_and_say_what_is_wrong() {
        let csv = b"sku,price,observed_at\nHXB-1,12.50,2026-11-01\nHXB-1,13.00,2026-11-02T10:00:00\n";
        let c = Comparables::parse(csv, "csv", "USD", "comps.csv").expect("csv");
        assert_eq!(c.for_sku("HXB-1").len(), 2);
        let json = br#"[{"sku":"HXB-1","price":"12.5","observed_at":"2026-11-01"}]"#;
        assert_eq!(Comparables::parse(json, "json", "USD", "feed").expect("json").for_sku("HXB-1")[0].1, 1250);
        let bad = Comparables::parse(b"sku,price,observed_at\nHXB-1,twelve,2026-11-01\n", "csv", "USD", "comps.csv").expect_err("bad");
        assert!(bad.to_string().contains("comps.csv") && bad.to_string().contains("entry 1: price"), "{bad}");
    }
}
