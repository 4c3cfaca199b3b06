//! Printing to a REAL CUPS (a private cupsd on a free loopback port) with a
//! raw queue on socket://, where the test listens like a Zebra on 9100 and
//! captures the bytes.

use std::time::Duration;

use quartermaster::{
    printing::{
        ipp::{self, Attempt, DocumentKind, PrinterTarget},
        zpl,
    },
    standin::cups::{LocalCups, RawPrinter},
};

use crate::helpers::{TestDb, free_port};

async fn cups() -> LocalCups {
    LocalCups::start().await.expect("a private cupsd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_arrives_byte_exact_at_the_printer_and_the_job_is_recorded() {
    let db = TestDb::migrated().await;
    let cups = cups().await;
    let printer = RawPrinter::start().await.expect("printer");
    cups.add_raw_queue("bench-1-zebra", printer.port).expect("queue");
    let label = zpl::lot_label("HXB-10001", "Hex bolt ^XZ~JR M8", "L-2411", "A-01-1");
    let (id, attempt) =
        ipp::submit(&db.pool, &cups.target("bench-1-zebra"), DocumentKind::LotLabel, label.clone(), None).await.expect("submit");
    assert!(matches!(attempt, Attempt::Sent { ipp_job_id } if ipp_job_id > 0), "{attempt:?}");
    let got = printer.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got, vec![label.clone()], "one job, byte-exact at the printer");
    let (state, len, sha): (String, u32, Vec<u8>) =
        sqlx::query_as("SELECT state, bytes_len, sha256 FROM print_jobs WHERE id = ?").bind(id).fetch_one(&db.pool).await.expect("row");
    assert_eq!((state.as_str(), len as usize), ("sent", label.len()));
    use sha2::Digest;
    assert_eq!(sha, sha2::Sha256::digest(&label).to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_for_a_printer_that_is_down_stays_queued_and_is_retried() {
    let db = TestDb::migrated().await;
    // Nothing answers at this address yet: CUPS itself is down.
    let down = PrinterTarget { name: "bench-2-zebra".into(), uri: format!("ipp://127.0.0.1:{}/printers/bench-2-zebra", free_port()) };
    let label = zpl::serial_label("PRX-1", "SN-0042");
    let (id, attempt) = ipp::submit(&db.pool, &down, DocumentKind::SerialLabel, label.clone(), None).await.expect("submit");
    assert!(matches!(attempt, Attempt::Queued { .. }), "{attempt:?}");
    let (state, attempts, error): (String, u32, Option<String>) =
        sqlx::query_as("SELECT state, attempts, last_error FROM print_jobs WHERE id = ?").bind(id).fetch_one(&db.pool).await.expect("row");
    assert_eq!((state.as_str(), attempts), ("queued", 1), "not reported printed");
    assert!(error.unwrap_or_default().contains("cannot reach"));
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM event_log WHERE kind = 'print.failed'").fetch_one(&db.pool).await.expect("events");
    assert_eq!(events, 1, "the station can show it");

    // The printer comes back: the retry sends the stored bytes.
    let cups = cups().await;
    let printer = RawPrinter::start().await.expect("printer");
    cups.add_raw_queue("bench-2-zebra", printer.port).expect("queue");
    sqlx::query("UPDATE print_jobs SET next_attempt_at = UTC_TIMESTAMP(6)").execute(&db.pool).await.expect("due");
    let due = ipp::due(&db.pool).await.expect("due");
    assert_eq!(due, vec![(id, "bench-2-zebra".to_owned())]);
    // The retry job, with the printers of the tenant file.
    let printers = vec![quartermaster::config::Printer {
        name: "bench-2-zebra".into(),
        uri: cups.target("bench-2-zebra").uri,
        kind: quartermaster::config::PrinterKind::Zpl,
        station: "bench-1".into(),
    }];
    let pass = quartermaster::printing::ipp::retry_due(&db.pool, &printers).await.expect("retry pass");
    assert_eq!((pass.sent, pass.still_queued, pass.unknown_printer), (1, 0, 0));
    let (state,): (String,) = sqlx::query_as("SELECT state FROM print_jobs WHERE id = ?").bind(id).fetch_one(&db.pool).await.expect("row");
    assert_eq!(state, "sent");
    assert_eq!(printer.wait_for(1, Duration::from_secs(20)).await, vec![label]);
    let (sent,): (String,) = sqlx::query_as("SELECT message FROM event_log WHERE kind = 'print.sent' ORDER BY id DESC LIMIT 1")
        .fetch_one(&db.pool)
        .await
        .expect("the station hears it printed");
    assert!(sent.starts_with(&format!("serial label {id} sent to bench-2-zebra")), "{sent}");
}
