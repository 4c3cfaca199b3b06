//! What a barcode scanner (or a person) types at the pick station.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartermaster::inventory::gtin::{self, Code};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match gtin::normalize(text) {
        Ok(Code::UpcA(c)) => assert!(c.len() == 12 && gtin::has_valid_check_digit(&c), "{c}"),
        Ok(Code::Ean13(c)) => assert!(c.len() == 13 && gtin::has_valid_check_digit(&c) && !c.starts_with('0'), "{c}"),
        Ok(Code::Gtin8(c)) => assert!(c.len() == 8 && gtin::has_valid_check_digit(&c), "{c}"),
        Ok(Code::CasePack(c) | Code::VariableMeasure(c)) => assert!(c.len() == 14 && gtin::has_valid_check_digit(&c), "{c}"),
        Ok(Code::Sku(s)) => assert!(!s.is_empty() && s.len() <= 100, "{s:?}"),
        Err(_) => {}
    }
    if let Ok((codes, _)) = gtin::readings(text) {
        assert!(!codes.is_empty());
        // A normalised code, written out as the 14-digit GTIN it is, normalises to
        // itself: the lookup keys are stable. (A typed 8-digit code starting with
        // 0 or 1 is read as a UPC-E first, so the short form alone is ambiguous.)
        for c in codes {
            if let Code::UpcA(u) | Code::Ean13(u) | Code::Gtin8(u) = &c {
                assert_eq!(gtin::normalize(&format!("{u:0>14}")).map(|n| n.key()), Ok(c.key()), "{u}");
            }
        }
    }
});
