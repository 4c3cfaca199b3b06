//! The open orders read again by id. WooCommerce changes orders without
//! putting them in its change feed: a REST line edit moves stock but not
//! `date_modified_gmt`, and a trashed order leaves every listing but
//! `status=trash` (pinned in `tests/api/woo_contract.rs`). So every order
//! Quartermaster holds something for (open reservations, a pick-queue row not
//! shipped) is read again by id, 100 a request: every cycle while there are
//! at most [`EVERY_CYCLE_UP_TO`], and at least every
//! `polling.open_orders_minutes` when there are more. The mirror compares
//! what it follows (status, lines, refunds) whatever the modified date says.

use chrono::{DateTime, Utc};

use super::{StockSync, Summary, SyncError, state};
use crate::{
    channels::{ChannelError, StockChannel, woocommerce::types::Order},
    inventory::orders,
};

/// Open orders read again on every cycle while there are at most this many
/// (one request); above it, every `polling.open_orders_minutes`.
pub const EVERY_CYCLE_UP_TO: usize = 100;

/// What a reconciliation found.
#[derive(Default)]
pub(super) struct Reread {
    /// The open orders as the store has them now (trashed ones included).
    pub orders: Vec<Order>,
    /// Open orders the store no longer has (it answered 404): deleted for good.
    pub deleted: Vec<u64>,
}

impl StockSync {
    /// The open orders not in `already` (this cycle's change feed), read
    /// again when due. `now`: the cycle's start.
    pub(super) async fn reread_open(&self, already: &[Order], now: DateTime<Utc>, s: &mut Summary) -> Result<Reread, SyncError> {
        let pool = &self.d.pool;
        let open = orders::open_woo_ids(pool).await?;
        s.open_orders = u32::try_from(open.len()).unwrap_or(u32::MAX);
        let due = open.len() <= self.d.settings.open_orders_every_cycle_up_to
            || state::due(pool, state::OPEN_CHECKED, self.d.settings.open_orders_every, now).await?;
        if !due || open.is_empty() {
            return Ok(Reread::default());
        }
        let ids: Vec<u64> = open.into_iter().filter(|id| !already.iter().any(|o| o.id == *id)).collect();
        let before = self.d.woo.requests();
        let out = self.read_by_id(&ids).await.map_err(|source| SyncError::ReadOpen { count: ids.len(), source })?;
        s.open_checked = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        s.open_requests = self.d.woo.requests() - before;
        state::set(pool, state::OPEN_CHECKED, &now.to_rfc3339()).await?;
        Ok(out)
    }

    /// These store orders as the store has them now, trashed ones included,
    /// and those it no longer has: `include=` 100 a request (`status=any`
    /// leaves the trash out, so what is missing is asked for with
    /// `status=trash`, and what is still missing by id: 404, deleted).
    pub(super) async fn read_by_id(&self, ids: &[u64]) -> Result<Reread, ChannelError> {
        let mut out = Reread { orders: self.d.woo.orders_by_id(ids).await?, deleted: Vec::new() };
        let missing: Vec<u64> = ids.iter().copied().filter(|id| !out.orders.iter().any(|o| o.id == *id)).collect();
        if !missing.is_empty() {
            out.orders.extend(self.d.woo.orders_by_id_in(&missing, "trash").await?);
            let still: Vec<u64> = missing.into_iter().filter(|id| !out.orders.iter().any(|o| o.id == *id)).collect();
            for id in still {
                match self.d.woo.order(id).await? {
                    Some(o) => out.orders.push(o),
                    None => out.deleted.push(id),
                }
            }
        }
        Ok(out)
    }
}
