//! GS1 check digits (mod 10, weights 3,1 from the right), shared by every
//! code family: GTIN-8, UPC-A (GTIN-12), EAN-13 and GTIN-14.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gs1_documented_examples() {
        // GS1 General Specifications, check digit calculation examples.
        assert_eq!(check_digit("03600029145"), Some(2)); // UPC-A 036000291452
        assert_eq!(check_digit("400638133393"), Some(1)); // EAN-13 4006381333931
        assert_eq!(check_digit("9638507"), Some(4)); // GTIN-8 96385074
        assert_eq!(check_digit("1061414100041"), Some(5)); // GTIN-14 10614141000415
        assert!(has_valid_check_digit("036000291452"));
        assert!(!has_valid_check_digit("036000291453"));
        assert!(has_valid_check_digit("4006381333931"));
        assert!(has_valid_check_digit("96385074"));
        assert_eq!(check_digit("12a"), None);
    }
}
