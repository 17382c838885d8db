//! Rows as the database hands them back, and their re-validation into domain types: every
//! stored string goes through the same parser as user input, and a failure is `Corrupt`.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::StoreError;
use crate::audit::{
    AuditDecision, AuditRecord, DecisionRecord, NewAuditRecord, PromotionFacts, Transition, UnsealedAudit,
};
use crate::domain::{
    Actor, ActorType, Artifact, ArtifactId, Evidence, EvidenceResult, Promotion, Scope, Source, TrustFacts,
};

/// Parses a stored value, naming the column when it no longer parses.
pub(super) fn parse<T: FromStr>(column: &str, raw: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| StoreError::Corrupt(format!("column `{column}` value `{raw}`: {e}")))
}

/// The stored form of an actor type.
pub(super) fn actor_type_str(t: ActorType) -> &'static str {
    match t {
        ActorType::User => "user",
        ActorType::ServiceAccount => "service_account",
        ActorType::Registry => "registry",
        ActorType::KubernetesApiServer => "kubernetes_api_server",
    }
}

pub(super) fn actor(actor_type: &str, id: String) -> Result<Actor, StoreError> {
    let actor_type = match actor_type {
        "user" => ActorType::User,
        "service_account" => ActorType::ServiceAccount,
        "registry" => ActorType::Registry,
        "kubernetes_api_server" => ActorType::KubernetesApiServer,
        other => return Err(StoreError::Corrupt(format!("unknown actor type `{other}`"))),
    };
    Ok(Actor { actor_type, id })
}

/// The stored form of an evidence result.
pub(super) fn result_str(r: EvidenceResult) -> &'static str {
    match r {
        EvidenceResult::Pass => "pass",
        EvidenceResult::Fail => "fail",
    }
}

/// One `artifacts` row.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct ArtifactRow {
    pub(super) id: Uuid,
    pub(super) project: String,
    pub(super) app: String,
    pub(super) artifact_kind: String,
    pub(super) artifact_type: String,
    pub(super) repository: String,
    pub(super) digest: String,
    pub(super) tag: Option<String>,
    pub(super) media_type: Option<String>,
    pub(super) source_type: String,
    pub(super) source_uri: String,
    pub(super) source_ref: Option<String>,
    pub(super) size_bytes: Option<i64>,
    pub(super) content_encoding: Option<String>,
    pub(super) lifecycle_state: String,
    pub(super) trust_state: String,
    pub(super) channels: Json<Vec<String>>,
    pub(super) signature_verified: bool,
    pub(super) attestations: Json<Vec<String>>,
    pub(super) created_by_type: String,
    pub(super) created_by_id: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) version: i64,
    pub(super) visibility: String,
    pub(super) tenant: Option<String>,
    pub(super) trust_facts: Json<TrustFacts>,
}

impl TryFrom<ArtifactRow> for Artifact {
    type Error = StoreError;

    fn try_from(r: ArtifactRow) -> Result<Self, StoreError> {
        Ok(Artifact {
            id: ArtifactId(r.id),
            project: parse("project", &r.project)?,
            app: parse("app", &r.app)?,
            artifact_kind: parse("artifact_kind", &r.artifact_kind)?,
            artifact_type: parse("artifact_type", &r.artifact_type)?,
            repository: parse("repository", &r.repository)?,
            scope: Scope::new(
                parse("visibility", &r.visibility)?,
                r.tenant.as_deref().map(|t| parse("tenant", t)).transpose()?,
            )
            .map_err(|e| StoreError::Corrupt(format!("visibility: {e}")))?,
            digest: parse("digest", &r.digest)?,
            tag: r.tag,
            media_type: r.media_type,
            source: Source {
                source_type: parse("source_type", &r.source_type)?,
                uri: r.source_uri,
                source_ref: r.source_ref,
                size_bytes: r.size_bytes,
                content_encoding: r.content_encoding,
            },
            lifecycle_state: parse("lifecycle_state", &r.lifecycle_state)?,
            trust_state: parse("trust_state", &r.trust_state)?,
            channels: r
                .channels
                .0
                .iter()
                .map(|c| parse("channels", c))
                .collect::<Result<_, _>>()?,
            signature_verified: r.signature_verified,
            attestations: r.attestations.0,
            trust_facts: r.trust_facts.0,
            created_by: actor(&r.created_by_type, r.created_by_id)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

/// One `artifact_evidence` row.
#[derive(sqlx::FromRow)]
pub(super) struct EvidenceRow {
    evidence_type: String,
    result: String,
    reason: String,
    checked_at: DateTime<Utc>,
    details: Json<serde_json::Value>,
}

impl TryFrom<EvidenceRow> for Evidence {
    type Error = StoreError;

    fn try_from(r: EvidenceRow) -> Result<Self, StoreError> {
        let result = match r.result.as_str() {
            "pass" => EvidenceResult::Pass,
            "fail" => EvidenceResult::Fail,
            other => return Err(StoreError::Corrupt(format!("unknown evidence result `{other}`"))),
        };
        Ok(Evidence {
            evidence_type: r.evidence_type,
            result,
            reason: r.reason,
            checked_at: r.checked_at,
            details: r.details.0,
        })
    }
}

/// One `artifact_promotions` row.
#[derive(sqlx::FromRow)]
pub(super) struct PromotionRow {
    channel: String,
    target_environment: Option<String>,
    actor_type: String,
    actor_id: String,
    promoted_at: DateTime<Utc>,
    decision: Json<serde_json::Value>,
    reason: Option<String>,
}

impl TryFrom<PromotionRow> for Promotion {
    type Error = StoreError;

    fn try_from(r: PromotionRow) -> Result<Self, StoreError> {
        Ok(Promotion {
            channel: parse("channel", &r.channel)?,
            target_environment: r.target_environment,
            actor: actor(&r.actor_type, r.actor_id)?,
            promoted_at: r.promoted_at,
            decision: r.decision.0,
            reason: r.reason,
        })
    }
}

/// The body columns of an `audit_records` row (everything but its place in the chain).
#[derive(sqlx::FromRow)]
pub(super) struct AuditBodyRow {
    actor_type: String,
    actor_id: String,
    action: String,
    project: Option<String>,
    artifact_id: Option<Uuid>,
    repository: Option<String>,
    digest: Option<String>,
    artifact_kind: Option<String>,
    source_type: Option<String>,
    transition: Option<Json<Transition>>,
    promotion: Option<Json<PromotionFacts>>,
    decision: Option<Json<AuditDecision>>,
    correlation_id: String,
}

impl TryFrom<AuditBodyRow> for NewAuditRecord {
    type Error = StoreError;

    // Audit fields stay plain strings (the record hashes what was written); no re-parsing here,
    // so a tampered row is reported by the chain check rather than hidden by a read error.
    fn try_from(r: AuditBodyRow) -> Result<Self, StoreError> {
        Ok(NewAuditRecord {
            actor: actor(&r.actor_type, r.actor_id)?,
            action: r.action,
            project: r.project,
            artifact_id: r.artifact_id.map(ArtifactId),
            repository: r.repository,
            digest: r.digest,
            artifact_kind: r.artifact_kind,
            source_type: r.source_type,
            transition: r.transition.map(|j| j.0),
            promotion: r.promotion.map(|j| j.0),
            decision: r.decision.map(|j| j.0),
            correlation_id: r.correlation_id,
        })
    }
}

/// One sealed `audit_records` row.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: Uuid,
    seq: i64,
    occurred_at: DateTime<Utc>,
    #[sqlx(flatten)]
    body: AuditBodyRow,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditRecord {
            id: r.id,
            seq: r.seq,
            occurred_at: r.occurred_at,
            body: r.body.try_into()?,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

/// One `audit_records` row not yet placed in the chain.
#[derive(sqlx::FromRow)]
pub(super) struct UnsealedRow {
    id: Uuid,
    occurred_at: DateTime<Utc>,
    #[sqlx(flatten)]
    body: AuditBodyRow,
}

impl UnsealedRow {
    /// The record's id (read before the body, which may no longer parse).
    pub(super) fn id(&self) -> Uuid {
        self.id
    }
}

impl TryFrom<UnsealedRow> for UnsealedAudit {
    type Error = StoreError;

    fn try_from(r: UnsealedRow) -> Result<Self, StoreError> {
        Ok(UnsealedAudit {
            id: r.id,
            occurred_at: r.occurred_at,
            body: r.body.try_into()?,
        })
    }
}

/// One `decisions` row.
#[derive(sqlx::FromRow)]
pub(super) struct DecisionRow {
    id: Uuid,
    decided_at: DateTime<Utc>,
    correlation_id: String,
    actor_type: String,
    actor_id: String,
    action: String,
    project: Option<String>,
    artifact_id: Option<Uuid>,
    resource: String,
    effect: String,
    policy_ids: Json<Vec<String>>,
    reasons: Json<Vec<String>>,
    errors: Json<Vec<String>>,
    policy_hash: String,
    // Read through a `Value` (`JsonText`'s `Deserialize`): the compact text, whatever spacing
    // and key order PostgreSQL's `jsonb` rows (before migration 0014) were stored with.
    request: Json<crate::audit::JsonText>,
    entities: Json<crate::audit::JsonText>,
    /// The stored input this decision names instead of holding it (migration 0015).
    input_hash: Option<String>,
}

impl DecisionRow {
    /// The hash of the stored input this row names, if it does not hold its own.
    pub(super) fn input_hash(&self) -> Option<&str> {
        self.input_hash.as_deref()
    }

    /// Gives the row the input it names.
    pub(super) fn set_input(
        &mut self,
        request: Json<crate::audit::JsonText>,
        entities: Json<crate::audit::JsonText>,
    ) {
        self.request = request;
        self.entities = entities;
    }
}

impl TryFrom<DecisionRow> for DecisionRecord {
    type Error = StoreError;

    fn try_from(r: DecisionRow) -> Result<Self, StoreError> {
        Ok(DecisionRecord {
            id: r.id,
            decided_at: r.decided_at,
            correlation_id: r.correlation_id,
            actor: actor(&r.actor_type, r.actor_id)?,
            action: r.action,
            project: r.project,
            artifact_id: r.artifact_id.map(ArtifactId),
            resource: r.resource,
            effect: r.effect,
            policy_ids: r.policy_ids.0,
            reasons: r.reasons.0,
            errors: r.errors.0,
            policy_hash: r.policy_hash,
            request: r.request.0,
            entities: r.entities.0,
        })
    }
}

/// Converts every row, stopping at the first that no longer parses.
pub(super) fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}
