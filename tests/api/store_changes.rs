//! Orders as the store has them: refunds, REST line edits, trash, deletes
//! and restores, made in the store (the real WooCommerce 11.0.1 when it is
//! there, and the stand-in), each followed by one cycle after which the store
//! and Quartermaster's available agree for every SKU and the pick sheet shows
//! what is to be picked now.

use quartermaster::{
    ids::OrderId,
    inventory::{orders, reserve},
    station::pick,
};
use serde_json::json;
use sqlx::MySqlPool;

use crate::{
    helpers::TestDb,
    shop::{self, Shop},
    sync::{Poller, stock_up},
};

async fn available(pool: &MySqlPool, sku: &str) -> i64 {
    let id: u64 = sqlx::query_scalar("SELECT id FROM products WHERE sku = ?").bind(sku).fetch_one(pool).await.expect("product");
    reserve::available(pool, id).await.expect("available")
}

/// After a cycle: the store shows exactly what Quartermaster has available.
async fn agree(shop: &Shop, pool: &MySqlPool, items: &[(u64, &str)], when: &str) {
    for (id, sku) in items {
        let (store, ours) = (shop.stock(*id).await, available(pool, sku).await);
        assert_eq!(store, Some(ours), "{:?} {when}: {sku} store {store:?}, Quartermaster available {ours}", shop.kind);
    }
}

async fn order_id(pool: &MySqlPool, woo_id: u64) -> OrderId {
    sqlx::query_scalar("SELECT id FROM orders WHERE woo_id = ?").bind(woo_id).fetch_one(pool).await.expect("mirrored")
}

/// What the pick sheet asks for: (SKU, quantity) per line, none when the order is off the list.
async fn sheet(pool: &MySqlPool, woo_id: u64) -> Option<Vec<(String, u32)>> {
    let (_, lines) = pick::sheet(pool, order_id(pool, woo_id).await).await.expect("sheet")?;
    Some(lines.into_iter().map(|l| (l.sku, l.quantity)).collect())
}

async fn queued(pool: &MySqlPool, woo_id: u64) -> Option<String> {
    sqlx::query_scalar("SELECT CAST(q.status AS CHAR) FROM pick_queue q JOIN orders o ON o.id = q.order_id WHERE o.woo_id = ?")
        .bind(woo_id)
        .fetch_optional(pool)
        .await
        .expect("queue")
}

async fn events(pool: &MySqlPool, kind: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT message FROM event_log WHERE kind = ? ORDER BY id").bind(kind).fetch_all(pool).await.expect("events")
}

/// Waits until the clock is a second past the sync's watermark: WooCommerce's
/// `modified_after` is exclusive and to the second, so an order placed in the
/// watermark's own second is the feed's overlap's to catch, and these
/// pollers have none.
async fn past_watermark(pool: &MySqlPool) {
    let mark: String = sqlx::query_scalar("SELECT value FROM sync_state WHERE name = ?")
        .bind(quartermaster::sync::state::WATERMARK)
        .fetch_one(pool)
        .await
        .expect("a watermark");
    let mark = chrono::DateTime::parse_from_rfc3339(&mark).expect("rfc 3339");
    while chrono::Utc::now() < mark + chrono::TimeDelta::seconds(1) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A poller that reads the change feed from its watermark exactly (no
/// overlap), so that what the feed does not show can only be found by the
/// reading of the open orders by id.
fn poller(db: &TestDb, shop: &Shop, accounting: bool) -> Poller {
    let mut p = crate::sync::poller(db, shop.client(), None);
    p.deps.settings.overlap = chrono::TimeDelta::zero();
    if accounting {
        p.books = Some(crate::books::books_with(""));
    }
    p
}

/// A refund before shipping, with restock and without, accounting off and
/// on: the refunded units leave the reservation and the pick sheet, and the
/// store (which put the restocked unit back itself) ends equal to
/// Quartermaster's available, never counting the unit twice.
#[tokio::test]
async fn a_refund_before_shipping_releases_its_units_books_or_not() {
    for accounting in [false, true] {
        for shop in shop::both(if accounting { "refund_before_ship_books" } else { "refund_before_ship" }).await {
            let db = TestDb::migrated().await;
            if accounting {
                quartermaster::books::chart::install(&db.pool, &crate::books::books_with("").chart).await.expect("chart");
            }
            let a = shop.product("RBS-A", Some(0)).await;
            stock_up(&db.pool, &shop.client(), 20).await;
            let p = poller(&db, &shop, accounting);
            p.run_once().await.expect("first cycle");
            let items = [(a, "RBS-A")];
            agree(&shop, &db.pool, &items, "after the first cycle").await;
            past_watermark(&db.pool).await;

            let (status, created) = shop
                .admin(
                    reqwest::Method::POST,
                    "orders",
                    Some(json!({ "status": "processing", "line_items": [{ "product_id": a, "quantity": 3 }] })),
                )
                .await;
            assert_eq!(status, 201, "{created}");
            let order = created["id"].as_u64().expect("id");
            let line = created["line_items"][0]["id"].as_u64().expect("line");
            let s = p.run_once().await.expect("cycle");
            assert_eq!(s.units_reserved, 3, "{:?}: {s}", shop.kind);
            assert_eq!(sheet(&db.pool, order).await, Some(vec![("RBS-A".into(), 3)]));
            agree(&shop, &db.pool, &items, "after the order").await;

            // One unit refunded and restocked by the store (17 → 18).
            shop.refund(order, "19.99", true, &[(line, 1, "19.99")]).await;
            assert_eq!(shop.stock(a).await, Some(18), "{:?}", shop.kind);
            let s = p.run_once().await.expect("cycle after the refund");
            assert_eq!(s.units_released, 1, "{:?} accounting {accounting}: {s}", shop.kind);
            assert!(s.orders_skipped.is_empty(), "{:?}: {s}", shop.kind);
            assert_eq!(sheet(&db.pool, order).await, Some(vec![("RBS-A".into(), 2)]), "{:?}: the sheet shows the net quantity", shop.kind);
            agree(&shop, &db.pool, &items, "after a restocking refund").await;
            assert_eq!(shop.stock(a).await, Some(18), "{:?}: the restocked unit is counted once: {s}", shop.kind);

            // One more without restock: the store keeps 18, the unit is still on the shelf here.
            shop.refund(order, "19.99", false, &[(line, 1, "19.99")]).await;
            let s = p.run_once().await.expect("cycle after the second refund");
            assert_eq!(s.units_released, 1, "{:?}: {s}", shop.kind);
            assert_eq!(sheet(&db.pool, order).await, Some(vec![("RBS-A".into(), 1)]), "{:?}", shop.kind);
            agree(&shop, &db.pool, &items, "after a refund without restock").await;
            assert_eq!(shop.stock(a).await, Some(19), "{:?}", shop.kind);
            if accounting {
                let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_refunds").fetch_one(&db.pool).await.expect("refunds");
                assert_eq!(recorded, 2, "{:?}: the books record both refunds", shop.kind);
            }

            // The last unit refunded: the order leaves the pick list.
            shop.refund(order, "19.99", true, &[(line, 1, "19.99")]).await;
            let s = p.run_once().await.expect("cycle after the full refund");
            assert_eq!(s.units_released, 1, "{:?}: {s}", shop.kind);
            assert_eq!(queued(&db.pool, order).await, None, "{:?}: nothing left to pick", shop.kind);
            agree(&shop, &db.pool, &items, "after a full refund").await;
            let quiet = p.run_once().await.expect("quiet cycle");
            assert_eq!((quiet.orders_changed, quiet.skus_pushed), (0, 0), "{:?}: {quiet}", shop.kind);
        }
    }
}

/// A REST line edit, which does not move the order's modified date, is seen
/// by the next cycle's reading of the open orders by id: lowered releases,
/// raised reserves more, a line added reserves, a line removed releases.
#[tokio::test]
async fn a_rest_line_edit_is_mirrored_by_the_next_cycle() {
    for shop in shop::both("line_edit_mirrored").await {
        let db = TestDb::migrated().await;
        let a = shop.product("LE-A", Some(0)).await;
        let b = shop.product("LE-B", Some(0)).await;
        stock_up(&db.pool, &shop.client(), 20).await;
        let p = poller(&db, &shop, false);
        p.run_once().await.expect("first cycle");
        let items = [(a, "LE-A"), (b, "LE-B")];
        past_watermark(&db.pool).await;
        let order = shop.order(&[(a, 0, 4)], "processing").await;
        p.run_once().await.expect("cycle");
        agree(&shop, &db.pool, &items, "after the order").await;
        let line = shop.client().orders_by_id(&[order]).await.expect("read").remove(0).line_items[0].id;

        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 2 }] })).await;
        let s = p.run_once().await.expect("cycle after lowering");
        assert_eq!((s.orders_changed, s.units_released), (1, 2), "{:?}: {s}", shop.kind);
        assert_eq!((s.open_checked, s.open_requests), (1, 1), "{:?}: one request read the open order again: {s}", shop.kind);
        assert_eq!(sheet(&db.pool, order).await, Some(vec![("LE-A".into(), 2)]), "{:?}", shop.kind);
        agree(&shop, &db.pool, &items, "after lowering a line").await;

        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 5 }] })).await;
        let s = p.run_once().await.expect("cycle after raising");
        assert_eq!(s.units_reserved, 3, "{:?}: {s}", shop.kind);
        agree(&shop, &db.pool, &items, "after raising a line").await;

        shop.put_order(order, json!({ "line_items": [{ "product_id": b, "quantity": 3 }] })).await;
        let s = p.run_once().await.expect("cycle after adding");
        assert_eq!(s.units_reserved, 3, "{:?}: {s}", shop.kind);
        agree(&shop, &db.pool, &items, "after adding a line").await;

        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 0 }] })).await;
        let s = p.run_once().await.expect("cycle after removing");
        assert_eq!(s.units_released, 5, "{:?}: {s}", shop.kind);
        assert_eq!(sheet(&db.pool, order).await, Some(vec![("LE-B".into(), 3)]), "{:?}", shop.kind);
        agree(&shop, &db.pool, &items, "after removing a line").await;
        let quiet = p.run_once().await.expect("quiet");
        assert_eq!((quiet.orders_changed, quiet.skus_pushed), (0, 0), "{:?}: {quiet}", shop.kind);
    }
}

/// An order trashed in the store releases its units and leaves the pick
/// list; restored, it is reserved again; deleted for good (404), released.
#[tokio::test]
async fn trash_and_delete_release_and_a_restore_reserves_again() {
    for shop in shop::both("trash_delete_restore").await {
        let db = TestDb::migrated().await;
        let a = shop.product("TD-A", Some(0)).await;
        stock_up(&db.pool, &shop.client(), 20).await;
        let p = poller(&db, &shop, false);
        p.run_once().await.expect("first cycle");
        let items = [(a, "TD-A")];
        past_watermark(&db.pool).await;
        let x = shop.order(&[(a, 0, 2)], "processing").await;
        let y = shop.order(&[(a, 0, 3)], "processing").await;
        p.run_once().await.expect("cycle");
        agree(&shop, &db.pool, &items, "after the orders").await;

        let (status, _) = shop.admin(reqwest::Method::DELETE, &format!("orders/{x}"), None).await;
        assert_eq!(status, 200);
        let s = p.run_once().await.expect("cycle after the trash");
        assert_eq!(s.units_released, 2, "{:?}: {s}", shop.kind);
        assert_eq!(queued(&db.pool, x).await, None, "{:?}: off the pick list", shop.kind);
        agree(&shop, &db.pool, &items, "after the trash").await;
        let told = events(&db.pool, "order.trashed").await;
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(told[0].contains("was trashed") && told[0].contains("2 released"), "{told:?}");

        // A restore moves the modified date: the change feed brings it back.
        past_watermark(&db.pool).await;
        shop.set_status(x, "processing").await;
        let s = p.run_once().await.expect("cycle after the restore");
        assert_eq!(s.units_reserved, 2, "{:?}: {s}", shop.kind);
        assert_eq!(queued(&db.pool, x).await.as_deref(), Some("queued"), "{:?}", shop.kind);
        assert_eq!(events(&db.pool, "order.restored").await.len(), 1);
        agree(&shop, &db.pool, &items, "after the restore").await;

        let (status, _) = shop.admin(reqwest::Method::DELETE, &format!("orders/{y}?force=true"), None).await;
        assert_eq!(status, 200);
        let s = p.run_once().await.expect("cycle after the delete");
        assert_eq!((s.orders_deleted, s.units_released), (1, 3), "{:?}: {s}", shop.kind);
        assert_eq!(queued(&db.pool, y).await, None, "{:?}", shop.kind);
        let told = events(&db.pool, "order.deleted").await;
        assert!(told.len() == 1 && told[0].contains("3 unit(s) released"), "{told:?}");
        agree(&shop, &db.pool, &items, "after the delete").await;
        let quiet = p.run_once().await.expect("quiet");
        assert_eq!((quiet.orders_changed, quiet.skus_pushed, quiet.orders_deleted), (0, 0, 0), "{:?}: {quiet}", shop.kind);
    }
}

/// A packed order the store then edits keeps what was packed, and is listed
/// for a person (the home page and the dashboard read `sync_rejects`); put
/// back as it was, it is no longer listed.
#[tokio::test]
async fn a_packed_order_edited_in_the_store_is_flagged_and_kept() {
    for shop in shop::both("packed_order_edited").await {
        let db = TestDb::migrated().await;
        let a = shop.product("PK-A", Some(0)).await;
        stock_up(&db.pool, &shop.client(), 20).await;
        let p = poller(&db, &shop, false);
        p.run_once().await.expect("first cycle");
        past_watermark(&db.pool).await;
        let order = shop.order(&[(a, 0, 4)], "processing").await;
        p.run_once().await.expect("cycle");
        sqlx::query("UPDATE pick_queue SET status = 'packed' WHERE order_id = ?")
            .bind(order_id(&db.pool, order).await)
            .execute(&db.pool)
            .await
            .expect("packed");
        let line = shop.client().orders_by_id(&[order]).await.expect("read").remove(0).line_items[0].id;

        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 1 }] })).await;
        let s = p.run_once().await.expect("cycle after the edit");
        assert_eq!(s.units_released, 0, "{:?}: {s}", shop.kind);
        assert!(s.orders_skipped.iter().any(|m| m.contains("after it was packed") && m.contains("4 → 1")), "{:?}: {s}", shop.kind);
        assert_eq!(sheet(&db.pool, order).await, Some(vec![("PK-A".into(), 4)]), "{:?}: what was packed stays", shop.kind);
        agree(&shop, &db.pool, &[(a, "PK-A")], "after the store edited a packed order (the truth is pushed back)").await;
        let listed = orders::rejects(&db.pool).await.expect("rejects");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(events(&db.pool, "sync.order_skipped").await.len(), 1);
        let again = p.run_once().await.expect("next cycle");
        assert_eq!(events(&db.pool, "sync.order_skipped").await.len(), 1, "{:?}: told once: {again}", shop.kind);

        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 4 }] })).await;
        let s = p.run_once().await.expect("cycle after putting it back");
        assert!(s.orders_skipped.is_empty(), "{:?}: {s}", shop.kind);
        assert!(orders::rejects(&db.pool).await.expect("rejects").is_empty(), "{:?}: no longer listed", shop.kind);
    }
}
