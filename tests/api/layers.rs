//! The arrows point down: no module below `web` imports it, and the
//! channels (WooCommerce, eBay) know nothing of the domains that call them.

use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&path).display().to_string();
            out.push((rel, std::fs::read_to_string(&path).expect("read")));
        }
    }
}

/// (file, line) of each use of `needle` in the files under `under` that `skip` does not exempt.
fn uses(under: &str, needles: &[&str], skip: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut found = Vec::new();
    for (file, text) in files {
        if !file.starts_with(under) || skip.iter().any(|s| file.starts_with(s)) {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if needles.iter().any(|n| line.contains(n)) && !line.trim_start().starts_with("//") {
                found.push(format!("{file}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn no_module_below_web_imports_web() {
    // Above web: the wiring (startup), the verbs (cli), the binary and the crate root.
    let above = ["src/web/", "src/startup.rs", "src/cli.rs", "src/main.rs", "src/lib.rs"];
    let found = uses("src/", &["crate::web", "super::web", "web::AppState", "web::session"], &above);
    assert!(found.is_empty(), "modules below web import it:\n{}", found.join("\n"));
}

#[test]
fn channels_know_nothing_of_the_domains_above_them() {
    let found = uses("src/channels/", &["crate::quotes", "crate::station", "crate::jobs", "crate::inventory", "crate::app"], &[]);
    assert!(found.is_empty(), "a channel imports a domain that calls it:\n{}", found.join("\n"));
}
