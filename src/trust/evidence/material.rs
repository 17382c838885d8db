//! Where a verification reads an artifact's trust material. The admission layer provides it: a
//! registry read needs a pull token it issues, attachments live in the store and source protocols
//! in the catalog. Trust only asks, so it can be tested without any of them.

use serde_json::Value;

use crate::domain::{Digest, SourceType};
use crate::registry::RegistryClient;
use crate::trust::CosignError;
use crate::trust::cosign::{SignatureLayer, fetch_signatures};
use crate::trust::cosign_attestations::{AttestationLayer, fetch_attestations};
use crate::trust::referrers::{Referrers, fetch_referrer_bundles};

/// A read of trust material that could not happen (the source is down or too slow): a retry,
/// never a verdict on the artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("trust material is unavailable")]
pub struct Unavailable;

/// The trust material of one artifact, as the caller can reach it.
#[async_trait::async_trait]
pub trait Material: Send + Sync {
    /// The error the caller's own reads fail with; an unreachable source becomes one too.
    type Error: From<Unavailable> + Send;

    /// Registry access for the artifact's signatures, attestations and referrers; `None` when
    /// no registry is configured.
    async fn registry(&self) -> Result<Option<Box<dyn RegistryMaterial + '_>>, Self::Error>;

    /// The built-in protocol a blob's source type is fetched with (`None`: it names none).
    async fn source_protocol(&self, source_type: &SourceType) -> Option<SourceType>;

    /// The envelopes and bundles kept with the artifact, in the order they were attached.
    async fn attachments(&self) -> Result<Vec<Value>, Self::Error>;
}

/// An OCI artifact's material in its registry.
#[async_trait::async_trait]
pub trait RegistryMaterial: Send + Sync {
    /// The layers under cosign's `.sig` tag.
    async fn signatures(&self) -> Result<Vec<SignatureLayer>, CosignError>;
    /// The sigstore bundles referring to the image (OCI 1.1 referrers or the tag schema).
    async fn referrer_bundles(&self) -> Result<Referrers, CosignError>;
    /// The DSSE layers under cosign's `.att` tag.
    async fn attestations(&self) -> Result<Vec<AttestationLayer>, CosignError>;
}

/// One repository of the registry, read with a pull token.
pub struct RegistryReader<'a> {
    /// The registry.
    pub client: &'a RegistryClient,
    /// The artifact's repository.
    pub repository: &'a str,
    /// Its digest.
    pub digest: &'a Digest,
    /// A pull token for the repository.
    pub token: String,
}

#[async_trait::async_trait]
impl RegistryMaterial for RegistryReader<'_> {
    async fn signatures(&self) -> Result<Vec<SignatureLayer>, CosignError> {
        fetch_signatures(self.client, self.repository, self.digest, &self.token).await
    }

    async fn referrer_bundles(&self) -> Result<Referrers, CosignError> {
        fetch_referrer_bundles(self.client, self.repository, self.digest, &self.token).await
    }

    async fn attestations(&self) -> Result<Vec<AttestationLayer>, CosignError> {
        fetch_attestations(self.client, self.repository, self.digest, &self.token).await
    }
}
