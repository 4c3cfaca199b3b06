//! No text can make a PDF render fetch anything. Every field a customer, a
//! supplier feed or the store fills (names, companies, addresses, product
//! names, line descriptions) carries markup that would fetch from a listener
//! the test runs, or read a file; the quote and the packing slip are
//! rendered by the real WeasyPrint, the listener must see nothing and
//! `pdftotext` must show the markup as the text it is. Then a template
//! mistake (the same markup raw in the HTML) is rendered too: the renderer's
//! fetcher reads the template folder and nothing else.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    helpers::{csrf_in, pdftotext},
    quotes::Shop,
};

/// The PDF's text in content order (`pdftotext -raw`): a cell's text stays
/// together however the table lays its columns out.
fn raw_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = std::process::Command::new("pdftotext").arg("-raw").arg(&path).arg("-").output().expect("pdftotext");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
use quartermaster::printing::pdf::WeasyPrint;

/// A loopback listener that records the first line of whatever connects.
struct Listener {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    async fn start() -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = vec![0u8; 512];
                    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await.ok().and_then(Result::ok).unwrap_or(0);
                    let first = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("(connected, sent nothing)").to_owned();
                    log.lock().expect("log").push(first);
                });
            }
        });
        Self { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("log").clone()
    }

    /// Markup that fetches from this listener (or reads a file) wherever it is taken as HTML or CSS.
    fn payloads(&self) -> Vec<String> {
        let p = self.port;
        vec![
            "<img src=file:///etc/hostname>".to_owned(),
            format!("<img src=\"http://127.0.0.1:{p}/img\">"),
            format!("<link rel=stylesheet href=\"http://127.0.0.1:{p}/link\">"),
            format!("<style>@import url(http://127.0.0.1:{p}/import);</style>"),
            format!("url(http://127.0.0.1:{p}/url)"),
            format!("<svg><image href=\"http://127.0.0.1:{p}/svg\"/></svg>"),
            format!("<object data=\"http://127.0.0.1:{p}/obj\"></object>"),
            format!("<div style=\"background:url(http://127.0.0.1:{p}/style)\">x</div>"),
        ]
    }
}

/// Text as pdftotext shows it, whitespace dropped (a long field wraps).
fn squeezed(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_text_in_every_quote_field_fetches_nothing_and_prints_as_text() {
    let listener = Listener::start().await;
    let p = listener.payloads();
    let shop = Shop::new().await;
    let csrf = shop.back_office().await;
    // The store's product names, as the sync would mirror them.
    for (sku, name) in [("HXB-1", &p[5]), ("PMP-2", &p[6])] {
        sqlx::query("UPDATE products SET name = ? WHERE sku = ?").bind(name).bind(sku).execute(&shop.app.db.pool).await.expect("name");
    }
    let rfq = "From: \"Dana\" <dana@buyer-co.example>\r\nTo: sales@testco.example\r\nSubject: RFQ\r\n\r\nHXB-1 x 2\r\n";
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", rfq.as_bytes(), Some(crate::helpers::INTAKE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    let rfq = body["rfq"].as_u64().expect("rfq");
    let (status, location, body) = shop.post(&format!("/rfqs/{rfq}/quote"), &[("csrf", &csrf), ("country", "US")]).await;
    assert_eq!(status, 303, "{body}");
    let quote: u64 = location.rsplit('/').next().and_then(|i| i.parse().ok()).expect("quote");
    let csrf = csrf_in(&shop.app.get(&format!("/quotes/{quote}")).await.text().await.expect("page"));
    let form = [
        ("csrf", csrf.as_str()),
        ("customer_name", &p[0]),
        ("customer_email", "dana@buyer-co.example"),
        ("customer_company", &p[1]),
        ("street1", &p[2]),
        ("street2", &p[3]),
        ("city", &p[4]),
        ("country", "US"),
        ("state", "CA"),
        ("postcode", "94103"),
        ("product_1", "HXB-1"),
        ("quantity_1", "2"),
        ("product_2", "PMP-2"),
        ("quantity_2", "1"),
        ("description_3", &p[7]),
        ("quantity_3", "1"),
        ("price_3", "10.00"),
        ("reason_3", "a custom line"),
        ("note", &p[3]),
    ];
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/revise"), &form).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{body}");
    let pdf: Vec<u8> = sqlx::query_scalar(
        "SELECT p.pdf FROM quote_pdfs p JOIN quote_versions v ON v.id = p.quote_version_id WHERE v.quote_id = ? ORDER BY v.id DESC LIMIT 1",
    )
    .bind(quote)
    .fetch_one(&shop.app.db.pool)
    .await
    .expect("pdf");
    let text = squeezed(&raw_text(&pdf));
    for shown in [&p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &p[7]] {
        assert!(text.contains(&squeezed(shown)), "the quote shows {shown} as text: {text}");
    }
    assert_eq!(listener.seen(), Vec::<String>::new(), "the quote's render fetched from the listener");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_text_in_every_slip_field_fetches_nothing_and_prints_as_text() {
    let listener = Listener::start().await;
    let p = listener.payloads();
    let w = crate::station::World::new().await;
    let a = w.product("HSL-1", "01234500111", "A-01-1", false, &[("S1", 10, "A-01-1")]).await;
    let order = w.order(&[(&a, 2)]).await;
    let pool = &w.app.db.pool;
    // The store's text, as the sync mirrors it: the ship-to address and the line's product name.
    sqlx::query(
        "UPDATE orders SET ship_name = ?, ship_company = ?, ship_address1 = ?, ship_address2 = ?, ship_city = ?, ship_state = ? WHERE id = ?",
    )
    .bind(&p[0])
    .bind(&p[1])
    .bind(&p[2])
    .bind(&p[3])
    .bind(&p[4])
    .bind(&p[5])
    .bind(order)
    .execute(pool)
    .await
    .expect("address");
    sqlx::query("UPDATE order_lines SET name = ? WHERE order_id = ?").bind(&p[6]).bind(order).execute(pool).await.expect("line");
    for paper in ["letter", "4x6"] {
        let pdf = quartermaster::station::slip::pdf(pool, &w.app.state.config, order, paper, &w.app.state.weasy).await.expect("slip");
        let text = squeezed(&raw_text(&pdf));
        for shown in &p[..7] {
            assert!(text.contains(&squeezed(shown)), "{paper}: the slip shows {shown} as text: {text}");
        }
    }
    assert_eq!(listener.seen(), Vec::<String>::new(), "the slip's render fetched from the listener");
}

/// The door is closed even for a template mistake: markup raw in the HTML
/// reads the template folder (a stylesheet there is applied) and nothing
/// else — no network, no file outside it, not through a symlink inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_asks_for_the_network_or_another_file_gets_only_its_own_folder() {
    let listener = Listener::start().await;
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("evil.css"), "body::after { content: \"LEAKED-OUTSIDE\"; }").expect("css");
    let folder = tempfile::tempdir().expect("template folder");
    std::fs::write(folder.path().join("ok.css"), "body::before { content: \"FROM-THE-FOLDER\"; }").expect("css");
    std::os::unix::fs::symlink(outside.path().join("evil.css"), folder.path().join("link.css")).expect("symlink");
    let html = format!(
        "<html><head><link rel=stylesheet href=\"ok.css\"><link rel=stylesheet href=\"link.css\"><link rel=stylesheet href=\"file://{}/evil.css\">{}</head><body><p>body</p>{}</body></html>",
        outside.path().display(),
        listener.payloads()[3],
        listener.payloads().join("\n"),
    );
    let pdf = WeasyPrint::default().render(html, Some(folder.path())).await.expect("render");
    let text = pdftotext(&pdf);
    assert!(text.contains("FROM-THE-FOLDER"), "the template folder's stylesheet is read: {text}");
    assert!(!text.contains("LEAKED-OUTSIDE"), "a file outside the folder was read: {text}");
    assert_eq!(listener.seen(), Vec::<String>::new(), "the render fetched from the listener");
}
