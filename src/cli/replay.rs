//! `gatehouse policy replay`: re-decides the stored decision log against a candidate policy
//! directory so CI can gate a policy change on what it would do.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;

use super::output::{OutputFormat, fail, print_json};
use super::progress::Progress;
use crate::config::Config;
use crate::policy::{PolicyEngine, ReplayReport};
use crate::store::{LogFilter, PageRequest};

/// Exit status when nothing would change.
const UNCHANGED: u8 = 0;
/// Exit status when at least one decision would change (a CI gate fails on it).
const CHANGED: u8 = 1;
/// Exit status when the replay could not run (invalid candidate, unreadable database).
const ERROR: u8 = 2;

/// Arguments of `policy replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The candidate policy directory, validated against the configured schema.
    #[arg(long, value_name = "DIR")]
    pub candidate: PathBuf,
    /// Only decisions at or after this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<DateTime<Utc>>,
    /// Only decisions on this project.
    #[arg(long)]
    pub project: Option<String>,
    /// Only decisions on this Cedar action, e.g. `promote`.
    #[arg(long)]
    pub action: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
    /// The same as `--format json` (kept for scripts written before `--format`).
    #[arg(long, hide = true)]
    pub json: bool,
}

/// Runs the replay; 0 = nothing would change, 1 = something would, 2 = it could not run.
pub async fn run(config: &Config, args: ReplayArgs) -> ExitCode {
    let format = if args.json {
        OutputFormat::Json
    } else {
        args.format
    };
    let candidate = match PolicyEngine::load(&config.schema_file, &args.candidate) {
        Ok(engine) => {
            engine.with_dry_run_channels(config.policy_dry_run_channels.iter().map(ToString::to_string))
        }
        Err(error) => {
            let message = format!(
                "candidate policy set in `{}` is invalid:\n{error}",
                args.candidate.display()
            );
            return fail(format, &message, ERROR);
        }
    };
    let report = match replay_log(config, &candidate, &args).await {
        Ok(report) => report,
        Err(error) => return fail(format, &format!("{error:#}"), ERROR),
    };
    if format.is_json() {
        print_json(&report);
    } else {
        print!("{report}");
    }
    ExitCode::from(if report.changed == 0 { UNCHANGED } else { CHANGED })
}

/// Pages through the matching decisions, replaying each page as it arrives.
async fn replay_log(
    config: &Config,
    candidate: &PolicyEngine,
    args: &ReplayArgs,
) -> anyhow::Result<ReplayReport> {
    let store = crate::store::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    let filter = LogFilter {
        project: args.project.clone(),
        action: args.action.clone(),
        since: args.since,
        ..LogFilter::default()
    };
    let mut report = ReplayReport::new(candidate);
    // Records processed, on stderr only when a person watches it.
    let mut progress = Progress::on_terminal("replayed", None);
    let mut page = PageRequest {
        limit: 500,
        cursor: None,
    };
    loop {
        let found = store
            .list_decisions(&filter, &page)
            .await
            .context("cannot read the decision log")?;
        for record in &found.items {
            report.add(candidate, record);
        }
        progress.set(report.replayed as u64);
        match found.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => {
                progress.finish();
                return Ok(report);
            }
        }
    }
}
