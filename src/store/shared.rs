//! The `Store` implementation both backends share, generated per backend so each keeps its
//! concrete pool and connection types (generic sqlx code over two databases needs a bound per
//! type per query; a macro says the same thing once).

/// Implements `Store` for `$store` (which has a `pool` field of `$db`), with the writes from
/// `write_impl!`, the listings from `listing_impl!`, and `$migrator`'s embedded migrations.
macro_rules! store_impl {
    ($store:ty, $db:ty, $migrator:expr) => {
        $crate::store::writes::write_impl!($store, $db);
        $crate::store::listing::listing_impl!($store, $db);

        const _: () = {
            use $crate::audit::{AuditRecord, DecisionRecord, NewAuditRecord};
            use $crate::domain::{
                Artifact, ArtifactId, Digest, Evidence, ProjectSlug, Promotion, RepositoryPath,
            };
            use $crate::store::rows::{ArtifactRow, AuditRow, EvidenceRow, PromotionRow, convert};
            use $crate::store::{
                ArtifactChange, ArtifactFilter, LogFilter, Page, PageRequest, Registered, Store, StoreError,
                sql,
            };

            #[async_trait::async_trait]
            impl Store for $store {
                async fn migrate(&self) -> Result<(), StoreError> {
                    $migrator.run(&self.pool).await?;
                    Ok(())
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("select 1").execute(&self.pool).await?;
                    Ok(())
                }

                async fn register_artifact(
                    &self,
                    artifact: &Artifact,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<Registered, StoreError> {
                    self.register_impl(artifact, audit, decision).await
                }

                async fn get_artifact(&self, id: ArtifactId) -> Result<Option<Artifact>, StoreError> {
                    let row: Option<ArtifactRow> = sqlx::query_as(sql::SELECT_ARTIFACT_BY_ID)
                        .bind(id.0)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(Artifact::try_from).transpose()
                }

                async fn find_artifact_by_digest(
                    &self,
                    project: &ProjectSlug,
                    digest: &Digest,
                    repository: Option<&RepositoryPath>,
                ) -> Result<Option<Artifact>, StoreError> {
                    let row: Option<ArtifactRow> = sqlx::query_as(sql::SELECT_ARTIFACT_BY_DIGEST)
                        .bind(project.as_str())
                        .bind(digest.as_str())
                        .bind(repository.map(|r| r.as_str()))
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(Artifact::try_from).transpose()
                }

                async fn list_artifacts(
                    &self,
                    filter: &ArtifactFilter,
                    page: &PageRequest,
                ) -> Result<Page<Artifact>, StoreError> {
                    self.list_artifacts_impl(filter, page).await
                }

                async fn apply_change(
                    &self,
                    change: &ArtifactChange,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<Artifact, StoreError> {
                    self.apply_change_impl(change, audit, decision).await
                }

                async fn evidence(&self, id: ArtifactId) -> Result<Vec<Evidence>, StoreError> {
                    let rows: Vec<EvidenceRow> = sqlx::query_as(sql::SELECT_EVIDENCE)
                        .bind(id.0)
                        .fetch_all(&self.pool)
                        .await?;
                    convert(rows)
                }

                async fn promotions(&self, id: ArtifactId) -> Result<Vec<Promotion>, StoreError> {
                    let rows: Vec<PromotionRow> = sqlx::query_as(sql::SELECT_PROMOTIONS)
                        .bind(id.0)
                        .fetch_all(&self.pool)
                        .await?;
                    convert(rows)
                }

                async fn append_audit(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let record = Self::append_audit_in(&mut *tx, audit).await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn append_decisions(&self, decisions: &[DecisionRecord]) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    for d in decisions {
                        Self::insert_decision_in(&mut *tx, d).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_decisions(
                    &self,
                    filter: &LogFilter,
                    page: &PageRequest,
                ) -> Result<Page<DecisionRecord>, StoreError> {
                    self.list_decisions_impl(filter, page).await
                }

                async fn list_audit(
                    &self,
                    filter: &LogFilter,
                    page: &PageRequest,
                ) -> Result<Page<AuditRecord>, StoreError> {
                    self.list_audit_impl(filter, page).await
                }

                async fn audit_chain_page(
                    &self,
                    after_seq: i64,
                    limit: u32,
                ) -> Result<Vec<AuditRecord>, StoreError> {
                    let rows: Vec<AuditRow> = sqlx::query_as(sql::AUDIT_CHAIN_PAGE)
                        .bind(after_seq)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                    convert(rows)
                }
            }
        };
    };
}
pub(super) use store_impl;
