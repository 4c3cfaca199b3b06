//! The `qm` command line: one verb per job, each explained by `--help`.
//! Bad arguments or a missing file give one clear line and exit code 2;
//! a failure at run time (invalid config, database down) exits 1.

use std::{
    io::{BufRead, IsTerminal},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::{
    config::{
        ConfigError, LoadedConfig, Secret, check,
        resolve::{Resolver, Secrets},
    },
    db, demo, jobs,
    operators::{self, Role, Username},
    startup::{self, Application},
    telemetry,
};

/// Quartermaster: the ops appliance for one WooCommerce tenant.
#[derive(Debug, Parser)]
#[command(name = "qm", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server and the scheduled jobs for one tenant.
    ///
    /// Resolves every secret reference, migrates the database, then serves
    /// until SIGTERM or Ctrl-C (in-flight requests finish first).
    Serve {
        /// The tenant file.
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// Listen address; overrides server.listen in the tenant file.
        #[arg(long, env = "QM_LISTEN")]
        listen: Option<String>,
    },
    /// Apply pending database migrations (safe to repeat).
    ///
    /// The database comes from QM_DATABASE_URL when set, else from the
    /// tenant file's `database` section.
    Migrate {
        /// The tenant file (not needed when QM_DATABASE_URL is set).
        #[arg(short, long, env = "QM_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Tenant configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The outside services this tenant's modules use: what each powers,
    /// whether the tenant file sets it up (and what to add when not), and
    /// with --probe whether it answers now.
    ///
    /// Exits 1 when a service a module needs is missing or a probe fails.
    Integrations {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// Resolve the secrets and ask each service (database, WooCommerce,
        /// eBay, UPS, Vault, mail server, printers, WeasyPrint, GnuCash).
        #[arg(long)]
        probe: bool,
    },
    /// Manage the people who sign in.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Inventory sync with WooCommerce (and eBay when enabled).
    ///
    /// Runs one full cycle: orders in, FIFO reservations, quantities out,
    /// outbox drain; prints a summary. `qm serve` runs the same cycle on the
    /// tenant's cron.
    Sync {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// Run one cycle and exit. Without it, the poller (and the hourly
        /// catalog mirror) run on the tenant's schedule until Ctrl-C, as in
        /// `qm serve` but with no web server.
        #[arg(long)]
        once: bool,
        /// Print what a cycle would push, per SKU (store value → new value), and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also mirror the WooCommerce catalog (products, variations, GTINs) first.
        #[arg(long)]
        catalog: bool,
    },
    /// Take a store's current stock as opening lots, so the first sync changes nothing.
    ///
    /// Mirrors the catalog and creates one opening lot per product that manages
    /// stock and has none in Quartermaster yet: the store's quantity plus what
    /// its open orders will reserve, at the unit cost from --costs (CSV:
    /// `sku,unit_cost`) or --default-unit-cost. Then runs the first cycle.
    Onboard {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// CSV with the columns `sku` and `unit_cost` (decimal, tenant currency).
        #[arg(long)]
        costs: Option<PathBuf>,
        /// Unit cost for products the costs file does not list (e.g. 0.00).
        #[arg(long)]
        default_unit_cost: Option<String>,
        /// Print the lots it would create and what it would push; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Deployment: render a tenant's Compose project settings.
    #[command(subcommand)]
    Compose(ComposeCommand),
    /// Stock: receiving supplier invoices, adjustments.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Requests for quotes.
    #[command(subcommand)]
    Rfq(RfqCommand),
    /// The books: post what is waiting, check the invariants, export, close a month.
    #[command(subcommand)]
    Books(BooksCommand),
    /// Development helpers (demo data, simulated store).
    #[command(subcommand)]
    Demo(DemoCommand),
    /// The scheduled jobs: what runs when and how it went, and running one by hand.
    #[command(subcommand)]
    Job(JobCommand),
}

#[derive(Debug, Subcommand)]
enum JobCommand {
    /// Every job this tenant runs: its schedule, its last run and how it ended,
    /// its last success and how many runs failed in a row since.
    List {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
    /// Runs one job now, as the scheduler does: under its lock (skipped when
    /// another replica runs it), bounded by its timeout, recorded in job_runs.
    /// Prints the run's summary; exits 1 when it failed.
    Run {
        /// The job's name, as `qm job list` shows it.
        name: String,
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BooksCommand {
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

#[derive(Debug, Subcommand)]
enum ComposeCommand {
    /// Write <root>/<tenant>/.env for `docker compose` from the tenant file:
    /// project name qm-<tenant>, image tag, a published port no other
    /// rendered tenant uses, host names, config and secrets paths.
    Render {
        #[arg(short, long, env = "QM_CONFIG")]
        config: PathBuf,
        /// Where tenants' deployment folders live (outside the repository: secrets go there).
        #[arg(long, env = "QM_DEPLOY_ROOT")]
        root: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum InventoryCommand {
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

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check tenant files: YAML syntax, schema, cross-field rules.
    ///
    /// Prints every problem as FILE:LINE key.path: message and exits 0 only
    /// when every file is valid, then the integrations the tenant's modules
    /// use and whether each is set up. Never prints a secret.
    Check {
        /// Also resolve every secret reference and report those that fail,
        /// and probe each integration (does it answer now?).
        #[arg(long)]
        resolve: bool,
        /// Tenant files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Create an operator. The password is asked for twice on a terminal,
    /// or read from the first line of standard input with --password-stdin.
    Add {
        #[arg(short, long, env = "QM_CONFIG")]
        config: Option<PathBuf>,
        /// Sign-in name (letters, digits, . _ - @).
        #[arg(long)]
        username: String,
        /// What the operator may do.
        #[arg(long, value_enum)]
        role: Role,
        /// Name shown on pages; defaults to the username.
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password for an operator; every session they have ends.
    Password {
        #[arg(short, long, env = "QM_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        username: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
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

#[derive(Debug, Subcommand)]
enum RfqCommand {
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

/// A failure that decides the exit code.
enum Failure {
    /// Exit 2: the command line named something that is not there or not usable.
    Usage(String),
    /// Exit 1: the work itself failed; already printed or to print.
    Failed(anyhow::Error),
    /// Exit 1: problems were printed already.
    Reported,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Failed(e)
    }
}

/// Parses arguments and runs the verb.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("qm: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("qm: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(e)) => {
            eprintln!("qm: {e:#}");
            ExitCode::FAILURE
        }
        Err(Failure::Reported) => ExitCode::FAILURE,
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Config(ConfigCommand::Check { resolve, files }) => config_check(&files, resolve).await,
        Command::Job(JobCommand::List { config }) => {
            let state = startup::prepare(load(&config)?).await?;
            println!(
                "{:<20} {:<16} {:<28} {:<8} {:>9} {:<28} failed in a row",
                "job", "schedule", "last run", "outcome", "took", "last success"
            );
            for (job, schedule) in jobs::fleet(&state)? {
                let h = jobs::runs::health(&state.pool, job.name()).await.map_err(anyhow::Error::from)?;
                let (last, outcome, took, ok, failed) = match h {
                    Some(h) => (
                        state.local_time(h.last_started_at),
                        h.last_status.clone(),
                        h.last_finished_at
                            .map(|f| format!("{} ms", (f - h.last_started_at).num_milliseconds()))
                            .unwrap_or_else(|| "-".into()),
                        h.last_ok_at.map(|t| state.local_time(t)).unwrap_or_else(|| "never".into()),
                        h.consecutive_failures,
                    ),
                    None => ("never".into(), "-".into(), "-".into(), "never".into(), 0),
                };
                println!("{:<20} {:<16} {:<28} {:<8} {:>9} {:<28} {}", job.name(), schedule, last, outcome, took, ok, failed);
            }
            Ok(())
        }
        Command::Job(JobCommand::Run { name, config }) => {
            let state = startup::prepare(load(&config)?).await?;
            let fleet = jobs::fleet(&state)?;
            let Some((job, _)) = fleet.iter().find(|(j, _)| j.name() == name) else {
                let names: Vec<&str> = fleet.iter().map(|(j, _)| j.name()).collect();
                return Err(Failure::Usage(format!("no job `{name}` for this tenant; its jobs: {}", names.join(", "))));
            };
            match jobs::run_guarded(&state, job.as_ref()).await {
                Ok(Some(summary)) => {
                    println!("{name}: ok {summary}");
                    Ok(())
                }
                Ok(None) => {
                    println!("{name}: skipped: another replica holds its lock and is running it");
                    Ok(())
                }
                Err(e) => Err(Failure::Failed(e.context(format!("{name} failed (recorded in job_runs)")))),
            }
        }
        Command::Integrations { config, probe } => {
            let loaded = load(&config)?;
            let secrets = if probe {
                let mut resolver = Resolver::for_config(&loaded);
                let (secrets, failures) = resolver.resolve_all(&loaded).await;
                for (key, e) in &failures {
                    println!("{key}: did not resolve: {e}");
                }
                Some(secrets)
            } else {
                None
            };
            let (lines, healthy) = integrations_report(&loaded, secrets.as_ref()).await;
            for l in lines {
                println!("{l}");
            }
            if healthy { Ok(()) } else { Err(Failure::Reported) }
        }
        Command::Serve { config, listen } => {
            telemetry::init();
            let loaded = load(&config)?;
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
        Command::Migrate { config } => {
            telemetry::init();
            let pool = connect(config.as_deref()).await?;
            db::migrate(&pool).await.context("migrations failed")?;
            let applied = db::MIGRATOR.iter().count();
            println!("migrations current ({applied} known)");
            Ok(())
        }
        Command::Operator(OperatorCommand::Password { config, username, password_stdin }) => {
            let username = operators::Username::parse(&username).map_err(|e| Failure::Usage(e.to_string()))?;
            let password = read_password(password_stdin)?;
            let pool = connect(config.as_deref()).await?;
            let ended = operators::set_password(&pool, &username, &password).await.map_err(|e| match e {
                operators::OperatorError::Db(e) => Failure::Failed(e.into()),
                other => Failure::Usage(other.to_string()),
            })?;
            println!("password of `{}` changed; {ended} session(s) ended", username.as_str());
            Ok(())
        }
        Command::Operator(OperatorCommand::Add { config, username, role, display_name, password_stdin }) => {
            let username = Username::parse(&username).map_err(|e| Failure::Usage(e.to_string()))?;
            let password = read_password(password_stdin)?;
            let pool = connect(config.as_deref()).await?;
            let id = operators::create(&pool, &username, &display_name, role, &password).await.map_err(anyhow::Error::from)?;
            println!("operator `{}` created (id {id}, role {})", username.as_str(), role.as_str());
            Ok(())
        }
        Command::Sync { config, once, dry_run, catalog } => {
            telemetry::init();
            let state = startup::prepare(load(&config)?).await?;
            if !once && !dry_run {
                if !state.config.modules.inventory_sync {
                    return Err(Failure::Usage("modules.inventory_sync is off in the tenant file: nothing to schedule".into()));
                }
                let mut scheduler = jobs::start(state.clone(), Some(&["inventory_poll", "catalog_sync"])).await?;
                println!(
                    "syncing on the tenant's schedule (polling.inventory_cron `{}`); Ctrl-C stops",
                    state.config.polling.inventory_cron
                );
                startup::shutdown_signal().await;
                let _ = scheduler.shutdown().await;
                return Ok(());
            }
            let poller = crate::jobs::inventory_poll::Poller::from_state(&state)?;
            if dry_run {
                let plan = poller.dry_run().await?;
                for (sku, store, new) in &plan {
                    println!("{sku}: {} → {new}", store.map_or("(none)".to_owned(), |v| v.to_string()));
                }
                println!("dry run: {} SKU(s) would be pushed; nothing was written", plan.len());
                return Ok(());
            }
            let catalog_requests_before = crate::channels::StockChannel::requests(poller.woo.as_ref());
            if catalog {
                let c = &state.config;
                let summary =
                    crate::inventory::catalog::sync_from_woo(&state.pool, &poller.woo, &c.tenant.currency, c.woocommerce.fix_manage_stock)
                        .await?;
                println!(
                    "catalog: {} seen, {} upserted, {} not managing stock, {} fixed, {} bad GTINs, {} requests (nothing pushed)",
                    summary.seen,
                    summary.upserted,
                    summary.not_managing_stock.len(),
                    summary.fixed_manage_stock,
                    summary.bad_gtins.len(),
                    crate::channels::StockChannel::requests(poller.woo.as_ref()) - catalog_requests_before
                );
            }
            let summary = jobs::record(&state.pool, "inventory_poll", async {
                poller.run_once().await.map(|s| serde_json::to_value(s).unwrap_or_default())
            })
            .await?;
            let summary: crate::jobs::inventory_poll::Summary = serde_json::from_value(summary).map_err(anyhow::Error::from)?;
            println!("{summary}");
            for e in &summary.errors {
                println!("  error: {e}");
            }
            if summary.errors.is_empty() { Ok(()) } else { Err(Failure::Reported) }
        }
        Command::Onboard { config, costs, default_unit_cost, dry_run } => {
            telemetry::init();
            let state = startup::prepare(load(&config)?).await?;
            let c = &state.config;
            let currency = c.tenant.currency.clone();
            let costs = match &costs {
                Some(path) => {
                    let text = crate::config::files::read_text(path, RECEIPT_FILE_MAX)
                        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
                    crate::inventory::onboard::read_costs(&path.display().to_string(), &text, &currency)
                        .map_err(|e| Failure::Usage(e.to_string()))?
                }
                None => Default::default(),
            };
            let default_cost = match &default_unit_cost {
                Some(v) => Some(
                    crate::money::parse_minor(v, crate::money::exponent(&currency))
                        .map_err(|e| Failure::Usage(format!("--default-unit-cost `{v}`: {e}")))?,
                ),
                None => None,
            };
            if costs.is_empty() && default_cost.is_none() {
                return Err(Failure::Usage("give the opening lots a unit cost: --costs FILE.csv (columns sku,unit_cost) and/or --default-unit-cost AMOUNT (e.g. 0.00)".into()));
            }
            let (plan, products) =
                crate::inventory::onboard::plan(&state.pool, &state.woo, &c.woocommerce.order_statuses, &costs, default_cost).await?;
            let exp = crate::money::exponent(&currency);
            for l in &plan.lots {
                println!(
                    "{}: store {} + open orders {} → opening lot {} @ {} ({})",
                    l.sku,
                    l.store_qty,
                    l.open_order_qty,
                    l.lot_qty,
                    crate::money::format_minor(l.unit_cost_minor, exp),
                    l.cost_source
                );
            }
            for (sku, why) in &plan.skipped {
                println!("{sku}: no lot: {why}");
            }
            if dry_run {
                println!(
                    "dry run: {} product(s) seen, {} opening lot(s) would be created, {} skipped; no stock would be pushed (each product's available quantity equals the store's); nothing was written",
                    plan.products_seen,
                    plan.lots.len(),
                    plan.skipped.len()
                );
                return Ok(());
            }
            let created = crate::inventory::onboard::apply(&state.pool, &state.woo, &products, &plan, &currency).await?;
            println!("onboarded: {created} opening lot(s) created, {} skipped", plan.skipped.len());
            let poller = crate::jobs::inventory_poll::Poller::from_state(&state)?;
            let summary = jobs::record(&state.pool, "inventory_poll", async {
                poller.run_once().await.map(|s| serde_json::to_value(s).unwrap_or_default())
            })
            .await?;
            let summary: crate::jobs::inventory_poll::Summary = serde_json::from_value(summary).map_err(anyhow::Error::from)?;
            println!("first cycle: {summary}");
            Ok(())
        }
        Command::Compose(ComposeCommand::Render { config, root }) => {
            let loaded = load(&config)?;
            // The repository holding compose/: an ancestor of the tenant file, else here.
            let start = std::fs::canonicalize(&config).unwrap_or_else(|_| config.clone());
            let repo = start
                .ancestors()
                .find(|d| d.join("compose/compose.yaml").is_file())
                .map(std::path::Path::to_path_buf)
                .or_else(|| std::env::current_dir().ok())
                .ok_or_else(|| Failure::Usage("cannot find the compose/ folder".into()))?;
            let path = crate::deploy::render(&loaded, &root, &repo).map_err(|e| Failure::Failed(e.into()))?;
            println!("{}", path.display());
            Ok(())
        }
        Command::Inventory(InventoryCommand::Receive { config, file, supplier, invoice, date }) => {
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
        Command::Rfq(RfqCommand::Import { config, file }) => {
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
        Command::Inventory(InventoryCommand::Adjust { config, lot, delta, reason, note }) => {
            let pool = connect(Some(&config)).await?;
            let left = crate::inventory::receive::adjust(&pool, crate::ids::LotId(lot), delta, &reason, note.as_deref(), None)
                .await
                .map_err(anyhow::Error::from)?;
            println!("lot {lot}: {left} remaining");
            Ok(())
        }
        #[cfg(feature = "standin")]
        Command::Demo(DemoCommand::Standin { config, listen, every, ups_listen }) => {
            telemetry::init();
            let state = startup::prepare(load(&config)?).await?;
            crate::demo::run_standin(&state, &listen, &ups_listen, every).await?;
            Ok(())
        }
        Command::Books(cmd) => books(cmd).await,
        Command::Demo(DemoCommand::Seed { config, products }) => {
            let pool = connect(config.as_deref()).await?;
            db::migrate(&pool).await.context("migrations failed")?;
            let summary = demo::seed(&pool, products).await?;
            println!("{summary}");
            Ok(())
        }
    }
}

async fn books(cmd: BooksCommand) -> Result<(), Failure> {
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

fn load(path: &Path) -> Result<LoadedConfig, Failure> {
    match LoadedConfig::load(path) {
        Ok(c) => Ok(c),
        Err(ConfigError::Read { path, source }) => Err(Failure::Usage(format!("cannot read {}: {source}", path.display()))),
        Err(e @ ConfigError::Invalid(_)) => {
            eprintln!("{e}");
            Err(Failure::Reported)
        }
    }
}

/// A pool for one-shot verbs: QM_DATABASE_URL, or the tenant file with only
/// its database password resolved.
async fn connect(config: Option<&Path>) -> Result<sqlx::MySqlPool, Failure> {
    let loaded = match config {
        Some(p) => Some(load(p)?),
        None => None,
    };
    let mut secrets = Secrets::default();
    if let (Some(l), false) = (&loaded, db::url_from_env()) {
        let mut resolver = Resolver::for_config(l);
        let password =
            resolver.resolve(&l.config.database.password).await.map_err(|e| Failure::Failed(anyhow::anyhow!("database.password: {e}")))?;
        secrets.insert("database.password", password);
    }
    let options = db::connect_options(loaded.as_ref(), &secrets).map_err(|e| Failure::Usage(e.to_string()))?;
    let pool = db::connect_creating(options, 4).await.map_err(|e| Failure::Failed(e.into()))?;
    if let Some(l) = &loaded {
        db::migrate(&pool).await.context("migrations failed")?;
        db::claim_for_tenant(&pool, l.config.tenant.id.as_str()).await.map_err(anyhow::Error::from)?;
    }
    Ok(pool)
}

fn read_password(from_stdin: bool) -> Result<Secret, Failure> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| Failure::Usage(format!("cannot read the password from stdin: {e}")))?;
        return Ok(Secret::new(line.trim_end_matches(['\r', '\n'])));
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| Failure::Usage(format!("cannot read the password: {e}")))?;
    let second = rpassword::prompt_password("Again: ").map_err(|e| Failure::Usage(format!("cannot read the password: {e}")))?;
    if first != second {
        return Err(Failure::Usage("the two passwords differ".into()));
    }
    Ok(Secret::new(first))
}

/// The largest receiving or cost CSV read from a file (about a million rows).
const RECEIPT_FILE_MAX: u64 = 64 * 1024 * 1024;

/// The registry for a tenant, a line each (`ups: needed by fulfillment —
/// configured (…) — probe OK 212 ms`), probed when `secrets` are given;
/// and whether every needed integration is set up and every probe answered.
async fn integrations_report(loaded: &LoadedConfig, secrets: Option<&Secrets>) -> (Vec<String>, bool) {
    use crate::integrations::{self, Health, probe};
    let c = &loaded.config;
    let entries = integrations::for_tenant(c);
    let on: Vec<&str> = [
        integrations::Module::InventorySync,
        integrations::Module::Ebay,
        integrations::Module::Quotes,
        integrations::Module::Fulfillment,
        integrations::Module::Accounting,
        integrations::Module::Dashboard,
    ]
    .into_iter()
    .filter(|m| m.enabled(c))
    .map(|m| m.name())
    .collect();
    let mut healthy = entries.iter().all(|e| !e.is_gap());
    let ctx = match secrets {
        Some(secrets) => {
            let pool = match db::connect_options(Some(loaded), secrets) {
                Ok(o) => sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(std::time::Duration::from_secs(5))
                    .connect_lazy_with(o),
                Err(_) => sqlx::mysql::MySqlPoolOptions::new().connect_lazy_with(sqlx::mysql::MySqlConnectOptions::new()),
            };
            let clients = startup::clients(c, secrets).ok();
            Some(probe::Ctx {
                config: std::sync::Arc::new(c.clone()),
                secrets: std::sync::Arc::new(secrets.clone()),
                pool: Some(pool),
                woo: clients.as_ref().map(|k| k.woo.clone()),
                carrier: clients.and_then(|k| k.carrier),
                weasy: crate::printing::pdf::WeasyPrint::default(),
                base_dir: loaded.base_dir(),
                timeout: std::time::Duration::from_secs(10),
            })
        }
        None => None,
    };
    let probes = futures::future::join_all(entries.iter().map(|e| {
        let ctx = ctx.clone();
        async move {
            match (&ctx, e.integration.health, e.setup.is_configured()) {
                (Some(ctx), Health::Probe(_), true) => probe::probe(ctx, e.integration.key).await,
                _ => None,
            }
        }
    }))
    .await;
    let mut lines = vec![format!("integrations of {} (modules on: {}):", c.tenant.id, on.join(", "))];
    for (e, outcome) in entries.iter().zip(probes) {
        let mut line = e.line();
        if let Some(o) = outcome {
            healthy &= o.ok;
            line = format!("{line} — {o}");
        }
        lines.push(format!("  {line}"));
    }
    (lines, healthy)
}

async fn config_check(files: &[PathBuf], resolve: bool) -> Result<(), Failure> {
    let mut all_ok = true;
    for path in files {
        let text = crate::config::files::read_text(path, crate::config::files::TENANT_FILE_MAX)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        let label = path.display().to_string();
        let config = match check::check_str(&label, &text) {
            Ok(c) => c,
            Err(e) => {
                println!("{e}");
                all_ok = false;
                continue;
            }
        };
        let loaded = LoadedConfig { path: path.clone(), config };
        if !resolve {
            println!("{label}: ok");
            for l in integrations_report(&loaded, None).await.0 {
                println!("  {l}");
            }
            continue;
        }
        let mut resolver = Resolver::for_config(&loaded);
        let (secrets, failures) = resolver.resolve_all(&loaded).await;
        let total = loaded.config.secret_refs().len();
        for (key, e) in &failures {
            let line = check::locate(&text, &format!("/{}", key.replace('.', "/")));
            let at = line.map(|l| format!(":{l}")).unwrap_or_default();
            println!("{label}{at} {key}: {e}");
        }
        if failures.is_empty() {
            println!("{label}: ok, {total} of {total} references resolved");
        } else {
            all_ok = false;
            println!("{label}: {} of {total} references did not resolve", failures.len());
        }
        for l in integrations_report(&loaded, Some(&secrets)).await.0 {
            println!("  {l}");
        }
        drop(secrets);
    }
    if all_ok { Ok(()) } else { Err(Failure::Reported) }
}
