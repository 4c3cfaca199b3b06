//! `qm books post|check|export|close`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use super::{Failure, connect, load};
use crate::db;

#[derive(Debug, Subcommand)]
pub(super) enum BooksCommand {
    /// Post every fact still waiting (shipments, receipts, charges, adjustments, refunds, payments).
    Post {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
    /// Check the invariants: balanced entries, a zero trial balance, Inventory
    /// equal to the lots on hand at landed cost, each order's COGS equal to
    /// its trail. Exits 1 when one fails.
    Check {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
    /// Export the books: an hledger journal and/or a GnuCash XML book
    /// (written through GnuCash's Python bindings: needs gnucash and python3-gnucash).
    Export {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        hledger: Option<PathBuf>,
        #[arg(long)]
        gnucash: Option<PathBuf>,
    },
    /// Close a month (YYYY-MM): it accepts no postings afterwards.
    Close {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        month: String,
    },
}

pub(super) async fn run(cmd: BooksCommand) -> Result<(), Failure> {
    let config = match &cmd {
        BooksCommand::Post { config }
        | BooksCommand::Check { config }
        | BooksCommand::Export { config, .. }
        | BooksCommand::Close { config, .. } => config.clone(),
    };
    let loaded = load(&config)?;
    let pool = connect(Some(&config)).await?;
    db::migrate(&pool).await.context("migrations failed")?;
    let ledger = crate::books::Ledger::open(&pool, &loaded.config)
        .await
        .map_err(|e| Failure::Usage(format!("{}: {e}", config.display())))?
        .ok_or_else(|| Failure::Usage(format!("{}: {}", config.display(), crate::books::BooksError::Off)))?;
    match cmd {
        BooksCommand::Post { .. } => {
            let posted = ledger.catch_up(&pool).await.map_err(anyhow::Error::from)?;
            println!("{}", serde_json::to_string(&posted).unwrap_or_default());
        }
        BooksCommand::Check { .. } => {
            let audit = crate::books::reports::audit(&pool).await.map_err(anyhow::Error::from)?;
            println!("{}", serde_json::to_string_pretty(&audit).unwrap_or_default());
            if !audit.problems.is_empty() {
                return Err(Failure::Reported);
            }
        }
        BooksCommand::Export { hledger, gnucash, .. } => {
            if hledger.is_none() && gnucash.is_none() {
                return Err(Failure::Usage("say where: --hledger FILE and/or --gnucash FILE".into()));
            }
            let book = crate::books::export::read(&pool, &ledger.books).await.map_err(anyhow::Error::from)?;
            if let Some(path) = hledger {
                std::fs::write(&path, crate::books::export::hledger(&book)).with_context(|| format!("cannot write {}", path.display()))?;
                println!("hledger journal: {} ({} entries)", path.display(), book.transactions.len());
            }
            if let Some(path) = gnucash {
                crate::books::export::gnucash(&book, &path).map_err(anyhow::Error::from)?;
                println!("GnuCash book: {} ({} entries)", path.display(), book.transactions.len());
            }
        }
        BooksCommand::Close { month, .. } => {
            let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
                .map_err(|_| Failure::Usage(format!("month: `{month}` is not YYYY-MM")))?;
            ledger.catch_up(&pool).await.map_err(anyhow::Error::from)?;
            let closed = crate::books::journal::close_period(&pool, first, None).await.map_err(anyhow::Error::from)?;
            println!("{month}: {}", if closed { "closed" } else { "was already closed" });
        }
    }
    Ok(())
}
