//! A tenant file as `qm config check` and `qm serve` read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartermaster::config::check::{self, ConfigError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(ConfigError::Invalid(problems)) = check::check_str("fuzz.yaml", text) {
        // Every problem says something, and names a line that exists (or none).
        // Lines as YAML counts them: \r\n, \r and \n each end one.
        let lines = text.replace("\r\n", "\n").bytes().filter(|b| *b == b'\n' || *b == b'\r').count() + 1;
        for p in &problems {
            assert!(!p.message.is_empty());
            assert!(p.line.is_none_or(|l| l >= 1 && l <= lines + 1), "{p} (file has {lines} lines)");
        }
    }
});
