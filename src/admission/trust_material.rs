//! The trust material a verification reads, as admission reaches it: the registry with a pull
//! token it issues, the attachments kept in the store, the catalog's source protocols.

use chrono::Utc;
use serde_json::Value;

use super::{Admission, AdmissionError};
use crate::domain::{AccessGrant, Artifact, SourceType};
use crate::registry::RegistryClient;
use crate::trust::Material;
use crate::trust::evidence::RegistryMaterial;

/// What reading trust material from the registry needs.
pub(super) struct RegistryReader<'a> {
    pub(super) client: &'a RegistryClient,
    pub(super) token: String,
}

/// One artifact's trust material, read on behalf of a verification.
pub(super) struct ArtifactMaterial<'a> {
    pub(super) admission: &'a Admission,
    pub(super) artifact: &'a Artifact,
}

#[async_trait::async_trait]
impl Material for ArtifactMaterial<'_> {
    type Error = AdmissionError;

    async fn registry(&self) -> Result<Option<Box<dyn RegistryMaterial + '_>>, AdmissionError> {
        let Some(reader) = self.admission.registry_reader(self.artifact).await? else {
            return Ok(None);
        };
        Ok(Some(Box::new(crate::trust::evidence::RegistryReader {
            client: reader.client,
            repository: self.artifact.repository.as_str(),
            digest: &self.artifact.digest,
            token: reader.token,
        })))
    }

    async fn source_protocol(&self, source_type: &SourceType) -> Option<SourceType> {
        self.admission.catalog().await.source_protocol(source_type)
    }

    async fn attachments(&self) -> Result<Vec<Value>, AdmissionError> {
        Ok(self.admission.store.attestations(self.artifact.id).await?)
    }
}

impl Admission {
    /// A registry client and a short-lived pull token for the artifact's repository, when a
    /// registry is configured.
    pub(super) async fn registry_reader(
        &self,
        artifact: &Artifact,
    ) -> Result<Option<RegistryReader<'_>>, AdmissionError> {
        let (Some(client), Some(signer)) = (&self.registry_setup.client, &self.registry_setup.signer) else {
            return Ok(None);
        };
        let grant = vec![AccessGrant::repository(
            artifact.repository.to_string(),
            &["pull"],
        )];
        let token = self
            .issue_token(
                signer,
                "gatehouse",
                grant,
                Utc::now() + chrono::Duration::seconds(60),
            )
            .await?;
        Ok(Some(RegistryReader {
            client,
            token: token.token,
        }))
    }
}
