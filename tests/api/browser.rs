//! A picker takes an order from the queue to shipped with the keyboard only,
//! in Debian's Chromium driven over WebDriver (chromedriver), against the
//! real app, a private CUPS and the carrier and WooCommerce stand-ins.
//! Screenshots of every step are kept under target/screenshots/pick-station/.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use quartermaster::{operators::Role, printing::zpl};

use crate::{helpers::free_port, station::World};

/// chromedriver on a free loopback port, stopped by its PID on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let port = free_port();
    let bin = std::env::var("QM_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}; scripts/test installs chromium-driver"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver { child, port }
}

async fn browser(d: &Driver, profile: &std::path::Path) -> Client {
    browser_sized(d, profile, "1280,900").await
}

async fn browser_sized(d: &Driver, profile: &std::path::Path, size: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("QM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--autoplay-policy=no-user-gesture-required", format!("--window-size={size}"),
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("a Chromium session")
}

/// Saves a screenshot under target/screenshots/pick-station/.
async fn shot(c: &Client, name: &str) {
    shot_in(c, "pick-station", name).await;
}

/// Saves a screenshot under target/screenshots/<folder>/.
async fn shot_in(c: &Client, folder: &str, name: &str) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from)
        .join("screenshots")
        .join(folder);
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// Types into whatever has focus, as a scanner or a keyboard does.
async fn type_keys(c: &Client, text: &str) {
    c.active_element().await.expect("a focused element").send_keys(text).await.expect("keys");
}

async fn press(c: &Client, key: Key) {
    type_keys(c, &key.to_string()).await;
}

/// Waits until the page's path ends with `suffix` (after a form post or a key).
async fn arrive(c: &Client, suffix: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let url = c.current_url().await.expect("url");
        if url.path().ends_with(suffix) {
            return;
        }
        assert!(Instant::now() < deadline, "expected to arrive at …{suffix}, still at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn focused_id(c: &Client) -> String {
    c.active_element().await.expect("focus").attr("id").await.expect("id").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_picker_takes_an_order_from_queue_to_shipped_with_the_keyboard_only() {
    let w = World::new().await;
    let meter = w.product("PRX-1", "01234500011", "A-01-1", true, &[("M1", 4, "A-01-1")]).await;
    let bolt = w.product("HXB-1", "01234500001", "B-01-1", false, &[("L1", 10, "B-01-1")]).await;
    let stray = w.product("WSH-3", "01234500003", "C-01-1", false, &[("W1", 5, "C-01-1")]).await;
    let order = w.order(&[(&meter, 1), (&bolt, 2)]).await;
    w.app.add_operator("ann", Role::Picker, "correct horse battery").await;
    let d = driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser(&d, profile.path()).await;

    // Sign in: the username field has focus; Tab, password, Enter.
    c.goto(&w.app.url("/sign-in?next=/pick")).await.expect("sign-in page");
    assert_eq!(focused_id(&c).await, "username");
    type_keys(&c, "ann").await;
    press(&c, Key::Tab).await;
    type_keys(&c, &format!("correct horse battery{}", Key::Enter)).await;
    arrive(&c, "/pick").await;
    shot(&c, "01-queue").await;

    // F2 claims the next order.
    press(&c, Key::F2).await;
    arrive(&c, &format!("/pick/{order}")).await;
    assert_eq!(focused_id(&c).await, "code", "the scan box has focus");
    shot(&c, "02-pick").await;

    // A wrong item: a full-width alarm, nothing counted, the scan box keeps focus.
    type_keys(&c, &format!("{}{}", stray.upc, Key::Enter)).await;
    let alarm = c.wait().for_element(Locator::Css(".mis")).await.expect("the alarm");
    assert!(alarm.text().await.expect("text").contains("WRONG ITEM"));
    let width: i64 = c.execute("return document.querySelector('.mis').getBoundingClientRect().width / document.querySelector('main').getBoundingClientRect().width * 100", vec![])
        .await
        .expect("js")
        .as_f64()
        .map_or(0, |f| f.round() as i64);
    assert!(width >= 95, "the alarm spans the page ({width}%)");
    assert_eq!(focused_id(&c).await, "code");
    assert_eq!(w.picked(order).await, vec![0, 0]);
    shot(&c, "03-wrong-item").await;

    // Right items: two bolts by repeated scans, then the meter.
    for _ in 0..2 {
        type_keys(&c, &format!("{}{}", bolt.upc, Key::Enter)).await;
        c.wait().for_element(Locator::Css(".ok")).await.expect("a tick");
    }
    shot(&c, "04-bolts-picked").await;
    type_keys(&c, &format!("{}{}", meter.upc, Key::Enter)).await;
    arrive(&c, &format!("/pick/{order}/pack")).await;
    assert_eq!(w.queue_status(order).await, "picked");
    shot(&c, "05-pack").await;

    // Pack: weight, Enter moves to the serial, Enter packs.
    assert_eq!(focused_id(&c).await, "weight_1");
    type_keys(&c, &format!("1.2 kg{}", Key::Enter)).await;
    assert!(focused_id(&c).await.starts_with("serial_"), "Enter moved to the serial");
    type_keys(&c, &format!("PRX-SN-4242{}", Key::Enter)).await;
    arrive(&c, &format!("/pick/{order}/ship")).await;
    // Packing printed the serial's label, and the page says so.
    assert_eq!(w.labels.wait_for(1, Duration::from_secs(30)).await, vec![zpl::serial_label("PRX-1", "PRX-SN-4242")], "the serial label");
    let said = c.find(Locator::Css(".ok")).await.expect("notice").text().await.expect("text");
    assert!(said.contains("1 document(s) sent"), "{said}");
    shot(&c, "06-ship").await;

    // Enter buys the label and prints; Enter again marks it shipped.
    assert_eq!(focused_id(&c).await, "buy");
    press(&c, Key::Enter).await;
    c.wait().for_element(Locator::Id("shipped")).await.expect("bought");
    let tracking = c.find(Locator::Id("master")).await.expect("master tracking").text().await.expect("text");
    assert!(tracking.starts_with("1Z"), "{tracking}");
    assert_eq!(
        w.labels.wait_for(2, Duration::from_secs(30)).await.len(),
        2,
        "the shipping label reached the printer after the serial label"
    );
    assert_eq!(w.slips.wait_for(1, Duration::from_secs(30)).await.len(), 1, "the slip reached the printer");
    shot(&c, "07-bought").await;
    assert_eq!(focused_id(&c).await, "shipped");
    press(&c, Key::Enter).await;
    arrive(&c, "/pick").await;
    let notice = c.find(Locator::Css(".ok")).await.expect("notice").text().await.expect("text");
    assert!(notice.contains("shipped"), "{notice}");
    shot(&c, "08-shipped").await;

    assert_eq!(w.queue_status(order).await, "shipped");
    let serial: String = sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM lot_serials WHERE serial = 'PRX-SN-4242'")
        .fetch_one(&w.app.db.pool)
        .await
        .expect("serial");
    assert_eq!(serial, "shipped");
    let woo_order: u64 =
        sqlx::query_scalar("SELECT woo_id FROM orders WHERE id = ?").bind(order).fetch_one(&w.app.db.pool).await.expect("woo id");
    assert_eq!(w.woo.order_status(woo_order).as_deref(), Some("completed"));
    assert_eq!(w.woo.meta(woo_order).get("_qm_tracking_numbers"), Some(&tracking));
    let _ = c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_fills_a_1920x1080_wall_screen_and_updates_without_a_reload() {
    let w = World::new().await;
    quartermaster::demo::seed(&w.app.db.pool, 60).await.expect("demo data");
    w.app.add_operator("wall", Role::BackOffice, "correct horse battery").await;
    let d = driver().await;
    let profile = tempfile::tempdir().expect("profile");
    let c = browser_sized(&d, profile.path(), "1920,1080").await;
    c.goto(&w.app.url("/sign-in?next=/dashboard")).await.expect("sign-in page");
    type_keys(&c, "wall").await;
    press(&c, Key::Tab).await;
    type_keys(&c, &format!("correct horse battery{}", Key::Enter)).await;
    arrive(&c, "/dashboard").await;
    // The page itself gets 1920×1080, whatever the browser's own frame takes.
    let frame: Vec<i64> = serde_json::from_value(
        c.execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", vec![]).await.expect("js"),
    )
    .expect("ints");
    c.set_window_size(1920 + frame[0] as u32, 1080 + frame[1] as u32).await.expect("resize");
    // The stream is open (the page says so) before anything changes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = c.find(Locator::Css("[data-live]")).await.expect("live marker").text().await.expect("text");
        if live == "live" {
            break;
        }
        assert!(Instant::now() < deadline, "the page did not open its event stream: {live}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Readable on the wall: the viewport really is 1920 wide, every tile is on
    // screen without scrolling, and no text on a tile is smaller than 12 px.
    let inner: Vec<i64> =
        serde_json::from_value(c.execute("return [window.innerWidth, window.innerHeight]", vec![]).await.expect("js")).expect("ints");
    assert_eq!(inner, [1920, 1080], "the viewport");
    let (count, bottom, smallest): (i64, f64, f64) = serde_json::from_value(
        c.execute(
            "const t = Array.from(document.querySelectorAll('.tile'));\
             const sizes = t.flatMap(x => Array.from(x.querySelectorAll('h2,strong,p,dt,dd,small'))).filter(e => e.textContent.trim()).map(e => parseFloat(getComputedStyle(e).fontSize));\
             return [t.length, Math.max(...t.map(x => x.getBoundingClientRect().bottom)), Math.min(...sizes)];",
            vec![],
        )
        .await
        .expect("js"),
    )
    .expect("numbers");
    assert!(count >= 24, "{count} tiles");
    assert!(bottom <= f64::from(inner[1] as i32), "the last tile ends at {bottom} px, below the {} px screen", inner[1]);
    assert!(smallest >= 12.0, "the smallest tile text is {smallest} px");
    shot_in(&c, "dashboard", "wall-1920x1080").await;

    // Something happens: the event log and the tile change in place.
    quartermaster::events::record(
        &w.app.db.pool,
        quartermaster::events::Event::info("pick.claimed", "order 4242 claimed at Bench 1 (wall test)"),
    )
    .await
    .expect("event");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = c.find(Locator::Id("event-log")).await.expect("log").text().await.expect("text");
        if log.contains("order 4242 claimed at Bench 1 (wall test)") {
            break;
        }
        assert!(Instant::now() < deadline, "the new event did not appear without a reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = c.find(Locator::Css("#tile-outbox [data-f=value]")).await.expect("outbox tile").text().await.expect("text");
    let update =
        quartermaster::channels::StockUpdate { product_id: 1, sku: "WALL-1".into(), external_id: Some(777), parent_id: None, quantity: 2 };
    quartermaster::channels::outbox::enqueue(&w.app.db.pool, "ebay", &update, None).await.expect("enqueue");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = c.find(Locator::Css("#tile-outbox [data-f=value]")).await.expect("outbox tile").text().await.expect("text");
        if now != before {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox tile did not change from {before} without a reload");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(c.current_url().await.expect("url").path().ends_with("/dashboard"), "no navigation happened");
    shot_in(&c, "dashboard", "wall-after-update").await;

    // The charts: four server-drawn SVGs, no script needed.
    c.goto(&w.app.url("/dashboard/charts")).await.expect("charts");
    let charts = c.find_all(Locator::Css("figure.chart")).await.expect("figures");
    assert_eq!(charts.len(), 4);
    let drawn = c.find_all(Locator::Css("figure.chart svg rect.bar")).await.expect("bars");
    assert_eq!(drawn.len(), 90, "30 days of sales, shipments and pushes (this tenant keeps no books, so margin says why instead)");
    shot_in(&c, "dashboard", "charts-1920x1080").await;
    c.close().await.expect("close");
}
