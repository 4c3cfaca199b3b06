//! Reads the tenant's price feeds (see [`crate::quotes::price_feeds`]).
//! Schedule: every 15 minutes; each feed when its own schedule says so.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;

use super::CronJob;
use crate::{app::AppState, db::lock::LockCheck, quotes::price_feeds};

struct PriceFeeds {
    state: AppState,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(PriceFeeds { state: state.clone() }))
}

/// A pass over the feeds (`all`: every feed, due or not).
pub async fn run(st: &AppState, all: bool) -> anyhow::Result<Vec<price_feeds::FeedRun>> {
    let base_dir = st.loaded.base_dir();
    let feeds = price_feeds::Feeds {
        pool: &st.pool,
        lookup: &st.lookup,
        sources: &st.config.sources,
        currency: &st.config.tenant.currency,
        base_dir: &base_dir,
    };
    price_feeds::run(&feeds, all).await
}

impl CronJob for PriceFeeds {
    fn default_schedule(&self) -> String {
        "40 */15 * * * *".into()
    }
    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1800)
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(run(&self.state, false).await?)?) }.boxed()
    }
}
