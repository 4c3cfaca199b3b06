//! Mail headers and the RFQ intake, attacked. CR/LF and encoded-word tricks
//! in every name, address and subject that reaches a header cannot add a
//! header or a recipient: each message is read back from a real SMTP server
//! (Debian's aiosmtpd), envelope and headers. Hostile MIME into the intake
//! (deep nesting, a 10 MiB attachment, thousands of recipients, broken
//! encodings) gets an answer within a bound, named, and the server stays up.

use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use quartermaster::{
    config::Smtp,
    mail::{Draft, Mailer},
};

use crate::{
    helpers::{INTAKE_TOKEN, csrf_in},
    mailhub::SmtpServer,
    quotes::Shop,
};

const EVIL: &str = "evil@attacker.example";

/// Ways to smuggle a header or a recipient into a value.
fn smuggled() -> Vec<String> {
    vec![
        format!("Hello\r\nBcc: {EVIL}"),
        format!("Hello\nBcc: {EVIL}"),
        format!("Hello\rBcc: {EVIL}"),
        format!("=?utf-8?q?Hello=0D=0ABcc=3A_{}?=", EVIL.replace('@', "=40")),
        format!("Hello\r\n\r\n<html>body from the subject</html>"),
        format!("Hello, {EVIL}"),
    ]
}

fn assert_only(raw: &[u8], recipient: &str, what: &str) {
    let m = MessageParser::default().parse(raw).expect("message");
    assert_eq!(m.header_raw("X-RcptTo").map(str::trim), Some(recipient), "{what}: the envelope's one recipient");
    let text = String::from_utf8_lossy(raw);
    let head = regex::Regex::new(r"\r?\n\r?\n").expect("regex").split(&text).next().unwrap_or_default().to_owned();
    for line in head.lines() {
        let lower = line.to_ascii_lowercase();
        assert!(!lower.starts_with("bcc:") && !lower.starts_with("cc:"), "{what}: a header was added: {line}\n{head}");
    }
    let to: Vec<&str> = m.to().map(|t| t.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    assert_eq!(to, vec![recipient], "{what}: To");
}

/// Through the composer every purpose uses (quote mail, review requests,
/// alerts, digests): hostile subjects, sender names and extra header values
/// arrive as one header's text; hostile addresses are refused, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_name_subject_or_header_value_adds_a_header_or_a_recipient() {
    let smtp = SmtpServer::start(None, None, &[]);
    let cfg: Smtp = serde_yaml::from_str(&format!(
        "{{ host: 127.0.0.1, port: {}, tls: none, from: ops@testco.example, timeout_seconds: 5 }}",
        smtp.port
    ))
    .expect("smtp");
    let dir = tempfile::tempdir().expect("dir");
    let to = "dana@buyer-co.example";
    let mut sent = 0;
    for (i, hostile) in smuggled().iter().enumerate() {
        let mailer = Mailer::new(&cfg, None, hostile, dir.path()).expect("mailer");
        let draft = Draft {
            purpose: "attack",
            subject_ref: None,
            to: vec![to.to_owned()],
            subject: format!("Quote {hostile}"),
            html: "<p>x</p>".into(),
            text: "x".into(),
            attachments: Vec::new(),
            headers: vec![("List-Unsubscribe".into(), format!("<https://x.example/u?{i}>{hostile}"))],
        };
        let composed = mailer.compose(&draft).expect("composed");
        mailer.send_raw(&draft.to, &composed.bytes).await.expect("sent");
        sent += 1;
        let got = smtp.wait_for(sent, Duration::from_secs(20)).await;
        assert_only(&got[sent - 1], to, &format!("{hostile:?}"));
        let m = MessageParser::default().parse(&got[sent - 1]).expect("message");
        let subject = m.subject().unwrap_or_default();
        assert!(
            subject.starts_with("Quote ") && subject.contains("Bcc") == hostile.contains("Bcc"),
            "the subject is the text: {subject:?}"
        );
    }
    for hostile in [format!("{to}\r\nBcc: {EVIL}"), format!("{to}, {EVIL}"), format!("\"x\" <{to}>\r\n{EVIL}"), format!("{to}\n")] {
        let mailer = Mailer::new(&cfg, None, "Test Co", dir.path()).expect("mailer");
        let draft = Draft {
            purpose: "attack",
            subject_ref: None,
            to: vec![hostile.clone()],
            subject: "x".into(),
            html: String::new(),
            text: "x".into(),
            attachments: Vec::new(),
            headers: Vec::new(),
        };
        let e = mailer.compose(&draft).expect_err(&hostile);
        assert!(e.to_string().contains("is not a mail address"), "{hostile:?}: {e}");
    }
    // A header name cannot be smuggled either.
    let mailer = Mailer::new(&cfg, None, "Test Co", dir.path()).expect("mailer");
    let draft = Draft {
        purpose: "attack",
        subject_ref: None,
        to: vec![to.to_owned()],
        subject: "x".into(),
        html: String::new(),
        text: "x".into(),
        attachments: Vec::new(),
        headers: vec![(format!("X-A: b\r\nBcc: {EVIL}\r\nX-C"), "d".into())],
    };
    assert!(mailer.compose(&draft).is_err(), "a header name with CR/LF is refused");
    assert_eq!(smtp.messages().len(), sent, "nothing else reached the server");
}

/// The real quote flow: a buyer whose RFQ names them with an encoded-word
/// CR/LF, then a back office that types CR/LF into the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quote_to_a_hostile_buyer_goes_to_that_buyer_only() {
    let smtp = SmtpServer::start(None, None, &[]);
    let extra =
        format!("smtp:\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  from: sales@testco.example\n  timeout_seconds: 5\n", smtp.port);
    let shop = Shop::with("  public_url: https://shop.test.example/ops\n", &extra, &[]).await;
    let csrf = shop.back_office().await;
    let rfq = format!(
        "From: =?utf-8?q?Dana=0D=0ABcc=3A_{}?= <dana@buyer-co.example>\r\nTo: sales@testco.example\r\nSubject: =?utf-8?q?RFQ=0D=0ABcc=3A_{}?=\r\n\r\nHXB-1 x 2\r\n",
        EVIL.replace('@', "=40"),
        EVIL.replace('@', "=40")
    );
    let (status, body) = shop.post_raw("/rfq/email", "message/rfc822", rfq.as_bytes(), Some(INTAKE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    let (status, location, body) = shop.post(&format!("/rfqs/{}/quote", body["rfq"]), &[("csrf", &csrf), ("country", "US")]).await;
    assert_eq!(status, 303, "{body}");
    let id: u64 = location.rsplit('/').next().and_then(|i| i.parse().ok()).expect("quote");
    // The address with CR/LF is refused by name, and nothing is written.
    let page = shop.app.get(&format!("/quotes/{id}")).await.text().await.expect("page");
    let (status, _, body) = shop
        .post(
            &format!("/quotes/{id}/revise"),
            &[
                ("csrf", csrf_in(&page).as_str()),
                ("customer_name", "Dana"),
                ("customer_email", &format!("dana@buyer-co.example\r\nBcc: {EVIL}")),
                ("country", "US"),
                ("product_1", "HXB-1"),
                ("quantity_1", "2"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("customer_email"), "the refusal names the field: {body}");
    let (status, _, page) = shop.post(&format!("/quotes/{id}/send"), &[("csrf", &csrf)]).await;
    assert_eq!(status, 200, "{page}");
    let got = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_only(&got[0], "dana@buyer-co.example", "the quote mail");
}

/// Hostile MIME into the intake: each gets its answer within 20 s (a 201 or
/// a 4xx naming what was wrong), and the server answers /healthz after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_mime_into_the_rfq_intake_is_bounded_and_named() {
    let shop = Shop::new().await;
    let head = "From: \"Dana\" <dana@buyer-co.example>\r\nTo: sales@testco.example\r\nSubject: RFQ\r\nMIME-Version: 1.0\r\n";
    let mut cases: Vec<(&str, Vec<u8>, &[u16])> = Vec::new();
    // Multipart nested 5,000 deep.
    let depth = 5_000;
    let mut nested = String::from(head);
    for d in 0..depth {
        nested.push_str(&format!("Content-Type: multipart/mixed; boundary=\"b{d}\"\r\n\r\n--b{d}\r\n"));
    }
    nested.push_str("Content-Type: text/plain\r\n\r\nHXB-1 x 2\r\n");
    cases.push(("multipart nested 5,000 deep", nested.into_bytes(), &[201, 422]));
    // A 10 MiB attachment (base64: over the 10 MiB a stored RFQ may be).
    let mut big = format!("{head}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHXB-1 x 2\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n").into_bytes();
    let line = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n";
    while big.len() < 14 * 1024 * 1024 {
        big.extend_from_slice(line.as_bytes());
    }
    big.extend_from_slice(b"--b--\r\n");
    cases.push(("a 10 MiB attachment", big, &[413]));
    // Thousands of recipients.
    let to: Vec<String> = (0..5_000).map(|i| format!("r{i}@buyer-co.example")).collect();
    cases.push((
        "5,000 recipients",
        format!("From: \"Dana\" <dana@buyer-co.example>\r\nTo: {}\r\nSubject: RFQ\r\n\r\nHXB-1 x 2\r\n", to.join(",\r\n ")).into_bytes(),
        &[201],
    ));
    // Broken encodings.
    cases.push((
        "base64 that is not",
        format!("{head}Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64%%%\r\n").into_bytes(),
        &[201, 422],
    ));
    cases.push((
        "an unknown charset and invalid UTF-8",
        [
            format!("{head}Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nHXB-1 x 2 ").into_bytes(),
            vec![0xff, 0xfe, 0xc3, 0x28],
            b"\r\n".to_vec(),
        ]
        .concat(),
        &[201, 422],
    ));
    cases.push((
        "a multipart that never closes",
        format!("{head}Content-Type: multipart/mixed; boundary=\"open\"\r\n\r\n--open\r\nContent-Type: text/plain\r\n\r\nHXB-1 x 2\r\n--open\r\nContent-Type: text/plain\r\n\r\n").into_bytes(),
        &[201, 422],
    ));
    cases.push((
        "a broken encoded-word sender",
        b"From: =?utf-8?b?!!!?= <dana@buyer-co.example>\r\nSubject: =?x-bad?q?=ZZ?=\r\n\r\nHXB-1 x 2\r\n".to_vec(),
        &[201, 422],
    ));
    let mut figures = Vec::new();
    // A connection of its own for each probe: the server may close a kept-alive
    // one after refusing a body (the client would then send on a dead socket).
    let probe = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    for (what, body, allowed) in cases {
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(20), shop.post_raw("/rfq/email", "message/rfc822", &body, Some(INTAKE_TOKEN)))
            .await
            .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"));
        let took = started.elapsed();
        assert!(allowed.contains(&r.0), "{what}: {} {}", r.0, r.1);
        if r.0 >= 400 {
            let named = r.1.to_string();
            assert!(named.len() > 20 && (named.contains("field") || named.contains("error")), "{what}: the refusal says why: {named}");
        }
        let health = tokio::time::timeout(Duration::from_secs(5), probe.get(shop.app.url("/healthz")).send())
            .await
            .unwrap_or_else(|_| panic!("after {what}: /healthz did not answer"))
            .expect("healthz");
        assert_eq!(health.status(), 200, "after {what}");
        figures.push(format!("{what}: {} in {} ms", r.0, took.as_millis()));
    }
    eprintln!("intake under hostile MIME:\n  {}", figures.join("\n  "));
}
