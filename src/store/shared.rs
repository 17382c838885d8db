//! The `Store` implementation both backends share, generated per backend so each keeps its
//! concrete pool and connection types (generic sqlx code over two databases needs a bound per
//! type per query; a macro says the same thing once).

/// Implements `Store` for `$store` (which has a `pool` field of `$db`), with the writes from
/// `write_impl!`, the listings from `listing_impl!`, and `$migrator`'s embedded migrations.
macro_rules! store_impl {
    ($store:ty, $db:ty, $migrator:expr) => {
        $crate::store::writes::write_impl!($store, $db);
        $crate::store::listing::listing_impl!($store, $db);
        $crate::store::intents::intents_impl!($store, $db);
        $crate::store::events::events_impl!($store, $db);
        $crate::store::verification::verification_impl!($store, $db);
        $crate::store::figures::figures_impl!($store, $db);
        $crate::store::bundles::bundles_impl!($store, $db);
        $crate::store::catalog::catalog_impl!($store, $db);
        $crate::store::apps::apps_impl!($store, $db);
        $crate::store::releases::releases_impl!($store, $db);

        const _: () = {
            use chrono::{DateTime, Utc};
            use uuid::Uuid;
            use $crate::audit::{AuditRecord, DecisionRecord, NewAuditRecord};
            use $crate::domain::{
                Artifact, ArtifactId, Digest, EventStatus, Evidence, IssuedToken, ProjectSlug, Promotion,
                PublishIntent, PullIntent, RegistryEvent, RepositoryPath, UnregisteredPush, VerificationJob,
            };
            use $crate::store::rows::{ArtifactRow, AuditRow, EvidenceRow, PromotionRow, convert};
            use $crate::store::{
                ArtifactChange, ArtifactFilter, ArtifactLinks, LogFilter, Page, PageRequest, Registered,
                RegistrationLinks, Store, StoreError, sql,
            };

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
            }

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
                    links: &RegistrationLinks,
                ) -> Result<Registered, StoreError> {
                    self.register_impl(artifact, audit, decision, links).await
                }

                async fn get_artifact(&self, id: ArtifactId) -> Result<Option<Artifact>, StoreError> {
                    self.get_artifact_impl(id).await
                }

                async fn find_artifact_by_digest(
                    &self,
                    project: &ProjectSlug,
                    digest: &Digest,
                    repository: Option<&RepositoryPath>,
                ) -> Result<Option<Artifact>, StoreError> {
                    self.find_artifact_by_digest_impl(project, digest, repository)
                        .await
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

                async fn append_audit(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let appended = Self::append_audit_in(&mut *tx, audit).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await
                }

                async fn append_decisions(&self, decisions: &[DecisionRecord]) -> Result<(), StoreError> {
                    self.append_decision_batch(decisions).await
                }

                fn decision_batches_in_flight(&self) -> usize {
                    self.decision_batches_in_flight_impl()
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

                async fn seal_audit_backlog(&self) -> Result<u64, StoreError> {
                    self.seal_backlog_impl().await
                }

                async fn unsealed_audit_records(&self) -> Result<i64, StoreError> {
                    if !Self::SEALS_AFTER_COMMIT {
                        // Sealed inside each mutation's transaction: there is no queue.
                        return Ok(0);
                    }
                    let (n,): (i64,) = sqlx::query_as(sql::COUNT_UNSEALED_AUDIT)
                        .fetch_one(self.reads())
                        .await?;
                    Ok(n)
                }

                async fn audit_chain_page(
                    &self,
                    after_seq: i64,
                    limit: u32,
                ) -> Result<Vec<AuditRecord>, StoreError> {
                    let rows: Vec<AuditRow> = sqlx::query_as(sql::AUDIT_CHAIN_PAGE)
                        .bind(after_seq)
                        .bind(i64::from(limit))
                        .fetch_all(self.reads())
                        .await?;
                    convert(rows)
                }

                async fn create_publish_intent(
                    &self,
                    intent: &PublishIntent,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    self.create_publish_intent_impl(intent, audit, decision)
                        .await
                }

                async fn get_publish_intent(&self, id: Uuid) -> Result<Option<PublishIntent>, StoreError> {
                    self.get_publish_intent_impl(id).await
                }

                async fn open_publish_intents(
                    &self,
                    repository: &RepositoryPath,
                    now: DateTime<Utc>,
                ) -> Result<Vec<PublishIntent>, StoreError> {
                    self.open_publish_intents_impl(repository, now).await
                }

                async fn create_pull_intent(
                    &self,
                    intent: &PullIntent,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    self.create_pull_intent_impl(intent, audit, decision).await
                }

                async fn get_pull_intent(&self, id: Uuid) -> Result<Option<PullIntent>, StoreError> {
                    self.get_pull_intent_impl(id).await
                }

                async fn record_issued_token(&self, token: &IssuedToken) -> Result<(), StoreError> {
                    self.record_issued_token_impl(token).await
                }

                async fn tokens_for_intent(&self, intent_id: Uuid) -> Result<Vec<IssuedToken>, StoreError> {
                    self.tokens_for_intent_impl(intent_id).await
                }

                async fn activate_policy_bundle(
                    &self,
                    hash: &str,
                    files: &[(String, String)],
                    activated_by: &str,
                ) -> Result<(), StoreError> {
                    self.activate_bundle_impl(hash, files, activated_by).await
                }

                async fn active_policy_bundle(
                    &self,
                ) -> Result<Option<(String, Vec<(String, String)>)>, StoreError> {
                    self.active_bundle_impl().await
                }

                async fn listen_policy_changes(
                    &self,
                ) -> Result<Option<Box<dyn $crate::store::PolicyChangeListener>>, StoreError> {
                    self.listen_policy_changes_impl().await
                }

                async fn enqueue_verification(&self, job: &VerificationJob) -> Result<(), StoreError> {
                    self.enqueue_verification_impl(job).await
                }

                async fn enqueue_verification_unless_waiting(
                    &self,
                    job: &VerificationJob,
                ) -> Result<bool, StoreError> {
                    self.enqueue_verification_unless_waiting_impl(job).await
                }

                async fn claim_verification(
                    &self,
                    now: DateTime<Utc>,
                    lease: chrono::Duration,
                ) -> Result<Option<VerificationJob>, StoreError> {
                    self.claim_verification_impl(now, lease).await
                }

                async fn finish_verification(
                    &self,
                    id: Uuid,
                    done: bool,
                    result: &serde_json::Value,
                ) -> Result<(), StoreError> {
                    self.finish_verification_impl(id, done, result).await
                }

                async fn commit_verification(
                    &self,
                    job: Uuid,
                    change: &ArtifactChange,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                    result: &serde_json::Value,
                ) -> Result<Option<Artifact>, StoreError> {
                    self.commit_verification_impl(job, change, audit, decision, result)
                        .await
                }

                async fn release_verification(
                    &self,
                    id: Uuid,
                    result: &serde_json::Value,
                ) -> Result<(), StoreError> {
                    self.release_verification_impl(id, result).await
                }

                async fn pending_verifications(&self) -> Result<i64, StoreError> {
                    self.pending_verifications_impl().await
                }

                async fn queue_figures(&self) -> Result<$crate::store::QueueFigures, StoreError> {
                    self.queue_figures_impl().await
                }

                fn pool_figures(&self) -> Vec<$crate::store::PoolFigures> {
                    self.pool_figures_impl()
                }

                async fn add_attestations(
                    &self,
                    artifact: ArtifactId,
                    envelopes: &[serde_json::Value],
                ) -> Result<(), StoreError> {
                    self.add_attestations_impl(artifact, envelopes).await
                }

                async fn attestations(
                    &self,
                    artifact: ArtifactId,
                ) -> Result<Vec<serde_json::Value>, StoreError> {
                    self.attestations_impl(artifact).await
                }

                async fn latest_summary(
                    &self,
                    artifact: ArtifactId,
                ) -> Result<Option<$crate::store::StoredSummary>, StoreError> {
                    self.latest_summary_impl(artifact).await
                }

                async fn enqueue_registry_events(
                    &self,
                    events: &[RegistryEvent],
                    decisions: &[DecisionRecord],
                ) -> Result<Vec<bool>, StoreError> {
                    self.enqueue_events_impl(events, decisions).await
                }

                async fn claim_registry_event(
                    &self,
                    now: DateTime<Utc>,
                    lease: chrono::Duration,
                ) -> Result<Option<RegistryEvent>, StoreError> {
                    self.claim_event_impl(now, lease).await
                }

                async fn finish_registry_event(
                    &self,
                    id: &str,
                    status: EventStatus,
                    result: &serde_json::Value,
                    unregistered: Option<&UnregisteredPush>,
                    presence: Option<(ArtifactId, &str)>,
                ) -> Result<(), StoreError> {
                    self.finish_event_impl(id, status, result, unregistered, presence)
                        .await
                }

                async fn release_registry_event(
                    &self,
                    id: &str,
                    result: &serde_json::Value,
                ) -> Result<(), StoreError> {
                    self.release_event_impl(id, result).await
                }

                async fn get_registry_event(&self, id: &str) -> Result<Option<RegistryEvent>, StoreError> {
                    self.get_event_impl(id).await
                }

                async fn pending_registry_events(&self) -> Result<i64, StoreError> {
                    self.pending_events_impl().await
                }

                async fn list_unregistered_pushes(
                    &self,
                    project: &ProjectSlug,
                    page: &PageRequest,
                ) -> Result<Page<UnregisteredPush>, StoreError> {
                    self.list_pushes_impl(project, page).await
                }

                async fn artifact_links(&self, id: ArtifactId) -> Result<ArtifactLinks, StoreError> {
                    self.artifact_links_impl(id).await
                }

                async fn create_release(
                    &self,
                    release: &$crate::domain::Release,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<bool, StoreError> {
                    self.create_release_impl(release, audit, decision).await
                }

                async fn list_releases(&self) -> Result<Vec<$crate::domain::ReleaseSummary>, StoreError> {
                    self.list_releases_impl().await
                }

                async fn get_release(
                    &self,
                    version: &str,
                ) -> Result<Option<$crate::domain::Release>, StoreError> {
                    self.get_release_impl(version).await
                }
            }
        };
    };
}
pub(super) use store_impl;
