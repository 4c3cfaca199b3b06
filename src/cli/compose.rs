//! `qm compose render`: a tenant's Compose project settings.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Failure, load};

#[derive(Debug, Subcommand)]
pub(super) enum ComposeCommand {
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

pub(super) async fn run(cmd: ComposeCommand) -> Result<(), Failure> {
    match cmd {
        ComposeCommand::Render { config, root } => {
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
    }
}
