//! The side-effect-free admission gate for CI and deployers.

use serde::{Deserialize, Serialize};

use super::artifact_ref::{ArtifactRef, Blame};
use super::{Admission, AdmissionError, RequestMeta};
use crate::domain::{
    Artifact, ArtifactId, Channel, Digest, LifecycleMove, Principal, ProjectSlug, is_single_line,
    parse_canonical_uuid,
};
use crate::policy::{Action, RequestContext, Resource};

/// Body of `POST /v1/admission/review`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ReviewInput {
    /// Project the artifact belongs to.
    pub project: ProjectSlug,
    /// The artifact's digest (or give `artifact_id`).
    pub digest: Option<Digest>,
    /// The artifact's id (or give `digest`).
    pub artifact_id: Option<String>,
    /// `deploy`, `pull`, `promote`, or another artifact action.
    pub action: String,
    /// Channel asked about.
    pub channel: Option<Channel>,
    /// Target environment.
    pub target_environment: Option<String>,
    /// The runtime asking (e.g. `k8s-gpu`).
    pub runtime_class: Option<String>,
}

/// The answer: a deny is an answer too, not an error.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewOutcome {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Determining policies.
    pub policy_ids: Vec<String>,
    /// Why.
    pub reasons: Vec<String>,
    /// The artifact, when the answer is allow.
    pub artifact: Option<Artifact>,
    /// Hash of the policy set that answered.
    pub policy_hash: String,
}

/// Maps the review's action word to the Cedar action and its `deploy_action` context.
fn review_action(raw: &str) -> Result<(Action, Option<String>), AdmissionError> {
    match raw {
        "deploy" | "pull" => Ok((Action::Admit, Some(raw.to_owned()))),
        "admit" => Ok((Action::Admit, Some("deploy".to_owned()))),
        "promote" | "verify" | "deprecate" | "retire" | "revoke" | "read" | "request_pull_intent" => {
            Action::parse(raw)
                .map(|a| (a, None))
                .ok_or_else(|| AdmissionError::invalid("action", "unknown action"))
        }
        other => Err(AdmissionError::invalid(
            "action",
            format!("unknown action `{other}`"),
        )),
    }
}

impl Admission {
    /// Answers whether `action` would be allowed, recording the decision, changing nothing.
    pub async fn review(
        &self,
        principal: &Principal,
        input: ReviewInput,
        meta: &RequestMeta,
    ) -> Result<ReviewOutcome, AdmissionError> {
        let project = input.project.clone();
        let (action, deploy_action) = review_action(&input.action)?;
        for (field, value) in [
            ("target_environment", &input.target_environment),
            ("runtime_class", &input.runtime_class),
        ] {
            // Both reach policy context and the decision log: one line, bounded.
            if value
                .as_deref()
                .is_some_and(|v| v.len() > 256 || !is_single_line(v))
            {
                return Err(AdmissionError::invalid(
                    field,
                    "must be at most 256 characters on one line, without control characters",
                ));
            }
        }
        let channel = input.channel.clone();
        if channel.as_ref().is_some_and(|c| !self.channels.contains(c)) {
            return Err(AdmissionError::invalid("channel", "is not a configured channel"));
        }
        let artifact = match ArtifactRef::exactly_one(
            input.artifact_id.as_deref(),
            input.digest.clone(),
            Blame::Digest,
        )? {
            ArtifactRef::Id(id) => {
                let Some(uuid) = parse_canonical_uuid(id) else {
                    return Err(AdmissionError::invalid("artifact_id", "is not a canonical UUID"));
                };
                // Only a missing artifact is an answer (deny); a failing store fails the request.
                match self.load_artifact(ArtifactId(uuid)).await {
                    Ok(artifact) => Some(artifact).filter(|a| a.project == project),
                    Err(AdmissionError::NotFound(_)) => None,
                    Err(error) => return Err(error),
                }
            }
            ArtifactRef::Digest(digest) => {
                self.store
                    .find_artifact_by_digest(&project, &digest, None)
                    .await?
            }
        };
        let Some(artifact) = artifact else {
            // Unknown artifacts are denied; the caller must at least be able to read the project
            // to learn that it is unknown there.
            match self
                .authorize_read(principal, Action::Read, Resource::Project(&project), meta)
                .await
            {
                Err(AdmissionError::Denied(d)) => {
                    return Ok(ReviewOutcome {
                        decision: "deny",
                        policy_ids: d.policy_ids,
                        reasons: d.reasons,
                        artifact: None,
                        policy_hash: d.policy_hash,
                    });
                }
                other => other?,
            };
            return Ok(ReviewOutcome {
                decision: "deny",
                policy_ids: Vec::new(),
                reasons: vec![format!(
                    "no artifact with this digest or id is registered in project `{project}`"
                )],
                artifact: None,
                policy_hash: self.policy().hash().to_owned(),
            });
        };
        let context = RequestContext {
            artifact_kind: Some(artifact.artifact_kind.to_string()),
            source_type: Some(artifact.source.source_type.to_string()),
            previous_channel: channel
                .as_ref()
                .and_then(|c| self.channels.previous(c))
                .map(Channel::to_string),
            channel: channel.as_ref().map(Channel::to_string),
            target_environment: input.target_environment,
            deploy_action,
            runtime_class: input.runtime_class,
            ..RequestContext::default()
        };
        let (decision, record) =
            self.evaluate(principal, action, Resource::Artifact(&artifact), context, meta);
        self.log_decision(record).await?;
        let mut outcome = ReviewOutcome {
            decision: if decision.allowed { "allow" } else { "deny" },
            policy_ids: decision.policy_ids,
            reasons: decision.reasons,
            artifact: None,
            policy_hash: decision.policy_hash,
        };
        // Policy may allow a promotion the state machine forbids; the gate answers both.
        if decision.allowed
            && action == Action::Promote
            && let Err(rule) = artifact
                .lifecycle_state
                .apply(LifecycleMove::Promote, artifact.trust_state)
        {
            outcome.decision = "deny";
            outcome.reasons = vec![rule.to_string()];
            crate::access::note_decision("deny");
        }
        // Fail closed on the catalog: a disabled artifact or source type is never admitted.
        if outcome.decision == "allow"
            && let Err(AdmissionError::Catalog(refusal)) = self
                .require_artifact_entries(
                    &artifact,
                    true,
                    &principal.actor,
                    action.as_str(),
                    &meta.correlation_id,
                )
                .await
        {
            outcome.decision = "deny";
            outcome.reasons = vec![refusal.to_string()];
            crate::access::note_decision("deny");
        }
        if outcome.decision == "allow" {
            outcome.artifact = Some(artifact);
        }
        Ok(outcome)
    }
}
