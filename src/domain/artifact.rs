//! The one artifact model shared by OCI images and non-OCI blobs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    AppSlug, ArtifactKind, ArtifactType, Channel, Digest, LifecycleState, ProjectSlug, RepositoryPath, Scope,
    SourceType, TrustFacts, TrustState,
};

/// An artifact id (UUIDv7, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ArtifactId(pub Uuid);

super::string_schema!(ArtifactId);

impl ArtifactId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for ArtifactId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The canonical spelling only (lowercase, hyphenated, 36 characters), as a request gives it.
/// Request fields read it through [`super::optional_from_str`]; stored rows keep serde's own
/// reading.
impl std::str::FromStr for ArtifactId {
    type Err = super::IdError;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        super::parse_canonical_uuid(raw).map(Self).ok_or(super::IdError)
    }
}

/// Whether the caller is a person or a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A person.
    User,
    /// A CI pipeline or other machine identity.
    ServiceAccount,
    /// The registry calling back.
    Registry,
    /// The Kubernetes API server calling the admission webhook.
    KubernetesApiServer,
}

/// Who did something: recorded on artifacts, promotions and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// Person, machine or registry.
    #[serde(rename = "type")]
    pub actor_type: ActorType,
    /// The subject id from the verified token.
    pub id: String,
}

/// Where an artifact's bytes live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The kind of source; explicit on every artifact.
    pub source_type: SourceType,
    /// The location.
    pub uri: String,
    /// A pinned revision where the source has one (e.g. a Hugging Face commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<String>,
    /// Declared size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Declared content encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
}

/// Outcome of one trust check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceResult {
    /// The check passed.
    Pass,
    /// The check failed.
    Fail,
}

/// One trust input and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `digest_format`, `source_policy`, `signature`, `attestation`, `blob_bundle`, `blob_content`.
    #[serde(rename = "type")]
    pub evidence_type: String,
    /// Pass or fail.
    pub result: EvidenceResult,
    /// Human-readable, naming the check on failure.
    pub reason: String,
    /// When the check ran.
    pub checked_at: DateTime<Utc>,
    /// Extra facts (key id, identity, predicate type) where they apply.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// One promotion in an artifact's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The channel reached.
    pub channel: Channel,
    /// The target environment, where one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_environment: Option<String>,
    /// Who promoted.
    pub actor: Actor,
    /// When.
    pub promoted_at: DateTime<Utc>,
    /// The decision that allowed it (effect, policy ids, policy hash).
    pub decision: serde_json::Value,
    /// The reason given, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A registered artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// Stable id.
    pub id: ArtifactId,
    /// Owning project.
    pub project: ProjectSlug,
    /// App within the project.
    pub app: AppSlug,
    /// `oci` or `blob`.
    pub artifact_kind: ArtifactKind,
    /// Catalog type id.
    pub artifact_type: ArtifactType,
    /// Canonical repository chosen by the gateway.
    pub repository: RepositoryPath,
    /// Visibility class of the repository (`visibility`, and `tenant` for the tenant class).
    #[serde(flatten)]
    pub scope: Scope,
    /// The truth.
    pub digest: Digest,
    /// Convenience label only.
    pub tag: Option<String>,
    /// OCI media type, where known.
    pub media_type: Option<String>,
    /// Where the bytes live.
    pub source: Source,
    /// Lifecycle state.
    pub lifecycle_state: LifecycleState,
    /// Trust state.
    pub trust_state: TrustState,
    /// Channels reached so far, in the configured order.
    pub channels: Vec<Channel>,
    /// Whether a signature check passed (later issues fill this in).
    pub signature_verified: bool,
    /// Predicate types of attestations that passed.
    pub attestations: Vec<String>,
    /// Signers and provenance of the last passing verification (`signer_identities`,
    /// `signer_key_ids`, `provenance` in JSON).
    #[serde(flatten)]
    pub trust_facts: TrustFacts,
    /// Who registered it.
    pub created_by: Actor,
    /// When it was registered.
    #[serde(serialize_with = "super::time_text::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    #[serde(serialize_with = "super::time_text::serialize")]
    pub updated_at: DateTime<Utc>,
    /// Row version for optimistic concurrency.
    pub version: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IdError, Lookup};

    #[test]
    fn a_request_names_an_artifact_by_its_canonical_id_only() {
        let canonical = "0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e";
        let id: ArtifactId = canonical.parse().unwrap();
        assert_eq!(id.to_string(), canonical);
        for other in [
            "0191F3A2-7C4E-7B2A-9D1E-3F5A6B7C8D9E",
            "0191f3a27c4e7b2a9d1e3f5a6b7c8d9e",
            "urn:uuid:0191f3a2-7c4e-7b2a-9d1e-3f5a6b7c8d9e",
            "",
        ] {
            assert_eq!(other.parse::<ArtifactId>(), Err(IdError), "{other}");
            assert_eq!(
                other.parse::<Lookup<ArtifactId>>(),
                Ok(Lookup::Unknown(other.to_owned()))
            );
        }
        assert_eq!(canonical.parse::<Lookup<ArtifactId>>(), Ok(Lookup::Valid(id)));
        // A stored row keeps serde's own reading.
        let stored: ArtifactId = serde_json::from_str(&format!("\"{canonical}\"")).unwrap();
        assert_eq!(stored, id);
    }
}
