//! Verification summaries: the signed SLSA VSA a verification run commits with its trust
//! change, and serving the one that holds for the artifact's current trust state.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Admission, AdmissionError, RequestMeta};
use crate::domain::{Artifact, ArtifactId, ArtifactKind, Principal, TrustState};
use crate::policy::{Action, Resource};
use crate::store::NewSummary;
use crate::trust::evidence::{Input, InputContent};
use crate::vsa::{BuildLevel, InputAttestation, Summary, statement};

impl Admission {
    /// The signed summary of a run whose outcome is `run` (the artifact as the run leaves it);
    /// `None` without a `[vsa]` key, or for a run that did not end verified or failed.
    pub(super) fn summary_of_run(
        &self,
        run: &Artifact,
        inputs: &[Input],
        policy_hash: &str,
        at: DateTime<Utc>,
    ) -> Option<NewSummary> {
        let signer = self.vsa.as_ref()?;
        // INVARIANT: PASSED only for a run that left the artifact `verified`.
        let passed = match run.trust_state {
            TrustState::Verified => true,
            TrustState::FailedVerification => false,
            _ => return None,
        };
        let summary = Summary {
            verifier_id: signer.verifier_id(),
            subject_name: self.subject_name(run),
            digest: &run.digest,
            resource_uri: self.resource_uri(run),
            policy_hash,
            inputs: inputs.iter().map(input_attestation).collect(),
            passed,
            build_level: self.build_level(run),
            time_verified: at,
        };
        Some(NewSummary {
            id: uuid::Uuid::now_v7(),
            passed,
            created_at: at,
            envelope: signer.sign(&statement(&summary)),
        })
    }

    /// `GET /v1/artifacts/{id}/vsa`: decided as `read` on the artifact, exactly as reading the
    /// artifact is. Only a summary whose result matches the current trust state is served, so
    /// a stale PASSED never outlives a later failure or a revocation.
    pub async fn verification_summary(
        &self,
        principal: &Principal,
        id: ArtifactId,
        meta: &RequestMeta,
    ) -> Result<Value, AdmissionError> {
        let artifact = self.load_artifact(id).await?;
        self.authorize_tenant_read(principal, Resource::Artifact(&artifact), meta)
            .await?;
        let holds = match artifact.trust_state {
            TrustState::Verified => true,
            TrustState::FailedVerification => false,
            TrustState::Revoked => {
                return Err(AdmissionError::Rule(
                    "the artifact is revoked: no verification summary holds for it".to_owned(),
                ));
            }
            TrustState::Unverified => return Err(self.no_summary()),
        };
        match self.store.latest_summary(artifact.id).await? {
            Some(summary) if summary.passed == holds => Ok(summary.envelope),
            _ => Err(self.no_summary()),
        }
    }

    /// `GET /v1/vsa/public-key`: the PEM key summaries verify with, decided as `describe` on
    /// the platform like the gateway's other public facts.
    pub async fn vsa_public_key(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<String, AdmissionError> {
        self.authorize_read(principal, Action::Describe, Resource::Platform, meta)
            .await?;
        match &self.vsa {
            Some(signer) => Ok(signer.public_pem().to_owned()),
            None => Err(AdmissionError::NotFound(NOT_CONFIGURED.to_owned())),
        }
    }

    fn no_summary(&self) -> AdmissionError {
        AdmissionError::NotFound(if self.vsa.is_some() {
            "no verification summary holds for the artifact's current trust state: verify it to produce one"
                .to_owned()
        } else {
            NOT_CONFIGURED.to_owned()
        })
    }

    /// An OCI artifact's image name (`host/repository`), the name cosign and deployers use.
    pub(super) fn image_name(&self, artifact: &Artifact) -> String {
        match &self.registry.registry {
            Some(host) => format!("{host}/{}", artifact.repository),
            None => artifact.repository.to_string(),
        }
    }

    fn subject_name(&self, artifact: &Artifact) -> String {
        match artifact.artifact_kind {
            ArtifactKind::Oci => self.image_name(artifact),
            // Redacted: a signed URL's secret must not end up in a signed, served document.
            ArtifactKind::Blob => crate::artifact_store::redact_uri(&artifact.source.uri),
        }
    }

    fn resource_uri(&self, artifact: &Artifact) -> String {
        match artifact.artifact_kind {
            ArtifactKind::Oci => format!("{}@{}", self.image_name(artifact), artifact.digest),
            ArtifactKind::Blob => crate::artifact_store::redact_uri(&artifact.source.uri),
        }
    }

    /// Level 1 only for a signed SLSA provenance that passed and names a builder the project
    /// trusts; higher levels would need a builder's own level, which nothing configures.
    fn build_level(&self, run: &Artifact) -> BuildLevel {
        let policy = self.policy();
        let trusted = policy.provenance_trust().builders_for(&run.project);
        let builder = run
            .trust_facts
            .provenance
            .as_ref()
            .and_then(|p| p.builder_id.as_deref());
        match builder {
            Some(id) if trusted.iter().any(|t| t == id) => BuildLevel::L1,
            _ => BuildLevel::L0,
        }
    }
}

const NOT_CONFIGURED: &str = "this gateway signs no verification summaries: no `[vsa]` key is configured";

/// A piece of material the run read, described for the summary (JSON digested canonically).
fn input_attestation(input: &Input) -> InputAttestation {
    let media_type = input.media_type.as_deref();
    match &input.content {
        InputContent::Bytes(bytes) => InputAttestation::of(input.name.clone(), bytes, media_type),
        InputContent::Json(document) => InputAttestation::of_json(input.name.clone(), document, media_type),
    }
}
