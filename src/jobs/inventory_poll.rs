//! The inventory poller: orders in → reservations → quantities out → outbox
//! drain. Schedule: `polling.inventory_cron` (default every 5 minutes);
//! `qm sync --once` runs one cycle by hand.
//!
//! A cycle holds the tenant's `qm:<tenant>:poller` advisory lock; a cycle
//! that finds it held skips and says who holds it. WooCommerce decrements
//! its own stock when an order is paid, so an absolute quantity push could
//! erase the decrement of an order placed after the pull: right before
//! pushing, the cycle re-reads orders modified since its pull began and
//! folds them in, which shrinks that window to the time between the re-read
//! and the push; anything later is folded in by the next cycle.

use std::{sync::Arc, time::{Duration, Instant}};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{mysql::MySqlConnectOptions, MySqlPool, Row};

use crate::{
    channels::{ebay::EbayClient, outbox, retry::RetryPolicy, woocommerce::WooClient, StockChannel, StockUpdate},
    db::lock::{self, LockError, LockName},
    events::{self, Event, Severity},
    inventory::{orders, reserve},
    web::AppState,
};

/// Everything one cycle needs.
pub struct Poller {
    pub pool: MySqlPool,
    pub db_options: MySqlConnectOptions,
    pub tenant: String,
    pub reservable: Vec<String>,
    pub overlap: TimeDelta,
    pub woo: Arc<WooClient>,
    pub ebay: Option<Arc<EbayClient>>,
    pub retry: RetryPolicy,
    /// Take the advisory lock (true in production; tests also run without it).
    pub use_lock: bool,
    /// Re-read orders right before pushing (true in production; a test turns
    /// it off to reproduce the oversell it prevents).
    pub fold_in: bool,
    /// Called between the first pull and the re-read (tests reproduce the race here).
    pub after_pull: Option<Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>>,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Set when the cycle did not run because another holds the lock.
    pub skipped: Option<String>,
    pub orders_seen: u32,
    pub orders_changed: u32,
    /// Orders that arrived during the cycle and were folded in before pushing.
    pub orders_folded_in: u32,
    pub units_reserved: u32,
    pub units_released: u32,
    pub backordered_units: u32,
    pub skus_queued: u32,
    pub skus_pushed: u32,
    pub items_rejected: u32,
    pub items_deferred: u32,
    pub requests: u64,
    pub errors: Vec<String>,
    pub duration_ms: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(s) = &self.skipped {
            return write!(f, "skipped: {s}");
        }
        write!(
            f,
            "orders seen {} (changed {}, folded in {}), units reserved {} released {} backordered {}, SKUs queued {} pushed {} rejected {} deferred {}, requests {}, errors {}, {} ms",
            self.orders_seen,
            self.orders_changed,
            self.orders_folded_in,
            self.units_reserved,
            self.units_released,
            self.backordered_units,
            self.skus_queued,
            self.skus_pushed,
            self.items_rejected,
            self.items_deferred,
            self.requests,
            self.errors.len(),
            self.duration_ms
        )
    }
}

const WATERMARK: &str = "woo.orders.modified_after";
/// A fresh tenant imports orders changed in the last 30 days.
const FIRST_LOOKBACK_DAYS: i64 = 30;
/// eBay allows ~250 revisions a listing a day: increases wait this long after the last push.
const EBAY_MIN_INTERVAL: TimeDelta = TimeDelta::minutes(15);

impl Poller {
    /// The poller for a running app (WooCommerce always, eBay when enabled).
    pub fn from_state(state: &AppState) -> anyhow::Result<Self> {
        let c = &state.config;
        let secret = |k: &str| state.secrets.get(k).cloned().with_context(|| format!("{k} did not resolve"));
        let woo = WooClient::new(&c.woocommerce.base_url, secret("woocommerce.consumer_key")?, secret("woocommerce.consumer_secret")?, Duration::from_secs(c.woocommerce.timeout_seconds))?;
        let ebay = match (&c.ebay, c.modules.ebay) {
            (Some(e), true) => {
                let base = e.api_base_url.clone().unwrap_or_else(|| if e.environment == "sandbox" { "https://api.sandbox.ebay.com".into() } else { "https://api.ebay.com".into() });
                Some(Arc::new(EbayClient::new(&base, secret("ebay.client_id")?, secret("ebay.client_secret")?, secret("ebay.refresh_token")?, Duration::from_secs(30))?))
            }
            _ => None,
        };
        Ok(Self {
            pool: state.pool.clone(),
            db_options: state.db_options.clone(),
            tenant: c.tenant.id.to_string(),
            reservable: c.woocommerce.order_statuses.clone(),
            overlap: TimeDelta::seconds(i64::from(c.polling.order_overlap_seconds)),
            woo: Arc::new(woo),
            ebay,
            retry: RetryPolicy::default(),
            use_lock: true,
            fold_in: true,
            after_pull: None,
        })
    }

    /// One full cycle.
    #[tracing::instrument(skip_all, fields(tenant = %self.tenant))]
    pub async fn run_once(&self) -> anyhow::Result<Summary> {
        let started = Instant::now();
        let requests_before = self.requests();
        let mut guard = None;
        if self.use_lock {
            let name = LockName::new(&self.tenant, "poller")?;
            match lock::acquire(&self.db_options, &name, Duration::ZERO).await {
                Ok(g) => guard = Some(g),
                Err(LockError::Busy { holder, .. }) => {
                    let who = holder.map_or("another connection".to_owned(), |h| format!("connection {h}"));
                    tracing::info!(holder = ?holder, "poller lock held elsewhere; skipping this cycle");
                    return Ok(Summary { skipped: Some(format!("lock {name} is held by {who}")), ..Summary::default() });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut s = Summary::default();

        // 1. Orders in.
        let pull_started = Utc::now();
        let watermark = self.watermark().await?;
        let since = watermark.unwrap_or(pull_started - TimeDelta::days(FIRST_LOOKBACK_DAYS)) - self.overlap;
        let pulled = self.woo.orders_modified_after(since).await;
        let newest = match pulled {
            Ok(list) => self.fold(&list, &mut s, false).await?,
            Err(e) => {
                s.errors.push(e.to_string());
                None
            }
        };
        if let Some(hook) = &self.after_pull {
            hook().await;
        }
        // 2. Re-read what changed since this cycle's pull began, just before pushing.
        if s.errors.is_empty() && self.fold_in {
            match self.woo.orders_modified_after(pull_started - self.overlap).await {
                Ok(late) => {
                    self.fold(&late, &mut s, true).await?;
                }
                Err(e) => s.errors.push(e.to_string()),
            }
        }
        if let Some(g) = guard.as_mut() {
            g.ensure_held().await?;
        }

        // 3. Quantities out: queue what differs from what each channel confirmed, then drain.
        s.skus_queued += self.queue_changes("woocommerce", "p.woo_id IS NOT NULL AND p.manage_stock", None).await?;
        let d = outbox::drain(&self.pool, self.woo.as_ref(), self.retry).await?;
        s.skus_pushed += d.confirmed;
        s.items_rejected += d.rejected;
        s.items_deferred += d.deferred;
        if let Some(ebay) = &self.ebay {
            s.skus_queued += self.queue_changes("ebay", "p.ebay_listed", Some(EBAY_MIN_INTERVAL)).await?;
            let d = outbox::drain(&self.pool, ebay.as_ref(), self.retry).await?;
            s.skus_pushed += d.confirmed;
            s.items_rejected += d.rejected;
            s.items_deferred += d.deferred;
        }

        // 4. Advance the watermark only when the pull succeeded.
        if s.errors.is_empty() {
            let mark = newest.map(|n| n.and_utc()).unwrap_or(pull_started).min(pull_started);
            self.set_watermark(mark).await?;
        }
        s.requests = self.requests() - requests_before;
        s.duration_ms = started.elapsed().as_millis() as u64;
        let severity = if s.errors.is_empty() { Severity::Info } else { Severity::Warning };
        events::record(&self.pool, Event::info("sync.cycle", s.to_string()).severity(severity)).await?;
        if let Some(g) = guard {
            g.release().await?;
        }
        Ok(s)
    }

    fn requests(&self) -> u64 {
        self.woo.requests() + self.ebay.as_ref().map_or(0, |e| e.requests())
    }

    /// Mirrors and reserves a list of orders; returns the newest modification time.
    async fn fold(&self, list: &[crate::channels::woocommerce::types::Order], s: &mut Summary, late: bool) -> anyhow::Result<Option<NaiveDateTime>> {
        let mut newest: Option<NaiveDateTime> = None;
        for o in list {
            if !late {
                s.orders_seen += 1;
            }
            match orders::upsert(&self.pool, o).await {
                Ok(orders::Mirrored::Changed(id)) => {
                    if late {
                        s.orders_folded_in += 1;
                    } else {
                        s.orders_changed += 1;
                    }
                    let out = reserve::reserve_order(&self.pool, id, &self.reservable).await?;
                    s.units_reserved += out.units_reserved;
                    s.units_released += out.units_released;
                    s.backordered_units += out.backordered;
                }
                Ok(orders::Mirrored::Unchanged(_)) => {}
                Err(orders::MirrorError::Malformed { id, field, reason }) => {
                    let msg = format!("order {id}: {field}: {reason}");
                    events::record(&self.pool, Event::info("sync.order_malformed", msg.clone()).severity(Severity::Error).about("woo_order", id)).await?;
                    s.errors.push(msg);
                }
                Err(orders::MirrorError::Db(e)) => return Err(e.into()),
            }
            if let Ok(m) = NaiveDateTime::parse_from_str(&o.date_modified_gmt, "%Y-%m-%dT%H:%M:%S") {
                newest = newest.max(Some(m));
            }
        }
        Ok(newest)
    }

    /// Queues every product whose available quantity differs from what the
    /// channel last confirmed. Returns how many were queued.
    async fn queue_changes(&self, channel: &str, filter: &'static str, min_interval: Option<TimeDelta>) -> anyhow::Result<u32> {
        let sql = format!(
            r#"SELECT p.id, p.sku, p.woo_id, p.woo_parent_id, CAST(COALESCE(a.available, 0) AS SIGNED) AS available, cs.confirmed_qty, cs.confirmed_at
               FROM products p
               LEFT JOIN (SELECT product_id, SUM(qty_remaining - qty_reserved) AS available FROM inventory_lots GROUP BY product_id) a ON a.product_id = p.id
               LEFT JOIN channel_stock cs ON cs.channel = ? AND cs.product_id = p.id
               WHERE p.status = 'active' AND {filter} AND (cs.confirmed_qty IS NULL OR cs.confirmed_qty <> COALESCE(a.available, 0))"#
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(channel).fetch_all(&self.pool).await?;
        let now = Utc::now().naive_utc();
        for r in &rows {
            let available: i64 = r.try_get("available")?;
            let confirmed: Option<i32> = r.try_get("confirmed_qty")?;
            let confirmed_at: Option<NaiveDateTime> = r.try_get("confirmed_at")?;
            // Decreases go now (overselling is worse); increases may wait for the channel's rate limit.
            let not_before = match (min_interval, confirmed, confirmed_at) {
                (Some(gap), Some(c), Some(at)) if available > i64::from(c) => Some((at + gap).max(now)),
                _ => None,
            };
            let u = StockUpdate {
                product_id: r.try_get("id")?,
                sku: r.try_get("sku")?,
                external_id: r.try_get("woo_id")?,
                parent_id: r.try_get("woo_parent_id")?,
                quantity: available,
            };
            outbox::enqueue(&self.pool, channel, &u, not_before).await?;
        }
        Ok(rows.len() as u32)
    }

    async fn watermark(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM sync_state WHERE name = ?").bind(WATERMARK).fetch_optional(&self.pool).await?;
        Ok(v.and_then(|v| DateTime::parse_from_rfc3339(&v).ok()).map(|d| d.with_timezone(&Utc)))
    }

    async fn set_watermark(&self, at: DateTime<Utc>) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO sync_state (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)")
            .bind(WATERMARK)
            .bind(at.to_rfc3339())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
