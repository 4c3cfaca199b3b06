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

/// How a locale writes amounts: the group and decimal separators, and
/// whether the symbol comes first (`$1,234.50`) or last (`1.234,50 €`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    group: &'static str,
    decimal: &'static str,
    symbol_first: bool,
    /// The locale's country (`US`, `CA`, `DE`…): where a currency's symbol is its own.
    country: &'static str,
}

impl Locale {
    /// The conventions of a BCP 47 tag (`en-US`, `de-DE`, `fr-CA`…); unknown tags write as `en-US`.
    pub fn parse(tag: &str) -> Locale {
        let (lang, country) = tag.split_once(['-', '_']).unwrap_or((tag, ""));
        let country: &'static str = match country.to_ascii_uppercase().as_str() {
            "US" => "US",
            "CA" => "CA",
            "GB" => "GB",
            "IE" => "IE",
            "AU" => "AU",
            "NZ" => "NZ",
            "MX" => "MX",
            "DE" => "DE",
            "AT" => "AT",
            "CH" => "CH",
            "FR" => "FR",
            "BE" => "BE",
            "NL" => "NL",
            "ES" => "ES",
            "IT" => "IT",
            "SE" => "SE",
            "NO" => "NO",
            "DK" => "DK",
            "PL" => "PL",
            "JP" => "JP",
            _ => "",
        };
        // Narrow no-break space: what CLDR uses to group in French and the Nordic languages.
        const NNBSP: &str = "\u{202f}";
        let (group, decimal, symbol_first) = match (lang.to_ascii_lowercase().as_str(), country) {
            ("de", "CH") => ("\u{2019}", ".", true),
            ("de" | "nl" | "es" | "it" | "da", _) => (".", ",", lang.eq_ignore_ascii_case("nl")),
            ("fr" | "sv" | "nb" | "no" | "pl", _) => (NNBSP, ",", false),
            _ => (",", ".", true),
        };
        Locale { group, decimal, symbol_first, country }
    }

    /// The symbol of `currency` here: `$` for the local dollar, `US$` elsewhere, and so on.
    fn symbol(self, currency: &str) -> String {
        let local = |c: &str| self.country == c;
        match currency {
            "USD" if local("US") => "$".into(),
            "USD" => "US$".into(),
            "CAD" if local("CA") => "$".into(),
            "CAD" => "CA$".into(),
            "AUD" if local("AU") => "$".into(),
            "AUD" => "A$".into(),
            "NZD" if local("NZ") => "$".into(),
            "NZD" => "NZ$".into(),
            "MXN" if local("MX") => "$".into(),
            "MXN" => "MX$".into(),
            "EUR" => "€".into(),
            "GBP" => "£".into(),
            "JPY" => "¥".into(),
            "CHF" => "CHF".into(),
            "SEK" | "NOK" => "kr".into(),
            "DKK" => "kr.".into(),
            "PLN" => "zł".into(),
            other => other.to_owned(),
        }
    }
}

/// An amount as a customer reads it in `locale`: symbol, thousands grouped,
/// the currency's decimals (`$1,234.50`, `1.234,50 €`, `¥1,500`).
pub fn display(minor: i64, currency: &str, locale: Locale) -> String {
    let exp = exponent(currency);
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(exp);
    let whole = (abs / scale).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3 * locale.group.len());
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push_str(locale.group);
        }
        grouped.push(ch);
    }
    let number = if exp == 0 { grouped } else { format!("{grouped}{}{:0width$}", locale.decimal, abs % scale, width = exp as usize) };
    let sign = if minor < 0 { "-" } else { "" };
    let symbol = locale.symbol(currency);
    if locale.symbol_first {
        let space = if symbol.chars().all(char::is_alphabetic) { "\u{a0}" } else { "" };
        format!("{sign}{symbol}{space}{number}")
    } else {
        format!("{sign}{number}\u{a0}{symbol}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_each_locale_writes_them() {
        let us = Locale::parse("en-US");
        assert_eq!(display(123_450, "USD", us), "$1,234.50");
        assert_eq!(display(-5, "USD", us), "-$0.05");
        assert_eq!(display(123_456_789_012, "USD", us), "$1,234,567,890.12");
        assert_eq!(display(150_000, "CAD", us), "CA$1,500.00");
        assert_eq!(display(150_000, "CAD", Locale::parse("en-CA")), "$1,500.00");
        assert_eq!(display(1500, "JPY", us), "¥1,500");
        assert_eq!(display(123_450, "EUR", Locale::parse("de-DE")), "1.234,50\u{a0}€");
        assert_eq!(display(123_450, "EUR", Locale::parse("fr-FR")), "1\u{202f}234,50\u{a0}€");
        assert_eq!(display(99, "GBP", Locale::parse("en-GB")), "£0.99");
        assert_eq!(display(123_450, "CHF", Locale::parse("de-CH")), "CHF\u{a0}1\u{2019}234.50");
        assert_eq!(display(100, "USD", Locale::parse("xx")), "US$1.00");
    }

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
