//! Contract tests: every behaviour of WooCommerce that Quartermaster relies
//! on, run by one body against the stand-in and against a real WooCommerce
//! 11.0.1 (when `../shared/woocommerce-real/` is there). A behaviour the
//! stand-in claims and the real store does not have fails here.

use quartermaster::channels::{ChannelError, ItemResult, StockChannel, StockUpdate, woocommerce::MAX_BATCH};
use reqwest::Method;
use serde_json::json;

use crate::shop::{self, Kind, Shop};

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test]
async fn oauth_over_plain_http_is_accepted_with_values_that_need_encoding() {
    for shop in shop::both("oauth_over_plain_http").await {
        let woo = shop.client();
        shop.product("ENC-1", Some(3)).await;
        // A date's colons, a space, '+', '&', '=' and non-ASCII letters: each
        // is encoded once in the value and once more in the base string.
        let dated = woo.orders_modified_after(chrono::Utc::now() - chrono::TimeDelta::days(2)).await;
        assert!(dated.is_ok(), "{:?}: orders with a date: {dated:?}", shop.kind);
        for term in ["café crème", "a+b & c=d", "Größe 5/8\"", "日本"] {
            let r = woo.get_raw("products", &q(&[("search", term), ("per_page", "5")])).await;
            assert!(r.is_ok(), "{:?}: search {term:?}: {r:?}", shop.kind);
        }
        // The wrong secret is refused with WooCommerce's own 401.
        let bad = shop.client_with("cs_0000000000000000000000000000000000000000").orders_modified_after(chrono::Utc::now()).await;
        match bad {
            Err(ChannelError::Permanent { status: 401, code, .. }) => {
                assert_eq!(code, "woocommerce_rest_authentication_error", "{:?}", shop.kind)
            }
            other => panic!("{:?}: a wrong secret answered {other:?}", shop.kind),
        }
        // Basic auth over plain http is not accepted (WooCommerce wants TLS for it).
        let plain = reqwest::Client::new()
            .get(format!("{}/wp-json/wc/v3/orders", shop.url))
            .basic_auth(&shop.ck, Some(&shop.cs))
            .send()
            .await
            .expect("GET");
        assert_eq!(plain.status().as_u16(), 401, "{:?}: Basic over http", shop.kind);
    }
}

#[tokio::test]
async fn lists_are_paged_and_per_page_stops_at_100() {
    for shop in shop::both("lists_are_paged").await {
        for i in 0..3 {
            shop.product(&format!("PAGE-{i}"), Some(1)).await;
        }
        let woo = shop.client();
        let (pages, body) = woo.get_raw("products", &q(&[("per_page", "2")])).await.expect("page 1");
        assert_eq!(pages, Some(2), "{:?}", shop.kind);
        assert_eq!(body.as_array().map(Vec::len), Some(2), "{:?}", shop.kind);
        let (_, second) = woo.get_raw("products", &q(&[("per_page", "2"), ("page", "2")])).await.expect("page 2");
        assert_eq!(second.as_array().map(Vec::len), Some(1), "{:?}", shop.kind);
        match woo.get_raw("products", &q(&[("per_page", "101")])).await {
            Err(ChannelError::Permanent { status: 400, code, .. }) => assert_eq!(code, "rest_invalid_param", "{:?}", shop.kind),
            other => panic!("{:?}: per_page=101 answered {other:?}", shop.kind),
        }
        assert_eq!(woo.all_products().await.expect("all").len(), 3, "{:?}", shop.kind);
    }
}

#[tokio::test]
async fn batches_hold_100_items_and_report_errors_per_item() {
    for shop in shop::both("batches_hold_100").await {
        let a = shop.product("BAT-A", Some(5)).await;
        let unmanaged = shop.product("BAT-U", None).await;
        // 101 items: refused whole with 413, nothing written.
        let update: Vec<_> =
            (0..=MAX_BATCH).map(|i| json!({ "id": if i == 0 { a } else { 900_000 + i as u64 }, "stock_quantity": 1 })).collect();
        let (status, body) = shop.admin(Method::POST, "products/batch", Some(json!({ "update": update }))).await;
        assert_eq!(status, 413, "{:?}: {body}", shop.kind);
        assert_eq!(body["code"], "woocommerce_rest_request_entity_too_large", "{:?}", shop.kind);
        assert_eq!(shop.stock(a).await, Some(5), "{:?}: nothing written", shop.kind);
        // Through our client: a good item, an unknown id, and a product that does not manage stock.
        let u = |pid: u64, ext: u64, sku: &str, qty: i64| StockUpdate {
            product_id: pid,
            sku: sku.into(),
            external_id: Some(ext),
            parent_id: None,
            quantity: qty,
        };
        let results =
            shop.client().push(&[u(1, a, "BAT-A", 7), u(2, 999_999, "GONE", 3), u(3, unmanaged, "BAT-U", 4)]).await.expect("push");
        assert!(results.contains(&ItemResult::Confirmed { product_id: 1, quantity: 7 }), "{:?}: {results:?}", shop.kind);
        assert!(
            results
                .iter()
                .any(|r| matches!(r, ItemResult::Rejected { product_id: 2, code, .. } if code == "woocommerce_rest_product_invalid_id")),
            "{:?}: {results:?}",
            shop.kind
        );
        assert!(
            results.iter().any(|r| matches!(r, ItemResult::Rejected { product_id: 3, code, .. } if code == "manage_stock_off")),
            "{:?}: {results:?}",
            shop.kind
        );
        assert_eq!(shop.stock(a).await, Some(7), "{:?}", shop.kind);
        assert_eq!(shop.stock(unmanaged).await, None, "{:?}: the write to an unmanaged product is ignored", shop.kind);
    }
}

#[tokio::test]
async fn paid_orders_lower_stock_once_and_cancelling_gives_it_back() {
    for shop in shop::both("paid_orders_lower_stock").await {
        let p = shop.product("DEC-1", Some(20)).await;
        let pending = shop.order(&[(p, 0, 2)], "pending").await;
        assert_eq!(shop.stock(p).await, Some(20), "{:?}: pending does not reduce", shop.kind);
        shop.set_status(pending, "processing").await;
        assert_eq!(shop.stock(p).await, Some(18), "{:?}: pending → processing reduces", shop.kind);
        shop.set_status(pending, "completed").await;
        assert_eq!(shop.stock(p).await, Some(18), "{:?}: only once per order", shop.kind);
        let paid = shop.order(&[(p, 0, 25)], "processing").await;
        assert_eq!(shop.stock(p).await, Some(-7), "{:?}: REST orders do not check stock", shop.kind);
        // The order says what it took, line by line.
        let orders = shop.client().orders_modified_after(chrono::Utc::now() - chrono::TimeDelta::hours(1)).await.expect("orders");
        let o = orders.iter().find(|o| o.id == paid).expect("the paid order is listed");
        assert_eq!(o.line_items[0].reduced_stock(), 25, "{:?}: _reduced_stock", shop.kind);
        let first = orders.iter().find(|o| o.id == pending).expect("listed");
        assert_eq!(first.line_items[0].reduced_stock(), 2, "{:?}", shop.kind);
        shop.set_status(paid, "cancelled").await;
        assert_eq!(shop.stock(p).await, Some(18), "{:?}: cancelling restores", shop.kind);
        let orders = shop.client().orders_modified_after(chrono::Utc::now() - chrono::TimeDelta::hours(1)).await.expect("orders");
        let o = orders.iter().find(|o| o.id == paid).expect("listed");
        assert_eq!(o.line_items[0].reduced_stock(), 0, "{:?}: restored lines carry no reduction", shop.kind);
    }
}

#[tokio::test]
async fn variations_hold_their_own_stock_or_their_parents() {
    for shop in shop::both("variations_hold_stock").await {
        let (own_parent, own) = shop.variable("VAR-OWN", None, &[("VAR-OWN-S", Some(5)), ("VAR-OWN-M", Some(6))]).await;
        let (parent, on_parent) = shop.variable("VAR-PAR", Some(7), &[("VAR-PAR-S", None)]).await;
        let woo = shop.client();
        let found = woo.products_by_sku("VAR-OWN-M").await.expect("by sku");
        assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![own[1]], "{:?}: ?sku= finds a variation", shop.kind);
        let all = woo.all_products().await.expect("all");
        let v = all.iter().find(|p| p.id == own[0]).expect("variation listed");
        assert_eq!((v.parent_id, v.stock_quantity), (own_parent, Some(5)), "{:?}", shop.kind);
        let vp = all.iter().find(|p| p.id == on_parent[0]).expect("variation listed");
        assert!(vp.manage_stock.on_parent(), "{:?}: manage_stock is \"parent\": {:?}", shop.kind, vp.manage_stock);
        assert_eq!(vp.stock_quantity, Some(7), "{:?}: it shows the parent's stock", shop.kind);
        // Variation stock goes through the parent's variations/batch.
        let res = woo
            .push(&[StockUpdate {
                product_id: 1,
                sku: "VAR-OWN-S".into(),
                external_id: Some(own[0]),
                parent_id: Some(own_parent),
                quantity: 2,
            }])
            .await
            .expect("push");
        assert_eq!(res, vec![ItemResult::Confirmed { product_id: 1, quantity: 2 }], "{:?}", shop.kind);
        assert_eq!(shop.stock(own[0]).await, Some(2), "{:?}", shop.kind);
        // An order of a parent-managed variation lowers the parent.
        shop.order(&[(parent, on_parent[0], 3)], "processing").await;
        assert_eq!(shop.stock(parent).await, Some(4), "{:?}", shop.kind);
        // A stock write to such a variation is ignored (it holds none of its own).
        let res = woo
            .push(&[StockUpdate {
                product_id: 9,
                sku: "VAR-PAR-S".into(),
                external_id: Some(on_parent[0]),
                parent_id: Some(parent),
                quantity: 50,
            }])
            .await
            .expect("push");
        assert!(matches!(&res[..], [ItemResult::Rejected { code, .. }] if code == "manage_stock_off"), "{:?}: {res:?}", shop.kind);
        assert_eq!(shop.stock(parent).await, Some(4), "{:?}", shop.kind);
    }
}

/// `modified_after` with `dates_are_gmt=true` and a GMT time without offset:
/// exclusive, at one-second resolution, in any site time zone and storage.
async fn modified_after_contract(shop: &Shop) {
    let p = shop.product("DATE-1", Some(9)).await;
    let id = shop.order(&[(p, 0, 1)], "processing").await;
    let woo = shop.client();
    let all = woo.orders_modified_after(chrono::Utc::now() - chrono::TimeDelta::days(1)).await.expect("orders");
    let o = all.iter().find(|o| o.id == id).expect("the order is listed");
    let at = chrono::NaiveDateTime::parse_from_str(&o.date_modified_gmt, "%Y-%m-%dT%H:%M:%S").expect("gmt date").and_utc();
    let now = chrono::Utc::now();
    assert!((now - at).num_seconds().abs() < 120, "{:?}: date_modified_gmt {at} is GMT (now {now})", shop.kind);
    let same = woo.orders_modified_after(at).await.expect("orders");
    assert!(!same.iter().any(|o| o.id == id), "{:?}: the bound is exclusive", shop.kind);
    let before = woo.orders_modified_after(at - chrono::TimeDelta::seconds(1)).await.expect("orders");
    assert!(before.iter().any(|o| o.id == id), "{:?}: one second earlier finds it", shop.kind);
}

#[tokio::test]
async fn modified_after_is_exclusive_and_gmt_in_any_time_zone() {
    modified_after_contract(&Shop::standin().await).await;
    for env in [&[][..], &[("WOO_TIMEZONE", "America/New_York")][..], &[("WOO_TIMEZONE", "Asia/Kolkata"), ("WOO_HPOS", "1")][..]] {
        let Some(real) = Shop::real("modified_after_is_exclusive", env).await else { return };
        assert_eq!(real.kind, Kind::Real);
        modified_after_contract(&real).await;
    }
}

#[tokio::test]
async fn stock_is_read_back_by_id_for_products_and_variations() {
    for shop in shop::both("stock_read_back").await {
        let a = shop.product("RB-A", Some(4)).await;
        let b = shop.product("RB-B", Some(-3)).await;
        let _other = shop.product("RB-C", Some(9)).await;
        let (parent, vars) = shop.variable("RB-V", None, &[("RB-V-S", Some(2)), ("RB-V-M", Some(8))]).await;
        let got = shop.client().stock_of(&[(a, None), (b, None), (vars[1], Some(parent)), (999_999, None)]).await.expect("stock_of");
        assert_eq!(got.len(), 3, "{:?}: only what was asked for, and an unknown id is absent: {got:?}", shop.kind);
        assert_eq!(
            (got.get(&a), got.get(&b), got.get(&vars[1])),
            (Some(&Some(4)), Some(&Some(-3)), Some(&Some(8))),
            "{:?}: negative stock as it is",
            shop.kind
        );
    }
}

#[tokio::test]
async fn drafts_private_and_backorderable_products_are_listed_and_take_stock() {
    for shop in shop::both("drafts_private_backorders").await {
        let mut ids = Vec::new();
        for (sku, extra) in [("DR-1", json!({ "status": "draft" })), ("PR-1", json!({ "status": "private", "backorders": "yes" }))] {
            let mut body = json!({ "name": sku, "sku": sku, "regular_price": "3.00", "manage_stock": true, "stock_quantity": 2 });
            for (k, v) in extra.as_object().into_iter().flatten() {
                body[k] = v.clone();
            }
            let (status, v) = shop.admin(Method::POST, "products", Some(body)).await;
            assert_eq!(status, 201, "{:?}: {v}", shop.kind);
            ids.push(v["id"].as_u64().expect("id"));
        }
        let woo = shop.client();
        let all = woo.all_products().await.expect("all");
        for id in &ids {
            assert!(all.iter().any(|p| p.id == *id), "{:?}: drafts and private products are listed: {id}", shop.kind);
        }
        let res = woo
            .push(&[StockUpdate { product_id: 1, sku: "PR-1".into(), external_id: Some(ids[1]), parent_id: None, quantity: 5 }])
            .await
            .expect("push");
        assert_eq!(res, vec![ItemResult::Confirmed { product_id: 1, quantity: 5 }], "{:?}", shop.kind);
        shop.order(&[(ids[1], 0, 8)], "processing").await;
        assert_eq!(shop.stock(ids[1]).await, Some(-3), "{:?}: a backorderable product goes below zero", shop.kind);
    }
}

#[tokio::test]
async fn refunds_name_their_items_and_only_a_restocking_one_moves_stock() {
    for shop in shop::both("refunds").await {
        let p = shop.product("RFD-1", Some(20)).await;
        let body = json!({ "status": "processing", "line_items": [{ "product_id": p, "quantity": 3 }],
                           "shipping_lines": [{ "method_id": "flat_rate", "method_title": "Flat", "total": "5.00" }],
                           "meta_data": [{ "key": "_stripe_fee", "value": "1.23" }] });
        let (status, created) = shop.admin(Method::POST, "orders", Some(body)).await;
        assert_eq!(status, 201, "{:?}: {created}", shop.kind);
        let order = created["id"].as_u64().expect("id");
        let line = created["line_items"][0]["id"].as_u64().expect("line id");
        let ship = created["shipping_lines"][0]["id"].as_u64().expect("shipping line id");
        let client = shop.client();
        let o = client.orders_by_id(&[order]).await.expect("order").remove(0);
        assert_eq!(o.gateway_fee(), Some(("meta:_stripe_fee", "1.23".to_owned())), "{:?}: the fee meta reads back", shop.kind);
        assert_eq!(o.shipping_total, "5.00", "{:?}", shop.kind);
        assert!(o.refunds.is_empty(), "{:?}", shop.kind);
        assert_eq!(shop.stock(p).await, Some(17), "{:?}", shop.kind);

        // One unit back with restock; an amount beyond the items is refunded by amount only.
        let r1 = shop.refund(order, "25.00", true, &[(line, 1, "19.99")]).await;
        assert_eq!(shop.stock(p).await, Some(18), "{:?}: a restocking refund puts the unit back", shop.kind);
        // One more unit and the shipping, no restock.
        let r2 = shop.refund(order, "24.99", false, &[(line, 1, "19.99"), (ship, 0, "5.00")]).await;
        assert_eq!(shop.stock(p).await, Some(18), "{:?}: without restock stock stays", shop.kind);

        let refunds = shop.client().refunds_of(order).await.expect("refunds");
        assert_eq!(refunds.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r1["id"].as_u64().expect("r1"), r2["id"].as_u64().expect("r2")]);
        let (a, b) = (&refunds[0], &refunds[1]);
        assert_eq!((a.amount.as_str(), a.line_items.len(), a.shipping_lines.len()), ("25.00", 1, 0), "{:?}: {a:?}", shop.kind);
        assert_eq!((a.line_items[0].quantity, a.line_items[0].total.as_str()), (-1, "-19.99"), "{:?}", shop.kind);
        assert_eq!(a.line_items[0].refunded_item(), Some(line), "{:?}: the item names the order line", shop.kind);
        assert_eq!(b.amount, "24.99", "{:?}", shop.kind);
        assert_eq!(b.shipping_lines.len(), 1, "{:?}: {b:?}", shop.kind);
        assert_eq!((b.shipping_lines[0].total.as_str(), b.shipping_lines[0].refunded_item()), ("-5.00", Some(ship)), "{:?}", shop.kind);
        assert!(chrono::NaiveDateTime::parse_from_str(&a.date_created_gmt, "%Y-%m-%dT%H:%M:%S").is_ok(), "{:?}", shop.kind);

        // The order lists both and keeps, on its line, what came back to stock.
        let o = client.orders_by_id(&[order]).await.expect("order").remove(0);
        assert_eq!(o.refunds.len(), 2, "{:?}", shop.kind);
        // Listed by date (refunds in the same second in either order): Quartermaster goes by id.
        let mut listed: Vec<(u64, &str)> = o.refunds.iter().map(|r| (r.id, r.total.as_str())).collect();
        listed.sort_unstable();
        assert_eq!(listed, vec![(refunds[0].id, "-25.00"), (refunds[1].id, "-24.99")], "{:?}", shop.kind);
        assert_eq!((o.line_items[0].restocked_by_refunds(), o.line_items[0].reduced_stock()), (1, 2), "{:?}", shop.kind);
        assert_eq!(o.line_items[0].quantity, 3, "{:?}: the line keeps its ordered quantity", shop.kind);
        let seen = shop.client().orders_modified_after(chrono::Utc::now() - chrono::TimeDelta::seconds(30)).await.expect("orders");
        assert!(seen.iter().any(|x| x.id == order), "{:?}: a refund moves the order's modified date", shop.kind);
        assert!(o.date_modified_gmt >= b.date_created_gmt, "{:?}", shop.kind);
    }
}

#[tokio::test]
async fn the_health_probe_passes_with_our_key_and_is_refused_with_a_wrong_one() {
    for shop in shop::both("health_probe").await {
        shop.product("PROBE-1", Some(1)).await;
        let ok = shop.client().probe().await;
        assert!(ok.is_ok(), "{:?}: the probe with the store's key: {ok:?}", shop.kind);
        match shop.client_with("cs_0000000000000000000000000000000000000000").probe().await {
            Err(ChannelError::Permanent { status: 401, .. }) => {}
            other => panic!("{:?}: a wrong secret's probe answered {other:?}", shop.kind),
        }
    }
}

#[tokio::test]
async fn a_products_low_stock_threshold_reads_back_as_set_and_clears_to_null() {
    for shop in shop::both("low_stock_amount").await {
        let id = shop.product("LOW-1", Some(9)).await;
        let (status, v) = shop.admin(Method::PUT, &format!("products/{id}"), Some(json!({ "low_stock_amount": 4 }))).await;
        assert_eq!(status, 200, "{:?}: {v}", shop.kind);
        let woo = shop.client();
        let found = woo.all_products().await.expect("products");
        let p = found.iter().find(|p| p.id == id).expect("listed");
        assert_eq!(p.low_stock_amount, Some(4), "{:?}", shop.kind);
        let (status, v) = shop.admin(Method::PUT, &format!("products/{id}"), Some(json!({ "low_stock_amount": null }))).await;
        assert_eq!(status, 200, "{:?}: {v}", shop.kind);
        let found = woo.all_products().await.expect("products");
        assert_eq!(found.iter().find(|p| p.id == id).expect("listed").low_stock_amount, None, "{:?}", shop.kind);
    }
}

#[tokio::test]
async fn a_delivery_is_told_to_the_order_as_meta_and_a_note() {
    for shop in shop::both("delivery_note").await {
        let p = shop.product("DLV-1", Some(5)).await;
        let order = shop.order(&[(p, 0, 1)], "completed").await;
        shop.client().mark_delivered(order, "2026-12-01T12:00:00Z", "Delivered (UPS 1ZTEST) on 2026-12-01.").await.expect("told");
        let (status, o) = shop.admin(Method::GET, &format!("orders/{order}"), None).await;
        assert_eq!(status, 200, "{:?}: {o}", shop.kind);
        let meta = o["meta_data"].as_array().cloned().unwrap_or_default();
        assert!(
            meta.iter().any(|m| m["key"] == "_qm_delivered_at" && m["value"] == "2026-12-01T12:00:00Z"),
            "{:?}: the order's meta: {meta:?}",
            shop.kind
        );
        let (status, notes) = shop.admin(Method::GET, &format!("orders/{order}/notes"), None).await;
        assert_eq!(status, 200, "{:?}: {notes}", shop.kind);
        assert!(
            notes.as_array().is_some_and(|n| n.iter().any(|n| n["note"] == "Delivered (UPS 1ZTEST) on 2026-12-01.")),
            "{:?}: {notes}",
            shop.kind
        );
    }
}

/// Waits until the wall clock is in a later second than `t` (WooCommerce
/// keeps dates to the second: a date that moved must be able to show it).
async fn after_second_of(t: &str) {
    let t = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").expect("a WooCommerce date");
    while chrono::Utc::now().naive_utc() < t + chrono::TimeDelta::seconds(1) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A REST line edit (a quantity lowered or raised, a line added, a line set
/// to 0) moves the store's stock at once and leaves the order's
/// `date_modified_gmt` where it was: the change feed never shows it, which is
/// why the sync reads its open orders again by id.
#[tokio::test]
async fn a_rest_line_edit_moves_stock_but_not_the_modified_date() {
    for shop in shop::both("line_edit").await {
        let a = shop.product("EDIT-A", Some(20)).await;
        let b = shop.product("EDIT-B", Some(20)).await;
        let order = shop.order(&[(a, 0, 4)], "processing").await;
        assert_eq!(shop.stock(a).await, Some(16), "{:?}", shop.kind);
        let client = shop.client();
        let before = client.orders_by_id(&[order]).await.expect("order").remove(0);
        let line = before.line_items[0].id;
        after_second_of(&before.date_modified_gmt).await;
        let since = chrono::NaiveDateTime::parse_from_str(&before.date_modified_gmt, "%Y-%m-%dT%H:%M:%S").expect("date").and_utc()
            - chrono::TimeDelta::seconds(1);

        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 2 }] })).await;
        assert_eq!(shop.stock(a).await, Some(18), "{:?}: lowering a line gives its stock back", shop.kind);
        let o = client.orders_by_id(&[order]).await.expect("order").remove(0);
        assert_eq!((o.line_items[0].quantity, o.line_items[0].reduced_stock()), (2, 2), "{:?}", shop.kind);
        assert_eq!(o.date_modified_gmt, before.date_modified_gmt, "{:?}: the edit does not move the modified date", shop.kind);

        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 5 }] })).await;
        assert_eq!(shop.stock(a).await, Some(15), "{:?}: raising a line takes more", shop.kind);
        shop.put_order(order, json!({ "line_items": [{ "product_id": b, "quantity": 3 }] })).await;
        assert_eq!(shop.stock(b).await, Some(17), "{:?}: a line added takes its stock", shop.kind);
        shop.put_order(order, json!({ "line_items": [{ "id": line, "quantity": 0 }] })).await;
        assert_eq!(shop.stock(a).await, Some(20), "{:?}: a line set to 0 is removed and gives its stock back", shop.kind);
        let o = client.orders_by_id(&[order]).await.expect("order").remove(0);
        let lines: Vec<(u64, i64)> = o.line_items.iter().map(|l| (l.product_id, l.quantity)).collect();
        assert_eq!(lines, vec![(b, 3)], "{:?}", shop.kind);
        assert_eq!(o.date_modified_gmt, before.date_modified_gmt, "{:?}: none of the edits moved it", shop.kind);
        let feed = client.orders_modified_after(since).await.expect("feed");
        assert!(feed.iter().all(|x| x.id != order || x.date_modified_gmt == before.date_modified_gmt), "{:?}", shop.kind);
    }
}

/// `DELETE orders/<id>` puts the order in the trash: its stock stays as it
/// was, its modified date moves, and every listing but `status=trash` leaves
/// it out (`status=any` too); by id it says `trash`. A status put on it
/// restores it (no stock moves). With `force=true` it is gone: 404.
#[tokio::test]
async fn a_trashed_order_leaves_every_listing_but_the_trash_and_a_deleted_one_is_a_404() {
    for shop in shop::both("trash_and_delete").await {
        let a = shop.product("TR-A", Some(20)).await;
        let x = shop.order(&[(a, 0, 2)], "processing").await;
        let y = shop.order(&[(a, 0, 3)], "processing").await;
        assert_eq!(shop.stock(a).await, Some(15), "{:?}", shop.kind);
        let client = shop.client();
        let before = client.order(x).await.expect("read").expect("there");
        after_second_of(&before.date_modified_gmt).await;

        let (status, answer) = shop.admin(Method::DELETE, &format!("orders/{x}"), None).await;
        assert_eq!(status, 200, "{:?}: {answer}", shop.kind);
        assert_eq!(answer["status"], "processing", "{:?}: the answer is the order as it was", shop.kind);
        assert_eq!(shop.stock(a).await, Some(15), "{:?}: the trash keeps the stock reduced", shop.kind);
        let listed: Vec<u64> = client.orders_by_id(&[x, y]).await.expect("list").iter().map(|o| o.id).collect();
        assert_eq!(listed, vec![y], "{:?}: status=any leaves the trash out", shop.kind);
        let (status, default) = shop.admin(Method::GET, &format!("orders?include={x},{y}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(default.as_array().map(Vec::len), Some(1), "{:?}: so does the default listing: {default}", shop.kind);
        let trash = client.orders_by_id_in(&[x, y], "trash").await.expect("trash");
        assert_eq!(trash.iter().map(|o| (o.id, o.status.as_str())).collect::<Vec<_>>(), vec![(x, "trash")], "{:?}", shop.kind);
        assert!(trash[0].date_modified_gmt > before.date_modified_gmt, "{:?}: trashing moves the modified date", shop.kind);
        let by_id = client.order(x).await.expect("read").expect("still there");
        assert_eq!(by_id.status, "trash", "{:?}", shop.kind);
        let since = chrono::NaiveDateTime::parse_from_str(&before.date_modified_gmt, "%Y-%m-%dT%H:%M:%S").expect("date").and_utc();
        let feed = client.orders_modified_after(since).await.expect("feed");
        assert!(feed.iter().all(|o| o.id != x), "{:?}: the change feed (status=any) never shows the trash", shop.kind);

        // Restored: listed again, its modified date moves, no stock moves.
        after_second_of(&by_id.date_modified_gmt).await;
        shop.set_status(x, "processing").await;
        assert_eq!(shop.stock(a).await, Some(15), "{:?}: a restore takes no stock again", shop.kind);
        let back = client.orders_by_id(&[x]).await.expect("list");
        assert_eq!(back.iter().map(|o| o.status.as_str()).collect::<Vec<_>>(), vec!["processing"], "{:?}", shop.kind);
        assert!(back[0].date_modified_gmt > by_id.date_modified_gmt, "{:?}: a restore moves the modified date", shop.kind);

        // Deleted for good: stock as it was, then 404 by id and absent from every list.
        let (status, answer) = shop.admin(Method::DELETE, &format!("orders/{y}?force=true"), None).await;
        assert_eq!(status, 200, "{:?}: {answer}", shop.kind);
        assert_eq!(shop.stock(a).await, Some(15), "{:?}: deleting keeps the stock reduced", shop.kind);
        assert!(client.order(y).await.expect("a 404 is an answer").is_none(), "{:?}", shop.kind);
        let (status, gone) = shop.admin(Method::GET, &format!("orders/{y}"), None).await;
        assert_eq!((status, gone["code"].as_str()), (404, Some("woocommerce_rest_shop_order_invalid_id")), "{:?}: {gone}", shop.kind);
        assert!(client.orders_by_id_in(&[y], "trash").await.expect("trash").is_empty(), "{:?}", shop.kind);
    }
}
