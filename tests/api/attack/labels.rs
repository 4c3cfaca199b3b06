//! Every label the app builds, with names that try to reprint, reconfigure
//! or factory-reset the printer, sent through a real CUPS queue to a socket
//! that captures what a Zebra would receive. What arrives is read the way a
//! printer reads it: any `^` or `~`, wherever it is, starts a command.

use std::time::Duration;

use quartermaster::printing::{
    ipp::{self, Attempt, DocumentKind},
    zpl,
};

/// Names and refs meant to become commands.
const HOSTILE: [&str; 6] = [
    "Bolt ^XZ^XA^FO0,0^FDpwned^FS^XZ",
    "~JR reset",
    "^JUF factory defaults",
    "^XA^JUN^XZ",
    "^CC+ +XZ+XA ~CT+ caret changed",
    "back\\slash ~JD ^HH",
];

/// The commands a printer finds in `zpl` (a `^` or `~` and the next two
/// characters), and the decoded `^FD` fields.
fn as_a_printer_reads(zpl: &[u8]) -> (Vec<String>, Vec<String>) {
    let mut commands = Vec::new();
    for (i, b) in zpl.iter().enumerate() {
        if *b == b'^' || *b == b'~' {
            commands.push(String::from_utf8_lossy(&zpl[i..(i + 3).min(zpl.len())]).into_owned());
        }
    }
    let text = String::from_utf8_lossy(zpl);
    let fields = text
        .split("^FD")
        .skip(1)
        .map(|f| {
            let raw = f.split("^FS").next().unwrap_or_default().as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'\\' && i + 2 < raw.len() + 1 {
                    let hex = std::str::from_utf8(&raw[i + 1..(i + 3).min(raw.len())]).unwrap_or("00");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 3;
                } else {
                    out.push(raw[i]);
                    i += 1;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect();
    (commands, fields)
}

/// The commands our label builder writes: nothing that reconfigures, resets or starts another label.
const OURS: [&str; 14] = ["^XA", "^CI", "^PW", "^LL", "^LH", "^FO", "^A0", "^FH", "^FD", "^FS", "^BY", "^BC", "^GB", "^XZ"];

fn assert_one_harmless_label(zpl: &[u8], want_fields: &[&str]) {
    let (commands, fields) = as_a_printer_reads(zpl);
    let text = String::from_utf8_lossy(zpl);
    let foreign: Vec<&String> = commands.iter().filter(|c| !OURS.contains(&c.as_str())).collect();
    assert!(foreign.is_empty(), "the printer would run {foreign:?}: {text}");
    assert_eq!(commands.iter().filter(|c| *c == "^XA").count(), 1, "one label start: {text}");
    assert_eq!(commands.iter().filter(|c| *c == "^XZ").count(), 1, "one label end: {text}");
    assert_eq!(commands.last().map(String::as_str), Some("^XZ"), "nothing after the label: {text}");
    for want in want_fields {
        assert!(fields.iter().any(|f| f.contains(want)), "{want:?} prints as text: {fields:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_print_as_text_on_one_label_through_real_cups() {
    let w = crate::station::World::new().await;
    let p = w.picker("ann").await;
    let mut sent = 0;
    // Lot labels from the lot's page: the product's name, the lot ref and the bin from data.
    for (i, hostile) in HOSTILE.iter().enumerate() {
        let sku: &'static str = Box::leak(format!("HST-{i}").into_boxed_str());
        let lot_ref = format!("L{i}{}", &hostile[..hostile.len().min(12)]);
        w.product(sku, &format!("0123450020{i}"), "A-01-1", false, &[(lot_ref.as_str(), 5, hostile)]).await;
        sqlx::query("UPDATE products SET name = ? WHERE sku = ?").bind(hostile).bind(sku).execute(&w.app.db.pool).await.expect("name");
        let lot: u64 = sqlx::query_scalar("SELECT l.id FROM inventory_lots l JOIN products p ON p.id = l.product_id WHERE p.sku = ?")
            .bind(sku)
            .fetch_one(&w.app.db.pool)
            .await
            .expect("lot");
        let (status, _, body) = p.post(&format!("/inventory/lots/{lot}/label"), &[("copies", "1")]).await;
        assert_eq!(status, 200, "{body}");
        sent += 1;
        let printed = w.labels.wait_for(sent, Duration::from_secs(30)).await;
        assert_one_harmless_label(&printed[sent - 1], &[hostile, &lot_ref]);
    }
    // Serial labels: the SKU and the serial from data, to the same queue.
    let target = w._cups.target("bench-1-zebra");
    for hostile in HOSTILE {
        let label = zpl::serial_label(hostile, &format!("SN {hostile}"));
        let (_, attempt) = ipp::submit(&w.app.db.pool, &target, DocumentKind::SerialLabel, label, None).await.expect("submit");
        assert!(matches!(attempt, Attempt::Sent { .. }), "{attempt:?}");
        sent += 1;
        let printed = w.labels.wait_for(sent, Duration::from_secs(30)).await;
        assert_one_harmless_label(&printed[sent - 1], &[hostile, &format!("SN {hostile}")]);
    }
}

/// The reader above is a printer's, not ours: raw data would be caught.
#[test]
fn the_printer_reading_finds_commands_in_unescaped_data() {
    let raw = format!("^XA^FO0,0^FD{}^FS^XZ", HOSTILE[0]);
    let (commands, _) = as_a_printer_reads(raw.as_bytes());
    assert!(commands.iter().filter(|c| *c == "^XA").count() > 1, "{commands:?}");
    let raw = format!("^XA^FD{}^FS^XZ", HOSTILE[1]);
    assert!(as_a_printer_reads(raw.as_bytes()).0.contains(&"~JR".to_owned()));
}
