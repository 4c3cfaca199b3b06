//! The repair pass: orders whose reservations do not match their lines.

use super::{StockSync, SyncError};
use crate::{db::lock::LockCheck, inventory::reserve, station::queue::STATION_QUEUE};

impl StockSync {
    /// Re-reserves every order whose reservations do not match its lines:
    /// what a run killed between two writes of older versions could leave.
    /// Each order is one transaction that checks the lock before it writes.
    pub(super) async fn repair(&self, lock: &LockCheck) -> Result<u32, SyncError> {
        let reservable = &self.d.settings.reservable;
        let ids = reserve::orders_out_of_line(&self.d.pool, reservable).await?;
        for id in &ids {
            reserve::reserve_order_locked(&self.d.pool, *id, reservable, Some(lock), &STATION_QUEUE).await.map_err(|e| match e {
                crate::db::lock::CheckError::Db(source) => SyncError::Repair { order: id.0, source },
                lost => lost.into(),
            })?;
        }
        Ok(ids.len() as u32)
    }
}
