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

/// Whether WooCommerce, on an order's move to `status`, holds its stock
/// reduced (paid) or gives it back (cancelled, back to pending); none for a
/// status it moves no stock for (the trash keeps it as it was, refunds move it
/// themselves).
fn moves_stock_to(status: &str) -> Option<bool> {
    match status {
        "processing" | "completed" | "on-hold" => Some(true),
        "cancelled" | "pending" => Some(false),
        _ => None,
    }
}

/// The WooCommerce product (or variation) a line sells.
fn woo_product(l: &crate::channels::woocommerce::types::LineItem) -> u64 {
    if l.variation_id > 0 { l.variation_id } else { l.product_id }
}

/// The event for an order the store trashed, restored or refunded in part
/// before it shipped (none for any other change: those are told as reserved).
fn store_moved(o: &Order, was: Option<&str>, r: crate::inventory::reserve::Outcome) -> Option<Event<'static>> {
    let (kind, what) = match (was, o.status.as_str()) {
        (Some(w), orders::TRASH) if w != orders::TRASH => ("order.trashed", "was trashed in the store"),
        (Some(orders::TRASH), now) if now != orders::TRASH => ("order.restored", "was restored from the store's trash"),
        _ => return None,
    };
    Some(
        Event::info(
            kind,
            format!(
                "order #{} {what}: {} unit(s) reserved, {} released, {} backordered",
                o.number, r.units_reserved, r.units_released, r.backordered
            ),
        )
        .severity(Severity::Warning),
    )
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
    /// Round 0 of a short cycle: just these store orders (a webhook named
    /// them), read by id, mirrored and reserved. The watermark stays.
    pub(super) async fn pull_these(&self, ids: &[u64], lock: &LockCheck, s: &mut Summary) -> Result<Pulled, SyncError> {
        let pool = &self.d.pool;
        let started = Utc::now();
        let read = self.read_by_id(ids).await.map_err(|source| SyncError::ReadOpen { count: ids.len(), source })?;
        let rejected: BTreeSet<u64> = orders::rejected_ids(pool).await?.into_iter().collect();
        self.at(Step::Pulled(0)).await;
        let mut unsettled = HashMap::new();
        let mut folded = self.fold(&read.orders, s, lock, false, &mut unsettled, &rejected).await?;
        for woo_id in read.deleted {
            folded.touched.extend(self.deleted(woo_id, lock, s).await?);
        }
        Ok(Pulled { started, list: read.orders, rejected, folded, unsettled })
    }

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
        // The open orders, read again by id: the feed misses line edits and trash.
        let reread = self.reread_open(&list, started, s).await?;
        list.extend(reread.orders);
        self.at(Step::Pulled(0)).await;
        let mut unsettled = HashMap::new();
        let mut folded = self.fold(&list, s, lock, false, &mut unsettled, &rejected).await?;
        for woo_id in reread.deleted {
            folded.touched.extend(self.deleted(woo_id, lock, s).await?);
        }
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
        // Orders whose refunds differ from those their lines were netted for: their refunds are read.
        let order_ids: Vec<u64> = list.iter().map(|o| o.id).collect();
        let netted = orders::netted_refunds(pool, &order_ids).await?;
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
                // A line refunded in full and restocked holds no stock any more.
                .filter(|l| {
                    recent
                        && l.quantity - l.restocked_by_refunds() > 0
                        && moves_stock_to(&o.status).is_some_and(|held| held != (l.reduced_stock() > 0))
                })
                .filter_map(|l| by_woo.get(&woo_product(l)).copied())
                .collect();
            if pending.is_empty() {
                unsettled.remove(&o.id);
            } else {
                unsettled.insert(o.id, pending.clone());
                out.touched.extend(pending);
            }
            let refunds = if netted.get(&o.id).map_or("", String::as_str) == orders::refund_ids(o) {
                None
            } else {
                match self.d.woo.refunds_of(o.id).await {
                    Ok(r) => Some(r),
                    Err(e) => {
                        self.skip(o, &format!("order {}: its refunds could not be read: {e}", o.id), s).await?;
                        continue;
                    }
                }
            };
            match orders::mirror_and_reserve(pool, o, refunds.as_deref(), &self.d.settings.reservable, Some(lock), &STATION_QUEUE).await {
                Ok((orders::Mirrored::Changed(_), r, was)) => {
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
                    if let Some(e) = store_moved(o, was.as_deref(), r) {
                        events::record(pool, e.about("woo_order", o.id)).await?;
                    } else if r.units_reserved + r.units_released + r.backordered > 0 {
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
                Ok((orders::Mirrored::Unchanged(_), ..)) => {
                    // Put back as it was (a frozen order's edit undone): no longer listed.
                    if rejected.contains(&o.id) {
                        orders::clear_reject(pool, o.id).await?;
                    }
                }
                // One bad order never stops the sync: it is recorded, shown and skipped;
                // it is read again by id every cycle.
                Err(e @ (MirrorError::Malformed { .. } | MirrorError::Refused { .. })) => {
                    self.skip(o, &e.to_string(), s).await?;
                }
                // The store moved its stock for an edit of what is in the box:
                // the truth is pushed back while a person looks at it.
                Err(e @ MirrorError::Frozen { .. }) => {
                    self.skip(o, &e.to_string(), s).await?;
                    out.touched.extend(&products);
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

    /// Lists an order the mirror could not take in `sync_rejects` (the home
    /// page and the dashboard show it), told once per version.
    async fn skip(&self, o: &Order, msg: &str, s: &mut Summary) -> Result<(), SyncError> {
        let pool = &self.d.pool;
        if orders::reject(pool, o.id, &o.date_modified_gmt, msg).await? {
            events::record(
                pool,
                Event::info("sync.order_skipped", format!("{msg}; skipped, every other order keeps flowing"))
                    .severity(Severity::Error)
                    .about("woo_order", o.id),
            )
            .await?;
        }
        if !s.orders_skipped.iter().any(|m| m == msg) {
            s.orders_skipped.push(msg.to_owned());
        }
        Ok(())
    }

    /// An open order the store deleted for good (404): released, off the
    /// pick list, told. Returns the products to read back.
    async fn deleted(&self, woo_id: u64, lock: &LockCheck, s: &mut Summary) -> Result<BTreeSet<u64>, SyncError> {
        let pool = &self.d.pool;
        match orders::mirror_deleted(pool, woo_id, &self.d.settings.reservable, Some(lock), &STATION_QUEUE).await {
            Ok(Some((id, number, r))) => {
                s.orders_deleted += 1;
                s.units_released += r.units_released;
                let msg = format!("order #{number} was deleted in the store: {} unit(s) released, off the pick list", r.units_released);
                events::record(pool, Event::info("order.deleted", msg).severity(Severity::Warning).about("woo_order", woo_id)).await?;
                Ok(orders::products_of(pool, id).await?.into_iter().collect())
            }
            Ok(None) => Ok(BTreeSet::new()),
            Err(e @ MirrorError::Frozen { .. }) => {
                let msg = e.to_string();
                if orders::reject(pool, woo_id, "", &msg).await? {
                    events::record(
                        pool,
                        Event::info("sync.order_skipped", msg.clone()).severity(Severity::Error).about("woo_order", woo_id),
                    )
                    .await?;
                }
                s.orders_skipped.push(msg);
                Ok(BTreeSet::new())
            }
            Err(e @ MirrorError::LockLost(_)) => Err(SyncError::LockLost(e.to_string())),
            Err(MirrorError::Db(source)) => Err(SyncError::Mirror { order: woo_id, source }),
            Err(e) => Err(SyncError::LockLost(e.to_string())),
        }
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
