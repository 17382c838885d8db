//! Verification: gather every trust input for an artifact, record each as evidence, move the
//! trust state — on request (`POST /v1/artifacts/{id}/verify`) or from a queued job.

use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::lifecycle::artifact_context;
use super::{Admission, AdmissionError, ArtifactView, RequestMeta};
use crate::audit::Transition;
use crate::domain::{
    AccessGrant, Artifact, ArtifactId, ArtifactKind, Digest, Evidence, EvidenceResult, Principal, TrustFacts,
    TrustMove, TrustState, VerificationJob,
};
use crate::policy::{Action, Resource};
use crate::registry::RegistryClient;
use crate::store::ArtifactChange;
use crate::trust::SigstoreVerifier;
use crate::trust::TrustConfig;
use crate::trust::attachment::{is_sigstore_bundle, verify_attachment};
use crate::trust::cache::VerificationCache;
use crate::trust::content::ContentFetcher;
use crate::trust::cosign::{fetch_signatures, signature_tag, verify_signatures};
use crate::trust::cosign_attestations::{
    AttestationLayer, attestation_tag, fetch_attestations, verify_cosign_attestation,
};
use crate::trust::dsse::passing_predicate_types;
use crate::trust::evidence_facts::trust_facts;
use crate::trust::referrers::{
    ReferrerBundle, combine_signatures, fetch_referrer_bundles, verify_referrer_bundle,
};
use crate::trust::required::missing_required_for_kind;
use crate::vsa::InputAttestation;

/// The trust material and rules, loaded once at start-up.
pub struct TrustSetup {
    /// The sigstore verifier (trusted root, managed keys, keyless identities, log rule) every
    /// signature, attestation and bundle is checked with.
    pub verifier: SigstoreVerifier,
    /// Downloads reachable blobs to hash them, when `[trust.content_fetch]` is on.
    pub content: Option<ContentFetcher>,
    /// Results of checks already made on the same material under the same configuration.
    pub cache: VerificationCache,
    /// Required evidence per artifact type, and whether registration queues verification.
    pub config: TrustConfig,
}

/// Deadline for gathering an image's signatures from the registry.
const SIGNATURE_FETCH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// What reading trust material from the registry needs.
pub(super) struct RegistryReader<'a> {
    pub(super) client: &'a RegistryClient,
    pub(super) token: String,
}

/// Runs a registry fetch under the overall deadline; an outage or timeout is a 503, never a
/// verdict on the artifact.
async fn bounded<T>(
    fetch: impl std::future::Future<Output = Result<T, crate::trust::CosignError>>,
) -> Result<T, AdmissionError> {
    // Each registry call has a deadline; the whole fetch (up to dozens of calls) has one too.
    tokio::time::timeout(SIGNATURE_FETCH_DEADLINE, fetch)
        .await
        .map_err(|_| {
            tracing::warn!("reading trust material from the registry timed out");
            AdmissionError::Unavailable
        })?
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot read trust material from the registry");
            AdmissionError::Unavailable
        })
}

/// Checks the trust material a registration or verify call carries; answers it as one list of
/// attachments (DSSE envelopes, then the bundle) to keep with the artifact.
pub(super) fn checked_attachments(
    attestations: &[Value],
    bundle: Option<&Value>,
) -> Result<Vec<Value>, AdmissionError> {
    if attestations.len() > MAX_ATTESTATIONS_PER_CALL {
        return Err(AdmissionError::invalid(
            "attestations",
            format!("at most {MAX_ATTESTATIONS_PER_CALL} envelopes per call"),
        ));
    }
    if let Some(i) = attestations.iter().position(|e| !e.is_object()) {
        return Err(AdmissionError::invalid(
            format!("attestations[{i}]"),
            "must be a DSSE envelope object",
        ));
    }
    let mut attachments = attestations.to_vec();
    if let Some(bundle) = bundle {
        if !is_sigstore_bundle(bundle) {
            return Err(AdmissionError::invalid(
                "sigstore_bundle",
                "must be a sigstore bundle object (`mediaType` application/vnd.dev.sigstore.bundle…)",
            ));
        }
        attachments.push(bundle.clone());
    }
    Ok(attachments)
}

/// The media type of a DSSE envelope in JSON.
const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// Most envelopes one verify call may attach.
const MAX_ATTESTATIONS_PER_CALL: usize = 16;

/// Trust material that travels with a verify call.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct VerifyInput {
    /// DSSE envelopes whose in-toto statements name the artifact's digest; kept with the
    /// artifact, so every later verification checks them again.
    #[serde(default)]
    pub attestations: Vec<Value>,
    /// A sigstore bundle (keyed or keyless) over the digest (blobs), kept with the artifact likewise.
    pub sigstore_bundle: Option<Value>,
}

/// Most runs of one verification. A run whose commit finds the artifact changed (another gateway
/// process verified it, or a lifecycle change landed) runs again on the fresh version; the
/// cached checks make that cheap, and losing this often means the artifact is under heavy churn.
const MAX_RUNS: u32 = 4;

impl Admission {
    /// Verifies an artifact now, decided as `verify` for `principal`. A verification of the same
    /// artifact already running here (a queued job, another call) is waited for and this one runs
    /// on the version it left, so racing verification itself is never a conflict.
    pub async fn verify(
        &self,
        principal: &Principal,
        id: ArtifactId,
        input: VerifyInput,
        meta: &RequestMeta,
    ) -> Result<ArtifactView, AdmissionError> {
        let attachments = checked_attachments(&input.attestations, input.sigstore_bundle.as_ref())?;
        let artifact = self.load_artifact(id).await?;
        match self
            .verify_in_turn(principal, artifact.id, attachments, meta, None)
            .await
        {
            Ok(Some(view)) => Ok(view),
            // Only a job's commit can find its job already finished.
            Ok(None) => Err(AdmissionError::Internal),
            Err(AdmissionError::Conflict) => {
                // Verify asks nothing of the caller that it could resolve: answer "try later".
                tracing::warn!(artifact = %artifact.id, runs = MAX_RUNS, "verification kept losing to concurrent changes");
                Err(AdmissionError::Unavailable)
            }
            Err(other) => Err(other),
        }
    }

    /// Runs a claimed job's verification, whose commit also finishes the job; `None` when an
    /// earlier claim of the job already committed it (nothing is written twice).
    pub(super) async fn verify_job(
        &self,
        job: &VerificationJob,
        meta: &RequestMeta,
    ) -> Result<Option<ArtifactView>, AdmissionError> {
        self.verify_in_turn(&job.principal, job.artifact_id, Vec::new(), meta, Some(job))
            .await
    }

    /// One verification after any other of the same artifact in this process, re-run on the
    /// fresh version while its commit loses to another writer (at most `MAX_RUNS` runs).
    async fn verify_in_turn(
        &self,
        principal: &Principal,
        artifact_id: ArtifactId,
        mut attachments: Vec<Value>,
        meta: &RequestMeta,
        job: Option<&VerificationJob>,
    ) -> Result<Option<ArtifactView>, AdmissionError> {
        let started = std::time::Instant::now();
        let runs = async {
            let mut run = 1;
            loop {
                let artifact = self.load_artifact(artifact_id).await?;
                match self
                    .verify_once(principal, artifact, &mut attachments, meta, job)
                    .await
                {
                    Err(AdmissionError::Conflict) if run < MAX_RUNS => {
                        tracing::debug!(artifact = %artifact_id, run, "the artifact changed under verification; running again");
                        run += 1;
                    }
                    outcome => return outcome,
                }
            }
        };
        let outcome = self.verification_turns.serialize(artifact_id, runs).await;
        if let Some(result) = verification_result(&outcome) {
            self.metrics
                .observe_verification(result, started.elapsed().as_secs_f64());
        }
        outcome
    }

    /// One run: decide, check every trust input, and commit the trust state with its evidence
    /// and audit record (with the job's completion, for a job) if the artifact is unchanged.
    async fn verify_once(
        &self,
        principal: &Principal,
        artifact: Artifact,
        attachments: &mut Vec<Value>,
        meta: &RequestMeta,
        job: Option<&VerificationJob>,
    ) -> Result<Option<ArtifactView>, AdmissionError> {
        let allowed = self
            .authorize(
                principal,
                Action::Verify,
                Resource::Artifact(&artifact),
                artifact_context(&artifact),
                meta,
            )
            .await?;
        // Checked before gathering evidence: a revoked artifact is never verified again.
        artifact
            .trust_state
            .apply(TrustMove::VerificationPassed)
            .map_err(|e| AdmissionError::Rule(e.to_string()))?;
        if !attachments.is_empty() {
            self.store.add_attestations(artifact.id, attachments).await?;
            // Kept with the artifact now: a re-run reads them back like every other attachment.
            attachments.clear();
        }
        let mut evidence = vec![
            digest_evidence(&artifact),
            self.source_policy_evidence(principal, &artifact, meta).await?,
        ];
        let mut inputs = Vec::new();
        evidence.extend(self.trust_evidence(&artifact, &mut inputs).await?);
        evidence.extend(self.missing_required(&artifact, &evidence));
        let checked_at = Utc::now();

        let passed = evidence.iter().all(|e| e.result == EvidenceResult::Pass);
        let mv = if passed {
            TrustMove::VerificationPassed
        } else {
            TrustMove::VerificationFailed
        };
        let to = artifact
            .trust_state
            .apply(mv)
            .map_err(|e| AdmissionError::Rule(e.to_string()))?;
        let mut updated = artifact.clone();
        updated.trust_state = to;
        updated.signature_verified = evidence
            .iter()
            .any(|e| e.evidence_type == "signature" && e.result == EvidenceResult::Pass);
        updated.attestations = passing_predicate_types(&evidence);
        // Signers and provenance only from a verification that passed as a whole: a failed one
        // clears them, so no stale fact stays visible to policies (fail closed).
        updated.trust_facts = if passed {
            trust_facts(&evidence)
        } else {
            TrustFacts::default()
        };
        let mut audit = self.audit_record(&artifact, principal, "app_artifact.verify", &allowed, meta);
        audit.transition = Some(Transition {
            from: artifact.trust_state.to_string(),
            to: to.to_string(),
            reason: (!passed).then(|| failure_summary(&evidence)),
        });
        let summary = self.summary_of_run(&updated, inputs, &allowed.record.policy_hash, checked_at);
        let change = ArtifactChange {
            artifact: updated,
            promotion: None,
            evidence,
            summary,
        };
        match job {
            None => self.commit(change, audit, allowed).await.map(Some),
            Some(job) => {
                let result = serde_json::json!({ "trust_state": to });
                self.commit_job(job, change, audit, allowed, &result).await
            }
        }
    }

    /// The job that verifies a new registration off the request path, if configured.
    pub(super) fn verification_job(
        &self,
        artifact: &Artifact,
        principal: &Principal,
    ) -> Option<VerificationJob> {
        self.trust.config.verify_on_register.then(|| VerificationJob {
            id: uuid::Uuid::now_v7(),
            artifact_id: artifact.id,
            principal: principal.clone(),
            enqueued_at: Utc::now(),
            attempts: 0,
        })
    }

    /// Signatures and attestations from the registry (OCI), and every attached attestation;
    /// each piece of material checked is also described in `inputs` for the run's summary.
    async fn trust_evidence(
        &self,
        artifact: &Artifact,
        inputs: &mut Vec<InputAttestation>,
    ) -> Result<Vec<Evidence>, AdmissionError> {
        let mut evidence = Vec::new();
        let required = self
            .trust
            .config
            .required_for_kind(artifact.artifact_type.as_str(), artifact.artifact_kind.as_str());
        let signature_required = required.iter().any(|r| r == "signature");
        if artifact.artifact_kind == ArtifactKind::Oci {
            // Signatures live in the registry: look when they are required, or when there are
            // keys to check them with and a registry to ask.
            match self.registry_reader(artifact).await? {
                Some(reader) if self.trust.verifier.is_configured() || signature_required => {
                    let layers = bounded(fetch_signatures(
                        reader.client,
                        artifact.repository.as_str(),
                        &artifact.digest,
                        &reader.token,
                    ))
                    .await?;
                    let image = self.image_name(artifact);
                    let sig_tag = signature_tag(&artifact.digest);
                    inputs.extend(layers.iter().map(|layer| {
                        InputAttestation::of(
                            format!("{image}:{sig_tag}"),
                            &layer.payload,
                            Some(&layer.media_type),
                        )
                    }));
                    let material = signature_material(&layers);
                    let checked =
                        self.trust
                            .cache
                            .get_or_verify("signature", &artifact.digest, &material, || {
                                verify_signatures(&self.trust.verifier, &artifact.digest, &layers)
                            });
                    // Bundles attached as OCI 1.1 referrers, beside cosign's tags.
                    let found = bounded(fetch_referrer_bundles(
                        reader.client,
                        artifact.repository.as_str(),
                        &artifact.digest,
                        &reader.token,
                    ))
                    .await?;
                    let mut referrer_signatures = Vec::new();
                    let mut referrer_attestations = Vec::new();
                    for bundle in &found.bundles {
                        if let Ok(bytes) = &bundle.content {
                            inputs.push(InputAttestation::of(
                                format!("{image}@{}", bundle.manifest),
                                bytes,
                                None,
                            ));
                        }
                        let checked = self.checked_referrer(artifact, bundle).await;
                        if checked.evidence_type == "signature" {
                            referrer_signatures.push(checked);
                        } else {
                            referrer_attestations.push(checked);
                        }
                    }
                    evidence.push(combine_signatures(
                        checked.await,
                        found.lookup,
                        referrer_signatures,
                    ));
                    evidence.extend(referrer_attestations);
                    let stored = bounded(fetch_attestations(
                        reader.client,
                        artifact.repository.as_str(),
                        &artifact.digest,
                        &reader.token,
                    ))
                    .await?;
                    let att_tag = attestation_tag(&artifact.digest);
                    for layer in &stored {
                        inputs.push(InputAttestation::of_json(
                            format!("{image}:{att_tag}"),
                            &layer.envelope,
                            Some(DSSE_MEDIA_TYPE),
                        ));
                        evidence.push(self.checked_attestation_layer(artifact, layer).await);
                    }
                }
                None if signature_required => evidence.push(Evidence {
                    evidence_type: "signature".to_owned(),
                    result: EvidenceResult::Fail,
                    reason: "a signature is required but no registry is configured to read it from"
                        .to_owned(),
                    checked_at: Utc::now(),
                    details: Value::Null,
                }),
                _ => {}
            }
        }
        if artifact.artifact_kind == ArtifactKind::Blob
            && let Some(content) = &self.trust.content
        {
            let source = &artifact.source;
            match self.catalog().await.source_protocol(&source.source_type) {
                Some(protocol) => {
                    if let Some(url) = content.url_for(&protocol, &source.uri) {
                        let checked = content
                            .check(url, &artifact.digest, source.size_bytes)
                            .await
                            .map_err(|e| {
                                tracing::warn!(error = %e, "cannot fetch blob content to hash it");
                                AdmissionError::Unavailable
                            })?;
                        evidence.push(checked);
                    }
                }
                None => evidence.push(crate::trust::content::unfetchable(&source.source_type)),
            }
        }
        for (i, attachment) in self.store.attestations(artifact.id).await?.iter().enumerate() {
            let media_type = (!is_sigstore_bundle(attachment)).then_some(DSSE_MEDIA_TYPE);
            inputs.push(InputAttestation::of_json(
                format!("gatehouse:artifacts/{}/attachments/{i}", artifact.id),
                attachment,
                media_type,
            ));
            evidence.push(self.checked_attachment(artifact, attachment).await);
        }
        Ok(evidence)
    }

    /// One attachment's check (a sigstore bundle, a model-signing bundle or a DSSE envelope),
    /// remembered by its exact bytes.
    async fn checked_attachment(&self, artifact: &Artifact, attachment: &Value) -> Evidence {
        let material = serde_json::to_vec(attachment).unwrap_or_default();
        let digest = &artifact.digest;
        let verifier = &self.trust.verifier;
        self.trust
            .cache
            .get_or_verify("attachment", digest, &material, || {
                verify_attachment(verifier, digest, attachment)
            })
            .await
    }

    /// One cosign `.att` layer's check, remembered by its envelope and annotations.
    async fn checked_attestation_layer(&self, artifact: &Artifact, layer: &AttestationLayer) -> Evidence {
        let envelope = serde_json::to_vec(&layer.envelope).unwrap_or_default();
        let [certificate, rekor_entry] = layer.annotations.material();
        let material = framed([envelope.as_slice(), certificate, rekor_entry]);
        self.trust
            .cache
            .get_or_verify("attestation_layer", &artifact.digest, &material, || {
                verify_cosign_attestation(&self.trust.verifier, &artifact.digest, layer)
            })
            .await
    }

    /// One referrer bundle's check, remembered by the referrer and its exact bytes.
    async fn checked_referrer(&self, artifact: &Artifact, bundle: &ReferrerBundle) -> Evidence {
        let content = match &bundle.content {
            Ok(bytes) => bytes.as_slice(),
            Err(failure) => failure.reason.as_bytes(),
        };
        let material = framed([bundle.manifest.as_bytes(), content]);
        self.trust
            .cache
            .get_or_verify("referrer", &artifact.digest, &material, || {
                verify_referrer_bundle(&self.trust.verifier, &artifact.digest, bundle)
            })
            .await
    }

    /// A registry client and a short-lived pull token for the artifact's repository, when a
    /// registry is configured.
    pub(super) async fn registry_reader(
        &self,
        artifact: &Artifact,
    ) -> Result<Option<RegistryReader<'_>>, AdmissionError> {
        let (Some(client), Some(signer)) = (&self.registry_setup.client, &self.registry_setup.signer) else {
            return Ok(None);
        };
        let grant = vec![AccessGrant::repository(
            artifact.repository.to_string(),
            &["pull"],
        )];
        let token = self
            .issue_token(
                signer,
                "gatehouse",
                grant,
                Utc::now() + chrono::Duration::seconds(60),
            )
            .await?;
        Ok(Some(RegistryReader {
            client,
            token: token.token,
        }))
    }

    /// A failing record for each required evidence type that was not checked at all.
    fn missing_required(&self, artifact: &Artifact, evidence: &[Evidence]) -> Vec<Evidence> {
        missing_required_for_kind(
            &self.trust.config,
            artifact.artifact_type.as_str(),
            artifact.artifact_kind.as_str(),
            evidence,
        )
    }

    /// The source allowlist is policy: ask Cedar `accept_source` and record the answer.
    async fn source_policy_evidence(
        &self,
        principal: &Principal,
        artifact: &Artifact,
        meta: &RequestMeta,
    ) -> Result<Evidence, AdmissionError> {
        // Evidence, not the request's answer: a refused source fails the verification.
        let (decision, record) = crate::access::unnoted(|| {
            self.evaluate(
                principal,
                Action::AcceptSource,
                Resource::Artifact(artifact),
                artifact_context(artifact),
                meta,
            )
        });
        self.log_decision(record).await?;
        let source_type = &artifact.source.source_type;
        let (result, reason) = if decision.allowed {
            (
                EvidenceResult::Pass,
                format!("source type `{source_type}` is allowed by policy"),
            )
        } else {
            (
                EvidenceResult::Fail,
                format!(
                    "source type `{source_type}` is not allowed: {}",
                    decision.reasons.join("; ")
                ),
            )
        };
        Ok(Evidence {
            evidence_type: "source_policy".to_owned(),
            result,
            reason,
            checked_at: Utc::now(),
            details: serde_json::json!({ "policy_ids": decision.policy_ids, "policy_hash": decision.policy_hash }),
        })
    }
}

/// How a verification ended, for the metrics; `None` for a job an earlier claim already finished.
fn verification_result(outcome: &Result<Option<ArtifactView>, AdmissionError>) -> Option<&'static str> {
    match outcome {
        Ok(Some(view)) => Some(match view.artifact.trust_state {
            TrustState::Verified => "verified",
            TrustState::FailedVerification => "failed_verification",
            TrustState::Unverified | TrustState::Revoked => "other",
        }),
        Ok(None) => None,
        Err(AdmissionError::Denied(_)) => Some("denied"),
        Err(_) => Some("error"),
    }
}

/// The signature layers as one byte string: each field length-prefixed, in order.
fn signature_material(layers: &[crate::trust::SignatureLayer]) -> Vec<u8> {
    framed(layers.iter().flat_map(|layer| {
        let [certificate, rekor_entry] = layer.annotations.material();
        [
            &layer.payload[..],
            layer.signature_b64.as_bytes(),
            layer.media_type.as_bytes(),
            certificate,
            rekor_entry,
        ]
    }))
}

/// The fields one after another, each prefixed by its length, so no two lists frame alike.
fn framed<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut material = Vec::new();
    for field in fields {
        material.extend((field.len() as u64).to_be_bytes());
        material.extend(field);
    }
    material
}

/// The failing checks, for the audit record's transition reason.
fn failure_summary(evidence: &[Evidence]) -> String {
    let failed: Vec<String> = evidence
        .iter()
        .filter(|e| e.result == EvidenceResult::Fail)
        .map(|e| format!("{}: {}", e.evidence_type, e.reason))
        .collect();
    failed.join("; ")
}

/// The digest must be canonical and the kind and source type explicit; the stored value is
/// re-parsed so a row written around the gateway is caught here.
fn digest_evidence(artifact: &Artifact) -> Evidence {
    let canonical = artifact.digest.as_str().parse::<Digest>().is_ok();
    let (result, reason) = if canonical {
        (
            EvidenceResult::Pass,
            format!(
                "digest `{}` is canonical; kind `{}` and source type `{}` are explicit",
                artifact.digest, artifact.artifact_kind, artifact.source.source_type
            ),
        )
    } else {
        (
            EvidenceResult::Fail,
            format!("digest `{}` is not canonical", artifact.digest),
        )
    };
    Evidence {
        evidence_type: "digest_format".to_owned(),
        result,
        reason,
        checked_at: Utc::now(),
        details: serde_json::json!({ "algorithm": artifact.digest.algorithm() }),
    }
}
