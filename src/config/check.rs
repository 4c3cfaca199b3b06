//! Checking a tenant file: YAML syntax, the JSON Schema, typed parsing and
//! cross-field rules, with every problem reported at once as
//! `FILE:LINE key.path: what is wrong and what to write instead`.
//!
//! Messages never quote the offending value: a literal pasted where a
//! reference belongs is a secret, and it must not reach a terminal or log.

use std::{fmt, path::PathBuf};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::{TenantConfig, lines::LineIndex};

/// One thing wrong with a tenant file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as the operator named it.
    pub file: String,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `printers[1].station`; empty for the whole file.
    pub path: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file)?,
            None => write!(f, "{}", self.file)?,
        }
        if self.path.is_empty() { write!(f, " {}", self.message) } else { write!(f, " {}: {}", self.path, self.message) }
    }
}

/// Why a tenant file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The file was read and has these problems.
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

fn render(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// `/printers/1/station` → `printers[1].station`.
pub fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

struct Reporter<'a> {
    file: &'a str,
    index: LineIndex,
    problems: Vec<Problem>,
}

impl Reporter<'_> {
    fn at(&mut self, pointer: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line: self.index.line_of(pointer),
            path: dotted(pointer),
            message: message.into(),
        });
    }
}

/// The most aliases a tenant file may use (a billion-laughs file uses millions).
const MAX_ALIASES: usize = 64;

/// Checks a tenant file's text; `file` labels the problems.
pub fn check_str(file: &str, text: &str) -> Result<TenantConfig, ConfigError> {
    let index = match LineIndex::build(text) {
        Ok(i) => i,
        Err(e) => {
            return Err(ConfigError::Invalid(vec![Problem {
                file: file.to_owned(),
                line: Some(e.marker().line()),
                path: String::new(),
                message: format!("YAML syntax error: {} (column {})", e.info(), e.marker().col() + 1),
            }]));
        }
    };
    let whole_file = |line: usize, message: String| Problem { file: file.to_owned(), line: Some(line), path: String::new(), message };
    let mut early = Vec::new();
    if let Some(line) = index.second_document {
        early.push(whole_file(
            line,
            "a second YAML document starts here; a tenant file holds exactly one (remove the `---` and what follows, or merge it in)"
                .into(),
        ));
    }
    if let (n, Some(line)) = index.aliases
        && n > MAX_ALIASES
    {
        early.push(whole_file(
            line,
            format!("{n} YAML aliases (`*name`); a tenant file may use at most {MAX_ALIASES}: write the values out"),
        ));
    }
    let duplicates = index.duplicates.clone();
    let mut r = Reporter { file, index, problems: early };
    for (pointer, first, again) in duplicates {
        // Never quote either value: one of them may be a literal secret.
        r.problems.push(Problem {
            file: file.to_owned(),
            line: Some(again),
            path: dotted(&pointer),
            message: format!("this key is given twice (lines {first} and {again}); keep one"),
        });
    }
    if !r.problems.is_empty() {
        return Err(ConfigError::Invalid(sorted(r.problems)));
    }

    let value: Value = match serde_yaml::from_str(text) {
        Ok(Value::Null) => {
            r.problems
                .push(whole_file(1, "the file is empty (no keys, only comments or `~`); start from tenant-configs/example.yaml".into()));
            return Err(ConfigError::Invalid(r.problems));
        }
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_))) => {
            let found = json_type(&v);
            r.problems.push(whole_file(1, format!("the file is {found}, not a mapping of keys; start from tenant-configs/example.yaml")));
            return Err(ConfigError::Invalid(r.problems));
        }
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line()).or(r.index.aliases.1).or(Some(1));
            r.problems.push(Problem { file: file.to_owned(), line, path: String::new(), message: format!("cannot read as YAML: {e}") });
            return Err(ConfigError::Invalid(r.problems));
        }
    };

    schema_problems(&mut r, &value);
    cross_field_problems(&mut r, &value);
    if !r.problems.is_empty() {
        return Err(ConfigError::Invalid(sorted(r.problems)));
    }

    let config: TenantConfig = match serde_path_to_error::deserialize(&value) {
        Ok(c) => c,
        Err(e) => {
            let pointer = path_to_pointer(e.path());
            r.at(&pointer, e.inner().to_string());
            return Err(ConfigError::Invalid(r.problems));
        }
    };
    Ok(config)
}

/// Problems in file order; those without a line first.
fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| p.line.unwrap_or(0));
    problems
}

/// The line of a JSON Pointer in a YAML text, if the text parses.
pub fn locate(text: &str, pointer: &str) -> Option<usize> {
    LineIndex::build(text).ok()?.line_of(pointer)
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut p = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => p.push_str(&format!("/{index}")),
            Segment::Map { key } => p.push_str(&format!("/{key}")),
            Segment::Enum { variant } => p.push_str(&format!("/{variant}")),
            Segment::Unknown => {}
        }
    }
    p
}

/// The tenant schema and its compiled validator, built once per process
/// (every `/readyz` probe re-checks the tenant file). The schema ships inside
/// the binary and a unit test compiles it, so a failure here is a build
/// defect, not an operator error.
static SCHEMA: std::sync::LazyLock<(Value, jsonschema::Validator)> = std::sync::LazyLock::new(|| {
    let schema: Value = serde_json::from_str(super::SCHEMA).expect("tenant schema is valid JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("tenant schema compiles");
    (schema, validator)
});

fn schema_problems(r: &mut Reporter<'_>, value: &Value) {
    let (schema, validator) = &*SCHEMA;
    let tenant_id = value.pointer("/tenant/id").and_then(Value::as_str).unwrap_or("TENANT").to_owned();
    for error in validator.iter_errors(value) {
        let pointer = error.instance_path().as_str().to_owned();
        let schema_path = error.schema_path().as_str().to_owned();
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let allowed = allowed_keys(schema, &schema_path);
                for key in unexpected {
                    let hint = match closest(key, &allowed) {
                        Some(best) => format!("unknown key; did you mean `{best}`?"),
                        None if allowed.is_empty() => "unknown key".to_owned(),
                        None => format!("unknown key; expected one of: {}", allowed.join(", ")),
                    };
                    r.at(&format!("{pointer}/{key}"), hint);
                }
            }
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().unwrap_or_default();
                r.at(&format!("{pointer}/{key}"), format!("missing required key `{key}`"));
            }
            ValidationErrorKind::FalseSchema => {
                let method = value.pointer("/vault/auth/method").and_then(Value::as_str).unwrap_or("?");
                r.at(&pointer, format!("not allowed with vault auth method `{method}`"));
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => t.to_string(),
                    TypeKind::Multiple(ts) => format!("{ts:?}"),
                };
                let found = error.instance().as_ref().clone();
                r.at(&pointer, format!("expected {expected}, found {}", json_type(&found)));
            }
            ValidationErrorKind::Enum { options } => {
                let opts: Vec<String> = options.as_array().map(|a| a.iter().map(|o| o.to_string()).collect()).unwrap_or_default();
                r.at(&pointer, format!("expected one of: {}", opts.join(", ")));
            }
            ValidationErrorKind::Pattern { .. } => {
                let message = pattern_message(&schema_path, &pointer, &tenant_id, error.instance());
                r.at(&pointer, message);
            }
            // `if`/`then` rules surface through their inner keywords above.
            ValidationErrorKind::Constant { .. } => {}
            _ => r.at(&pointer, error.masked().to_string()),
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The keys allowed by the object schema that owns an `additionalProperties`.
fn allowed_keys(schema: &Value, schema_path: &str) -> Vec<String> {
    let parent = schema_path.strip_suffix("/additionalProperties").unwrap_or(schema_path);
    let mut keys: Vec<String> =
        schema.pointer(&format!("{parent}/properties")).and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    keys.sort();
    keys
}

fn closest(key: &str, allowed: &[String]) -> Option<String> {
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(key, a), a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.clone())
}

/// A pattern failure explained by what the field is, never by the raw regex,
/// and never quoting the value.
fn pattern_message(schema_path: &str, pointer: &str, tenant: &str, instance: &Value) -> String {
    let def = schema_path.split("/$defs/").nth(1).and_then(|s| s.split('/').next()).unwrap_or("");
    let is_ref = instance.as_str().is_some_and(|s| s.starts_with("ref+"));
    match def {
        "secretRef" if !is_ref => {
            let mut segs = pointer.trim_start_matches('/').split('/');
            let section = segs.next().unwrap_or("app");
            let key = segs.next_back().unwrap_or("value");
            format!("a literal secret is not allowed here; use ref+vault://secret/tenants/{tenant}/{section}#/{key}")
        }
        "secretRef" => "malformed reference; expected ref+vault://MOUNT/PATH[?version=N]#/KEY, ref+env://NAME or ref+file://PATH".into(),
        "bootstrapRef" => {
            "Vault login credentials must be ref+file://PATH (a Docker secret) or ref+env://NAME, never a literal or a vault reference"
                .into()
        }
        "color" => "expected a colour as #RRGGBB".into(),
        "email" => "expected an e-mail address".into(),
        "hostname" => "expected a host name such as shop.example.com (no scheme, no path)".into(),
        "httpUrl" => "expected an http:// or https:// URL".into(),
        "slug" => "expected an id of lowercase letters, digits, - and _ (at most 32)".into(),
        "percent" => "expected a percentage with at most two decimals, e.g. 35 or 2.9".into(),
        "accountCode" => "expected an account code such as 1200 or 4000-01".into(),
        _ => match pointer {
            "/tenant/id" => "expected 2-31 of a-z, 0-9 and -, starting with a letter".into(),
            "/tenant/currency" => "expected an ISO 4217 code such as USD".into(),
            "/server/listen" => "expected HOST:PORT such as 0.0.0.0:8080".into(),
            "/server/base_path" => "expected empty or a path such as /ops (leading /, no trailing /)".into(),
            p if p.starts_with("/printers/") => "expected an ipp:// or ipps:// URI of the print queue".into(),
            _ => "does not have the expected format (see tenant-configs/README.md)".into(),
        },
    }
}

/// Rules a JSON Schema cannot say well: references between sections. They
/// read the raw document, so they run (and report) even when the schema
/// found problems elsewhere.
fn cross_field_problems(r: &mut Reporter<'_>, doc: &Value) {
    let text = |p: &str| doc.pointer(p).and_then(Value::as_str);
    let list = |p: &str| doc.pointer(p).and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(cron) = text("/polling/inventory_cron") {
        if let Err(e) = validate_cron(cron) {
            r.at("/polling/inventory_cron", format!("not a valid six-field cron expression (sec min hour day month weekday): {e}"));
        }
    }
    if let Some(schedules) = doc.pointer("/schedules").and_then(Value::as_object) {
        for (job, cron) in schedules {
            if let Some(Err(e)) = cron.as_str().map(validate_cron) {
                r.at(&format!("/schedules/{job}"), format!("not a valid six-field cron expression (sec min hour day month weekday): {e}"));
            }
        }
    }
    // The store posts its deliveries to this URL. One on the server's own
    // port reaches it directly (no proxy between to rewrite the path), so its
    // path must be where this server answers them, under the base path: a 404
    // there makes WooCommerce disable the webhooks after five failures, and
    // orders wait for the poller. A URL through a proxy is the proxy's business.
    if let Some(Ok(url)) = text("/woocommerce/webhooks/delivery_url").map(url::Url::parse) {
        let base = text("/server/base_path").unwrap_or("").trim_end_matches('/');
        let expected = format!("{base}/webhooks/woocommerce");
        let listen_port = text("/server/listen").and_then(|l| l.rsplit(':').next()).and_then(|p| p.parse::<u16>().ok()).unwrap_or(8080);
        if url.port_or_known_default() == Some(listen_port) && url.path() != expected {
            let mut fixed = url.clone();
            fixed.set_path(&expected);
            let said = if base.is_empty() { String::new() } else { format!(" (server.base_path is {base})") };
            r.at(
                "/woocommerce/webhooks/delivery_url",
                format!("the path is {}, but this server takes deliveries at {expected}{said}: write {fixed}", url.path()),
            );
        }
    }
    for kind in ["supplier_catalogs", "competitors"] {
        for (i, source) in list(&format!("/sources/{kind}")).iter().enumerate() {
            if let Some(Err(e)) = source.get("schedule").and_then(Value::as_str).map(validate_cron) {
                r.at(
                    &format!("/sources/{kind}/{i}/schedule"),
                    format!("not a valid six-field cron expression (sec min hour day month weekday): {e}"),
                );
            }
        }
    }
    if doc.pointer("/reviews").is_some() && doc.pointer("/server/public_url").is_none() {
        r.at("/reviews", "review requests carry an unsubscribe link, built on server.public_url; set it (e.g. https://shop.example/ops)");
    }
    // What sends mail needs somewhere to send it.
    if doc.get("smtp").is_none() {
        for (key, what) in [("/reviews", "review requests"), ("/daily_summary", "the daily summary")] {
            if doc.pointer(key).is_some() {
                r.at(key, format!("{what} go out by mail, but there is no `smtp` section; add one (host, port, from) or remove this"));
            }
        }
        if doc.pointer("/alerts/recipients").and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
            r.at(
                "/alerts/recipients",
                "alerts go out by mail, but there is no `smtp` section; add one (host, port, from) or remove the recipients",
            );
        }
    }
    if let Some(tz) = text("/tenant/timezone") {
        if tz.parse::<chrono_tz::Tz>().is_err() {
            r.at("/tenant/timezone", "not an IANA time zone; write e.g. America/Chicago or Europe/Berlin");
        }
    }
    if let Some(cur) = text("/tenant/currency") {
        if cur.len() == 3 && !SUPPORTED_CURRENCIES.contains(&cur) {
            r.at("/tenant/currency", format!("currency not supported yet; supported: {}", SUPPORTED_CURRENCIES.join(" ")));
        }
    }
    let ids = |items: &[Value], key: &str| -> Vec<Option<String>> {
        items.iter().map(|i| i.get(key).and_then(Value::as_str).map(str::to_owned)).collect()
    };
    let stations = ids(&list("/stations"), "id");
    duplicates(r, "/stations", "id", &stations);
    duplicates(r, "/printers", "name", &ids(&list("/printers"), "name"));
    duplicates(r, "/boxes", "id", &ids(&list("/boxes"), "id"));
    let known: Vec<&str> = stations.iter().flatten().map(String::as_str).collect();
    for (i, station) in ids(&list("/printers"), "station").iter().enumerate() {
        if let Some(station) = station {
            if !known.contains(&station.as_str()) {
                let hint = if known.is_empty() { "none are defined under stations".to_owned() } else { known.join(", ") };
                r.at(&format!("/printers/{i}/station"), format!("no station `{station}`; stations: {hint}"));
            }
        }
    }
    let on = |m: &str| doc.pointer(&format!("/modules/{m}")).and_then(Value::as_bool);
    if on("ebay") == Some(true) && doc.get("ebay").is_none() {
        r.at("/modules/ebay", "the eBay module is on but there is no `ebay` section; add it or set modules.ebay: false");
    }
    if on("accounting") != Some(false) && doc.get("modules").is_some() && doc.get("accounting").is_none() {
        r.at(
            "/modules/accounting",
            "the accounting module is on but there is no `accounting` section; add it or set modules.accounting: false",
        );
    }
    let mut uses_vault = false;
    visit_strings(doc, &mut |s| uses_vault |= s.starts_with("ref+vault://"));
    if uses_vault && doc.get("vault").is_none() {
        r.at("/vault", "references use ref+vault:// but there is no `vault` section (address and auth)");
    }
}

const SUPPORTED_CURRENCIES: &[&str] = &["USD", "CAD", "EUR", "GBP", "AUD", "NZD", "MXN", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN"];

fn visit_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| visit_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| visit_strings(x, f)),
        _ => {}
    }
}

fn duplicates(r: &mut Reporter<'_>, list: &str, key: &str, ids: &[Option<String>]) {
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            if !seen.insert(id) {
                r.at(&format!("{list}/{i}/{key}"), format!("`{id}` is used twice; each {key} must be unique"));
            }
        }
    }
}

/// Parses a cron expression exactly as the job scheduler will.
pub fn validate_cron(expr: &str) -> Result<(), String> {
    parse_cron(expr).map(|_| ())
}

/// The parsed expression, read exactly as the job scheduler reads it.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_read_like_yaml() {
        assert_eq!(dotted("/printers/1/station"), "printers[1].station");
        assert_eq!(dotted("/woocommerce/consumer_secret"), "woocommerce.consumer_secret");
        assert_eq!(dotted(""), "");
    }

    #[test]
    fn the_example_tenant_is_valid() {
        let text = include_str!("../../tenant-configs/example.yaml");
        let config = check_str("example.yaml", text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.tenant.id.as_str(), "acme");
        assert_eq!(config.accounting.as_ref().map(|a| a.gateway_fees[0].percent.basis_points), Some(290));
    }

    #[test]
    fn a_webhook_delivery_url_outside_the_base_path_is_named_with_the_url_to_write() {
        let text = include_str!("../../tenant-configs/example.yaml");
        let with = |url: &str| {
            text.replacen(
                "woocommerce:\n",
                &format!(
                    "woocommerce:\n  webhooks:\n    secret: ref+vault://secret/tenants/acme/webhooks#/secret\n    delivery_url: {url}\n"
                ),
                1,
            )
        };
        let err = check_str("acme.yaml", &with("http://ops:8080/webhooks/woocommerce")).expect_err("the base path is /ops").to_string();
        let line = text.lines().position(|l| l == "woocommerce:").expect("woocommerce:") + 4;
        assert!(err.contains(&format!("acme.yaml:{line} woocommerce.webhooks.delivery_url")), "{err}");
        assert!(err.contains("the path is /webhooks/woocommerce") && err.contains("server.base_path is /ops"), "{err}");
        assert!(err.contains("write http://ops:8080/ops/webhooks/woocommerce"), "{err}");
        check_str("acme.yaml", &with("http://ops:8080/ops/webhooks/woocommerce")).unwrap_or_else(|e| panic!("{e}"));
        // Through a proxy on another port the path is the proxy's to map.
        check_str("acme.yaml", &with("https://shop.acme-industrial.example/webhooks/woocommerce")).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn cron_is_checked_like_the_scheduler() {
        assert!(validate_cron("0 */5 * * * *").is_ok());
        assert!(validate_cron("*/5 * * * *").is_err(), "five fields lack the seconds");
        assert!(validate_cron("0 61 * * * *").is_err());
    }
}
