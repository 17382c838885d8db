//! The command line: `serve`, `migrate`, `policy validate|test|replay`, `audit verify`, `token mint`,
//! `fetch`, `app validate|register`.

mod app;
mod audit;
mod fetch;
mod policy;
mod replay;
mod token;

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
}

/// Entry point of the binary: runs the command and turns failure into a message and exit code.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour only for a person at a terminal; log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // App commands need no gateway configuration: `validate` is offline, `register` a client.
    if let Command::App(command) = cli.command {
        return app::run(command).await;
    }
    let config = Config::load(cli.config.as_deref())?;
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
        Command::App(_) => Ok(ExitCode::SUCCESS),
    }
}
