//! Tracking write-backs WooCommerce did not take yet (it was down at ship
//! time). Schedule: every minute at second 40, with the fulfillment module.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::{Value, json};
use sqlx::MySqlPool;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, channels::woocommerce::WooClient};

struct ShipmentWriteback {
    pool: MySqlPool,
    woo: Arc<WooClient>,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(ShipmentWriteback { pool: state.pool.clone(), woo: state.woo.clone() }))
}

impl CronJob for ShipmentWriteback {
    fn default_schedule(&self) -> String {
        "40 * * * * *".into()
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async {
            let (done, failing) = crate::station::ship::write_back_pending(&self.pool, self.woo.clone()).await?;
            Ok(json!({ "done": done, "failing": failing }))
        }
        .boxed()
    }
}
