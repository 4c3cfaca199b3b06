//! WooCommerce webhooks as a trigger: a delivery is verified
//! (`X-WC-Webhook-Signature`, base64 of HMAC-SHA256 of the raw body with
//! the webhook's secret, as `WC_Webhook::generate_signature` makes it),
//! and the orders it names wait in the [`Inbox`] for a short cycle of their
//! own ([`super::StockSync::run_for`]). The cycle reads those orders from the
//! store: the payload says which orders to look at, never what they hold.
//! Nothing depends on a delivery arriving: the poller reads the same orders.

use std::collections::BTreeSet;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

use serde_json::json;

use crate::{
    channels::ChannelError,
    channels::woocommerce::{WooClient, types::Webhook},
    config::{Secret, Webhooks},
};

/// The topics Quartermaster registers (`qm webhooks install`).
pub const TOPICS: [&str; 4] = ["order.created", "order.updated", "order.deleted", "order.restored"];
/// The name every Quartermaster webhook starts with (the companion plugin
/// delivers those at once and lets them reach the ops host).
pub const NAME_PREFIX: &str = "Quartermaster";

/// Why a delivery was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("X-WC-Webhook-Signature is missing: every delivery must be signed with woocommerce.webhooks.secret")]
    Unsigned,
    #[error("X-WC-Webhook-Signature does not match the body: the webhook's secret differs from woocommerce.webhooks.secret")]
    Forged,
    #[error("body: {0}")]
    Body(String),
}

/// What a delivery asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The ping WooCommerce sends, unsigned, when a webhook is created
    /// (`webhook_id=N`): answered 200, nothing done.
    Ping(u64),
    /// A signed delivery about these store orders.
    Orders(Vec<u64>),
    /// A signed delivery of a topic the sync does not follow.
    Ignored(String),
}

/// Checks one delivery. `signature`: the header's value; `topic`: `X-WC-Webhook-Topic`.
pub fn verify(secret: &Secret, signature: Option<&str>, topic: Option<&str>, body: &[u8]) -> Result<Delivery, Refused> {
    let Some(signature) = signature.map(str::trim).filter(|s| !s.is_empty()) else {
        return ping(body).map(Delivery::Ping).ok_or(Refused::Unsigned);
    };
    let given = base64::engine::general_purpose::STANDARD.decode(signature).map_err(|_| Refused::Forged)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).map_err(|_| Refused::Forged)?;
    mac.update(body);
    // Constant time: `verify_slice` compares with `subtle`.
    mac.verify_slice(&given).map_err(|_| Refused::Forged)?;
    let topic = topic.unwrap_or_default();
    if !topic.starts_with("order.") {
        return Ok(Delivery::Ignored(topic.to_owned()));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| Refused::Body(format!("not JSON: {e}")))?;
    let id = v.get("id").and_then(serde_json::Value::as_u64).filter(|id| *id > 0).ok_or_else(|| Refused::Body("no order `id`".into()))?;
    Ok(Delivery::Orders(vec![id]))
}

/// `webhook_id=N`, the whole body of WooCommerce's creation ping.
fn ping(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let n = text.strip_prefix("webhook_id=")?;
    (!n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse().ok()).flatten()
}

/// The orders deliveries named, waiting for their short cycle. Ids pile up
/// while a cycle runs and are taken together by the next.
#[derive(Default)]
pub struct Inbox {
    waiting: std::sync::Mutex<BTreeSet<u64>>,
    arrived: Notify,
}

/// Most orders one inbox holds; past it the poller's next cycle reads them.
pub const INBOX_LIMIT: usize = 10_000;

impl Inbox {
    /// Adds orders; false when the inbox is full (the poller then catches them).
    pub fn push(&self, ids: &[u64]) -> bool {
        let mut w = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.len() + ids.len() > INBOX_LIMIT {
            return false;
        }
        w.extend(ids);
        drop(w);
        self.arrived.notify_one();
        true
    }

    /// Waits for at least one order, then takes every order waiting.
    pub async fn take(&self) -> Vec<u64> {
        loop {
            let taken: Vec<u64> =
                std::mem::take(&mut *self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_iter().collect();
            if !taken.is_empty() {
                return taken;
            }
            self.arrived.notified().await;
        }
    }

    /// Orders waiting now.
    pub fn len(&self) -> usize {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One of Quartermaster's webhooks as the store has it, for `qm webhooks` and the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub topic: &'static str,
    /// The store's webhook, none when it has none for the topic.
    pub hook: Option<Webhook>,
    /// What was done now: `created`, `updated`, `re-enabled`, or nothing.
    pub done: Option<&'static str>,
}

impl std::fmt::Display for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.hook {
            None => write!(f, "{}: MISSING (run `qm webhooks install`)", self.topic),
            Some(h) => {
                write!(f, "{}: webhook {} {} → {}", self.topic, h.id, h.status, h.delivery_url)?;
                if let Some(d) = self.done {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
        }
    }
}

fn name(topic: &str) -> String {
    format!("{NAME_PREFIX} {topic}")
}

/// Ours among the store's webhooks, by topic: named by us, or of the topic and delivering to `url`.
fn ours<'a>(hooks: &'a [Webhook], topic: &str, url: &str) -> Option<&'a Webhook> {
    hooks.iter().find(|h| h.name == name(topic)).or_else(|| hooks.iter().find(|h| h.topic == topic && h.delivery_url == url))
}

/// `qm webhooks install`: one active webhook per topic to `cfg.delivery_url`,
/// signed with `secret`; existing ones are brought to that (the secret too:
/// WooCommerce never shows a webhook's secret, so it is always written).
pub async fn install(woo: &WooClient, cfg: &Webhooks, secret: &Secret) -> Result<Vec<Registered>, ChannelError> {
    let hooks = woo.webhooks().await?;
    let mut out = Vec::new();
    for topic in TOPICS {
        let body =
            json!({ "name": name(topic), "topic": topic, "delivery_url": cfg.delivery_url, "secret": secret.expose(), "status": "active" });
        let (hook, done) = match ours(&hooks, topic, &cfg.delivery_url) {
            Some(h) => (woo.save_webhook(Some(h.id), &body).await?, "updated"),
            None => (woo.save_webhook(None, &body).await?, "created"),
        };
        out.push(Registered { topic, hook: Some(hook), done: Some(done) });
    }
    Ok(out)
}

/// `qm webhooks status` and the registry's probe: ours as the store has
/// them; one the store disabled after failed deliveries (or paused) is
/// re-enabled when `fix`.
pub async fn status(woo: &WooClient, cfg: &Webhooks, fix: bool) -> Result<Vec<Registered>, ChannelError> {
    let hooks = woo.webhooks().await?;
    let mut out = Vec::new();
    for topic in TOPICS {
        let mut r = Registered { topic, hook: ours(&hooks, topic, &cfg.delivery_url).cloned(), done: None };
        if let Some(h) = &r.hook
            && fix
            && h.status != "active"
        {
            r.hook = Some(woo.save_webhook(Some(h.id), &json!({ "status": "active" })).await?);
            r.done = Some("re-enabled");
        }
        out.push(r);
    }
    Ok(out)
}

/// The registry's one line: what is wrong, or how many are active.
pub fn health(found: &[Registered]) -> Result<String, String> {
    let wrong: Vec<String> = found
        .iter()
        .filter(|r| r.hook.as_ref().is_none_or(|h| h.status != "active") || r.done.is_some())
        .map(ToString::to_string)
        .collect();
    let missing = found.iter().any(|r| r.hook.as_ref().is_none_or(|h| h.status != "active"));
    match (missing, wrong.is_empty()) {
        (true, _) => Err(wrong.join("; ")),
        (false, true) => Ok(format!("{} webhooks active", found.len())),
        (false, false) => Ok(wrong.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A signed delivery is checked against WooCommerce's own signatures by
    // tests/api/webhooks.rs (the real store delivers to a running appliance).
    const BODY: &[u8] = br#"{"id":42,"status":"processing"}"#;

    #[test]
    fn a_ping_is_the_one_unsigned_body_taken() {
        let s = Secret::new("s3cret");
        assert_eq!(verify(&s, None, None, b"webhook_id=17"), Ok(Delivery::Ping(17)));
        assert_eq!(verify(&s, None, Some("order.updated"), BODY), Err(Refused::Unsigned));
        assert_eq!(verify(&s, Some(""), None, b"webhook_id=17x"), Err(Refused::Unsigned));
        assert_eq!(verify(&s, Some("bm90IGl0"), Some("order.updated"), BODY), Err(Refused::Forged));
        assert_eq!(verify(&s, Some("%%%"), Some("order.updated"), BODY), Err(Refused::Forged));
    }

    #[test]
    fn the_inbox_gives_every_waiting_order_once() {
        let inbox = Inbox::default();
        assert!(inbox.push(&[3, 1]) && inbox.push(&[1, 2]));
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        assert_eq!(rt.block_on(inbox.take()), vec![1, 2, 3]);
        assert!(inbox.is_empty());
        assert!(!inbox.push(&(0..=INBOX_LIMIT as u64).collect::<Vec<_>>()), "bounded");
    }
}
