//! `gatehouse verify`: check trust material offline against the `[trust]` configuration with
//! the gateway's own verifier (`trust::Verifier`, the one the server's verification calls, so the
//! two cannot disagree), printing the evidence records verification would store. Offline means
//! no Rekor or Fulcio call and no content fetch: the trusted root, keys and identities come from
//! config, and the only network is the registry an image reference names.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::offline::{Offline, Source};
use super::output::{OutputFormat, fail, print_json};
use super::verify_image::{self, ImageArgs};
use crate::config::Config;
use crate::domain::{ArtifactKind, Digest, Evidence, EvidenceResult};
use crate::trust::Verifier;
use crate::trust::attachment::is_sigstore_bundle;
use crate::trust::cache::VerificationCache;

/// Exit status when every check passed.
const VERIFIED: u8 = 0;
/// Exit status when some check failed (or there was nothing to check).
const NOT_VERIFIED: u8 = 1;
/// Exit status when verification could not run (config, files, registry).
pub(super) const ERROR: u8 = 2;

/// Largest envelope or bundle file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// `verify` subcommands.
#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// An image's cosign signatures and attestations (`.sig`/`.att` tags), from an OCI layout
    /// (`oci:DIR[:TAG|@DIGEST]`) or a registry (`HOST/REPO:TAG`, `HOST/REPO@DIGEST`).
    Image(ImageArgs),
    /// A DSSE envelope file (an in-toto attestation) about a digest.
    Envelope(FileArgs),
    /// A sigstore bundle file (blob signature, DSSE attestation or model-signing) about a digest.
    Bundle(FileArgs),
}

/// Arguments of `verify envelope` and `verify bundle`.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// The envelope or bundle file.
    pub file: PathBuf,
    /// The digest the material must be about, e.g. `sha256:…`.
    #[arg(long, required_unless_present = "artifact", conflicts_with = "artifact")]
    pub digest: Option<String>,
    /// The artifact file itself: its sha256 is the digest.
    #[arg(long, value_name = "FILE")]
    pub artifact: Option<PathBuf>,
    /// Also require the evidence `[trust.required]` names for this artifact type.
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// The JSON document `verify --format json` prints.
#[derive(Debug, Serialize)]
pub(super) struct VerifyOutput<'a> {
    /// The digest checked.
    pub subject: &'a Digest,
    /// Whether every evidence record passed (and there was at least one).
    pub verified: bool,
    /// The evidence records, as the gateway stores them.
    pub evidence: &'a [Evidence],
}

/// Runs a `verify` subcommand.
pub async fn run(config: &Config, command: VerifyCommand) -> ExitCode {
    let format = match &command {
        VerifyCommand::Image(args) => args.format,
        VerifyCommand::Envelope(args) | VerifyCommand::Bundle(args) => args.format,
    };
    let verifier = match offline_verifier(config) {
        Ok(verifier) => verifier,
        Err(error) => return fail(format, &format!("{error:#}"), ERROR),
    };
    let checked = match command {
        VerifyCommand::Image(args) => verify_image::check(&verifier, &args).await,
        VerifyCommand::Envelope(args) => check_file(&verifier, &args, false).await,
        VerifyCommand::Bundle(args) => check_file(&verifier, &args, true).await,
    };
    match checked {
        Ok((subject, evidence)) => report(format, &subject, &evidence),
        Err(error) => fail(format, &format!("{error:#}"), ERROR),
    }
}

/// The server's verifier as `[trust]` configures it, without content fetch (offline).
fn offline_verifier(config: &Config) -> anyhow::Result<Verifier> {
    let (sigstore, config_hash) = crate::app::trust_verifier(config)?;
    Ok(Verifier::new(
        sigstore,
        None,
        VerificationCache::new(config_hash),
        config.trust.clone(),
    ))
}

/// An envelope or bundle file checked against the digest, with any required evidence.
async fn check_file(
    verifier: &Verifier,
    args: &FileArgs,
    bundle: bool,
) -> anyhow::Result<(Digest, Vec<Evidence>)> {
    let subject = match (&args.digest, &args.artifact) {
        (Some(raw), _) => raw.parse().map_err(|e| anyhow::anyhow!("`--digest`: {e}"))?,
        (None, Some(file)) => sha256_of_file(file)?,
        (None, None) => anyhow::bail!("give `--digest` or `--artifact`"),
    };
    let material = read_json(&args.file)?;
    // Refuse the wrong kind of file by name rather than reporting a confusing failed check.
    match (bundle, is_sigstore_bundle(&material)) {
        (true, false) => anyhow::bail!(
            "`{}` is not a sigstore bundle (no `mediaType` application/vnd.dev.sigstore.bundle…); use `verify envelope` for a DSSE envelope",
            args.file.display()
        ),
        (false, true) => anyhow::bail!(
            "`{}` is a sigstore bundle; use `verify bundle`",
            args.file.display()
        ),
        _ => {}
    }
    // An attachment about the digest, as registration keeps one: no registry is read.
    let offline = Offline::new(&subject, Source::Nothing, vec![material]);
    let name = args.file.display().to_string();
    let evidence = offline
        .verify(verifier, ArtifactKind::Blob, args.artifact_type.as_deref(), &name)
        .await?;
    Ok((subject, evidence))
}

/// Prints the evidence and answers the exit status.
pub(super) fn report(format: OutputFormat, subject: &Digest, evidence: &[Evidence]) -> ExitCode {
    let verified = !evidence.is_empty() && evidence.iter().all(|e| e.result == EvidenceResult::Pass);
    if format.is_json() {
        print_json(&VerifyOutput {
            subject,
            verified,
            evidence,
        });
    } else {
        println!("subject {subject}");
        for e in evidence {
            let result = if e.result == EvidenceResult::Pass {
                "PASS"
            } else {
                "FAIL"
            };
            let check = e
                .details
                .get("check")
                .and_then(Value::as_str)
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            println!("{result} {}{check}: {}", e.evidence_type, e.reason);
        }
        if verified {
            println!("verified");
        } else if evidence.is_empty() {
            println!("not verified: no trust material found");
        } else {
            let failed = evidence
                .iter()
                .filter(|e| e.result != EvidenceResult::Pass)
                .count();
            println!("not verified: {failed} of {} checks failed", evidence.len());
        }
    }
    ExitCode::from(if verified { VERIFIED } else { NOT_VERIFIED })
}

fn read_json(file: &Path) -> anyhow::Result<Value> {
    let bytes = read_capped(file, MAX_FILE_BYTES)?;
    serde_json::from_slice(&bytes).with_context(|| format!("`{}` is not JSON", file.display()))
}

fn read_capped(file: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let handle = std::fs::File::open(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let mut bytes = Vec::new();
    handle
        .take(max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    if bytes.len() as u64 > max {
        anyhow::bail!("`{}` is larger than {max} bytes", file.display());
    }
    Ok(bytes)
}

/// The sha256 digest of a file, read in chunks (artifacts can be large).
fn sha256_of_file(file: &Path) -> anyhow::Result<Digest> {
    let mut handle =
        std::fs::File::open(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 1 << 16];
    loop {
        let n = handle
            .read(&mut buffer)
            .with_context(|| format!("cannot read `{}`", file.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())).parse()?)
}
