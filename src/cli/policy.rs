//! `gatehouse policy validate|test|replay|prove`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::replay::{self, ReplayArgs};
use crate::config::Config;
use crate::policy::{PolicyEngine, ProofOutcome, run_policy_tests, uncovered_consequence};

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and strictly validate every `*.cedar` file in DIR against the schema; warn for
    /// every gated action no `permit` can allow.
    Validate {
        /// Policy directory (defaults to `policy_dir`).
        dir: Option<PathBuf>,
        /// Exit non-zero when an action is left without a permit, too.
        #[arg(long)]
        strict: bool,
    },
    /// Run the data-file policy tests in DIR/tests against the policies in DIR.
    Test {
        /// Policy directory (defaults to `policy_dir`).
        dir: Option<PathBuf>,
    },
    /// Re-decide the stored decision log against a candidate policy directory; exit 0 when
    /// nothing would change, 1 when something would, 2 on error.
    Replay(ReplayArgs),
    /// Prove properties of the set in DIR for every request the schema allows (needs the cvc5
    /// SMT solver, from `CVC5` or `PATH`); exit 0 when all are proved, 1 when one is disproved,
    /// 2 on error.
    Prove {
        /// Policy directory (defaults to `policy_dir`).
        dir: Option<PathBuf>,
        /// Also prove that this candidate directory only restricts DIR.
        #[arg(long)]
        candidate: Option<PathBuf>,
    },
}

/// Runs a policy subcommand.
pub async fn run(config: &Config, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Replay(args) => Ok(replay::run(config, args).await),
        PolicyCommand::Prove { dir, candidate } => Ok(prove(config, dir, candidate).await),
        PolicyCommand::Validate { dir, strict } => {
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
                    let uncovered = engine.uncovered_actions();
                    for action in &uncovered {
                        eprintln!(
                            "warning: no permit can allow action `{action}`: {}",
                            uncovered_consequence(*action)
                        );
                    }
                    Ok(if strict && !uncovered.is_empty() {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    })
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

async fn prove(config: &Config, dir: Option<PathBuf>, candidate: Option<PathBuf>) -> ExitCode {
    const ERROR: u8 = 2;
    let dir = dir.unwrap_or_else(|| config.policy_dir.clone());
    let load = |dir: &PathBuf| {
        PolicyEngine::load(&config.schema_file, dir)
            .map_err(|error| eprintln!("policy set in `{}` is invalid:\n{error}", dir.display()))
    };
    let Ok(current) = load(&dir) else {
        return ExitCode::from(ERROR);
    };
    let candidate = match candidate.as_ref().map(load).transpose() {
        Ok(candidate) => candidate,
        Err(()) => return ExitCode::from(ERROR),
    };
    let results = match crate::policy::prove(&current, candidate.as_ref()).await {
        Ok(results) => results,
        Err(error) => {
            eprintln!("policy prove: {error}");
            return ExitCode::from(ERROR);
        }
    };
    for result in &results {
        println!("{result}");
    }
    if results
        .iter()
        .any(|r| matches!(r.outcome, ProofOutcome::Error(_)))
    {
        ExitCode::from(ERROR)
    } else if results
        .iter()
        .any(|r| matches!(r.outcome, ProofOutcome::Disproved(_)))
    {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
