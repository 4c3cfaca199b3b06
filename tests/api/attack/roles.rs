//! Every route the router declares, walked as anonymous, picker, back office
//! and admin, each answer held to the table below. The routes are read out
//! of `src/web` itself (every `.route(PATH, METHODS)` call, with syn), so a
//! new route fails this test until the table says who may use it.

use std::collections::BTreeMap;

use serde_json::json;
use syn::visit::Visit;

use crate::{
    books::{CHART, Shop as Books},
    helpers::{INTAKE_TOKEN, TestApp},
    quotes::Shop,
};
use quartermaster::{operators::Role, web::session};

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// Anyone, signed in or not (health, sign-in, static files).
    Open,
    /// Only with the route's own token or signature; a session grants nothing.
    Token,
    /// Any signed-in operator.
    SignedIn,
    /// The back office and admins; never a picker.
    BackOffice,
}

/// The table: who may reach each route. A route missing here fails the test.
fn access(path: &str) -> Option<Access> {
    use Access::*;
    Some(match path {
        "/healthz" | "/readyz" | "/sign-in" => Open,
        p if p.starts_with("/static/") => Open,
        "/metrics"
        | "/webhooks/woocommerce"
        | "/rfq"
        | "/rfq/email"
        | "/api/quotes"
        | "/api/quotes/{number}"
        | "/q/{number}"
        | "/unsubscribe" => Token,
        "/" | "/sign-out" | "/sign-out-everywhere" | "/events/stream" => SignedIn,
        "/inventory/lots/{id}" | "/inventory/lots/{id}/label" => SignedIn,
        p if p == "/pick" || p.starts_with("/pick/") => SignedIn,
        "/inventory/receive" | "/inventory/adjust" => BackOffice,
        // The dashboard shows each role its own tiles: a picker's carry no money (checked below).
        "/dashboard" | "/dashboard/tiles.json" => SignedIn,
        p if p.starts_with("/quotes") || p.starts_with("/rfqs/") || p.starts_with("/books") || p.starts_with("/dashboard") => BackOffice,
        _ => return None,
    })
}

/// `(path, method)` for every `.route(…)` call in `src/web`.
fn declared_routes() -> Vec<(String, String)> {
    struct Routes(Vec<(String, String)>);
    fn methods(e: &syn::Expr, out: &mut Vec<String>) {
        match e {
            syn::Expr::Call(c) => {
                if let syn::Expr::Path(p) = &*c.func {
                    out.push(p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default());
                }
            }
            syn::Expr::MethodCall(m) => {
                methods(&m.receiver, out);
                out.push(m.method.to_string());
            }
            _ => {}
        }
    }
    impl<'a> Visit<'a> for Routes {
        fn visit_expr_method_call(&mut self, m: &'a syn::ExprMethodCall) {
            if m.method == "route" && m.args.len() == 2 {
                if let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(path), .. }) = &m.args[0] {
                    let mut ms = Vec::new();
                    methods(&m.args[1], &mut ms);
                    for method in ms {
                        self.0.push((path.value(), method.to_uppercase()));
                    }
                }
            }
            syn::visit::visit_expr_method_call(self, m);
        }
    }
    let mut routes = Routes(Vec::new());
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/web") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let file = syn::parse_file(&std::fs::read_to_string(&path).expect("read")).expect("parse");
                routes.visit_file(&file);
            }
        }
    }
    routes.0.sort();
    routes.0.dedup();
    routes.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Picker,
    BackOffice,
    Admin,
}

/// Whether `who` may use a route of `access`.
fn may(access: Access, who: Who) -> bool {
    match access {
        Access::Open => true,
        Access::Token => false,
        Access::SignedIn => who != Who::Anonymous,
        Access::BackOffice => matches!(who, Who::BackOffice | Who::Admin),
    }
}

/// The shop every route has something to show for: quotes, books, a station.
async fn app() -> (Shop, BTreeMap<&'static str, String>) {
    let section: String = CHART.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("  {l}\n")).collect();
    let extra = format!(
        "monitoring: {{ metrics_token: ref+file://secrets/metrics_token }}\nsmtp: {{ host: 127.0.0.1, port: 9, tls: none, from: ops@testco.example, timeout_seconds: 5 }}\nreviews: {{ after_days: 7, link: \"https://shop.test.example/review/{{order}}\", link_key: ref+file://secrets/link_key }}\naccounting:\n{section}"
    );
    let shop = Shop::edited(
        "  public_url: https://shop.test.example/ops\n",
        &extra,
        &[
            ("metrics_token", "metrics-token-for-the-roles-walk-0123"),
            ("link_key", "review-link-key-for-roles"),
            ("webhook_secret", "webhook-secret-for-the-roles-walk"),
        ],
        |yaml| {
            yaml.replace("accounting: false", "accounting: true").replace(
                "  consumer_secret: ref+file://secrets/woo_secret\n",
                "  consumer_secret: ref+file://secrets/woo_secret\n  webhooks:\n    secret: ref+file://secrets/webhook_secret\n    delivery_url: https://shop.test.example/ops/webhooks/woocommerce\n",
            )
        },
    )
    .await;
    let mut ids = BTreeMap::new();
    let rfq = "From: \"Dana\" <dana@buyer-co.example>\r\nTo: sales@testco.example\r\nSubject: RFQ\r\n\r\nHXB-1 x 2\r\n";
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", rfq.as_bytes(), Some(INTAKE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    ids.insert("rfq", body["rfq"].to_string());
    let pool = &shop.app.db.pool;
    let mut books = Books::of(&shop.app);
    let product = books.product("ROLE-1", 100).await;
    let invoice = books.receive("INV-ROLE", &[(product, 10, 400)]).await;
    let (order, _) = books.order("purchase_order", &[(product, 1, 1000)], 0, 0, json!([])).await;
    ids.insert("order", order.to_string());
    ids.insert("invoice", invoice.to_string());
    let lot: u64 =
        sqlx::query_scalar("SELECT id FROM inventory_lots WHERE product_id = ?").bind(product).fetch_one(pool).await.expect("lot");
    ids.insert("lot", lot.to_string());
    (shop, ids)
}

/// A quote of the shop's, made by the back office (its id and number).
async fn quote(app: &TestApp, rfq: &str, bo: &(String, String)) -> (String, String) {
    let r = app
        .client
        .post(app.url(&format!("/rfqs/{rfq}/quote")))
        .header("cookie", format!("{}={}", session::SESSION_COOKIE, bo.0))
        .form(&[("csrf", bo.1.as_str()), ("country", "US")])
        .send()
        .await
        .expect("quote");
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let id = r.headers()["location"].to_str().expect("location").rsplit('/').next().expect("id").to_owned();
    let number: String = sqlx::query_scalar("SELECT number FROM quotes WHERE id = ?")
        .bind(id.parse::<u64>().expect("id"))
        .fetch_one(&app.db.pool)
        .await
        .expect("n");
    (id, number)
}

/// A fresh session for `who` (its cookie value and CSRF token), none for anonymous.
async fn session_of(app: &TestApp, who: Who, operators: &BTreeMap<Who, quartermaster::ids::OperatorId>) -> Option<(String, String)> {
    let op = *operators.get(&who)?;
    let token = session::create(&app.db.pool, op, 1, None, None).await.expect("session");
    use sha2::Digest;
    let csrf: String = sqlx::query_scalar("SELECT csrf_token FROM sessions WHERE token_hash = ?")
        .bind(sha2::Sha256::digest(token.as_bytes()).to_vec())
        .fetch_one(&app.db.pool)
        .await
        .expect("csrf");
    Some((token, csrf))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_declared_route_answers_each_role_as_the_table_says() {
    let (shop, mut ids) = app().await;
    let app = &shop.app;
    let mut operators = BTreeMap::new();
    for (who, role, name) in
        [(Who::Picker, Role::Picker, "pia"), (Who::BackOffice, Role::BackOffice, "bob"), (Who::Admin, Role::Admin, "ada")]
    {
        operators.insert(who, app.add_operator(name, role, "correct horse battery").await);
    }
    let bo = session_of(app, Who::BackOffice, &operators).await.expect("bo");
    let (quote_id, number) = quote(app, &ids["rfq"], &bo).await;
    ids.insert("quote", quote_id);
    ids.insert("number", number);

    let routes = declared_routes();
    assert!(routes.len() >= 55, "the walk found the router's routes: {routes:?}");
    let unclassified: Vec<&(String, String)> = routes.iter().filter(|(p, _)| access(p).is_none()).collect();
    assert!(unclassified.is_empty(), "routes the roles table does not cover (add each to `access`): {unclassified:?}");

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut wrong = Vec::new();
    for (path, method) in &routes {
        let expected = access(path).expect("classified");
        let url = path
            .replace("/rfqs/{id}", &format!("/rfqs/{}", ids["rfq"]))
            .replace("/quotes/{id}", &format!("/quotes/{}", ids["quote"]))
            .replace("/books/orders/{id}", &format!("/books/orders/{}", ids["order"]))
            .replace("/books/invoices/{id}", &format!("/books/invoices/{}", ids["invoice"]))
            .replace("/inventory/lots/{id}", &format!("/inventory/lots/{}", ids["lot"]))
            .replace("{order}", &ids["order"])
            .replace("{number}", &ids["number"])
            .replace("{version}", "1");
        let mut answers = Vec::new();
        for who in [Who::Anonymous, Who::Picker, Who::BackOffice, Who::Admin] {
            let s = session_of(app, who, &operators).await;
            let mut req = match method.as_str() {
                "GET" => client.get(app.url(&url)),
                "POST" => client.post(app.url(&url)),
                other => panic!("{other} {path}: add the method to the walk"),
            };
            // A signed-in operator's session and its CSRF token; anonymous, the
            // pre-sign-in token the sign-in page would have set: CSRF passes,
            // so what answers is the route's own rule.
            let (cookie, csrf) = match &s {
                Some((token, csrf)) => (format!("{}={token}", session::SESSION_COOKIE), csrf.clone()),
                None => {
                    let t = session::pre_sign_in_token(&shop.app.state);
                    (format!("{}={t}", session::CSRF_COOKIE), t)
                }
            };
            req = req.header("cookie", cookie);
            if method == "POST" {
                req = req.form(&[("csrf", csrf.as_str())]);
            }
            let r = tokio::time::timeout(std::time::Duration::from_secs(30), req.send())
                .await
                .unwrap_or_else(|_| panic!("{method} {url} as {who:?}: no answer in 30 s"))
                .expect("request");
            let status = r.status().as_u16();
            // Sign-in required: a redirect to the sign-in page that returns here afterwards.
            let to_sign_in = r.headers().get("location").and_then(|l| l.to_str().ok()).is_some_and(|l| l.contains("/sign-in?next="));
            let refused = matches!(status, 401 | 403) || to_sign_in || (expected == Access::Token && matches!(status, 400 | 404));
            let ok = if may(expected, who) { !refused && status < 500 } else { refused };
            answers.push((who, status));
            if !ok {
                wrong.push(format!("{method} {path} as {who:?}: {status} (the table says {expected:?})"));
            }
        }
        if expected == Access::Token {
            let statuses: Vec<u16> = answers.iter().map(|a| a.1).collect();
            if statuses.windows(2).any(|w| w[0] != w[1]) {
                wrong.push(format!("{method} {path}: a session changed the answer to a token route {answers:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "answers against the table:\n{}", wrong.join("\n"));

    // Money: the back office sees amounts where a picker sees none.
    let amount = regex::Regex::new(r"\$\s?\d|\d\.\d\d\s?USD").expect("regex");
    for page in ["/", "/dashboard", "/dashboard/tiles.json"] {
        let body = |who: Who| {
            let client = client.clone();
            let operators = &operators;
            async move {
                let (token, _) = session_of(app, who, operators).await.expect("session");
                let r =
                    client.get(app.url(page)).header("cookie", format!("{}={token}", session::SESSION_COOKIE)).send().await.expect("page");
                r.text().await.expect("body")
            }
        };
        let picker = body(Who::Picker).await;
        assert!(
            !amount.is_match(&picker),
            "{page}: a picker sees money: {:?}",
            amount.find(&picker).map(|m| &picker[m.start().saturating_sub(80)..(m.end() + 40).min(picker.len())])
        );
        if page != "/" {
            let office = body(Who::BackOffice).await;
            assert!(amount.is_match(&office), "{page}: the back office sees the amounts (so the check can fail): {office}");
        }
    }
}
