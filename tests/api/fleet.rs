//! The job fleet's mail and sweeps against real servers: the tracking sweep
//! against the UPS stand-in (UPS's own tracking payload, its documented
//! status types) telling the WooCommerce stand-in of deliveries; alerts
//! mailed to Debian's aiosmtpd once per episode, as digests, and once when
//! resolved; review requests once per delivered order, never to a refunded
//! one, with a signed opt-out that works without a sign-in; the daily
//! summary once a local day; price feeds (a file, and a URL answering
//! conditional GETs) filling supplier costs and comparables, bad rows named.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, http::HeaderMap, response::IntoResponse, routing::get};
use chrono::{TimeDelta, Utc};
use mail_parser::MessageParser;
use quartermaster::{config::Secret, jobs, station::ship};
use serde_json::Value;

use crate::{
    mailhub::SmtpServer,
    station::{Item, World},
};

async fn run_job(w: &World, name: &str) -> Value {
    let job = crate::helpers::job(&w.app.state, name);
    crate::helpers::run_job(&w.app.state, &job).await
}

/// An order of `item` shipped by UPS with master tracking `tn`, shipped `days_ago`: (order id, woo id, shipment).
async fn shipped(w: &World, item: &Item, tn: &str, days_ago: i64) -> (quartermaster::ids::OrderId, u64, u64) {
    let order = w.order(&[(item, 1)]).await;
    let shipment = ship::record_shipment(&w.app.db.pool, order, None, "ups", None).await.expect("shipped");
    sqlx::query("UPDATE shipments SET master_tracking = ?, shipped_at = UTC_TIMESTAMP(6) - INTERVAL ? DAY WHERE id = ?")
        .bind(tn)
        .bind(days_ago)
        .bind(shipment)
        .execute(&w.app.db.pool)
        .await
        .expect("tracking");
    let woo: u64 =
        sqlx::query_scalar("SELECT woo_id FROM orders WHERE id = ?").bind(order).fetch_one(&w.app.db.pool).await.expect("woo id");
    (order, woo, shipment)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tracking_sweep_follows_the_carrier_and_tells_the_store_of_each_delivery_once() {
    let w = World::new().await;
    let item = w.product("TRK-1", "01234500091", "A-01-1", false, &[("T1", 20, "A-01-1")]).await;
    let (_, _, moving) = shipped(&w, &item, "1ZTRACK0000000001", 1).await;
    let (_, _, trouble) = shipped(&w, &item, "1ZTRACK0000000002", 2).await;
    let (_, delivered_woo, delivered) = shipped(&w, &item, "1ZTRACK0000000003", 3).await;
    let (_, _, old) = shipped(&w, &item, "1ZTRACK0000000004", 45).await;
    w.ups.set_track("1ZTRACK0000000001", "I", "ARRIVED AT FACILITY", "20261202");
    w.ups.set_track("1ZTRACK0000000002", "X", "THE ADDRESS IS INCORRECT. UPS IS ATTEMPTING TO OBTAIN A CORRECTED ADDRESS", "20261202");
    w.ups.set_track("1ZTRACK0000000003", "D", "DELIVERED", "20261201");
    let swept = run_job(&w, "tracking_sweep").await;
    assert_eq!(
        (swept["asked"].as_u64(), swept["delivered"].as_u64(), swept["exceptions"].as_u64()),
        (Some(3), Some(1), Some(1)),
        "{swept}"
    );
    assert_eq!(w.ups.track_requests(), 3, "a shipment shipped 45 days ago is no longer asked about");
    let pool = &w.app.db.pool;
    let status = |id: u64| async move {
        sqlx::query_as::<_, (Option<String>, Option<chrono::NaiveDateTime>, Option<String>)>(
            "SELECT tracking_status, delivered_at, CAST(delivery_writeback AS CHAR) FROM shipments WHERE id = ?",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("shipment")
    };
    assert_eq!(status(moving).await.0.as_deref(), Some("in_transit"));
    assert_eq!(status(trouble).await.0.as_deref(), Some("exception"));
    assert_eq!(status(old).await.0, None);
    let (st, at, wb) = status(delivered).await;
    assert_eq!(
        (st.as_deref(), at.map(|t| t.to_string()), wb.as_deref()),
        (Some("delivered"), Some("2026-12-01 12:00:00".into()), Some("done"))
    );
    assert_eq!(w.woo.meta(delivered_woo).get("_qm_delivered_at").map(String::as_str), Some("2026-12-01T12:00:00Z"));
    assert!(
        w.woo.notes(delivered_woo).iter().any(|n| n == "Delivered (UPS 1ZTRACK0000000003) on 2026-12-01."),
        "{:?}",
        w.woo.notes(delivered_woo)
    );
    let mut told: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM event_log WHERE kind LIKE 'tracking.%'").fetch_all(pool).await.expect("events");
    told.sort();
    assert_eq!(
        told,
        ["tracking.delivered", "tracking.exception", "tracking.updated"],
        "one event per change (answers arrive in any order)"
    );
    let exceptions = quartermaster::station::tracking::exceptions(pool).await.expect("exceptions");
    assert_eq!(exceptions.len(), 1);
    assert!(exceptions[0].4.contains("ADDRESS IS INCORRECT"));

    // The next sweep asks only about what is not delivered, and tells nobody twice.
    let again = run_job(&w, "tracking_sweep").await;
    assert_eq!(
        (again["asked"].as_u64(), again["changed"].as_u64(), again["written_back"].as_u64()),
        (Some(2), Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(w.woo.notes(delivered_woo).iter().filter(|n| n.starts_with("Delivered")).count(), 1);
}

const SMTP: &str = "smtp: { host: 127.0.0.1, port: PORT, tls: none, from: ops@testco.example, timeout_seconds: 5 }\n";

fn smtp(port: u16) -> String {
    SMTP.replace("PORT", &port.to_string())
}

fn parse(raw: &[u8]) -> (String, String, Vec<String>) {
    let m = MessageParser::default().parse(raw).expect("message");
    let to = m.header_raw("X-RcptTo").unwrap_or_default().split(',').map(|s| s.trim().to_owned()).collect();
    (m.subject().unwrap_or_default().to_owned(), m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(), to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_are_mailed_once_per_episode_as_digests_and_once_when_resolved() {
    let mail = SmtpServer::start(None, None, &[]);
    let more =
        format!("{}alerts:\n  recipients:\n    default: [ops@testco.example]\n    low_stock: [buyer@testco.example]\n", smtp(mail.port));
    let w = World::with("", &more, &[]).await;
    let pool = &w.app.db.pool;
    // Low stock (1 free, threshold 2), a printer stopped, a job failing twice.
    let _low = w.product("LOW-1", "01234500093", "A-02-1", false, &[("L1", 1, "A-02-1")]).await;
    let cupsd = format!("127.0.0.1:{}", w._cups.port);
    let disable = std::process::Command::new("cupsdisable")
        .args(["-h", &cupsd, "-r", "out of labels", "bench-1-zebra"])
        .output()
        .expect("cupsdisable");
    assert!(disable.status.success());
    for _ in 0..2 {
        sqlx::query("INSERT INTO job_runs (job, status, finished_at, error) VALUES ('print_retry', 'failed', UTC_TIMESTAMP(6), 'printer bench-1-zebra: cannot reach')")
            .execute(pool)
            .await
            .expect("run");
    }
    let first = run_job(&w, "alerts").await;
    assert_eq!((first["opened"].as_u64(), first["mails"].as_u64()), (Some(3), Some(2)), "{first}");
    let got = mail.wait_for(2, Duration::from_secs(10)).await;
    let mut mails: Vec<(String, String, Vec<String>)> = got.iter().map(|m| parse(m)).collect();
    mails.sort_by(|a, b| a.2.cmp(&b.2));
    let (buyer, ops) = (&mails[0], &mails[1]);
    assert_eq!(buyer.2, ["buyer@testco.example"]);
    assert_eq!(buyer.0, "[Test Co] 1 new alert(s): low stock (1)");
    assert!(buyer.1.contains("Low stock: LOW-1 (Product LOW-1): 1 free, threshold 2"), "{}", buyer.1);
    assert_eq!(ops.2, ["ops@testco.example"]);
    assert_eq!(ops.0, "[Test Co] 2 new alert(s): jobs failing (1), printers offline (1)", "one digest for both");
    assert!(ops.1.contains("printer bench-1-zebra is stopped") && ops.1.contains("job print_retry failed 2 times in a row"), "{}", ops.1);

    // Still wrong: no more mail.
    let second = run_job(&w, "alerts").await;
    assert_eq!((second["opened"].as_u64(), second["mails"].as_u64()), (Some(0), Some(0)), "{second}");

    // The printer comes back and stock arrives: each resolution is told once.
    let enable = std::process::Command::new("cupsenable").args(["-h", &cupsd, "bench-1-zebra"]).output().expect("cupsenable");
    assert!(enable.status.success());
    sqlx::query("INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor) SELECT id, 'L2', UTC_TIMESTAMP(6), 10, 10, 100 FROM products WHERE sku = 'LOW-1'")
        .execute(pool)
        .await
        .expect("lot");
    let third = run_job(&w, "alerts").await;
    assert_eq!((third["resolved"].as_u64(), third["mails"].as_u64()), (Some(2), Some(2)), "{third}");
    let got = mail.wait_for(4, Duration::from_secs(10)).await;
    let subjects: Vec<String> = got[2..].iter().map(|m| parse(m).0).collect();
    assert!(subjects.iter().all(|s| s == "[Test Co] 1 alert(s) resolved"), "{subjects:?}");
    let fourth = run_job(&w, "alerts").await;
    assert_eq!(fourth["mails"], 0, "{fourth}");
    let open: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM alert_episodes WHERE resolved_at IS NULL").fetch_one(pool).await.expect("count");
    assert_eq!(open, 1, "the failing job is still open");
}

const LINK_KEY: &str = "review-link-key-0a91";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn review_requests_go_once_after_delivery_never_to_refunds_and_honour_the_signed_opt_out() {
    let mail = SmtpServer::start(None, None, &[]);
    let more = format!(
        "{}reviews: {{ after_days: 7, link: \"https://shop.test.example/review/{{order}}\", link_key: ref+file://secrets/link_key }}\n",
        smtp(mail.port)
    );
    let w = World::with("  public_url: https://shop.test.example/ops\n", &more, &[("link_key", LINK_KEY)]).await;
    let pool = &w.app.db.pool;
    let item = w.product("REV-1", "01234500095", "A-03-1", false, &[("R1", 20, "A-03-1")]).await;
    let mut orders = Vec::new();
    for (i, tn) in ["1ZREVIEW000000001", "1ZREVIEW000000002", "1ZREVIEW000000003", "1ZREVIEW000000004"].iter().enumerate() {
        let (order, _, shipment) = shipped(&w, &item, tn, 12).await;
        let days = if i == 3 { 2 } else { 8 };
        sqlx::query("UPDATE shipments SET delivered_at = UTC_TIMESTAMP(6) - INTERVAL ? DAY WHERE id = ?")
            .bind(days)
            .bind(shipment)
            .execute(pool)
            .await
            .expect("delivered");
        sqlx::query("UPDATE orders SET customer_email = ?, customer_name = ? WHERE id = ?")
            .bind(format!("buyer{i}@buyer-co.example"))
            .bind(format!("Buyer {i}"))
            .bind(order)
            .execute(pool)
            .await
            .expect("buyer");
        orders.push(order);
    }
    sqlx::query("UPDATE orders SET status = 'refunded' WHERE id = ?").bind(orders[1]).execute(pool).await.expect("refunded");
    // Buyer 2 opts out with the signed link before the run (a one-click POST).
    let token = quartermaster::mail::optout::token(&Secret::new(LINK_KEY), "buyer2@buyer-co.example");
    let forged = w.app.client.post(w.app.url("/unsubscribe?e=buyer2@buyer-co.example&t=00ff")).send().await.expect("post");
    assert_eq!(forged.status().as_u16(), 403, "a link not signed with the key does nothing");
    let one_click = reqwest::Client::new()
        .post(w.app.url(&format!("/unsubscribe?e=buyer2%40buyer-co.example&t={token}")))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .expect("post");
    assert_eq!(one_click.status().as_u16(), 200, "no sign-in needed");
    assert!(one_click.text().await.expect("page").contains("will send no more review requests to buyer2@buyer-co.example"));

    let ran = run_job(&w, "review_requests").await;
    assert_eq!((ran["sent"].as_u64(), ran["skipped"].as_u64()), (Some(1), Some(2)), "{ran}");
    let got = mail.wait_for(1, Duration::from_secs(10)).await;
    let m = MessageParser::default().parse(&got[0]).expect("message");
    assert_eq!(m.header_raw("X-RcptTo").map(str::trim), Some("buyer0@buyer-co.example"));
    let number: String =
        sqlx::query_scalar("SELECT number FROM orders WHERE id = ?").bind(orders[0]).fetch_one(pool).await.expect("number");
    assert_eq!(m.subject(), Some(format!("How was your order {number} from Test Co?").as_str()));
    let text = m.body_text(0).expect("text").into_owned();
    assert!(text.contains(&format!("https://shop.test.example/review/{number}")), "{text}");
    let unsubscribe = text.lines().find_map(|l| l.split("No more review requests: ").nth(1)).expect("unsubscribe link").trim().to_owned();
    assert!(unsubscribe.starts_with("https://shop.test.example/ops/unsubscribe?e=buyer0%40buyer-co.example&t="), "{unsubscribe}");
    assert_eq!(m.header_raw("List-Unsubscribe").map(str::trim), Some(format!("<{unsubscribe}>").as_str()));
    assert_eq!(m.header_raw("List-Unsubscribe-Post").map(str::trim), Some("List-Unsubscribe=One-Click"));
    let reasons: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT CAST(status AS CHAR), reason FROM review_requests ORDER BY order_id")
            .fetch_all(pool)
            .await
            .expect("requests");
    assert_eq!(reasons[1], ("skipped".into(), Some("the order was refunded".into())));
    assert_eq!(reasons[2], ("skipped".into(), Some("the buyer opted out of review requests".into())));
    assert_eq!(reasons.len(), 3, "the order delivered 2 days ago waits");

    // The link from the mail, opened: it asks first (a GET changes nothing), then records.
    let path = unsubscribe.trim_start_matches("https://shop.test.example/ops");
    let ask = w.app.client.get(w.app.url(path)).send().await.expect("get").text().await.expect("page");
    assert!(ask.contains("Stop review requests from Test Co to <strong>buyer0@buyer-co.example</strong>?"), "{ask}");
    assert!(!quartermaster::mail::optout::opted_out(pool, "buyer0@buyer-co.example").await.expect("q"));
    let t = path.rsplit("t=").next().expect("token");
    let done = w.app.client.post(w.app.url("/unsubscribe")).form(&[("e", "buyer0@buyer-co.example"), ("t", t)]).send().await.expect("post");
    assert_eq!(done.status().as_u16(), 200);
    assert!(quartermaster::mail::optout::opted_out(pool, "buyer0@buyer-co.example").await.expect("q"));

    // Once per order: nothing more, however often it runs.
    let again = run_job(&w, "review_requests").await;
    assert_eq!((again["sent"].as_u64(), again["skipped"].as_u64()), (Some(0), Some(0)), "{again}");
    assert_eq!(mail.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_summary_goes_once_a_local_day_with_yesterdays_figures() {
    let mail = SmtpServer::start(None, None, &[]);
    let more = format!("{}daily_summary: {{ at: \"00:00\", to: [owner@testco.example] }}\n", smtp(mail.port));
    let w = World::with("", &more, &[]).await;
    let pool = &w.app.db.pool;
    let item = w.product("SUM-1", "01234500097", "A-04-1", false, &[("S1", 20, "A-04-1")]).await;
    let order = w.order(&[(&item, 2)]).await;
    // Placed and shipped yesterday, noon Chicago time.
    let yesterday_noon = (Utc::now().with_timezone(&chrono_tz::America::Chicago).date_naive() - TimeDelta::days(1))
        .and_hms_opt(12, 0, 0)
        .expect("noon")
        .and_local_timezone(chrono_tz::America::Chicago)
        .single()
        .expect("one instant")
        .naive_utc();
    sqlx::query("UPDATE orders SET woo_created_at = ? WHERE id = ?").bind(yesterday_noon).bind(order).execute(pool).await.expect("placed");
    let shipment = ship::record_shipment(pool, order, None, "ups", None).await.expect("shipped");
    sqlx::query("UPDATE shipments SET shipped_at = ? WHERE id = ?")
        .bind(yesterday_noon)
        .bind(shipment)
        .execute(pool)
        .await
        .expect("shipped");
    let total: i64 = sqlx::query_scalar("SELECT total_minor FROM orders WHERE id = ?").bind(order).fetch_one(pool).await.expect("total");

    let ran = run_job(&w, "daily_summary").await;
    assert!(ran["sent_for"].is_string(), "{ran}");
    let got = mail.wait_for(1, Duration::from_secs(10)).await;
    let (subject, text, to) = parse(&got[0]);
    assert_eq!(to, ["owner@testco.example"]);
    let day =
        (Utc::now().with_timezone(&chrono_tz::America::Chicago).date_naive() - TimeDelta::days(1)).format("%A %B %-d, %Y").to_string();
    assert!(subject.starts_with(&format!("Test Co: {day} — 1 order(s), 1 shipment(s)")), "{subject}");
    assert!(text.contains("  Orders:           1") && text.contains("  Shipments:        1"), "{text}");
    let sales = quartermaster::money::display(total, "USD", quartermaster::money::Locale::parse("en-US"));
    assert!(text.contains(&format!("  Sales:            {sales}")), "{text}");
    let again = run_job(&w, "daily_summary").await;
    assert!(again["waiting"].as_str().is_some_and(|w| w.starts_with("already sent for")), "{again}");
    assert_eq!(mail.messages().len(), 1, "once a day");
}

/// A supplier's price list over HTTP that honours If-None-Match, counting what it answered.
async fn price_server(csv: &'static str) -> (String, Arc<Mutex<Vec<u16>>>) {
    let answers = Arc::new(Mutex::new(Vec::new()));
    let log = answers.clone();
    let app = Router::new().route(
        "/prices.csv",
        get(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let etag = "\"v1\"";
                let status = if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag) { 304 } else { 200 };
                log.lock().expect("log").push(status);
                if status == 304 {
                    (axum::http::StatusCode::NOT_MODIFIED, [("etag", etag)], String::new()).into_response()
                } else {
                    (axum::http::StatusCode::OK, [("etag", etag), ("content-type", "text/csv")], csv.to_owned()).into_response()
                }
            }
        }),
    );
    let addr = quartermaster::standin::serve(app, "127.0.0.1:0").await.expect("serve");
    (format!("http://{addr}/prices.csv"), answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn price_feeds_fill_supplier_costs_and_comparables_and_name_every_bad_row() {
    let (url, answers) = price_server("Item,UPC,Part,Net\nFED-1,,G-100,12.50\nFED-2,,,4.2x\n,,G-100,12.75\nNOPE-9,,,1.00\n").await;
    let more = format!(
        "sources:\n  supplier_catalogs:\n    - {{ name: grainger, location: \"{url}\", supplier: Grainger, columns: {{ sku: Item, gtin: UPC, part_number: Part, cost: Net }} }}\n  competitors:\n    - {{ name: marketplace, location: comps.json, format: json, columns: {{ sku: sku, cost: price, observed_at: seen }} }}\n"
    );
    let w = World::with("", &more, &[]).await;
    std::fs::write(
        w.app._tenant.dir.path().join("comps.json"),
        r#"[{"sku":"FED-1","price":"19.99","seen":"2026-12-01"},{"sku":"FED-1","price":"21.50","seen":"2026-12-02"},{"sku":"GHOST","price":"1","seen":"2026-12-02"}]"#,
    )
    .expect("comps");
    let pool = &w.app.db.pool;
    let a = w.product("FED-1", "01234500099", "A-05-1", false, &[]).await;
    w.product("FED-2", "01234500100", "A-05-2", false, &[]).await;
    let ran = run_job(&w, "price_feeds").await;
    let feeds = ran.as_array().expect("per feed");
    let grainger = feeds.iter().find(|f| f["name"] == "grainger").expect("grainger");
    assert_eq!(
        (grainger["outcome"].as_str(), grainger["rows"].as_u64(), grainger["refused"].as_u64()),
        (Some("read"), Some(3), Some(2)),
        "{grainger}"
    );
    let refusals = grainger["refusals"].to_string();
    assert!(
        refusals.contains("line 3: Net `4.2x`") && refusals.contains("line 5: no product with SKU, GTIN or part number NOPE-9"),
        "{refusals}"
    );
    // Row 4 named the product only by the part number row 2 taught.
    let costs: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.unit_cost_minor, s.name FROM supplier_costs c JOIN suppliers s ON s.id = c.supplier_id JOIN products p ON p.id = c.product_id WHERE p.sku = 'FED-1' ORDER BY c.id",
    )
    .fetch_all(pool)
    .await
    .expect("costs");
    assert_eq!(costs.last().map(|c| c.1.as_str()), Some("Grainger"));
    let latest =
        quartermaster::inventory::receive::latest_cost(pool, a.product_id(pool).await, "USD").await.expect("latest").expect("a cost");
    assert!([1250, 1275].contains(&latest.unit_cost_minor), "pricing reads the feed's cost: {latest:?}");
    let told: String = sqlx::query_scalar("SELECT message FROM event_log WHERE kind = 'feed.rows_refused' ORDER BY id LIMIT 1")
        .fetch_one(pool)
        .await
        .expect("event");
    assert!(told.contains("grainger") && told.contains("line 3"), "{told}");
    let market = feeds.iter().find(|f| f["name"] == "marketplace").expect("marketplace");
    assert_eq!((market["written"].as_u64(), market["refused"].as_u64()), (Some(2), Some(1)), "{market}");
    let comps = quartermaster::quotes::pricing::Comparables::default().with_stored(pool, "USD").await.expect("comps");
    assert_eq!(comps.for_sku("FED-1").len(), 2);

    // Not due again for six hours; forced, the URL answers 304 and the file is unchanged.
    let again = run_job(&w, "price_feeds").await;
    assert!(again.as_array().expect("feeds").iter().all(|f| f["outcome"] == "not_due"), "{again}");
    let forced = jobs::price_feeds::run(&w.app.state, true).await.expect("forced");
    assert!(forced.iter().all(|f| f.outcome == "unchanged"), "{forced:?}");
    assert_eq!(*answers.lock().expect("log"), [200, 304], "a conditional GET the second time");
}
