//! `gatehouse app validate|register`: manifest checks for an app team's CI, and a client that
//! registers a manifest with a gateway.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::manifest::{self, Format, ManifestError};

/// App subcommands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Validate a manifest package offline: exit 0 when valid, 1 with one `POINTER: RULE: why`
    /// line per fault. `.yaml`/`.yml` files are read as YAML, anything else as JSON.
    Validate {
        /// The manifest file.
        file: PathBuf,
    },
    /// Validate, then register a manifest with a gateway (`POST /v1/apps`; with `--new-version`,
    /// `POST /v1/apps/{slug}/versions`).
    Register {
        /// The manifest file.
        file: PathBuf,
        /// The gateway's base URL, e.g. `https://gatehouse.example`.
        #[arg(long)]
        url: String,
        /// Bearer token (or the GATEHOUSE_TOKEN environment variable).
        #[arg(long, env = "GATEHOUSE_TOKEN", hide_env_values = true)]
        token: String,
        /// Register a new version of an existing app instead of a new app.
        #[arg(long)]
        new_version: bool,
    },
}

/// Runs an app subcommand.
pub async fn run(command: AppCommand) -> anyhow::Result<ExitCode> {
    match command {
        AppCommand::Validate { file } => {
            let Some(manifest) = load(&file)? else {
                return Ok(ExitCode::FAILURE);
            };
            println!(
                "{}: valid manifest for app `{}` version `{}`",
                file.display(),
                manifest.app.slug,
                manifest.version.version
            );
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Register {
            file,
            url,
            token,
            new_version,
        } => register(&file, &url, SecretString::from(token), new_version).await,
    }
}

/// Reads and validates; faults are printed and answered as `None`.
fn load(file: &Path) -> anyhow::Result<Option<manifest::Manifest>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let format = Format::from_file_name(&file.to_string_lossy());
    match manifest::load(&bytes, format) {
        Ok(m) => Ok(Some(m)),
        Err(ManifestError::Invalid(faults)) => {
            for fault in faults {
                println!("{fault}");
            }
            Ok(None)
        }
        Err(syntax) => {
            println!("/: syntax: {syntax}");
            Ok(None)
        }
    }
}

async fn register(
    file: &Path,
    url: &str,
    token: SecretString,
    new_version: bool,
) -> anyhow::Result<ExitCode> {
    let Some(manifest) = load(file)? else {
        return Ok(ExitCode::FAILURE);
    };
    let base = url.trim_end_matches('/');
    let endpoint = if new_version {
        format!("{base}/v1/apps/{}/versions", manifest.app.slug)
    } else {
        format!("{base}/v1/apps")
    };
    let content_type = match Format::from_file_name(&file.to_string_lossy()) {
        Format::Json => "application/json",
        Format::Yaml => "application/yaml",
    };
    let body = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")?;
    let response = client
        .post(&endpoint)
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach `{endpoint}`"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .context("cannot read the gateway's answer")?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        let what = if status == reqwest::StatusCode::CREATED {
            "registered"
        } else {
            "already registered, identical"
        };
        println!(
            "{what}: app `{}` version `{}`",
            manifest.app.slug, manifest.version.version
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "the gateway refused the manifest ({status}): {}",
        answer["detail"].as_str().unwrap_or_default()
    );
    for fault in answer["errors"].as_array().into_iter().flatten() {
        println!(
            "{}: {}: {}",
            fault["pointer"].as_str().unwrap_or("/"),
            fault["rule"].as_str().unwrap_or_default(),
            fault["message"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::FAILURE)
}
