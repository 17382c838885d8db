//! The side-effect-free admission gate for CI and deployers.

use serde::{Deserialize, Serialize};

use super::artifact_ref::{ArtifactRef, Blame};
use super::{Admission, AdmissionError, RequestMeta};
use crate::domain::{
    Artifact, ArtifactId, Channel, Digest, Label, LifecycleMove, Principal, ProjectSlug, ReviewAction,
};
use crate::policy::{Action, RequestContext, Resource};

/// Body of `POST /v1/admission/review`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ReviewInput {
    /// Project the artifact belongs to.
    pub project: ProjectSlug,
    /// The artifact's digest (or give `artifact_id`).
    pub digest: Option<Digest>,
    /// The artifact's id (or give `digest`): a canonical UUID.
    #[serde(default, deserialize_with = "crate::domain::optional_from_str")]
    #[schema(value_type = Option<String>)]
    pub artifact_id: Option<ArtifactId>,
    /// `deploy`, `pull`, `promote`, or another artifact action.
    pub action: ReviewAction,
    /// Channel asked about.
    pub channel: Option<Channel>,
    /// Target environment (one line, at most 256 characters: it reaches policy and the log).
    pub target_environment: Option<Label>,
    /// The runtime asking (e.g. `k8s-gpu`; one line, at most 256 characters).
    pub runtime_class: Option<Label>,
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
fn review_action(action: ReviewAction) -> (Action, Option<String>) {
    match action {
        ReviewAction::Deploy => (Action::Admit, Some("deploy".to_owned())),
        ReviewAction::Pull => (Action::Admit, Some("pull".to_owned())),
        ReviewAction::Admit => (Action::Admit, Some("deploy".to_owned())),
        ReviewAction::Promote => (Action::Promote, None),
        ReviewAction::Verify => (Action::Verify, None),
        ReviewAction::Deprecate => (Action::Deprecate, None),
        ReviewAction::Retire => (Action::Retire, None),
        ReviewAction::Revoke => (Action::Revoke, None),
        ReviewAction::Read => (Action::Read, None),
        ReviewAction::RequestPullIntent => (Action::RequestPullIntent, None),
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
        let (action, deploy_action) = review_action(input.action);
        let channel = input.channel.clone();
        if channel.as_ref().is_some_and(|c| !self.channels.contains(c)) {
            return Err(AdmissionError::invalid("channel", "is not a configured channel"));
        }
        let reference = ArtifactRef::exactly_one(input.artifact_id, input.digest.clone(), Blame::Digest)?;
        let Some(artifact) = self.reviewed_artifact(&project, reference).await? else {
            return self.unknown_artifact_answer(principal, &project, meta).await;
        };
        // `as_str` copied, not `to_string` (their `Display`, through the formatter, per review).
        let context = RequestContext {
            artifact_kind: Some(artifact.artifact_kind.as_str().to_owned()),
            source_type: Some(artifact.source.source_type.as_str().to_owned()),
            previous_channel: channel
                .as_ref()
                .and_then(|c| self.channels.previous(c))
                .map(|c| c.as_str().to_owned()),
            channel: channel.as_ref().map(|c| c.as_str().to_owned()),
            target_environment: input.target_environment.map(Label::into_string),
            deploy_action,
            runtime_class: input.runtime_class.map(Label::into_string),
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
        if decision.allowed
            && let Some(refusal) = self
                .refusal_after_policy(principal, action, &artifact, meta)
                .await
        {
            outcome.decision = "deny";
            outcome.reasons = vec![refusal];
            crate::access::note_decision("deny");
        }
        if outcome.decision == "allow" {
            outcome.artifact = Some(artifact);
        }
        Ok(outcome)
    }

    /// The artifact the review names, if it is registered in `project`. Only a missing artifact
    /// is an answer (deny); a failing store fails the request.
    async fn reviewed_artifact(
        &self,
        project: &ProjectSlug,
        reference: ArtifactRef<ArtifactId>,
    ) -> Result<Option<Artifact>, AdmissionError> {
        match reference {
            ArtifactRef::Id(id) => match self.load_artifact(id).await {
                Ok(artifact) => Ok(Some(artifact).filter(|a| &a.project == project)),
                Err(AdmissionError::NotFound(_)) => Ok(None),
                Err(error) => Err(error),
            },
            ArtifactRef::Digest(digest) => {
                Ok(self.store.find_artifact_by_digest(project, &digest, None).await?)
            }
        }
    }

    /// Unknown artifacts are denied; the caller must at least be able to read the project to
    /// learn that it is unknown there.
    async fn unknown_artifact_answer(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        meta: &RequestMeta,
    ) -> Result<ReviewOutcome, AdmissionError> {
        match self
            .authorize_read(principal, Action::Read, Resource::Project(project), meta)
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
        Ok(ReviewOutcome {
            decision: "deny",
            policy_ids: Vec::new(),
            reasons: vec![format!(
                "no artifact with this digest or id is registered in project `{project}`"
            )],
            artifact: None,
            policy_hash: self.policy().hash().to_owned(),
        })
    }

    /// Why an action policy allowed is still refused, if it is: the state machine forbids the
    /// promotion, or (fail closed) the catalog has disabled the artifact or source type.
    async fn refusal_after_policy(
        &self,
        principal: &Principal,
        action: Action,
        artifact: &Artifact,
        meta: &RequestMeta,
    ) -> Option<String> {
        if action == Action::Promote
            && let Err(rule) = artifact
                .lifecycle_state
                .apply(LifecycleMove::Promote, artifact.trust_state)
        {
            return Some(rule.to_string());
        }
        match self
            .require_artifact_entries(
                artifact,
                true,
                &principal.actor,
                action.as_str(),
                &meta.correlation_id,
            )
            .await
        {
            Ok(()) => None,
            // Fail closed: whatever stops the catalog check refuses the admission.
            Err(refusal) => Some(refusal.to_string()),
        }
    }
}
