//! `gatehouse fetch`: download a blob named by a pull intent (or a plain URL and a digest),
//! resuming with HTTP range requests, and keep it only once its digest is verified.
//!
//! Bytes go to `FILE.partial`; a later run resumes from it. The file is renamed into place only
//! after the whole content hashes to the expected digest (and has the expected size); on a
//! mismatch the partial is deleted, so no unverified file is ever left under the final name.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use reqwest::{StatusCode, Url, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use uuid::Uuid;

use super::progress::Progress;
use crate::artifact_store::redact_uri;
use crate::domain::Digest;
use crate::trust::content::Hasher;

/// Attempts per run; each one after an interruption resumes where the last stopped.
const ATTEMPTS: u32 = 3;

/// Arguments of `gatehouse fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// A pull-intent id, or an http(s) URL (then `--digest` is required).
    pub target: String,
    /// The gateway to read the pull intent from.
    #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Bearer token for the gateway.
    #[arg(long, env = "GATEHOUSE_TOKEN", hide_env_values = true, value_parser = secret)]
    pub token: Option<SecretString>,
    /// The digest the content must have (with a URL).
    #[arg(long)]
    pub digest: Option<String>,
    /// The size the content must have (with a URL).
    #[arg(long)]
    pub size: Option<u64>,
    /// Where to write the verified file (default: the last path segment of the source).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Keeps a token out of `Debug` output (the arguments derive it).
fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw))
}

/// What to download and how to check it.
struct Plan {
    url: Url,
    digest: Digest,
    size: Option<u64>,
    bearer: Option<String>,
}

/// The parts of a pull-intent answer the fetcher needs.
#[derive(Deserialize)]
struct IntentAnswer {
    artifact_kind: String,
    digest: String,
    #[serde(default)]
    size_bytes: Option<u64>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    credential: Option<IntentCredential>,
}

#[derive(Deserialize)]
struct IntentCredential {
    token: Option<String>,
}

/// Runs `gatehouse fetch`.
pub async fn run(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(&args).await?;
    let output = match &args.output {
        Some(path) => path.clone(),
        None => default_name(&plan),
    };
    let bytes = download_verified(&plan, &output).await?;
    println!("fetched {} ({bytes} bytes, {})", output.display(), plan.digest);
    Ok(ExitCode::SUCCESS)
}

async fn plan(args: &FetchArgs) -> anyhow::Result<Plan> {
    if let Ok(id) = Uuid::parse_str(&args.target) {
        return plan_from_intent(args, id).await;
    }
    let url = Url::parse(&args.target)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            anyhow!(
                "`{}` is neither a pull-intent id nor an http(s) URL",
                redact_uri(&args.target)
            )
        })?;
    let raw = args
        .digest
        .as_deref()
        .ok_or_else(|| anyhow!("fetching a URL needs `--digest` to verify the content against"))?;
    let digest: Digest = raw.parse().map_err(|e| anyhow!("`--digest`: {e}"))?;
    Ok(Plan {
        url,
        digest,
        size: args.size,
        bearer: None,
    })
}

async fn plan_from_intent(args: &FetchArgs, id: Uuid) -> anyhow::Result<Plan> {
    let token = args
        .token
        .as_ref()
        .map(ExposeSecret::expose_secret)
        .ok_or_else(|| {
            anyhow!("reading a pull intent needs a gateway token (`--token` or GATEHOUSE_TOKEN)")
        })?;
    let base = args.url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build an HTTP client")?;
    let response = client
        .get(format!("{base}/v1/pull-intents/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| anyhow!("cannot reach the gateway at `{base}`: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        let detail = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|p| p["detail"].as_str().map(str::to_owned))
            .unwrap_or_default();
        bail!("the gateway answered {status} for pull intent `{id}`: {detail}");
    }
    let answer: IntentAnswer = response
        .json()
        .await
        .map_err(|e| anyhow!("the gateway's answer is not a pull intent: {}", e.without_url()))?;
    let reference = answer.reference.unwrap_or_default();
    if answer.artifact_kind != "blob" {
        bail!("pull intent `{id}` is for an OCI artifact: pull `{reference}` with a registry client");
    }
    let raw_url = answer.url.ok_or_else(|| {
        anyhow!("pull intent `{id}` gives no download URL for `{reference}`: fetch it with your own access to the source and pass `--digest`")
    })?;
    let url = Url::parse(&raw_url).map_err(|e| anyhow!("the intent's URL is not a URL: {e}"))?;
    let digest: Digest = answer
        .digest
        .parse()
        .map_err(|e| anyhow!("the intent's digest: {e}"))?;
    let bearer = answer.credential.and_then(|c| c.token);
    Ok(Plan {
        url,
        digest,
        size: args.size.or(answer.size_bytes),
        bearer,
    })
}

/// The last path segment of the URL, else the digest's hex.
fn default_name(plan: &Plan) -> PathBuf {
    let segment = plan
        .url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .map(str::to_owned);
    PathBuf::from(segment.unwrap_or_else(|| plan.digest.hex().to_owned()))
}

fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Downloads (resuming), verifies, then renames into place; the verified size is returned.
async fn download_verified(plan: &Plan, output: &Path) -> anyhow::Result<u64> {
    let hasher = Hasher::for_digest(&plan.digest).ok_or_else(|| {
        anyhow!(
            "digest algorithm `{}` cannot be verified",
            plan.digest.algorithm()
        )
    })?;
    let partial = partial_path(output);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        // A bearer token is for its origin only: never follow a redirect with it.
        .redirect(if plan.bearer.is_some() {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::limited(5)
        })
        .build()
        .context("cannot build an HTTP client")?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match download_once(&client, plan, &partial).await {
            Ok(()) => break,
            Err(Attempt::Interrupted(reason)) if attempt < ATTEMPTS => {
                eprintln!("download interrupted ({reason}); resuming");
            }
            Err(Attempt::Interrupted(reason)) => bail!(
                "download interrupted ({reason}) after {ATTEMPTS} attempts; `{}` is kept so a later run resumes",
                partial.display()
            ),
            Err(Attempt::Refused(reason)) => bail!("{reason}"),
        }
    }
    let (read, actual) = hash_file(&partial, hasher)?;
    let expected = &plan.digest;
    if let Some(size) = plan.size
        && size != read
    {
        discard(&partial);
        bail!(
            "size mismatch: expected {size} bytes, got {read}; the download was deleted and nothing was written to `{}`",
            output.display()
        );
    }
    if actual != expected.hex() {
        discard(&partial);
        bail!(
            "digest mismatch: expected `{expected}`, got `{}:{actual}`; the download was deleted and nothing was written to `{}`",
            expected.algorithm(),
            output.display()
        );
    }
    std::fs::rename(&partial, output)
        .with_context(|| format!("cannot move the verified file to `{}`", output.display()))?;
    Ok(read)
}

/// Why one attempt ended early.
enum Attempt {
    /// The connection broke or timed out: resume.
    Interrupted(String),
    /// The source refused or answered something unusable: stop.
    Refused(String),
}

/// One request: appends to `partial` from its current length.
async fn download_once(client: &reqwest::Client, plan: &Plan, partial: &Path) -> Result<(), Attempt> {
    let io = |e: std::io::Error| Attempt::Refused(format!("cannot write `{}`: {e}", partial.display()));
    let mut offset = std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    if plan.size.is_some_and(|size| offset > size) {
        // Longer than the content can be: not a prefix of it.
        offset = 0;
    }
    let mut request = client.get(plan.url.clone());
    if let Some(token) = &plan.bearer {
        request = request.bearer_auth(token);
    }
    if offset > 0 {
        request = request.header(header::RANGE, format!("bytes={offset}-"));
    }
    let shown = redact_uri(plan.url.as_str());
    let mut response = request
        .send()
        .await
        .map_err(|e| Attempt::Interrupted(e.without_url().to_string()))?;
    let status = response.status();
    let mut file = match status {
        StatusCode::PARTIAL_CONTENT if offset > 0 => {
            let start = response
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.parse::<u64>().ok());
            if start != Some(offset) {
                return Err(Attempt::Refused(format!(
                    "`{shown}` answered a range that does not start at byte {offset}"
                )));
            }
            OpenOptions::new().append(true).open(partial).map_err(io)?
        }
        // The whole content (the source ignores ranges, or there was nothing to resume).
        StatusCode::OK => File::create(partial).map_err(io)?,
        // Everything is already here; verification decides.
        StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => return Ok(()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(Attempt::Refused(format!(
                "`{shown}` refused the download ({status}): the credential is expired or not for this object"
            )));
        }
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            return Err(Attempt::Interrupted(format!("`{shown}` answered {status}")));
        }
        _ => return Err(Attempt::Refused(format!("`{shown}` answered {status}"))),
    };
    let mut written = if status == StatusCode::OK { 0 } else { offset };
    let total = plan
        .size
        .or_else(|| response.content_length().map(|len| len + written));
    let mut progress = Progress::bytes_on_terminal("fetching", total, written);
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| Attempt::Interrupted(e.without_url().to_string()));
        match chunk {
            Ok(Some(bytes)) => {
                written += bytes.len() as u64;
                if plan.size.is_some_and(|size| written > size) {
                    discard(partial);
                    return Err(Attempt::Refused(format!(
                        "`{shown}` sent more than the expected {} bytes; the download was deleted",
                        plan.size.unwrap_or_default()
                    )));
                }
                file.write_all(&bytes).map_err(io)?;
                progress.set(written);
            }
            Ok(None) => {
                progress.finish();
                break;
            }
            Err(interrupted) => {
                // Keep what arrived: the next attempt asks for the rest.
                file.flush().map_err(io)?;
                return Err(interrupted);
            }
        }
    }
    file.sync_all().map_err(io)?;
    Ok(())
}

fn hash_file(path: &Path, mut hasher: Hasher) -> anyhow::Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut buffer = vec![0_u8; 1 << 16];
    let mut read = 0_u64;
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((read, hasher.hex()))
}

fn discard(partial: &Path) {
    if let Err(e) = std::fs::remove_file(partial)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!("warning: cannot delete `{}`: {e}", partial.display());
    }
}
