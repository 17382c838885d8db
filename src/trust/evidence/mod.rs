//! The one verifier admission calls: it reads an artifact's trust material through the caller's
//! [`Material`] and turns it into evidence records and a verdict. Registry faults and slow
//! sources are [`Unavailable`] (a retry), never a failed check; everything else that is wrong
//! with the material becomes a failing record.

mod checks;
mod material;
mod verdict;

#[cfg(test)]
mod tests;

use chrono::Utc;
use serde_json::Value;

pub use material::{Material, RegistryMaterial, RegistryReader, Unavailable};
pub use verdict::{Input, InputContent, Verification};

use super::TrustConfig;
use super::attachment::is_sigstore_bundle;
use super::cache::VerificationCache;
use super::content::{ContentFetcher, unfetchable};
use super::cosign::signature_tag;
use super::cosign_attestations::attestation_tag;
use super::referrers::combine_signatures;
use super::required::{missing_required, missing_required_for_kind};
use super::verifier::SigstoreVerifier;
use crate::domain::{Artifact, ArtifactKind, Digest, Evidence, EvidenceResult};

/// Deadline for gathering an image's signatures from the registry.
const SIGNATURE_FETCH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// The media type of a DSSE envelope in JSON.
const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The trust material and rules, loaded once at start-up.
pub struct Verifier {
    /// The sigstore verifier (trusted root, managed keys, keyless identities, log rule) every
    /// signature, attestation and bundle is checked with.
    sigstore: SigstoreVerifier,
    /// Downloads reachable blobs to hash them, when `[trust.content_fetch]` is on.
    content: Option<ContentFetcher>,
    /// Results of checks already made on the same material under the same configuration.
    cache: VerificationCache,
    /// Required evidence per artifact type, and whether registration queues verification.
    config: TrustConfig,
}

impl Verifier {
    /// A verifier checking with `sigstore`, fetching blob content with `content` (when on),
    /// remembering results in `cache`, and requiring what `config` requires.
    pub fn new(
        sigstore: SigstoreVerifier,
        content: Option<ContentFetcher>,
        cache: VerificationCache,
        config: TrustConfig,
    ) -> Self {
        Self {
            sigstore,
            content,
            cache,
            config,
        }
    }

    /// `[trust]` as configured.
    pub fn config(&self) -> &TrustConfig {
        &self.config
    }

    /// Forgets every remembered check (on a policy reload), so each runs afresh.
    pub fn invalidate_cache(&self) {
        self.cache.invalidate_all();
    }

    /// Verifies `artifact` (an OCI image named `image`) with its `material`: the digest's own
    /// record, the caller's `source_policy` record, then the registry's signatures, referrers and
    /// attestations, the blob's content, every attachment, and a failing record per required
    /// type not checked at all.
    pub async fn verify<M: Material>(
        &self,
        artifact: &Artifact,
        image: &str,
        source_policy: Evidence,
        material: &M,
    ) -> Result<Verification, M::Error> {
        let mut run = Verification {
            evidence: vec![checks::digest_evidence(artifact), source_policy],
            inputs: Vec::new(),
        };
        let digest = &artifact.digest;
        let (artifact_type, kind) = (artifact.artifact_type.as_str(), artifact.artifact_kind);
        if kind == ArtifactKind::Oci {
            self.registry_evidence(digest, artifact_type, kind, image, material, &mut run)
                .await?;
        }
        if kind == ArtifactKind::Blob {
            self.content_evidence(artifact, material, &mut run).await?;
        }
        let attachments = format!("gatehouse:artifacts/{}/attachments", artifact.id);
        self.attachment_evidence(digest, &attachments, material, &mut run)
            .await?;
        let missing = missing_required_for_kind(
            &self.config,
            artifact.artifact_type.as_str(),
            artifact.artifact_kind.as_str(),
            &run.evidence,
        );
        run.evidence.extend(missing);
        Ok(run)
    }

    /// The command line's check (`gatehouse verify`) of material about `digest` with no stored
    /// artifact, through the same checks as [`Self::verify`]: an `oci` image's signatures,
    /// referrers and attestations from `material`'s registry (under the same rule for when they
    /// are read), then every attachment, then — when an artifact type is named — a failing
    /// record per required type not checked (its kind read from the type's prefix). A `blob`
    /// claim reads attachments only: no content is fetched offline.
    pub async fn verify_offline<M: Material>(
        &self,
        digest: &Digest,
        kind: ArtifactKind,
        artifact_type: Option<&str>,
        image: &str,
        material: &M,
    ) -> Result<Vec<Evidence>, M::Error> {
        let mut run = Verification {
            evidence: Vec::new(),
            inputs: Vec::new(),
        };
        if kind == ArtifactKind::Oci {
            let rules_for = artifact_type.unwrap_or(kind.as_str());
            self.registry_evidence(digest, rules_for, kind, image, material, &mut run)
                .await?;
        }
        self.attachment_evidence(digest, image, material, &mut run)
            .await?;
        if let Some(artifact_type) = artifact_type {
            let missing = missing_required(&self.config, artifact_type, &run.evidence);
            run.evidence.extend(missing);
        }
        Ok(run.evidence)
    }

    /// Every attachment kept with the artifact, each checked and named `{prefix}/{n}`.
    async fn attachment_evidence<M: Material>(
        &self,
        digest: &Digest,
        prefix: &str,
        material: &M,
        run: &mut Verification,
    ) -> Result<(), M::Error> {
        for (i, attachment) in material.attachments().await?.iter().enumerate() {
            let media_type = (!is_sigstore_bundle(attachment)).then_some(DSSE_MEDIA_TYPE);
            run.inputs
                .push(json_input(format!("{prefix}/{i}"), attachment, media_type));
            run.evidence
                .push(self.checked_attachment(digest, attachment).await);
        }
        Ok(())
    }

    /// Signatures, referrer bundles and attestations from the registry: read when a signature
    /// is required, or when there are keys to check them with and a registry to ask.
    async fn registry_evidence<M: Material>(
        &self,
        digest: &Digest,
        artifact_type: &str,
        kind: ArtifactKind,
        image: &str,
        material: &M,
        run: &mut Verification,
    ) -> Result<(), M::Error> {
        let required = self.config.required_for_kind(artifact_type, kind.as_str());
        let signature_required = required.iter().any(|r| r == "signature");
        match material.registry().await? {
            Some(reader) if self.sigstore.is_configured() || signature_required => {
                let layers = bounded(reader.signatures()).await?;
                let sig_tag = signature_tag(digest);
                run.inputs.extend(layers.iter().map(|layer| Input {
                    name: format!("{image}:{sig_tag}"),
                    content: InputContent::Bytes(layer.payload.clone()),
                    media_type: Some(layer.media_type.clone()),
                }));
                // Checked once the referrers are in: an unavailable registry leaves no result.
                let checked = self.checked_signatures(digest, &layers);
                // Bundles attached as OCI 1.1 referrers, beside cosign's tags.
                let found = bounded(reader.referrer_bundles()).await?;
                let mut referrer_signatures = Vec::new();
                let mut referrer_attestations = Vec::new();
                for bundle in &found.bundles {
                    if let Ok(bytes) = &bundle.content {
                        run.inputs.push(Input {
                            name: format!("{image}@{}", bundle.manifest),
                            content: InputContent::Bytes(bytes.clone()),
                            media_type: None,
                        });
                    }
                    let checked = self.checked_referrer(digest, bundle).await;
                    if checked.evidence_type == "signature" {
                        referrer_signatures.push(checked);
                    } else {
                        referrer_attestations.push(checked);
                    }
                }
                run.evidence.push(combine_signatures(
                    checked.await,
                    found.lookup,
                    referrer_signatures,
                ));
                run.evidence.extend(referrer_attestations);
                let stored = bounded(reader.attestations()).await?;
                let att_tag = attestation_tag(digest);
                for layer in &stored {
                    run.inputs.push(json_input(
                        format!("{image}:{att_tag}"),
                        &layer.envelope,
                        Some(DSSE_MEDIA_TYPE),
                    ));
                    run.evidence
                        .push(self.checked_attestation_layer(digest, layer).await);
                }
            }
            None if signature_required => run.evidence.push(Evidence {
                evidence_type: "signature".to_owned(),
                result: EvidenceResult::Fail,
                reason: "a signature is required but no registry is configured to read it from".to_owned(),
                checked_at: Utc::now(),
                details: Value::Null,
            }),
            _ => {}
        }
        Ok(())
    }

    /// A blob's content hashed against its digest, when content fetch is on and its source is a
    /// place the gateway may reach; a source type with no protocol fails closed.
    async fn content_evidence<M: Material>(
        &self,
        artifact: &Artifact,
        material: &M,
        run: &mut Verification,
    ) -> Result<(), M::Error> {
        let Some(content) = &self.content else {
            return Ok(());
        };
        let source = &artifact.source;
        match material.source_protocol(&source.source_type).await {
            Some(protocol) => {
                if let Some(url) = content.url_for(&protocol, &source.uri) {
                    let checked = content
                        .check(url, &artifact.digest, source.size_bytes)
                        .await
                        .map_err(|e| {
                            tracing::warn!(error = %e, "cannot fetch blob content to hash it");
                            Unavailable
                        })?;
                    run.evidence.push(checked);
                }
            }
            None => run.evidence.push(unfetchable(&source.source_type)),
        }
        Ok(())
    }
}

/// A JSON document read as trust material.
fn json_input(name: String, document: &Value, media_type: Option<&str>) -> Input {
    Input {
        name,
        content: InputContent::Json(document.clone()),
        media_type: media_type.map(str::to_owned),
    }
}

/// Runs a registry fetch under the overall deadline; an outage or timeout is unavailable, never
/// a verdict on the artifact.
async fn bounded<T>(
    fetch: impl std::future::Future<Output = Result<T, super::CosignError>>,
) -> Result<T, Unavailable> {
    // Each registry call has a deadline; the whole fetch (up to dozens of calls) has one too.
    tokio::time::timeout(SIGNATURE_FETCH_DEADLINE, fetch)
        .await
        .map_err(|_| {
            tracing::warn!("reading trust material from the registry timed out");
            Unavailable
        })?
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot read trust material from the registry");
            Unavailable
        })
}
