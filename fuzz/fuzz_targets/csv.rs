//! Receiving CSVs (`POST /inventory/receive`, `qm inventory receive`) and an
//! RFQ's CSV line lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartermaster::{inventory::receive, quotes::rfq};

fuzz_target!(|data: &[u8]| {
    let _ = rfq::csv_lines(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (rows, errors) = receive::read_csv(text, "USD");
    for r in &rows {
        assert!(r.quantity > 0 && r.unit_cost_minor >= 0, "{r:?}");
        assert!(!r.lot_ref.is_empty() && r.lot_ref.chars().count() <= 64, "{r:?}");
        assert!(r.location.as_ref().is_none_or(|l| l.chars().count() <= 32), "{r:?}");
        assert!(!r.readings.is_empty(), "{r:?}");
    }
    assert!(rows.len() <= receive::MAX_ROWS);
    assert!(errors.iter().all(|e| e.line >= 1));
});
