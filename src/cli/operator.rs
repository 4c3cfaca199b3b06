//! `qm operator add` and `qm operator password`.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Failure, connect, read_password};
use crate::operators::{self, Role, Username};

#[derive(Debug, Subcommand)]
pub(super) enum OperatorCommand {
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

pub(super) async fn run(cmd: OperatorCommand) -> Result<(), Failure> {
    match cmd {
        OperatorCommand::Password { config, username, password_stdin } => {
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
        OperatorCommand::Add { config, username, role, display_name, password_stdin } => {
            let username = Username::parse(&username).map_err(|e| Failure::Usage(e.to_string()))?;
            let password = read_password(password_stdin)?;
            let pool = connect(config.as_deref()).await?;
            let id = operators::create(&pool, &username, &display_name, role, &password).await.map_err(anyhow::Error::from)?;
            println!("operator `{}` created (id {id}, role {})", username.as_str(), role.as_str());
            Ok(())
        }
    }
}
