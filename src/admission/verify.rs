//! Verification: decide, let `trust::Verifier` turn the artifact's trust material into evidence,
//! and commit the trust state with it — on request (`POST /v1/artifacts/{id}/verify`) or from a
//! queued job.

use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::decide::{artifact_audit, audit_decision};
use super::lifecycle::{CommitFailure, artifact_context};
use super::trust_material::ArtifactMaterial;
use super::{Admission, AdmissionError, ArtifactView, RequestMeta};
use crate::audit::{DecisionRecord, Transition};
use crate::domain::{
    Artifact, ArtifactId, Evidence, EvidenceResult, Principal, TrustMove, TrustState, VerificationJob,
};
use crate::policy::{Action, Decision, Resource};
use crate::store::ArtifactChange;
use crate::trust::attachment::is_sigstore_bundle;

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
        // Read once, in the turn (an unknown id is a 404 from there): a read before waiting
        // for the turn would be one more statement per call, and possibly stale.
        match self.verify_in_turn(principal, id, attachments, meta, None).await {
            Ok(Some(view)) => Ok(view),
            // Only a job's commit can find its job already finished.
            Ok(None) => Err(AdmissionError::Internal),
            Err(AdmissionError::Conflict) => {
                // Verify asks nothing of the caller that it could resolve: answer "try later".
                tracing::warn!(artifact = %id, runs = MAX_RUNS, "verification kept losing to concurrent changes");
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
        if let Err(refused) = artifact.trust_state.apply(TrustMove::VerificationPassed) {
            // Allowed by policy but not acted on: the decision was still taken, so it is logged.
            self.log_decision(allowed.record).await?;
            return Err(AdmissionError::Rule(refused.to_string()));
        }
        // The `accept_source` decision is logged with the change, in its transaction (one
        // durable commit per verification, not two); every way out before that commit logs it
        // (and the `verify` one) here instead, so no decision taken is lost.
        let (source_policy, source_record) = self.source_policy_evidence(principal, &artifact, meta);
        let decisions = [allowed.record, source_record];
        let outcome = self
            .check_and_commit(
                principal,
                &artifact,
                attachments,
                meta,
                job,
                &allowed.decision,
                source_policy,
                &decisions,
            )
            .await;
        match outcome {
            Ok(Some(view)) => Ok(Some(view)),
            Err(failure) if failure.decisions_written => Err(failure.error),
            // Nothing written (a failed check, a refusal, a lost race, a job an earlier claim
            // finished): the decisions stand all the same.
            unwritten => {
                for decision in decisions {
                    self.log_decision(decision).await?;
                }
                unwritten.map_err(|failure| failure.error)
            }
        }
    }

    /// The rest of a run once its decisions are taken: add the call's trust material, check every
    /// trust input, and commit the trust state with its evidence, audit record and `decisions`.
    #[allow(clippy::too_many_arguments, reason = "one run's parts, passed through once")]
    async fn check_and_commit(
        &self,
        principal: &Principal,
        artifact: &Artifact,
        attachments: &mut Vec<Value>,
        meta: &RequestMeta,
        job: Option<&VerificationJob>,
        decision: &Decision,
        source_policy: Evidence,
        decisions: &[DecisionRecord],
    ) -> Result<Option<ArtifactView>, CommitFailure> {
        let unwritten = CommitFailure::unwritten;
        if !attachments.is_empty() {
            self.store
                .add_attestations(artifact.id, attachments)
                .await
                .map_err(|e| unwritten(e.into()))?;
            // Kept with the artifact now: a re-run reads them back like every other attachment.
            attachments.clear();
        }
        let image = self.image_name(artifact);
        let material = ArtifactMaterial {
            admission: self,
            artifact,
        };
        let run = self
            .trust
            .verify(artifact, &image, source_policy, &material)
            .await
            .map_err(unwritten)?;
        let checked_at = Utc::now();

        let updated = run
            .applied_to(artifact)
            .map_err(|e| unwritten(AdmissionError::Rule(e.to_string())))?;
        let to = updated.trust_state;
        let mut audit = artifact_audit(
            artifact,
            &principal.actor,
            "app_artifact.verify",
            audit_decision(decision),
            &meta.correlation_id,
        );
        audit.transition = Some(Transition {
            from: artifact.trust_state.to_string(),
            to: to.to_string(),
            reason: run.failure_summary(),
        });
        let summary = self.summary_of_run(&updated, &run.inputs, &decision.policy_hash, checked_at);
        let mut change = ArtifactChange {
            artifact: updated,
            promotion: None,
            evidence: run.evidence,
            summary,
        };
        let result = serde_json::json!({ "trust_state": to });
        let stored = self
            .commit_decisions(&mut change, audit, decisions, job.map(|job| (job, &result)))
            .await?;
        match stored {
            // Committed: a failed read-back must not log the decisions a second time.
            Some(stored) => self
                .committed_view(&change, stored)
                .await
                .map(Some)
                .map_err(|error| CommitFailure {
                    error,
                    decisions_written: true,
                }),
            None => Ok(None),
        }
    }

    /// The job that verifies a new registration off the request path, if configured.
    pub(super) fn verification_job(
        &self,
        artifact: &Artifact,
        principal: &Principal,
    ) -> Option<VerificationJob> {
        self.trust.config().verify_on_register.then(|| VerificationJob {
            id: uuid::Uuid::now_v7(),
            artifact_id: artifact.id,
            principal: principal.clone(),
            enqueued_at: Utc::now(),
            attempts: 0,
        })
    }

    /// The source allowlist is policy: ask Cedar `accept_source`; answers the evidence and the
    /// decision's record, for the caller to log.
    fn source_policy_evidence(
        &self,
        principal: &Principal,
        artifact: &Artifact,
        meta: &RequestMeta,
    ) -> (Evidence, DecisionRecord) {
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
        let evidence = Evidence {
            evidence_type: "source_policy".to_owned(),
            result,
            reason,
            checked_at: Utc::now(),
            details: serde_json::json!({ "policy_ids": decision.policy_ids, "policy_hash": decision.policy_hash }),
        };
        (evidence, record)
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
        // No verification ran: a job already finished, or no such artifact.
        Ok(None) | Err(AdmissionError::NotFound(_)) => None,
        Err(AdmissionError::Denied(_)) => Some("denied"),
        Err(_) => Some("error"),
    }
}
