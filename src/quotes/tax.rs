//! Sales tax on quotes behind a [`TaxProvider`] trait: the native provider
//! reads the tenant's rate table (most specific match wins); an external
//! service is one more implementation. Rates are parts per million and
//! rounding is explicit: half away from zero, per line, in minor units.

use crate::{
    config::{Tax, TaxRate},
    money::{Money, Overflow},
};

/// Where a line ships and what it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaxQuery {
    pub country: String,
    pub state: String,
    pub postcode: String,
    pub tax_class: String,
}

/// The rate that applies and where it came from (kept in the snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    /// Parts per million (8.625 % = 86 250).
    pub ppm: u32,
    pub source: String,
}

/// A source of tax rates.
pub trait TaxProvider: Send + Sync {
    fn rate(&self, q: &TaxQuery) -> Rate;
    fn shipping_taxable(&self) -> bool;
}

/// Percent text (`"8.625"`) → parts per million, exactly.
pub fn percent_to_ppm(text: &str) -> Result<u32, String> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || whole.len() > 2 || frac.len() > 4 || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` is not a percentage such as 8.625"));
    }
    let whole: u32 = whole.parse().map_err(|_| format!("`{text}`: bad number"))?;
    let frac: u32 = format!("{frac:0<4}").parse().map_err(|_| format!("`{text}`: bad number"))?;
    Ok(whole * 10_000 + frac)
}

/// Tax on an amount, rounded half away from zero to a whole minor unit.
pub fn tax_on(amount: Money, ppm: u32) -> Result<Money, Overflow> {
    amount.parts_per_million(ppm)
}

/// The tenant's own rate table.
pub struct NativeTax {
    table: Tax,
}

impl NativeTax {
    pub fn new(table: Tax) -> Self {
        Self { table }
    }

    fn specificity(r: &TaxRate) -> usize {
        usize::from(r.state.is_some()) * 4 + r.postcode_prefix.as_ref().map_or(0, |p| 8 + p.len()) + usize::from(r.tax_class.is_some())
    }
}

impl TaxProvider for NativeTax {
    fn rate(&self, q: &TaxQuery) -> Rate {
        let best = self
            .table
            .rates
            .iter()
            .filter(|r| r.country.eq_ignore_ascii_case(&q.country))
            .filter(|r| r.state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case(&q.state)))
            .filter(|r| r.postcode_prefix.as_deref().is_none_or(|p| q.postcode.trim().starts_with(p)))
            .filter(|r| r.tax_class.as_deref().is_none_or(|c| c == q.tax_class))
            .max_by_key(|r| Self::specificity(r));
        match best.and_then(|r| percent_to_ppm(&r.rate).ok().map(|ppm| (r, ppm))) {
            Some((r, ppm)) => Rate {
                ppm,
                source: format!(
                    "native: {} {}%",
                    r.name.clone().unwrap_or_else(|| [r.country.as_str(), r.state.as_deref().unwrap_or("")].join(" ").trim().to_owned()),
                    r.rate
                ),
            },
            None => Rate { ppm: 0, source: format!("native: no rate for {} {} {}", q.country, q.state, q.postcode).trim().to_owned() },
        }
    }

    fn shipping_taxable(&self) -> bool {
        self.table.shipping_taxable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(country: &str, state: Option<&str>, prefix: Option<&str>, r: &str) -> TaxRate {
        TaxRate {
            country: country.into(),
            state: state.map(str::to_owned),
            postcode_prefix: prefix.map(str::to_owned),
            tax_class: None,
            rate: r.into(),
            name: None,
        }
    }

    #[test]
    fn percent_text_is_exact() {
        assert_eq!(percent_to_ppm("8.625"), Ok(86_250));
        assert_eq!(percent_to_ppm("10.25"), Ok(102_500));
        assert_eq!(percent_to_ppm("0"), Ok(0));
        assert!(percent_to_ppm("8.62501").is_err());
        assert!(percent_to_ppm("-1").is_err());
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        // $10.00 at 8.625% = 86.25 cents → 86; $10.02 → 86.4225 → 86; $10.03 → 86.50875 → 87.
        assert_eq!(tax_on(Money::from_minor(1000).expect("fits"), 86_250).expect("fits").minor(), 86);
        assert_eq!(tax_on(Money::from_minor(1003).expect("fits"), 86_250).expect("fits").minor(), 87);
        assert_eq!(tax_on(Money::from_minor(200).expect("fits"), 25_000).expect("fits").minor(), 5);
        assert_eq!(tax_on(Money::from_minor(-200).expect("fits"), 25_000).expect("fits").minor(), -5);
        assert_eq!(tax_on(Money::from_minor(1).expect("fits"), 500_000).expect("fits").minor(), 1, "exactly half rounds up");
    }

    #[test]
    fn the_most_specific_rate_wins() {
        let t = NativeTax::new(Tax {
            shipping_taxable: false,
            rates: vec![rate("US", Some("CA"), None, "7.25"), rate("US", Some("CA"), Some("941"), "8.625"), rate("US", None, None, "0")],
        });
        let q = |state: &str, zip: &str| TaxQuery {
            country: "US".into(),
            state: state.into(),
            postcode: zip.into(),
            tax_class: "standard".into(),
        };
        assert_eq!(t.rate(&q("CA", "94103")).ppm, 86_250);
        assert_eq!(t.rate(&q("CA", "90001")).ppm, 72_500);
        assert_eq!(t.rate(&q("OR", "97201")).ppm, 0);
        let none = t.rate(&TaxQuery { country: "DE".into(), ..TaxQuery::default() });
        assert_eq!(none.ppm, 0);
        assert!(none.source.contains("no rate"));
    }

    proptest! {
        #[test]
        fn tax_is_within_half_a_unit_of_the_exact_value(amount in -1_000_000_000i64..1_000_000_000, ppm in 0u32..300_000) {
            let t = tax_on(Money::from_minor(amount).expect("fits"), ppm).expect("fits").minor();
            let exact_times_million = i128::from(amount) * i128::from(ppm);
            let diff = (i128::from(t) * 1_000_000 - exact_times_million).abs();
            prop_assert!(diff <= 500_000);
        }
    }
}
