//! What a scanner sends, normalised: GS1 codes (GTIN-14, EAN-13, UPC-A,
//! UPC-E, GTIN-8) or a SKU.
//!
//! A UPC in disguise becomes UPC-A: a GTIN-14 starting `00`, an EAN-13
//! starting `0`, a UPC-E (expanded). What is not a UPC is not reduced: six
//! leading zeros in a GTIN-14 mean a GTIN-8; a GTIN-14 indicator 1–8 is a
//! case pack (a different item, mapped to its unit through the tenant's pack
//! table); indicator 9 is a variable-measure item. Check digits are GS1's
//! (mod 10, weights 3,1 from the right).

use std::fmt;

/// The check digit for `body` (the code without its last digit), or `None`
/// if `body` holds anything but ASCII digits.
pub fn check_digit(body: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, c) in body.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 { d * 3 } else { d };
    }
    Some(((10 - sum % 10) % 10) as u8)
}

/// Whether `code` (all digits, check digit last) has a correct check digit.
pub fn has_valid_check_digit(code: &str) -> bool {
    match code.len() {
        8 | 12 | 13 | 14 => {
            let (body, last) = code.split_at(code.len() - 1);
            check_digit(body).zip(last.bytes().next()).is_some_and(|(d, l)| l == b'0' + d)
        }
        _ => false,
    }
}

/// A scanned or typed code after normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Code {
    /// 12-digit UPC-A (including UPCs that arrived as GTIN-14, EAN-13 or UPC-E).
    UpcA(String),
    /// 13-digit EAN-13 that is not a UPC.
    Ean13(String),
    /// 8-digit GTIN-8 (EAN-8).
    Gtin8(String),
    /// 14-digit GTIN-14 with indicator 1–8: a case pack of some unit.
    CasePack(String),
    /// 14-digit GTIN-14 with indicator 9: a variable-measure trade item.
    VariableMeasure(String),
    /// Not a barcode number: the merchant's own SKU, as typed (trimmed).
    Sku(String),
}

impl Code {
    /// The canonical lookup key (`upc:…`, `ean:…`, `gtin8:…`, `pack:…`, `vm:…`, `sku:…`).
    pub fn key(&self) -> String {
        match self {
            Code::UpcA(c) => format!("upc:{c}"),
            Code::Ean13(c) => format!("ean:{c}"),
            Code::Gtin8(c) => format!("gtin8:{c}"),
            Code::CasePack(c) => format!("pack:{c}"),
            Code::VariableMeasure(c) => format!("vm:{c}"),
            Code::Sku(s) => format!("sku:{}", s.to_uppercase()),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::UpcA(c) => write!(f, "UPC-A {c}"),
            Code::Ean13(c) => write!(f, "EAN-13 {c}"),
            Code::Gtin8(c) => write!(f, "GTIN-8 {c}"),
            Code::CasePack(c) => write!(f, "GTIN-14 case pack {c}"),
            Code::VariableMeasure(c) => write!(f, "GTIN-14 variable measure {c}"),
            Code::Sku(s) => write!(f, "SKU {s}"),
        }
    }
}

/// Why input is not a usable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GtinError {
    #[error("nothing was scanned")]
    Empty,
    #[error("{len}-digit number is not a GTIN (GTINs have 8, 12, 13 or 14 digits)")]
    Length { len: usize },
    #[error("check digit is wrong: {code} should end in {expected}")]
    CheckDigit { code: String, expected: u8 },
    #[error("not a UPC-E: number system must be 0 or 1")]
    UpcENumberSystem,
    #[error("contains characters a barcode or SKU cannot have")]
    BadCharacters,
}

/// Every way to read what was scanned, in the order to try them: the GTIN
/// reading when the digits form one, then the same text as a SKU (merchants
/// number products `123` or `40021`). When the digits are not a valid GTIN,
/// the reason comes along, for the message if the SKU is not found either.
pub fn readings(input: &str) -> Result<(Vec<Code>, Option<GtinError>), GtinError> {
    let typed = input.trim();
    match normalize(input) {
        Ok(Code::Sku(s)) => Ok((vec![Code::Sku(s)], None)),
        Ok(code) => Ok((vec![code, Code::Sku(typed.to_owned())], None)),
        Err(e @ (GtinError::Empty | GtinError::BadCharacters)) => Err(e),
        Err(e) if typed.len() <= 100 => Ok((vec![Code::Sku(typed.to_owned())], Some(e))),
        Err(e) => Err(e),
    }
}

/// Normalises what a scanner or a person typed.
pub fn normalize(input: &str) -> Result<Code, GtinError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(GtinError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        let ok = s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./#+ ".contains(c));
        return if ok { Ok(Code::Sku(s.to_owned())) } else { Err(GtinError::BadCharacters) };
    }
    match s.len() {
        14 => {
            verify(s)?;
            match s.as_bytes()[0] {
                b'0' => Ok(reduce13(&s[1..])),
                b'9' => Ok(Code::VariableMeasure(s.to_owned())),
                _ => Ok(Code::CasePack(s.to_owned())),
            }
        }
        13 => {
            verify(s)?;
            Ok(reduce13(s))
        }
        12 => {
            verify(s)?;
            Ok(reduce12(s))
        }
        8 => {
            // A UPC-E and a GTIN-8 look alike. UPC-E codes start with number
            // system 0 or 1 and their check digit belongs to the expansion;
            // GTIN-8s starting with 0 are restricted-circulation numbers.
            if matches!(s.as_bytes()[0], b'0' | b'1') {
                if let Ok(upc) = expand_upce(s) {
                    if has_valid_check_digit(&upc) {
                        // The expansion is canonicalised like a typed UPC-A: `00000000`
                        // expands to 000000000000, which is the GTIN-8 00000000.
                        return Ok(reduce12(&upc));
                    }
                }
            }
            verify(s)?;
            Ok(Code::Gtin8(s.to_owned()))
        }
        len => Err(GtinError::Length { len }),
    }
}

fn verify(code: &str) -> Result<(), GtinError> {
    if has_valid_check_digit(code) {
        return Ok(());
    }
    let body = &code[..code.len() - 1];
    let expected = check_digit(body).unwrap_or(0);
    Err(GtinError::CheckDigit { code: code.to_owned(), expected })
}

/// A valid 13-digit code: EAN-13, or a UPC-A / GTIN-8 padded with zeros.
fn reduce13(s: &str) -> Code {
    if let Some(rest) = s.strip_prefix("00000") {
        return Code::Gtin8(rest.to_owned());
    }
    match s.strip_prefix('0') {
        Some(upc) => reduce12(upc),
        None => Code::Ean13(s.to_owned()),
    }
}

/// A valid 12-digit code: UPC-A, or a GTIN-8 padded with four zeros.
fn reduce12(s: &str) -> Code {
    match s.strip_prefix("0000") {
        Some(rest) => Code::Gtin8(rest.to_owned()),
        None => Code::UpcA(s.to_owned()),
    }
}

/// Expands an 8-digit UPC-E (number system, six digits, check digit) to the
/// 12-digit UPC-A it stands for (the check digit is carried over).
pub fn expand_upce(code: &str) -> Result<String, GtinError> {
    let b = code.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return Err(GtinError::Length { len: b.len() });
    }
    let ns = b[0] as char;
    if ns != '0' && ns != '1' {
        return Err(GtinError::UpcENumberSystem);
    }
    let d: Vec<char> = code[1..7].chars().collect();
    let check = b[7] as char;
    let (manufacturer, product): (String, String) = match d[5] {
        '0' | '1' | '2' => (format!("{}{}{}00", d[0], d[1], d[5]), format!("00{}{}{}", d[2], d[3], d[4])),
        '3' => (format!("{}{}{}00", d[0], d[1], d[2]), format!("000{}{}", d[3], d[4])),
        '4' => (format!("{}{}{}{}0", d[0], d[1], d[2], d[3]), format!("0000{}", d[4])),
        _ => (format!("{}{}{}{}{}", d[0], d[1], d[2], d[3], d[4]), format!("0000{}", d[5])),
    };
    Ok(format!("{ns}{manufacturer}{product}{check}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `gtin` fuzz target: a UPC-E whose expansion starts with
    /// four zeros got another lookup key than the same code typed as UPC-A.
    #[test]
    fn every_form_of_one_code_has_one_key() {
        let upce = normalize("\n00000000").expect("valid");
        let upca = normalize("000000000000").expect("valid");
        assert_eq!(upce.key(), upca.key());
        for form in ["00000000", "000000000000", "0000000000000", "00000000000000"] {
            assert_eq!(normalize(form).map(|c| c.key()), Ok("gtin8:00000000".to_owned()), "{form}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn gs1_documented_examples() {
        // Check digits of GS1's and the standards' published examples.
        assert_eq!(check_digit("03600029145"), Some(2)); // UPC-A 036000291452
        assert_eq!(check_digit("400638133393"), Some(1)); // EAN-13 4006381333931
        assert_eq!(check_digit("9638507"), Some(4)); // GTIN-8 96385074
        assert_eq!(check_digit("1061414100041"), Some(5)); // GTIN-14 10614141000415 (GS1 US)
        assert!(has_valid_check_digit("036000291452"));
        assert!(!has_valid_check_digit("036000291453"));
        assert_eq!(check_digit("12a"), None);
    }

    #[test]
    fn upcs_in_disguise_become_upc_a() {
        assert_eq!(normalize("00036000291452"), Ok(Code::UpcA("036000291452".into())), "GTIN-14 with 00");
        assert_eq!(normalize("0036000291452"), Ok(Code::UpcA("036000291452".into())), "EAN-13 with 0");
        assert_eq!(normalize("036000291452"), Ok(Code::UpcA("036000291452".into())));
        assert_eq!(normalize(" 036000291452\r\n"), Ok(Code::UpcA("036000291452".into())), "scanner whitespace");
        // UPC-E 04252614 expands to 042100005264 (the standard textbook example).
        assert_eq!(expand_upce("04252614"), Ok("042100005264".into()));
        assert_eq!(normalize("04252614"), Ok(Code::UpcA("042100005264".into())));
    }

    #[test]
    fn what_is_not_a_upc_is_not_reduced() {
        assert_eq!(normalize("4006381333931"), Ok(Code::Ean13("4006381333931".into())));
        assert_eq!(normalize("00000096385074"), Ok(Code::Gtin8("96385074".into())), "six zeros: GTIN-8");
        assert_eq!(normalize("96385074"), Ok(Code::Gtin8("96385074".into())));
        assert_eq!(normalize("10614141000415"), Ok(Code::CasePack("10614141000415".into())));
        let vm = format!("9061414100004{}", check_digit("9061414100004").unwrap_or(0));
        assert_eq!(normalize(&vm), Ok(Code::VariableMeasure(vm.clone())));
        assert_eq!(normalize("BRG-6203"), Ok(Code::Sku("BRG-6203".into())));
    }

    #[test]
    fn malformed_codes_say_why() {
        assert_eq!(normalize(""), Err(GtinError::Empty));
        assert_eq!(normalize("12345"), Err(GtinError::Length { len: 5 }));
        assert_eq!(normalize("036000291453"), Err(GtinError::CheckDigit { code: "036000291453".into(), expected: 2 }));
        assert_eq!(normalize("ABC<script>"), Err(GtinError::BadCharacters));
        assert!(normalize("036000291453").expect_err("bad check digit").to_string().contains("should end in 2"));
    }

    fn with_check(body: &str) -> String {
        format!("{body}{}", check_digit(body).unwrap_or(0))
    }

    proptest! {
        #[test]
        fn a_computed_check_digit_always_validates(body in "[0-9]{7}|[0-9]{11,13}") {
            prop_assert!(has_valid_check_digit(&with_check(&body)));
        }

        #[test]
        fn any_single_digit_error_is_caught(body in "[0-9]{11}", pos in 0usize..12, delta in 1u8..10) {
            let good = with_check(&body);
            let mut bytes = good.clone().into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let bad = String::from_utf8(bytes).unwrap_or_default();
            prop_assert!(!has_valid_check_digit(&bad), "{} vs {}", good, bad);
        }

        #[test]
        fn a_upc_round_trips_through_every_padding(body in "[1-9][0-9]{10}") {
            let upc = with_check(&body);
            let expected = Code::UpcA(upc.clone());
            prop_assert_eq!(normalize(&upc), Ok(expected.clone()));
            prop_assert_eq!(normalize(&format!("0{upc}")), Ok(expected.clone()));
            prop_assert_eq!(normalize(&format!("00{upc}")), Ok(expected));
        }

        #[test]
        fn an_ean13_round_trips_through_gtin14(body in "[1-9][0-9]{11}") {
            let ean = with_check(&body);
            prop_assert_eq!(normalize(&format!("0{ean}")), Ok(Code::Ean13(ean)));
        }

        #[test]
        fn case_packs_keep_their_indicator(ind in 1u8..=8, body in "[0-9]{12}") {
            let code = with_check(&format!("{ind}{body}"));
            prop_assert_eq!(normalize(&code), Ok(Code::CasePack(code.clone())));
        }

        #[test]
        fn upce_expansion_keeps_the_check_digit_valid(ns in 0u8..=1, digits in "[0-9]{6}") {
            // Build a UPC-E whose check digit is that of its expansion.
            let provisional = format!("{ns}{digits}0");
            let expanded = expand_upce(&provisional).unwrap_or_default();
            let check = check_digit(&expanded[..11]).unwrap_or(0);
            let upce = format!("{ns}{digits}{check}");
            // It reads as its expansion does (a UPC-A, or the GTIN-8 an expansion with four leading zeros is).
            let upca = format!("{}{}", &expanded[..11], check);
            prop_assert!(has_valid_check_digit(&upca));
            prop_assert_eq!(normalize(&upce), normalize(&upca));
        }

        #[test]
        fn normalize_never_panics(s in "\\PC{0,40}") {
            let _ = normalize(&s);
        }
    }
}
