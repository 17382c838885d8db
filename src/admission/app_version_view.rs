//! `GET /v1/apps/{slug}/versions/{version}`: one version with what it ships — each linked
//! artifact's current trust and lifecycle state, and whether the catalog still accepts its type
//! and source — so a reviewer sees at publish time exactly what would be approved.

use serde::Serialize;

use super::{Admission, AdmissionError, RequestMeta};
use crate::catalog::Family;
use crate::domain::{
    AppSlug, AppVersion, ArtifactId, ArtifactKind, Channel, Digest, LifecycleState, Lookup, Principal,
    RepositoryPath, TrustState, VersionNumber,
};
use crate::policy::{Action, Resource};

/// A version and its linked artifacts as they stand now.
#[derive(Debug, Clone, Serialize)]
pub struct AppVersionView {
    /// The stored version (its `artifacts` are the links as registered).
    #[serde(flatten)]
    pub version: AppVersion,
    /// Each linked artifact, in manifest order, with its current states.
    pub linked_artifacts: Vec<LinkedArtifactView>,
}

/// One linked artifact's current state.
#[derive(Debug, Clone, Serialize)]
pub struct LinkedArtifactView {
    /// The manifest's name for it.
    pub name: String,
    /// The artifact.
    pub artifact_id: ArtifactId,
    /// Its digest.
    pub digest: Digest,
    /// `oci` or `blob`.
    pub artifact_kind: ArtifactKind,
    /// Its `artifact_types` catalog id.
    pub artifact_type: String,
    /// Its `source_types` catalog id.
    pub source_type: String,
    /// Its canonical repository.
    pub repository: RepositoryPath,
    /// Whether it may be believed, now.
    pub trust_state: TrustState,
    /// What may be done with it, now.
    pub lifecycle_state: LifecycleState,
    /// Channels reached.
    pub channels: Vec<Channel>,
    /// Why the catalog would refuse it now (a disabled type or source), if it would.
    pub catalog_refusals: Vec<String>,
}

impl Admission {
    /// One version of an app with its linked artifacts' current states; shown where `read` on
    /// the version is allowed (403 otherwise, decided and logged like every read).
    pub async fn get_app_version(
        &self,
        principal: &Principal,
        slug: &Lookup<AppSlug>,
        version: &Lookup<VersionNumber>,
        meta: &RequestMeta,
    ) -> Result<AppVersionView, AdmissionError> {
        let app = self.load_app(slug).await?;
        let version = self.load_version(&app, version).await?;
        let facts = self.app_facts(&app.slug, &app.project).await?;
        let version_facts = self.version_facts(&version).await?;
        let resource = Resource::AppVersion {
            app: &facts,
            version: &version_facts,
        };
        self.authorize_read(principal, Action::Read, resource, meta)
            .await?;
        let catalog = self.catalog().await;
        let mut linked_artifacts = Vec::with_capacity(version.artifacts.len());
        for link in &version.artifacts {
            // INVARIANT: links reference artifacts by foreign key, and artifacts are never deleted.
            let Some(artifact) = self.store.get_artifact(link.artifact_id).await? else {
                tracing::error!(artifact = %link.artifact_id, "an app version links a missing artifact");
                return Err(AdmissionError::Internal);
            };
            let catalog_refusals = [
                (Family::ArtifactTypes, artifact.artifact_type.as_str()),
                (Family::SourceTypes, artifact.source.source_type.as_str()),
            ]
            .into_iter()
            .filter_map(|(family, id)| catalog.check(family, id).err().map(|r| r.to_string()))
            .collect();
            linked_artifacts.push(LinkedArtifactView {
                name: link.name.clone(),
                artifact_id: artifact.id,
                digest: artifact.digest.clone(),
                artifact_kind: artifact.artifact_kind,
                artifact_type: artifact.artifact_type.as_str().to_owned(),
                source_type: artifact.source.source_type.as_str().to_owned(),
                repository: artifact.repository.clone(),
                trust_state: artifact.trust_state,
                lifecycle_state: artifact.lifecycle_state,
                channels: artifact.channels.clone(),
                catalog_refusals,
            });
        }
        Ok(AppVersionView {
            version,
            linked_artifacts,
        })
    }
}
