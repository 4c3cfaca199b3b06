//! Sender-domain reputation from evidence computed locally: the message's
//! Authentication-Results (SPF, DKIM, DMARC), free-mail and disposable
//! domain lists shipped as data files, a display name that claims another
//! domain, our history with the domain (quotes sent, won, lost, bounced)
//! and whether it is a known customer. The score (0–100) keeps every
//! factor and its weight so the inbox can show why; low scores are flagged,
//! never dropped.

use std::{collections::HashSet, sync::LazyLock};

use sqlx::MySqlPool;

/// Below this an RFQ is flagged for a careful look.
pub const LOW: i32 = 40;
const BASE: i32 = 50;

static FREEMAIL: LazyLock<HashSet<&'static str>> = LazyLock::new(|| list(include_str!("data/freemail.txt")));
static DISPOSABLE: LazyLock<HashSet<&'static str>> = LazyLock::new(|| list(include_str!("data/disposable.txt")));

fn list(text: &'static str) -> HashSet<&'static str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Factor {
    pub name: String,
    pub weight: i32,
    pub detail: String,
}

/// A score and its factors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reputation {
    pub score: i32,
    pub factors: Vec<Factor>,
}

impl Reputation {
    pub fn low(&self) -> bool {
        self.score < LOW
    }
}

/// What the message itself says.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    pub domain: &'a str,
    pub display_name: Option<&'a str>,
    /// The Authentication-Results header values (from the receiving server).
    pub authentication_results: Vec<String>,
}

/// Our history with a domain.
#[derive(Debug, Clone, Copy, Default)]
pub struct History {
    pub known_customer: bool,
    pub quotes_sent: u32,
    pub quotes_won: u32,
    pub quotes_lost: u32,
    pub bounces: u32,
}

/// `spf=pass` etc. from Authentication-Results: the last verdict for each method.
fn verdict(results: &[String], method: &str) -> Option<String> {
    let mut found = None;
    for header in results {
        for part in header.split(';') {
            let part = part.trim().to_ascii_lowercase();
            if let Some(rest) = part.strip_prefix(&format!("{method}=")) {
                found = Some(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    }
    found
}

/// Scores a sender from the message evidence and our history.
pub fn score(e: &Evidence<'_>, h: History) -> Reputation {
    let mut factors = Vec::new();
    let mut add = |name: &str, weight: i32, detail: String| factors.push(Factor { name: name.into(), weight, detail });
    let domain = e.domain.to_ascii_lowercase();
    for (method, pass, fail) in [("spf", 5, -15), ("dkim", 10, -15), ("dmarc", 10, -25)] {
        match verdict(&e.authentication_results, method).as_deref() {
            Some("pass") => add(method, pass, format!("{method}=pass")),
            Some(v @ ("fail" | "softfail" | "permerror")) => add(method, fail, format!("{method}={v}")),
            Some(v) => add(method, 0, format!("{method}={v}")),
            None if !e.authentication_results.is_empty() => add(method, -5, format!("no {method} result")),
            None => {}
        }
    }
    if DISPOSABLE.contains(domain.as_str()) {
        add("disposable", -40, format!("{domain} is a throw-away mail domain"));
    } else if FREEMAIL.contains(domain.as_str()) {
        add("free_mail", -10, format!("{domain} is a free-mail provider"));
    }
    if let Some(name) = e.display_name {
        // A display name that names another domain ("billing@bank.com" <x@evil.example>).
        let claimed: Vec<&str> = name
            .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"' || c == '(' || c == ')')
            .filter(|w| {
                w.contains('.') && w.rsplit('.').next().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
            })
            .map(|w| w.rsplit('@').next().unwrap_or(w))
            .collect();
        if let Some(other) =
            claimed.iter().find(|d| !d.eq_ignore_ascii_case(&domain) && !domain.ends_with(&format!(".{}", d.to_ascii_lowercase())))
        {
            add("display_name_mismatch", -15, format!("the display name names {other}, the address is at {domain}"));
        }
    }
    if h.known_customer {
        add("known_customer", 25, format!("{domain} is a customer's domain"));
    }
    if h.quotes_won > 0 {
        add("won_before", (h.quotes_won as i32 * 5).min(20), format!("{} quote(s) won", h.quotes_won));
    }
    if h.quotes_sent > 0 {
        add("quoted_before", (h.quotes_sent as i32).min(10), format!("{} quote(s) sent", h.quotes_sent));
    }
    if h.bounces > 0 {
        add("bounces", -(h.bounces as i32 * 10).min(30), format!("{} bounce(s)", h.bounces));
    }
    let score = (BASE + factors.iter().map(|f| f.weight).sum::<i32>()).clamp(0, 100);
    Reputation { score, factors }
}

/// The domain's history, creating its row on first sight; a domain is a
/// known customer when an order came from it.
pub async fn history(pool: &MySqlPool, domain: &str) -> Result<History, sqlx::Error> {
    let known: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE customer_email LIKE CONCAT('%@', ?)").bind(domain).fetch_one(pool).await?;
    sqlx::query("INSERT INTO sender_domains (domain, known_customer) VALUES (?, ?) ON DUPLICATE KEY UPDATE known_customer = known_customer OR VALUES(known_customer)")
        .bind(domain)
        .bind(known > 0)
        .execute(pool)
        .await?;
    let (known_customer, quotes_sent, quotes_won, quotes_lost, bounces): (bool, u32, u32, u32, u32) =
        sqlx::query_as("SELECT known_customer, quotes_sent, quotes_won, quotes_lost, bounces FROM sender_domains WHERE domain = ?")
            .bind(domain)
            .fetch_one(pool)
            .await?;
    Ok(History { known_customer, quotes_sent, quotes_won, quotes_lost, bounces })
}

/// Counts a bounce of our mail against the recipient's domain (its next
/// requests score lower).
pub async fn record_bounce(pool: &sqlx::MySqlPool, domain: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sender_domains (domain, bounces) VALUES (?, 1) ON DUPLICATE KEY UPDATE bounces = bounces + 1")
        .bind(domain.to_ascii_lowercase())
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(domain: &'a str, name: Option<&'a str>, auth: &[&str]) -> Evidence<'a> {
        Evidence { domain, display_name: name, authentication_results: auth.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn an_authenticated_customer_scores_high_and_a_spoof_scores_low() {
        let good = score(
            &ev(
                "acme-buyer.example",
                Some("Dana Whitfield"),
                &["mx.example; spf=pass smtp.mailfrom=acme-buyer.example; dkim=pass header.d=acme-buyer.example; dmarc=pass"],
            ),
            History { known_customer: true, quotes_won: 2, ..History::default() },
        );
        assert_eq!(good.score, 100);
        let spoof =
            score(&ev("mailinator.com", Some("billing@bigcorp.com"), &["mx.example; spf=fail; dkim=none; dmarc=fail"]), History::default());
        assert!(spoof.low(), "{spoof:?}");
        let names: Vec<&str> = spoof.factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["spf", "dkim", "dmarc", "disposable", "display_name_mismatch"]);
        assert_eq!(spoof.score, 0);
    }

    #[test]
    fn free_mail_and_bounces_lower_a_form_request_without_headers() {
        let r = score(&ev("gmail.com", Some("Pat"), &[]), History { bounces: 1, ..History::default() });
        assert_eq!(r.score, 30);
        assert_eq!(r.factors.len(), 2, "no auth factors without headers: {r:?}");
        let sub = score(&ev("mail.acme.example", Some("Acme (acme.example)"), &[]), History::default());
        assert_eq!(sub.score, 50, "a subdomain of the named domain is not a mismatch: {sub:?}");
    }
}
