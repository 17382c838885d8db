//! The platform release catalog, for both backends: a release and its files are written in
//! one transaction with their audit record and decision.

use async_trait::async_trait;

use super::StoreError;
use crate::audit::{DecisionRecord, NewAuditRecord};
use crate::domain::{Release, ReleaseSummary};

/// The platform release catalog; a part of [`super::Store`].
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Defines a platform release with its audit record and decision; `false` (and nothing
    /// written) when the version already exists.
    async fn create_release(
        &self,
        release: &Release,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<bool, StoreError>;
    /// Every platform release, newest first.
    async fn list_releases(&self) -> Result<Vec<ReleaseSummary>, StoreError>;
    /// One platform release with its files.
    async fn get_release(&self, version: &str) -> Result<Option<Release>, StoreError>;
}

pub(super) const INSERT_RELEASE: &str = "insert into platform_releases (version, channel, \
     created_by_type, created_by_id, created_at) values ($1, $2, $3, $4, $5) \
     on conflict (version) do nothing";

pub(super) const INSERT_RELEASE_ARTIFACT: &str = "insert into platform_release_artifacts (version, \
     name, artifact_id, repository, artifact_digest, digest, size_bytes, media_type, os, arch) \
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub(super) const LIST_RELEASES: &str = "select version, channel, created_at from platform_releases \
     order by created_at desc, version desc";

pub(super) const SELECT_RELEASE: &str = "select version, channel, created_by_type, created_by_id, \
     created_at from platform_releases where version = $1";

pub(super) const SELECT_RELEASE_ARTIFACTS: &str = "select name, artifact_id, repository, \
     artifact_digest, digest, size_bytes, media_type, os, arch from platform_release_artifacts \
     where version = $1 order by name";

/// Implements `ReleaseStore` for one backend.
macro_rules! releases_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use uuid::Uuid;
            use $crate::audit::{DecisionRecord, NewAuditRecord};
            use $crate::domain::{ArtifactId, Release, ReleaseArtifact, ReleaseSummary};
            use $crate::store::StoreError;
            use $crate::store::releases::{self as q, ReleaseStore};
            use $crate::store::rows::{actor, actor_type_str, parse};

            type ArtifactRow = (
                String,
                Uuid,
                String,
                String,
                String,
                i64,
                String,
                Option<String>,
                Option<String>,
            );

            #[async_trait::async_trait]
            impl ReleaseStore for $store {
                async fn create_release(
                    &self,
                    r: &Release,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let inserted = sqlx::query(q::INSERT_RELEASE)
                        .bind(&r.version)
                        .bind(&r.channel)
                        .bind(actor_type_str(r.created_by.actor_type))
                        .bind(&r.created_by.id)
                        .bind(r.created_at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if inserted == 0 {
                        // A version is defined once; a repeat changes nothing.
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    for a in &r.artifacts {
                        sqlx::query(q::INSERT_RELEASE_ARTIFACT)
                            .bind(&r.version)
                            .bind(&a.name)
                            .bind(a.artifact_id.0)
                            .bind(&a.repository)
                            .bind(a.artifact_digest.as_str())
                            .bind(a.digest.as_str())
                            .bind(a.size)
                            .bind(&a.media_type)
                            .bind(&a.os)
                            .bind(&a.arch)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(true)
                }

                async fn list_releases(&self) -> Result<Vec<ReleaseSummary>, StoreError> {
                    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(q::LIST_RELEASES)
                        .fetch_all(self.reads())
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(version, channel, created_at)| ReleaseSummary {
                            version,
                            channel,
                            created_at,
                        })
                        .collect())
                }

                async fn get_release(&self, version: &str) -> Result<Option<Release>, StoreError> {
                    let row: Option<(String, String, String, String, DateTime<Utc>)> =
                        sqlx::query_as(q::SELECT_RELEASE)
                            .bind(version)
                            .fetch_optional(self.reads())
                            .await?;
                    let Some((version, channel, actor_type, actor_id, created_at)) = row else {
                        return Ok(None);
                    };
                    let rows: Vec<ArtifactRow> = sqlx::query_as(q::SELECT_RELEASE_ARTIFACTS)
                        .bind(&version)
                        .fetch_all(self.reads())
                        .await?;
                    let artifacts = rows
                        .into_iter()
                        .map(
                            |(name, id, repository, artifact_digest, digest, size, media_type, os, arch)| {
                                Ok(ReleaseArtifact {
                                    name,
                                    artifact_id: ArtifactId(id),
                                    repository,
                                    artifact_digest: parse("artifact_digest", &artifact_digest)?,
                                    digest: parse("digest", &digest)?,
                                    size,
                                    media_type,
                                    os,
                                    arch,
                                })
                            },
                        )
                        .collect::<Result<_, StoreError>>()?;
                    Ok(Some(Release {
                        version,
                        channel,
                        created_by: actor(&actor_type, actor_id)?,
                        created_at,
                        artifacts,
                    }))
                }
            }
        };
    };
}
pub(super) use releases_impl;
