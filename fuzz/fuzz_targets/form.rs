//! Form bodies: the quote editor's (`POST /quotes/{id}/revise`), read into
//! lines and amounts, and money as people type it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartermaster::{money::Money, quotes::form};

fuzz_target!(|data: &[u8]| {
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data) else { return };
    if let Ok((_, lines, shipping, _)) = form::read_revision(&fields, 2) {
        assert!(Money::from_minor(shipping).is_ok(), "{shipping}");
        for (_, l) in &lines {
            assert!(l.quantity > 0);
            if let Some((p, _)) = &l.manual_price {
                assert!(Money::from_minor(*p).is_ok(), "{p}");
            }
        }
    }
    for (_, v) in &fields {
        if let Ok(m) = Money::parse(v, 2) {
            // What parses formats back to the same amount.
            assert_eq!(Money::parse(&m.format(2), 2), Ok(m), "{v:?}");
        }
    }
});
