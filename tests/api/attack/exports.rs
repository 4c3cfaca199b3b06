//! Every CSV export, opened by a real spreadsheet engine: LibreOffice
//! (headless, from Debian) imports it with formula evaluation on, as an
//! accountant's double-click would, and writes a flat ODS whose cells the
//! test reads back. No cell may be a formula; every amount must be a number.

use std::{collections::BTreeSet, path::Path, process::Command};

use serde_json::json;

use super::FORMULAS;
use crate::{
    books::{Shop, app_with_books},
    helpers::TestApp,
};
use quartermaster::{operators::Role, station::ship};

/// One spreadsheet cell as LibreOffice holds it.
#[derive(Debug)]
struct SheetCell {
    /// `office:value-type` (`float`, `string`, …), if any.
    kind: Option<String>,
    formula: Option<String>,
    /// `office:value`: the number a float cell holds.
    value: Option<String>,
    text: String,
}

/// Converts each CSV to a flat ODS with LibreOffice and reads its cells.
fn libreoffice_cells(files: &[(String, String)]) -> Vec<(String, Vec<SheetCell>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (name, body) in files {
        let p = dir.path().join(format!("{name}.csv"));
        std::fs::write(&p, body).expect("write csv");
        paths.push(p);
    }
    let profile = format!("file://{}", dir.path().join("profile").display());
    let out = Command::new("soffice")
        .arg(format!("-env:UserInstallation={profile}"))
        .args(["--headless", "--norestore", "--nolockcheck"])
        // Comma, double quote, UTF-8, from line 1, standard cells, …, token 13: evaluate formulas.
        .arg("--infilter=CSV:44,34,76,1,,0,false,true,false,false,false,-1,true")
        .args(["--convert-to", "fods", "--outdir"])
        .arg(dir.path())
        .args(&paths)
        .output()
        .expect("soffice runs (scripts/test installs libreoffice-calc-nogui)");
    assert!(out.status.success(), "soffice: {}", String::from_utf8_lossy(&out.stderr));
    files.iter().map(|(name, _)| (name.clone(), cells_of(&dir.path().join(format!("{name}.fods"))))).collect()
}

fn cells_of(fods: &Path) -> Vec<SheetCell> {
    let xml = std::fs::read_to_string(fods).unwrap_or_else(|e| panic!("{}: {e}", fods.display()));
    let cell = regex::Regex::new(r"(?s)<table:table-cell([^>]*?)(/>|>(.*?)</table:table-cell>)").expect("regex");
    let attr = |attrs: &str, name: &str| {
        regex::Regex::new(&format!(r#"{name}="([^"]*)""#)).expect("regex").captures(attrs).map(|c| c[1].to_owned())
    };
    let tags = regex::Regex::new(r"<[^>]+>").expect("regex");
    cell.captures_iter(&xml)
        .map(|c| SheetCell {
            kind: attr(&c[1], "office:value-type"),
            formula: attr(&c[1], "table:formula"),
            value: attr(&c[1], " office:value"),
            text: tags
                .replace_all(c.get(3).map_or("", |m| m.as_str()), "")
                .replace("&apos;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
                .trim()
                .to_owned(),
        })
        .filter(|c| c.kind.is_some() || c.formula.is_some())
        .collect()
}

/// Every "Download CSV" link on the books' pages, followed from the index.
async fn every_export(app: &TestApp) -> BTreeSet<String> {
    let index = app.get("/books").await.text().await.expect("index");
    let href = regex::Regex::new(r#"href="(/books/[^"?]*)(\?[^"]*)?""#).expect("regex");
    let pages: BTreeSet<String> = href.captures_iter(&index).map(|c| c[1].to_owned()).collect();
    let mut csv = BTreeSet::new();
    let link = regex::Regex::new(r#"href="([^"]*format=csv[^"]*)""#).expect("regex");
    for page in pages.iter().chain(std::iter::once(&"/books".to_owned())) {
        let html = app.get(page).await.text().await.expect("page");
        for l in link.captures_iter(&html) {
            csv.insert(l[1].replace("&amp;", "&").replace("&#38;", "&"));
        }
    }
    csv
}

/// A customer named like a formula, a product and lot named like one, and a
/// payment referenced like one reach every export; LibreOffice finds text
/// where they are and numbers where the amounts are.
#[tokio::test]
async fn no_export_opens_as_a_formula_in_libreoffice_and_amounts_stay_numbers() {
    let app = app_with_books().await;
    app.add_operator("office", Role::BackOffice, "office-password-1").await;
    assert_eq!(app.sign_in("office", "office-password-1").await.status(), 303);
    let mut shop = Shop::of(&app);
    let product = shop.product(FORMULAS[0], 100).await;
    shop.receive(FORMULAS[1], &[(product, 10, 400)]).await;
    let (order, _) = shop.order_by((FORMULAS[2], FORMULAS[0]), "purchase_order", &[(product, 2, 2000)], 500, 0, json!([])).await;
    ship::record_shipment(shop.pool(), order, None, "ups", None).await.expect("ship");
    shop.post().await;

    let exports = every_export(&app).await;
    for must in ["/books/ar", "/books/cogs", "/books/valuation", "/books/journal", "/books/trial-balance"] {
        assert!(exports.iter().any(|e| e.starts_with(&format!("{must}?"))), "{must} offers a CSV: {exports:?}");
    }
    let mut files = Vec::new();
    for (i, e) in exports.iter().enumerate() {
        let r = app.get(e).await;
        assert_eq!(r.status(), 200, "{e}");
        files.push((format!("export-{i}"), r.text().await.expect("csv")));
    }
    let mut hostile_seen = 0;
    let mut figures = 0;
    for ((_, cells), (e, (_, body))) in libreoffice_cells(&files).iter().zip(exports.iter().zip(&files)) {
        for c in cells {
            assert!(c.formula.is_none(), "{e}: LibreOffice read a formula {:?} from {body}", c.formula);
            if FORMULAS.iter().any(|f| c.text.contains(f)) {
                hostile_seen += 1;
                assert_eq!(c.kind.as_deref(), Some("string"), "{e}: {c:?}");
            }
            if c.kind.as_deref() == Some("float") {
                figures += 1;
            }
        }
        // The amounts an accountant sums are numbers: 25.00 (the order) somewhere as a float.
        if e.starts_with("/books/ar?") {
            assert!(cells.iter().any(|c| c.kind.as_deref() == Some("float") && c.value.as_deref() == Some("25")), "{e}: {cells:?}");
            assert!(
                cells.iter().any(|c| c.text.trim_start_matches('\'').starts_with(FORMULAS[2])),
                "the customer's name is there, as text: {cells:?}"
            );
        }
    }
    assert!(hostile_seen >= 3, "the hostile names reached the exports ({hostile_seen} cells)");
    assert!(figures >= 5, "figures stay numbers ({figures})");
}
