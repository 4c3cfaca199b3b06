//! What one cycle did, as the job run, the event log and `qm sync` show it.

use serde::Serialize;

/// What one cycle did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    /// A short cycle's store orders (webhooks named them); empty: a full cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<u64>>,
    pub orders_seen: u32,
    pub orders_changed: u32,
    /// Orders that changed while the cycle ran, folded in by its verify reads.
    pub orders_folded_in: u32,
    /// Orders whose reservations did not match their lines (a crashed run's), re-reserved.
    pub orders_repaired: u32,
    /// Orders that could not be taken (malformed, refused by the database): recorded in `sync_rejects` and skipped.
    #[serde(default)]
    pub orders_skipped: Vec<String>,
    /// Open orders Quartermaster holds something for, those read again by id
    /// this cycle, and the requests that took (`sync::reconcile`).
    #[serde(default)]
    pub open_orders: u32,
    #[serde(default)]
    pub open_checked: u32,
    #[serde(default)]
    pub open_requests: u64,
    /// Open orders the store deleted for good, released.
    #[serde(default)]
    pub orders_deleted: u32,
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
        if let Some(ids) = &self.scope {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            write!(f, "webhook, store orders {}: ", ids.join(", "))?;
        }
        write!(
            f,
            "orders seen {} (changed {}, folded in {}, repaired {}, skipped {}, deleted {}), open orders {} (read again {} in {} requests), units reserved {} released {} backordered {}, refunds {} (units restocked {}), SKUs checked {} (drift corrected {}{}), queued {} pushed {} rejected {} deferred {}, verify rounds {}{}, requests {}, errors {}, {} ms",
            self.orders_seen,
            self.orders_changed,
            self.orders_folded_in,
            self.orders_repaired,
            self.orders_skipped.len(),
            self.orders_deleted,
            self.open_orders,
            self.open_checked,
            self.open_requests,
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
