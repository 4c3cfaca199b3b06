//! Asks the carrier how undelivered shipments are doing (see
//! [`crate::station::tracking`]). Schedule: every 30 minutes at minute 7 and
//! 37, with fulfillment and a carrier.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::{app::AppState, channels::woocommerce::WooClient, config::Tracking, fulfillment::carrier::Carrier};

struct TrackingSweep {
    pool: MySqlPool,
    carrier: Arc<dyn Carrier>,
    woo: Arc<WooClient>,
    cfg: Tracking,
}

pub fn job(state: &AppState) -> anyhow::Result<Option<Arc<dyn CronJob>>> {
    let Some(carrier) = state.carrier.clone().filter(|_| state.config.modules.fulfillment) else { return Ok(None) };
    Ok(Some(Arc::new(TrackingSweep { pool: state.pool.clone(), carrier, woo: state.woo.clone(), cfg: state.config.tracking.clone() })))
}

impl CronJob for TrackingSweep {
    fn name(&self) -> &'static str {
        "tracking_sweep"
    }
    fn default_schedule(&self) -> String {
        "0 7,37 * * * *".into()
    }
    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(25 * 60)
    }
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(crate::station::tracking::sweep(&self.pool, self.carrier.clone(), &self.woo, &self.cfg).await?)?) }
            .boxed()
    }
}
