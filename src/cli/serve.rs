//! `qm serve` and `qm migrate`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Failure, connect, load};
use crate::{
    db, jobs,
    startup::{self, Application},
    telemetry,
};

/// `qm serve`: the web server and the scheduled jobs until SIGTERM.
pub(super) async fn serve(config: &Path, listen: Option<String>) -> Result<(), Failure> {
    telemetry::init();
    let loaded = load(config)?;
    let listen = listen.unwrap_or_else(|| loaded.config.server.listen.clone());
    let state = startup::prepare(loaded).await?;
    let app = Application::build(state, &listen).await?;
    let scheduler = jobs::start(app.state().clone(), None).await?;
    tracing::info!(port = app.port(), tenant = %app.state().config.tenant.id, base = %app.state().base, "serving");
    let served = app.run_until_stopped(stopping(drain_time())).await;
    let mut scheduler = scheduler;
    let _ = scheduler.shutdown().await;
    tracing::info!("stopped");
    served.context("server error")?;
    Ok(())
}

/// How long `qm serve` keeps answering after SIGTERM before it stops taking
/// connections (`QM_DRAIN_SECONDS`, default 0): under swarm the task leaves
/// Docker's DNS when it is told to stop, and the edge, which reads the DNS
/// at most 2 s old, still sends it requests until then.
fn drain_time() -> std::time::Duration {
    let secs = std::env::var("QM_DRAIN_SECONDS").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    std::time::Duration::from_secs(secs.min(60))
}

/// SIGTERM, then the drain.
async fn stopping(drain: std::time::Duration) {
    startup::shutdown_signal().await;
    if !drain.is_zero() {
        tracing::info!(seconds = drain.as_secs(), "draining: still answering while the edge forgets this replica");
        tokio::time::sleep(drain).await;
    }
}

/// `qm migrate`.
pub(super) async fn migrate(config: Option<PathBuf>) -> Result<(), Failure> {
    telemetry::init();
    let pool = connect(config.as_deref()).await?;
    db::migrate(&pool).await.context("migrations failed")?;
    let applied = db::MIGRATOR.iter().count();
    println!("migrations current ({applied} known)");
    Ok(())
}
