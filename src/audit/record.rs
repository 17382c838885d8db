//! Audit and decision records, and the hash that chains audit records together.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::JsonText;
use crate::domain::{Actor, ArtifactId, ProjectSlug};

/// A state transition (lifecycle or trust) recorded on an audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// The reason the actor gave, where one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The channel reached by a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionFacts {
    /// Channel.
    pub channel: String,
    /// Target environment, where named.
    pub target_environment: Option<String>,
}

/// The decision that allowed a state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDecision {
    /// `allow` (state changes only happen on allow).
    pub effect: String,
    /// Determining policy ids.
    pub policy_ids: Vec<String>,
    /// Content hash of the policy set that decided.
    pub policy_hash: String,
}

/// An audit record before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditRecord {
    /// Who acted.
    pub actor: Actor,
    /// Action id such as `app_artifact.promote`.
    pub action: String,
    /// Project, where the action has one.
    pub project: Option<String>,
    /// Artifact, where the action has one.
    pub artifact_id: Option<ArtifactId>,
    /// Repository path.
    pub repository: Option<String>,
    /// Digest.
    pub digest: Option<String>,
    /// `oci` or `blob`.
    pub artifact_kind: Option<String>,
    /// Source type.
    pub source_type: Option<String>,
    /// A lifecycle or trust transition.
    pub transition: Option<Transition>,
    /// A promotion's channel.
    pub promotion: Option<PromotionFacts>,
    /// The decision that allowed it.
    pub decision: Option<AuditDecision>,
    /// Request id of the request that caused it.
    pub correlation_id: String,
}

impl NewAuditRecord {
    /// A record of `action` by `actor` for the request `correlation_id`, with nothing else
    /// set; callers fill in what applies with struct-update syntax.
    pub fn new(actor: Actor, action: impl Into<String>, correlation_id: impl Into<String>) -> Self {
        Self {
            actor,
            action: action.into(),
            project: None,
            artifact_id: None,
            repository: None,
            digest: None,
            artifact_kind: None,
            source_type: None,
            transition: None,
            promotion: None,
            decision: None,
            correlation_id: correlation_id.into(),
        }
    }
}

/// An audit record as stored: chained to the one before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Record id.
    pub id: Uuid,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When it happened (microsecond precision, so it survives any database round trip).
    pub occurred_at: DateTime<Utc>,
    /// The record body.
    #[serde(flatten)]
    pub body: NewAuditRecord,
    /// Hash of the previous record (`""` for the first).
    pub prev_hash: String,
    /// Hash over this record's fields and `prev_hash`.
    pub hash: String,
}

impl AuditRecord {
    /// Recomputes the hash from the record's own fields.
    pub fn compute_hash(&self) -> String {
        hash_fields(self.id, self.seq, self.occurred_at, &self.body, &self.prev_hash)
    }
}

fn hash_fields(id: Uuid, seq: i64, at: DateTime<Utc>, body: &NewAuditRecord, prev_hash: &str) -> String {
    // serde_json::Value keeps object keys sorted, so this encoding is canonical.
    let canonical = json!({
        "id": id,
        "seq": seq,
        "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "body": body,
        "prev_hash": prev_hash,
    });
    let mut hasher = Sha256::new();
    hasher.update(canonical.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// Places `body` in the chain after the record with `prev_seq` and `prev_hash`.
pub fn seal(body: NewAuditRecord, prev_seq: i64, prev_hash: &str, now: DateTime<Utc>) -> AuditRecord {
    UnsealedAudit::new(body, now).seal(prev_seq, prev_hash)
}

/// An audit record written with its state change but not yet placed in the chain: its id and
/// time are fixed (they are hashed), its position and hashes are given by `seal`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsealedAudit {
    /// Record id.
    pub id: Uuid,
    /// When it happened (microsecond precision).
    pub occurred_at: DateTime<Utc>,
    /// The record body.
    pub body: NewAuditRecord,
}

impl UnsealedAudit {
    /// A new record of `body` at `now`.
    pub fn new(body: NewAuditRecord, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            occurred_at: now.trunc_subsecs(6),
            body,
        }
    }

    /// Places the record in the chain after the record with `prev_seq` and `prev_hash`.
    pub fn seal(self, prev_seq: i64, prev_hash: &str) -> AuditRecord {
        let seq = prev_seq + 1;
        let hash = hash_fields(self.id, seq, self.occurred_at, &self.body, prev_hash);
        AuditRecord {
            id: self.id,
            seq,
            occurred_at: self.occurred_at,
            body: self.body,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }
}

/// One policy decision, allow or deny, with what it was decided over (enough to replay it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Record id (UUIDv7).
    pub id: Uuid,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// Request id.
    pub correlation_id: String,
    /// Who asked.
    pub actor: Actor,
    /// The Cedar action, e.g. `promote`.
    pub action: String,
    /// Project the resource belongs to, where it has one.
    pub project: Option<String>,
    /// Artifact, where the resource is one.
    pub artifact_id: Option<ArtifactId>,
    /// The resource's Cedar uid, e.g. `Gatehouse::Artifact::"…"`.
    pub resource: String,
    /// `allow` or `deny`.
    pub effect: String,
    /// Determining policy ids.
    pub policy_ids: Vec<String>,
    /// Human-readable reasons.
    pub reasons: Vec<String>,
    /// Evaluation errors (any makes the decision deny).
    pub errors: Vec<String>,
    /// Content hash of the policy set.
    pub policy_hash: String,
    /// The Cedar request: principal, action, resource, context (JSON text).
    pub request: JsonText,
    /// The entity slice it was evaluated over (Cedar entities JSON, as text).
    pub entities: JsonText,
}

impl DecisionRecord {
    /// The project as a slug; `None` with no project or one that no longer reads as a slug
    /// (records outlive the grammar they were written under).
    pub fn project_slug(&self) -> Option<ProjectSlug> {
        self.project.as_deref().and_then(|p| p.parse().ok())
    }
}
