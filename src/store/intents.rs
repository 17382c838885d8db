//! Publish and pull intents and the registry tokens issued for them, for both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::audit::{DecisionRecord, NewAuditRecord};
use crate::domain::{IssuedToken, PublishIntent, PullIntent, RepositoryPath};

/// Publish and pull intents and their registry tokens; a part of [`super::Store`].
#[async_trait]
pub trait IntentStore: Send + Sync {
    /// Stores a new publish intent with its audit record and decision.
    async fn create_publish_intent(
        &self,
        intent: &PublishIntent,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
    /// One publish intent by id.
    async fn get_publish_intent(&self, id: Uuid) -> Result<Option<PublishIntent>, StoreError>;
    /// Open (not completed, `expires_at > now`) publish intents for a repository, newest first.
    async fn open_publish_intents(
        &self,
        repository: &RepositoryPath,
        now: DateTime<Utc>,
    ) -> Result<Vec<PublishIntent>, StoreError>;
    /// Stores a new pull intent with its audit record and decision.
    async fn create_pull_intent(
        &self,
        intent: &PullIntent,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
    /// One pull intent by id.
    async fn get_pull_intent(&self, id: Uuid) -> Result<Option<PullIntent>, StoreError>;
    /// Records a registry token the gateway signed.
    async fn record_issued_token(&self, token: &IssuedToken) -> Result<(), StoreError>;
    /// The tokens issued for an intent, oldest first.
    async fn tokens_for_intent(&self, intent_id: Uuid) -> Result<Vec<IssuedToken>, StoreError>;
}

/// Implements `IntentStore` for one backend (`$db` is its `sqlx::Database`), plus the helper
/// registration uses to complete an intent and link an artifact.
macro_rules! intents_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;
            use $crate::audit::{DecisionRecord, NewAuditRecord};
            use $crate::domain::{ArtifactId, IssuedToken, PublishIntent, PullIntent, RepositoryPath};
            use $crate::store::intents::IntentStore;
            use $crate::store::registry_rows::{PublishIntentRow, PullIntentRow, TokenRow, intent_kind_str};
            use $crate::store::rows::{actor_type_str, convert};
            use $crate::store::{RegistrationLinks, StoreError, sql};

            type Conn = <$db as sqlx::Database>::Connection;

            impl $store {
                /// Completes the publish intent named in `links` with `artifact` and records the
                /// links row. `Conflict` when the intent is unknown or already completed: the
                /// caller's transaction must then roll back.
                pub(super) async fn link_registration_in(
                    conn: &mut Conn,
                    artifact: ArtifactId,
                    links: &RegistrationLinks,
                ) -> Result<(), StoreError> {
                    let now = Utc::now();
                    if let Some(intent) = links.publish_intent_id {
                        let done = sqlx::query(sql::COMPLETE_PUBLISH_INTENT)
                            .bind(intent)
                            .bind(artifact.0)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?
                            .rows_affected();
                        if done == 0 {
                            return Err(StoreError::Conflict);
                        }
                    }
                    if let Some(job) = &links.verification {
                        Self::enqueue_verification_in(&mut *conn, job).await?;
                    }
                    Self::add_attestations_in(&mut *conn, artifact, &links.attachments).await?;
                    if links.publish_intent_id.is_some() || links.event_id.is_some() {
                        sqlx::query(sql::INSERT_LINKS)
                            .bind(artifact.0)
                            .bind(links.publish_intent_id)
                            .bind(&links.event_id)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                }
            }

            #[async_trait::async_trait]
            impl IntentStore for $store {
                async fn create_publish_intent(
                    &self,
                    i: &PublishIntent,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(sql::INSERT_PUBLISH_INTENT)
                        .bind(i.id)
                        .bind(i.project.as_str())
                        .bind(i.app.as_str())
                        .bind(i.repository.as_str())
                        .bind(i.artifact_kind.as_str())
                        .bind(i.artifact_type.as_str())
                        .bind(&i.tag_hint)
                        .bind(i.expected_digest.as_ref().map(|d| d.as_str()))
                        .bind(actor_type_str(i.actor.actor_type))
                        .bind(&i.actor.id)
                        .bind(&i.password_sha256)
                        .bind(i.created_at)
                        .bind(i.expires_at)
                        .bind(i.artifact_id.map(|a| a.0))
                        .bind(i.completed_at)
                        .bind(&i.correlation_id)
                        .bind(sqlx::types::Json(&i.principal))
                        .execute(&mut *tx)
                        .await?;
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(())
                }

                async fn get_publish_intent(&self, id: Uuid) -> Result<Option<PublishIntent>, StoreError> {
                    let row: Option<PublishIntentRow> = sqlx::query_as(sql::SELECT_PUBLISH_INTENT)
                        .bind(id)
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(PublishIntent::try_from).transpose()
                }

                async fn open_publish_intents(
                    &self,
                    repository: &RepositoryPath,
                    now: DateTime<Utc>,
                ) -> Result<Vec<PublishIntent>, StoreError> {
                    let rows: Vec<PublishIntentRow> = sqlx::query_as(sql::OPEN_PUBLISH_INTENTS)
                        .bind(repository.as_str())
                        .bind(now)
                        .fetch_all(self.reads())
                        .await?;
                    convert(rows)
                }

                async fn create_pull_intent(
                    &self,
                    i: &PullIntent,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(sql::INSERT_PULL_INTENT)
                        .bind(i.id)
                        .bind(i.project.as_str())
                        .bind(i.artifact_id.0)
                        .bind(i.repository.as_str())
                        .bind(i.digest.as_str())
                        .bind(&i.channel)
                        .bind(actor_type_str(i.actor.actor_type))
                        .bind(&i.actor.id)
                        .bind(&i.password_sha256)
                        .bind(i.created_at)
                        .bind(i.expires_at)
                        .bind(&i.correlation_id)
                        .bind(&i.runtime_class)
                        .execute(&mut *tx)
                        .await?;
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(())
                }

                async fn get_pull_intent(&self, id: Uuid) -> Result<Option<PullIntent>, StoreError> {
                    let row: Option<PullIntentRow> = sqlx::query_as(sql::SELECT_PULL_INTENT)
                        .bind(id)
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(PullIntent::try_from).transpose()
                }

                async fn record_issued_token(&self, t: &IssuedToken) -> Result<(), StoreError> {
                    sqlx::query(sql::INSERT_TOKEN)
                        .bind(&t.jti)
                        .bind(t.intent_id)
                        .bind(intent_kind_str(t.intent_kind))
                        .bind(&t.subject)
                        .bind(Json(&t.access))
                        .bind(t.issued_at)
                        .bind(t.expires_at)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn tokens_for_intent(&self, intent_id: Uuid) -> Result<Vec<IssuedToken>, StoreError> {
                    let rows: Vec<TokenRow> = sqlx::query_as(sql::TOKENS_FOR_INTENT)
                        .bind(intent_id)
                        .fetch_all(self.reads())
                        .await?;
                    convert(rows)
                }
            }
        };
    };
}
pub(super) use intents_impl;
