//! Delivery status notifications (RFC 3464): a bounce arriving in the
//! mailbox names the recipient that failed and, in the returned headers,
//! the Message-ID of what we sent.

use mail_parser::{MessageParser, MimeHeaders};

/// A failed delivery reported back to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The address that did not take the message.
    pub recipient: String,
    /// The DSN status code, e.g. `5.1.1`.
    pub status: String,
    /// What the receiving server said.
    pub diagnostic: String,
    /// The Message-ID of the message that bounced (from the returned headers).
    pub message_id: Option<String>,
}

fn field<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    block.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Reads a DSN; `None` when the message is not one, or reports no failure
/// (a "delayed" notice is not a bounce).
pub fn parse(raw: &[u8]) -> Option<Bounce> {
    let msg = MessageParser::default().parse(raw)?;
    let is_report = msg.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    if !is_report {
        return None;
    }
    let mut status_text = None;
    let mut message_id = None;
    for part in msg.parts.iter() {
        let Some(ct) = part.content_type() else { continue };
        let sub = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        if ct.ctype().eq_ignore_ascii_case("message") && sub == "delivery-status" {
            status_text = Some(String::from_utf8_lossy(part.contents()).into_owned());
        }
        if (ct.ctype().eq_ignore_ascii_case("message") && sub == "rfc822")
            || (ct.ctype().eq_ignore_ascii_case("text") && sub == "rfc822-headers")
        {
            let inner = MessageParser::default().parse(part.contents());
            message_id = inner.and_then(|m| m.message_id().map(|id| format!("<{id}>")));
        }
    }
    // Per-recipient blocks follow the per-message block, separated by blank lines.
    let text = status_text?;
    let blocks: Vec<&str> = text.split("\n\n").flat_map(|b| b.split("\r\n\r\n")).collect();
    let failed = blocks.iter().find(|b| field(b, "Action").is_some_and(|a| a.eq_ignore_ascii_case("failed")))?;
    let recipient = field(failed, "Final-Recipient").or_else(|| field(failed, "Original-Recipient"))?;
    let recipient = recipient.split_once(';').map_or(recipient, |(_, a)| a).trim().trim_matches(['<', '>']).to_ascii_lowercase();
    Some(Bounce {
        recipient,
        status: field(failed, "Status").unwrap_or_default().to_owned(),
        diagnostic: field(failed, "Diagnostic-Code").unwrap_or_default().chars().take(300).collect(),
        message_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = "From: MAILER-DAEMON@mx.example\r\nTo: sales@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; Nobody@Buyer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Acme Sales <sales@acme.example>\r\nTo: nobody@buyer.example\r\n\
Message-ID: <abc123@acme.example>\r\nSubject: Your quote\r\n\r\n--B--\r\n";

    #[test]
    fn a_failed_delivery_names_the_recipient_and_our_message() {
        let b = parse(DSN.as_bytes()).expect("a bounce");
        assert_eq!(b.recipient, "nobody@buyer.example");
        assert_eq!(b.status, "5.1.1");
        assert!(b.diagnostic.contains("user unknown"));
        assert_eq!(b.message_id.as_deref(), Some("<abc123@acme.example>"));
    }

    #[test]
    fn a_delay_or_an_ordinary_message_is_not_a_bounce() {
        assert!(parse(DSN.replace("Action: failed", "Action: delayed").as_bytes()).is_none());
        assert!(parse(b"From: a@b.example\r\nSubject: RFQ\r\n\r\nHXB-1 x 12\r\n").is_none());
    }
}
