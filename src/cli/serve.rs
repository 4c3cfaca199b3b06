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
    let served = app.run_until_stopped(startup::shutdown_signal()).await;
    let mut scheduler = scheduler;
    let _ = scheduler.shutdown().await;
    tracing::info!("stopped");
    served.context("server error")?;
    Ok(())
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
