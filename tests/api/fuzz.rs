//! The property tier over every body the server parses: random forms, JSON
//! and raw messages (quantities, prices, weights, dates, lengths, unicode,
//! control characters) sent to a running app on real MariaDB. Whatever
//! arrives: no 5xx, no request over 2 s of CPU, and no stored row that breaks
//! an invariant (negative totals, reservations beyond stock). Shrunk failures
//! print the request that broke it; add it to hardening.rs as a regression.
//!
//! `QM_FUZZ_CASES` sets the number of requests (default 300; CI's bound).

use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use serde_json::{Value, json};

use crate::{helpers::INTAKE_TOKEN, quotes::Shop};

/// Text that has broken parsers before, and random text of every kind.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", "0", "-1", "1", "12", " 12 ", "4294967295", "4294967296", "18446744073709551616", "-9223372036854775808",
            "92233720368547758.07", "9999999999999.99", "999999999999999", "1e308", "NaN", "inf", "0.001", "12.345", "-0.00",
            "١٢", "１２", "12,50", "2026-02-30", "9999-12-31", "0000-00-00", "/\t/evil.example/", "//evil.example", "/\\evil",
            "\u{0}", "\r\n", "\u{202e}", "\u{feff}12", "HXB-1", "012345000010", "00012345000010", "123", "a@b", "@", "x@y.z",
            "<script>alert(1)</script>", "'; DROP TABLE orders; --", "%00", "%ff", "Queensland",
        ]).prop_map(str::to_owned),
        2 => any::<String>(),
        2 => "[0-9]{1,25}",
        2 => "-?[0-9]{1,16}\\.[0-9]{0,4}",
        1 => "[\\x00-\\x1f\\x7f]{1,8}",
        1 => (1usize..3000).prop_map(|n| "é".repeat(n)),
    ]
}

/// One request a user or an attacker could send.
#[derive(Debug, Clone)]
enum Probe {
    Revise(Vec<(String, String)>),
    Destination(String, String, String),
    Lost(String),
    Receive(String, String, String, String),
    Adjust(String, String, String, String),
    SignIn(String, String, String),
    SignInPage(String),
    RfqJson(Value),
    RfqText(Vec<u8>, &'static str),
    Scan(u64, String, String),
    Pack(u64, Vec<(String, String)>),
    BuyerAccept(String, String),
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(vec!["product", "description", "quantity", "price", "reason", "weight", "serial", "box", "package"]), 1u32..6)
            .prop_map(|(f, n)| format!("{f}_{n}")),
        2 => prop::sample::select(vec!["customer_name", "customer_email", "customer_company", "country", "state", "postcode", "shipping", "note"])
            .prop_map(str::to_owned),
        1 => nasty(),
    ]
}

fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((field_name(), nasty()), 0..24)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        nasty().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
    ];
    let item = (nasty(), nasty(), leaf.clone()).prop_map(|(c, d, q)| json!({ "code": c, "description": d, "quantity": q }));
    (nasty(), nasty(), nasty(), nasty(), prop_oneof![leaf.clone(), prop::collection::vec(item, 0..6).prop_map(Value::from)])
        .prop_map(|(name, email, company, message, items)| json!({ "name": name, "email": email, "company": company, "message": message, "items": items }))
}

fn probe() -> impl Strategy<Value = Probe> {
    prop_oneof![
        4 => fields().prop_map(Probe::Revise),
        1 => (nasty(), nasty(), nasty()).prop_map(|(a, b, c)| Probe::Destination(a, b, c)),
        1 => nasty().prop_map(Probe::Lost),
        2 => (nasty(), nasty(), nasty(), prop_oneof![nasty(), (nasty(), nasty(), nasty()).prop_map(|(a, b, c)| format!("sku,qty,unit_cost,lot_ref,location,expires_on\nHXB-1,{a},{b},{c},{a},{b}\n{c},{a},1.00,L,,\n"))])
            .prop_map(|(a, b, c, d)| Probe::Receive(a, b, c, d)),
        2 => (nasty(), nasty(), prop::sample::select(vec!["count", "damage", "other", "bogus"]).prop_map(str::to_owned), nasty())
            .prop_map(|(a, b, c, d)| Probe::Adjust(a, b, c, d)),
        1 => (nasty(), nasty(), nasty()).prop_map(|(a, b, c)| Probe::SignIn(a, b, c)),
        1 => nasty().prop_map(Probe::SignInPage),
        2 => json_value().prop_map(Probe::RfqJson),
        2 => (prop_oneof![
                any::<Vec<u8>>(),
                (nasty(), nasty(), nasty()).prop_map(|(from, subject, body)| format!("From: {from}\r\nSubject: {subject}\r\n\r\n{body}\r\n").into_bytes()),
                (nasty(), nasty()).prop_map(|(a, b)| format!("name={a}&email=x%40y.example&items={b}").into_bytes()),
            ], prop::sample::select(vec!["message/rfc822", "application/x-www-form-urlencoded", "application/json", "text/plain"]))
            .prop_map(|(b, t)| Probe::RfqText(b, t)),
        2 => (0u64..4, nasty(), nasty()).prop_map(|(o, c, n)| Probe::Scan(o, c, n)),
        1 => (0u64..4, fields()).prop_map(|(o, f)| Probe::Pack(o, f)),
        1 => (nasty(), nasty()).prop_map(|(n, t)| Probe::BuyerAccept(n, t)),
    ]
}

/// This process's CPU time (user + system, all threads): the server runs in it.
/// From /proc/self/stat, in clock ticks of 1/100 s (Linux's fixed USER_HZ).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

async fn send(shop: &Shop, csrf: &str, quote: u64, lot: u64, p: &Probe) -> reqwest::Response {
    let app = &shop.app;
    let form = |pairs: Vec<(String, String)>| {
        let mut all = vec![("csrf".to_owned(), csrf.to_owned())];
        all.extend(pairs);
        all
    };
    let post = |path: String, pairs: Vec<(String, String)>| app.client.post(app.url(&path)).form(&form(pairs)).send();
    let r = match p {
        Probe::Revise(f) => post(format!("/quotes/{quote}/revise"), f.clone()).await,
        Probe::Destination(c, s, z) => {
            post("/rfqs/1/quote".into(), vec![("country".into(), c.clone()), ("state".into(), s.clone()), ("postcode".into(), z.clone())])
                .await
        }
        Probe::Lost(r) => post(format!("/quotes/{quote}/lost"), vec![("reason".into(), r.clone())]).await,
        Probe::Receive(s, i, d, c) => {
            post(
                "/inventory/receive".into(),
                vec![("supplier".into(), s.clone()), ("invoice".into(), i.clone()), ("date".into(), d.clone()), ("csv".into(), c.clone())],
            )
            .await
        }
        Probe::Adjust(l, d, r, n) => {
            let lot = if l.is_empty() { lot.to_string() } else { l.clone() };
            post(
                "/inventory/adjust".into(),
                vec![("lot".into(), lot), ("delta".into(), d.clone()), ("reason".into(), r.clone()), ("note".into(), n.clone())],
            )
            .await
        }
        Probe::SignIn(u, pw, next) => {
            // A separate browser: signing in as nobody must not end the fuzzer's own session.
            let other = app.browser();
            let page = other.get("/sign-in").await.text().await.unwrap_or_default();
            let token = regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
                .ok()
                .and_then(|re| re.captures(&page).map(|c| c[1].to_owned()))
                .unwrap_or_default();
            other
                .client
                .post(other.url("/sign-in"))
                .form(&[("csrf", token.as_str()), ("username", u), ("password", pw), ("next", next)])
                .send()
                .await
        }
        Probe::SignInPage(next) => app.client.get(app.url("/sign-in")).query(&[("next", next)]).send().await,
        Probe::RfqJson(v) => app.client.post(app.url("/rfq")).header("x-qm-intake-token", INTAKE_TOKEN).json(v).send().await,
        Probe::RfqText(b, ctype) => {
            let path = if *ctype == "message/rfc822" || *ctype == "text/plain" { "/rfq/email" } else { "/rfq" };
            app.client
                .post(app.url(path))
                .header("x-qm-intake-token", INTAKE_TOKEN)
                .header("content-type", *ctype)
                .body(b.clone())
                .send()
                .await
        }
        Probe::Scan(o, c, n) => post(format!("/pick/{o}/scan"), vec![("code".into(), c.clone()), ("count".into(), n.clone())]).await,
        Probe::Pack(o, f) => post(format!("/pick/{o}/pack"), f.clone()).await,
        Probe::BuyerAccept(n, t) => {
            let n = n.replace(['/', '?', '#'], "");
            app.client
                .post(app.url(&format!("/q/{}", quartermaster::web::error::urlencode(&n))))
                .form(&[("token", t.as_str()), ("csrf", csrf)])
                .send()
                .await
        }
    };
    r.unwrap_or_else(|e| panic!("{p:?}: no answer (the client waits 30 s): {e}"))
}

#[test]
fn no_form_json_or_message_gives_a_5xx_a_cpu_hang_or_a_broken_row() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let shop = rt.block_on(Shop::new());
    let (quote, csrf, lot) = rt.block_on(async {
        let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", crate::quotes::EML.as_bytes(), Some(INTAKE_TOKEN)).await;
        assert_eq!(status, 201, "{body}");
        let csrf = shop.back_office().await;
        let (status, location, page) = shop.post("/rfqs/1/quote", &[("csrf", &csrf), ("country", "US"), ("state", "CA")]).await;
        assert_eq!(status, 303, "{page}");
        let quote: u64 = location.rsplit('/').next().and_then(|s| s.parse().ok()).expect("quote id");
        let lot: u64 = sqlx::query_scalar("SELECT id FROM inventory_lots LIMIT 1").fetch_one(&shop.app.db.pool).await.expect("lot");
        (quote, csrf, lot)
    });
    let cases = std::env::var("QM_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, max_shrink_iters: 200, ..Config::default() });
    let result = runner.run(&probe(), |p| {
        let before = cpu_seconds();
        let r = rt.block_on(send(&shop, &csrf, quote, lot, &p));
        let cpu = cpu_seconds() - before;
        let status = r.status().as_u16();
        if let Ok(mut m) = statuses.lock() {
            *m.entry(status).or_default() += 1;
        }
        let body = rt.block_on(r.text()).unwrap_or_default();
        if status >= 500 {
            return Err(TestCaseError::fail(format!("HTTP {status} for {p:?}: {}", body.chars().take(300).collect::<String>())));
        }
        if cpu > 2.0 {
            return Err(TestCaseError::fail(format!("{cpu:.1} s of CPU for {p:?}")));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = statuses.into_inner().unwrap_or_default();
    eprintln!("fuzz: {cases} requests, answers by status: {seen:?}");
    // The probes must reach the handlers: a tier answered 403 (CSRF) or 404 throughout would prove nothing.
    let reached: u32 = seen.iter().filter(|(s, _)| matches!(**s, 200..=399 | 400 | 413 | 422 | 429)).map(|(_, n)| n).sum();
    assert!(reached * 2 >= seen.values().sum::<u32>(), "most probes never reached a handler: {seen:?}");
    // Whatever was stored keeps every invariant.
    let broken: Vec<(String, i64)> = rt.block_on(async {
        let pool = &shop.app.db.pool;
        let mut out = Vec::new();
        for (what, sql) in [
            ("negative quote totals", "SELECT COUNT(*) FROM quote_versions WHERE total_minor < 0 OR subtotal_minor < 0 OR tax_minor < 0"),
            ("negative quote lines", "SELECT COUNT(*) FROM quote_lines WHERE total_minor < 0 OR unit_price_minor < 0 OR tax_minor < 0"),
            ("reserved beyond stock", "SELECT COUNT(*) FROM inventory_lots WHERE qty_reserved > qty_remaining OR qty_remaining > qty_received"),
            ("negative lot costs", "SELECT COUNT(*) FROM inventory_lots WHERE unit_cost_minor < 0"),
            ("RFQ items past the bound", "SELECT COUNT(*) FROM (SELECT rfq_id FROM rfq_items GROUP BY rfq_id HAVING COUNT(*) > 500) t"),
            ("sent versions without a PDF", "SELECT COUNT(*) FROM quote_versions v LEFT JOIN quote_pdfs p ON p.quote_version_id = v.id WHERE v.state = 'sent' AND p.quote_version_id IS NULL"),
        ] {
            let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.expect(what);
            if n > 0 {
                out.push((what.to_owned(), n));
            }
        }
        out
    });
    assert!(broken.is_empty(), "stored rows break invariants: {broken:?}");
}
