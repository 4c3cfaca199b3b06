//! Rebuilds the scanner's code lookup from the catalog (it serves from its
//! disk copy until then). Schedule: at start, then every 10 minutes at second 45.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::{Value, json};
use sqlx::MySqlPool;

use super::CronJob;
use crate::db::lock::LockCheck;
use crate::{app::AppState, inventory::lookup::CodeLookup};

struct CodeLookupRefresh {
    pool: MySqlPool,
    lookup: Arc<CodeLookup>,
}

pub fn job(state: &AppState) -> anyhow::Result<Arc<dyn CronJob>> {
    Ok(Arc::new(CodeLookupRefresh { pool: state.pool.clone(), lookup: state.lookup.clone() }))
}

impl CronJob for CodeLookupRefresh {
    fn default_schedule(&self) -> String {
        "45 */10 * * * *".into()
    }
    /// Each replica keeps its own copy in memory: every one refreshes.
    fn exclusive(&self) -> bool {
        false
    }
    fn at_start(&self) -> bool {
        true
    }
    fn run(&self, _lock: Option<LockCheck>) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(json!({ "codes": self.lookup.refresh(&self.pool).await? })) }.boxed()
    }
}
