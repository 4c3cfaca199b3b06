//! `qm rfq import FILE.eml`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Failure, connect, load};

#[derive(Debug, Subcommand)]
pub(super) enum RfqCommand {
    /// Take in one RFC 822 message (a saved .eml) as an RFQ: the raw message
    /// is kept whatever happens; a message that cannot be read is stored as
    /// unparseable with the reason (exit 1).
    Import {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// The .eml file.
        file: PathBuf,
    },
}

pub(super) async fn run(cmd: RfqCommand) -> Result<(), Failure> {
    match cmd {
        RfqCommand::Import { config, file } => {
            let raw = crate::config::files::read_regular(&file, crate::quotes::rfq::MAX_BYTES as u64)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
            let loaded = load(&config)?;
            let pool = connect(Some(&config)).await?;
            let lookup = crate::inventory::lookup::CodeLookup::open(&loaded.data_dir());
            let stored = crate::quotes::rfq::store(&pool, &lookup, "email", &raw, crate::quotes::rfq::parse_email(&raw))
                .await
                .map_err(anyhow::Error::from)?;
            match &stored.malformed {
                Some(m) => {
                    println!("{}: {m}; kept as RFQ {} (unparseable) for inspection", file.display(), stored.id);
                    Err(Failure::Reported)
                }
                None => {
                    let score = stored.reputation.as_ref().map_or(0, |r| r.score);
                    println!("RFQ {}: {} item(s), {} to map; sender reputation {score}/100", stored.id, stored.items, stored.unmatched);
                    Ok(())
                }
            }
        }
    }
}
