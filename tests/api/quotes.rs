//! RFQ → quote → versions → send (PDF) → accept → WooCommerce order, on
//! real MariaDB (its triggers enforce immutability), real WeasyPrint and
//! pdftotext, and the WooCommerce stand-in.

use std::process::Command;

use quartermaster::{
    operators::Role,
    standin::{self, woocommerce::WooStandin},
};
use serde_json::Value;

use crate::helpers::{INTAKE_TOKEN, TestApp, csrf_in, pdftotext};

pub(crate) struct Shop {
    pub(crate) app: TestApp,
    pub(crate) woo: WooStandin,
    /// Woo ids of the products: in stock, supplier-priced, comparables-priced.
    pub(crate) woo_ids: [u64; 3],
}

const EXTRA: &str = r#"stations: [{ id: bench-1, name: Bench 1 }]
pricing:
  markup_percent: 35
  cost_freshness_days: 30
  quote_validity_days: 30
  comps: { source: comps.csv, format: csv, recent: 3 }
quotes:
  intake_token: ref+file://secrets/intake_token
  terms: "Net 30. FOB Chicago."
tax:
  shipping_taxable: true
  rates:
    - { country: US, state: CA, rate: "7.25", name: California }
    - { country: US, state: CA, postcode_prefix: "941", rate: "8.625", name: San Francisco }
"#;

impl Shop {
    pub(crate) async fn new() -> Self {
        Self::with("", "", &[]).await
    }

    /// The same shop with `extra_server` lines under `server:`, `extra` more
    /// top-level YAML, and `secrets` written as files under `secrets/`.
    pub(crate) async fn with(extra_server: &str, extra: &str, secrets: &[(&str, &str)]) -> Self {
        Self::edited(extra_server, extra, secrets, |yaml| yaml).await
    }

    /// [`Self::with`], the tenant file passed through `edit` before the app starts.
    pub(crate) async fn edited(extra_server: &str, extra: &str, secrets: &[(&str, &str)], edit: impl Fn(String) -> String) -> Self {
        let woo = WooStandin::new("ck_quotes", "cs_quotes");
        let addr = standin::serve(woo.router(), "127.0.0.1:0").await.expect("woo");
        let db = crate::helpers::TestDb::empty().await;
        let tenant = crate::helpers::TenantDir::write_with(
            &db,
            "",
            extra_server,
            &format!("http://{addr}"),
            ("ck_quotes", "cs_quotes"),
            &format!("{EXTRA}{extra}"),
        );
        for (name, value) in secrets {
            std::fs::write(tenant.dir.path().join("secrets").join(name), value).expect("secret");
        }
        let yaml = std::fs::read_to_string(tenant.config_path()).expect("tenant file");
        std::fs::write(tenant.config_path(), edit(yaml)).expect("tenant file");
        let app = TestApp::spawn_in(db, tenant, "").await;
        let pool = &app.db.pool;
        let mut woo_ids = [0; 3];
        for (i, (sku, upc, price)) in
            [("HXB-1", "012345000010", Some(1250i64)), ("PMP-2", "012345000027", None), ("VLV-3", "012345000034", None)].iter().enumerate()
        {
            let wid = woo.add_product(sku, 0, true);
            woo_ids[i] = wid;
            sqlx::query("INSERT INTO products (woo_id, sku, name, upc, price_minor) VALUES (?, ?, ?, ?, ?)")
                .bind(wid)
                .bind(sku)
                .bind(format!("Product {sku}"))
                .bind(upc)
                .bind(price)
                .execute(pool)
                .await
                .expect("product");
        }
        // HXB-1: 100 in stock. PMP-2: a fresh supplier cost. VLV-3: a stale one, and comparables.
        sqlx::query("INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor) SELECT id, 'L1', UTC_TIMESTAMP(6), 100, 100, 700 FROM products WHERE sku = 'HXB-1'").execute(pool).await.expect("lot");
        sqlx::query("INSERT INTO suppliers (name) VALUES ('Grainger')").execute(pool).await.expect("supplier");
        for (sku, cost, days) in [("PMP-2", 10_000i64, 3i64), ("VLV-3", 4_000, 90)] {
            sqlx::query("INSERT INTO supplier_costs (supplier_id, product_id, unit_cost_minor, currency, observed_at, source) SELECT 1, id, ?, 'USD', UTC_TIMESTAMP(6) - INTERVAL ? DAY, 'price file' FROM products WHERE sku = ?")
                .bind(cost)
                .bind(days)
                .bind(sku)
                .execute(pool)
                .await
                .expect("cost");
        }
        std::fs::write(
            app._tenant.dir.path().join("comps.csv"),
            "sku,price,observed_at\nVLV-3,99.00,2025-01-01\nVLV-3,61.00,2026-10-01\nVLV-3,59.00,2026-10-05\nVLV-3,65.00,2026-10-09\n",
        )
        .expect("comps");
        Self { app, woo, woo_ids }
    }

    pub(crate) async fn post_raw(&self, path: &str, ctype: &str, body: &[u8], token: Option<&str>) -> (u16, Value) {
        let mut req = self.app.client.post(self.app.url(path)).header("content-type", ctype).body(body.to_vec());
        if let Some(t) = token {
            req = req.header("x-qm-intake-token", t);
        }
        let r = req.send().await.expect("POST");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn back_office(&self) -> String {
        self.app.add_operator("bo", Role::BackOffice, "correct horse battery").await;
        assert_eq!(self.app.sign_in("bo", "correct horse battery").await.status().as_u16(), 303);
        csrf_in(&self.app.get("/quotes").await.text().await.expect("inbox"))
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let r = self.app.post_form(path, form).await;
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (r.status().as_u16(), location, r.text().await.expect("body"))
    }
}

pub(crate) const EML: &str = "From: \"Dana Whitfield\" <dana@buyer-co.example>\r\n\
To: sales@testco.example\r\n\
Subject: RFQ for the Q1 build\r\n\
Authentication-Results: mx.testco.example; spf=pass smtp.mailfrom=buyer-co.example; dkim=pass header.d=buyer-co.example; dmarc=pass\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello, please quote:\r\n\
HXB-1 x 12\r\n\
3 pcs 012345000027\r\n\
20 stainless flanges, 4 inch\r\n\
\r\n\
Thanks,\r\n\
Dana 555 0100\r\n\
--b1\r\n\
Content-Type: text/csv; name=\"lines.csv\"\r\n\
Content-Disposition: attachment; filename=\"lines.csv\"\r\n\
\r\n\
Part,Qty\r\n\
VLV-3,2\r\n\
--b1--\r\n";

/// The acceptance link the Send response shows (once).
pub(crate) fn accept_link(page: &str) -> String {
    let re = regex::Regex::new(r#"<code id="accept-link">([^<]+)</code>"#).expect("regex");
    re.captures(page).map(|c| c[1].replace("&#x2f;", "/").replace("&#61;", "=")).unwrap_or_else(|| panic!("no acceptance link in:\n{page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_emailed_rfq_becomes_a_versioned_quote_sent_as_pdf_and_accepted_into_a_woo_order() {
    let shop = Shop::new().await;
    let pool = shop.app.db.pool.clone();
    // Intake: 201 with what was understood.
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", EML.as_bytes(), Some(INTAKE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["items"].as_u64(), body["unmatched"].as_u64()), (Some(4), Some(1)), "{body}");
    let rfq = body["rfq"].as_u64().expect("rfq id");
    assert!(body["reputation"].as_i64().expect("score") >= 70, "authenticated business mail scores well: {body}");
    let items: Vec<(String, Option<u64>, u32)> =
        sqlx::query_as("SELECT raw_text, product_id, quantity FROM rfq_items WHERE rfq_id = ? ORDER BY line_no")
            .bind(rfq)
            .fetch_all(&pool)
            .await
            .expect("items");
    assert_eq!(items.iter().map(|i| i.2).collect::<Vec<_>>(), vec![12, 3, 20, 2]);
    assert!(items[2].1.is_none() && items[2].0.contains("flanges"), "free text waits for a person: {items:?}");

    let csrf = shop.back_office().await;
    let page = shop.app.get(&format!("/rfqs/{rfq}")).await.text().await.expect("rfq page");
    assert!(page.contains("dmarc") && page.contains("Sender reputation"), "factors visible:\n{page}");
    let (status, location, body) =
        shop.post(&format!("/rfqs/{rfq}/quote"), &[("csrf", &csrf), ("country", "US"), ("state", "CA"), ("postcode", "94103")]).await;
    assert_eq!(status, 303, "{body}");
    let quote: u64 = location.rsplit('/').next().and_then(|s| s.parse().ok()).expect("quote id");
    let (number, qstatus): (String, String) =
        sqlx::query_as("SELECT number, CAST(status AS CHAR) FROM quotes WHERE id = ?").bind(quote).fetch_one(&pool).await.expect("quote");
    assert_eq!((number.as_str(), qstatus.as_str()), ("TESTCO-00001", "draft"));

    // Pricing fall-through, each line saying why.
    let lines: Vec<(String, Option<i64>, String, String, i64)> =
        sqlx::query_as("SELECT l.description, l.unit_price_minor, CAST(l.price_source AS CHAR), l.price_reason, l.tax_minor FROM quote_lines l JOIN quote_versions v ON v.id = l.quote_version_id WHERE v.quote_id = ? ORDER BY l.line_no")
            .bind(quote)
            .fetch_all(&pool)
            .await
            .expect("lines");
    assert_eq!(lines[0].1, Some(1250), "in stock at list price");
    assert_eq!(lines[0].2, "in_stock");
    assert_eq!((lines[1].1, lines[1].2.as_str()), (Some(13_500), "supplier"), "fresh supplier cost 100.00 + 35%");
    assert_eq!(lines[2].2, "unpriced", "free text");
    assert_eq!(
        (lines[3].1, lines[3].2.as_str()),
        (Some(6_100), "comparables"),
        "median of the 3 newest (61, 59, 65), the stale supplier cost noted: {:?}",
        lines[3]
    );
    assert!(lines[3].3.contains("older than 30 days"), "{}", lines[3].3);
    // San Francisco tax 8.625% on 12 × 12.50 = 150.00 → 12.94 (12.9375 rounds half up).
    assert_eq!(lines[0].4, 1294);

    // Cannot send with an unpriced line.
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 422);
    assert!(body.contains("no price"), "{body}");
    // Price it by hand (a reason is required): a new version; drafts do not get a revision.
    let form = |price: &'static str, reason: &'static str, note: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("customer_name", "Dana Whitfield".to_owned()),
            ("customer_email", "dana@buyer-co.example".to_owned()),
            ("country", "US".to_owned()),
            ("state", "CA".to_owned()),
            ("postcode", "94103".to_owned()),
            ("product_1", "HXB-1".to_owned()),
            ("quantity_1", "12".to_owned()),
            ("product_2", "PMP-2".to_owned()),
            ("quantity_2", "3".to_owned()),
            ("description_3", "Stainless flange 4 in".to_owned()),
            ("quantity_3", "20".to_owned()),
            ("price_3", price.to_owned()),
            ("reason_3", reason.to_owned()),
            ("product_4", "VLV-3".to_owned()),
            ("quantity_4", "2".to_owned()),
            ("shipping", "25.00".to_owned()),
            ("note", note.to_owned()),
        ]
    };
    let f = form("18.40", "", "price the flanges");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/revise"), &f).await;
    assert_eq!(status, 422, "a hand price without a reason is refused");
    assert!(body.contains("needs a reason"), "{body}");
    let f = form("18.40", "Supplier phone quote 11/20", "price the flanges");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/revise"), &f).await;
    assert_eq!(status, 303, "{body}");

    // Send: R0, PDF stored with its hash, text as quoted.
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#"data-sent-revision="0""#), "{body}");
    let link = accept_link(&body);
    let (v2, rev, sha): (u64, Option<u32>, Vec<u8>) =
        sqlx::query_as("SELECT id, revision, pdf_sha256 FROM quote_versions WHERE quote_id = ? AND version_no = 2")
            .bind(quote)
            .fetch_one(&pool)
            .await
            .expect("v2");
    assert_eq!(rev, Some(0));
    let (pdf, stored_sha): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT pdf, sha256 FROM quote_pdfs WHERE quote_version_id = ?").bind(v2).fetch_one(&pool).await.expect("pdf");
    use sha2::Digest;
    assert_eq!(sha2::Sha256::digest(&pdf).to_vec(), stored_sha);
    assert_eq!(sha, stored_sha);
    let text = pdftotext(&pdf);
    for want in [
        "Quote TESTCO-00001 R0",
        "Shipping",
        "25.00",
        "Dana Whitfield",
        "HXB-1",
        "Stainless flange 4 in",
        "18.40",
        "San Francisco 8.625%",
        "Net 30. FOB Chicago.",
    ] {
        assert!(text.contains(want), "the PDF shows {want}:\n{text}");
    }
    // Re-rendering the sent version gives the same document text.
    let again = shop.app.get(&format!("/quotes/{quote}/versions/2/pdf")).await.bytes().await.expect("pdf");
    assert_eq!(again.to_vec(), pdf, "a sent version's PDF is served as stored");
    let rerender = quartermaster::quotes::send::render_pdf(
        &quartermaster::quotes::Ctx {
            pool: &pool,
            config: &shop.app.state.config,
            base_dir: shop.app._tenant.dir.path(),
            weasy: &shop.app.state.weasy,
            woo: &shop.app.state.woo,
            mailer: None,
        },
        &quartermaster::quotes::quote::versions(&pool, quote).await.expect("versions")[1].snapshot,
        Some(0),
    )
    .await
    .expect("re-render");
    assert_eq!(pdftotext(&rerender), text, "re-rendering version 2 yields the same text");

    // The database refuses to change or delete what was sent.
    for sql in [
        format!("UPDATE quote_versions SET total_minor = 1 WHERE id = {v2}"),
        format!("DELETE FROM quote_versions WHERE id = {v2}"),
        format!("UPDATE quote_lines SET unit_price_minor = 1 WHERE quote_version_id = {v2}"),
        format!("DELETE FROM quote_lines WHERE quote_version_id = {v2}"),
        format!(
            "INSERT INTO quote_lines (quote_version_id, line_no, description, quantity, price_source, price_reason) VALUES ({v2}, 99, 'x', 1, 'manual', 'x')"
        ),
        format!("UPDATE quote_pdfs SET pdf = 'x' WHERE quote_version_id = {v2}"),
        format!("DELETE FROM quote_pdfs WHERE quote_version_id = {v2}"),
    ] {
        let e = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&pool).await.expect_err(&sql);
        assert!(e.to_string().contains("immutable"), "{sql}: {e}");
    }

    // A change after sending makes version 3; sending it is R1.
    let f = form("18.00", "Matched the buyer's target price", "flanges to 18.00");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(shop.post(&format!("/quotes/{quote}/revise"), &f).await.0, 303);
    let page = shop.app.get(&format!("/quotes/{quote}?a=2&b=3")).await.text().await.expect("diff");
    assert!(page.contains("Stainless flange 4 in: price 18.40 → 18.00"), "the diff names the change:\n{page}");
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"data-sent-revision="1""#), "{body}");
    let old_link = link;
    let link = accept_link(&body);
    assert_ne!(link, old_link, "each send issues a new link");
    let revisions: Vec<(u32, Option<u32>, String)> =
        sqlx::query_as("SELECT version_no, revision, CAST(state AS CHAR) FROM quote_versions WHERE quote_id = ? ORDER BY version_no")
            .bind(quote)
            .fetch_all(&pool)
            .await
            .expect("versions");
    assert_eq!(revisions, vec![(1, None, "draft".into()), (2, Some(0), "sent".into()), (3, Some(1), "sent".into())]);

    // Opened by someone signed in on this browser, the form carries the session's CSRF token (so it would post).
    let signed_in_view = shop.app.client.get(format!("{}{link}", shop.app.url(""))).send().await.expect("GET").text().await.expect("page");
    assert_eq!(csrf_in(&signed_in_view), csrf);
    // The buyer accepts through the link (a wrong token is refused).
    let buyer = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let wrong = buyer.get(format!("{}/q/{number}?token=deadbeef", shop.app.url(""))).send().await.expect("GET");
    assert_eq!(wrong.status().as_u16(), 403);
    let page = buyer.get(format!("{}{link}", shop.app.url(""))).send().await.expect("GET").text().await.expect("page");
    assert!(page.contains("Quote TESTCO-00001 R1"), "{page}");
    let token = link.split("token=").nth(1).expect("token");
    let r = buyer
        .post(format!("{}/q/{number}", shop.app.url("")))
        .form(&[("csrf", csrf_in(&page).as_str()), ("token", token)])
        .send()
        .await
        .expect("accept");
    let status = r.status().as_u16();
    let text = r.text().await.expect("page");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("accepted"), "{text}");

    // The WooCommerce order is exactly the sent snapshot (R1).
    let (woo_order, state): (Option<u64>, String) = sqlx::query_as("SELECT woo_order_id, CAST(status AS CHAR) FROM quotes WHERE id = ?")
        .bind(quote)
        .fetch_one(&pool)
        .await
        .expect("quote");
    assert_eq!(state, "accepted");
    let order = shop.woo.order_json(woo_order.expect("linked")).expect("the order exists in WooCommerce");
    let (total, tax): (i64, i64) = sqlx::query_as("SELECT total_minor, tax_minor FROM quote_versions WHERE quote_id = ? AND revision = 1")
        .bind(quote)
        .fetch_one(&pool)
        .await
        .expect("r1");
    let line_totals: Vec<String> =
        order["line_items"].as_array().expect("lines").iter().map(|l| l["total"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(line_totals, vec!["150.00", "405.00", "122.00"], "exact quoted prices × quantities");
    let fees: Vec<(String, String)> = order["fee_lines"]
        .as_array()
        .expect("fees")
        .iter()
        .map(|f| (f["name"].as_str().unwrap_or_default().to_owned(), f["total"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert!(fees[0].0.starts_with("Stainless flange 4 in × 20") && fees[0].1 == "360.00", "a custom line rides as a fee: {fees:?}");
    assert!(fees[1].0.starts_with("Sales tax") && fees[1].1 == quartermaster::money::format_minor(tax, 2), "{fees:?}");
    assert_eq!(order["total"].as_str(), Some(quartermaster::money::format_minor(total, 2).as_str()), "tax {tax} included as a fee line");
    assert_eq!(order["line_items"][0]["product_id"].as_u64(), Some(shop.woo_ids[0]));
    assert_eq!(order["shipping_total"].as_str(), Some("25.00"), "quoted shipping rides as a shipping line");
    let shipping_tax: i64 = sqlx::query_scalar(
        "SELECT CAST(JSON_VALUE(snapshot, '$.shipping_tax_minor') AS SIGNED) FROM quote_versions WHERE quote_id = ? AND revision = 1",
    )
    .bind(quote)
    .fetch_one(&pool)
    .await
    .expect("shipping tax");
    assert_eq!(shipping_tax, 216, "this tenant taxes shipping: 8.625% of 25.00 = 2.15625 → 2.16");
    assert_eq!(shop.woo.meta(woo_order.unwrap_or(0)).get("_qm_quote_revision").map(String::as_str), Some("R1"));
    // The link is used up.
    let again = buyer.get(format!("{}{link}", shop.app.url(""))).send().await.expect("GET");
    assert_eq!(again.status().as_u16(), 403);
    let won: u32 = sqlx::query_scalar("SELECT quotes_won FROM sender_domains WHERE domain = 'buyer-co.example'")
        .fetch_one(&pool)
        .await
        .expect("domain");
    assert_eq!(won, 1, "history feeds the next reputation score");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_a_4xx_naming_the_field_and_are_kept() {
    let shop = Shop::new().await;
    let pool = shop.app.db.pool.clone();
    let garbage = b"this is not a mail message at all\x00\xff";
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", garbage, Some(INTAKE_TOKEN)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "From");
    assert_eq!(body["kept"], true);
    let id = body["rfq"].as_u64().expect("kept id");
    let (raw, status_db, err): (Vec<u8>, String, Option<String>) =
        sqlx::query_as("SELECT raw, CAST(status AS CHAR), parse_error FROM rfqs WHERE id = ?")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(raw, garbage.to_vec(), "the raw request is kept byte for byte");
    assert_eq!(status_db, "unparseable");
    assert!(err.unwrap_or_default().contains("From"));

    let (status, body) =
        shop.post_raw("/rfq", "application/json", br#"{"name":"Pat","items":[{"code":"HXB-1","quantity":3}]}"#, Some(INTAKE_TOKEN)).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("email")), "{body}");
    let (status, body) = shop
        .post_raw("/rfq", "application/json", br#"{"email":"pat@x.example","items":[{"code":"HXB-1","quantity":0}]}"#, Some(INTAKE_TOKEN))
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("items")), "{body}");
    let (status, body) = shop.post_raw("/rfq", "application/json", b"{not json", Some(INTAKE_TOKEN)).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("body")), "{body}");
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rfqs WHERE status = 'unparseable'").fetch_one(&pool).await.expect("count");
    assert_eq!(kept, 4, "every malformed request is kept for inspection");

    // A good form, form-encoded, from a throw-away domain: accepted and flagged low.
    let (status, body) = shop
        .post_raw(
            "/rfq",
            "application/x-www-form-urlencoded",
            b"name=Pat&email=pat%40mailinator.com&items=HXB-1+x+5%0A012345000027+qty+2",
            Some(INTAKE_TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["items"].as_u64(), Some(2));
    assert!(body["reputation"].as_i64().expect("score") < 40, "{body}");

    // Without the token nothing is stored (anyone could fill the inbox).
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rfqs").fetch_one(&pool).await.expect("count");
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", EML.as_bytes(), Some("wrong")).await;
    assert_eq!((status, body["field"].as_str()), (401, Some("X-QM-Intake-Token")));
    let (status, _) = shop.post_raw("/rfq/email", "message/rfc822", EML.as_bytes(), None).await;
    assert_eq!(status, 401);
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rfqs").fetch_one(&pool).await.expect("count");
    assert_eq!(before, after);

    // The buyer-facing JSON: nothing sent yet for this address.
    let r = shop
        .app
        .client
        .get(shop.app.url("/api/quotes?email=pat%40mailinator.com"))
        .header("x-qm-intake-token", INTAKE_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["quotes"].as_array().map(Vec::len), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_quote_cannot_be_accepted_and_a_reissue_prices_it_afresh() {
    let shop = Shop::new().await;
    let pool = shop.app.db.pool.clone();
    let csrf = shop.back_office().await;
    let (_, body) = shop
        .post_raw(
            "/rfq",
            "application/json",
            br#"{"name":"Lee","email":"lee@acme-buyer.example","items":[{"code":"HXB-1","quantity":4}]}"#,
            Some(INTAKE_TOKEN),
        )
        .await;
    let rfq = body["rfq"].as_u64().expect("rfq");
    let (_, location, _) =
        shop.post(&format!("/rfqs/{rfq}/quote"), &[("csrf", &csrf), ("country", "US"), ("state", "OR"), ("postcode", "97201")]).await;
    let quote: u64 = location.rsplit('/').next().and_then(|s| s.parse().ok()).expect("quote");
    // The draft's window is moved into the past before sending (drafts may change; sent versions may not).
    sqlx::query("UPDATE quote_versions SET valid_from = UTC_TIMESTAMP(6) - INTERVAL 40 DAY, valid_until = UTC_TIMESTAMP(6) + INTERVAL 2 MINUTE WHERE quote_id = ?").bind(quote).execute(&pool).await.expect("window");
    let snapshot_fix = "UPDATE quote_versions SET snapshot = JSON_SET(snapshot, '$.valid_until', DATE_FORMAT(valid_until, '%Y-%m-%dT%H:%i:%s.%f')) WHERE quote_id = ?";
    sqlx::query(snapshot_fix).bind(quote).execute(&pool).await.expect("snapshot window");
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{body}");
    // The hourly job, run as if five minutes later: the window has passed then
    // (and not now: two minutes is room for a slow send on a loaded machine).
    let now = chrono::Utc::now().naive_utc();
    assert_eq!(quartermaster::quotes::send::expire_due(&pool, now).await.expect("expiry job"), 0, "still inside its window");
    let later = now + chrono::TimeDelta::minutes(5);
    assert_eq!(quartermaster::quotes::send::expire_due(&pool, later).await.expect("expiry job"), 1, "the hourly job marks it expired");
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/accept"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("expired"), "{body}");
    let state: String =
        sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM quotes WHERE id = ?").bind(quote).fetch_one(&pool).await.expect("state");
    assert_eq!(state, "expired");
    assert_eq!(shop.woo.order_json(1_000_000), None);
    // Untaxed destination: the quote says so.
    let source: String = sqlx::query_scalar(
        "SELECT tax_source FROM quote_lines l JOIN quote_versions v ON v.id = l.quote_version_id WHERE v.quote_id = ? LIMIT 1",
    )
    .bind(quote)
    .fetch_one(&pool)
    .await
    .expect("tax");
    assert!(source.contains("no rate"), "{source}");
    // Re-issue: a new draft version with a fresh window and fresh prices; sending it is R1.
    sqlx::query("UPDATE products SET price_minor = 1300 WHERE sku = 'HXB-1'").execute(&pool).await.expect("new list price");
    assert_eq!(shop.post(&format!("/quotes/{quote}/reissue"), &[("csrf", &csrf)]).await.0, 303);
    let (price, until_ok): (Option<i64>, i64) = sqlx::query_as(
        "SELECT l.unit_price_minor, v.valid_until > UTC_TIMESTAMP(6) + INTERVAL 29 DAY FROM quote_versions v JOIN quote_lines l ON l.quote_version_id = v.id WHERE v.quote_id = ? AND v.version_no = 2",
    )
    .bind(quote)
    .fetch_one(&pool)
    .await
    .expect("v2");
    assert_eq!((price, until_ok), (Some(1300), 1));
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#"data-sent-revision="1""#), "{body}");
    let (status, _, _) = shop.post(&format!("/quotes/{quote}/accept"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    let woo: Option<u64> =
        sqlx::query_scalar("SELECT woo_order_id FROM quotes WHERE id = ?").bind(quote).fetch_one(&pool).await.expect("order");
    let order = shop.woo.order_json(woo.expect("order")).expect("in Woo");
    assert_eq!(order["total"].as_str(), Some("52.00"));
    // An accepted quote cannot be marked lost; the refusal says why.
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/lost"), &[("csrf", &csrf), ("reason", "price")]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("cannot be marked lost"));
}

#[tokio::test]
async fn qm_rfq_import_keeps_every_message_and_says_what_it_found() {
    let shop = Shop::new().await;
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("rfq.eml");
    std::fs::write(&good, EML).expect("eml");
    let out = Command::new(env!("CARGO_BIN_EXE_qm"))
        .env_remove("QM_DATABASE_URL")
        .args(["rfq", "import", "--config"])
        .arg(shop.app._tenant.config_path())
        .arg(&good)
        .output()
        .expect("qm");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("4 item(s), 1 to map"), "{stdout}");
    let bad = dir.path().join("bad.eml");
    std::fs::write(&bad, "no headers here").expect("eml");
    let out = Command::new(env!("CARGO_BIN_EXE_qm"))
        .env_remove("QM_DATABASE_URL")
        .args(["rfq", "import", "--config"])
        .arg(shop.app._tenant.config_path())
        .arg(&bad)
        .output()
        .expect("qm");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept as RFQ"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = Command::new(env!("CARGO_BIN_EXE_qm"))
        .env_remove("QM_DATABASE_URL")
        .args(["rfq", "import", "--config"])
        .arg(shop.app._tenant.config_path())
        .arg(dir.path().join("missing.eml"))
        .output()
        .expect("qm");
    assert_eq!(out.status.code(), Some(2), "a missing file is a usage error");
}
