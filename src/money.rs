//! Money as integer minor units, parsed exactly from the decimal strings the
//! channels send ("65.48"), never through floats.

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
#[error("`{0}` is not an amount with at most {1} decimals")]
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
}
