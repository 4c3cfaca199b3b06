//! What the customer receives, checked as a customer would see it: the quote
//! PDF (template v2) and the packing slip rendered by the real WeasyPrint,
//! read back with poppler (`pdftotext -bbox-layout` for where each word sits,
//! `pdffonts` for the fonts, `pdftoppm` for a PNG kept under
//! target/screenshots/documents/): numbers right-aligned under right-aligned
//! headings, nothing past the page's edge, one font family, amounts with
//! symbol and grouping, the seller's address and phone, the buyer's street,
//! a tax summary that adds up (shipping's tax shown), and a slip per package
//! with its own tracking number and the return address.

use std::{path::PathBuf, process::Command};

use regex::Regex;

use crate::{
    helpers::{INTAKE_TOKEN, csrf_in},
    quotes::Shop,
};

/// One word on a page, in points.
#[derive(Debug, Clone)]
struct Word {
    page: usize,
    x_min: f64,
    y_min: f64,
    x_max: f64,
    y_max: f64,
    text: String,
}

/// Every word of a PDF with its box, and each page's (width, height).
fn words(pdf: &[u8]) -> (Vec<Word>, Vec<(f64, f64)>) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = Command::new("pdftotext").arg("-bbox-layout").arg(&path).arg("-").output().expect("pdftotext (poppler-utils)");
    let html = String::from_utf8_lossy(&out.stdout).into_owned();
    let page_re = Regex::new(r#"<page width="([0-9.]+)" height="([0-9.]+)">"#).expect("re");
    let word_re = Regex::new(r#"<word xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" yMax="([0-9.]+)">([^<]*)</word>"#).expect("re");
    let mut pages = Vec::new();
    let mut out_words = Vec::new();
    for (i, chunk) in html.split("<page ").skip(1).enumerate() {
        let chunk = format!("<page {chunk}");
        if let Some(c) = page_re.captures(&chunk) {
            pages.push((c[1].parse().unwrap_or(0.0), c[2].parse().unwrap_or(0.0)));
        }
        for c in word_re.captures_iter(&chunk) {
            out_words.push(Word {
                page: i,
                x_min: c[1].parse().unwrap_or(0.0),
                y_min: c[2].parse().unwrap_or(0.0),
                x_max: c[3].parse().unwrap_or(0.0),
                y_max: c[4].parse().unwrap_or(0.0),
                text: c[5].replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", "\""),
            });
        }
    }
    (out_words, pages)
}

/// The font names a PDF uses (pdffonts).
fn fonts(pdf: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).expect("write");
    let out = Command::new("pdffonts").arg(&path).output().expect("pdffonts");
    String::from_utf8_lossy(&out.stdout).lines().skip(2).filter_map(|l| l.split_whitespace().next().map(str::to_owned)).collect()
}

/// Renders the first page to a PNG under target/screenshots/documents/ (for a person to look at) and says it is there.
fn png(pdf: &[u8], name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from)
        .join("screenshots/documents");
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join(format!("{name}.pdf"));
    std::fs::write(&src, pdf).expect("write");
    let out = Command::new("pdftoppm").args(["-png", "-r", "110", "-singlefile"]).arg(&src).arg(dir.join(name)).output().expect("pdftoppm");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = dir.join(format!("{name}.png"));
    assert!(std::fs::metadata(&file).map(|m| m.len() > 10_000).unwrap_or(false), "a real picture at {}", file.display());
    file
}

fn assert_inside_pages(ws: &[Word], pages: &[(f64, f64)], what: &str) {
    for w in ws {
        let (width, height) = pages[w.page];
        assert!(
            w.x_min >= 0.0 && w.x_max <= width && w.y_min >= 0.0 && w.y_max <= height,
            "{what}: `{}` is past the page's edge: {w:?}",
            w.text
        );
    }
}

/// The words on the same line as `w` (their boxes overlap vertically), left to right.
fn row_of<'a>(ws: &'a [Word], w: &Word) -> Vec<&'a Word> {
    let mut row: Vec<&Word> = ws.iter().filter(|o| o.page == w.page && o.y_min < w.y_max - 1.0 && o.y_max > w.y_min + 1.0).collect();
    row.sort_by(|a, b| a.x_min.total_cmp(&b.x_min));
    row
}

const BUYER_RFQ: &str = "From: \"Dana Whitfield\" <dana@buyer-co.example>\r\nTo: sales@testco.example\r\nSubject: RFQ\r\n\r\nPlease quote:\r\nHXB-1 x 95\r\n3 pcs 012345000027\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_quote_pdf_reads_like_a_real_business_document() {
    let shop = Shop::edited("", "", &[], |yaml| {
        yaml.replace(
            "branding: { sender_name: Test Co Sales }",
            "branding:\n  sender_name: Test Co Sales\n  sender_email: sales@testco.example\n  phone: \"+1 312 555 0142\"\n  address: { name: Test Co, line1: 1200 W Fulton Market, line2: Suite 400, city: Chicago, state: IL, postcode: \"60607\", country: US }",
        )
    })
    .await;
    let csrf = shop.back_office().await;
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", BUYER_RFQ.as_bytes(), Some(INTAKE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    let rfq = body["rfq"].as_u64().expect("rfq");
    let (status, location, body) =
        shop.post(&format!("/rfqs/{rfq}/quote"), &[("csrf", &csrf), ("country", "US"), ("state", "CA"), ("postcode", "94103")]).await;
    assert_eq!(status, 303, "{body}");
    let quote: u64 = location.rsplit('/').next().and_then(|i| i.parse().ok()).expect("quote");
    // The back office adds the buyer's company, street and a shipping charge.
    let page = shop.app.get(&format!("/quotes/{quote}")).await.text().await.expect("page");
    let csrf = csrf_in(&page);
    let form = [
        ("csrf", csrf.as_str()),
        ("customer_name", "Dana Whitfield"),
        ("customer_email", "dana@buyer-co.example"),
        ("customer_company", "Buyer Co Manufacturing"),
        ("street1", "500 Howard St"),
        ("city", "San Francisco"),
        ("country", "US"),
        ("state", "CA"),
        ("postcode", "94103"),
        ("product_1", "HXB-1"),
        ("quantity_1", "95"),
        ("product_2", "PMP-2"),
        ("quantity_2", "3"),
        ("shipping", "25.00"),
        ("note", "shipping and address"),
    ];
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/revise"), &form).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, body) = shop.post(&format!("/quotes/{quote}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{body}");
    let (pdf, snapshot): (Vec<u8>, String) = sqlx::query_as(
        "SELECT p.pdf, CAST(v.snapshot AS CHAR) FROM quote_pdfs p JOIN quote_versions v ON v.id = p.quote_version_id WHERE v.quote_id = ? ORDER BY v.id DESC LIMIT 1",
    )
    .bind(quote)
    .fetch_one(&shop.app.db.pool)
    .await
    .expect("pdf");
    let snap: quartermaster::quotes::snapshot::Snapshot = serde_json::from_str(&snapshot).expect("snapshot");
    assert_eq!(snap.template_version, "v2");
    png(&pdf, "quote-v2");
    let (ws, pages) = words(&pdf);
    assert!(!ws.is_empty(), "pdftotext read words");
    assert_inside_pages(&ws, &pages, "quote");

    // One font family, everywhere (the page footer included).
    let fonts = fonts(&pdf);
    let family = |f: &String| f.split('+').next_back().unwrap_or_default().replace('-', "").starts_with("DejaVuSans");
    assert!(!fonts.is_empty() && fonts.iter().all(family), "fonts: {fonts:?}");

    let text: Vec<&str> = ws.iter().map(|w| w.text.as_str()).collect();
    let joined = text.join(" ");
    for want in [
        "1200 W Fulton Market",
        "Suite 400",
        "Chicago IL 60607",
        "+1 312 555 0142",
        "sales@testco.example",
        "Buyer Co Manufacturing",
        "500 Howard St",
        "San Francisco",
    ] {
        assert!(joined.contains(want), "the quote shows {want}: {joined}");
    }
    assert!(!joined.contains("native:"), "no internal wording: {joined}");

    // Amounts read as money: the symbol and thousands grouped (95 × $12.50 = $1,187.50).
    assert!(text.contains(&"$1,187.50"), "{joined}");
    let bare = Regex::new(r"^\d{4,}\.\d\d$").expect("re");
    assert!(!text.iter().any(|t| bare.is_match(t)), "no amount without its symbol and grouping: {joined}");

    // Right-aligned headings over right-aligned numbers, column by column.
    let heading_row = ws.iter().find(|w| w.text == "Amount").expect("the Amount heading");
    let headings = row_of(&ws, heading_row);
    for (heading, sample) in [("Amount", "$1,187.50"), ("Qty", "95"), ("price", "$12.50")] {
        let h = headings.iter().find(|w| w.text == heading).unwrap_or_else(|| panic!("heading {heading}"));
        let cell = ws
            .iter()
            .find(|w| w.text == sample && w.y_min > h.y_max && (w.x_max - h.x_max).abs() < 40.0)
            .unwrap_or_else(|| panic!("a {sample} under {heading}"));
        assert!((cell.x_max - h.x_max).abs() < 1.5, "{heading} ends at {:.1} but {sample} under it ends at {:.1}", h.x_max, cell.x_max);
    }

    // The tax summary adds up to the sales tax, shipping's tax shown on its own row.
    let money = |minor: i64| quartermaster::money::display(minor, "USD", quartermaster::money::Locale::parse("en-US"));
    let rows = quartermaster::quotes::render::tax_rows(&snap);
    assert_eq!(rows.iter().map(|r| r.2).sum::<i64>(), snap.tax_minor, "{rows:?}");
    let shipping_row = rows.iter().find(|r| r.0 == "On shipping").expect("shipping's tax has a row");
    assert_eq!((shipping_row.1, shipping_row.2), (2500, snap.shipping_tax_minor));
    assert!(snap.shipping_tax_minor > 0);
    assert!(joined.contains("On shipping") && joined.contains(&money(snap.shipping_tax_minor)), "{joined}");
    assert!(joined.contains("San Francisco 8.625%"), "{joined}");
    let sales_tax = ws.iter().find(|w| w.text == "Sales" && w.y_min > heading_row.y_max).expect("the Sales tax total");
    let row: Vec<&str> = row_of(&ws, sales_tax).iter().map(|w| w.text.as_str()).collect();
    assert_eq!(row.last().copied(), Some(money(snap.tax_minor).as_str()), "the total's row carries the summed tax: {row:?}");
    // The totals sit under the Amount column, their right edges with it.
    let total = ws.iter().find(|w| w.text == money(snap.total_minor)).expect("the total");
    let amount = headings.iter().find(|w| w.text == "Amount").expect("Amount");
    assert!((total.x_max - amount.x_max).abs() < 1.5, "the total ends at {:.1}, the Amount column at {:.1}", total.x_max, amount.x_max);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_packing_slip_is_a_page_per_package_with_its_own_tracking_and_the_return_address() {
    let w = crate::station::World::new().await;
    let a = w.product("SLP-1", "01234500101", "A-01-1", false, &[("S1", 10, "A-01-1")]).await;
    let b = w.product("SLP-2", "01234500102", "B-01-1", false, &[("S2", 10, "B-01-1")]).await;
    let order = w.order(&[(&a, 2), (&b, 1)]).await;
    let pool = &w.app.db.pool;
    // Two packages: line A in the first, line B in the second, each with its tracking number.
    let shipment: u64 = sqlx::query("INSERT INTO shipments (order_id, carrier, service_code, status, master_tracking) VALUES (?, 'ups', '03', 'purchased', '1ZSLIP00000000001')")
        .bind(order)
        .execute(pool)
        .await
        .expect("shipment")
        .last_insert_id();
    for (seq, tn) in [(1, "1ZSLIP00000000001"), (2, "1ZSLIP00000000002")] {
        sqlx::query("INSERT INTO packages (shipment_id, seq, box_id, weight_g, length_mm, width_mm, height_mm, tracking_number) VALUES (?, ?, 's1', 500, 200, 150, 100, ?)")
            .bind(shipment)
            .bind(seq)
            .bind(tn)
            .execute(pool)
            .await
            .expect("package");
    }
    sqlx::query("UPDATE order_lines SET package_seq = IF(sku = 'SLP-1', 1, 2) WHERE order_id = ?")
        .bind(order)
        .execute(pool)
        .await
        .expect("packed");
    for paper in ["letter", "4x6"] {
        let pdf = quartermaster::station::slip::pdf(pool, &w.app.state.config, order, paper, &w.app.state.weasy).await.expect("slip");
        png(&pdf, &format!("slip-{paper}"));
        let (ws, pages) = words(&pdf);
        assert_eq!(pages.len(), 2, "{paper}: a page per package");
        assert_inside_pages(&ws, &pages, paper);
        let page_text = |p: usize| ws.iter().filter(|w| w.page == p).map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
        let (one, two) = (page_text(0), page_text(1));
        assert!(
            one.contains("Package 1 of 2") && one.contains("1ZSLIP00000000001") && !one.contains("1ZSLIP00000000002"),
            "{paper} page 1: {one}"
        );
        assert!(one.contains("SLP-1") && !one.contains("SLP-2"), "{paper} page 1: {one}");
        assert!(two.contains("Package 2 of 2") && two.contains("1ZSLIP00000000002") && two.contains("SLP-2"), "{paper} page 2: {two}");
        for page in [&one, &two] {
            assert!(
                page.contains("RETURN TO") && page.contains("1200 W Fulton Market"),
                "{paper}: the return address (UPS's shipper): {page}"
            );
        }
        // "Package 1 of 2" stays on one line.
        let p = ws.iter().find(|w| w.page == 0 && w.text == "Package").expect("Package");
        let row: Vec<String> = row_of(&ws, p).iter().map(|w| w.text.clone()).collect();
        assert!(row.windows(4).any(|r| r == ["Package", "1", "of", "2"]), "{paper}: {row:?}");
        let fonts = fonts(&pdf);
        assert!(
            fonts.iter().all(|f| f.split('+').next_back().unwrap_or_default().replace('-', "").starts_with("DejaVuSans")),
            "{paper}: {fonts:?}"
        );
    }
}
