//! `gatehouse verify image`: an image's cosign `.sig` and `.att` layers (and, from a registry,
//! its sigstore-bundle referrers), read from an OCI layout or a registry and checked by the
//! gateway's own `trust::Verifier`.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use secrecy::{ExposeSecret as _, SecretString};

use super::offline::{Offline, Source};
use super::output::OutputFormat;
use crate::domain::{ArtifactKind, Digest, Evidence};
use crate::registry::RegistryClient;
use crate::trust::Verifier;
use crate::trust::evidence::RegistryReader;
use crate::trust::oci_layout::OciLayout;

/// Arguments of `verify image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// `oci:DIR[:TAG|@DIGEST]` (an OCI image layout), or `HOST[:PORT]/REPO:TAG|@DIGEST`.
    pub reference: String,
    /// The image digest, when the reference names none (or to check a layout holding only
    /// signatures).
    #[arg(long)]
    pub digest: Option<String>,
    /// Required evidence is `[trust.required]`'s for this artifact type.
    #[arg(long, value_name = "TYPE", default_value = "oci.image")]
    pub artifact_type: String,
    /// Talk to the registry over plain HTTP (a local registry), not HTTPS.
    #[arg(long)]
    pub plain_http: bool,
    /// Bearer token for the registry.
    #[arg(long, env = "GATEHOUSE_REGISTRY_TOKEN", hide_env_values = true, value_parser = secret)]
    pub registry_token: Option<SecretString>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Keeps the token out of `Debug` output.
fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw))
}

/// The image's evidence: its signature record (tag and referrers combined), one record per
/// attestation, and a failing one per required type never checked.
pub async fn check(verifier: &Verifier, args: &ImageArgs) -> anyhow::Result<(Digest, Vec<Evidence>)> {
    let given = args
        .digest
        .as_deref()
        .map(|raw| {
            raw.parse::<Digest>()
                .map_err(|e| anyhow::anyhow!("`--digest`: {e}"))
        })
        .transpose()?;
    if let Some(layout) = args.reference.strip_prefix("oci:") {
        from_layout(verifier, args, layout, given).await
    } else {
        from_registry(verifier, args, given).await
    }
}

async fn from_layout(
    verifier: &Verifier,
    args: &ImageArgs,
    reference: &str,
    given: Option<Digest>,
) -> anyhow::Result<(Digest, Vec<Evidence>)> {
    // `DIR@sha256:…`, `DIR:TAG`, or just `DIR` (one image, or `--digest`).
    let (dir, selector) = if let Some((dir, digest)) = reference.split_once('@') {
        (dir, Some(Selector::Digest(digest)))
    } else {
        match reference.rsplit_once(':') {
            Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, Some(Selector::Tag(tag))),
            _ => (reference, None),
        }
    };
    let layout = OciLayout::open(&PathBuf::from(dir))?;
    let subject = match (selector, given) {
        (_, Some(digest)) => digest,
        (Some(Selector::Digest(raw)), None) => raw.parse().map_err(|e| anyhow::anyhow!("`{raw}`: {e}"))?,
        (Some(Selector::Tag(tag)), None) => layout
            .resolve(tag)
            .with_context(|| format!("the layout `{dir}` has no image tagged `{tag}`"))?,
        (None, None) => layout.only_image().with_context(|| {
            format!("the layout `{dir}` does not hold exactly one image: name it (`oci:{dir}:TAG`) or give `--digest`")
        })?,
    };
    let evidence = Offline::new(&subject, Source::Layout(&layout), Vec::new())
        .verify(
            verifier,
            ArtifactKind::Oci,
            Some(&args.artifact_type),
            &args.reference,
        )
        .await?;
    Ok((subject, evidence))
}

enum Selector<'a> {
    Tag(&'a str),
    Digest(&'a str),
}

async fn from_registry(
    verifier: &Verifier,
    args: &ImageArgs,
    given: Option<Digest>,
) -> anyhow::Result<(Digest, Vec<Evidence>)> {
    let Some((host, path)) = args.reference.split_once('/') else {
        bail!(
            "`{}` is neither `oci:DIR` nor a registry reference `HOST/REPO:TAG|@DIGEST`",
            args.reference
        );
    };
    let (repository, reference) = match path.split_once('@') {
        Some((repository, digest)) => (repository, Some(digest)),
        None => match path.rsplit_once(':') {
            Some((repository, tag)) if !tag.contains('/') => (repository, Some(tag)),
            _ => (path, None),
        },
    };
    let scheme = if args.plain_http { "http" } else { "https" };
    let client =
        RegistryClient::new(&format!("{scheme}://{host}")).context("cannot build the registry client")?;
    let token = args
        .registry_token
        .as_ref()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    let subject = match (given, reference) {
        (Some(digest), _) => digest,
        (None, Some(reference)) if reference.contains(':') => reference
            .parse()
            .map_err(|e| anyhow::anyhow!("`{reference}`: {e}"))?,
        (None, Some(tag)) => {
            client
                .get_manifest(repository, tag, &token)
                .await
                .with_context(|| format!("cannot read `{}`", args.reference))?
                .with_context(|| format!("the registry has no `{}`", args.reference))?
                .digest
        }
        (None, None) => bail!("`{}` names no tag or digest", args.reference),
    };
    let reader = RegistryReader {
        client: &client,
        repository,
        digest: &subject,
        token,
    };
    let evidence = Offline::new(&subject, Source::Registry(reader), Vec::new())
        .verify(
            verifier,
            ArtifactKind::Oci,
            Some(&args.artifact_type),
            &args.reference,
        )
        .await?;
    Ok((subject, evidence))
}
