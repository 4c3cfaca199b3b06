//! Asks the carrier how undelivered shipments are doing (see
//! [`crate::station::tracking`]). Schedule: every 30 minutes at minute 7 and
//! 37, with fulfillment and a carrier.

use anyhow::Context;
use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, channels::woocommerce::WooClient, config::Tracking, fulfillment::carrier::Carrier};

struct TrackingSweep {
    pool: MySqlPool,
    carrier: Arc<dyn Carrier>,
    woo: Arc<WooClient>,
    cfg: Tracking,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    let carrier = state.carrier.clone().context("no carrier (ups)")?;
    Ok(Arc::new(TrackingSweep { pool: state.pool.clone(), carrier, woo: state.woo.clone(), cfg: state.config.tracking.clone() }))
}

impl CronJob for TrackingSweep {
    fn default_schedule(&self) -> String {
        "0 7,37 * * * *".into()
    }
    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(25 * 60)
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::station::tracking::sweep(&self.pool, self.carrier.clone(), &self.woo, &self.cfg).await?)?) }
            .boxed()
    }
}
