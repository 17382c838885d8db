//! The platform release catalog: releases are defined by platform admins and releasers over
//! registered, verified platform artifacts, listed to every caller, and their small files are
//! downloadable through the gateway, streamed from the registry and digest-checked.

use chrono::Utc;
use serde::Deserialize;

use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::NewAuditRecord;
use crate::domain::{
    Artifact, ArtifactId, ArtifactKind, Digest, LifecycleState, Lookup, PlatformLabel, Principal, Release,
    ReleaseArtifact, ReleaseFileName, ReleaseSummary, ReleaseVersion, Scope, TrustState,
};
use crate::policy::{Action, RequestContext, Resource};
use crate::registry::RegistryClientError;

/// The audit action of a release definition.
pub const RELEASE_AUDIT_ACTION: &str = "platform_release.publish";

/// The channel of a release that names none.
const DEFAULT_CHANNEL: &str = "stable";

/// Body of `POST /v1/platform/releases`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    /// Version, e.g. `1.4.0`.
    pub version: ReleaseVersion,
    /// Channel label (default `stable`).
    pub channel: Option<crate::domain::Channel>,
    /// The files, each a registered platform artifact.
    pub artifacts: Vec<ReleaseArtifactInput>,
}

/// One file of a release as asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseArtifactInput {
    /// Name within the release.
    pub name: ReleaseFileName,
    /// The registered platform artifact (an OCI artifact whose one layer is the file): a
    /// canonical UUID.
    #[serde(deserialize_with = "artifact_id")]
    #[schema(value_type = String)]
    pub artifact_id: ArtifactId,
    /// Operating system, where it applies.
    pub os: Option<PlatformLabel>,
    /// Architecture, where it applies.
    pub arch: Option<PlatformLabel>,
}

/// A release file's artifact id: the canonical spelling only, else 422 naming the field.
fn artifact_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ArtifactId, D::Error> {
    d.deserialize_str(crate::domain::FromStrVisitor::default())
}

/// The catalog listing.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReleaseList {
    /// Releases, newest first.
    pub items: Vec<ReleaseSummary>,
}

/// What a download request gets.
pub enum ReleaseDownload {
    /// The file, streamed and checked as it goes.
    Stream(DownloadStream),
    /// The file is above the configured cap: pull it from the registry instead.
    TooLarge {
        /// Its size.
        size: i64,
        /// The cap.
        max_bytes: u64,
        /// `<registry>/<repository>@<artifact digest>`.
        reference: String,
        /// The file's own digest (the layer to take).
        digest: Digest,
        /// The artifact, for a pull intent.
        artifact_id: ArtifactId,
        /// Its project (pull intents are asked under it).
        project: String,
    },
}

/// A download in progress.
pub struct DownloadStream {
    /// The file's size (the registered size, which the registry's length must match).
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// The bytes; an error item means the transfer must be aborted.
    pub body:
        std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, RegistryClientError>> + Send>>,
}

fn field(i: usize, name: &str) -> String {
    format!("artifacts[{i}].{name}")
}

impl Admission {
    /// Defines a platform release (`publish_release` on the platform).
    pub async fn publish_release(
        &self,
        principal: &Principal,
        input: ReleaseInput,
        meta: &RequestMeta,
    ) -> Result<Release, AdmissionError> {
        let channel = input
            .channel
            .map_or_else(|| DEFAULT_CHANNEL.to_owned(), |c| c.to_string());
        if input.artifacts.is_empty() {
            return Err(AdmissionError::invalid(
                "artifacts",
                "must name at least one artifact",
            ));
        }
        let allowed = self
            .authorize(
                principal,
                Action::PublishRelease,
                Resource::Platform,
                RequestContext::default(),
                meta,
            )
            .await?;
        let mut files: Vec<ReleaseArtifact> = Vec::with_capacity(input.artifacts.len());
        for (i, a) in input.artifacts.into_iter().enumerate() {
            let name = a.name.into_string();
            if files.iter().any(|f| f.name == name) {
                return Err(AdmissionError::invalid(
                    field(i, "name"),
                    "is already used in this release",
                ));
            }
            let artifact = self.release_candidate(i, a.artifact_id).await?;
            let (digest, size, media_type) = self.single_layer(i, &artifact).await?;
            files.push(ReleaseArtifact {
                name,
                artifact_id: artifact.id,
                repository: artifact.repository.to_string(),
                artifact_digest: artifact.digest.clone(),
                digest,
                size,
                media_type,
                os: a.os.map(PlatformLabel::into_string),
                arch: a.arch.map(PlatformLabel::into_string),
            });
        }
        let release = Release {
            version: input.version.into_string(),
            channel,
            created_by: principal.actor.clone(),
            created_at: Utc::now(),
            artifacts: files,
        };
        let audit = NewAuditRecord {
            decision: Some(allowed.audit_decision()),
            ..NewAuditRecord::new(
                principal.actor.clone(),
                RELEASE_AUDIT_ACTION,
                meta.correlation_id.clone(),
            )
        };
        self.audit_allowed(&audit).await?;
        if !self
            .store
            .create_release(&release, audit, &allowed.record)
            .await?
        {
            self.log_decision(allowed.record).await?;
            return Err(AdmissionError::Rule(format!(
                "release `{}` already exists; a version is defined once",
                release.version
            )));
        }
        Ok(release)
    }

    /// A release may name only registered platform artifacts that are verified and current.
    async fn release_candidate(&self, i: usize, id: ArtifactId) -> Result<Artifact, AdmissionError> {
        let key = field(i, "artifact_id");
        let artifact = self
            .store
            .get_artifact(id)
            .await?
            .ok_or_else(|| AdmissionError::invalid(&key, "no such artifact"))?;
        if artifact.scope != Scope::Platform {
            return Err(AdmissionError::invalid(
                &key,
                "is not a platform artifact (`visibility: platform`)",
            ));
        }
        if artifact.artifact_kind != ArtifactKind::Oci {
            return Err(AdmissionError::invalid(
                &key,
                "must be an `oci` artifact held by the registry",
            ));
        }
        if artifact.trust_state != TrustState::Verified {
            return Err(AdmissionError::Rule(format!(
                "`{key}`: the artifact is `{}`; a release names verified artifacts only",
                artifact.trust_state
            )));
        }
        if !matches!(
            artifact.lifecycle_state,
            LifecycleState::Published | LifecycleState::Promoted
        ) {
            return Err(AdmissionError::Rule(format!(
                "`{key}`: the artifact is `{}`",
                artifact.lifecycle_state
            )));
        }
        Ok(artifact)
    }

    /// The file of an artifact: its manifest's one layer (digest, size, media type).
    async fn single_layer(
        &self,
        i: usize,
        artifact: &Artifact,
    ) -> Result<(Digest, i64, String), AdmissionError> {
        self.registry_setup.client()?;
        self.registry_setup.signer()?;
        let Some(reader) = self.registry_reader(artifact).await? else {
            return Err(AdmissionError::Internal);
        };
        let fetched = reader
            .client
            .get_manifest(
                artifact.repository.as_str(),
                artifact.digest.as_str(),
                &reader.token,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "registry unreachable while reading a release manifest");
                AdmissionError::Unavailable
            })?;
        let key = field(i, "artifact_id");
        let layers = fetched
            .and_then(|m| m.layers())
            .ok_or_else(|| AdmissionError::invalid(&key, "the registry holds no readable manifest for it"))?;
        let [layer] = layers.as_slice() else {
            return Err(AdmissionError::invalid(
                &key,
                format!(
                    "a release file is an artifact with exactly one layer; it has {}",
                    layers.len()
                ),
            ));
        };
        let size = layer.size.filter(|s| *s >= 0);
        let media_type = layer
            .media_type
            .as_deref()
            .filter(|m| !m.is_empty() && m.len() <= 255);
        match (layer.digest.clone(), size, media_type) {
            (Some(d), Some(s), Some(m)) => Ok((d, s, m.to_owned())),
            _ => Err(AdmissionError::invalid(
                &key,
                "its layer lacks a digest, size or media type",
            )),
        }
    }

    /// The catalog (`describe` on the platform: any authenticated caller).
    pub async fn list_releases(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<ReleaseList, AdmissionError> {
        self.authorize_read(principal, Action::Describe, Resource::Platform, meta)
            .await?;
        Ok(ReleaseList {
            items: self.store.list_releases().await?,
        })
    }

    /// One release manifest (`describe` on the platform).
    pub async fn release(
        &self,
        principal: &Principal,
        version: &Lookup<ReleaseVersion>,
        meta: &RequestMeta,
    ) -> Result<Release, AdmissionError> {
        self.authorize_read(principal, Action::Describe, Resource::Platform, meta)
            .await?;
        self.find_release(version).await
    }

    async fn find_release(&self, version: &Lookup<ReleaseVersion>) -> Result<Release, AdmissionError> {
        let missing = || AdmissionError::NotFound(format!("no release `{version}`"));
        let Lookup::Valid(valid) = version else {
            return Err(missing());
        };
        self.store.get_release(valid.as_str()).await?.ok_or_else(missing)
    }

    /// The convenience download of one release file: `read` on its artifact, refused above
    /// the configured size, streamed from the registry and checked against its digest.
    pub async fn release_download(
        &self,
        principal: &Principal,
        version: &Lookup<ReleaseVersion>,
        name: &Lookup<ReleaseFileName>,
        meta: &RequestMeta,
    ) -> Result<ReleaseDownload, AdmissionError> {
        let release = self.find_release(version).await?;
        // A name no release file can carry names none of this release's files.
        let wanted = match name {
            Lookup::Valid(name) => Some(name.as_str()),
            Lookup::Unknown(_) => None,
        };
        let file = release
            .artifacts
            .into_iter()
            .find(|a| wanted == Some(a.name.as_str()))
            .ok_or_else(|| {
                AdmissionError::NotFound(format!("release `{version}` has no artifact `{name}`"))
            })?;
        let artifact = self
            .store
            .get_artifact(file.artifact_id)
            .await?
            .ok_or(AdmissionError::Internal)?;
        self.authorize_tenant_read(principal, Resource::Artifact(&artifact), meta)
            .await?;
        let max_bytes = self.registry_setup.settings.download_max_bytes;
        let size = u64::try_from(file.size).map_err(|_| AdmissionError::Internal)?;
        if size > max_bytes {
            let host = self.registry.registry.clone().unwrap_or_default();
            return Ok(ReleaseDownload::TooLarge {
                size: file.size,
                max_bytes,
                reference: format!("{host}/{}@{}", file.repository, file.artifact_digest),
                digest: file.digest,
                artifact_id: artifact.id,
                project: artifact.project.to_string(),
            });
        }
        self.registry_setup.client()?;
        self.registry_setup.signer()?;
        let Some(reader) = self.registry_reader(&artifact).await? else {
            return Err(AdmissionError::Internal);
        };
        let (declared, body) = reader
            .client
            .stream_blob(file.repository.as_str(), &file.digest, &reader.token, size)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, digest = %file.digest, "registry could not serve a release file");
                AdmissionError::Unavailable
            })?;
        if declared.is_some_and(|d| d != size) {
            tracing::error!(digest = %file.digest, "the registry's length differs from the registered size");
            return Err(AdmissionError::Unavailable);
        }
        let digest = file.digest.clone();
        let body = futures_util::StreamExt::boxed(futures_util::StreamExt::inspect(body, move |item| {
            if let Err(e) = item {
                tracing::error!(error = %e, %digest, "release download aborted: the registry's bytes do not verify");
            }
        }));
        Ok(ReleaseDownload::Stream(DownloadStream {
            size,
            media_type: file.media_type,
            digest: file.digest,
            body,
        }))
    }
}
