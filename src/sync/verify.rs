//! The verify loop: after every write, read the orders again and fold in
//! what changed, until a read after the last write shows no change.

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use super::{MAX_VERIFY_ROUNDS, Step, StockSync, Summary, SyncError, pull::Pulled};
use crate::db::lock::LockCheck;

/// How long a round waits for WooCommerce to finish a stock move it has begun.
const IN_FLIGHT_PAUSE: Duration = Duration::from_millis(100);

impl StockSync {
    /// Reads the orders again after every write; folds in what changed and
    /// corrects it. Also while an order whose stock move WooCommerce has not
    /// finished touches a product written this cycle: its move may land after
    /// our write (a cancellation's restock would then over-state it).
    pub(super) async fn verify(&self, pulled: &Pulled, mut written: Vec<u64>, s: &mut Summary, lock: &LockCheck) -> Result<(), SyncError> {
        let mut unsettled: HashMap<u64, BTreeSet<u64>> = pulled.unsettled.clone();
        let mut written_all: BTreeSet<u64> = written.iter().copied().collect();
        let mut round = 0;
        loop {
            let in_flight = unsettled.values().flatten().any(|p| written_all.contains(p));
            if written.is_empty() && !in_flight {
                return Ok(());
            }
            if round == MAX_VERIFY_ROUNDS {
                s.unverified = if written.is_empty() {
                    unsettled.values().flatten().filter(|p| written_all.contains(p)).count()
                } else {
                    written.len()
                } as u32;
                return Ok(());
            }
            if written.is_empty() {
                // Only a move in flight: give WooCommerce's request a moment to finish.
                tokio::time::sleep(IN_FLIGHT_PAUSE).await;
            }
            round += 1;
            s.verify_rounds = round;
            let late = self
                .d
                .woo
                .orders_modified_after(pulled.started - self.d.settings.overlap)
                .await
                .map_err(|source| SyncError::Verify { round, source })?;
            self.at(Step::Pulled(round)).await;
            let before = unsettled.clone();
            let f = self.fold(&late, s, lock, true, &mut unsettled, &pulled.rejected).await?;
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
            written = self.observe_and_push(&changed, s, lock, round).await?;
            written_all.extend(&written);
        }
    }
}
