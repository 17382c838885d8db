//! What a pull intent answers: an OCI reference with a registry credential, or a blob source
//! with an object token when the gateway can mint one. Types only, shared by the OCI flow
//! (`intents`) and the blob flow (`blob_pull`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::credentials::Credential;
use crate::domain::{ArtifactId, ArtifactKind, Digest, RepositoryPath, SourceType};

/// A pull intent's answer: an OCI reference with a registry credential, or a blob source.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PullAnswer {
    /// An OCI artifact.
    Oci(PullIntentAnswer),
    /// A blob.
    Blob(BlobPullAnswer),
}

/// The answer to a pull intent for a blob.
#[derive(Debug, Clone, Serialize)]
pub struct BlobPullAnswer {
    /// Intent id.
    pub id: Uuid,
    /// The artifact.
    pub artifact_id: ArtifactId,
    /// Always `blob`.
    pub artifact_kind: ArtifactKind,
    /// The artifact's canonical repository (its catalog name).
    pub repository: RepositoryPath,
    /// The digest the downloaded bytes must have.
    pub digest: Digest,
    /// The declared size, when registered.
    pub size_bytes: Option<i64>,
    /// Where the bytes live.
    pub source_type: SourceType,
    /// The source URI as registered, without any credential it embeds.
    pub reference: String,
    /// The pinned revision (e.g. a Hugging Face commit), when registered.
    pub source_ref: Option<String>,
    /// Whether `reference` had a credential removed (the client then needs its own access).
    pub reference_redacted: bool,
    /// A URL to download from as given, when there is one.
    pub url: Option<String>,
    /// The object token for the artifact store; `null` for other sources.
    pub credential: Option<ObjectCredential>,
    /// Expiry of the intent (and of its credential).
    pub expires_at: DateTime<Utc>,
}

/// A bearer token for one artifact-store object.
#[derive(Clone, Serialize)]
pub struct ObjectCredential {
    /// Always `Bearer`: send `Authorization: Bearer <token>`.
    pub scheme: &'static str,
    /// The signed object token.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for ObjectCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never reaches a log line.
        f.debug_struct("ObjectCredential")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The answer to a pull intent for an OCI artifact.
#[derive(Debug, Clone, Serialize)]
pub struct PullIntentAnswer {
    /// Intent id.
    pub id: Uuid,
    /// Always `oci`.
    pub artifact_kind: ArtifactKind,
    /// Registry host.
    pub registry: Option<String>,
    /// Repository.
    pub repository: RepositoryPath,
    /// Digest.
    pub digest: Digest,
    /// `<registry>/<repository>@<digest>`.
    pub reference: String,
    /// Pull-only credential (shown once: reading the intent later does not show it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}
