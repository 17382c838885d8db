//! Artifacts, for both backends: idempotent registration, version-guarded changes (each with
//! its audit record and decision in the same transaction), reads, the filtered listing, and an
//! artifact's evidence and promotion history.

use async_trait::async_trait;

use super::{ArtifactChange, ArtifactFilter, Page, PageRequest, Registered, RegistrationLinks, StoreError};
use crate::audit::{DecisionRecord, NewAuditRecord};
use crate::domain::{Artifact, ArtifactId, Digest, Evidence, ProjectSlug, Promotion, RepositoryPath};

/// Artifact storage; a part of [`super::Store`].
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Stores a new artifact, or answers the existing one for the same (project, repository,
    /// digest) without writing anything. A new artifact completes `links.publish_intent_id`
    /// (`Conflict`, and nothing written, if that intent is already completed or unknown) and
    /// records the links, in the same transaction.
    async fn register_artifact(
        &self,
        artifact: &Artifact,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
        links: &RegistrationLinks,
    ) -> Result<Registered, StoreError>;
    /// One artifact by id.
    async fn get_artifact(&self, id: ArtifactId) -> Result<Option<Artifact>, StoreError>;
    /// One artifact of a project by digest (and repository, when several repositories hold it).
    async fn find_artifact_by_digest(
        &self,
        project: &ProjectSlug,
        digest: &Digest,
        repository: Option<&RepositoryPath>,
    ) -> Result<Option<Artifact>, StoreError>;
    /// A project's artifacts, oldest first.
    async fn list_artifacts(
        &self,
        filter: &ArtifactFilter,
        page: &PageRequest,
    ) -> Result<Page<Artifact>, StoreError>;
    /// Applies `change` if the row version still matches, with its audit record and
    /// `decisions` (the one that allowed it first, then any it took on the way) in the same
    /// transaction; answers the stored artifact (with `version` incremented) or `Conflict`. On
    /// any error but `AuditSealing` nothing was written, the decisions included.
    async fn apply_change(
        &self,
        change: &ArtifactChange,
        audit: NewAuditRecord,
        decisions: &[DecisionRecord],
    ) -> Result<Artifact, StoreError>;
    /// The evidence and promotion `change` writes, exactly as `evidence` and `promotions` would
    /// read them back (the backend's timestamp precision and JSON form), so a caller that knows
    /// an artifact's whole history need not read it.
    fn written_history(&self, change: &ArtifactChange) -> (Vec<Evidence>, Option<Promotion>);
    /// An artifact's evidence, oldest first.
    async fn evidence(&self, id: ArtifactId) -> Result<Vec<Evidence>, StoreError>;
    /// An artifact's promotion history, oldest first.
    async fn promotions(&self, id: ArtifactId) -> Result<Vec<Promotion>, StoreError>;
}

/// What a backend's `artifact_by_*_inline` answers when it read the row itself: SQLite's inline
/// reads answer the row (they leave any failure to sqlx), PostgreSQL's coalesced reads may fail.
pub(super) trait InlineRead {
    /// The row, or why it could not be read.
    fn into_read(self) -> Result<Option<super::rows::ArtifactRow>, StoreError>;
}

impl InlineRead for Option<super::rows::ArtifactRow> {
    fn into_read(self) -> Result<Option<super::rows::ArtifactRow>, StoreError> {
        Ok(self)
    }
}

impl InlineRead for Result<Option<super::rows::ArtifactRow>, StoreError> {
    fn into_read(self) -> Result<Option<super::rows::ArtifactRow>, StoreError> {
        self
    }
}

/// Implements `ArtifactStore` for one backend (`$db` is its `sqlx::Database`). The backend
/// provides `INSERT_RETURNS_ARTIFACT` and `artifact_by_id_inline`/`artifact_by_digest_inline`
/// (a read that bypasses the pool, an `InlineRead`, or `None` to go through it); the audit
/// helpers come from `audit_log_impl!`.
macro_rules! artifacts_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::types::Json;
            use $crate::audit::{DecisionRecord, NewAuditRecord};
            use $crate::domain::{
                Artifact, ArtifactId, Digest, Evidence, ProjectSlug, Promotion, RepositoryPath,
            };
            use $crate::store::artifacts::ArtifactStore;
            use $crate::store::artifacts::InlineRead;
            use $crate::store::audit_log::AuditAppend;
            use $crate::store::listing::{clamp, paginate, uuid_after};
            use $crate::store::rows::{
                ArtifactRow, EvidenceRow, PromotionRow, actor_type_str, convert, result_str,
            };
            use $crate::store::{
                ArtifactChange, ArtifactFilter, Page, PageRequest, Registered, RegistrationLinks, StoreError,
                sql,
            };

            type Conn = <$db as sqlx::Database>::Connection;
            type Builder = sqlx::QueryBuilder<$db>;
            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>;

            /// Binds the columns registration sets and every change may move, `tag` to
            /// `attestations`, in the order `artifact_cols!` lists them (both the insert and the
            /// update list them in that order, after their leading columns).
            fn bind_artifact_state<'q>(
                query: Query<'q>,
                a: &'q Artifact,
                channels: &'q [&'q str],
            ) -> Query<'q> {
                query
                    .bind(&a.tag)
                    .bind(&a.media_type)
                    .bind(a.source.source_type.as_str())
                    .bind(&a.source.uri)
                    .bind(&a.source.source_ref)
                    .bind(a.source.size_bytes)
                    .bind(&a.source.content_encoding)
                    .bind(a.lifecycle_state.as_str())
                    .bind(a.trust_state.as_str())
                    .bind(Json(channels))
                    .bind(a.signature_verified)
                    .bind(Json(&a.attestations))
            }

            /// Binds every artifact column, in the order `artifact_cols!` lists them (the
            /// insert's `$1` to `$27`).
            fn bind_artifact<'q>(query: Query<'q>, a: &'q Artifact, channels: &'q [&'q str]) -> Query<'q> {
                let query = query
                    .bind(a.id.0)
                    .bind(a.project.as_str())
                    .bind(a.app.as_str())
                    .bind(a.artifact_kind.as_str())
                    .bind(a.artifact_type.as_str())
                    .bind(a.repository.as_str())
                    .bind(a.digest.as_str());
                bind_artifact_state(query, a, channels)
                    .bind(actor_type_str(a.created_by.actor_type))
                    .bind(&a.created_by.id)
                    .bind(a.created_at)
                    .bind(a.updated_at)
                    .bind(a.version)
                    .bind(a.scope.visibility().as_str())
                    .bind(a.scope.tenant().map(|t| t.as_str()))
                    .bind(Json(&a.trust_facts))
            }

            /// Binds the update's columns: the row's id and the version it was read at (the
            /// guard), then its state, `updated_at` and `trust_facts` (`$1` to `$16`).
            fn bind_artifact_update<'q>(
                query: Query<'q>,
                a: &'q Artifact,
                channels: &'q [&'q str],
            ) -> Query<'q> {
                bind_artifact_state(query.bind(a.id.0).bind(a.version), a, channels)
                    .bind(a.updated_at)
                    .bind(Json(&a.trust_facts))
            }

            impl $store {
                /// The artifact with this id, read through sqlx.
                pub(super) async fn get_artifact_pooled(
                    &self,
                    id: ArtifactId,
                ) -> Result<Option<Artifact>, StoreError> {
                    let row: Option<ArtifactRow> = sqlx::query_as(sql::SELECT_ARTIFACT_BY_ID)
                        .bind(id.0)
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(Artifact::try_from).transpose()
                }

                /// A project's artifact by digest, read through sqlx.
                pub(super) async fn find_artifact_by_digest_pooled(
                    &self,
                    project: &ProjectSlug,
                    digest: &Digest,
                    repository: Option<&RepositoryPath>,
                ) -> Result<Option<Artifact>, StoreError> {
                    let row: Option<ArtifactRow> = sqlx::query_as(sql::SELECT_ARTIFACT_BY_DIGEST)
                        .bind(project.as_str())
                        .bind(digest.as_str())
                        .bind(repository.map(|r| r.as_str()))
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(Artifact::try_from).transpose()
                }

                /// Inserts a run's evidence rows, in order, with one statement (one round trip
                /// however many checks the run made).
                async fn insert_evidence_in(
                    conn: &mut Conn,
                    a: &Artifact,
                    evidence: &[Evidence],
                ) -> Result<(), StoreError> {
                    if evidence.is_empty() {
                        return Ok(());
                    }
                    let mut insert = sqlx::QueryBuilder::<$db>::new(sql::INSERT_EVIDENCE_HEAD);
                    insert.push_values(evidence, |mut row, e| {
                        row.push_bind(a.id.0)
                            .push_bind(&e.evidence_type)
                            .push_bind(result_str(e.result))
                            .push_bind(&e.reason)
                            .push_bind(e.checked_at)
                            .push_bind(Json(&e.details));
                    });
                    insert.build().execute(&mut *conn).await?;
                    Ok(())
                }

                async fn insert_promotion_in(
                    conn: &mut Conn,
                    a: &Artifact,
                    p: &Promotion,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::INSERT_PROMOTION)
                        .bind(a.id.0)
                        .bind(p.channel.as_str())
                        .bind(&p.target_environment)
                        .bind(actor_type_str(p.actor.actor_type))
                        .bind(&p.actor.id)
                        .bind(p.promoted_at)
                        .bind(Json(&p.decision))
                        .bind(&p.reason)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                }

                /// Applies `change` with its records inside the caller's transaction; on
                /// `Conflict` or `NotFound` the caller rolls back. After commit the caller
                /// awaits the audit record with `audit_sealed`.
                pub(super) async fn apply_change_in(
                    conn: &mut Conn,
                    change: &ArtifactChange,
                    audit: NewAuditRecord,
                    decisions: &[DecisionRecord],
                ) -> Result<(Artifact, AuditAppend), StoreError> {
                    let a = &change.artifact;
                    let channels: Vec<&str> = a.channels.iter().map(|c| c.as_str()).collect();
                    // The version guard is the optimistic lock: a concurrent writer that
                    // committed first bumped it, so this update matches no row.
                    let row = bind_artifact_update(sqlx::query(sql::UPDATE_ARTIFACT), a, &channels)
                        .fetch_optional(&mut *conn)
                        .await?;
                    let Some(row) = row else {
                        let (n,): (i64,) = sqlx::query_as(sql::ARTIFACT_EXISTS)
                            .bind(a.id.0)
                            .fetch_one(&mut *conn)
                            .await?;
                        return Err(if n == 0 {
                            StoreError::NotFound
                        } else {
                            StoreError::Conflict
                        });
                    };
                    let stored = Artifact::try_from(<ArtifactRow as sqlx::FromRow<_>>::from_row(&row)?)?;
                    if let Some(summary) = &change.summary {
                        Self::insert_summary_in(&mut *conn, a.id, summary).await?;
                    }
                    // Where records are sealed after commit, the evidence and promotion rows go
                    // in the audit record's statement: one round trip for all of them.
                    let fused = if Self::SEALS_AFTER_COMMIT {
                        Self::history_items(change, decisions.len())
                    } else {
                        None
                    };
                    if let Some((statement, bind_rows)) = fused {
                        let appended = Self::append_audit_with_rows_in(
                            &mut *conn, audit, decisions, statement, bind_rows,
                        )
                        .await?;
                        return Ok((stored, appended));
                    }
                    if let Some(p) = &change.promotion {
                        Self::insert_promotion_in(&mut *conn, a, p).await?;
                    }
                    Self::insert_evidence_in(&mut *conn, a, &change.evidence).await?;
                    let appended = Self::append_audit_with_decisions_in(&mut *conn, audit, decisions).await?;
                    Ok((stored, appended))
                }
            }

            #[async_trait::async_trait]
            impl ArtifactStore for $store {
                async fn register_artifact(
                    &self,
                    a: &Artifact,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                    links: &RegistrationLinks,
                ) -> Result<Registered, StoreError> {
                    let channels: Vec<&str> = a.channels.iter().map(|c| c.as_str()).collect();
                    let mut tx = self.pool.begin().await?;
                    let insert = if Self::INSERT_RETURNS_ARTIFACT {
                        sql::INSERT_ARTIFACT_RETURNING
                    } else {
                        sql::INSERT_ARTIFACT
                    };
                    let inserted = bind_artifact(sqlx::query(insert), a, &channels);
                    // The new row (`None`: the key exists already). Read back from the insert
                    // where the backend plans `returning` well, else with a select.
                    let row: Option<ArtifactRow> = if Self::INSERT_RETURNS_ARTIFACT {
                        match inserted.fetch_optional(&mut *tx).await? {
                            Some(row) => Some(<ArtifactRow as sqlx::FromRow<_>>::from_row(&row)?),
                            None => None,
                        }
                    } else if inserted.execute(&mut *tx).await?.rows_affected() == 0 {
                        None
                    } else {
                        Some(
                            sqlx::query_as(sql::SELECT_ARTIFACT_BY_ID)
                                .bind(a.id.0)
                                .fetch_one(&mut *tx)
                                .await?,
                        )
                    };
                    let Some(row) = row else {
                        // Idempotent: the same (project, repository, digest) exists; write nothing.
                        let row: Option<ArtifactRow> = sqlx::query_as(sql::SELECT_ARTIFACT_BY_KEY)
                            .bind(a.project.as_str())
                            .bind(a.repository.as_str())
                            .bind(a.digest.as_str())
                            .fetch_optional(&mut *tx)
                            .await?;
                        tx.rollback().await?;
                        let row = row.ok_or(StoreError::Conflict)?;
                        return Ok(Registered::Existing(row.try_into()?));
                    };
                    let stored = Artifact::try_from(row)?;
                    // An intent already completed means this registration was not granted:
                    // nothing of it may stay, not even the artifact row.
                    if let Err(e) = Self::link_registration_in(&mut *tx, a.id, links).await {
                        tx.rollback().await?;
                        return Err(e);
                    }
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(Registered::Created(stored))
                }

                async fn get_artifact(&self, id: ArtifactId) -> Result<Option<Artifact>, StoreError> {
                    if let Some(row) = self.artifact_by_id_inline(id).await {
                        return row.into_read()?.map(Artifact::try_from).transpose();
                    }
                    self.get_artifact_pooled(id).await
                }

                async fn find_artifact_by_digest(
                    &self,
                    project: &ProjectSlug,
                    digest: &Digest,
                    repository: Option<&RepositoryPath>,
                ) -> Result<Option<Artifact>, StoreError> {
                    if let Some(row) = self
                        .artifact_by_digest_inline(project, digest, repository)
                        .await
                    {
                        return row.into_read()?.map(Artifact::try_from).transpose();
                    }
                    self.find_artifact_by_digest_pooled(project, digest, repository)
                        .await
                }

                async fn list_artifacts(
                    &self,
                    f: &ArtifactFilter,
                    page: &PageRequest,
                ) -> Result<Page<Artifact>, StoreError> {
                    let limit = clamp(page.limit);
                    let mut qb = Builder::new(sql::LIST_ARTIFACTS);
                    if let Some(v) = &f.project {
                        qb.push(" and project = ").push_bind(v.as_str().to_owned());
                    }
                    if let Some(v) = &f.app {
                        qb.push(" and app = ").push_bind(v.clone());
                    }
                    if let Some(v) = f.artifact_kind {
                        qb.push(" and artifact_kind = ").push_bind(v.as_str());
                    }
                    if let Some(v) = f.lifecycle_state {
                        qb.push(" and lifecycle_state = ").push_bind(v.as_str());
                    }
                    if let Some(v) = f.trust_state {
                        qb.push(" and trust_state = ").push_bind(v.as_str());
                    }
                    // Channels are a JSON array of slugs; a slug holds no `%`, `_` or `"`, so
                    // matching its quoted form is exact and works the same on both engines.
                    if let Some(v) = &f.channel {
                        qb.push(" and cast(channels as text) like ")
                            .push_bind(format!("%\"{}\"%", v.as_str()));
                    }
                    if let Some(v) = &f.digest {
                        qb.push(" and digest = ").push_bind(v.as_str().to_owned());
                    }
                    if let Some(c) = &page.cursor {
                        qb.push(" and id > ").push_bind(uuid_after(c)?);
                    }
                    qb.push(" order by id limit ")
                        .push_bind(i64::from(limit) + 1);
                    let rows: Vec<ArtifactRow> = qb.build_query_as().fetch_all(self.reads()).await?;
                    Ok(paginate(convert(rows)?, limit, |a: &Artifact| {
                        a.id.0.to_string()
                    }))
                }

                async fn apply_change(
                    &self,
                    change: &ArtifactChange,
                    audit: NewAuditRecord,
                    decisions: &[DecisionRecord],
                ) -> Result<Artifact, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    // On an error the transaction is dropped, which rolls it back.
                    let (stored, appended) =
                        Self::apply_change_in(&mut *tx, change, audit, decisions).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(stored)
                }

                fn written_history(&self, change: &ArtifactChange) -> (Vec<Evidence>, Option<Promotion>) {
                    let mut evidence = change.evidence.clone();
                    let mut promotion = change.promotion.clone();
                    if Self::HISTORY_AS_JSONB {
                        for e in &mut evidence {
                            e.checked_at = $crate::store::stored_form::microseconds(e.checked_at);
                            $crate::store::stored_form::jsonb_key_order(&mut e.details);
                        }
                        if let Some(p) = &mut promotion {
                            p.promoted_at = $crate::store::stored_form::microseconds(p.promoted_at);
                            $crate::store::stored_form::jsonb_key_order(&mut p.decision);
                        }
                    }
                    (evidence, promotion)
                }

                async fn evidence(&self, id: ArtifactId) -> Result<Vec<Evidence>, StoreError> {
                    let rows: Vec<EvidenceRow> = sqlx::query_as(sql::SELECT_EVIDENCE)
                        .bind(id.0)
                        .fetch_all(self.reads())
                        .await?;
                    convert(rows)
                }

                async fn promotions(&self, id: ArtifactId) -> Result<Vec<Promotion>, StoreError> {
                    let rows: Vec<PromotionRow> = sqlx::query_as(sql::SELECT_PROMOTIONS)
                        .bind(id.0)
                        .fetch_all(self.reads())
                        .await?;
                    convert(rows)
                }
            }
        };
    };
}
pub(super) use artifacts_impl;
