//! The command line: `serve`, `migrate`, `policy validate|test|replay|prove|authorize|format`,
//! `audit verify`, `token mint`, `fetch`, `verify`, `app validate|register`.

mod app;
mod audit;
mod authorize;
mod fetch;
mod format;
mod junit;
mod offline;
mod output;
mod policy;
mod progress;
mod replay;
mod token;
mod verify;
mod verify_image;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{Application, shutdown_signal};
use crate::config::Config;

/// Gatehouse, the artifact admission gateway.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// Configuration file (TOML); every key can be overridden by GATEHOUSE_<SECTION>__<KEY>.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Work with policy files.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Development tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Download a blob by pull-intent id (or URL and `--digest`), resuming, verified before it
    /// is kept.
    Fetch(fetch::FetchArgs),
    /// App manifests: validate offline, register with a gateway.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Check signatures, attestations and bundles offline against `[trust]`, printing the
    /// evidence the gateway would record; exit 0 verified, 1 not verified, 2 on error.
    #[command(subcommand)]
    Verify(verify::VerifyCommand),
}

/// Entry point of the binary: runs the command and turns failure into a message and exit code.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // App commands need no gateway configuration: `validate` is offline, `register` a client.
    if let Command::App(command) = cli.command {
        crate::logging::init(crate::config::LogFormat::Text);
        return app::run(command).await;
    }
    // A configuration that cannot be loaded is reported on stderr as plain text (no subscriber
    // yet); from here on logs take the configured format.
    let config = Config::load(cli.config.as_deref())?;
    crate::logging::init(config.logging.format);
    match cli.command {
        Command::Serve => {
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr()?, scheme = app.scheme(), "gatehouse listening");
            app.run_until_stopped(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let store = crate::store::connect(&config.database_url)
                .await
                .context("cannot open the database")?;
            store.migrate().await.context("migration failed")?;
            crate::app::seed_catalog(&*store).await?;
            println!("database migrated");
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy(command) => policy::run(&config, command).await,
        Command::Audit(command) => audit::run(&config, command).await,
        Command::Token(command) => token::run(&config, command),
        Command::Fetch(args) => fetch::run(args).await,
        Command::Verify(command) => Ok(verify::run(&config, command).await),
        Command::App(_) => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// The CLI's own `GATEHOUSE_…` variables are not configuration: each must be on the config
    /// loader's allow-list, or every command would refuse to start when it is set.
    #[test]
    fn every_cli_environment_variable_is_allow_listed() {
        fn walk(command: &clap::Command, found: &mut Vec<String>) {
            for arg in command.get_arguments() {
                if let Some(env) = arg.get_env() {
                    found.push(env.to_string_lossy().into_owned());
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, found);
            }
        }
        let mut found = Vec::new();
        walk(&super::Cli::command(), &mut found);
        assert!(!found.is_empty());
        for name in found {
            assert!(
                !name.starts_with(crate::config_env::PREFIX)
                    || crate::config_env::is_not_configuration(&name),
                "`{name}` is read by the CLI but not allow-listed in config_env"
            );
        }
    }
}
