//! The `qm` command line: one verb per file, each explained by `--help`.
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
        ConfigError, LoadedConfig, Secret,
        resolve::{Resolver, Secrets},
    },
    db,
};

mod backup;
mod books;
mod compose;
mod config;
mod demo;
mod inventory;
mod jobs;
mod operator;
mod rfq;
mod serve;
mod status;
mod sync;
mod webhooks;

use self::{
    books::BooksCommand, compose::ComposeCommand, config::ConfigCommand, demo::DemoCommand, inventory::InventoryCommand, jobs::JobCommand,
    operator::OperatorCommand, rfq::RfqCommand,
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
    /// WooCommerce webhooks to Quartermaster: an order change reaches the
    /// sync within seconds (the poller stays and catches what they miss).
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// The tenant's restic backups: take one, list, check, unpack for a restore.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// The tenant at a glance: version, schema, last sync, last backup per
    /// repository, open alerts (`--json` for scripts/fleet).
    Status(status::StatusArgs),
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
        Command::Config(cmd) => config::run(cmd).await,
        Command::Integrations { config, probe } => config::integrations(&config, probe).await,
        Command::Job(cmd) => jobs::run(cmd).await,
        Command::Status(args) => status::run(args).await,
        Command::Serve { config, listen } => serve::serve(&config, listen).await,
        Command::Migrate { config } => serve::migrate(config).await,
        Command::Operator(cmd) => operator::run(cmd).await,
        Command::Sync { config, once, dry_run, catalog } => sync::sync(&config, once, dry_run, catalog).await,
        Command::Onboard { config, costs, default_unit_cost, dry_run } => sync::onboard(&config, costs, default_unit_cost, dry_run).await,
        Command::Compose(cmd) => compose::run(cmd).await,
        Command::Inventory(cmd) => inventory::run(cmd).await,
        Command::Rfq(cmd) => rfq::run(cmd).await,
        Command::Books(cmd) => books::run(cmd).await,
        Command::Webhooks(cmd) => webhooks::run(cmd).await,
        Command::Backup(cmd) => backup::run(cmd).await,
        Command::Demo(cmd) => demo::run(cmd).await,
    }
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
