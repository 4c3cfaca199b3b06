//! The inventory poller: orders in → reservations → quantities out, verified.
//! Schedule: `polling.inventory_cron` (default every 5 minutes); `qm sync
//! --once` runs one cycle by hand.
//!
//! A cycle holds the tenant's `qm:<tenant>:poller` advisory lock (one runner
//! across replicas; a cycle that finds it held skips and names the holder),
//! and checks it inside every write transaction, so a cycle whose lock
//! connection died writes nothing more.
//!
//! **Orders.** Orders changed since the watermark (less an overlap) are
//! mirrored and reserved one order per transaction, so a crash strands
//! nothing; a repair pass re-reserves any order whose reservations do not
//! match its lines. If the order read fails, the cycle stops there: nothing
//! is pushed from an incomplete picture, the run is recorded as failed, and
//! the next cycle starts from the old watermark.
//!
//! **Quantities.** The value written is the truth: remaining minus reserved
//! over the product's lots. It is written when it differs from what the
//! store holds, which is known from the store's own answers (batch results)
//! and re-read for every product an order touched this cycle (WooCommerce
//! moves stock itself: paid orders lower it, cancellations and restocked
//! refunds raise it, staff edit it) and, every `polling.reconcile_minutes`,
//! for the whole catalog. A product that never had stock in Quartermaster is
//! never pushed (unless `woocommerce.push_unstocked`), so a first sync cannot
//! zero a store.
//!
//! **The decrement race.** WooCommerce lowers its own stock when an order is
//! paid, and its REST API has only absolute writes: an order paid between
//! our read of the orders and our write is erased by the write. So every
//! write is verified: after it, the orders are read again; any order that
//! changed since (it may have been erased) is folded in, the stock of its
//! products is read back and corrected, and the loop repeats until a read
//! after the last write shows no change (at most [`MAX_VERIFY_ROUNDS`]). An
//! order placed after the last write lowers the stock we wrote, correctly.
//! An order whose stock move is still in flight in WooCommerce (paid but no
//! `_reduced_stock` on its lines yet, or cancelled with it still there) keeps
//! the loop reading until the move has landed, and its products are read
//! back again by the next cycle.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{MySqlPool, mysql::MySqlConnectOptions};

use crate::{
    app::AppState,
    books::{Books, BooksError, refunds},
    channels::{
        StockChannel,
        ebay::EbayClient,
        outbox::{self, DrainError},
        retry::RetryPolicy,
        woocommerce::{WooClient, types::Order},
    },
    db::lock::{self, LockError, LockName},
    events::{self, Event, Severity},
    inventory::{
        orders::{self, LockCheck, MirrorError},
        reserve, stock,
    },
    station::queue::STATION_QUEUE,
};

/// A point of the cycle where tests may act (place an order, kill a connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Orders were read in round N (0: the cycle's first read).
    Pulled(u32),
    /// Round N's orders are mirrored and reserved.
    Reserved(u32),
    /// Round N read the store's stock of the products to check.
    Observed(u32),
    /// Round N's pushes are written.
    Pushed(u32),
}

/// Called at each [`Step`].
pub type Hook = Arc<dyn Fn(Step) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Verify rounds after the first write; a write still unverified then is left for the next cycle.
pub const MAX_VERIFY_ROUNDS: u32 = 5;

/// Everything one cycle needs.
pub struct Poller {
    pub pool: MySqlPool,
    pub db_options: MySqlConnectOptions,
    pub tenant: String,
    pub reservable: Vec<String>,
    /// The tenant's pick priority rules, applied to the queue each cycle.
    pub pick_priority: Vec<crate::config::PickPriority>,
    pub overlap: TimeDelta,
    pub woo: Arc<WooClient>,
    pub ebay: Option<Arc<EbayClient>>,
    pub retry: RetryPolicy,
    /// Take the advisory lock (true in production; tests also run without it).
    pub use_lock: bool,
    /// Push products that never had stock in Quartermaster (`woocommerce.push_unstocked`).
    pub push_unstocked: bool,
    /// How often the whole catalog's store stock is read and corrected.
    pub reconcile_every: TimeDelta,
    /// The tenant's books when accounting is on: WooCommerce refunds are then
    /// recorded (and their restocked units put back into lots).
    pub books: Option<Books>,
    /// Test hook, called at each step.
    pub hook: Option<Hook>,
    /// Where cycles, pushes and reservations are counted (`/metrics`).
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// What one cycle did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Set when the cycle did not run because another holds the lock.
    pub skipped: Option<String>,
    pub orders_seen: u32,
    pub orders_changed: u32,
    /// Orders that changed while the cycle ran, folded in by its verify reads.
    pub orders_folded_in: u32,
    /// Orders whose reservations did not match their lines (a crashed run's), re-reserved.
    pub orders_repaired: u32,
    /// Orders that could not be taken (malformed, refused by the database): recorded in `sync_rejects` and skipped.
    #[serde(default)]
    pub orders_skipped: Vec<String>,
    pub units_reserved: u32,
    pub units_released: u32,
    pub backordered_units: u32,
    /// WooCommerce refunds recorded (accounting on), and the units they put back into lots.
    #[serde(default)]
    pub refunds_recorded: u32,
    #[serde(default)]
    pub units_restocked: u32,
    /// Products whose store stock was read back.
    pub skus_checked: u32,
    /// Products whose store stock differed from what Quartermaster last knew, corrected.
    pub drift_corrected: u32,
    pub skus_queued: u32,
    pub skus_pushed: u32,
    pub items_rejected: u32,
    pub items_deferred: u32,
    /// Read-after-write rounds this cycle needed.
    pub verify_rounds: u32,
    /// Products whose last write is still unverified (orders kept arriving): the next cycle checks them.
    pub unverified: u32,
    /// Whether this cycle read the whole catalog's stock.
    pub reconciled: bool,
    /// Pushes waiting for a retry: "SKU at HH:MM:SS UTC (error)".
    pub waiting: Vec<String>,
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
            "orders seen {} (changed {}, folded in {}, repaired {}, skipped {}), units reserved {} released {} backordered {}, refunds {} (units restocked {}), SKUs checked {} (drift corrected {}{}), queued {} pushed {} rejected {} deferred {}, verify rounds {}{}, requests {}, errors {}, {} ms",
            self.orders_seen,
            self.orders_changed,
            self.orders_folded_in,
            self.orders_repaired,
            self.orders_skipped.len(),
            self.units_reserved,
            self.units_released,
            self.backordered_units,
            self.refunds_recorded,
            self.units_restocked,
            self.skus_checked,
            self.drift_corrected,
            if self.reconciled { ", full reconciliation" } else { "" },
            self.skus_queued,
            self.skus_pushed,
            self.items_rejected,
            self.items_deferred,
            self.verify_rounds,
            if self.unverified > 0 { format!(" ({} left for the next cycle)", self.unverified) } else { String::new() },
            self.requests,
            self.errors.len(),
            self.duration_ms
        )?;
        for w in &self.waiting {
            write!(f, "\n  waiting for retry: {w}")?;
        }
        Ok(())
    }
}

/// A cycle that stopped: the summary so far and why.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct CycleFailed {
    pub reason: String,
    pub summary: Box<Summary>,
}

const WATERMARK: &str = "woo.orders.modified_after";
const RECONCILED: &str = "woo.stock.reconciled_at";
use crate::inventory::FIRST_LOOKBACK_DAYS;
/// eBay allows ~250 revisions a listing a day: increases wait this long after the last push.
const EBAY_MIN_INTERVAL: TimeDelta = TimeDelta::minutes(15);
/// How long after an order's change WooCommerce may still be moving its stock.
const IN_FLIGHT_WINDOW: TimeDelta = TimeDelta::minutes(10);
/// A run row older than this, still `running` while this cycle holds the lock, died.
const ABANDONED_AFTER: TimeDelta = TimeDelta::seconds(2);

/// Statuses in which WooCommerce holds an order's stock reduced.
fn holds_stock(status: &str) -> bool {
    matches!(status, "processing" | "completed" | "on-hold")
}

impl Poller {
    /// The poller for a running app (WooCommerce always, eBay when enabled).
    pub fn from_state(state: &AppState) -> anyhow::Result<Self> {
        let c = &state.config;
        let secret = |k: &str| state.secrets.get(k).cloned().with_context(|| format!("{k} did not resolve"));
        let ebay = match (&c.ebay, c.modules.ebay) {
            (Some(e), true) => {
                let base = e.api_base_url.clone().unwrap_or_else(|| {
                    if e.environment == "sandbox" { "https://api.sandbox.ebay.com".into() } else { "https://api.ebay.com".into() }
                });
                Some(Arc::new(EbayClient::new(
                    &base,
                    secret("ebay.client_id")?,
                    secret("ebay.client_secret")?,
                    secret("ebay.refresh_token")?,
                    Duration::from_secs(30),
                )?))
            }
            _ => None,
        };
        Ok(Self {
            pool: state.pool.clone(),
            db_options: (*state.db_options).clone(),
            tenant: c.tenant.id.to_string(),
            reservable: c.woocommerce.order_statuses.clone(),
            pick_priority: c.pick_priority.clone(),
            overlap: TimeDelta::seconds(i64::from(c.polling.order_overlap_seconds)),
            woo: state.woo.clone(),
            ebay,
            retry: RetryPolicy::default(),
            use_lock: true,
            push_unstocked: c.woocommerce.push_unstocked,
            reconcile_every: TimeDelta::minutes(i64::from(c.polling.reconcile_minutes)),
            books: state.ledger.as_ref().map(|l| l.books.clone()),
            hook: None,
            metrics: Some(state.metrics.clone()),
        })
    }

    async fn at(&self, step: Step) {
        if let Some(h) = &self.hook {
            h(step).await;
        }
    }

    /// One full cycle. `Err(CycleFailed)` (inside the anyhow error) when it
    /// stopped before finishing: nothing after the failure was written.
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
                    if let Some(m) = &self.metrics {
                        m.sync_cycles.get_or_create(&crate::metrics::OutcomeLabels { outcome: "skipped".into() }).inc();
                    }
                    return Ok(Summary { skipped: Some(format!("lock {name} is held by {who}")), ..Summary::default() });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let check = guard.as_ref().map(|g| LockCheck { name: g.name().to_string(), connection_id: g.connection_id() });
        let mut s = Summary::default();
        let outcome = self.cycle(check.as_ref(), &mut s).await;
        s.requests = self.requests() - requests_before;
        s.duration_ms = started.elapsed().as_millis() as u64;
        if let Some(m) = &self.metrics {
            let outcome = if outcome.is_ok() { "ok" } else { "failed" };
            m.sync_cycles.get_or_create(&crate::metrics::OutcomeLabels { outcome: outcome.into() }).inc();
            m.sync_cycle_duration.observe(started.elapsed().as_secs_f64());
            m.units_reserved.inc_by(u64::from(s.units_reserved));
        }
        match outcome {
            Ok(()) => {
                let severity = if s.errors.is_empty() && s.orders_skipped.is_empty() { Severity::Info } else { Severity::Warning };
                events::record(&self.pool, Event::info("sync.cycle", s.to_string()).severity(severity)).await?;
                if let Some(g) = guard {
                    g.release().await?;
                }
                Ok(s)
            }
            Err(reason) => {
                let msg = format!("sync cycle failed, nothing more was pushed: {reason}");
                tracing::error!(error = %msg, "sync cycle failed");
                // The event is best effort: the database may be what failed.
                let _ =
                    events::record(&self.pool, Event::info("sync.cycle_failed", format!("{msg} ({s})")).severity(Severity::Error)).await;
                drop(guard);
                Err(CycleFailed { reason, summary: Box::new(s) }.into())
            }
        }
    }

    async fn cycle(&self, check: Option<&LockCheck>, s: &mut Summary) -> Result<(), String> {
        let db = |e: sqlx::Error| format!("database: {e}");
        self.close_abandoned().await.map_err(db)?;
        let pull_started = Utc::now();
        let watermark = self.watermark().await.map_err(db)?;
        let since = watermark.unwrap_or(pull_started - TimeDelta::days(FIRST_LOOKBACK_DAYS)) - self.overlap;

        // Round 0: the orders changed since the watermark.
        let mut list = self
            .woo
            .orders_modified_after(since)
            .await
            .map_err(|e| format!("reading orders changed since {} (GMT): {e}", since.format("%Y-%m-%d %H:%M:%S")))?;
        // Orders skipped before are read again by id: a fix in WooCommerce may not move their modified date.
        let rejected: BTreeSet<u64> = orders::rejected_ids(&self.pool).await.map_err(db)?.into_iter().collect();
        let skipped: Vec<u64> = rejected.iter().copied().filter(|id| !list.iter().any(|o| o.id == *id)).collect();
        if !skipped.is_empty() {
            let again =
                self.woo.orders_by_id(&skipped).await.map_err(|e| format!("reading {} skipped orders again: {e}", skipped.len()))?;
            let gone: Vec<u64> = skipped.iter().copied().filter(|id| !again.iter().any(|o| o.id == *id)).collect();
            orders::forget_rejects(&self.pool, &gone).await.map_err(db)?;
            list.extend(again);
        }
        self.at(Step::Pulled(0)).await;
        let mut unsettled: HashMap<u64, BTreeSet<u64>> = HashMap::new();
        let folded = self.fold(&list, s, check, false, &mut unsettled, &rejected).await?;
        s.orders_repaired = self.repair(check).await?;
        // Orders that entered the queue (or changed) get their rank before anyone opens the queue page.
        crate::station::queue::prioritise(&self.pool, &self.pick_priority).await.map_err(db)?;
        let mut to_check = folded.touched;
        to_check.extend(self.record_refunds(&list, s).await?);
        self.at(Step::Reserved(0)).await;

        // Products to read back: those orders touched, or the whole catalog when due.
        s.reconciled = self.reconcile_due().await.map_err(db)?;
        if s.reconciled {
            to_check = self.pushable_products(None).await.map_err(db)?;
        }
        let mut written = self.observe_and_push(&to_check, s, check, 0).await?;
        let mut written_all: BTreeSet<u64> = written.iter().copied().collect();
        if s.reconciled {
            self.set_state(RECONCILED, &Utc::now().to_rfc3339()).await.map_err(db)?;
        }

        // Verify: read the orders again after every write; fold in what changed
        // and correct it. Also while an order whose stock move WooCommerce has
        // not finished touches a product written this cycle: its move may land
        // after our write (a cancellation's restock would then over-state it).
        let mut round = 0;
        loop {
            let in_flight = unsettled.values().flatten().any(|p| written_all.contains(p));
            if written.is_empty() && !in_flight {
                break;
            }
            if round == MAX_VERIFY_ROUNDS {
                s.unverified = if written.is_empty() {
                    unsettled.values().flatten().filter(|p| written_all.contains(p)).count()
                } else {
                    written.len()
                } as u32;
                break;
            }
            if written.is_empty() {
                // Only a move in flight: give WooCommerce's request a moment to finish.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            round += 1;
            s.verify_rounds = round;
            let late = self
                .woo
                .orders_modified_after(pull_started - self.overlap)
                .await
                .map_err(|e| format!("re-reading orders after a push (verify round {round}): {e}"))?;
            self.at(Step::Pulled(round)).await;
            let before: HashMap<u64, BTreeSet<u64>> = unsettled.clone();
            let f = self.fold(&late, s, check, true, &mut unsettled, &rejected).await?;
            self.at(Step::Reserved(round)).await;
            // Products of orders that changed, and of orders whose stock move has landed since.
            let mut changed = f.changed_products;
            for (order, products) in &before {
                if !unsettled.contains_key(order) {
                    changed.extend(products);
                }
            }
            if changed.is_empty() {
                written.clear();
                continue;
            }
            written = self.observe_and_push(&changed, s, check, round).await?;
            written_all.extend(&written);
        }

        // eBay: what differs from what it confirmed.
        if let Some(ebay) = &self.ebay {
            s.skus_queued += self.queue_changes("ebay", Some(EBAY_MIN_INTERVAL)).await.map_err(db)?;
            let d = outbox::drain_guarded(&self.pool, ebay.as_ref(), self.retry, check).await.map_err(drain_err)?;
            self.pushed("ebay", &d, s).await.map_err(db)?;
        }
        for (sku, at, err) in outbox::waiting(&self.pool, "woocommerce").await.map_err(db)? {
            s.waiting.push(format!("{sku} at {} ({err})", at.format("%H:%M:%S UTC")));
        }

        // Advance the watermark only past orders mirrored without error.
        if s.errors.is_empty() {
            let mark = folded.newest.map(|n| n.and_utc()).unwrap_or(pull_started).min(pull_started);
            self.set_state(WATERMARK, &mark.to_rfc3339()).await.map_err(db)?;
        }
        Ok(())
    }

    /// Reads the store's stock of `products`, records it as what the store
    /// holds, queues every pushable product whose truth differs, and pushes.
    /// Returns the products written.
    async fn observe_and_push(
        &self,
        products: &BTreeSet<u64>,
        s: &mut Summary,
        check: Option<&LockCheck>,
        round: u32,
    ) -> Result<Vec<u64>, String> {
        let db = |e: sqlx::Error| format!("database: {e}");
        if !products.is_empty() {
            let items = self.woo_items(products).await.map_err(db)?;
            let keys: Vec<(u64, Option<u64>)> = items.iter().map(|(_, ext, parent)| (*ext, *parent)).collect();
            match self.woo.stock_of(&keys).await {
                Ok(found) => {
                    s.skus_checked += items.len() as u32;
                    let observed: Vec<(u64, i64)> =
                        items.iter().filter_map(|(pid, ext, _)| found.get(ext).copied().flatten().map(|q| (*pid, q))).collect();
                    s.drift_corrected += self.record_observed(&observed).await.map_err(db)?;
                }
                // Without the read, what the store confirmed last stands; the next cycle reads again.
                Err(e) => s.errors.push(format!("reading store stock of {} products: {e}", items.len())),
            }
        }
        self.at(Step::Observed(round)).await;
        s.skus_queued += self.queue_changes("woocommerce", None).await.map_err(db)?;
        let d = outbox::drain_guarded(&self.pool, self.woo.as_ref(), self.retry, check).await.map_err(drain_err)?;
        self.pushed("woocommerce", &d, s).await.map_err(db)?;
        self.at(Step::Pushed(round)).await;
        Ok(d.confirmed_ids)
    }

    /// Counts a drain into the summary and the metrics, and tells the event
    /// log what the channel took (refusals are told one by one by the outbox).
    async fn pushed(&self, channel: &str, d: &outbox::Drained, s: &mut Summary) -> Result<(), sqlx::Error> {
        s.skus_pushed += d.confirmed;
        s.items_rejected += d.rejected;
        s.items_deferred += d.deferred;
        if let Some(m) = &self.metrics {
            m.observe_pushes(channel, d.confirmed, d.rejected, d.deferred);
        }
        if d.confirmed > 0 {
            let msg = format!("{channel} took {} stock quantit{}", d.confirmed, if d.confirmed == 1 { "y" } else { "ies" });
            events::record(&self.pool, Event::info("stock.pushed", msg)).await?;
        }
        Ok(())
    }

    fn requests(&self) -> u64 {
        self.woo.requests() + self.ebay.as_ref().map_or(0, |e| e.requests())
    }

    /// Records the WooCommerce refunds not seen before of these orders (with
    /// accounting on). An order whose refund cannot be recorded is listed in
    /// `sync_rejects` with the reason and read again every cycle until it can.
    /// Returns the products whose lots took units back.
    async fn record_refunds(&self, list: &[Order], s: &mut Summary) -> Result<BTreeSet<u64>, String> {
        let db = |e: sqlx::Error| format!("database: {e}");
        let mut touched = BTreeSet::new();
        let Some(books) = &self.books else { return Ok(touched) };
        let unseen = refunds::unseen(&self.pool, list).await.map_err(db)?;
        for o in list.iter().filter(|o| o.refunds.iter().any(|r| unseen.contains(&r.id))) {
            let outcome = match self.woo.refunds_of(o.id).await {
                Ok(found) => refunds::import_woo(&self.pool, books, o, &found).await.map_err(|e| match e {
                    BooksError::Db(e) => db(e),
                    other => other.to_string(),
                }),
                Err(e) => Err(format!("reading its refunds: {e}")),
            };
            match outcome {
                Ok(done) => {
                    s.refunds_recorded += done.refunds;
                    s.units_restocked += done.units_restocked;
                    for note in done.notes {
                        events::record(
                            &self.pool,
                            Event::info("sync.refund_not_restocked", note).severity(Severity::Warning).about("woo_order", o.id),
                        )
                        .await
                        .map_err(db)?;
                    }
                    if done.units_restocked > 0 {
                        let woo: BTreeSet<u64> =
                            o.line_items.iter().map(|l| if l.variation_id > 0 { l.variation_id } else { l.product_id }).collect();
                        touched.extend(stock::holders_by_woo_id(&self.pool, &woo).await.map_err(db)?.into_values());
                    }
                    orders::clear_reject(&self.pool, o.id).await.map_err(db)?;
                }
                Err(reason) => {
                    let msg = format!("order {}: refund not recorded: {reason}", o.id);
                    if orders::reject(&self.pool, o.id, &o.date_modified_gmt, &msg).await.map_err(db)? {
                        events::record(
                            &self.pool,
                            Event::info("sync.refund_skipped", msg.clone()).severity(Severity::Error).about("woo_order", o.id),
                        )
                        .await
                        .map_err(db)?;
                    }
                    if !s.orders_skipped.contains(&msg) {
                        s.orders_skipped.push(msg);
                    }
                }
            }
        }
        Ok(touched)
    }

    /// Mirrors and reserves a list of orders (one transaction each). Orders
    /// WooCommerce has not moved stock for yet (a paid order without
    /// `_reduced_stock`, a cancelled one still with it) are tracked in
    /// `unsettled` by order id, with the products they touch.
    async fn fold(
        &self,
        list: &[Order],
        s: &mut Summary,
        check: Option<&LockCheck>,
        late: bool,
        unsettled: &mut HashMap<u64, BTreeSet<u64>>,
        rejected: &BTreeSet<u64>,
    ) -> Result<Folded, String> {
        let mut out = Folded::default();
        let woo_ids: BTreeSet<u64> =
            list.iter().flat_map(|o| o.line_items.iter().map(|l| if l.variation_id > 0 { l.variation_id } else { l.product_id })).collect();
        let by_woo = stock::holders_by_woo_id(&self.pool, &woo_ids).await.map_err(|e| format!("database: {e}"))?;
        for o in list {
            if !late {
                s.orders_seen += 1;
            }
            let products: BTreeSet<u64> = o
                .line_items
                .iter()
                .filter_map(|l| by_woo.get(&if l.variation_id > 0 { l.variation_id } else { l.product_id }).copied())
                .collect();
            // Only a recent change can still have its stock move in flight; an
            // old order without one (paid before the product managed stock) never will.
            let recent = NaiveDateTime::parse_from_str(&o.date_modified_gmt, "%Y-%m-%dT%H:%M:%S")
                .is_ok_and(|m| Utc::now().naive_utc() - m < IN_FLIGHT_WINDOW);
            let pending: BTreeSet<u64> = o
                .line_items
                .iter()
                .filter(|l| recent && l.quantity > 0 && holds_stock(&o.status) != (l.reduced_stock() > 0))
                .filter_map(|l| by_woo.get(&if l.variation_id > 0 { l.variation_id } else { l.product_id }).copied())
                .collect();
            if pending.is_empty() {
                unsettled.remove(&o.id);
            } else {
                unsettled.insert(o.id, pending.clone());
                out.touched.extend(pending);
            }
            match orders::mirror_and_reserve(&self.pool, o, &self.reservable, check, &STATION_QUEUE).await {
                Ok((orders::Mirrored::Changed(_), r)) => {
                    // Skipped before, taken now: no longer listed (a write only then, off the common path).
                    if rejected.contains(&o.id) {
                        orders::clear_reject(&self.pool, o.id).await.map_err(|e| format!("database: {e}"))?;
                    }
                    if late {
                        s.orders_folded_in += 1;
                    } else {
                        s.orders_changed += 1;
                    }
                    s.units_reserved += r.units_reserved;
                    s.units_released += r.units_released;
                    s.backordered_units += r.backordered;
                    if r.units_reserved + r.units_released + r.backordered > 0 {
                        let (kind, severity) =
                            if r.backordered > 0 { ("order.backordered", Severity::Warning) } else { ("order.reserved", Severity::Info) };
                        let msg = format!(
                            "order #{} ({}): {} unit(s) reserved, {} released, {} backordered",
                            o.number, o.status, r.units_reserved, r.units_released, r.backordered
                        );
                        events::record(&self.pool, Event::info(kind, msg).severity(severity).about("woo_order", o.id))
                            .await
                            .map_err(|e| format!("database: {e}"))?;
                    }
                    out.touched.extend(&products);
                    out.changed_products.extend(&products);
                }
                Ok((orders::Mirrored::Unchanged(_), _)) => {}
                Err(e @ (MirrorError::Malformed { .. } | MirrorError::Refused { .. })) => {
                    // One bad order never stops the sync: it is recorded, shown and skipped;
                    // its next version in WooCommerce is read again.
                    let msg = e.to_string();
                    let db = |e: sqlx::Error| format!("database: {e}");
                    if orders::reject(&self.pool, o.id, &o.date_modified_gmt, &msg).await.map_err(db)? {
                        events::record(
                            &self.pool,
                            Event::info("sync.order_skipped", format!("{msg}; skipped, every other order keeps flowing"))
                                .severity(Severity::Error)
                                .about("woo_order", o.id),
                        )
                        .await
                        .map_err(db)?;
                    }
                    if !s.orders_skipped.contains(&msg) {
                        s.orders_skipped.push(msg);
                    }
                }
                Err(e @ MirrorError::LockLost(_)) => return Err(e.to_string()),
                Err(MirrorError::Db(e)) => return Err(format!("mirroring order {}: database: {e}", o.id)),
            }
            if !late {
                if let Ok(m) = NaiveDateTime::parse_from_str(&o.date_modified_gmt, "%Y-%m-%dT%H:%M:%S") {
                    out.newest = out.newest.max(Some(m));
                }
            }
        }
        Ok(out)
    }

    /// Re-reserves every order whose reservations do not match its lines:
    /// what a run killed between two writes of older versions could leave.
    async fn repair(&self, check: Option<&LockCheck>) -> Result<u32, String> {
        let ids = reserve::orders_out_of_line(&self.pool, &self.reservable).await.map_err(|e| format!("database: {e}"))?;
        for id in &ids {
            if let Some(c) = check {
                let mut tx = self.pool.begin().await.map_err(|e| format!("database: {e}"))?;
                c.check(&mut tx).await.map_err(|e| e.to_string())?;
            }
            reserve::reserve_order(&self.pool, *id, &self.reservable, &STATION_QUEUE)
                .await
                .map_err(|e| format!("re-reserving order {id}: database: {e}"))?;
        }
        Ok(ids.len() as u32)
    }

    /// Marks runs that died (killed, connection lost) as `abandoned`: while
    /// this cycle holds the lock, no other run of the poller can be working.
    async fn close_abandoned(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            r#"UPDATE job_runs SET status = 'abandoned', finished_at = UTC_TIMESTAMP(6),
                   error = 'the run ended without finishing (killed, or its database connection was lost); the next run took over'
               WHERE job = 'inventory_poll' AND status = 'running' AND started_at < ?"#,
        )
        .bind((Utc::now() - ABANDONED_AFTER).naive_utc())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reconcile_due(&self) -> Result<bool, sqlx::Error> {
        let last: Option<String> =
            sqlx::query_scalar("SELECT value FROM sync_state WHERE name = ?").bind(RECONCILED).fetch_optional(&self.pool).await?;
        let last = last.and_then(|v| DateTime::parse_from_rfc3339(&v).ok()).map(|d| d.with_timezone(&Utc));
        Ok(last.is_none_or(|l| Utc::now() - l >= self.reconcile_every))
    }

    /// Every product this cycle may push (or `only` those).
    async fn pushable_products(&self, only: Option<&BTreeSet<u64>>) -> Result<BTreeSet<u64>, sqlx::Error> {
        let ids = stock::woo_pushable(&self.pool, self.push_unstocked).await?;
        Ok(ids.into_iter().filter(|i| only.is_none_or(|o| o.contains(i))).collect())
    }

    /// (product, WooCommerce id, parent) of pushable products among `products`.
    async fn woo_items(&self, products: &BTreeSet<u64>) -> Result<Vec<(u64, u64, Option<u64>)>, sqlx::Error> {
        Ok(stock::woo_items(&self.pool, products).await?.into_iter().map(|i| (i.id, i.woo_id, i.woo_parent_id)).collect())
    }

    /// Records what the store holds now; returns how many differ from the
    /// truth although Quartermaster believed the store agreed (drift).
    async fn record_observed(&self, observed: &[(u64, i64)]) -> Result<u32, sqlx::Error> {
        if observed.is_empty() {
            return Ok(0);
        }
        let mut drift = 0;
        let truth = reserve::available_many(&self.pool, &observed.iter().map(|(p, _)| *p).collect::<Vec<_>>()).await?;
        let products: Vec<u64> = observed.iter().map(|(p, _)| *p).collect();
        let known = outbox::confirmed(&self.pool, "woocommerce", &products).await?;
        for (product, store) in observed {
            let t = truth.get(product).copied().unwrap_or(0);
            if known.get(product) == Some(&t) && *store != t {
                drift += 1;
            }
        }
        outbox::record_shown(&self.pool, "woocommerce", observed).await?;
        Ok(drift)
    }

    /// Queues every product whose available quantity differs from what the
    /// channel last confirmed (or showed). Returns how many were queued.
    async fn queue_changes(&self, channel: &str, min_interval: Option<TimeDelta>) -> Result<u32, sqlx::Error> {
        let rows = stock::out_of_step(&self.pool, stock::Audience { channel, unstocked: self.push_unstocked }).await?;
        let now = Utc::now().naive_utc();
        let updates: Vec<_> = rows
            .iter()
            .map(|r| {
                // Decreases go now (overselling is worse); increases may wait for the channel's rate limit.
                let not_before = match (min_interval, r.confirmed_qty, r.confirmed_at) {
                    (Some(gap), Some(c), Some(at)) if r.available > i64::from(c) => Some((at + gap).max(now)),
                    _ => None,
                };
                (r.update(), not_before)
            })
            .collect();
        outbox::enqueue_many(&self.pool, channel, &updates).await?;
        Ok(rows.len() as u32)
    }

    /// What a cycle would push now, per product: (SKU, store value as last
    /// known or read, new value). Reads the store's stock; writes nothing.
    pub async fn dry_run(&self) -> anyhow::Result<Vec<(String, Option<i64>, i64)>> {
        let products = self.pushable_products(None).await?;
        let items = self.woo_items(&products).await?;
        let keys: Vec<(u64, Option<u64>)> = items.iter().map(|(_, e, p)| (*e, *p)).collect();
        let store = self.woo.stock_of(&keys).await?;
        let truth = reserve::available_many(&self.pool, &items.iter().map(|(p, _, _)| *p).collect::<Vec<_>>()).await?;
        let skus = stock::woo_skus(&self.pool).await?;
        let mut out = Vec::new();
        for (pid, ext, _) in &items {
            let now = store.get(ext).copied().flatten();
            let t = truth.get(pid).copied().unwrap_or(0);
            if now != Some(t) {
                out.push((skus.get(pid).cloned().unwrap_or_default(), now, t));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn watermark(&self) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM sync_state WHERE name = ?").bind(WATERMARK).fetch_optional(&self.pool).await?;
        Ok(v.and_then(|v| DateTime::parse_from_rfc3339(&v).ok()).map(|d| d.with_timezone(&Utc)))
    }

    async fn set_state(&self, name: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO sync_state (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn drain_err(e: DrainError) -> String {
    e.to_string()
}

#[derive(Default)]
struct Folded {
    newest: Option<NaiveDateTime>,
    /// Products of changed or unsettled orders.
    touched: BTreeSet<u64>,
    /// Products of changed orders only.
    changed_products: BTreeSet<u64>,
}

/// The poller as a job of the fleet (with the inventory sync module), on
/// `polling.inventory_cron`. It takes its own lock inside a cycle (and
/// records a skipped run), so the fleet's lock is not used.
struct InventoryPoll {
    poller: Poller,
    schedule: String,
}

pub fn job(state: &AppState) -> anyhow::Result<Option<Arc<dyn super::CronJob>>> {
    if !state.config.modules.inventory_sync {
        return Ok(None);
    }
    Ok(Some(Arc::new(InventoryPoll { poller: Poller::from_state(state)?, schedule: state.config.polling.inventory_cron.clone() })))
}

impl super::CronJob for InventoryPoll {
    fn name(&self) -> &'static str {
        "inventory_poll"
    }
    fn default_schedule(&self) -> String {
        self.schedule.clone()
    }
    fn exclusive(&self) -> bool {
        false
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(1800)
    }
    fn run(&self) -> futures::future::BoxFuture<'_, anyhow::Result<serde_json::Value>> {
        use futures::FutureExt;
        async { Ok(serde_json::to_value(self.poller.run_once().await?)?) }.boxed()
    }
}
