//! Verification and the explicit lifecycle actions: promote, deprecate, retire, revoke.

use chrono::Utc;
use serde::Deserialize;

use super::decide::{Allowed, artifact_audit};
use super::{Admission, AdmissionError, ArtifactView, RequestMeta};
use crate::audit::{DecisionRecord, NewAuditRecord, PromotionFacts, Transition};
use crate::catalog::Family;
use crate::domain::{
    Artifact, ArtifactId, Channel, EnvironmentSlug, LifecycleMove, Principal, Promotion, Reason, TrustMove,
    VerificationJob,
};
use crate::policy::{Action, RequestContext, Resource};
use crate::store::{ArtifactChange, StoreError};

/// Body of `promote`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PromoteInput {
    /// The channel to reach.
    pub channel: Channel,
    /// Optional target environment such as `prod-eu`.
    pub target_environment: Option<EnvironmentSlug>,
    /// Why.
    pub reason: Option<Reason>,
}

/// Body of `deprecate`, `retire` and `revoke`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct LifecycleInput {
    /// Why (required for `revoke`).
    pub reason: Option<Reason>,
}

/// The reason as recorded; a required one must say something.
fn check_reason(reason: Option<Reason>, required: bool) -> Result<Option<String>, AdmissionError> {
    match reason {
        Some(r) if r.is_blank() && required => Err(AdmissionError::invalid("reason", "is required")),
        None if required => Err(AdmissionError::invalid("reason", "is required")),
        other => Ok(other.map(Reason::into_string)),
    }
}

pub(super) fn artifact_context(artifact: &Artifact) -> RequestContext {
    RequestContext {
        artifact_kind: Some(artifact.artifact_kind.to_string()),
        source_type: Some(artifact.source.source_type.to_string()),
        ..RequestContext::default()
    }
}

impl Admission {
    /// Promotes an artifact to a channel.
    pub async fn promote(
        &self,
        principal: &Principal,
        id: ArtifactId,
        input: PromoteInput,
        meta: &RequestMeta,
    ) -> Result<ArtifactView, AdmissionError> {
        let channel = input.channel.clone();
        if !self.channels.contains(&channel) {
            let known: Vec<&str> = self.channels.channels().iter().map(Channel::as_str).collect();
            return Err(AdmissionError::invalid(
                "channel",
                format!("unknown channel `{channel}`; configured: {}", known.join(", ")),
            ));
        }
        let target_environment = input.target_environment.map(|env| env.as_str().to_owned());
        let reason = check_reason(input.reason, false)?;
        let artifact = self.load_artifact(id).await?;
        let context = RequestContext {
            channel: Some(channel.to_string()),
            previous_channel: self.channels.previous(&channel).map(Channel::to_string),
            target_environment: target_environment.clone(),
            ..artifact_context(&artifact)
        };
        let allowed = self
            .authorize(
                principal,
                Action::Promote,
                Resource::Artifact(&artifact),
                context,
                meta,
            )
            .await?;
        let usable = match self
            .require_artifact_entries(&artifact, true, &principal.actor, "promote", &meta.correlation_id)
            .await
        {
            Ok(()) => self.require_catalog(Family::Channels, channel.as_str()).await,
            refused => refused,
        };
        if let Err(refused) = usable {
            // Allowed by policy but not acted on: the decision was still taken, so it is logged.
            self.log_decision(allowed.record).await?;
            return Err(refused);
        }
        self.require_promotable(&artifact).await?;
        let to = artifact
            .lifecycle_state
            .apply(LifecycleMove::Promote, artifact.trust_state)
            .map_err(|e| AdmissionError::Rule(e.to_string()))?;
        if self
            .already_promoted(&artifact, &channel, target_environment.as_deref())
            .await?
        {
            // Reached already: an idempotent success that writes nothing but its decision.
            self.log_decision(allowed.record).await?;
            return self.view(artifact).await;
        }
        let mut updated = artifact.clone();
        updated.lifecycle_state = to;
        updated.channels.push(channel.clone());
        let order = self.channels.channels();
        updated
            .channels
            .sort_by_key(|c| order.iter().position(|o| o == c));
        let promotion = Promotion {
            channel: channel.clone(),
            target_environment: target_environment.clone(),
            actor: principal.actor.clone(),
            promoted_at: Utc::now(),
            decision: serde_json::json!({
                "effect": "allow",
                "policy_ids": allowed.decision.policy_ids,
                "policy_hash": allowed.decision.policy_hash,
            }),
            reason: reason.clone(),
        };
        let mut audit = self.audit_record(&artifact, principal, "app_artifact.promote", &allowed, meta);
        audit.transition = Some(Transition {
            from: artifact.lifecycle_state.to_string(),
            to: to.to_string(),
            reason,
        });
        let target = target_environment;
        audit.promotion = Some(PromotionFacts {
            channel: channel.to_string(),
            target_environment: target.clone(),
        });
        let change = ArtifactChange {
            artifact: updated,
            promotion: Some(promotion),
            evidence: Vec::new(),
            summary: None,
        };
        let record = allowed.record.clone();
        match self.commit(change, audit, allowed).await {
            Err(AdmissionError::Conflict) => {
                // Lost to a concurrent writer: if that was the same promotion, this one is done.
                let fresh = self.load_artifact(id).await?;
                if self.already_promoted(&fresh, &channel, target.as_deref()).await? {
                    self.log_decision(record).await?;
                    return self.view(fresh).await;
                }
                Err(AdmissionError::Conflict)
            }
            other => other,
        }
    }

    /// Whether `artifact` has reached `channel` already, for `target` when one is named: a
    /// promotion to the same channel for another target environment is a new fact to record.
    async fn already_promoted(
        &self,
        artifact: &Artifact,
        channel: &Channel,
        target: Option<&str>,
    ) -> Result<bool, AdmissionError> {
        if !artifact.channels.contains(channel) {
            return Ok(false);
        }
        let Some(target) = target else {
            return Ok(true);
        };
        let promotions = self.store.promotions(artifact.id).await?;
        Ok(promotions
            .iter()
            .any(|p| &p.channel == channel && p.target_environment.as_deref() == Some(target)))
    }

    /// Deprecates (no new use) or retires (terminal) an artifact.
    pub async fn end_of_life(
        &self,
        principal: &Principal,
        id: ArtifactId,
        mv: LifecycleMove,
        input: LifecycleInput,
        meta: &RequestMeta,
    ) -> Result<ArtifactView, AdmissionError> {
        let (action, audit_action) = match mv {
            LifecycleMove::Deprecate => (Action::Deprecate, "app_artifact.deprecate"),
            LifecycleMove::Retire => (Action::Retire, "app_artifact.retire"),
            LifecycleMove::Promote => return Err(AdmissionError::Internal),
        };
        let reason = check_reason(input.reason, false)?;
        let artifact = self.load_artifact(id).await?;
        let context = artifact_context(&artifact);
        let allowed = self
            .authorize(principal, action, Resource::Artifact(&artifact), context, meta)
            .await?;
        let to = artifact
            .lifecycle_state
            .apply(mv, artifact.trust_state)
            .map_err(|e| AdmissionError::Rule(e.to_string()))?;
        let mut updated = artifact.clone();
        updated.lifecycle_state = to;
        let mut audit = self.audit_record(&artifact, principal, audit_action, &allowed, meta);
        audit.transition = Some(Transition {
            from: artifact.lifecycle_state.to_string(),
            to: to.to_string(),
            reason,
        });
        let change = ArtifactChange {
            artifact: updated,
            promotion: None,
            evidence: Vec::new(),
            summary: None,
        };
        self.commit(change, audit, allowed).await
    }

    /// Revokes trust in an artifact (terminal).
    pub async fn revoke(
        &self,
        principal: &Principal,
        id: ArtifactId,
        input: LifecycleInput,
        meta: &RequestMeta,
    ) -> Result<ArtifactView, AdmissionError> {
        let reason = check_reason(input.reason, true)?;
        let artifact = self.load_artifact(id).await?;
        let context = artifact_context(&artifact);
        let allowed = self
            .authorize(
                principal,
                Action::Revoke,
                Resource::Artifact(&artifact),
                context,
                meta,
            )
            .await?;
        let to = artifact
            .trust_state
            .apply(TrustMove::Revoke)
            .map_err(|e| AdmissionError::Rule(e.to_string()))?;
        let mut updated = artifact.clone();
        updated.trust_state = to;
        // Revoked trust vouches for nothing: its signers and provenance stay in the evidence
        // history only.
        updated.trust_facts = Default::default();
        let mut audit = self.audit_record(&artifact, principal, "app_artifact.revoke", &allowed, meta);
        audit.transition = Some(Transition {
            from: artifact.trust_state.to_string(),
            to: to.to_string(),
            reason,
        });
        let change = ArtifactChange {
            artifact: updated,
            promotion: None,
            evidence: Vec::new(),
            summary: None,
        };
        self.commit(change, audit, allowed).await
    }

    pub(super) fn audit_record(
        &self,
        artifact: &Artifact,
        principal: &Principal,
        action: &str,
        allowed: &Allowed,
        meta: &RequestMeta,
    ) -> NewAuditRecord {
        artifact_audit(
            artifact,
            &principal.actor,
            action,
            allowed.audit_decision(),
            &meta.correlation_id,
        )
    }

    pub(super) async fn commit(
        &self,
        mut change: ArtifactChange,
        audit: NewAuditRecord,
        allowed: Allowed,
    ) -> Result<ArtifactView, AdmissionError> {
        let stored = self
            .commit_decisions(&mut change, audit, &[allowed.record], None)
            .await
            .map_err(|failure| failure.error)?;
        match stored {
            Some(stored) => self.committed_view(&change, stored).await,
            None => Err(AdmissionError::Internal),
        }
    }

    /// Commits `change` with its audit record and `decisions` (the allowing one first), and the
    /// job's completion (`result`) for a claimed verification job, in one transaction. `None`
    /// (nothing written) when an earlier claim of the job already committed. A failure says
    /// whether `decisions` were written all the same (only a commit whose audit record could not
    /// be sealed yet): when not, a caller that must keep a decision logs it itself.
    pub(super) async fn commit_decisions(
        &self,
        change: &mut ArtifactChange,
        audit: NewAuditRecord,
        decisions: &[DecisionRecord],
        job: Option<(&VerificationJob, &serde_json::Value)>,
    ) -> Result<Option<Artifact>, CommitFailure> {
        change.artifact.updated_at = Utc::now();
        self.audit_allowed(&audit)
            .await
            .map_err(CommitFailure::unwritten)?;
        let committed = match job {
            None => self.store.apply_change(change, audit, decisions).await.map(Some),
            Some((job, result)) => {
                self.store
                    .commit_verification(job.id, change, audit, decisions, result)
                    .await
            }
        };
        committed.map_err(|error| CommitFailure {
            decisions_written: matches!(error, StoreError::AuditSealing),
            error: error.into(),
        })
    }
}

/// Why a commit failed, and whether its decisions were written anyway.
pub(super) struct CommitFailure {
    /// The answer.
    pub error: AdmissionError,
    /// The transaction committed (its decisions with it) but its audit record is not sealed yet.
    pub decisions_written: bool,
}

impl CommitFailure {
    /// A failure before anything was written.
    pub(super) fn unwritten(error: AdmissionError) -> Self {
        Self {
            error,
            decisions_written: false,
        }
    }
}
