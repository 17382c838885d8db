//! Publish and pull intents, the registry tokens issued for them, and registry events.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Actor, AppSlug, ArtifactId, ArtifactKind, ArtifactType, Digest, Principal, ProjectSlug,
    RegistryRepository, RepositoryPath,
};

/// Permission to push one artifact to one canonical repository, for a few minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishIntent {
    /// Intent id (UUIDv7); the credential's username is derived from it.
    pub id: Uuid,
    /// Owning project.
    pub project: ProjectSlug,
    /// App.
    pub app: AppSlug,
    /// The canonical repository the push must go to.
    pub repository: RepositoryPath,
    /// `oci` or `blob`.
    pub artifact_kind: ArtifactKind,
    /// Catalog type.
    pub artifact_type: ArtifactType,
    /// The tag the pusher said it would use (a label only).
    pub tag_hint: Option<String>,
    /// If set, only this digest may complete the intent.
    pub expected_digest: Option<Digest>,
    /// Who asked for it.
    pub actor: Actor,
    /// The roles its creator held: a registration that follows the registry's notification is
    /// decided as this principal.
    #[serde(skip_serializing)]
    pub principal: Principal,
    /// SHA-256 (hex) of the one-time password; the password itself is never stored.
    #[serde(skip_serializing)]
    pub password_sha256: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// After this, the credential gets nothing.
    pub expires_at: DateTime<Utc>,
    /// The artifact a registration completed it with; from then on the credential may push only
    /// that digest's signatures, attestations and referrers (until `expires_at`).
    pub artifact_id: Option<ArtifactId>,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Request id of the request that created it.
    pub correlation_id: String,
}

/// Permission to pull one artifact by digest, for a few minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullIntent {
    /// Intent id (UUIDv7).
    pub id: Uuid,
    /// Project of the artifact.
    pub project: ProjectSlug,
    /// The artifact.
    pub artifact_id: ArtifactId,
    /// Its repository.
    pub repository: RepositoryPath,
    /// Its digest.
    pub digest: Digest,
    /// The channel it was asked for, if any.
    pub channel: Option<String>,
    /// Who asked.
    pub actor: Actor,
    /// SHA-256 (hex) of the password.
    #[serde(skip_serializing)]
    pub password_sha256: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Request id.
    pub correlation_id: String,
    /// The runtime the pull was asked for (`runtime_class` in the policy context), kept so a
    /// later re-check decides on the same context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class: Option<String>,
}

/// Which kind of intent a registry token was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentKind {
    /// A publish intent.
    Publish,
    /// A pull intent.
    Pull,
    /// No intent: a gateway bearer token was exchanged directly.
    Direct,
}

/// One repository grant inside a registry token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGrant {
    /// Always `repository` here.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Repository name as the registry knows it.
    pub name: String,
    /// Granted actions (`pull`, `push`).
    pub actions: Vec<String>,
}

impl AccessGrant {
    /// A grant of `actions` on one repository.
    pub fn repository(name: impl Into<String>, actions: &[&str]) -> Self {
        Self {
            resource_type: "repository".to_owned(),
            name: name.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }
}

/// A registry token the gateway signed; recorded so explain can show intent → token → push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// The token's `jti`.
    pub jti: String,
    /// The intent it was issued for, if any.
    pub intent_id: Option<Uuid>,
    /// Which kind of intent.
    pub intent_kind: IntentKind,
    /// The token's `sub`.
    pub subject: String,
    /// What was granted (possibly empty).
    pub access: Vec<AccessGrant>,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Expires.
    pub expires_at: DateTime<Utc>,
}

/// What a registry notification said happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryAction {
    /// A manifest (or blob) was pushed.
    Push,
    /// Something was pulled.
    Pull,
    /// A manifest was deleted.
    Delete,
    /// A blob was mounted from another repository.
    Mount,
}

/// Processing state of a queued registry event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Queued, not yet applied.
    Pending,
    /// Applied (registered, linked, or marked).
    Applied,
    /// Nothing to do (a pull, a blob event, a signature manifest).
    Ignored,
    /// Applying failed permanently; the reason is recorded.
    Failed,
}

/// One registry notification event, normalised from the distribution or Harbor format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryEvent {
    /// The registry's event id (the deduplication key).
    pub id: String,
    /// `distribution` or `harbor`.
    pub source: String,
    /// What happened.
    pub action: RegistryAction,
    /// Repository path as the registry names it (no host), read into the gateway path it is.
    pub repository: RegistryRepository,
    /// Digest of the target, when it has one.
    pub digest: Option<Digest>,
    /// Media type of the target.
    pub media_type: Option<String>,
    /// Size of the target.
    pub size: Option<i64>,
    /// Tag, when the push was by tag.
    pub tag: Option<String>,
    /// The token subject that acted (`actor.name`).
    pub actor_name: Option<String>,
    /// When the registry says it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// When the gateway queued it.
    pub received_at: DateTime<Utc>,
    /// Processing state.
    pub status: EventStatus,
    /// Attempts so far.
    pub attempts: i32,
    /// What applying it did (artifact id, intent id, reason), or why it failed.
    pub result: serde_json::Value,
}

/// A push the gateway has no intent for: recorded and surfaced, never trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnregisteredPush {
    /// Record id.
    pub id: Uuid,
    /// The registry event it came from.
    pub event_id: String,
    /// Project, when the repository lies under the registry root.
    pub project: Option<ProjectSlug>,
    /// Repository, as the registry named it.
    pub repository: RegistryRepository,
    /// Digest.
    pub digest: Digest,
    /// Tag.
    pub tag: Option<String>,
    /// Who pushed (token subject).
    pub actor_name: Option<String>,
    /// When.
    pub received_at: DateTime<Utc>,
}
