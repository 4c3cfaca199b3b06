//! Quantities out: read the store's stock back, record it, queue every
//! product whose truth differs, and push through the durable outbox.

use std::collections::BTreeSet;

use chrono::{TimeDelta, Utc};

use super::{Planned, Step, StockSync, Summary, SyncError};
use crate::{
    channels::outbox,
    db::lock::LockCheck,
    events::{self, Event},
    inventory::{reserve, stock},
};

/// eBay allows ~250 revisions a listing a day: increases wait this long after the last push.
pub(super) const EBAY_MIN_INTERVAL: TimeDelta = TimeDelta::minutes(15);

impl StockSync {
    /// Reads the store's stock of `products`, records it as what the store
    /// holds, queues every pushable product whose truth differs, and pushes.
    /// Returns the products written.
    pub(super) async fn observe_and_push(
        &self,
        products: &BTreeSet<u64>,
        s: &mut Summary,
        lock: &LockCheck,
        round: u32,
    ) -> Result<Vec<u64>, SyncError> {
        let pool = &self.d.pool;
        if !products.is_empty() {
            let items = stock::woo_items(pool, products).await?;
            let keys: Vec<(u64, Option<u64>)> = items.iter().map(|i| (i.woo_id, i.woo_parent_id)).collect();
            match self.d.woo.stock_of(&keys).await {
                Ok(found) => {
                    s.skus_checked += items.len() as u32;
                    let observed: Vec<(u64, i64)> =
                        items.iter().filter_map(|i| found.get(&i.woo_id).copied().flatten().map(|q| (i.id, q))).collect();
                    s.drift_corrected += self.record_observed(&observed).await?;
                }
                // Without the read, what the store confirmed last stands; the next cycle reads again.
                Err(e) => s.errors.push(format!("reading store stock of {} products: {e}", items.len())),
            }
        }
        self.at(Step::Observed(round)).await;
        s.skus_queued += self.queue_changes("woocommerce", None).await?;
        let d = outbox::drain_guarded(pool, self.d.woo.as_ref(), self.d.retry, Some(lock)).await?;
        self.pushed("woocommerce", &d, s).await?;
        self.at(Step::Pushed(round)).await;
        Ok(d.confirmed_ids)
    }

    /// Counts a drain into the summary and the metrics, and tells the event
    /// log what the channel took (refusals are told one by one by the outbox).
    pub(super) async fn pushed(&self, channel: &str, d: &outbox::Drained, s: &mut Summary) -> Result<(), sqlx::Error> {
        s.skus_pushed += d.confirmed;
        s.items_rejected += d.rejected;
        s.items_deferred += d.deferred;
        if let Some(m) = &self.d.metrics {
            m.observe_pushes(channel, d.confirmed, d.rejected, d.deferred);
        }
        if d.confirmed > 0 {
            let msg = format!("{channel} took {} stock quantit{}", d.confirmed, if d.confirmed == 1 { "y" } else { "ies" });
            events::record(&self.d.pool, Event::info("stock.pushed", msg)).await?;
        }
        Ok(())
    }

    /// Every product this cycle may push (or `only` those).
    pub(super) async fn pushable_products(&self, only: Option<&BTreeSet<u64>>) -> Result<BTreeSet<u64>, sqlx::Error> {
        let ids = stock::woo_pushable(&self.d.pool, self.d.settings.push_unstocked).await?;
        Ok(ids.into_iter().filter(|i| only.is_none_or(|o| o.contains(i))).collect())
    }

    /// Records what the store holds now; returns how many differ from the
    /// truth although Quartermaster believed the store agreed (drift).
    async fn record_observed(&self, observed: &[(u64, i64)]) -> Result<u32, sqlx::Error> {
        if observed.is_empty() {
            return Ok(0);
        }
        let pool = &self.d.pool;
        let products: Vec<u64> = observed.iter().map(|(p, _)| *p).collect();
        let truth = reserve::available_many(pool, &products).await?;
        let known = outbox::confirmed(pool, "woocommerce", &products).await?;
        let drift = observed
            .iter()
            .filter(|(product, store)| {
                let t = truth.get(product).copied().unwrap_or(0);
                known.get(product) == Some(&t) && *store != t
            })
            .count();
        outbox::record_shown(pool, "woocommerce", observed).await?;
        Ok(drift as u32)
    }

    /// Queues every product whose available quantity differs from what the
    /// channel last confirmed (or showed). Returns how many were queued.
    pub(super) async fn queue_changes(&self, channel: &str, min_interval: Option<TimeDelta>) -> Result<u32, sqlx::Error> {
        let rows = stock::out_of_step(&self.d.pool, stock::Audience { channel, unstocked: self.d.settings.push_unstocked }).await?;
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
        outbox::enqueue_many(&self.d.pool, channel, &updates).await?;
        Ok(rows.len() as u32)
    }

    /// What a cycle would push now, per product: the SKU, the store's value
    /// as read now, the new value. Reads the store's stock; writes nothing.
    pub async fn dry_run(&self) -> Result<Vec<Planned>, SyncError> {
        let pool = &self.d.pool;
        let products = self.pushable_products(None).await?;
        let items = stock::woo_items(pool, &products).await?;
        let keys: Vec<(u64, Option<u64>)> = items.iter().map(|i| (i.woo_id, i.woo_parent_id)).collect();
        let store = self.d.woo.stock_of(&keys).await?;
        let truth = reserve::available_many(pool, &items.iter().map(|i| i.id).collect::<Vec<_>>()).await?;
        let skus = stock::woo_skus(pool).await?;
        let mut out: Vec<Planned> = items
            .iter()
            .filter_map(|i| {
                let now = store.get(&i.woo_id).copied().flatten();
                let t = truth.get(&i.id).copied().unwrap_or(0);
                (now != Some(t)).then(|| Planned { sku: skus.get(&i.id).cloned().unwrap_or_default(), store: now, new: t })
            })
            .collect();
        out.sort();
        Ok(out)
    }
}
