//! `gatehouse policy validate|test|replay`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::replay::{self, ReplayArgs};
use crate::config::Config;
use crate::policy::{PolicyEngine, run_policy_tests};

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and strictly validate every `*.cedar` file in DIR against the schema.
    Validate {
        /// Policy directory (defaults to `policy_dir`).
        dir: Option<PathBuf>,
    },
    /// Run the data-file policy tests in DIR/tests against the policies in DIR.
    Test {
        /// Policy directory (defaults to `policy_dir`).
        dir: Option<PathBuf>,
    },
    /// Re-decide the stored decision log against a candidate policy directory; exit 0 when
    /// nothing would change, 1 when something would, 2 on error.
    Replay(ReplayArgs),
}

/// Runs a policy subcommand.
pub async fn run(config: &Config, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Replay(args) => Ok(replay::run(config, args).await),
        PolicyCommand::Validate { dir } => {
            let dir = dir.unwrap_or_else(|| config.policy_dir.clone());
            match PolicyEngine::load(&config.schema_file, &dir) {
                Ok(engine) => {
                    println!(
                        "policy set in `{}` is valid: {} policies in {} files, hash {}",
                        dir.display(),
                        engine.policy_ids().len(),
                        engine.files().len(),
                        engine.hash()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("policy set in `{}` is invalid:\n{error}", dir.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        PolicyCommand::Test { dir } => {
            let dir = dir.unwrap_or_else(|| config.policy_dir.clone());
            let engine = match PolicyEngine::load(&config.schema_file, &dir) {
                Ok(engine) => engine,
                Err(error) => {
                    eprintln!("policy set in `{}` is invalid:\n{error}", dir.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let report = run_policy_tests(&engine, &dir.join("tests")).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{report}");
            // No cases at all is a failure too: a missing tests directory must not pass silently.
            Ok(if report.failures.is_empty() && report.total > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
