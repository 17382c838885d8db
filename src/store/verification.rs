//! Durable verification jobs (leased to one worker at a time) and attached attestations,
//! for both backends. A job's verification commits with its completion, so a job is verified,
//! audited and finished exactly once however often it is claimed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ArtifactChange, StoreError, StoredSummary};
use crate::audit::{DecisionRecord, NewAuditRecord};
use crate::domain::{Artifact, ArtifactId, VerificationJob};

/// The verification queue, attached attestations and verification summaries; a part of
/// [`super::Store`].
#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// Queues a verification job on its own (registration queues one atomically through
    /// `RegistrationLinks::verification`).
    async fn enqueue_verification(&self, job: &VerificationJob) -> Result<(), StoreError>;
    /// Queues `job` unless a job for the same artifact is pending and not yet claimed (it will see
    /// the same registry state); answers whether `job` was queued. A claimed job does not count:
    /// it may have read the registry before the change that asks for this one.
    async fn enqueue_verification_unless_waiting(&self, job: &VerificationJob) -> Result<bool, StoreError>;
    /// Claims the oldest pending job whose lease is free or expired, like `claim_registry_event`.
    async fn claim_verification(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<VerificationJob>, StoreError>;
    /// Finishes a claimed job (`done`, or failed for good) with its result.
    async fn finish_verification(
        &self,
        id: Uuid,
        done: bool,
        result: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Commits a claimed job's verification: applies `change` with its audit record and
    /// `decisions` (as `apply_change` does) and finishes the job as done with `result`, in one
    /// transaction. `None`, and nothing written, when the job is no longer pending (an earlier
    /// claim of it committed); `Conflict`, and the job left pending, when the artifact changed.
    async fn commit_verification(
        &self,
        job: Uuid,
        change: &ArtifactChange,
        audit: NewAuditRecord,
        decisions: &[DecisionRecord],
        result: &serde_json::Value,
    ) -> Result<Option<Artifact>, StoreError>;
    /// Puts a claimed job back for a later attempt.
    async fn release_verification(&self, id: Uuid, result: &serde_json::Value) -> Result<(), StoreError>;
    /// Pending verification jobs (for queue-depth metrics).
    async fn pending_verifications(&self) -> Result<i64, StoreError>;
    /// Attaches DSSE envelopes to an artifact; every later verification re-checks them.
    async fn add_attestations(
        &self,
        artifact: ArtifactId,
        envelopes: &[serde_json::Value],
    ) -> Result<(), StoreError>;
    /// An artifact's attached envelopes, oldest first.
    async fn attestations(&self, artifact: ArtifactId) -> Result<Vec<serde_json::Value>, StoreError>;
    /// An artifact's latest verification summary, if any run produced one.
    async fn latest_summary(&self, artifact: ArtifactId) -> Result<Option<StoredSummary>, StoreError>;
}

/// Implements `VerificationStore` for one backend (`$db` is its `sqlx::Database`), plus the
/// helpers registration and changes use inside their transactions.
macro_rules! verification_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;
            use $crate::audit::{DecisionRecord, NewAuditRecord};
            use $crate::domain::{Artifact, ArtifactId, Principal, VerificationJob};
            use $crate::store::events::{CLAIM_BATCH, CLAIM_ROUNDS};
            use $crate::store::verification::VerificationStore;
            use $crate::store::{ArtifactChange, StoreError, sql};

            type Conn = <$db as sqlx::Database>::Connection;

            /// One claimed `verification_jobs` row.
            #[derive(sqlx::FromRow)]
            struct JobRow {
                id: Uuid,
                artifact_id: Uuid,
                principal: Json<Principal>,
                enqueued_at: DateTime<Utc>,
                attempts: i32,
            }

            impl $store {
                /// Queues a job inside the caller's transaction.
                pub(super) async fn enqueue_verification_in(
                    conn: &mut Conn,
                    job: &VerificationJob,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::INSERT_JOB)
                        .bind(job.id)
                        .bind(job.artifact_id.0)
                        .bind(Json(&job.principal))
                        .bind(job.enqueued_at)
                        .bind(Json(serde_json::json!({})))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                }
                /// Attaches trust material inside the caller's transaction.
                pub(super) async fn add_attestations_in(
                    conn: &mut Conn,
                    artifact: ArtifactId,
                    envelopes: &[serde_json::Value],
                ) -> Result<(), StoreError> {
                    for envelope in envelopes {
                        sqlx::query(sql::INSERT_ATTESTATION)
                            .bind(Uuid::now_v7())
                            .bind(artifact.0)
                            .bind(Json(envelope))
                            .bind(Utc::now())
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                }
                /// Stores a run's summary inside the caller's transaction.
                pub(super) async fn insert_summary_in(
                    conn: &mut Conn,
                    artifact: ArtifactId,
                    summary: &$crate::store::NewSummary,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::INSERT_SUMMARY)
                        .bind(summary.id)
                        .bind(artifact.0)
                        .bind(if summary.passed { "PASSED" } else { "FAILED" })
                        .bind(summary.created_at)
                        .bind(Json(&summary.envelope))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl VerificationStore for $store {
                async fn enqueue_verification(&self, job: &VerificationJob) -> Result<(), StoreError> {
                    let mut conn = self.pool.acquire().await?;
                    Self::enqueue_verification_in(&mut conn, job).await
                }

                async fn enqueue_verification_unless_waiting(
                    &self,
                    job: &VerificationJob,
                ) -> Result<bool, StoreError> {
                    let inserted = sqlx::query(sql::INSERT_JOB_UNLESS_WAITING)
                        .bind(job.id)
                        .bind(job.artifact_id.0)
                        .bind(Json(&job.principal))
                        .bind(job.enqueued_at)
                        .bind(Json(serde_json::json!({})))
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    Ok(inserted > 0)
                }

                async fn claim_verification(
                    &self,
                    now: DateTime<Utc>,
                    lease: chrono::Duration,
                ) -> Result<Option<VerificationJob>, StoreError> {
                    let until = now
                        .checked_add_signed(lease)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    for _ in 0..CLAIM_ROUNDS {
                        let candidates: Vec<(Uuid,)> = sqlx::query_as(sql::CLAIM_JOB_CANDIDATES)
                            .bind(now)
                            .bind(CLAIM_BATCH)
                            .fetch_all(&self.pool)
                            .await?;
                        if candidates.is_empty() {
                            return Ok(None);
                        }
                        for (id,) in candidates {
                            // Losing the guarded update means another worker took it first.
                            let row: Option<JobRow> = sqlx::query_as(sql::CLAIM_JOB)
                                .bind(id)
                                .bind(now)
                                .bind(until)
                                .fetch_optional(&self.pool)
                                .await?;
                            if let Some(r) = row {
                                return Ok(Some(VerificationJob {
                                    id: r.id,
                                    artifact_id: ArtifactId(r.artifact_id),
                                    principal: r.principal.0,
                                    enqueued_at: r.enqueued_at,
                                    attempts: r.attempts,
                                }));
                            }
                        }
                    }
                    Ok(None)
                }

                async fn finish_verification(
                    &self,
                    id: Uuid,
                    done: bool,
                    result: &serde_json::Value,
                ) -> Result<(), StoreError> {
                    let n = sqlx::query(sql::FINISH_JOB)
                        .bind(id)
                        .bind(if done { "done" } else { "failed" })
                        .bind(Json(result))
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    if n == 0 {
                        Err(StoreError::Conflict)
                    } else {
                        Ok(())
                    }
                }

                async fn commit_verification(
                    &self,
                    job: Uuid,
                    change: &ArtifactChange,
                    audit: NewAuditRecord,
                    decisions: &[DecisionRecord],
                    result: &serde_json::Value,
                ) -> Result<Option<Artifact>, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    // Finishing first takes the job's row: another claimer of the same job (its
                    // lease lapsed) waits here, then finds it finished and writes nothing.
                    let finished = sqlx::query(sql::FINISH_JOB)
                        .bind(job)
                        .bind("done")
                        .bind(Json(result))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if finished == 0 {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    // On a version conflict the transaction is dropped, which rolls it back and
                    // leaves the job pending.
                    let (stored, appended) =
                        Self::apply_change_in(&mut *tx, change, audit, decisions).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(Some(stored))
                }

                async fn release_verification(
                    &self,
                    id: Uuid,
                    result: &serde_json::Value,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::RELEASE_JOB)
                        .bind(id)
                        .bind(Json(result))
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn pending_verifications(&self) -> Result<i64, StoreError> {
                    let (n,): (i64,) = sqlx::query_as(sql::PENDING_JOBS)
                        .fetch_one(self.reads())
                        .await?;
                    Ok(n)
                }

                async fn add_attestations(
                    &self,
                    artifact: ArtifactId,
                    envelopes: &[serde_json::Value],
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    Self::add_attestations_in(&mut *tx, artifact, envelopes).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn latest_summary(
                    &self,
                    artifact: ArtifactId,
                ) -> Result<Option<$crate::store::StoredSummary>, StoreError> {
                    let row: Option<(String, Json<serde_json::Value>)> = sqlx::query_as(sql::LATEST_SUMMARY)
                        .bind(artifact.0)
                        .fetch_optional(self.reads())
                        .await?;
                    Ok(row.map(|(result, envelope)| $crate::store::StoredSummary {
                        // Anything but an explicit pass reads as a failure (fail closed).
                        passed: result == "PASSED",
                        envelope: envelope.0,
                    }))
                }

                async fn attestations(
                    &self,
                    artifact: ArtifactId,
                ) -> Result<Vec<serde_json::Value>, StoreError> {
                    let rows: Vec<(Json<serde_json::Value>,)> = sqlx::query_as(sql::SELECT_ATTESTATIONS)
                        .bind(artifact.0)
                        .fetch_all(self.reads())
                        .await?;
                    Ok(rows.into_iter().map(|(envelope,)| envelope.0).collect())
                }
            }
        };
    };
}
pub(super) use verification_impl;
