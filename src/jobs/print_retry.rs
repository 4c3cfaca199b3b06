//! Resends queued print jobs whose retry time has come. Schedule: every
//! minute at second 15, when the tenant has printers.

use std::sync::Arc;

use futures::{FutureExt, future::BoxFuture};
use serde_json::Value;
use sqlx::MySqlPool;

use super::CronJob;
use crate::{
    app::AppState,
    config::Printer,
    printing::ipp::{self, Attempt, PrinterTarget},
};

struct PrintRetry {
    pool: MySqlPool,
    printers: Vec<Printer>,
}

pub fn job(state: &AppState) -> anyhow::Result<Option<Arc<dyn CronJob>>> {
    if state.config.printers.is_empty() {
        return Ok(None);
    }
    Ok(Some(Arc::new(PrintRetry { pool: state.pool.clone(), printers: state.config.printers.clone() })))
}

impl CronJob for PrintRetry {
    fn name(&self) -> &'static str {
        "print_retry"
    }
    fn default_schedule(&self) -> String {
        "15 * * * * *".into()
    }
    fn run(&self) -> BoxFuture<'_, anyhow::Result<Value>> {
        async { Ok(serde_json::to_value(run_once(&self.pool, &self.printers).await?)?) }.boxed()
    }
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retried {
    pub sent: u32,
    pub still_queued: u32,
    /// Jobs for a printer no longer in the tenant file (left queued, visible).
    pub unknown_printer: u32,
}

/// One pass over the due jobs.
pub async fn run_once(pool: &MySqlPool, printers: &[Printer]) -> Result<Retried, sqlx::Error> {
    let mut out = Retried::default();
    for (id, name) in ipp::due(pool).await? {
        let Some(p) = printers.iter().find(|p| p.name == name) else {
            out.unknown_printer += 1;
            continue;
        };
        let target = PrinterTarget { name: p.name.clone(), uri: p.uri.clone() };
        match ipp::resend(pool, id, &target).await? {
            Attempt::Sent { .. } => out.sent += 1,
            Attempt::Queued { .. } => out.still_queued += 1,
        }
    }
    Ok(out)
}
