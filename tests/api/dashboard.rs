//! The live dashboard against the real app and MariaDB: the event stream
//! resumes with Last-Event-ID and keeps to each role's audience, a row
//! committed late still arrives, tiles follow the database live, a slow or
//! failing source shows on its own tile without holding up the page, the
//! integration registry says what is missing and what is down (real CUPS
//! printers, a WooCommerce stand-in, a UPS that does not answer), and a real
//! Prometheus scrapes `/metrics` and loads the shipped alert rules.

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use quartermaster::{
    channels::StockUpdate,
    dashboard::{Board, collectors},
    events::{self, Event},
    operators::Role,
    standin::{
        self,
        collectors::{Failing, Slow},
        cups::LocalCups,
        woocommerce::WooStandin,
    },
};
use serde_json::Value;

use crate::helpers::{Browser, TenantDir, TestApp, TestDb, free_port};

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Msg {
    pub id: Option<u64>,
    pub event: String,
    pub data: String,
}

impl Msg {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// A reader of an open event stream.
pub struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    /// Opens `url` (an absolute URL) with `client`, resuming after `last_id` when given.
    pub async fn open(client: &reqwest::Client, url: &str, last_id: Option<u64>) -> Sse {
        let mut req = client.get(url);
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("open the stream");
        assert_eq!(resp.status().as_u16(), 200, "the stream opens");
        assert!(resp.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
        Sse { resp, buf: String::new() }
    }

    /// The next event (keep-alive comments skipped), or `None` at `deadline`.
    pub async fn next_by(&mut self, deadline: Instant) -> Option<Msg> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let mut msg = Msg { id: None, event: "message".into(), data: String::new() };
                let mut any = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        msg.id = v.trim().parse().ok();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        msg.event = v.trim().to_owned();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data:") {
                        msg.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        any = true;
                    }
                }
                if any {
                    return Some(msg);
                }
                continue;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Every `log` event until one satisfies `done` (included), or panics after `within`.
    pub async fn logs_until(&mut self, within: Duration, done: impl Fn(&Msg) -> bool) -> Vec<Msg> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while let Some(m) = self.next_by(deadline).await {
            if m.event != "log" {
                continue;
            }
            let stop = done(&m);
            out.push(m);
            if stop {
                return out;
            }
        }
        panic!("the awaited event did not arrive within {within:?}; got {out:?}");
    }

    /// The `log` events that arrive within `window` (none expected, usually).
    pub async fn logs_within(&mut self, window: Duration) -> Vec<Msg> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(m) = self.next_by(deadline).await {
            if m.event == "log" {
                out.push(m);
            }
        }
        out
    }
}

async fn signed_in(app: &TestApp, name: &str, role: Role) -> Browser {
    app.add_operator(name, role, "correct horse battery").await;
    let b = app.browser();
    assert_eq!(b.sign_in(name, "correct horse battery").await.status().as_u16(), 303);
    b
}

fn kinds(msgs: &[Msg]) -> Vec<String> {
    msgs.iter().map(|m| m.json()["kind"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_resumes_from_last_event_id_and_shows_each_role_only_its_audience() {
    let app = TestApp::spawn().await;
    let admin = signed_in(&app, "ada", Role::Admin).await;
    let picker = signed_in(&app, "pat", Role::Picker).await;
    let pool = &app.db.pool;
    let start = events::newest_id(pool).await.expect("newest");
    let floor = events::record(pool, Event::info("pick.claimed", "order 1001 claimed at Bench 1")).await.expect("event");
    events::record(pool, Event::info("quote.sent", "Q-1 sent to buyer@example.com")).await.expect("event");
    events::record(pool, Event::info("auth.locked_out", "sign-ins as `x` paused")).await.expect("event");

    // The picker resumes after `start`: the floor event, and neither the quote nor the sign-in one.
    let mut p = Sse::open(&picker.client, &picker.url("/events/stream"), Some(start)).await;
    let got = p.logs_until(Duration::from_secs(10), |m| m.id == Some(floor)).await;
    assert_eq!(kinds(&got), ["pick.claimed"]);
    assert!(p.logs_within(Duration::from_millis(1500)).await.is_empty(), "back-office and admin events stay hidden from a picker");

    // A new event reaches the open stream live, with its id.
    let live = events::record(pool, Event::info("stock.pushed", "woocommerce took 3 stock quantities")).await.expect("event");
    let got = p.logs_until(Duration::from_secs(10), |m| m.id == Some(live)).await;
    assert_eq!(kinds(&got), ["stock.pushed"]);
    assert_eq!(got[0].json()["message"], "woocommerce took 3 stock quantities");

    // The admin reconnects after the floor event: what it missed, in order, once each.
    let mut a = Sse::open(&admin.client, &admin.url("/events/stream"), Some(floor)).await;
    let got = a.logs_until(Duration::from_secs(10), |m| m.id == Some(live)).await;
    assert_eq!(kinds(&got), ["quote.sent", "auth.locked_out", "stock.pushed"]);
    let ids: Vec<u64> = got.iter().filter_map(|m| m.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(a.logs_within(Duration::from_millis(1200)).await.is_empty(), "nothing is sent twice");

    // `?after=` does what Last-Event-ID does (a page passes its newest row).
    let mut q = Sse::open(&admin.client, &admin.url(&format!("/events/stream?after={floor}")), None).await;
    let got = q.logs_until(Duration::from_secs(10), |m| m.id == Some(live)).await;
    assert_eq!(kinds(&got), ["quote.sent", "auth.locked_out", "stock.pushed"]);

    // Signed out, the stream is refused (a sign-in redirect, not events).
    assert_eq!(
        picker
            .post_form("/sign-out", &[("csrf", &crate::helpers::csrf_in(&picker.get("/").await.text().await.expect("home")))])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(picker.get("/events/stream").await.status().as_u16(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_after_a_later_one_still_reaches_the_stream_once() {
    let app = TestApp::spawn().await;
    let admin = signed_in(&app, "ada", Role::Admin).await;
    let pool = &app.db.pool;
    let mut s = Sse::open(&admin.client, &admin.url("/events/stream"), Some(events::newest_id(pool).await.expect("id"))).await;
    // A transaction takes an id and holds it; a later id commits first.
    let mut tx = pool.begin().await.expect("begin");
    let late = events::record(&mut *tx, Event::info("order.reserved", "order #1 (processing): 2 unit(s) reserved")).await.expect("event");
    let early = events::record(pool, Event::info("stock.pushed", "woocommerce took 1 stock quantity")).await.expect("event");
    assert!(late < early);
    let got = s.logs_until(Duration::from_secs(10), |m| m.id == Some(early)).await;
    assert_eq!(got.iter().filter_map(|m| m.id).collect::<Vec<_>>(), [early]);
    // The stream has passed the uncommitted id (it delivered a later one); now it commits.
    tx.commit().await.expect("commit");
    let got = s.logs_until(Duration::from_secs(10), |m| m.id == Some(late)).await;
    assert_eq!(kinds(&got), ["order.reserved"]);
    assert!(s.logs_within(Duration::from_millis(1500)).await.is_empty(), "each row once");
}

/// A TCP port that accepts connections and never answers (a hung service).
async fn black_hole() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    (port, task)
}

fn tile<'a>(tiles: &'a [Value], name: &str) -> &'a Value {
    tiles.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("no tile {name} in {tiles:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_failing_source_shows_on_its_own_tile_and_never_holds_up_the_page() {
    let (hole, _hole) = black_hole().await;
    let db = TestDb::empty().await;
    let tenant = TenantDir::write_with(
        &db,
        "",
        "",
        &format!("http://127.0.0.1:{hole}"),
        ("ck_x", "cs_x"),
        "stations: [{ id: bench-1, name: Bench 1 }]\n",
    );
    let app = TestApp::spawn_tweaked(db, tenant, "", |st| {
        let mut all = collectors::all();
        all.push(Arc::new(Slow { deadline: Duration::from_millis(300), ..Slow::new(Duration::from_secs(2)) }));
        all.push(Arc::new(Failing::default()));
        st.board = Arc::new(Board::new(all));
    })
    .await;
    let admin = signed_in(&app, "ada", Role::Admin).await;
    let started = Instant::now();
    let page = admin.get("/dashboard").await;
    let waited = started.elapsed();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    // A hang guard, not a speed target: the hung store would hold a page for its 30 s timeout.
    assert!(waited < Duration::from_secs(10), "the page waited {waited:?} for its slowest source");
    assert!(html.contains(r#"class="tile level-off status-stale" id="tile-slow_source""#), "{html}");
    assert!(
        html.contains(r#"id="tile-failing_source""#)
            && html.contains("status-failed")
            && html.contains("the source broke: connection reset")
    );
    assert!(html.contains(r#"status-stale" id="tile-woocommerce""#), "the hung store's tile is stale: {html}");
    assert!(html.contains(r#"status-fresh" id="tile-awaiting_pick""#), "the others render fresh: {html}");
    assert!(html.contains(r#"status-fresh" id="tile-database""#));
    assert!(html.matches(r#"class="tile "#).count() >= 24, "at least 24 tiles");

    // The slow source kept collecting in the background: its value is there next time.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let tiles = loop {
        let tiles: Vec<Value> = admin.get("/dashboard/tiles.json").await.json().await.expect("json");
        if tile(&tiles, "slow_source")["status"] == "fresh" || std::time::Instant::now() > deadline {
            break tiles;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(tile(&tiles, "slow_source")["status"], "fresh");
    assert_eq!(tile(&tiles, "slow_source")["value"], "done");
    assert_eq!(tile(&tiles, "failing_source")["status"], "failed", "a failure is cached for its TTL, not retried on every render");
    // Metrics saw it too.
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.expect("scrape").text().await.expect("text");
    assert!(metrics.contains(r#"qm_collector_failures_total{collector="failing_source"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"qm_collector_timeouts_total{collector="slow_source"}"#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_follow_the_database_live_over_the_stream_and_pickers_see_only_theirs() {
    let db = TestDb::empty().await;
    let tenant = TenantDir::write_with(&db, "", "", "http://127.0.0.1:9", ("ck_x", "cs_x"), "dashboard: { refresh_seconds: 2 }\n");
    let app = TestApp::spawn_in(db, tenant, "").await;
    let picker = signed_in(&app, "pat", Role::Picker).await;
    let mut s = Sse::open(&picker.client, &picker.url("/events/stream?tiles=1"), None).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let m = s.next_by(deadline).await.expect("a tiles event on connect");
        if m.event == "tiles" {
            break m;
        }
    };
    let shown: Vec<Value> = serde_json::from_str(&first.data).expect("tiles json");
    assert!(shown.iter().all(|t| t["name"] != "open_rfqs" && t["name"] != "receivables"), "back-office tiles are not sent to a picker");

    // A push queued for WooCommerce: the outbox tile counts it within a refresh or two.
    let update = StockUpdate { product_id: 1, sku: "LIVE-1".into(), external_id: Some(11), parent_id: None, quantity: 4 };
    quartermaster::channels::outbox::enqueue(&app.db.pool, "woocommerce", &update, None).await.expect("enqueue");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = s.next_by(deadline).await.expect("the outbox tile changes within 20 s");
        if m.event != "tiles" {
            continue;
        }
        let tiles: Vec<Value> = serde_json::from_str(&m.data).expect("json");
        if tiles.iter().any(|t| t["name"] == "outbox" && t["value"] == "1") {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_says_what_is_missing_and_what_is_down_on_the_command_line_and_the_page() {
    let woo = WooStandin::new("ck_reg", "cs_reg");
    let woo_addr = standin::serve(woo.router(), "127.0.0.1:0").await.expect("woo");
    let cups = LocalCups::start().await.expect("cupsd");
    let printer = quartermaster::standin::cups::RawPrinter::start().await.expect("printer");
    cups.add_raw_queue("bench-1-zebra", printer.port).expect("queue");
    cups.add_raw_queue("bench-1-laser", printer.port).expect("queue");
    let disabled = Command::new("cupsdisable")
        .args(["-h", &format!("127.0.0.1:{}", cups.port), "-r", "out of labels", "bench-1-laser"])
        .output()
        .expect("cupsdisable (scripts/test installs cups-client)");
    assert!(disabled.status.success(), "{}", String::from_utf8_lossy(&disabled.stderr));
    let dead_ups = free_port();
    let extra = format!(
        r#"stations: [{{ id: bench-1, name: Bench 1 }}]
printers:
  - {{ name: bench-1-zebra, uri: "{zebra}", kind: zpl, station: bench-1 }}
  - {{ name: bench-1-laser, uri: "{laser}", kind: pdf, station: bench-1 }}
ups:
  environment: cie
  account_number: A1B2C3
  client_id: ref+file://secrets/ups_id
  client_secret: ref+file://secrets/ups_secret
  api_base_url: http://127.0.0.1:{dead_ups}
  shipper: {{ name: Test Co, line1: 1 Main St, city: Chicago, state: IL, postcode: "60607", country: US }}
"#,
        zebra = cups.uri("bench-1-zebra"),
        laser = cups.uri("bench-1-laser"),
    );
    let db = TestDb::empty().await;
    let tenant = TenantDir::write_with(&db, "", "", &format!("http://{woo_addr}"), ("ck_reg", "cs_reg"), &extra);
    let app = TestApp::spawn_in(db, tenant, "").await;

    let out = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["integrations", "--probe", "--config"])
        .arg(app._tenant.config_path())
        .output()
        .expect("qm integrations");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "something needed is down: {text}");
    let line = |key: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no {key} line in {text}"))
            .to_owned()
    };
    assert!(line("mariadb").contains("— probe OK"), "{text}");
    assert!(
        line("woocommerce").starts_with("  woocommerce: needed by inventory_sync, quotes, fulfillment — configured")
            && line("woocommerce").contains("— probe OK"),
        "{text}"
    );
    assert!(line("ups").contains("needed by fulfillment — configured (cie, account A1B2C3) — probe FAILED"), "{text}");
    assert!(line("smtp").contains("NOT configured: add smtp:"), "{text}");
    assert!(line("cups").contains("probe FAILED") && line("cups").contains("bench-1-laser stopped"), "{text}");
    assert!(line("weasyprint").contains("probe OK") && line("weasyprint").contains("WeasyPrint version"), "{text}");
    assert!(!text.contains("cs_reg") && !text.contains("ups-secret"), "no secret is printed");

    // `config check` lists the registry without probing.
    let out = Command::new(env!("CARGO_BIN_EXE_qm")).args(["config", "check"]).arg(app._tenant.config_path()).output().expect("check");
    let checked = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{checked}");
    assert!(checked.contains("ups: needed by fulfillment — configured (cie, account A1B2C3)") && !checked.contains("probe"), "{checked}");

    // The page shows the same, and the printers tile reads CUPS's own state.
    let admin = signed_in(&app, "ada", Role::Admin).await;
    let tiles: Vec<Value> = admin.get("/dashboard/tiles.json").await.json().await.expect("tiles");
    let printers = tile(&tiles, "printers");
    assert_eq!(printers["value"], "1/2", "{printers}");
    let rows = printers["rows"].to_string();
    assert!(rows.contains("bench-1-zebra") && rows.contains("idle"), "{rows}");
    assert!(rows.contains("bench-1-laser") && rows.contains("stopped") && rows.contains("paused"), "{rows}");
    assert_eq!(tile(&tiles, "ups")["value"], "DOWN");
    assert_eq!(tile(&tiles, "woocommerce")["value"], "OK");
    assert_eq!(tile(&tiles, "smtp")["level"], "off", "mail is optional here: not configured is shown, not alarmed");
    let html = admin.get("/dashboard").await.text().await.expect("html");
    assert!(html.contains(r#"<tr class="level-bad" data-integration="ups">"#), "{html}");
    assert!(html.contains(r#"<tr class="level-warn" data-integration="smtp">"#), "{html}");
}

/// Debian's Prometheus on a free loopback port with its own storage; stopped by its PID.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus(target: &str, token_file: &std::path::Path) -> Prometheus {
    let dir = tempfile::tempdir().expect("dir");
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/compose/prometheus/alerts.yml");
    let config = format!(
        "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nrule_files: [\"{rules}\"]\nscrape_configs:\n  - job_name: quartermaster\n    static_configs: [{{ targets: [\"{target}\"] }}]\n    authorization: {{ credentials_file: \"{}\" }}\n",
        token_file.display()
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).expect("config");
    let port = free_port();
    let bin = std::env::var("QM_PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    let child = Command::new(&bin)
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}; scripts/test installs Debian's prometheus"));
    Prometheus { child, port, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_metrics_with_the_token_and_loads_the_alert_rules() {
    let db = TestDb::empty().await;
    let tenant = TenantDir::write_with(
        &db,
        "",
        "",
        "http://127.0.0.1:9",
        ("ck_x", "cs_x"),
        "monitoring: { metrics_token: ref+file://secrets/metrics_token }\n",
    );
    let token = "metrics-token-for-tests-5f2c";
    std::fs::write(tenant.dir.path().join("secrets/metrics_token"), token).expect("token");
    let app = TestApp::spawn_in(db, tenant, "").await;
    // Some traffic to count.
    for _ in 0..3 {
        app.get("/sign-in").await;
    }
    let plain = reqwest::get(format!("{}/metrics", app.address)).await.expect("scrape");
    assert_eq!(plain.status().as_u16(), 401, "no token, no metrics");
    let text = reqwest::Client::new()
        .get(format!("{}/metrics", app.address))
        .bearer_auth(token)
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(text.contains(r#"qm_http_requests_total{method="GET",route="/sign-in",status="200"} 3"#), "{text}");
    assert!(text.contains(r#"qm_outbox_depth{channel="woocommerce"} 0"#), "{text}");
    assert!(!text.contains(token));

    let token_file = app._tenant.dir.path().join("secrets/metrics_token");
    let target = app.address.trim_start_matches("http://").to_owned();
    let prom = prometheus(&target, &token_file);
    let api = format!("http://127.0.0.1:{}", prom.port);
    let http = reqwest::Client::new();
    let query = |q: &'static str| {
        let (http, api) = (http.clone(), api.clone());
        async move {
            let v: Value = http.get(format!("{api}/api/v1/query")).query(&[("query", q)]).send().await.ok()?.json().await.ok()?;
            let result = v["data"]["result"].as_array()?.clone();
            (!result.is_empty()).then_some(result)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let up = loop {
        if let Some(r) = query(r#"up{job="quartermaster"}"#).await
            && r[0]["value"][1] == "1"
        {
            break r;
        }
        assert!(Instant::now() < deadline, "Prometheus did not scrape qm within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(up[0]["metric"]["instance"], target.as_str());
    let series = loop {
        if let Some(r) = query(r#"qm_http_requests_total{route="/sign-in"}"#).await {
            break r;
        }
        assert!(Instant::now() < deadline, "no qm_http_requests_total in Prometheus");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(series[0]["metric"]["status"], "200");
    assert!(query("qm_db_pool_max_connections").await.is_some());
    // The pages' own connections (no ping) are gauged too: at least 2 of them.
    let page_max = query("qm_db_page_max_connections").await.expect("qm_db_page_max_connections scraped");
    assert!(page_max[0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v >= 2.0), "{page_max:?}");
    assert!(query("qm_database_size_bytes").await.is_some());
    let rules: Value = http.get(format!("{api}/api/v1/rules")).send().await.expect("rules").json().await.expect("json");
    let names: Vec<String> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .expect("rules loaded")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    for alert in [
        "QuartermasterSyncFailing",
        "QuartermasterOutboxGrowing",
        "QuartermasterPrinterOffline",
        "QuartermasterJobFailing",
        "QuartermasterDiskLow",
    ] {
        assert!(names.iter().any(|n| n == alert), "{alert} not among {names:?}");
    }
    assert!(rules["data"]["groups"][0]["rules"].as_array().expect("rules").iter().all(|r| r["health"] == "ok"), "{rules}");
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_on_the_series_that_should_raise_them() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/compose/prometheus");
    let promtool = std::env::var("QM_PROMTOOL_BIN").unwrap_or_else(|_| "promtool".into());
    let check = Command::new(&promtool)
        .args(["check", "rules", "alerts.yml"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{promtool}: {e}; scripts/test installs prometheus"));
    assert!(check.status.success(), "{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    let test = Command::new(&promtool).args(["test", "rules", "alerts.test.yml"]).current_dir(dir).output().expect("promtool");
    assert!(test.status.success(), "{}{}", String::from_utf8_lossy(&test.stdout), String::from_utf8_lossy(&test.stderr));
    let config =
        Command::new(&promtool).args(["check", "config", "--syntax-only", "prometheus.yml"]).current_dir(dir).output().expect("promtool");
    assert!(config.status.success(), "{}{}", String::from_utf8_lossy(&config.stdout), String::from_utf8_lossy(&config.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_are_drawn_on_the_server_and_the_page_refreshes_itself_without_script() {
    let app = TestApp::spawn().await;
    quartermaster::demo::seed(&app.db.pool, 30).await.expect("demo data");
    let office = signed_in(&app, "otto", Role::BackOffice).await;
    let picker = signed_in(&app, "pat", Role::Picker).await;
    let page = office.get("/dashboard").await.text().await.expect("html");
    assert!(page.contains(r#"<noscript><meta http-equiv="refresh" content="30"></noscript>"#), "{page}");
    assert!(!page.contains("<script>") && !page.contains("style=\""), "nothing inline for the CSP to refuse");
    let charts = office.get("/dashboard/charts").await;
    assert_eq!(charts.status().as_u16(), 200);
    let csp = charts.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
    let html = charts.text().await.expect("html");
    for id in ["sales", "margin", "shipments", "pushes"] {
        assert!(html.contains(&format!(r#"id="chart-{id}""#)), "{id}");
    }
    let sales = &html[html.find(r#"id="chart-sales""#).expect("sales")..html.find(r#"id="chart-margin""#).expect("margin")];
    assert_eq!(sales.matches("<rect class=\"bar").count(), 30, "one bar a day: {sales}");
    let orders: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(total_minor), 0) AS SIGNED) FROM orders").fetch_one(&app.db.pool).await.expect("sum");
    assert!(orders > 0);
    assert!(
        sales.contains(&format!("total {} USD", quartermaster::money::format_minor(orders, 2))),
        "the 30 days add up to the demo orders: {sales}"
    );
    assert!(html.contains("The books are off for this tenant"), "margin says why it is empty");
    assert_eq!(picker.get("/dashboard/charts").await.status().as_u16(), 403, "sales figures are for the back office");
    assert_eq!(picker.get("/dashboard").await.status().as_u16(), 200, "the floor's tiles are for everyone");

    // With the dashboard module off there is no dashboard at all.
    let db = TestDb::empty().await;
    let tenant = TenantDir::write(&db, "", "");
    let path = tenant.config_path();
    let yaml = std::fs::read_to_string(&path)
        .expect("yaml")
        .replace("modules: { ebay: false, accounting: false }", "modules: { ebay: false, accounting: false, dashboard: false }");
    std::fs::write(&path, yaml).expect("write");
    let off = TestApp::spawn_in(db, tenant, "").await;
    let b = signed_in(&off, "ada", Role::Admin).await;
    assert_eq!(b.get("/dashboard").await.status().as_u16(), 404);
    assert!(!b.get("/").await.text().await.expect("home").contains("/dashboard"), "and no link to it");
}
