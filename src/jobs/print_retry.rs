//! Resends queued print jobs whose retry time has come. Schedule: every
//! minute, when the tenant has printers.

use sqlx::MySqlPool;

use crate::{
    config::Printer,
    printing::ipp::{self, Attempt, PrinterTarget},
};

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
