//! Money as integer minor units, parsed exactly from the decimal strings the
//! channels send ("65.48"), never through floats. [`Money`] is the one type
//! amounts are added and multiplied in: every operation is checked against
//! [`Money::MAX`], so a total can never saturate or wrap into a negative.

use serde::{Deserialize, Serialize};

/// An amount in minor units (cents), at most [`Money::MAX`] in either direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

/// An amount beyond what Quartermaster and its peers can hold exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the amount is larger than the largest one allowed (999,999,999,999,999 minor units)")]
pub struct Overflow;

impl Money {
    pub const ZERO: Money = Money(0);
    /// 10^15 − 1 minor units: below 2^53, so WooCommerce (PHP floats) and
    /// JSON readers keep every amount exactly, and far below `i64::MAX`, so a
    /// product of a bounded price and a `u32` quantity is checked in i128.
    pub const MAX: Money = Money(999_999_999_999_999);

    /// An amount from minor units; `Err` beyond [`Money::MAX`].
    pub fn from_minor(minor: i64) -> Result<Money, Overflow> {
        if minor.unsigned_abs() > Self::MAX.0.unsigned_abs() { Err(Overflow) } else { Ok(Money(minor)) }
    }

    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Result<Money, Overflow> {
        Money::from_minor(self.0.checked_add(other.0).ok_or(Overflow)?)
    }

    /// The amount times a quantity.
    pub fn times(self, quantity: u32) -> Result<Money, Overflow> {
        let product = i128::from(self.0) * i128::from(quantity);
        Money::from_minor(i64::try_from(product).map_err(|_| Overflow)?)
    }

    /// `ppm` parts per million of the amount, rounded half away from zero (tax).
    pub fn parts_per_million(self, ppm: u32) -> Result<Money, Overflow> {
        let product = i128::from(self.0) * i128::from(ppm);
        let (q, r) = (product / 1_000_000, product % 1_000_000);
        let rounded = if r.abs() * 2 >= 1_000_000 { q + product.signum() } else { q };
        Money::from_minor(i64::try_from(rounded).map_err(|_| Overflow)?)
    }

    /// The sum of amounts, checked at every step.
    pub fn sum(amounts: impl IntoIterator<Item = Money>) -> Result<Money, Overflow> {
        amounts.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }

    /// Parses decimal text (`"65.48"`) with `exp` decimals; refuses amounts beyond [`Money::MAX`].
    pub fn parse(text: &str, exp: u32) -> Result<Money, MoneyError> {
        let minor = parse_minor(text, exp)?;
        Money::from_minor(minor).map_err(|_| MoneyError(text.chars().take(40).collect(), exp))
    }

    pub fn format(self, exp: u32) -> String {
        format_minor(self.0, exp)
    }
}

/// Minor-unit exponent of a currency (JPY has none, most have two).
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "CLP" | "ISK" | "VND" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    }
}

/// Why an amount did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an amount with at most {1} decimals (and at most 999,999,999,999,999 minor units)")]
pub struct MoneyError(pub String, pub u32);

/// Parses `"65.48"` (or `"-3.5"`, `"12"`) into minor units with `exp` decimals.
pub fn parse_minor(text: &str, exp: u32) -> Result<i64, MoneyError> {
    let err = || MoneyError(text.to_owned(), exp);
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() || frac.len() > exp as usize || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let whole: i64 = whole.parse().map_err(|_| err())?;
    let frac_padded = format!("{frac:0<width$}", width = exp as usize);
    let frac: i64 = if exp == 0 { 0 } else { frac_padded.parse().map_err(|_| err())? };
    let value = whole.checked_mul(10i64.pow(exp)).and_then(|w| w.checked_add(frac)).ok_or_else(err)?;
    Ok(if neg { -value } else { value })
}

/// Formats minor units back into the decimal text channels expect.
pub fn format_minor(minor: i64, exp: u32) -> String {
    if exp == 0 {
        return minor.to_string();
    }
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(exp);
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = exp as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_minor("65.48", 2), Ok(6548));
        assert_eq!(parse_minor("0.1", 2), Ok(10));
        assert_eq!(parse_minor("12", 2), Ok(1200));
        assert_eq!(parse_minor("-3.5", 2), Ok(-350));
        assert_eq!(parse_minor("1500", 0), Ok(1500));
        assert!(parse_minor("1.005", 2).is_err());
        assert!(parse_minor("abc", 2).is_err());
        assert!(parse_minor("", 2).is_err());
        assert_eq!(format_minor(6548, 2), "65.48");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(1500, 0), "1500");
    }

    #[test]
    fn arithmetic_is_checked_never_saturated() {
        // The reproduction: 4294967295 × 92233720368547758.07 on two lines.
        assert!(Money::parse("92233720368547758.07", 2).is_err());
        let big = Money::from_minor(Money::MAX.minor()).expect("fits");
        assert_eq!(big.times(u32::MAX), Err(Overflow));
        assert_eq!(big.checked_add(Money::from_minor(1).expect("fits")), Err(Overflow));
        assert_eq!(Money::sum([big, big]), Err(Overflow));
        assert_eq!(Money::from_minor(1234).expect("fits").times(3).expect("fits").minor(), 3702);
        assert_eq!(Money::from_minor(1000).expect("fits").parts_per_million(100_000).expect("fits").minor(), 100);
        assert_eq!(Money::from_minor(5).expect("fits").parts_per_million(100_000).expect("fits").minor(), 1);
        assert!(Money::from_minor(i64::MIN).is_err());
    }
}
