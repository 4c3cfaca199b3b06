//! Mail against real servers: a sent quote reaches Debian's aiosmtpd over
//! STARTTLS with AUTH, its PDF byte for byte; mail the server cannot take is
//! kept and retried, and a refusal is told without the password; RFQs are
//! read from Debian's Dovecot over STARTTLS exactly once each (also when a
//! run is interrupted between storing and filing), bounces mark what we sent
//! and count against the domain, and IDLE brings new mail in at once.

use std::time::Duration;

use mail_parser::{MessageParser, MimeHeaders};
use quartermaster::{jobs, operators::Role};
use sha2::Digest;

use crate::{
    helpers::{INTAKE_TOKEN, TenantDir, TestApp, TestDb, free_port},
    mailhub::{Certs, ImapServer, SmtpServer, certs},
    quotes::Shop,
};

const SMTP_PASSWORD: &str = "smtp-password-7c1e";

/// The tenant's smtp section for a server on `port`.
/// With a CA: STARTTLS and AUTH as qm-sender. Without: a relay on the host, plain and without AUTH.
fn smtp_yaml(port: u16, ca: Option<&Certs>) -> String {
    let tls = match ca {
        Some(c) => {
            format!("tls: starttls\n  ca_file: {}\n  username: qm-sender\n  password: ref+file://secrets/smtp_password\n", c.ca.display())
        }
        None => "tls: none\n".into(),
    };
    format!("smtp:\n  host: 127.0.0.1\n  port: {port}\n  {tls}  from: sales@testco.example\n  timeout_seconds: 5\n")
}

const ONE_LINE_RFQ: &str =
    "From: \"Dana Whitfield\" <dana@buyer-co.example>\r\nTo: sales@testco.example\r\nSubject: RFQ\r\n\r\nPlease quote HXB-1 x 12\r\n";

/// An RFQ for 12 of a stocked item, made into a quote: its id.
async fn quote(shop: &Shop, csrf: &str) -> u64 {
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", ONE_LINE_RFQ.as_bytes(), Some(INTAKE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    let rfq = body["rfq"].as_u64().expect("rfq id");
    let (status, location, body) =
        shop.post(&format!("/rfqs/{rfq}/quote"), &[("csrf", csrf), ("country", "US"), ("state", "IL"), ("postcode", "60607")]).await;
    assert_eq!(status, 303, "{body}");
    location.rsplit('/').next().and_then(|id| id.parse().ok()).expect("quote id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sent_quote_reaches_a_real_smtp_server_over_starttls_with_the_stored_pdf_byte_for_byte() {
    let certs = certs();
    let smtp = SmtpServer::start(Some(&certs), Some(("qm-sender", SMTP_PASSWORD)), &[]);
    let extra = smtp_yaml(smtp.port, Some(&certs));
    let shop = Shop::with("  public_url: https://shop.test.example/ops\n", &extra, &[("smtp_password", SMTP_PASSWORD)]).await;
    let csrf = shop.back_office().await;
    let id = quote(&shop, &csrf).await;
    let (status, _, page) = shop.post(&format!("/quotes/{id}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Mailed to dana@buyer-co.example with the PDF."), "{page}");
    let link = crate::quotes::accept_link(&page);
    let token = link.rsplit("token=").next().expect("token").to_owned();

    let got = smtp.wait_for(1, Duration::from_secs(20)).await;
    let m = MessageParser::default().parse(&got[0]).expect("a message");
    assert_eq!(m.header_raw("X-RcptTo").map(str::trim), Some("dana@buyer-co.example"), "the envelope's recipient");
    assert_eq!(m.header_raw("X-MailFrom").map(str::trim), Some("sales@testco.example"));
    let from = m.from().and_then(|f| f.first()).expect("from");
    assert_eq!((from.name(), from.address()), (Some("Test Co Sales"), Some("sales@testco.example")));
    let subject = m.subject().expect("subject").to_owned();
    assert!(subject.starts_with("Quote ") && subject.ends_with(" R0 from Test Co"), "{subject}");
    let text = m.body_text(0).expect("a text part").into_owned();
    let html = m.body_html(0).expect("an html part").into_owned();
    let want_link = format!("https://shop.test.example/ops/q/{}?token={token}", subject.split_whitespace().nth(1).expect("number"));
    assert!(text.contains(&want_link), "the text part carries the acceptance link {want_link}:\n{text}");
    assert!(html.contains(&want_link.replace('&', "&amp;")) || html.contains(&want_link), "{html}");
    assert!(text.contains("Dear Dana Whitfield") && text.contains("Total:        $"), "{text}");
    let attachment = m.attachments().next().expect("the PDF");
    assert_eq!(
        attachment.content_type().map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default())).as_deref(),
        Some("application/pdf")
    );
    let pdf = attachment.contents().to_vec();
    let (stored, sha): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT p.pdf, p.sha256 FROM quote_pdfs p JOIN quote_versions v ON v.id = p.quote_version_id WHERE v.quote_id = ? AND v.state = 'sent'",
    )
    .bind(id)
    .fetch_one(&shop.app.db.pool)
    .await
    .expect("stored pdf");
    assert_eq!(pdf, stored, "the attachment is the stored PDF, byte for byte");
    assert_eq!(sha2::Sha256::digest(&pdf).to_vec(), sha, "its hash is the stored hash");
    assert!(!String::from_utf8_lossy(&got[0]).contains(SMTP_PASSWORD));
    // The quote page says where it went.
    let page = shop.app.get(&format!("/quotes/{id}")).await.text().await.expect("quote page");
    assert!(page.contains("mailed to dana@buyer-co.example: sent"), "{page}");
    // And it can go again, the same bytes, without the once-shown link.
    let (status, _, body) = shop.post(&format!("/quotes/{id}/mail"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 303, "{body}");
    let got = smtp.wait_for(2, Duration::from_secs(20)).await;
    let again = MessageParser::default().parse(&got[1]).expect("message");
    assert_eq!(again.attachments().next().expect("pdf").contents(), stored.as_slice());
    assert!(!again.body_text(0).expect("text").contains("token="), "the link was shown once, at sending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_the_server_cannot_take_waits_and_is_sent_later_and_a_refusal_is_told_without_the_password() {
    let port = free_port();
    let shop = Shop::with("", &smtp_yaml(port, None), &[("smtp_password", SMTP_PASSWORD)]).await;
    let csrf = shop.back_office().await;
    let pool = &shop.app.db.pool;
    // Nothing listens yet: the quote is sent, its mail waits.
    let id = quote(&shop, &csrf).await;
    let (status, _, page) = shop.post(&format!("/quotes/{id}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{page}");
    let (state, attempts, error): (String, u32, Option<String>) =
        sqlx::query_as("SELECT CAST(status AS CHAR), attempts, last_error FROM mail_outbox").fetch_one(pool).await.expect("row");
    assert_eq!((state.as_str(), attempts), ("pending", 1));
    assert!(error.as_deref().unwrap_or_default().contains("could not take the message now"), "{error:?}");
    let page = shop.app.get(&format!("/quotes/{id}")).await.text().await.expect("page");
    assert!(page.contains("waiting to be sent (last try:"), "{page}");

    // The server comes up (plain, on the host): the sender job delivers it.
    let smtp = SmtpServer::start_on(port, None, None, &["nobody@buyer-co.example"]);
    sqlx::query("UPDATE mail_outbox SET next_attempt_at = UTC_TIMESTAMP(6)").execute(pool).await.expect("due");
    let job = crate::helpers::job(&shop.app.state, "mail_send");
    let summary = crate::helpers::run_job(&shop.app.state, &job).await;
    let last: Option<String> = sqlx::query_scalar("SELECT last_error FROM mail_outbox").fetch_one(pool).await.expect("row");
    assert_eq!(summary["sent"], 1, "{summary} {last:?}");
    assert_eq!(smtp.wait_for(1, Duration::from_secs(10)).await.len(), 1);

    // A recipient the server refuses (550) fails at once and is told, once.
    let id2 = quote(&shop, &csrf).await;
    let form = [
        ("csrf", csrf.as_str()),
        ("customer_name", "Nobody"),
        ("customer_email", "nobody@buyer-co.example"),
        ("country", "US"),
        ("state", "IL"),
        ("postcode", "60607"),
        ("product_1", "HXB-1"),
        ("quantity_1", "12"),
        ("shipping", "0"),
        ("note", "other buyer"),
    ];
    let (status, _, body) = shop.post(&format!("/quotes/{id2}/revise"), &form).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, page) = shop.post(&format!("/quotes/{id2}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{page}");
    let (state, error): (String, Option<String>) =
        sqlx::query_as("SELECT CAST(status AS CHAR), last_error FROM mail_outbox WHERE recipients = 'nobody@buyer-co.example'")
            .fetch_one(pool)
            .await
            .expect("row");
    assert_eq!(state, "failed");
    assert!(error.as_deref().unwrap_or_default().contains("550"), "{error:?}");
    let told: Vec<String> =
        sqlx::query_scalar("SELECT message FROM event_log WHERE kind = 'mail.failed'").fetch_all(pool).await.expect("events");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("nobody@buyer-co.example") && !told[0].contains(SMTP_PASSWORD));
    let page = shop.app.get(&format!("/quotes/{id2}")).await.text().await.expect("page");
    assert!(page.contains("mailed to nobody@buyer-co.example: NOT SENT"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_smtp_password_is_refused_by_the_server_and_never_shown() {
    let certs = certs();
    let smtp = SmtpServer::start(Some(&certs), Some(("qm-sender", SMTP_PASSWORD)), &[]);
    let shop = Shop::with("", &smtp_yaml(smtp.port, Some(&certs)), &[("smtp_password", "not-the-password-31")]).await;
    let csrf = shop.back_office().await;
    let id = quote(&shop, &csrf).await;
    let (status, _, _) = shop.post(&format!("/quotes/{id}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200);
    let (state, error): (String, Option<String>) =
        sqlx::query_as("SELECT CAST(status AS CHAR), last_error FROM mail_outbox").fetch_one(&shop.app.db.pool).await.expect("row");
    assert_eq!(state, "failed", "{error:?}");
    let error = error.unwrap_or_default();
    assert!(error.contains("535") || error.to_lowercase().contains("auth"), "{error}");
    assert!(!error.contains("not-the-password-31"));
    assert!(smtp.messages().is_empty());
}

/// A tenant reading `imap`'s mailbox over STARTTLS, filing into Processed.
async fn mailbox_app(imap: &ImapServer, certs: &Certs, extra: &str) -> TestApp {
    let db = TestDb::empty().await;
    let yaml = format!(
        "stations: [{{ id: bench-1, name: Bench 1 }}]\nmailbox:\n  host: 127.0.0.1\n  port: {}\n  tls: starttls\n  username: {}\n  password: ref+file://secrets/imap_password\n  processed_folder: Processed\n  ca_file: {}\n{extra}",
        imap.port,
        imap.user,
        certs.ca.display()
    );
    let tenant = TenantDir::write_with(&db, "", "", "http://127.0.0.1:9", ("ck_x", "cs_x"), &yaml);
    imap.password_file(&tenant.dir.path().join("secrets"));
    TestApp::spawn_in(db, tenant, "").await
}

fn rfq_mail(n: u32) -> Vec<u8> {
    format!("From: Buyer {n} <buyer{n}@buyer-co.example>\r\nTo: rfq@testco.example\r\nSubject: RFQ {n}\r\nMessage-ID: <rfq-{n}@buyer-co.example>\r\n\r\nPlease quote HXB-1 x {n}\r\n").into_bytes()
}

async fn mailbox_job(app: &TestApp) -> jobs::Scheduled {
    crate::helpers::job(&app.state, "rfq_mailbox")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rfqs_are_read_from_a_real_mailbox_once_each_and_bounces_count_against_the_domain() {
    let certs = certs();
    let imap = ImapServer::start(Some(&certs));
    let app = mailbox_app(&imap, &certs, "").await;
    let pool = &app.db.pool;
    // A mail we sent, and its bounce.
    let sent_id = "<quote-r0-abc@testco.example>";
    sqlx::query("INSERT INTO mail_outbox (purpose, recipients, subject, message, message_id, status, sent_at) VALUES ('quote', 'gone@bounce-co.example', 'Quote', 'x', ?, 'sent', UTC_TIMESTAMP(6))")
        .bind(sent_id)
        .execute(pool)
        .await
        .expect("sent mail");
    let dsn = format!(
        "From: MAILER-DAEMON@mx.bounce-co.example\r\nTo: sales@testco.example\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.bounce-co.example\r\n\r\nFinal-Recipient: rfc822; gone@bounce-co.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Test Co Sales <sales@testco.example>\r\nTo: gone@bounce-co.example\r\nMessage-ID: {sent_id}\r\nSubject: Quote\r\n\r\n--B--\r\n"
    );
    imap.deliver("INBOX", &rfq_mail(1));
    imap.deliver("INBOX", dsn.as_bytes());
    imap.deliver("INBOX", &rfq_mail(2));
    let job = mailbox_job(&app).await;
    let read = crate::helpers::run_job(&app.state, &job).await;
    assert_eq!((read["messages"].as_u64(), read["rfqs"].as_u64(), read["bounces"].as_u64()), (Some(3), Some(2), Some(1)), "{read}");
    let rfqs: Vec<(String, String, Option<u32>)> =
        sqlx::query_as("SELECT CAST(source AS CHAR), sender_email, source_uid FROM rfqs ORDER BY id").fetch_all(pool).await.expect("rfqs");
    assert_eq!(rfqs.len(), 2);
    assert_eq!((rfqs[0].0.as_str(), rfqs[0].1.as_str()), ("email", "buyer1@buyer-co.example"));
    assert!(rfqs.iter().all(|r| r.2.is_some()), "each names the message it came from");
    let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM rfqs ORDER BY id LIMIT 1").fetch_one(pool).await.expect("raw");
    assert!(String::from_utf8_lossy(&raw).contains("Please quote HXB-1 x 1"), "the raw message is kept");
    let (state, reason): (String, Option<String>) =
        sqlx::query_as("SELECT CAST(status AS CHAR), bounce_reason FROM mail_outbox WHERE message_id = ?")
            .bind(sent_id)
            .fetch_one(pool)
            .await
            .expect("row");
    assert_eq!(state, "bounced");
    assert!(reason.unwrap_or_default().contains("5.1.1"));
    let bounces: u32 =
        sqlx::query_scalar("SELECT bounces FROM sender_domains WHERE domain = 'bounce-co.example'").fetch_one(pool).await.expect("domain");
    assert_eq!(bounces, 1);
    assert_eq!((imap.count("INBOX", "ALL"), imap.count("Processed", "ALL")), (0, 3), "every message is filed");

    // Nothing twice: a second run reads nothing.
    let again = crate::helpers::run_job(&app.state, &job).await;
    assert_eq!(again["messages"], 0, "{again}");

    // Interrupted between storing and filing: the RFQ is there, the message still in the inbox.
    imap.deliver("INBOX", &rfq_mail(3));
    let key: String = sqlx::query_scalar("SELECT mailbox FROM mailbox_state").fetch_one(pool).await.expect("state");
    let (validity, last): (u32, u32) =
        sqlx::query_as("SELECT uidvalidity, last_uid FROM mailbox_state").fetch_one(pool).await.expect("state");
    let origin = quartermaster::quotes::rfq::MailOrigin { mailbox: key, uidvalidity: validity, uid: last + 1 };
    let stored = quartermaster::quotes::rfq::store_mailed(pool, &app.state.lookup, &rfq_mail(3), &origin).await.expect("store");
    assert!(stored.is_some());
    let resumed = crate::helpers::run_job(&app.state, &job).await;
    assert_eq!(
        (resumed["messages"].as_u64(), resumed["rfqs"].as_u64(), resumed["already_stored"].as_u64()),
        (Some(1), Some(0), Some(1)),
        "{resumed}"
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rfqs").fetch_one(pool).await.expect("count");
    assert_eq!(n, 3, "the message read again is one RFQ, not two");
    assert_eq!(imap.count("INBOX", "ALL"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_brings_a_new_rfq_in_without_waiting_for_the_schedule() {
    let certs = certs();
    let imap = ImapServer::start(Some(&certs));
    // The schedule is once a day: only IDLE can bring the message in during the test.
    let app = mailbox_app(&imap, &certs, "schedules: { rfq_mailbox: \"0 0 3 * * *\" }\n").await;
    let mut scheduler = jobs::start(app.state.clone(), Some(&[jobs::JobName::RfqMailbox])).await.expect("scheduler");
    // Once the watcher is logged in, mail arrives. A message that lands
    // between its login and its IDLE is not news to IDLE: deliver again
    // after a while without one (each is an RFQ of its own).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while imap.sessions() == 0 {
        assert!(std::time::Instant::now() < deadline, "the IDLE watcher never logged in");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut delivered = 0;
    let mut next_delivery = std::time::Instant::now();
    loop {
        if std::time::Instant::now() >= next_delivery {
            delivered += 1;
            imap.deliver("INBOX", &rfq_mail(6 + delivered));
            next_delivery = std::time::Instant::now() + Duration::from_secs(5);
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rfqs").fetch_one(&app.db.pool).await.expect("count");
        if n >= 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "IDLE did not bring an RFQ in within 30 s ({delivered} delivered)");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = scheduler.shutdown().await;
}

/// Two replicas of one tenant, each with its scheduler and its IDLE watcher
/// on the same real mailbox, as under swarm: every message becomes one RFQ,
/// never two, and is filed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_reading_one_mailbox_make_each_message_one_rfq() {
    let certs = certs();
    let imap = ImapServer::start(Some(&certs));
    let app = mailbox_app(&imap, &certs, "schedules: { rfq_mailbox: \"*/2 * * * * *\" }\n").await;
    let other = app.replica_state().await;
    let mut one = jobs::start(app.state.clone(), Some(&[jobs::JobName::RfqMailbox])).await.expect("scheduler one");
    let mut two = jobs::start(other, Some(&[jobs::JobName::RfqMailbox])).await.expect("scheduler two");
    let pool = &app.db.pool;
    // In bursts, so both watchers wake for the same mail and both schedules tick over it.
    const MESSAGES: u32 = 24;
    for n in 1..=MESSAGES {
        imap.deliver("INBOX", &rfq_mail(200 + n));
        if n % 6 == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rfqs").fetch_one(pool).await.expect("count");
        if n >= i64::from(MESSAGES) && imap.count("INBOX", "ALL") == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{n} of {MESSAGES} RFQs after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two more finished runs (one replica's or both) after all were in: nothing read twice since.
    let runs_so_far = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM job_runs WHERE job = 'rfq_mailbox' AND finished_at IS NOT NULL")
            .fetch_one(pool)
            .await
            .expect("runs")
    };
    let then = runs_so_far().await;
    while runs_so_far().await < then + 2 {
        assert!(std::time::Instant::now() < deadline + Duration::from_secs(20), "the schedules stopped running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = one.shutdown().await;
    let _ = two.shutdown().await;
    let senders: Vec<String> =
        sqlx::query_scalar("SELECT sender_email FROM rfqs ORDER BY sender_email").fetch_all(pool).await.expect("rfqs");
    let mut unique = senders.clone();
    unique.dedup();
    assert_eq!((senders.len(), unique.len()), (MESSAGES as usize, MESSAGES as usize), "each message is one RFQ: {senders:?}");
    assert_eq!(imap.count("Processed", "ALL"), MESSAGES as usize, "each message filed once");
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_runs WHERE job = 'rfq_mailbox' AND status = 'ok'")
        .fetch_one(pool)
        .await
        .expect("runs");
    assert!(runs >= 2, "the two schedules ran the mailbox ({runs} runs; one host name, so the runs do not say which replica)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_job_lists_the_fleet_with_last_runs_and_runs_one_by_hand() {
    let app = TestApp::spawn().await;
    app.add_operator("ada", Role::Admin, "correct horse battery").await;
    let config = app._tenant.config_path();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["job", "run", "session_sweep", "--config"])
        .arg(&config)
        .output()
        .expect("qm");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).starts_with("session_sweep: ok"), "{}", String::from_utf8_lossy(&run.stdout));
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["job", "run", "no_such_job", "--config"])
        .arg(&config)
        .output()
        .expect("qm");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no job `no_such_job` for this tenant; its jobs: session_sweep"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let list = std::process::Command::new(env!("CARGO_BIN_EXE_qm")).args(["job", "list", "--config"]).arg(&config).output().expect("qm");
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{text}");
    let sweep = text.lines().find(|l| l.starts_with("session_sweep")).expect("session_sweep listed");
    assert!(sweep.contains(" ok ") && sweep.trim_end().ends_with(" 0"), "{sweep}");
    let poll = text.lines().find(|l| l.starts_with("inventory_poll")).expect("inventory_poll listed");
    assert!(poll.contains("never"), "{poll}");
}
