//! `gatehouse policy validate|test|replay|prove|authorize|format`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

use super::authorize::{self, AuthorizeArgs};
use super::format::{self, FormatArgs};
use super::output::{OutputFormat, fail, print_json};
use super::replay::{self, ReplayArgs};
use crate::config::Config;
use crate::policy::{
    PolicyEngine, PolicyProblem, ProofOutcome, TestReport, run_policy_tests, uncovered_consequence,
};

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and strictly validate every `*.cedar` file in DIR against the schema; warn for
    /// every gated action no `permit` can allow.
    Validate {
        /// Policy directory (defaults to `policy_dir`).
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        /// Exit non-zero when an action is left without a permit, too.
        #[arg(long)]
        strict: bool,
    },
    /// Run the data-file policy tests in DIR/tests against the policies in DIR.
    Test {
        /// Policy directory (defaults to `policy_dir`).
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: OutputFormat,
        /// Also write the results as JUnit XML to FILE (one testcase per policy test case).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Decide one request offline against the policies (as the Cedar CLI's `authorize`); exit 0
    /// on allow, 2 on deny, 1 when the request cannot be evaluated.
    Authorize(AuthorizeArgs),
    /// Format policy files with Cedar's formatter, in place; `--check` only lists unformatted
    /// files (exit 1 if any), 2 on error.
    Format(FormatArgs),
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
        PolicyCommand::Validate { dir, format, strict } => Ok(validate(config, dir, format, strict)),
        PolicyCommand::Test { dir, format, junit } => Ok(test(config, dir, format, junit)),
        PolicyCommand::Authorize(args) => Ok(authorize::run(config, &args)),
        PolicyCommand::Format(args) => Ok(format::run(config, &args)),
    }
}

/// The JSON document `policy validate --format json` prints.
#[derive(Debug, Serialize)]
struct ValidateOutput<'a> {
    valid: bool,
    policy_dir: String,
    /// Policy and file counts and the set's hash, when valid.
    policies: Option<usize>,
    files: Option<usize>,
    hash: Option<&'a str>,
    /// Every problem found, when invalid.
    problems: &'a [PolicyProblem],
    /// Gated actions no permit can allow, with what that means (`--strict` fails on them).
    warnings: Vec<String>,
}

fn validate(config: &Config, dir: Option<PathBuf>, format: OutputFormat, strict: bool) -> ExitCode {
    let dir = dir.unwrap_or_else(|| config.policy_dir.clone());
    let shown = dir.display().to_string();
    let loaded = PolicyEngine::load(&config.schema_file, &dir);
    let warnings: Vec<String> = loaded.as_ref().map_or_else(
        |_| Vec::new(),
        |engine| {
            engine
                .uncovered_actions()
                .into_iter()
                .map(|action| format!("no permit can allow action `{action}`: {}", uncovered_consequence(action)))
                .collect()
        },
    );
    if format.is_json() {
        let output = match &loaded {
            Ok(engine) => ValidateOutput {
                valid: true,
                policy_dir: shown.clone(),
                policies: Some(engine.policy_ids().len()),
                files: Some(engine.files().len()),
                hash: Some(engine.hash()),
                problems: &[],
                warnings: warnings.clone(),
            },
            Err(error) => ValidateOutput {
                valid: false,
                policy_dir: shown.clone(),
                policies: None,
                files: None,
                hash: None,
                problems: &error.problems,
                warnings: Vec::new(),
            },
        };
        print_json(&output);
    }
    match loaded {
        Ok(engine) => {
            if !format.is_json() {
                println!(
                    "policy set in `{shown}` is valid: {} policies in {} files, hash {}",
                    engine.policy_ids().len(),
                    engine.files().len(),
                    engine.hash()
                );
                for warning in &warnings {
                    eprintln!("warning: {warning}");
                }
            }
            if strict && !warnings.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("policy set in `{shown}` is invalid:\n{error}");
            ExitCode::FAILURE
        }
    }
}

/// The JSON document `policy test --format json` prints.
#[derive(Debug, Serialize)]
struct TestOutput<'a> {
    total: usize,
    passed: usize,
    failed: usize,
    cases: Vec<CaseOutput<'a>>,
}

#[derive(Debug, Serialize)]
struct CaseOutput<'a> {
    file: &'a str,
    name: &'a str,
    passed: bool,
    /// Expected versus got, for a failing case.
    failure: Option<&'a str>,
}

fn test(config: &Config, dir: Option<PathBuf>, format: OutputFormat, junit: Option<PathBuf>) -> ExitCode {
    let dir = dir.unwrap_or_else(|| config.policy_dir.clone());
    let engine = match PolicyEngine::load(&config.schema_file, &dir) {
        Ok(engine) => engine,
        Err(error) => {
            let message = format!("policy set in `{}` is invalid:\n{error}", dir.display());
            return fail(format, &message, 1);
        }
    };
    let report = match run_policy_tests(&engine, &dir.join("tests")) {
        Ok(report) => report,
        Err(error) => return fail(format, &error.to_string(), 1),
    };
    if let Some(file) = &junit
        && let Err(error) = std::fs::write(file, super::junit::render(&report))
    {
        return fail(
            format,
            &format!("cannot write the JUnit report `{}`: {error}", file.display()),
            1,
        );
    }
    if format.is_json() {
        print_json(&test_output(&report));
    } else {
        println!("{report}");
    }
    // No cases at all is a failure too: a missing tests directory must not pass silently.
    if report.failures.is_empty() && report.total > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn test_output(report: &TestReport) -> TestOutput<'_> {
    TestOutput {
        total: report.total,
        passed: report.passed(),
        failed: report.failures.len(),
        cases: report
            .cases
            .iter()
            .map(|c| CaseOutput {
                file: &c.file,
                name: &c.name,
                passed: c.failure.is_none(),
                failure: c.failure.as_deref(),
            })
            .collect(),
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
