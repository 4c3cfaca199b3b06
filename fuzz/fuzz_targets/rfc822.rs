//! Raw RFC 822 mail as `POST /rfq/email` and `qm rfq import` receive it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartermaster::quotes::rfq;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = rfq::parse_email(data) {
        // What is read out holds: a sender with an @, and CSV attachments turn into lines.
        assert!(req.sender_email.contains('@'), "{:?}", req.sender_email);
        for (_, _, bytes) in &req.attachments {
            let _ = rfq::csv_lines(bytes);
        }
    }
});
