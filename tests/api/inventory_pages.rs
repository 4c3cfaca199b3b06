//! The receiving page and `qm sync --once`, end to end.

use std::process::Command;

use quartermaster::{
    operators::Role,
    standin::{self, woocommerce::WooStandin},
};
use reqwest::StatusCode;

use crate::helpers::{TenantDir, TestApp, TestDb, csrf_in};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn back_office_receives_an_invoice_and_adjusts_a_lot_pickers_may_not() {
    let app = TestApp::spawn().await;
    sqlx::query("INSERT INTO products (sku, name) VALUES ('HXB-1', 'Hex bolt M8')").execute(&app.db.pool).await.expect("product");
    app.add_operator("pat", Role::Picker, PASSWORD).await;
    let clerk = app.add_operator("dana", Role::BackOffice, PASSWORD).await;

    assert_eq!(app.sign_in("pat", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/inventory/receive").await.status(), StatusCode::FORBIDDEN, "pickers do not receive stock");
    let home = app.get("/").await.text().await.expect("home");
    app.post_form("/sign-out", &[("csrf", &csrf_in(&home))]).await;

    assert_eq!(app.sign_in("dana", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let page = app.get("/inventory/receive").await.text().await.expect("page");
    let csrf = csrf_in(&page);
    let bad = app
        .post_form(
            "/inventory/receive",
            &[
                ("csrf", &csrf),
                ("supplier", "Midwest"),
                ("invoice", "INV-7"),
                ("date", "2026-11-20"),
                ("csv", "sku,qty,unit_cost,lot_ref\nHXB-1,12,0.45,L1\nHXB-1,-3,0.45,L2\n"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.expect("html");
    assert!(html.contains("csv line 3: qty `-3` is not a whole number above zero"), "{html}");
    assert!(html.contains("HXB-1,12,0.45,L1"), "the text comes back as typed");
    let good = app
        .post_form(
            "/inventory/receive",
            &[
                ("csrf", &csrf),
                ("supplier", "Midwest"),
                ("invoice", "INV-7"),
                ("date", "2026-11-20"),
                ("csv", "sku,qty,unit_cost,lot_ref\nHXB-1,12,0.45,L1\n"),
            ],
        )
        .await;
    assert_eq!(good.status(), StatusCode::OK);
    assert!(good.text().await.expect("html").contains("Received invoice INV-7 from Midwest: 1 lots, 12 units."));
    let (lot, by): (u64, Option<quartermaster::ids::OperatorId>) =
        sqlx::query_as("SELECT l.id, e.operator_id FROM inventory_lots l, event_log e WHERE e.kind = 'inventory.received'")
            .fetch_one(&app.db.pool)
            .await
            .expect("lot");
    assert_eq!(by, Some(clerk), "the receipt is recorded with the operator");

    let adj = app
        .post_form(
            "/inventory/adjust",
            &[("csrf", &csrf), ("lot", &lot.to_string()), ("delta", "-2"), ("reason", "damage"), ("note", "forklift")],
        )
        .await;
    assert_eq!(adj.status(), StatusCode::OK);
    let (delta, op): (i32, Option<quartermaster::ids::OperatorId>) =
        sqlx::query_as("SELECT delta, operator_id FROM inventory_adjustments").fetch_one(&app.db.pool).await.expect("adjustment");
    assert_eq!((delta, op), (-2, Some(clerk)));
    let refused = app
        .post_form("/inventory/adjust", &[("csrf", &csrf), ("lot", &lot.to_string()), ("delta", "-20"), ("reason", "loss"), ("note", "")])
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

// Multi-threaded: the stand-in keeps serving while the test waits on `qm`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_sync_once_runs_a_cycle_and_prints_a_summary() {
    let db = TestDb::empty().await;
    let tenant = TenantDir::write(&db, "", "");
    let store = WooStandin::new(&tenant.secrets.woo_key, &tenant.secrets.woo_secret);
    let a = store.add_product("HXB-10001", 0, true);
    let addr = standin::serve(store.router(), "127.0.0.1:0").await.expect("serve");
    let path = tenant.config_path();
    let yaml = std::fs::read_to_string(&path).expect("read").replace("base_url: http://127.0.0.1:9", &format!("base_url: http://{addr}"));
    std::fs::write(&path, yaml).expect("write");
    // The first run mirrors the catalog; a receipt then gives it stock.
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_qm")).args(args).arg("--config").arg(&path).env_remove("QM_DATABASE_URL").output().expect("run qm")
    };
    let first = run(&["sync", "--once", "--catalog"]);
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{out}{}", String::from_utf8_lossy(&first.stderr));
    assert!(out.contains("catalog: 1 seen, 1 upserted"), "{out}");
    let csv = tenant.dir.path().join("receipt.csv");
    std::fs::write(&csv, "sku,qty,unit_cost,lot_ref\nHXB-10001,9,0.45,L1\n").expect("csv");
    let recv = run(&["inventory", "receive", csv.to_str().unwrap_or_default(), "--supplier", "Midwest", "--invoice", "INV-1"]);
    assert!(recv.status.success(), "{}", String::from_utf8_lossy(&recv.stderr));
    store.create_order(&[(a, 2)], "processing");
    let second = run(&["sync", "--once"]);
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{out}");
    assert!(out.contains("units reserved 2") && out.contains("pushed 1"), "{out}");
    assert_eq!(store.stock(a), Some(7));
}

#[tokio::test]
async fn the_home_page_shows_backorders_and_what_a_channel_refused() {
    let app = TestApp::spawn().await;
    app.add_operator("dana", Role::BackOffice, PASSWORD).await;
    sqlx::raw_sql(
        r#"INSERT INTO products (id, sku, name) VALUES (1, 'VBT-A42', 'V-belt');
           INSERT INTO orders (id, woo_id, number, status, currency, total_minor, woo_created_at, woo_modified_at) VALUES (1, 1, '1', 'processing', 'USD', 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));
           INSERT INTO order_lines (order_id, woo_line_id, product_id, name, quantity, backordered_qty, unit_price_minor, total_minor) VALUES (1, 1, 1, 'V-belt', 3, 2, 100, 300);
           INSERT INTO channel_outbox (channel, kind, subject, product_id, payload, status, attempts, last_error_code, last_error)
             VALUES ('woocommerce', 'stock', 'VBT-A42', 1, '{}', 'failed', 1, 'woocommerce_rest_product_invalid_id', 'Invalid ID.');"#,
    )
    .execute(&app.db.pool)
    .await
    .expect("fixture");
    assert_eq!(app.sign_in("dana", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    let html = app.get("/").await.text().await.expect("home");
    assert!(html.contains("<strong>1</strong> backordered lines"), "{html}");
    assert!(html.contains("woocommerce_rest_product_invalid_id: Invalid ID."), "{html}");
}
