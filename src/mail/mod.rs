//! Mail: composing branded multipart messages (HTML and text, attachments
//! as their exact bytes), queueing each whole in `mail_outbox` before it is
//! sent, sending over SMTP with `lettre` (STARTTLS, implicit TLS or plain on
//! the host, credentials by reference), reading RFQs and bounces from the
//! tenant's IMAP mailbox, and the opt-out list.

pub mod dsn;
pub mod imap;
pub mod optout;
pub mod outbox;

use std::{path::Path, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    address::Envelope,
    message::{
        Attachment, Mailbox, MultiPart, SinglePart,
        header::{ContentType, HeaderName, HeaderValue},
    },
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};

use crate::config::{Secret, Smtp};

/// Why mail could not be composed or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A setting the tenant file must fix.
    #[error("smtp: {0}")]
    Config(String),
    /// An address or header that cannot go into a message.
    #[error("{0}")]
    Compose(String),
    /// The server refused for good (5xx): retrying will not help.
    #[error("the mail server refused the message: {0}")]
    Refused(String),
    /// Worth retrying (connection, timeout, 4xx).
    #[error("the mail server could not take the message now: {0}")]
    Transient(String),
}

/// One attachment, carried as the exact bytes given.
#[derive(Debug, Clone)]
pub struct Attached {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The tenant's branding as mail shows it (every template's layout uses it).
#[derive(Debug, Clone)]
pub struct Brand {
    pub name: String,
    pub sender_name: String,
    pub primary_color: String,
    pub address_lines: Vec<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl Brand {
    pub fn of(c: &crate::config::TenantConfig) -> Brand {
        let b = &c.branding;
        let address_lines = b
            .address
            .as_ref()
            .map(|a| {
                let mut lines = vec![a.line1.clone()];
                lines.extend(a.line2.clone());
                let state = a.state.as_ref().map(|s| format!(" {s}")).unwrap_or_default();
                lines.push(format!("{}{state} {}", a.city, a.postcode));
                lines.push(a.country.clone());
                lines
            })
            .unwrap_or_default();
        Brand {
            name: c.tenant.name.clone(),
            sender_name: b.sender_name.clone(),
            primary_color: b.primary_color.clone(),
            address_lines,
            phone: b.phone.clone(),
            email: b.sender_email.clone().or_else(|| c.smtp.as_ref().map(|s| s.from.clone())),
        }
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Draft {
    /// What it is for (`quote`, `alert`, `review`, `summary`).
    pub purpose: &'static str,
    /// What it is about, e.g. `quote_version:12` (the pages find sends by it).
    pub subject_ref: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub attachments: Vec<Attached>,
    /// Extra headers, e.g. `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
}

/// A composed message: its bytes and its Message-ID.
#[derive(Debug, Clone)]
pub struct Composed {
    pub bytes: Vec<u8>,
    pub message_id: String,
    pub envelope_from: String,
}

/// A value for one header line: control characters (CR, LF, tab, NUL, …)
/// become spaces, so no name, subject or header value from data can end its
/// header and start another; lettre encodes the rest (RFC 2047).
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, MailError> {
    let addr = address.parse().map_err(|e| MailError::Compose(format!("`{address}` is not a mail address: {e}")))?;
    Ok(Mailbox::new(name.map(one_line), addr))
}

/// Builds the message: `multipart/mixed` of `multipart/alternative` (text,
/// HTML) and the attachments, from `sender_name <from>`, with a Message-ID of
/// the sender's domain.
pub fn compose(sender_name: &str, from: &str, draft: &Draft) -> Result<Composed, MailError> {
    let from_box = mailbox(Some(sender_name), from)?;
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let message_id = format!("<{}@{domain}>", uuid::Uuid::new_v4().simple());
    if draft.to.is_empty() {
        return Err(MailError::Compose("a message needs at least one recipient".into()));
    }
    let mut message = Message::builder().from(from_box).subject(one_line(&draft.subject)).message_id(Some(message_id.clone()));
    for to in &draft.to {
        message = message.to(mailbox(None, to)?);
    }
    for (name, value) in &draft.headers {
        let header = HeaderName::new_from_ascii(name.clone()).map_err(|e| MailError::Compose(format!("header `{name}`: {e}")))?;
        message = message.raw_header(HeaderValue::new(header, one_line(value)));
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(draft.text.clone()))
        .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(draft.html.clone()));
    let body = if draft.attachments.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for a in &draft.attachments {
            let ct = ContentType::parse(&a.content_type).map_err(|e| MailError::Compose(format!("{}: {e}", a.filename)))?;
            mixed = mixed.singlepart(Attachment::new(a.filename.clone()).body(a.bytes.clone(), ct));
        }
        mixed
    };
    let email = message.multipart(body).map_err(|e| MailError::Compose(e.to_string()))?;
    Ok(Composed { bytes: email.formatted(), message_id, envelope_from: from.to_owned() })
}

/// The tenant's SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The envelope sender and the `From` address.
    pub from: String,
    /// The `From` display name (the tenant's `branding.sender_name`).
    pub sender_name: String,
    /// `smtp.timeout_seconds`. lettre bounds only the connect with it (its
    /// reads and writes after that wait for ever: lettre issue 1027), so each
    /// message's whole conversation is held to [`CONVERSATION_ROUNDS`] of it.
    deadline: Duration,
}

/// How many `timeout_seconds` a whole SMTP conversation may take (connect,
/// greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT).
pub const CONVERSATION_ROUNDS: u32 = 4;

impl Mailer {
    /// The mailer for `smtp` (`tls`: `starttls`, `tls` for implicit TLS, `none`
    /// for a relay on the same host); `base_dir` resolves `ca_file`.
    pub fn new(smtp: &Smtp, password: Option<&Secret>, sender_name: &str, base_dir: &Path) -> Result<Self, MailError> {
        let tls_params = || -> Result<TlsParameters, MailError> {
            let mut b = TlsParameters::builder(smtp.host.clone());
            if let Some(ca) = &smtp.ca_file {
                let path = base_dir.join(ca);
                let pem = std::fs::read(&path).map_err(|e| MailError::Config(format!("ca_file {}: {e}", path.display())))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| MailError::Config(format!("ca_file {}: {e}", path.display())))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| MailError::Config(e.to_string()))
        };
        let tls = match smtp.tls.as_str() {
            "starttls" => Tls::Required(tls_params()?),
            "tls" => Tls::Wrapper(tls_params()?),
            _ => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(smtp.timeout_seconds)));
        if let (Some(user), Some(pass)) = (&smtp.username, password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from: smtp.from.clone(),
            sender_name: sender_name.to_owned(),
            deadline: Duration::from_secs(smtp.timeout_seconds.max(1)),
        })
    }

    /// Composes a draft from this sender.
    pub fn compose(&self, draft: &Draft) -> Result<Composed, MailError> {
        compose(&self.sender_name, &self.from, draft)
    }

    /// Sends composed bytes to `to` as they are.
    pub async fn send_raw(&self, to: &[String], bytes: &[u8]) -> Result<(), MailError> {
        let from = self.from.parse().map_err(|e| MailError::Config(format!("from `{}`: {e}", self.from)))?;
        let to = to
            .iter()
            .map(|t| t.parse().map_err(|e| MailError::Compose(format!("`{t}` is not a mail address: {e}"))))
            .collect::<Result<Vec<lettre::Address>, _>>()?;
        let envelope = Envelope::new(Some(from), to).map_err(|e| MailError::Compose(e.to_string()))?;
        let within = self.deadline * CONVERSATION_ROUNDS;
        match tokio::time::timeout(within, self.transport.send_raw(&envelope, bytes)).await {
            Err(_) => Err(MailError::Transient(format!("the server did not finish taking the message within {} s", within.as_secs()))),
            // Never the credentials: lettre's errors name the stage and the server's reply.
            Ok(r) => r
                .map(|_| ())
                .map_err(|e| if e.is_permanent() { MailError::Refused(e.to_string()) } else { MailError::Transient(e.to_string()) }),
        }
    }

    /// Whether the server answers and (with credentials) lets us in.
    pub async fn probe(&self) -> Result<(), MailError> {
        let within = self.deadline * CONVERSATION_ROUNDS;
        let Ok(answer) = tokio::time::timeout(within, self.transport.test_connection()).await else {
            return Err(MailError::Transient(format!("the server did not answer within {} s", within.as_secs())));
        };
        match answer {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Transient("the server did not accept a connection".into())),
            Err(e) => Err(if e.is_permanent() { MailError::Refused(e.to_string()) } else { MailError::Transient(e.to_string()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use mail_parser::MimeHeaders;

    use super::*;

    fn draft() -> Draft {
        Draft {
            purpose: "quote",
            subject_ref: None,
            to: vec!["buyer@example.com".into()],
            subject: "Quote Q-1 R0".into(),
            html: "<p>Your quote</p>".into(),
            text: "Your quote".into(),
            attachments: vec![Attached {
                filename: "Q-1.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.7 bytes".to_vec(),
            }],
            headers: vec![("List-Unsubscribe".into(), "<https://x/u>".into())],
        }
    }

    #[test]
    fn a_draft_becomes_mixed_alternative_with_the_exact_attachment() {
        let c = compose("Acme Sales", "sales@acme.example", &draft()).expect("composed");
        let m = mail_parser::MessageParser::default().parse(&c.bytes).expect("parses");
        assert_eq!(m.subject(), Some("Quote Q-1 R0"));
        assert_eq!(m.from().and_then(|f| f.first()).and_then(|a| a.name()), Some("Acme Sales"));
        assert_eq!(m.message_id().map(|id| format!("<{id}>")), Some(c.message_id.clone()));
        assert!(c.message_id.ends_with("@acme.example>"));
        assert_eq!(m.body_text(0).as_deref().map(str::trim), Some("Your quote"));
        assert!(m.body_html(0).is_some_and(|h| h.contains("<p>Your quote</p>")));
        let a = m.attachments().next().expect("attachment");
        assert_eq!(a.attachment_name(), Some("Q-1.pdf"));
        assert_eq!(a.contents(), b"%PDF-1.7 bytes");
        assert_eq!(m.header_raw("List-Unsubscribe").map(str::trim), Some("<https://x/u>"));
    }

    #[test]
    fn a_bad_address_is_named() {
        let mut d = draft();
        d.to = vec!["not an address".into()];
        let e = compose("Acme", "sales@acme.example", &d).expect_err("refused");
        assert!(e.to_string().contains("`not an address` is not a mail address"), "{e}");
    }
}
