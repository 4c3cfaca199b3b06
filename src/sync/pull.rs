//! Orders in: the read since the watermark, the mirror and reservation of
//! each order (one transaction each, the lock checked inside), and the
//! WooCommerce refunds the books record.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use super::{Step, StockSync, Summary, SyncError, state};
use crate::{
    books::{BooksError, refunds},
    channels::woocommerce::types::Order,
    db::lock::LockCheck,
    events::{self, Event, Severity},
    inventory::{
        FIRST_LOOKBACK_DAYS,
        orders::{self, MirrorError},
        stock,
    },
    station::queue::STATION_QUEUE,
};

/// How long after an order's change WooCommerce may still be moving its stock.
const IN_FLIGHT_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// Statuses in which WooCommerce holds an order's stock reduced.
fn holds_stock(status: &str) -> bool {
    matches!(status, "processing" | "completed" | "on-hold")
}

/// The WooCommerce product (or variation) a line sells.
fn woo_product(l: &crate::channels::woocommerce::types::LineItem) -> u64 {
    if l.variation_id > 0 { l.variation_id } else { l.product_id }
}

/// What round 0 read and did.
pub(super) struct Pulled {
    /// When the read started: the verify rounds read from here (less the overlap).
    pub started: DateTime<Utc>,
    pub list: Vec<Order>,
    /// Orders skipped by an earlier cycle (listed in `sync_rejects`).
    pub rejected: BTreeSet<u64>,
    pub folded: Folded,
    /// Orders whose stock move WooCommerce has not finished, with their products.
    pub unsettled: HashMap<u64, BTreeSet<u64>>,
}

#[derive(Default, Clone)]
pub(super) struct Folded {
    pub newest: Option<NaiveDateTime>,
    /// Products of changed or unsettled orders.
    pub touched: BTreeSet<u64>,
    /// Products of changed orders only.
    pub changed_products: BTreeSet<u64>,
}

impl StockSync {
    /// Round 0: the orders changed since the watermark, and those skipped
    /// before (read again by id: a fix in WooCommerce may not move their
    /// modified date), mirrored and reserved.
    pub(super) async fn pull(&self, lock: &LockCheck, s: &mut Summary) -> Result<Pulled, SyncError> {
        let pool = &self.d.pool;
        let started = Utc::now();
        let watermark = state::watermark(pool).await?;
        let since = watermark.unwrap_or(started - TimeDelta::days(FIRST_LOOKBACK_DAYS)) - self.d.settings.overlap;
        let mut list = self
            .d
            .woo
            .orders_modified_after(since)
            .await
            .map_err(|source| SyncError::ReadOrders { since: since.format("%Y-%m-%d %H:%M:%S").to_string(), source })?;
        let rejected: BTreeSet<u64> = orders::rejected_ids(pool).await?.into_iter().collect();
        let skipped: Vec<u64> = rejected.iter().copied().filter(|id| !list.iter().any(|o| o.id == *id)).collect();
        if !skipped.is_empty() {
            let again =
                self.d.woo.orders_by_id(&skipped).await.map_err(|source| SyncError::ReadSkipped { count: skipped.len(), source })?;
            let gone: Vec<u64> = skipped.iter().copied().filter(|id| !again.iter().any(|o| o.id == *id)).collect();
            orders::forget_rejects(pool, &gone).await?;
            list.extend(again);
        }
        self.at(Step::Pulled(0)).await;
        let mut unsettled = HashMap::new();
        let folded = self.fold(&list, s, lock, false, &mut unsettled, &rejected).await?;
        Ok(Pulled { started, list, rejected, folded, unsettled })
    }

    /// Mirrors and reserves a list of orders (one transaction each). Orders
    /// WooCommerce has not moved stock for yet (a paid order without
    /// `_reduced_stock`, a cancelled one still with it) are tracked in
    /// `unsettled` by order id, with the products they touch. `late`: the
    /// orders of a verify round, counted as folded in.
    pub(super) async fn fold(
        &self,
        list: &[Order],
        s: &mut Summary,
        lock: &LockCheck,
        late: bool,
        unsettled: &mut HashMap<u64, BTreeSet<u64>>,
        rejected: &BTreeSet<u64>,
    ) -> Result<Folded, SyncError> {
        let pool = &self.d.pool;
        let mut out = Folded::default();
        let woo_ids: BTreeSet<u64> = list.iter().flat_map(|o| o.line_items.iter().map(woo_product)).collect();
        let by_woo = stock::holders_by_woo_id(pool, &woo_ids).await?;
        for o in list {
            if !late {
                s.orders_seen += 1;
            }
            let products: BTreeSet<u64> = o.line_items.iter().filter_map(|l| by_woo.get(&woo_product(l)).copied()).collect();
            // Only a recent change can still have its stock move in flight; an
            // old order without one (paid before the product managed stock) never will.
            let recent = NaiveDateTime::parse_from_str(&o.date_modified_gmt, "%Y-%m-%dT%H:%M:%S")
                .is_ok_and(|m| Utc::now().naive_utc() - m < IN_FLIGHT_WINDOW);
            let pending: BTreeSet<u64> = o
                .line_items
                .iter()
                .filter(|l| recent && l.quantity > 0 && holds_stock(&o.status) != (l.reduced_stock() > 0))
                .filter_map(|l| by_woo.get(&woo_product(l)).copied())
                .collect();
            if pending.is_empty() {
                unsettled.remove(&o.id);
            } else {
                unsettled.insert(o.id, pending.clone());
                out.touched.extend(pending);
            }
            match orders::mirror_and_reserve(pool, o, &self.d.settings.reservable, Some(lock), &STATION_QUEUE).await {
                Ok((orders::Mirrored::Changed(_), r)) => {
                    // Skipped before, taken now: no longer listed (a write only then, off the common path).
                    if rejected.contains(&o.id) {
                        orders::clear_reject(pool, o.id).await?;
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
                        events::record(pool, Event::info(kind, msg).severity(severity).about("woo_order", o.id)).await?;
                    }
                    out.touched.extend(&products);
                    out.changed_products.extend(&products);
                }
                Ok((orders::Mirrored::Unchanged(_), _)) => {}
                Err(e @ (MirrorError::Malformed { .. } | MirrorError::Refused { .. })) => {
                    // One bad order never stops the sync: it is recorded, shown and skipped;
                    // its next version in WooCommerce is read again.
                    let msg = e.to_string();
                    if orders::reject(pool, o.id, &o.date_modified_gmt, &msg).await? {
                        events::record(
                            pool,
                            Event::info("sync.order_skipped", format!("{msg}; skipped, every other order keeps flowing"))
                                .severity(Severity::Error)
                                .about("woo_order", o.id),
                        )
                        .await?;
                    }
                    if !s.orders_skipped.contains(&msg) {
                        s.orders_skipped.push(msg);
                    }
                }
                Err(e @ MirrorError::LockLost(_)) => return Err(SyncError::LockLost(e.to_string())),
                Err(MirrorError::Db(source)) => return Err(SyncError::Mirror { order: o.id, source }),
            }
            if !late && let Ok(m) = NaiveDateTime::parse_from_str(&o.date_modified_gmt, "%Y-%m-%dT%H:%M:%S") {
                out.newest = out.newest.max(Some(m));
            }
        }
        Ok(out)
    }

    /// Records the WooCommerce refunds not seen before of these orders (with
    /// accounting on). An order whose refund cannot be recorded is listed in
    /// `sync_rejects` with the reason and read again every cycle until it can.
    /// Returns the products whose lots took units back.
    pub(super) async fn record_refunds(&self, list: &[Order], s: &mut Summary) -> Result<BTreeSet<u64>, SyncError> {
        let pool = &self.d.pool;
        let mut touched = BTreeSet::new();
        let Some(books) = &self.d.books else { return Ok(touched) };
        let unseen = refunds::unseen(pool, list).await?;
        for o in list.iter().filter(|o| o.refunds.iter().any(|r| unseen.contains(&r.id))) {
            let outcome = match self.d.woo.refunds_of(o.id).await {
                Ok(found) => refunds::import_woo(pool, books, o, &found).await.map_err(|e| match e {
                    BooksError::Db(e) => format!("database: {e}"),
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
                            pool,
                            Event::info("sync.refund_not_restocked", note).severity(Severity::Warning).about("woo_order", o.id),
                        )
                        .await?;
                    }
                    if done.units_restocked > 0 {
                        let woo: BTreeSet<u64> = o.line_items.iter().map(woo_product).collect();
                        touched.extend(stock::holders_by_woo_id(pool, &woo).await?.into_values());
                    }
                    orders::clear_reject(pool, o.id).await?;
                }
                Err(reason) => {
                    let msg = format!("order {}: refund not recorded: {reason}", o.id);
                    if orders::reject(pool, o.id, &o.date_modified_gmt, &msg).await? {
                        events::record(
                            pool,
                            Event::info("sync.refund_skipped", msg.clone()).severity(Severity::Error).about("woo_order", o.id),
                        )
                        .await?;
                    }
                    if !s.orders_skipped.contains(&msg) {
                        s.orders_skipped.push(msg);
                    }
                }
            }
        }
        Ok(touched)
    }
}
