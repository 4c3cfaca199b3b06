//! `qm demo seed` and `qm demo standin` (development only).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

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
            let state = startup::prepare(super::load(&config)?).await?;
            crate::demo::run_standin(&state, &listen, &ups_listen, every).await?;
            Ok(())
        }
        DemoCommand::Seed { config, products } => {
            let pool = connect(config.as_deref()).await?;
            db::migrate(&pool).await.context("migrations failed")?;
            let summary = demo::seed(&pool, products).await?;
            println!("{summary}");
            // With a tenant file: a month of history through the domains (books, quotes).
            if let Some(path) = config.as_deref() {
                let state = crate::startup::prepare(super::load(path)?).await?;
                println!("{}", demo::history::seed(&state).await?);
            }
            Ok(())
        }
    }
}
