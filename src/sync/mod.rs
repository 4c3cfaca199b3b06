//! The stock sync: orders in → reservations → quantities out, verified.
//! The job `inventory_poll` runs one cycle on `polling.inventory_cron`
//! (default every 5 minutes); `qm sync --once` runs one by hand.
//!
//! A cycle runs under the tenant's `qm:<tenant>:poller` advisory lock, taken
//! by the fleet (`jobs::run_guarded`, one runner across replicas), and checks
//! it inside every write transaction, so a cycle whose lock connection died
//! writes nothing more.
//!
//! **Orders** ([`pull`]). Orders changed since the watermark (less an
//! overlap) are mirrored and reserved one order per transaction, so a crash
//! strands nothing; a repair pass ([`repair`]) re-reserves any order whose
//! reservations do not match its lines. If the order read fails, the cycle
//! stops there: nothing is pushed from an incomplete picture, the run is
//! recorded as failed, and the next cycle starts from the old watermark.
//!
//! **Quantities** ([`push`]). The value written is the truth: remaining
//! minus reserved over the product's lots. It is written when it differs
//! from what the store holds, which is known from the store's own answers
//! (batch results) and re-read for every product an order touched this cycle
//! (WooCommerce moves stock itself: paid orders lower it, cancellations and
//! restocked refunds raise it, staff edit it) and, every
//! `polling.reconcile_minutes`, for the whole catalog. A product that never
//! had stock in Quartermaster is never pushed (unless
//! `woocommerce.push_unstocked`), so a first sync cannot zero a store.
//!
//! **The decrement race** ([`verify`]). WooCommerce lowers its own stock when
//! an order is paid, and its REST API has only absolute writes: an order paid
//! between our read of the orders and our write is erased by the write. So
//! every write is verified: after it, the orders are read again; any order
//! that changed since (it may have been erased) is folded in, the stock of
//! its products is read back and corrected, and the loop repeats until a read
//! after the last write shows no change (at most [`MAX_VERIFY_ROUNDS`]). An
//! order placed after the last write lowers the stock we wrote, correctly. An
//! order whose stock move is still in flight in WooCommerce (paid but no
//! `_reduced_stock` on its lines yet, or cancelled with it still there) keeps
//! the loop reading until the move has landed, and its products are read
//! back again by the next cycle.
//!
//! The cycle's own state (the order watermark, the last full reconciliation)
//! is the table `sync_state` ([`state`]).

mod pull;
mod push;
pub mod reconcile;
mod repair;
pub mod state;
mod summary;
mod verify;
pub mod webhook;

use std::{sync::Arc, time::Instant};

use chrono::{TimeDelta, Utc};
use futures::future::BoxFuture;
use sqlx::MySqlPool;

pub use self::summary::Summary;
use crate::{
    books::Books,
    channels::{
        ChannelError, StockChannel,
        ebay::EbayClient,
        outbox::{self, DrainError},
        retry::RetryPolicy,
        woocommerce::WooClient,
    },
    config::{PickPriority, TenantConfig},
    db::lock::{CheckError, LockCheck},
    events::{self, Event, Severity},
    metrics::{Metrics, OutcomeLabels},
};

/// Verify rounds after the first write; a write still unverified then is left for the next cycle.
pub const MAX_VERIFY_ROUNDS: u32 = 5;
/// The job that runs the cycle, and the name of its advisory lock (`qm:<tenant>:poller`).
pub const JOB: &str = "inventory_poll";
pub const LOCK: &str = "poller";

/// A point of the cycle an [`Observer`] is told of.
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

/// Watches a cycle step by step (a bench's phase clock, a test placing an
/// order between two steps). The cycle awaits it before going on.
pub trait Observer: Send + Sync {
    fn at(&self, step: Step) -> BoxFuture<'static, ()>;
}

impl<F> Observer for F
where
    F: Fn(Step) -> BoxFuture<'static, ()> + Send + Sync,
{
    fn at(&self, step: Step) -> BoxFuture<'static, ()> {
        self(step)
    }
}

/// What the cycle is asked to do, from the tenant file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Order statuses that hold stock (`woocommerce.order_statuses`).
    pub reservable: Vec<String>,
    /// The tenant's pick priority rules, applied to the queue each cycle.
    pub pick_priority: Vec<PickPriority>,
    /// How far before the watermark orders are read again (`polling.order_overlap_seconds`).
    pub overlap: TimeDelta,
    /// Push products that never had stock in Quartermaster (`woocommerce.push_unstocked`).
    pub push_unstocked: bool,
    /// How often the whole catalog's store stock is read and corrected (`polling.reconcile_minutes`).
    pub reconcile_every: TimeDelta,
    /// How often, at the least, the open orders are read again by id (`polling.open_orders_minutes`).
    pub open_orders_every: TimeDelta,
    /// Up to how many open orders they are read again on every cycle ([`reconcile::EVERY_CYCLE_UP_TO`]).
    pub open_orders_every_cycle_up_to: usize,
}

impl Settings {
    pub fn of(c: &TenantConfig) -> Self {
        Self {
            reservable: c.woocommerce.order_statuses.clone(),
            pick_priority: c.pick_priority.clone(),
            overlap: TimeDelta::seconds(i64::from(c.polling.order_overlap_seconds)),
            push_unstocked: c.woocommerce.push_unstocked,
            reconcile_every: TimeDelta::minutes(i64::from(c.polling.reconcile_minutes)),
            open_orders_every: TimeDelta::minutes(i64::from(c.polling.open_orders_minutes)),
            open_orders_every_cycle_up_to: reconcile::EVERY_CYCLE_UP_TO,
        }
    }
}

/// Everything a cycle reaches, handed in by whoever builds it.
#[derive(Clone)]
pub struct Deps {
    pub pool: MySqlPool,
    pub woo: Arc<WooClient>,
    /// eBay, when the tenant lists there.
    pub ebay: Option<Arc<EbayClient>>,
    pub retry: RetryPolicy,
    /// The tenant's books when accounting is on: WooCommerce refunds are then
    /// recorded (and their restocked units put back into lots).
    pub books: Option<Books>,
    /// Where cycles, pushes and reservations are counted (`/metrics`).
    pub metrics: Option<Arc<Metrics>>,
    pub settings: Settings,
}

/// Why a cycle stopped. Nothing after the failure was written.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    LockLost(String),
    #[error("reading orders changed since {since} (GMT): {source}")]
    ReadOrders { since: String, source: ChannelError },
    #[error("reading {count} skipped orders again: {source}")]
    ReadSkipped { count: usize, source: ChannelError },
    #[error("reading {count} open orders again by id: {source}")]
    ReadOpen { count: usize, source: ChannelError },
    #[error("re-reading orders after a push (verify round {round}): {source}")]
    Verify { round: u32, source: ChannelError },
    #[error("mirroring order {order}: database: {source}")]
    Mirror { order: u64, source: sqlx::Error },
    #[error("re-reserving order {order}: database: {source}")]
    Repair { order: u64, source: sqlx::Error },
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

impl From<CheckError> for SyncError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Lost(_) => SyncError::LockLost(e.to_string()),
            CheckError::Db(e) => SyncError::Db(e),
        }
    }
}

impl From<DrainError> for SyncError {
    fn from(e: DrainError) -> Self {
        match e {
            DrainError::LockLost(_) => SyncError::LockLost(e.to_string()),
            DrainError::Db(e) => SyncError::Db(e),
        }
    }
}

/// A cycle that stopped: the summary so far and why.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct CycleFailed {
    pub error: SyncError,
    pub summary: Box<Summary>,
}

/// What a dry run would push for one SKU.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Planned {
    pub sku: String,
    /// The store's value as read now (none: the store holds no number).
    pub store: Option<i64>,
    pub new: i64,
}

/// The stock sync of one tenant.
pub struct StockSync {
    d: Deps,
    observer: Option<Arc<dyn Observer>>,
}

impl StockSync {
    pub fn new(deps: Deps) -> Self {
        Self { d: deps, observer: None }
    }

    /// The same sync, telling `observer` of every step.
    pub fn observed_by(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Stops telling an observer.
    pub fn unobserved(mut self) -> Self {
        self.observer = None;
        self
    }

    /// The store client the cycle reads and writes.
    pub fn woo(&self) -> &Arc<WooClient> {
        &self.d.woo
    }

    async fn at(&self, step: Step) {
        if let Some(o) = &self.observer {
            o.at(step).await;
        }
    }

    fn requests(&self) -> u64 {
        self.d.woo.requests() + self.d.ebay.as_ref().map_or(0, |e| e.requests())
    }

    /// One full cycle under `lock` (held by the caller: `jobs::run_guarded`).
    /// The cycle is told to the event log and the metrics either way.
    #[tracing::instrument(skip_all, fields(lock = %lock.name))]
    pub async fn run_once(&self, lock: &LockCheck) -> Result<Summary, CycleFailed> {
        self.run(lock, None).await
    }

    /// A short cycle for these store orders only (webhooks named them), under
    /// the same lock: they are read by id, mirrored and reserved, their
    /// products read back, pushed and verified. The order watermark, the
    /// open-order reconciliation and the catalog reconciliation are the full
    /// cycle's.
    #[tracing::instrument(skip_all, fields(lock = %lock.name, orders = orders.len()))]
    pub async fn run_for(&self, orders: &[u64], lock: &LockCheck) -> Result<Summary, CycleFailed> {
        self.run(lock, Some(orders)).await
    }

    async fn run(&self, lock: &LockCheck, scope: Option<&[u64]>) -> Result<Summary, CycleFailed> {
        let started = Instant::now();
        let requests_before = self.requests();
        let mut s = Summary { scope: scope.map(<[u64]>::to_vec), ..Summary::default() };
        let outcome = self.cycle(lock, &mut s, scope).await;
        s.requests = self.requests() - requests_before;
        s.duration_ms = started.elapsed().as_millis() as u64;
        if let Some(m) = &self.d.metrics {
            let outcome = if outcome.is_ok() { "ok" } else { "failed" };
            m.sync_cycles.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
            m.sync_cycle_duration.observe(started.elapsed().as_secs_f64());
            m.units_reserved.inc_by(u64::from(s.units_reserved));
        }
        match outcome {
            Ok(()) => {
                let severity = if s.errors.is_empty() && s.orders_skipped.is_empty() { Severity::Info } else { Severity::Warning };
                if let Err(e) = events::record(&self.d.pool, Event::info("sync.cycle", s.to_string()).severity(severity)).await {
                    return Err(CycleFailed { error: e.into(), summary: Box::new(s) });
                }
                Ok(s)
            }
            Err(error) => {
                let msg = format!("sync cycle failed, nothing more was pushed: {error}");
                tracing::error!(error = %msg, "sync cycle failed");
                // The event is best effort: the database may be what failed.
                let _ =
                    events::record(&self.d.pool, Event::info("sync.cycle_failed", format!("{msg} ({s})")).severity(Severity::Error)).await;
                Err(CycleFailed { error, summary: Box::new(s) })
            }
        }
    }

    async fn cycle(&self, lock: &LockCheck, s: &mut Summary, scope: Option<&[u64]>) -> Result<(), SyncError> {
        let pool = &self.d.pool;
        let pulled = match scope {
            None => {
                crate::runs::close_abandoned(pool, JOB).await?;
                let pulled = self.pull(lock, s).await?;
                s.orders_repaired = self.repair(lock).await?;
                pulled
            }
            Some(ids) => self.pull_these(ids, lock, s).await?,
        };
        // Orders that entered the queue (or changed) get their rank before anyone opens the queue page.
        crate::station::queue::prioritise(pool, &self.d.settings.pick_priority).await?;
        let mut to_check = pulled.folded.touched.clone();
        to_check.extend(self.record_refunds(&pulled.list, s).await?);
        self.at(Step::Reserved(0)).await;

        // Products to read back: those orders touched, or the whole catalog when due.
        s.reconciled = scope.is_none() && state::reconcile_due(pool, self.d.settings.reconcile_every).await?;
        if s.reconciled {
            to_check = self.pushable_products(None).await?;
        }
        let written = self.observe_and_push(&to_check, s, lock, 0).await?;
        if s.reconciled {
            state::set(pool, state::RECONCILED, &Utc::now().to_rfc3339()).await?;
        }
        self.verify(&pulled, written, s, lock).await?;

        // eBay: what differs from what it confirmed.
        if let Some(ebay) = &self.d.ebay {
            s.skus_queued += self.queue_changes("ebay", Some(push::EBAY_MIN_INTERVAL)).await?;
            let d = outbox::drain_guarded(pool, ebay.as_ref(), self.d.retry, Some(lock)).await?;
            self.pushed("ebay", &d, s).await?;
        }
        for (sku, at, err) in outbox::waiting(pool, "woocommerce").await? {
            s.waiting.push(format!("{sku} at {} ({err})", at.format("%H:%M:%S UTC")));
        }

        // Advance the watermark only past orders mirrored without error (a short cycle never read the feed).
        if scope.is_none() && s.errors.is_empty() {
            let mark = pulled.folded.newest.map(|n| n.and_utc()).unwrap_or(pulled.started).min(pulled.started);
            state::set(pool, state::WATERMARK, &mark.to_rfc3339()).await?;
        }
        Ok(())
    }
}
