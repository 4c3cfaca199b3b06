//! `qm demo seed` and `qm demo standin` (development only).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[cfg(feature = "standin")]
use super::load;
use super::{Failure, connect};
use crate::{db, demo};
#[cfg(feature = "standin")]
use crate::{startup, telemetry};

#[derive(Debug, Subcommand)]
pub(super) enum DemoCommand {
    /// Fill an empty database with a realistic demo catalog, lots and orders.
    Seed {
        #[arg(short, long, env = "QM_CONFIG")]
        config: Option<PathBuf>,
        /// How many products to create.
        #[arg(long, default_value_t = 300)]
        products: u32,
    },
    /// Run the simulated WooCommerce store (clearly labelled, development
    /// only): mirrors the demo catalog and places an order every few seconds.
    #[cfg(feature = "standin")]
    Standin {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// Where the simulated store listens.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// Seconds between simulated orders.
        #[arg(long, default_value_t = 20)]
        every: u64,
        /// Where the simulated UPS account listens (labels for the pick station).
        #[arg(long, default_value = "127.0.0.1:8082")]
        ups_listen: String,
    },
}

pub(super) async fn run(cmd: DemoCommand) -> Result<(), Failure> {
    match cmd {
        #[cfg(feature = "standin")]
        DemoCommand::Standin { config, listen, every, ups_listen } => {
            telemetry::init();
            let state = startup::prepare(load(&config)?).await?;
            crate::demo::run_standin(&state, &listen, &ups_listen, every).await?;
            Ok(())
        }
        DemoCommand::Seed { config, products } => {
            let pool = connect(config.as_deref()).await?;
            db::migrate(&pool).await.context("migrations failed")?;
            let summary = demo::seed(&pool, products).await?;
            println!("{summary}");
            Ok(())
        }
    }
}
