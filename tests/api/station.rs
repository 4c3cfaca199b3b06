//! The pick station end to end: the real app on MariaDB, a private CUPS
//! with socket printers that capture every job, the UPS and WooCommerce
//! stand-ins built from their documented payloads, and real WeasyPrint.

use std::time::Duration;

use quartermaster::{
    ids::OrderId,
    inventory::{gtin, orders, reserve},
    printing::zpl,
    standin::{
        self,
        cups::{LocalCups, RawPrinter},
        ups::UpsStandin,
        woocommerce::{Fault, WooStandin},
    },
    station::{StationError, pack, queue, ship},
};

use crate::helpers::{TestApp, csrf_in, pdf_page_size, pdftotext};
use quartermaster::operators::Role;

/// A tenant with one 4x6 station, a label and a slip printer on a private
/// CUPS, two boxes, UPS and WooCommerce stand-ins, and a picker.
pub struct World {
    pub app: TestApp,
    pub woo: WooStandin,
    pub ups: UpsStandin,
    pub labels: RawPrinter,
    pub slips: RawPrinter,
    pub _cups: LocalCups,
}

/// A product in both catalogs and the UPC a scanner reads off it.
pub struct Item {
    pub upc: String,
    pub woo_id: u64,
}

impl Item {
    /// Our product id of this item.
    pub async fn product_id(&self, pool: &sqlx::MySqlPool) -> u64 {
        sqlx::query_scalar("SELECT id FROM products WHERE woo_id = ?").bind(self.woo_id).fetch_one(pool).await.expect("product")
    }
}

pub fn upc(body11: &str) -> String {
    format!("{body11}{}", gtin::check_digit(body11).expect("digits"))
}

impl World {
    pub async fn new() -> Self {
        Self::with("", "", &[]).await
    }

    /// The same world with `extra_server` lines under `server:`, `more` top-level
    /// YAML, and `secrets` written as files under `secrets/`.
    pub async fn with(extra_server: &str, more: &str, secrets: &[(&str, &str)]) -> Self {
        Self::with_tweaked(extra_server, more, secrets, |_| {}).await
    }

    /// [`Self::with`], changing the prepared state before it serves.
    pub async fn with_tweaked(
        extra_server: &str,
        more: &str,
        secrets: &[(&str, &str)],
        tweak: impl FnOnce(&mut quartermaster::web::AppState),
    ) -> Self {
        let woo = WooStandin::new("ck_station", "cs_station");
        let woo_addr = standin::serve(woo.router(), "127.0.0.1:0").await.expect("woo");
        let ups = UpsStandin::new("ups-client", "ups-secret");
        let ups_addr = standin::serve(ups.router(), "127.0.0.1:0").await.expect("ups");
        let cups = LocalCups::start().await.expect("cupsd");
        let labels = RawPrinter::start().await.expect("label printer");
        let slips = RawPrinter::start().await.expect("slip printer");
        cups.add_raw_queue("bench-1-zebra", labels.port).expect("queue");
        cups.add_raw_queue("bench-1-laser", slips.port).expect("queue");
        let extra = format!(
            r#"stations: [{{ id: bench-1, name: Bench 1, paper: "4x6" }}, {{ id: bench-2, name: Bench 2 }}]
printers:
  - {{ name: bench-1-zebra, uri: "{zebra}", kind: zpl, station: bench-1 }}
  - {{ name: bench-1-laser, uri: "{laser}", kind: pdf, station: bench-1 }}
boxes:
  - {{ id: s1, name: "Small 8x6x4 in", length_mm: 203, width_mm: 152, height_mm: 102, tare_g: 120, max_weight_g: 9000 }}
  - {{ id: m2, name: "Medium 12x10x8 in", length_mm: 305, width_mm: 254, height_mm: 203, tare_g: 310, max_weight_g: 18000 }}
pick_priority: [{{ shipping_method: ups_next_day_air, priority: 100 }}]
ups:
  environment: cie
  account_number: A1B2C3
  client_id: ref+file://secrets/ups_id
  client_secret: ref+file://secrets/ups_secret
  api_base_url: http://{ups_addr}
  shipper: {{ name: Test Co, phone: "3125550142", line1: 1200 W Fulton Market, city: Chicago, state: IL, postcode: "60607", country: US }}
"#,
            zebra = cups.uri("bench-1-zebra"),
            laser = cups.uri("bench-1-laser"),
        );
        let db = crate::helpers::TestDb::empty().await;
        let tenant = crate::helpers::TenantDir::write_with(
            &db,
            "",
            extra_server,
            &format!("http://{woo_addr}"),
            ("ck_station", "cs_station"),
            &format!("{extra}{more}"),
        );
        for (name, value) in secrets {
            std::fs::write(tenant.dir.path().join("secrets").join(name), value).expect("secret");
        }
        let app = TestApp::spawn_tweaked(db, tenant, "", tweak).await;
        Self { app, woo, ups, labels, slips, _cups: cups }
    }
}

/// A signed-in browser session: a cookie-keeping client and its CSRF token.
pub struct Picker {
    pub id: quartermaster::ids::OperatorId,
    pub client: reqwest::Client,
    pub csrf: String,
    base: String,
}

impl Picker {
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.client.get(format!("{}{path}", self.base)).send().await.expect("GET");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// POSTs a form (the CSRF token is added); returns status, Location and body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let mut f: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        f.extend_from_slice(form);
        let r = self.client.post(format!("{}{path}", self.base)).form(&f).send().await.expect("POST");
        let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (r.status().as_u16(), location, r.text().await.expect("body"))
    }
}

impl World {
    /// A product in WooCommerce and in our catalog, with lots (ref, qty, location) received oldest first.
    pub async fn product(&self, sku: &'static str, upc_body: &str, bin: &str, serial_tracked: bool, lots: &[(&str, u32, &str)]) -> Item {
        let total: u32 = lots.iter().map(|l| l.1).sum();
        let woo_id = self.woo.add_product(sku, i64::from(total), true);
        let upc = upc(upc_body);
        let pool = &self.app.db.pool;
        let product_id =
            sqlx::query("INSERT INTO products (woo_id, sku, name, upc, bin, serial_tracked, weight_g) VALUES (?, ?, ?, ?, ?, ?, 500)")
                .bind(woo_id)
                .bind(sku)
                .bind(format!("Product {sku}"))
                .bind(&upc)
                .bind(bin)
                .bind(serial_tracked)
                .execute(pool)
                .await
                .expect("product")
                .last_insert_id();
        for (i, (lot_ref, qty, location)) in lots.iter().enumerate() {
            sqlx::query("INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor, location) VALUES (?, ?, UTC_TIMESTAMP(6) - INTERVAL ? DAY, ?, ?, 700, ?)")
                .bind(product_id)
                .bind(lot_ref)
                .bind(30 - i as i64)
                .bind(qty)
                .bind(qty)
                .bind(location)
                .execute(pool)
                .await
                .expect("lot");
        }
        Item { upc, woo_id }
    }

    /// A paid WooCommerce order, mirrored and reserved the way the poller does it; returns our order id.
    pub async fn order(&self, lines: &[(&Item, i64)]) -> OrderId {
        let woo_lines: Vec<(u64, i64)> = lines.iter().map(|(i, q)| (i.woo_id, *q)).collect();
        let woo_id = self.woo.create_order(&woo_lines, "processing");
        let all = self.app.state.woo.orders_modified_after(chrono::DateTime::UNIX_EPOCH).await.expect("orders from the stand-in");
        let o = all.iter().find(|o| o.id == woo_id).expect("the new order is listed");
        let id = match orders::upsert(&self.app.db.pool, o).await.expect("mirror") {
            orders::Mirrored::Changed(id) | orders::Mirrored::Unchanged(id) => id,
        };
        reserve::reserve_order(
            &self.app.db.pool,
            id,
            &self.app.state.config.woocommerce.order_statuses,
            &quartermaster::station::queue::STATION_QUEUE,
        )
        .await
        .expect("reserve");
        id
    }

    /// A picker signed in on a browser of their own.
    pub async fn picker(&self, username: &str) -> Picker {
        self.operator(username, Role::Picker).await
    }

    /// An operator with `role` signed in on a browser of their own.
    pub async fn operator(&self, username: &str, role: Role) -> Picker {
        let id = self.app.add_operator(username, role, "correct horse battery").await;
        self.signed_in(username, id).await
    }

    /// Operator `username` (id `id`) signed in on another browser: a session of its own.
    pub async fn signed_in(&self, username: &str, id: quartermaster::ids::OperatorId) -> Picker {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = self.app.url("");
        let page = client.get(format!("{base}/sign-in")).send().await.expect("sign-in").text().await.expect("page");
        let csrf = csrf_in(&page);
        let r = client
            .post(format!("{base}/sign-in"))
            .form(&[("csrf", csrf.as_str()), ("username", username), ("password", "correct horse battery")])
            .send()
            .await
            .expect("sign in");
        assert_eq!(r.status().as_u16(), 303, "signed in");
        let queue = client.get(format!("{base}/pick")).send().await.expect("queue").text().await.expect("page");
        Picker { id, client, csrf: csrf_in(&queue), base }
    }

    pub async fn queue_status(&self, order: OrderId) -> String {
        sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM pick_queue WHERE order_id = ?")
            .bind(order)
            .fetch_one(&self.app.db.pool)
            .await
            .expect("queue row")
    }

    pub async fn picked(&self, order: OrderId) -> Vec<u32> {
        sqlx::query_scalar("SELECT picked_qty FROM order_lines WHERE order_id = ? ORDER BY id")
            .bind(order)
            .fetch_all(&self.app.db.pool)
            .await
            .expect("lines")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pickers_never_get_the_same_order() {
    let w = World::new().await;
    let bolt = w.product("HXB-1", "01234500001", "A-01-1", false, &[("L1", 500, "A-01-1")]).await;
    let mut orders = Vec::new();
    for _ in 0..12 {
        orders.push(w.order(&[(&bolt, 2)]).await);
    }
    let a = w.app.add_operator("ann", Role::Picker, "correct horse battery").await;
    let b = w.app.add_operator("bob", Role::Picker, "correct horse battery").await;
    // The same order claimed by both at once: exactly one wins, the other is told who has it.
    let pool = w.app.db.pool.clone();
    let (ra, rb) = tokio::join!(queue::claim(&pool, orders[0], a, "bench-1"), queue::claim(&pool, orders[0], b, "bench-2"));
    assert!(ra.is_ok() != rb.is_ok(), "exactly one claim wins: {ra:?} / {rb:?}");
    let loser = if ra.is_ok() { rb } else { ra };
    assert!(matches!(loser, Err(StationError::HeldByOther { .. })), "{loser:?}");
    // Each claims the next order as fast as it can; an operator takes a new
    // one only after finishing (shipping) the last, so finish by releasing the hold.
    let take = |op: quartermaster::ids::OperatorId, station: &'static str| {
        let pool = pool.clone();
        async move {
            let mut mine = Vec::new();
            while let Some(order) = queue::claim_next(&pool, op, station).await.expect("claim next") {
                mine.push(order);
                // Hand it on to "shipped" directly so claim_next gives a new one.
                sqlx::query("UPDATE pick_queue SET status = 'shipped' WHERE order_id = ?").bind(order).execute(&pool).await.expect("done");
            }
            mine
        }
    };
    sqlx::query("UPDATE pick_queue SET status = 'shipped' WHERE order_id = ?").bind(orders[0]).execute(&pool).await.expect("first done");
    let (mine_a, mine_b) = tokio::join!(take(a, "bench-1"), take(b, "bench-2"));
    let mut all: Vec<OrderId> = mine_a.iter().chain(&mine_b).copied().collect();
    all.sort_unstable();
    let mut expected = orders[1..].to_vec();
    expected.sort_unstable();
    assert_eq!(all, expected, "every order claimed exactly once (ann {mine_a:?}, bob {mine_b:?})");
    let owners: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT operator_id) FROM pick_queue WHERE operator_id IS NOT NULL")
        .fetch_one(&pool)
        .await
        .expect("owners");
    assert!(owners >= 1);
    let claims: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM event_log WHERE kind = 'pick.claimed' AND operator_id IS NOT NULL")
        .fetch_one(&pool)
        .await
        .expect("events");
    assert_eq!(claims, 12, "every claim is in the event log with its operator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_puts_priority_rules_first_then_oldest_and_counts_states() {
    let w = World::new().await;
    let bolt = w.product("HXB-1", "01234500001", "A-01-1", false, &[("L1", 50, "A-01-1")]).await;
    let old = w.order(&[(&bolt, 1)]).await;
    let express = w.order(&[(&bolt, 1)]).await;
    let short = w.order(&[(&bolt, 100)]).await;
    sqlx::query("UPDATE orders SET shipping_method = 'ups_next_day_air' WHERE id = ?")
        .bind(express)
        .execute(&w.app.db.pool)
        .await
        .expect("express");
    // What each sync cycle does after mirroring orders (the page itself only reads).
    let (_, page) = w.picker("zed").await.get("/pick").await;
    assert!(page.find(&format!("/pick/{old}\"")) < page.find(&format!("/pick/{express}\"")), "unranked: oldest first");
    queue::prioritise(&w.app.db.pool, &w.app.state.config.pick_priority).await.expect("rank");
    let p = w.picker("ann").await;
    let (status, page) = p.get("/pick").await;
    assert_eq!(status, 200);
    let pos = |id: OrderId| page.find(&format!("/pick/{id}\"")).unwrap_or_else(|| panic!("order {id} listed:\n{page}"));
    assert!(pos(express) < pos(old), "the next-day order comes first");
    assert!(page.contains("backordered <strong>1</strong>"), "counts per state:\n{page}");
    assert!(page.contains("queued <strong>2</strong>"));
    let _ = short;
    // Next order claims the express one.
    let (status, location, _) = p.post("/pick/next", &[("station", "bench-1")]).await;
    assert_eq!((status, location.as_str()), (303, format!("/pick/{express}").as_str()));
    assert_eq!(w.queue_status(express).await, "picking");
    // Another picker asking for the same order is refused with a 409 naming the holder.
    let q = w.picker("quinn").await;
    let (status, _, body) = q.post(&format!("/pick/{express}/claim"), &[("station", "bench-2")]).await;
    assert_eq!(status, 409);
    assert!(body.contains("held by ann"), "{body}");
    // The status filter.
    let (_, picking) = p.get("/pick?status=picking").await;
    assert!(picking.contains(&format!("/pick/{express}\"")) && !picking.contains(&format!("/pick/{old}\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_item_or_one_too_many_is_refused_and_counts_nothing() {
    let w = World::new().await;
    let bolt = w.product("HXB-1", "01234500001", "B-10-1", false, &[("L1", 3, "B-10-1"), ("L2", 10, "B-10-2")]).await;
    let nut = w.product("NUT-2", "01234500002", "A-02-1", false, &[("N1", 20, "A-02-1")]).await;
    let other = w.product("WSH-3", "01234500003", "C-01-1", false, &[("W1", 5, "C-01-1")]).await;
    let order = w.order(&[(&bolt, 5), (&nut, 2)]).await;
    let p = w.picker("ann").await;
    p.post(&format!("/pick/{order}/claim"), &[("station", "bench-1")]).await;
    let (_, sheet) = p.get(&format!("/pick/{order}")).await;
    // Walking order: A-02 before B-10; FIFO lots: L1 × 3 then L2 × 2.
    assert!(sheet.find("NUT-2").expect("nut") < sheet.find("HXB-1").expect("bolt"), "lines in walking order");
    assert!(sheet.contains("L1 × 3") && sheet.contains("L2 × 2"), "FIFO lots on the sheet:\n{sheet}");

    let (status, _, body) = p.post(&format!("/pick/{order}/scan"), &[("code", &other.upc), ("count", "1")]).await;
    assert_eq!(status, 422);
    assert!(body.contains("WRONG ITEM") && body.contains("class=\"mis\""), "full-width error:\n{body}");
    assert_eq!(w.picked(order).await, vec![0, 0], "a wrong item counts nothing");

    // The EAN-13 and GTIN-14 forms of the bolt's UPC are the same product.
    let ean = format!("0{}", bolt.upc);
    let (status, location, _) = p.post(&format!("/pick/{order}/scan"), &[("code", &ean), ("count", "")]).await;
    assert_eq!(status, 303, "counted");
    assert!(location.contains("?last="), "{location}");
    let (status, _, _) = p.post(&format!("/pick/{order}/scan"), &[("code", &format!("00{}", bolt.upc)), ("count", "3")]).await;
    assert_eq!(status, 303);
    assert_eq!(w.picked(order).await, vec![4, 0]);
    let (status, _, body) = p.post(&format!("/pick/{order}/scan"), &[("code", &bolt.upc), ("count", "2")]).await;
    assert_eq!(status, 422);
    assert!(body.contains("TOO MANY"), "{body}");
    assert_eq!(w.picked(order).await, vec![4, 0], "too many counts nothing");
    let (status, _, body) = p.post(&format!("/pick/{order}/scan"), &[("code", "12345"), ("count", "1")]).await;
    assert_eq!(status, 422, "an unreadable code");
    assert!(body.contains("Cannot read") || body.contains("Unknown code"), "{body}");
    let (status, _, body) = p.post(&format!("/pick/{order}/scan"), &[("code", &bolt.upc), ("count", "lots")]).await;
    assert_eq!(status, 422);
    assert!(body.contains("Count must be"), "{body}");

    // Another operator cannot scan into ann's order.
    let q = w.picker("quinn").await;
    let (status, _, _) = q.post(&format!("/pick/{order}/scan"), &[("code", &bolt.upc), ("count", "1")]).await;
    assert_eq!(status, 409);
    assert_eq!(w.picked(order).await, vec![4, 0]);

    p.post(&format!("/pick/{order}/scan"), &[("code", &bolt.upc), ("count", "1")]).await;
    let (status, location, _) = p.post(&format!("/pick/{order}/scan"), &[("code", "NUT-2"), ("count", "2")]).await;
    assert_eq!((status, location.as_str()), (303, format!("/pick/{order}/pack").as_str()), "the last unit goes straight to packing");
    assert_eq!(w.queue_status(order).await, "picked");
    let refused: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM event_log WHERE kind = 'pick.refused' AND operator_id = ?")
        .bind(p.id)
        .fetch_one(&w.app.db.pool)
        .await
        .expect("events");
    assert_eq!(refused, 3, "every refused scan (wrong, too many, unreadable) is recorded with the operator");
}

/// Picks a whole order through the scan endpoint.
async fn pick_all(p: &Picker, order: OrderId, items: &[(&Item, u32)]) {
    p.post(&format!("/pick/{order}/claim"), &[("station", "bench-1")]).await;
    for (item, qty) in items {
        let (status, _, body) = p.post(&format!("/pick/{order}/scan"), &[("code", &item.upc), ("count", &qty.to_string())]).await;
        assert_eq!(status, 303, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serials_are_checked_against_the_lot_or_registered_on_it() {
    let w = World::new().await;
    let meter = w.product("PRX-1", "01234500011", "A-01-1", true, &[("M1", 2, "A-01-1")]).await;
    let gauge = w.product("GAU-2", "01234500012", "A-02-1", true, &[("G1", 5, "A-02-1")]).await;
    // M1's serials were recorded at receipt; G1's were not.
    for serial in ["SN-M1-1", "SN-M1-2"] {
        sqlx::query("INSERT INTO lot_serials (lot_id, product_id, serial, captured_at) SELECT id, product_id, ?, 'receipt' FROM inventory_lots WHERE lot_ref = 'M1'")
            .bind(serial)
            .execute(&w.app.db.pool)
            .await
            .expect("serial");
    }
    let order = w.order(&[(&meter, 2), (&gauge, 1)]).await;
    let p = w.picker("ann").await;
    pick_all(&p, order, &[(&meter, 2), (&gauge, 1)]).await;
    let lines: Vec<u64> = sqlx::query_scalar("SELECT id FROM order_lines WHERE order_id = ? ORDER BY id")
        .bind(order)
        .fetch_all(&w.app.db.pool)
        .await
        .expect("lines");
    let (m, g) = (lines[0], lines[1]);
    // A serial not recorded for M1, and the same serial twice: refused, nothing written.
    let (status, _, body) = pack_serials(&p, order, m, g, ["SN-M1-1", "SN-BOGUS", "GX-1"]).await;
    assert_eq!(status, 422);
    assert!(body.contains("SN-BOGUS is not one of the serials recorded for lot M1"), "{body}");
    let (status, _, body) = pack_serials(&p, order, m, g, ["SN-M1-1", "SN-M1-1", "GX-1"]).await;
    assert_eq!(status, 422);
    assert!(body.contains("scanned twice"), "{body}");
    let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lot_serials WHERE status <> 'in_stock' OR captured_at = 'pack'")
        .fetch_one(&w.app.db.pool)
        .await
        .expect("count");
    assert_eq!(written, 0, "a refused pack writes nothing");
    assert_eq!(w.queue_status(order).await, "picked");
    // Right serials: M1's are packed, G1's new serial is registered on G1.
    let (status, location, body) = pack_serials(&p, order, m, g, ["SN-M1-2", "SN-M1-1", "GX-1"]).await;
    assert_eq!((status, location.as_str()), (303, format!("/pick/{order}/ship?printed=3").as_str()), "{body}");
    // One label per serial, in line order, to the station's thermal printer.
    let printed = w.labels.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(
        printed,
        vec![zpl::serial_label("PRX-1", "SN-M1-1"), zpl::serial_label("PRX-1", "SN-M1-2"), zpl::serial_label("GAU-2", "GX-1")],
        "serial labels byte-exact"
    );
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT s.serial, CAST(s.status AS CHAR), CAST(s.captured_at AS CHAR), l.lot_ref FROM lot_serials s JOIN inventory_lots l ON l.id = s.lot_id ORDER BY s.serial",
    )
    .fetch_all(&w.app.db.pool)
    .await
    .expect("serials");
    assert_eq!(
        rows,
        vec![
            ("GX-1".into(), "packed".into(), "pack".into(), "G1".into()),
            ("SN-M1-1".into(), "packed".into(), "receipt".into(), "M1".into()),
            ("SN-M1-2".into(), "packed".into(), "receipt".into(), "M1".into()),
        ]
    );
    // A packed serial cannot go into another order.
    assert_eq!(w.queue_status(order).await, "packed");
    // Re-pack undoes it all (no label bought yet).
    let (status, _, _) = p.post(&format!("/pick/{order}/unpack"), &[]).await;
    assert_eq!(status, 303);
    let left: Vec<(String, String)> = sqlx::query_as("SELECT serial, CAST(status AS CHAR) FROM lot_serials ORDER BY serial")
        .fetch_all(&w.app.db.pool)
        .await
        .expect("serials");
    assert_eq!(left, vec![("SN-M1-1".into(), "in_stock".into()), ("SN-M1-2".into(), "in_stock".into())]);
    assert_eq!(w.queue_status(order).await, "picked");
}

/// One small package with serials for two meter units and one gauge unit.
async fn pack_serials(p: &Picker, order: OrderId, m: u64, g: u64, serials: [&str; 3]) -> (u16, String, String) {
    let (m1, m2, g1) = (format!("serial_{m}_1"), format!("serial_{m}_2"), format!("serial_{g}_1"));
    p.post(
        &format!("/pick/{order}/pack"),
        &[
            ("packages", "1"),
            ("box_1", "s1"),
            ("weight_1", "1.5 kg"),
            ("length_1", "203"),
            ("width_1", "152"),
            ("height_1", "102"),
            (m1.as_str(), serials[0]),
            (m2.as_str(), serials[1]),
            (g1.as_str(), serials[2]),
        ],
    )
    .await
}

#[tokio::test]
async fn pack_forms_are_validated_field_by_field() {
    use quartermaster::config::BoxDef;
    let boxes = vec![BoxDef {
        id: "s1".into(),
        name: "Small".into(),
        length_mm: 203,
        width_mm: 152,
        height_mm: 102,
        tare_g: 120,
        max_weight_g: Some(9000),
    }];
    let line = |id: u64| quartermaster::station::pick::PickLine {
        line_id: id,
        product_id: Some(id),
        sku: format!("SKU-{id}"),
        name: String::new(),
        bin: None,
        quantity: 1,
        picked: 1,
        serial_tracked: false,
        lots: Vec::new(),
    };
    let pkg = |b: &str, w: &str| pack::PackageForm {
        box_id: b.into(),
        weight: w.into(),
        length_mm: "203".into(),
        width_mm: "152".into(),
        height_mm: "0".into(),
    };
    let form = pack::PackForm {
        packages: vec![pkg("s1", "12 kg"), pkg("x9", "1 lb")],
        line_packages: vec![(1, "1".into()), (2, "3".into())],
        serials: Vec::new(),
    };
    let errors = pack::validate(&form, &boxes, &[line(1), line(2)]).expect_err("invalid");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, vec!["weight_1", "height_1", "box_2", "package_of_2", "box_2"], "{errors:?}");
    assert!(errors[0].message.contains("over the Small limit of 9000 g"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_ships_in_two_packages_with_one_carrier_call_and_prints_labels_and_slip() {
    let w = World::new().await;
    let meter = w.product("PRX-1", "01234500011", "A-01-1", true, &[("M1", 4, "A-01-1")]).await;
    let bolt = w.product("HXB-1", "01234500001", "B-01-1", false, &[("L1", 2, "B-01-1"), ("L2", 10, "B-01-2")]).await;
    let order = w.order(&[(&meter, 1), (&bolt, 5)]).await;
    let woo_order: u64 =
        sqlx::query_scalar("SELECT woo_id FROM orders WHERE id = ?").bind(order).fetch_one(&w.app.db.pool).await.expect("woo id");
    let p = w.picker("ann").await;
    pick_all(&p, order, &[(&meter, 1), (&bolt, 5)]).await;
    let lines: Vec<u64> = sqlx::query_scalar("SELECT id FROM order_lines WHERE order_id = ? ORDER BY id")
        .bind(order)
        .fetch_all(&w.app.db.pool)
        .await
        .expect("lines");
    let (status, _, body) = p
        .post(
            &format!("/pick/{order}/pack"),
            &[
                ("packages", "2"),
                ("box_1", "s1"),
                ("weight_1", "2.5 lb"),
                ("length_1", "203"),
                ("width_1", "152"),
                ("height_1", "102"),
                ("box_2", "m2"),
                ("weight_2", "4200"),
                ("length_2", "305"),
                ("width_2", "254"),
                ("height_2", "203"),
                (&format!("package_of_{}", lines[0]), "1"),
                (&format!("package_of_{}", lines[1]), "2"),
                (&format!("serial_{}_1", lines[0]), "PRX-SN-0001"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    // Packing prints the serial's label first, to stick on the unit.
    let serial_label = w.labels.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(serial_label, vec![zpl::serial_label("PRX-1", "PRX-SN-0001")], "one serial label, byte-exact");
    let (status, location, body) = p.post(&format!("/pick/{order}/buy"), &[]).await;
    assert_eq!(status, 303, "{body}");
    assert!(location.ends_with("/ship?printed=3"), "two labels and a slip sent: {location}");

    // One carrier call with both packages.
    let calls = w.ups.shipments();
    assert_eq!(calls.len(), 1, "one ShipmentRequest for the whole shipment");
    let packages = calls[0].pointer("/ShipmentRequest/Shipment/Package").and_then(|p| p.as_array()).expect("packages");
    assert_eq!(packages.len(), 2);
    // 2.5 lb is stored as 1134 g (whole grams, rounded up) and declared rounded up to 0.1 lb.
    assert_eq!(packages[0]["PackageWeight"]["Weight"], "2.6");
    assert_eq!(packages[1]["PackageWeight"]["Weight"], "9.3", "4200 g");
    assert_eq!(
        calls[0].pointer("/ShipmentRequest/Shipment/ShipTo/Address/City").and_then(|v| v.as_str()),
        Some("San Francisco"),
        "the order's ship-to"
    );
    // N tracking numbers and N labels stored on the packages, master kept.
    let stored: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT p.tracking_number, p.label FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE s.order_id = ? ORDER BY p.seq",
    )
    .bind(order)
    .fetch_all(&w.app.db.pool)
    .await
    .expect("packages");
    assert_eq!(stored.len(), 2);
    assert_ne!(stored[0].0, stored[1].0);
    let master: String = sqlx::query_scalar("SELECT master_tracking FROM shipments WHERE order_id = ?")
        .bind(order)
        .fetch_one(&w.app.db.pool)
        .await
        .expect("master");
    assert_eq!(master, stored[0].0);

    // Labels arrive byte-exact at the thermal printer; the slip arrives as the PDF sent.
    let labels = w.labels.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(labels.len(), 3, "both labels printed after the serial label");
    let mut got = labels[1..].to_vec();
    got.sort();
    let mut want: Vec<Vec<u8>> = stored.iter().map(|s| s.1.clone()).collect();
    want.sort();
    assert_eq!(got, want, "labels byte-exact at the printer");
    let slips = w.slips.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(slips.len(), 1);
    let sent_slip: Vec<u8> = sqlx::query_scalar("SELECT document FROM print_jobs WHERE document_kind = 'packing_slip'")
        .fetch_one(&w.app.db.pool)
        .await
        .expect("slip job");
    assert_eq!(slips[0], sent_slip, "the slip arrives byte-exact");
    let text = pdftotext(&slips[0]);
    let number: String =
        sqlx::query_scalar("SELECT number FROM orders WHERE id = ?").bind(order).fetch_one(&w.app.db.pool).await.expect("number");
    for want in [
        format!("Order {number}"),
        "PRX-SN-0001".into(),
        "John Doe".into(),
        "San Francisco".into(),
        "Test Co Sales".into(),
        stored[1].0.clone(),
    ] {
        assert!(text.contains(&want), "slip shows {want}:\n{text}");
    }
    let size = pdf_page_size(&slips[0]);
    assert!(size.contains("288 x 432"), "4x6 paper for a 4x6 station: {size}");

    // Reprint is one POST: both labels and the slip again.
    let (status, location, _) = p.post(&format!("/pick/{order}/reprint"), &[]).await;
    assert_eq!(status, 303);
    assert!(location.ends_with("printed=3"), "{location}");
    assert_eq!(
        w.labels.wait_for(5, Duration::from_secs(30)).await.len(),
        5,
        "the two shipping labels again (the serial label is not part of the shipment)"
    );

    // Shipped: stock consumed from the reserved lots, serial shipped, Woo completed with tracking.
    let before: Vec<(String, u32, u32)> =
        sqlx::query_as("SELECT lot_ref, qty_remaining, qty_reserved FROM inventory_lots ORDER BY lot_ref")
            .fetch_all(&w.app.db.pool)
            .await
            .expect("lots");
    assert_eq!(before, vec![("L1".into(), 2, 2), ("L2".into(), 10, 3), ("M1".into(), 4, 1)]);
    let (status, location, _) = p.post(&format!("/pick/{order}/shipped"), &[]).await;
    assert_eq!(status, 303);
    assert!(location.contains("/pick?shipped="), "{location}");
    let after: Vec<(String, u32, u32)> = sqlx::query_as("SELECT lot_ref, qty_remaining, qty_reserved FROM inventory_lots ORDER BY lot_ref")
        .fetch_all(&w.app.db.pool)
        .await
        .expect("lots");
    assert_eq!(after, vec![("L1".into(), 0, 0), ("L2".into(), 7, 0), ("M1".into(), 3, 0)]);
    let serial: String = sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM lot_serials WHERE serial = 'PRX-SN-0001'")
        .fetch_one(&w.app.db.pool)
        .await
        .expect("serial");
    assert_eq!(serial, "shipped");
    assert_eq!(w.queue_status(order).await, "shipped");
    assert_eq!(w.woo.order_status(woo_order).as_deref(), Some("completed"));
    let meta = w.woo.meta(woo_order);
    assert_eq!(meta.get("_qm_tracking_numbers"), Some(&format!("{},{}", stored[0].0, stored[1].0)));
    assert_eq!(meta.get("_qm_tracking_master"), Some(&master));
    let notes = w.woo.notes(woo_order);
    assert!(notes.iter().any(|n| n.contains(&stored[0].0) && n.contains(&stored[1].0)), "{notes:?}");
    let writeback: String = sqlx::query_scalar("SELECT CAST(woo_writeback AS CHAR) FROM shipments WHERE order_id = ?")
        .bind(order)
        .fetch_one(&w.app.db.pool)
        .await
        .expect("writeback");
    assert_eq!(writeback, "done");
    // Every step is in the event log with the operator.
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM event_log WHERE operator_id = ? ORDER BY id")
        .bind(p.id)
        .fetch_all(&w.app.db.pool)
        .await
        .expect("events");
    for k in ["pick.claimed", "pick.scanned", "pick.picked", "pick.packed", "ship.labels_bought", "ship.reprinted", "ship.shipped"] {
        assert!(kinds.iter().any(|x| x == k), "{k} recorded with the operator: {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_woocommerce_outage_at_ship_time_is_shown_and_retried_until_it_lands() {
    let w = World::new().await;
    let bolt = w.product("HXB-1", "01234500001", "B-01-1", false, &[("L1", 10, "B-01-1")]).await;
    let order = w.order(&[(&bolt, 1)]).await;
    let woo_order: u64 =
        sqlx::query_scalar("SELECT woo_id FROM orders WHERE id = ?").bind(order).fetch_one(&w.app.db.pool).await.expect("woo id");
    let p = w.picker("ann").await;
    pick_all(&p, order, &[(&bolt, 1)]).await;
    let (status, _, body) = p
        .post(
            &format!("/pick/{order}/pack"),
            &[("packages", "1"), ("box_1", "s1"), ("weight_1", "600"), ("length_1", "203"), ("width_1", "152"), ("height_1", "102")],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let (status, _, body) = p.post(&format!("/pick/{order}/buy"), &[]).await;
    assert_eq!(status, 303, "{body}");
    // WooCommerce answers 503 to everything for a while.
    w.woo.inject(&[Fault::Status(503, None); 12]);
    let (status, _, _) = p.post(&format!("/pick/{order}/shipped"), &[]).await;
    assert_eq!(status, 303, "shipping does not wait for WooCommerce");
    assert_eq!(w.woo.order_status(woo_order).as_deref(), Some("processing"));
    let (_, page) = p.get(&format!("/pick/{order}/ship")).await;
    assert!(page.contains("WooCommerce: failed") && page.contains("retried every minute"), "the station shows it:\n{page}");
    let warned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM event_log WHERE kind = 'ship.woo_failed'")
        .fetch_one(&w.app.db.pool)
        .await
        .expect("events");
    assert!(warned >= 1);
    // The every-minute job retries until it lands.
    let mut done = 0;
    for _ in 0..10 {
        let (ok, _) = ship::write_back_pending(&w.app.db.pool, w.app.state.woo.clone()).await.expect("retry");
        done += ok;
        if done > 0 {
            break;
        }
    }
    assert_eq!(done, 1);
    assert_eq!(w.woo.order_status(woo_order).as_deref(), Some("completed"));
    assert_eq!(ship::write_back_pending(&w.app.db.pool, w.app.state.woo.clone()).await.expect("idle"), (0, 0), "nothing left");
}

/// Field data of a label that a printer would read as commands: every
/// `^FD` must run to its own `^FS` with no `^` or `~` in between (what
/// `^FH` escaping is for).
fn unclosed_fields(zpl: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(zpl);
    text.split("^FD")
        .skip(1)
        .filter(|part| {
            let end = part.find('^').unwrap_or(part.len());
            !part[end..].starts_with("^FS") || part[..end].contains('~')
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lot_labels_print_at_receiving_and_from_the_lot_page_whatever_the_names_hold() {
    let w = World::new().await;
    // A product whose name tries to end the label and start a printer command.
    let hostile_name = r#"Bolt ^XZ^XA^FDpwned^FS ~JR \ "M8" <b>"#;
    w.product("HXB-1", "01234500001", "B-01-1", false, &[]).await;
    sqlx::query("UPDATE products SET name = ? WHERE sku = 'HXB-1'").bind(hostile_name).execute(&w.app.db.pool).await.expect("name");
    let bo = w.operator("bea", Role::BackOffice).await;
    let (_, page) = bo.get("/inventory/receive").await;
    let csrf = csrf_in(&page);
    let hostile_ref = "R^XZ~JA-7";
    let csv = format!("sku,qty,unit_cost,lot_ref,location\nHXB-1,12,0.45,{hostile_ref},A-09-1\n");
    let r = bo
        .client
        .post(w.app.url("/inventory/receive"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("supplier", "Acme"),
            ("invoice", "INV-1"),
            ("date", "2026-11-30"),
            ("csv", &csv),
            ("labels", "on"),
        ])
        .send()
        .await
        .expect("receive");
    let (status, body) = (r.status().as_u16(), r.text().await.expect("body"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1 label(s) sent to the label printer"), "{body}");
    let expected = zpl::lot_label("HXB-1", hostile_name, hostile_ref, "A-09-1");
    let printed = w.labels.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(printed, vec![expected.clone()], "the receipt's one lot label, byte-exact");
    assert_eq!(unclosed_fields(&printed[0]), Vec::<String>::new(), "no field lets the name or the lot ref out as commands");
    let text = String::from_utf8_lossy(&printed[0]);
    assert_eq!((text.matches("^XA").count(), text.matches("^XZ").count()), (1, 1), "one label: {text}");
    assert!(unclosed_fields(b"^XA^FDBolt ^XZ^FS^XZ").len() == 1, "the check sees an unescaped field");

    // From the lot's page, as a picker at the bench: copies are checked, then printed.
    let lot: u64 = sqlx::query_scalar("SELECT id FROM inventory_lots WHERE lot_ref = ?")
        .bind(hostile_ref)
        .fetch_one(&w.app.db.pool)
        .await
        .expect("lot");
    let p = w.picker("ann").await;
    let (status, page) = p.get(&format!("/inventory/lots/{lot}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("&#60;b&#62;") && !page.contains("<b>"), "the name is escaped on the page: {page}");
    let (status, _, body) = p.post(&format!("/inventory/lots/{lot}/label"), &[("copies", "0")]).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("copies: a whole number from 1 to 50"), "{body}");
    let (status, _, body) = p.post(&format!("/inventory/lots/{lot}/label"), &[("copies", "2")]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("2 label(s) sent"), "{body}");
    let printed = w.labels.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(printed, vec![expected.clone(), expected.clone(), expected], "two more copies, byte-exact");
    let (jobs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM print_jobs WHERE document_kind = 'lot_label' AND state = 'sent' AND operator_id IS NOT NULL")
            .fetch_one(&w.app.db.pool)
            .await
            .expect("jobs");
    assert_eq!(jobs, 3, "every label is a recorded job with its operator");
    let (status, _) = p.get("/inventory/lots/999999").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_without_a_label_printer_is_told_and_nothing_is_lost() {
    let w = World::new().await;
    w.product("HXB-1", "01234500001", "B-01-1", false, &[("L1", 5, "B-01-1")]).await;
    let lot: u64 = sqlx::query_scalar("SELECT id FROM inventory_lots WHERE lot_ref = 'L1'").fetch_one(&w.app.db.pool).await.expect("lot");
    let p = w.picker("ann").await;
    // Bench 2 has no printers.
    let (_, page) = p.get("/pick?station=bench-2").await;
    assert!(page.contains("Bench 2"), "{page}");
    let (status, _, body) = p.post(&format!("/inventory/lots/{lot}/label"), &[("copies", "1")]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("no label (ZPL) printer at this station"), "{body}");
    assert!(w.labels.wait_for(1, Duration::from_secs(2)).await.is_empty(), "nothing printed elsewhere");
}
