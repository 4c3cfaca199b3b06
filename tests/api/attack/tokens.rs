//! The tokens: quote links, unsubscribe links, the metrics bearer and
//! sessions. Each is 256 bits (64 hex characters) where we make it; each is
//! checked in constant time; a link works for its own quote and revision
//! only; none reaches a log line, and no page whose URL carries one lets a
//! `Referer` take it anywhere.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use syn::visit::Visit;

use crate::{
    helpers::{INTAKE_TOKEN, csrf_in},
    quotes::{Shop, accept_link},
};

/// A quote made from an RFQ and sent; returns (id, number, acceptance link).
async fn sent_quote(shop: &Shop, csrf: &str, buyer: &str) -> (u64, String, String) {
    let rfq = format!("From: \"{buyer}\" <{buyer}@buyer-co.example>\r\nTo: sales@testco.example\r\nSubject: RFQ\r\n\r\nHXB-1 x 2\r\n");
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", rfq.as_bytes(), Some(INTAKE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    let (status, location, body) = shop
        .post(&format!("/rfqs/{}/quote", body["rfq"]), &[("csrf", csrf), ("country", "US"), ("state", "CA"), ("postcode", "94103")])
        .await;
    assert_eq!(status, 303, "{body}");
    let id: u64 = location.rsplit('/').next().and_then(|i| i.parse().ok()).expect("quote");
    let (status, _, page) = shop.post(&format!("/quotes/{id}/send"), &[("csrf", csrf)]).await;
    assert_eq!(status, 200, "{page}");
    let number: String =
        sqlx::query_scalar("SELECT number FROM quotes WHERE id = ?").bind(id).fetch_one(&shop.app.db.pool).await.expect("number");
    (id, number, accept_link(&page))
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_works_for_its_own_quote_and_revision_only() {
    let shop = Shop::new().await;
    let csrf = shop.back_office().await;
    let (a, a_number, a1) = sent_quote(&shop, &csrf, "ann").await;
    let (_, b_number, b1) = sent_quote(&shop, &csrf, "ben").await;
    assert_eq!(token_of(&a1).len(), 64, "256 bits, hex: {a1}");
    // A second revision of A: a new link, and the first one is dead.
    let page = shop.app.get(&format!("/quotes/{a}")).await.text().await.expect("page");
    let (status, _, body) = shop
        .post(
            &format!("/quotes/{a}/revise"),
            &[
                ("csrf", csrf_in(&page).as_str()),
                ("customer_name", "Ann"),
                ("customer_email", "ann@buyer-co.example"),
                ("country", "US"),
                ("state", "CA"),
                ("postcode", "94103"),
                ("product_1", "HXB-1"),
                ("quantity_1", "3"),
                ("note", "three"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let (status, _, page) = shop.post(&format!("/quotes/{a}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{page}");
    let a2 = accept_link(&page);
    let buyer = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let open = |number: &str, token: &str| {
        let url = format!("{}/q/{number}?token={token}", shop.app.url(""));
        let buyer = buyer.clone();
        async move { buyer.get(url).send().await.expect("GET").status().as_u16() }
    };
    assert_eq!(open(&a_number, &token_of(&a2)).await, 200, "the new revision's link");
    assert_eq!(open(&a_number, &token_of(&a1)).await, 403, "the first revision's link, once R1 is sent");
    assert_eq!(open(&b_number, &token_of(&a2)).await, 403, "A's link on B");
    assert_eq!(open(&a_number, &token_of(&b1)).await, 403, "B's link on A");
    assert_eq!(open(&b_number, &token_of(&b1)).await, 200, "B's own");
    // Accepting with the dead link is refused and makes no order.
    let page = buyer.get(format!("{}{a2}", shop.app.url(""))).send().await.expect("GET").text().await.expect("page");
    let r = buyer
        .post(format!("{}/q/{a_number}", shop.app.url("")))
        .form(&[("csrf", csrf_in(&page).as_str()), ("token", &token_of(&a1))])
        .send()
        .await
        .expect("accept");
    assert_eq!(r.status().as_u16(), 403);
    let orders: Option<u64> =
        sqlx::query_scalar("SELECT woo_order_id FROM quotes WHERE id = ?").bind(a).fetch_one(&shop.app.db.pool).await.expect("q");
    assert_eq!(orders, None);
    // An unsubscribe link is for its own address only.
    let key = quartermaster::config::Secret::new("review-link-key-for-the-token-walk");
    let t = quartermaster::mail::optout::token(&key, "ann@buyer-co.example");
    assert!(quartermaster::mail::optout::verify(&key, "ann@buyer-co.example", &t));
    assert!(!quartermaster::mail::optout::verify(&key, "ben@buyer-co.example", &t), "ann's link on ben");
    assert_eq!(t.len(), 64, "256 bits");
}

/// The names a token-holding value goes by in `src/`.
const TOKENISH: [&str; 6] = ["token", "csrf", "signature", "mac", "bearer", "secret"];

/// `a == b` / `a != b` where a side names a token: a comparison that stops at
/// the first differing byte.
fn plain_token_comparisons(source: &str) -> Vec<String> {
    struct Finder(Vec<String>);
    /// The name a value goes by: a variable's, a field's, what a call or a
    /// conversion (`as_bytes()`, `as_deref()`, `&x`, `Some(x)`) is made of.
    fn name_of(e: &syn::Expr) -> Option<String> {
        match e {
            syn::Expr::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            syn::Expr::Field(f) => match &f.member {
                syn::Member::Named(n) => Some(n.to_string()),
                syn::Member::Unnamed(_) => name_of(&f.base),
            },
            syn::Expr::Reference(r) => name_of(&r.expr),
            syn::Expr::Unary(u) => name_of(&u.expr),
            syn::Expr::Paren(p) => name_of(&p.expr),
            syn::Expr::MethodCall(m) => {
                let method = m.method.to_string();
                if ["as_bytes", "as_str", "as_deref", "as_ref", "expose", "trim", "to_owned", "to_string", "clone"]
                    .contains(&method.as_str())
                {
                    name_of(&m.receiver)
                } else {
                    Some(method)
                }
            }
            syn::Expr::Call(c) if c.args.len() == 1 && matches!(&*c.func, syn::Expr::Path(p) if p.path.is_ident("Some")) => {
                name_of(&c.args[0])
            }
            _ => None,
        }
    }
    fn names_a_token(e: &syn::Expr) -> bool {
        name_of(e).is_some_and(|n| {
            let n = n.to_lowercase();
            TOKENISH.iter().any(|t| n.split('_').any(|w| w == *t || w == format!("{t}s")))
        })
    }
    fn literal(e: &syn::Expr) -> bool {
        matches!(e, syn::Expr::Lit(_)) || matches!(e, syn::Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "None"))
    }
    impl<'a> Visit<'a> for Finder {
        fn visit_expr_binary(&mut self, b: &'a syn::ExprBinary) {
            if matches!(b.op, syn::BinOp::Eq(_) | syn::BinOp::Ne(_))
                && (names_a_token(&b.left) || names_a_token(&b.right))
                && !literal(&b.left)
                && !literal(&b.right)
            {
                self.0.push(quote::quote!(#b).to_string());
            }
            syn::visit::visit_expr_binary(self, b);
        }
    }
    let mut f = Finder(Vec::new());
    if let Ok(file) = syn::parse_file(source) {
        f.visit_file(&file);
    }
    f.0
}

/// Every `==` / `!=` inside the function `name` in `source` whose two sides
/// are both values (not a literal, `None`, a constant or an enum variant): in a
/// function that checks a token, each such comparison is one that could stop
/// at the first differing byte, whatever its operands are called.
fn plain_comparisons_in_fn(source: &str, name: &str) -> Option<Vec<String>> {
    struct Finder(Vec<String>);
    fn constant(e: &syn::Expr) -> bool {
        match e {
            syn::Expr::Lit(_) => true,
            syn::Expr::Path(p) => {
                let last = p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
                p.path.segments.len() > 1
                    || last == "None"
                    || last.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            }
            syn::Expr::Reference(r) => constant(&r.expr),
            syn::Expr::Paren(p) => constant(&p.expr),
            syn::Expr::MethodCall(m) => m.method == "len" || m.method == "is_empty",
            _ => false,
        }
    }
    impl<'a> Visit<'a> for Finder {
        fn visit_expr_binary(&mut self, b: &'a syn::ExprBinary) {
            if matches!(b.op, syn::BinOp::Eq(_) | syn::BinOp::Ne(_)) && !constant(&b.left) && !constant(&b.right) {
                self.0.push(quote::quote!(#b).to_string());
            }
            syn::visit::visit_expr_binary(self, b);
        }
    }
    struct Fns<'n>(&'n str, Vec<syn::Block>);
    impl<'a> Visit<'a> for Fns<'_> {
        fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
            if f.sig.ident == self.0 {
                self.1.push((*f.block).clone());
            }
            syn::visit::visit_item_fn(self, f);
        }
        fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
            if f.sig.ident == self.0 {
                self.1.push(f.block.clone());
            }
            syn::visit::visit_impl_item_fn(self, f);
        }
    }
    let file = syn::parse_file(source).ok()?;
    let mut fns = Fns(name, Vec::new());
    fns.visit_file(&file);
    if fns.1.is_empty() {
        return None;
    }
    let mut f = Finder(Vec::new());
    for block in &fns.1 {
        f.visit_block(block);
    }
    Some(f.0)
}

#[test]
fn every_token_check_compares_in_constant_time() {
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            // The stand-ins play the outside services in development and tests; nothing of the appliance's is checked there.
            if path.ends_with("standin") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                for c in plain_token_comparisons(&std::fs::read_to_string(&path).expect("read")) {
                    found.push(format!("{}: {c}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "token comparisons that are not constant-time (use subtle's ct_eq):\n{}", found.join("\n"));
    // Each function that checks a token uses ct_eq, and compares no two values with `==`, whatever they are called.
    for (file, check) in [
        ("src/quotes/send.rs", "quote_for_link"),
        ("src/mail/optout.rs", "verify"),
        ("src/web/metrics.rs", "scrape"),
        ("src/web/session.rs", "check_csrf"),
        ("src/web/session.rs", "pre_sign_in_valid"),
        ("src/sync/webhook.rs", "verify"),
    ] {
        let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).expect(file);
        let plain = plain_comparisons_in_fn(&text, check).unwrap_or_else(|| panic!("{file}: no fn {check}"));
        assert!(plain.is_empty(), "{file}: fn {check} compares with == / != (use subtle's ct_eq): {plain:?}");
        let at = text.find(&format!("fn {check}")).unwrap_or_else(|| panic!("{file}: {check}"));
        let body = &text[at..(at + 1500).min(text.len())];
        // `Mac::verify_slice` is hmac's constant-time check (subtle underneath).
        assert!(body.contains("ct_eq") || body.contains("verify_slice"), "{file}: {check} compares in constant time");
    }
    // And the finders find what they are for.
    let planted = plain_token_comparisons("fn f(token: &str, given: &str) -> bool { token == given }");
    assert_eq!(planted.len(), 1, "{planted:?}");
    let planted = "fn check(h: &[u8], expected: &str) -> bool { h.len() == 64 && h == expected.as_bytes() && h != Kind::A.name() }";
    assert_eq!(plain_comparisons_in_fn(planted, "check").map(|p| p.len()), Some(2), "two plain comparisons, not the length's");
}

/// The real `qm serve` on the same tenant, debug logging to a file: a buyer
/// link, an unsubscribe link, the metrics bearer and a sign-in pass through
/// it; no token is in the log, and the token pages say `no-referrer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_token_reaches_a_log_line_or_a_referer() {
    let metrics = "metrics-bearer-0123456789abcdef0123456789abcdef";
    let link_key = "review-link-key-0123456789abcdef";
    let shop = Shop::with(
        "  public_url: https://shop.test.example/ops\n",
        "monitoring: { metrics_token: ref+file://secrets/metrics_token }\nsmtp: { host: 127.0.0.1, port: 9, tls: none, from: ops@testco.example, timeout_seconds: 5 }\nreviews: { after_days: 7, link: \"https://shop.test.example/review/{order}\", link_key: ref+file://secrets/link_key }\n",
        &[("metrics_token", metrics), ("link_key", link_key)],
    )
    .await;
    let csrf = shop.back_office().await;
    let (_, number, link) = sent_quote(&shop, &csrf, "ann").await;
    let token = token_of(&link);
    let unsubscribe = quartermaster::mail::optout::token(&quartermaster::config::Secret::new(link_key), "ann@buyer-co.example");

    let port = crate::helpers::free_port();
    let log_path = shop.app._tenant.dir.path().join("qm-tokens.log");
    let log = std::fs::File::create(&log_path).expect("log");
    /// The server, stopped (SIGTERM) however the test ends.
    struct Serving(std::process::Child);
    impl Drop for Serving {
        fn drop(&mut self) {
            quartermaster::standin::terminate(&mut self.0, Duration::from_secs(10));
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["serve", "--config"])
        .arg(shop.app._tenant.config_path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("QM_LOG", "debug")
        .env("QM_LOG_FORMAT", "json")
        .env_remove("QM_DATABASE_URL")
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .map(Serving)
        .expect("qm serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(
            Instant::now() < deadline && child.0.try_wait().expect("wait").is_none(),
            "{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let buyer_page = client.get(format!("{base}/q/{number}?token={token}")).send().await.expect("buyer");
    assert_eq!(buyer_page.status(), 200);
    assert_eq!(buyer_page.headers()["referrer-policy"], "no-referrer", "the buyer's page");
    let un = client.get(format!("{base}/unsubscribe?e=ann%40buyer-co.example&t={unsubscribe}")).send().await.expect("unsubscribe");
    assert_eq!(un.status(), 200);
    assert_eq!(un.headers()["referrer-policy"], "no-referrer", "the unsubscribe page");
    let scrape = client.get(format!("{base}/metrics")).bearer_auth(metrics).send().await.expect("metrics");
    assert_eq!(scrape.status(), 200);
    let wrong = client.get(format!("{base}/metrics")).bearer_auth(format!("{metrics}x")).send().await.expect("metrics");
    assert_eq!(wrong.status(), 401);
    let form = client.get(format!("{base}/sign-in")).send().await.expect("sign-in");
    assert_eq!(form.headers()["referrer-policy"], "same-origin", "every other page");
    let form = form.text().await.expect("form");
    let r = client
        .post(format!("{base}/sign-in"))
        .form(&[("csrf", csrf_in(&form).as_str()), ("username", "bo"), ("password", "correct horse battery")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("qm_session="))
        .and_then(|c| c.split(';').next())
        .expect("session cookie")
        .to_owned();
    assert_eq!(session.len(), 64, "a 256-bit session token");
    let home = client.get(format!("{base}/")).send().await.expect("home").text().await.expect("home");
    let page_csrf = csrf_in(&home);

    tokio::task::spawn_blocking(move || drop(child)).await.expect("stopped");
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    assert!(logs.contains("/q/") && logs.contains("/unsubscribe"), "the requests were logged (by path)");
    for (what, t) in [
        ("quote link", token.as_str()),
        ("unsubscribe", &unsubscribe),
        ("metrics bearer", metrics),
        ("session", &session),
        ("csrf", &page_csrf),
    ] {
        assert!(!logs.contains(t), "the {what} token is in the log");
    }
}
