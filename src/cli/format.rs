//! `gatehouse policy format`: Cedar's own formatter (`cedar-policy-formatter`, what `cedar
//! format` uses) over policy files, rewriting them in place, or with `--check` only listing the
//! files it would change so CI can refuse unformatted policy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use cedar_policy_formatter::{Config as FormatConfig, policies_str_to_pretty};
use clap::Args;
use serde::Serialize;

use super::output::{OutputFormat, fail, print_json};
use crate::config::Config;

/// Exit status when every file is (now) formatted.
const FORMATTED: u8 = 0;
/// Exit status of `--check` when some file is not formatted.
const UNFORMATTED: u8 = 1;
/// Exit status when a file cannot be read, parsed or written: nothing after it is touched.
const ERROR: u8 = 2;

/// Arguments of `policy format`.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Policy files, or directories whose `*.cedar` files are formatted (default: `policy_dir`).
    #[arg(value_name = "FILES|DIR")]
    pub paths: Vec<PathBuf>,
    /// Write nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
    /// Line width.
    #[arg(long, default_value_t = 80)]
    pub line_width: usize,
    /// Indentation width.
    #[arg(long, default_value_t = 2)]
    pub indent_width: isize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// The JSON document `policy format --format json` prints.
#[derive(Debug, Default, Serialize)]
struct FormatReport {
    /// Whether this was a `--check` run (nothing written).
    check: bool,
    /// Every file looked at.
    files: Vec<String>,
    /// The files not formatted (with `--check`) or rewritten (without).
    changed: Vec<String>,
}

/// Runs `policy format`.
pub fn run(config: &Config, args: &FormatArgs) -> ExitCode {
    let paths = if args.paths.is_empty() {
        vec![config.policy_dir.clone()]
    } else {
        args.paths.clone()
    };
    let style = FormatConfig {
        line_width: args.line_width,
        indent_width: args.indent_width,
    };
    let files = match policy_files(&paths) {
        Ok(files) => files,
        Err(error) => return fail(args.format, &format!("{error:#}"), ERROR),
    };
    // Everything is formatted first: a file that does not parse stops the run before any write.
    let mut rewrites = Vec::new();
    for file in &files {
        match formatted(file, &style) {
            Ok(Some(text)) => rewrites.push((file, text)),
            Ok(None) => {}
            Err(error) => return fail(args.format, &format!("{error:#}"), ERROR),
        }
    }
    let report = FormatReport {
        check: args.check,
        files: files.iter().map(|f| f.display().to_string()).collect(),
        changed: rewrites.iter().map(|(f, _)| f.display().to_string()).collect(),
    };
    if !args.check {
        for (file, text) in &rewrites {
            if let Err(error) = write_in_place(file, text) {
                return fail(args.format, &format!("{error:#}"), ERROR);
            }
        }
    }
    if args.format.is_json() {
        print_json(&report);
    } else {
        let verb = if args.check { "not formatted" } else { "formatted" };
        for file in &report.changed {
            println!("{verb}: {file}");
        }
        if report.changed.is_empty() {
            println!("{} policy files already formatted", report.files.len());
        }
    }
    ExitCode::from(if args.check && !report.changed.is_empty() {
        UNFORMATTED
    } else {
        FORMATTED
    })
}

/// The files named, with each directory's `*.cedar` files (sorted, not recursive, as the loader
/// reads them).
fn policy_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            let entries = std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory `{}`", path.display()))?;
            for entry in entries {
                let file = entry
                    .with_context(|| format!("cannot list directory `{}`", path.display()))?
                    .path();
                if file.is_file() && file.extension().is_some_and(|ext| ext == "cedar") {
                    found.push(file);
                }
            }
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            anyhow::bail!("`{}` is neither a policy file nor a directory", path.display());
        }
    }
    Ok(files)
}

/// The formatted text when it differs from the file's, `None` when the file is formatted.
fn formatted(file: &Path, style: &FormatConfig) -> anyhow::Result<Option<String>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let pretty = policies_str_to_pretty(&text, style).map_err(|e| {
        let causes: Vec<String> = e.chain().map(ToString::to_string).collect();
        anyhow::anyhow!("`{}` cannot be formatted: {}", file.display(), causes.join(": "))
    })?;
    Ok((pretty != text).then_some(pretty))
}

/// Replaces the file through a temporary sibling and a rename, so a crash never leaves half a
/// policy file behind.
fn write_in_place(file: &Path, text: &str) -> anyhow::Result<()> {
    let mut temporary = file.as_os_str().to_owned();
    temporary.push(".format-tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text).with_context(|| format!("cannot write `{}`", temporary.display()))?;
    std::fs::rename(&temporary, file).with_context(|| format!("cannot replace `{}`", file.display()))
}
