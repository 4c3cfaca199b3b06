//! `qm inventory receive` and `qm inventory adjust`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Failure, RECEIPT_FILE_MAX, connect, load};

#[derive(Debug, Subcommand)]
pub(super) enum InventoryCommand {
    /// Receive a supplier invoice from CSV: one lot per row, all or nothing.
    ///
    /// Columns: sku or gtin, qty, unit_cost, lot_ref, [location], [expires_on].
    /// Every malformed row is listed with its line number and nothing is written.
    Receive {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// The CSV file.
        file: PathBuf,
        /// Supplier name (created when new).
        #[arg(long)]
        supplier: String,
        /// The supplier's invoice number.
        #[arg(long)]
        invoice: String,
        /// Invoice date, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
    },
    /// Correct a lot's quantity (count, damage, loss, found, return, other).
    Adjust {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        #[arg(long)]
        lot: u64,
        /// Change in units, e.g. -2 or 3.
        #[arg(long, allow_hyphen_values = true)]
        delta: i32,
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::inventory::receive::REASONS))]
        reason: String,
        #[arg(long)]
        note: Option<String>,
    },
}

pub(super) async fn run(cmd: InventoryCommand) -> Result<(), Failure> {
    match cmd {
        InventoryCommand::Receive { config, file, supplier, invoice, date } => {
            let loaded = load(&config)?;
            let text = crate::config::files::read_text(&file, RECEIPT_FILE_MAX)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", file.display())))?;
            let pool = connect(Some(&config)).await?;
            let currency = loaded.config.tenant.currency.clone();
            let rows = match crate::inventory::receive::parse_csv(&pool, &text, &currency).await.map_err(anyhow::Error::from)? {
                Ok(rows) => rows,
                Err(errors) => {
                    // Unknown products are named once, with the fix, not line by line.
                    let (unknown, other): (Vec<_>, Vec<_>) =
                        errors.iter().partition(|e| e.message.starts_with("no product with sku or gtin"));
                    for e in &other {
                        println!("{}:{e}", file.display());
                    }
                    if !unknown.is_empty() {
                        let names: Vec<String> =
                            unknown.iter().take(10).map(|e| e.message.rsplit('`').nth(1).unwrap_or_default().to_owned()).collect();
                        let more = if unknown.len() > 10 { format!(" and {} more", unknown.len() - 10) } else { String::new() };
                        let count: i64 = crate::inventory::catalog::count(&pool).await.unwrap_or(0);
                        let fix = if count == 0 {
                            "Quartermaster has no products yet: mirror the WooCommerce catalog first with `qm sync --once --catalog --config FILE` (or take the store's stock as opening lots with `qm onboard`)"
                        } else {
                            "add them in WooCommerce (with these SKUs or GTINs), then mirror the catalog with `qm sync --once --catalog --config FILE`"
                        };
                        println!(
                            "{}: {} line(s) name products Quartermaster does not know: {}{more}. {fix}",
                            file.display(),
                            unknown.len(),
                            names.join(", ")
                        );
                    }
                    println!("{} problem(s); nothing was received", errors.len());
                    return Err(Failure::Reported);
                }
            };
            let invoice = crate::inventory::receive::Invoice {
                supplier,
                reference: invoice,
                date: date.unwrap_or_else(|| chrono::Utc::now().date_naive()),
                currency,
            };
            let progress = |done: usize, total: usize| eprint!("\rreceiving: {done}/{total} rows");
            let r = crate::inventory::receive::apply(&pool, &invoice, &rows, None, &progress).await.map_err(anyhow::Error::from)?;
            eprintln!();
            println!(
                "received invoice {} (id {}): {} lots, {} units, total {}",
                invoice.reference,
                r.invoice_id,
                r.lots,
                r.units,
                crate::money::format_minor(r.total_minor, crate::money::exponent(&invoice.currency))
            );
            Ok(())
        }
        InventoryCommand::Adjust { config, lot, delta, reason, note } => {
            let pool = connect(Some(&config)).await?;
            let left = crate::inventory::receive::adjust(&pool, crate::ids::LotId(lot), delta, &reason, note.as_deref(), None)
                .await
                .map_err(anyhow::Error::from)?;
            println!("lot {lot}: {left} remaining");
            Ok(())
        }
    }
}
