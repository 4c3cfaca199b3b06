//! Mirrors the WooCommerce catalog (products, variations, GTINs,
//! manage_stock). Schedule: hourly at minute 17, with inventory sync.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, channels::woocommerce::WooClient};

struct CatalogSync {
    pool: MySqlPool,
    woo: Arc<WooClient>,
    currency: String,
    fix_manage_stock: bool,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    let c = &state.config;
    Ok(Arc::new(CatalogSync {
        pool: state.pool.clone(),
        woo: state.woo.clone(),
        currency: c.tenant.currency.clone(),
        fix_manage_stock: c.woocommerce.fix_manage_stock,
    }))
}

impl CronJob for CatalogSync {
    fn default_schedule(&self) -> String {
        "0 17 * * * *".into()
    }
    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1800)
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async {
            let s = crate::inventory::catalog::sync_from_woo(&self.pool, &self.woo, &self.currency, self.fix_manage_stock).await?;
            Ok(serde_json::to_value(s)?)
        }
        .boxed()
    }
}
