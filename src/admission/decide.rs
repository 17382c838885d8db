//! Asking the policy engine and recording what it answered.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::future::Future;

use chrono::Utc;
use uuid::Uuid;

use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{AuditDecision, DecisionRecord, NewAuditRecord, Transition};
use crate::domain::{Actor, Artifact, LifecycleState, Principal};
use crate::policy::{Action, CacheUse, Caller, Decision, PolicyRequest, RequestContext, Resource};

/// The platform role that may override a denial with a justification.
pub const BREAK_GLASS_ROLE: &str = "break_glass";
/// Shortest justification accepted, so "x" never opens the glass.
const MIN_JUSTIFICATION: usize = 20;

tokio::task_local! {
    /// The dry-run forbids that would have denied an allowed decision of the request being served.
    static WOULD_DENY: RefCell<BTreeSet<String>>;
}

/// Runs `serve` (one request) and answers, with its output, the ids of the dry-run forbids that
/// would have denied one of its allowed decisions: what the `Gatehouse-Would-Deny` header says.
pub async fn noting_would_deny<F: Future>(serve: F) -> (F::Output, Vec<String>) {
    WOULD_DENY
        .scope(RefCell::new(BTreeSet::new()), async move {
            let output = serve.await;
            let ids = WOULD_DENY.with(|ids| ids.borrow().iter().cloned().collect());
            (output, ids)
        })
        .await
}

/// An allow, with the record that must be persisted alongside whatever it permits.
pub(super) struct Allowed {
    /// What the engine answered.
    pub decision: Decision,
    /// The decision-log record, for the state change's transaction.
    pub record: DecisionRecord,
}

impl Allowed {
    /// The decision as an audit record carries it.
    pub fn audit_decision(&self) -> AuditDecision {
        audit_decision(&self.decision)
    }
}

/// An allowing decision as an audit record carries it.
pub(super) fn audit_decision(decision: &Decision) -> AuditDecision {
    AuditDecision {
        effect: decision.effect().to_owned(),
        policy_ids: decision.policy_ids.clone(),
        policy_hash: decision.policy_hash.clone(),
    }
}

/// The audit record of an action on one artifact; callers add the transition or promotion.
pub(super) fn artifact_audit(
    artifact: &Artifact,
    actor: &Actor,
    action: &str,
    decision: AuditDecision,
    correlation_id: &str,
) -> NewAuditRecord {
    NewAuditRecord {
        project: Some(artifact.project.to_string()),
        artifact_id: Some(artifact.id),
        repository: Some(artifact.repository.to_string()),
        digest: Some(artifact.digest.to_string()),
        artifact_kind: Some(artifact.artifact_kind.to_string()),
        source_type: Some(artifact.source.source_type.to_string()),
        decision: Some(decision),
        ..NewAuditRecord::new(actor.clone(), action, correlation_id)
    }
}

/// The audit record of a registration (`none` → `published`).
pub(super) fn registration_audit(
    artifact: &Artifact,
    actor: &Actor,
    decision: AuditDecision,
    correlation_id: &str,
) -> NewAuditRecord {
    let mut audit = artifact_audit(artifact, actor, "app_artifact.register", decision, correlation_id);
    audit.transition = Some(Transition {
        from: "none".to_owned(),
        to: LifecycleState::Published.to_string(),
        reason: None,
    });
    audit
}

impl Admission {
    /// Decides `action`; a deny is recorded (durably) and answered as `Denied`, an allow is
    /// handed back so the caller persists it with the change it permits.
    pub(super) async fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
        context: RequestContext,
        meta: &RequestMeta,
    ) -> Result<Allowed, AdmissionError> {
        let context = RequestContext {
            break_glass: meta.break_glass.as_ref().map(|_| true),
            ..context
        };
        let (decision, record) = self.evaluate(principal, action, resource, context, meta);
        if decision.allowed {
            return Ok(Allowed { decision, record });
        }
        if let Some(overridden) = self.break_glass(principal, &decision, &record, meta).await? {
            return Ok(overridden);
        }
        self.decisions.record(record).await?;
        Err(AdmissionError::Denied(Box::new(decision)))
    }

    /// Break-glass: a caller with the `break_glass` platform role who sends a justification may
    /// override a deny that forbids decided — only where the permits alone allow the request and
    /// no policy errored. The override is audited (`policy.break_glass`), counted and logged.
    async fn break_glass(
        &self,
        principal: &Principal,
        decision: &Decision,
        record: &DecisionRecord,
        meta: &RequestMeta,
    ) -> Result<Option<Allowed>, AdmissionError> {
        let Some(justification) = meta.break_glass.as_deref() else {
            return Ok(None);
        };
        let privileged = principal.platform_roles.contains(BREAK_GLASS_ROLE);
        let justified = justification.chars().count() >= MIN_JUSTIFICATION;
        if !privileged || !justified || !decision.errors.is_empty() || decision.policy_ids.is_empty() {
            return Ok(None);
        }
        if !self
            .policy()
            .permits_allow(&record.request.to_value(), &record.entities.to_value())
        {
            return Ok(None);
        }
        let mut reasons = vec![format!(
            "break-glass override by `{}`: {justification}",
            principal.actor.id
        )];
        reasons.extend(decision.reasons.iter().map(|r| format!("overrode: {r}")));
        let overriding = Decision {
            allowed: true,
            reasons: reasons.clone(),
            ..decision.clone()
        };
        let record = DecisionRecord {
            effect: "allow".to_owned(),
            reasons,
            ..record.clone()
        };
        let audit = NewAuditRecord {
            project: record.project.clone(),
            artifact_id: record.artifact_id,
            transition: Some(Transition {
                from: "deny".to_owned(),
                to: "allow".to_owned(),
                reason: Some(justification.to_owned()),
            }),
            decision: Some(audit_decision(&overriding)),
            ..NewAuditRecord::new(
                principal.actor.clone(),
                "policy.break_glass",
                meta.correlation_id.clone(),
            )
        };
        self.audit_allowed(&audit).await?;
        self.store.append_audit(audit).await?;
        self.metrics.count_decision(&record.action, "break_glass");
        crate::access::note_decision("break_glass");
        tracing::warn!(
            actor = %principal.actor.id,
            action = %record.action,
            overridden = ?decision.policy_ids,
            "BREAK-GLASS override of a policy denial"
        );
        Ok(Some(Allowed {
            decision: overriding,
            record,
        }))
    }

    /// Decides a request that changes nothing; records the decision either way.
    pub(super) async fn authorize_read(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
        meta: &RequestMeta,
    ) -> Result<Decision, AdmissionError> {
        let allowed = self
            .authorize(principal, action, resource, RequestContext::default(), meta)
            .await?;
        self.decisions.record(allowed.record).await?;
        Ok(allowed.decision)
    }

    /// A `read` of an artifact or of a project's artifacts, where another tenant's are as unknown
    /// as missing ones: a caller with no role in the owning project who is denied gets the 404 an
    /// unknown id gets, since a 403 would confirm the artifact or project exists. The deny stays
    /// in the decision log.
    pub(super) async fn authorize_tenant_read(
        &self,
        principal: &Principal,
        resource: Resource<'_>,
        meta: &RequestMeta,
    ) -> Result<Decision, AdmissionError> {
        let outsider_of = outsider_project(principal, &resource);
        match self.authorize_read(principal, Action::Read, resource, meta).await {
            Err(AdmissionError::Denied(decision)) => Err(match outsider_of {
                Some(message) => AdmissionError::NotFound(message),
                None => AdmissionError::Denied(decision),
            }),
            other => other,
        }
    }

    /// Evaluates without recording; answers the decision and its log record. The request and
    /// entity slice are in the record only (the decision's own fields are left empty).
    pub(super) fn evaluate(
        &self,
        principal: &Principal,
        action: Action,
        resource: Resource<'_>,
        context: RequestContext,
        meta: &RequestMeta,
    ) -> (Decision, DecisionRecord) {
        self.evaluate_as(
            Caller::Principal(principal),
            &principal.actor,
            action,
            resource,
            context,
            meta,
        )
    }

    /// Evaluates for any caller (a principal, or the registry calling back).
    pub(super) fn evaluate_as(
        &self,
        caller: Caller<'_>,
        actor: &Actor,
        action: Action,
        resource: Resource<'_>,
        context: RequestContext,
        meta: &RequestMeta,
    ) -> (Decision, DecisionRecord) {
        let (project, artifact_id) = match &resource {
            Resource::Artifact(a) => (Some(a.project.to_string()), Some(a.id)),
            Resource::Repository { project, .. } | Resource::Project(project) => {
                (Some(project.to_string()), None)
            }
            Resource::Platform | Resource::CatalogEntry { .. } => (None, None),
            Resource::App(app) | Resource::AppVersion { app, .. } => {
                (Some(app.owner_project.to_string()), None)
            }
        };
        let engine = self.policy();
        let (mut decision, cache) = engine.decide_noting_cache(&PolicyRequest {
            caller,
            action,
            resource,
            context,
        });
        let effect = if decision.allowed { "allow" } else { "deny" };
        self.metrics.count_decision(action.as_str(), effect);
        // A decision that could not use the cache (or with it off) is not counted.
        match cache {
            CacheUse::Hit => self.metrics.count_decision_cache("hit"),
            CacheUse::Miss => self.metrics.count_decision_cache("miss"),
            CacheUse::Bypassed => {}
        }
        crate::access::note_decision(effect);
        if !decision.would_deny.is_empty() {
            // A dry-run forbid matched: allowed now, but the shadowed rule is counted and logged.
            self.metrics.count_decision(action.as_str(), "would_deny");
            // Outside a request (workers, signals) there is no response to tell.
            let _ = WOULD_DENY.try_with(|ids| ids.borrow_mut().extend(decision.would_deny.iter().cloned()));
            tracing::warn!(action = action.as_str(), policies = ?decision.would_deny, "dry-run policy would deny");
        }
        if !decision.errors.is_empty() {
            tracing::warn!(action = action.as_str(), errors = ?decision.errors, "policy evaluation errored; denying");
        }
        // The request and entity slice move into the record (the only reader after this point):
        // cloning their JSON per decision was a measurable share of a review's CPU.
        let request = std::mem::take(&mut decision.request);
        let entities = std::mem::take(&mut decision.entities);
        let resource = std::mem::take(&mut decision.resource);
        let record = DecisionRecord {
            id: Uuid::now_v7(),
            decided_at: Utc::now(),
            correlation_id: meta.correlation_id.clone(),
            actor: actor.clone(),
            action: action.as_str().to_owned(),
            project,
            artifact_id,
            resource,
            effect: effect.to_owned(),
            policy_ids: decision.policy_ids.clone(),
            reasons: decision.reasons.clone(),
            errors: decision.errors.clone(),
            policy_hash: decision.policy_hash.clone(),
            request,
            entities,
        };
        (decision, record)
    }

    /// Records an evaluated decision through the group-committing writer.
    pub(super) async fn log_decision(&self, record: DecisionRecord) -> Result<(), AdmissionError> {
        Ok(self.decisions.record(record).await?)
    }
}

/// When `principal` holds no role in the project that owns `resource` (an artifact or a
/// project), the not-found message a denied read answers instead of 403.
fn outsider_project(principal: &Principal, resource: &Resource<'_>) -> Option<String> {
    let (project, message) = match resource {
        Resource::Artifact(artifact) => (&artifact.project, "no such artifact"),
        Resource::Project(project) => (*project, "no such project"),
        _ => return None,
    };
    (!principal.project_roles.contains_key(project)).then(|| message.to_owned())
}
