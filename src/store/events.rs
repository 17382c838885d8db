//! The registry event queue (durable, deduplicated, leased to one worker at a time),
//! unregistered pushes and artifact links, for both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ArtifactLinks, Page, PageRequest, StoreError};
use crate::audit::DecisionRecord;
use crate::domain::{ArtifactId, EventStatus, ProjectSlug, RegistryEvent, UnregisteredPush};

/// The registry event queue, unregistered pushes and artifact links; a part of
/// [`super::Store`].
#[async_trait]
pub trait RegistryEventStore: Send + Sync {
    /// Queues events as given, deduplicated by id, with the `notify` decisions (all of them, even
    /// for duplicates: each was a decision taken) in one transaction; answers, per event in input
    /// order, whether it was new. A duplicate id leaves its stored copy untouched.
    async fn enqueue_registry_events(
        &self,
        events: &[RegistryEvent],
        decisions: &[DecisionRecord],
    ) -> Result<Vec<bool>, StoreError>;
    /// Claims the oldest pending event whose lease is free or expired: `lease_until = now +
    /// lease`, `attempts += 1`. Safe when several processes claim at once.
    async fn claim_registry_event(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<RegistryEvent>, StoreError>;
    /// Finishes a pending event with `status` and `result`, clearing its lease, and in the same
    /// transaction records an unregistered push and/or sets an artifact's registry presence
    /// (`present` | `deleted`). `NotFound` for an unknown id, `Conflict` if already finished.
    async fn finish_registry_event(
        &self,
        id: &str,
        status: EventStatus,
        result: &serde_json::Value,
        unregistered: Option<&UnregisteredPush>,
        presence: Option<(ArtifactId, &str)>,
    ) -> Result<(), StoreError>;
    /// Puts a claimed event back for a retry once its lease expires (still pending), noting
    /// `result`; keeping the lease is the backoff that spares a registry or database in an outage.
    async fn release_registry_event(&self, id: &str, result: &serde_json::Value) -> Result<(), StoreError>;
    /// One registry event by id.
    async fn get_registry_event(&self, id: &str) -> Result<Option<RegistryEvent>, StoreError>;
    /// How many events are pending (queue depth).
    async fn pending_registry_events(&self) -> Result<i64, StoreError>;
    /// A project's unregistered pushes, oldest first.
    async fn list_unregistered_pushes(
        &self,
        project: &ProjectSlug,
        page: &PageRequest,
    ) -> Result<Page<UnregisteredPush>, StoreError>;
    /// An artifact's links for explain (all `None` when nothing is known).
    async fn artifact_links(&self, id: ArtifactId) -> Result<ArtifactLinks, StoreError>;
}

/// Candidates fetched per claim round; a claimer that loses all of them to others looks again.
pub(super) const CLAIM_BATCH: i64 = 8;

/// Rounds before a claimer gives up and answers "nothing": under heavy contention others are
/// making progress on the queue, and the worker polls again anyway.
pub(super) const CLAIM_ROUNDS: usize = 4;

/// Implements `RegistryEventStore` for one backend (`$db` is its `sqlx::Database`).
macro_rules! events_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use $crate::audit::DecisionRecord;
            use $crate::domain::{ArtifactId, EventStatus, ProjectSlug, RegistryEvent, UnregisteredPush};
            use $crate::store::events::{CLAIM_BATCH, CLAIM_ROUNDS, RegistryEventStore};
            use $crate::store::listing::{clamp, paginate, uuid_after};
            use $crate::store::registry_rows::{EventRow, LinksRow, PushRow, action_str, status_str};
            use $crate::store::rows::convert;
            use $crate::store::{ArtifactLinks, Page, PageRequest, StoreError, sql};

            type Conn = <$db as sqlx::Database>::Connection;

            impl $store {
                /// Why a guarded event update matched nothing: no such event, or not pending.
                async fn event_miss(conn: &mut Conn, id: &str) -> Result<StoreError, StoreError> {
                    let (n,): (i64,) = sqlx::query_as(sql::EVENT_EXISTS)
                        .bind(id)
                        .fetch_one(&mut *conn)
                        .await?;
                    Ok(if n == 0 {
                        StoreError::NotFound
                    } else {
                        StoreError::Conflict
                    })
                }
            }

            #[async_trait::async_trait]
            impl RegistryEventStore for $store {
                async fn enqueue_registry_events(
                    &self,
                    events: &[RegistryEvent],
                    decisions: &[DecisionRecord],
                ) -> Result<Vec<bool>, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let mut fresh = Vec::with_capacity(events.len());
                    for e in events {
                        let inserted = sqlx::query(sql::INSERT_EVENT)
                            .bind(&e.id)
                            .bind(&e.source)
                            .bind(action_str(e.action))
                            .bind(e.repository.as_str())
                            .bind(e.digest.as_ref().map(|d| d.as_str()))
                            .bind(&e.media_type)
                            .bind(e.size)
                            .bind(&e.tag)
                            .bind(&e.actor_name)
                            .bind(e.occurred_at)
                            .bind(e.received_at)
                            .bind(status_str(e.status))
                            .bind(e.attempts)
                            .bind(Json(&e.result))
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        fresh.push(inserted == 1);
                    }
                    // Every decision is logged, a redelivery's too: the decision log records
                    // what was decided, not what it changed.
                    Self::insert_decisions_in(&mut *tx, decisions).await?;
                    tx.commit().await?;
                    Ok(fresh)
                }

                async fn claim_registry_event(
                    &self,
                    now: DateTime<Utc>,
                    lease: chrono::Duration,
                ) -> Result<Option<RegistryEvent>, StoreError> {
                    let until = now
                        .checked_add_signed(lease)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    for _ in 0..CLAIM_ROUNDS {
                        let candidates: Vec<(String,)> = sqlx::query_as(sql::CLAIM_CANDIDATES)
                            .bind(now)
                            .bind(CLAIM_BATCH)
                            .fetch_all(&self.pool)
                            .await?;
                        if candidates.is_empty() {
                            return Ok(None);
                        }
                        for (id,) in candidates {
                            // Losing the guarded update means another claimer took it first.
                            let row: Option<EventRow> = sqlx::query_as(sql::CLAIM_EVENT)
                                .bind(&id)
                                .bind(now)
                                .bind(until)
                                .fetch_optional(&self.pool)
                                .await?;
                            if let Some(row) = row {
                                return RegistryEvent::try_from(row).map(Some);
                            }
                        }
                    }
                    Ok(None)
                }

                async fn finish_registry_event(
                    &self,
                    id: &str,
                    status: EventStatus,
                    result: &serde_json::Value,
                    unregistered: Option<&UnregisteredPush>,
                    presence: Option<(ArtifactId, &str)>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let finished = sqlx::query(sql::FINISH_EVENT)
                        .bind(id)
                        .bind(status_str(status))
                        .bind(Json(result))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if finished == 0 {
                        let miss = Self::event_miss(&mut *tx, id).await?;
                        tx.rollback().await?;
                        return Err(miss);
                    }
                    if let Some(p) = unregistered {
                        sqlx::query(sql::INSERT_PUSH)
                            .bind(p.id)
                            .bind(&p.event_id)
                            .bind(p.project.as_ref().map(|s| s.as_str()))
                            .bind(p.repository.as_str())
                            .bind(p.digest.as_str())
                            .bind(&p.tag)
                            .bind(&p.actor_name)
                            .bind(p.received_at)
                            .execute(&mut *tx)
                            .await?;
                    }
                    if let Some((artifact, state)) = presence {
                        sqlx::query(sql::UPSERT_PRESENCE)
                            .bind(artifact.0)
                            .bind(state)
                            .bind(id)
                            .bind(Utc::now())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn release_registry_event(
                    &self,
                    id: &str,
                    result: &serde_json::Value,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let released = sqlx::query(sql::RELEASE_EVENT)
                        .bind(id)
                        .bind(Json(result))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if released == 0 {
                        let miss = Self::event_miss(&mut *tx, id).await?;
                        tx.rollback().await?;
                        return Err(miss);
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn get_registry_event(&self, id: &str) -> Result<Option<RegistryEvent>, StoreError> {
                    let row: Option<EventRow> = sqlx::query_as(sql::SELECT_EVENT)
                        .bind(id)
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(RegistryEvent::try_from).transpose()
                }

                async fn pending_registry_events(&self) -> Result<i64, StoreError> {
                    let (n,): (i64,) = sqlx::query_as(sql::PENDING_EVENTS)
                        .fetch_one(self.reads())
                        .await?;
                    Ok(n)
                }

                async fn list_unregistered_pushes(
                    &self,
                    project: &ProjectSlug,
                    page: &PageRequest,
                ) -> Result<Page<UnregisteredPush>, StoreError> {
                    let limit = clamp(page.limit);
                    let mut qb = sqlx::QueryBuilder::<$db>::new(sql::LIST_PUSHES);
                    qb.push(" and project = ")
                        .push_bind(project.as_str().to_owned());
                    if let Some(c) = &page.cursor {
                        qb.push(" and id > ").push_bind(uuid_after(c)?);
                    }
                    qb.push(" order by id limit ")
                        .push_bind(i64::from(limit) + 1);
                    let rows: Vec<PushRow> = qb.build_query_as().fetch_all(self.reads()).await?;
                    Ok(paginate(convert(rows)?, limit, |p: &UnregisteredPush| {
                        p.id.to_string()
                    }))
                }

                async fn artifact_links(&self, id: ArtifactId) -> Result<ArtifactLinks, StoreError> {
                    let row: Option<LinksRow> = sqlx::query_as(sql::SELECT_LINKS)
                        .bind(id.0)
                        .fetch_optional(self.reads())
                        .await?;
                    Ok(row.map(ArtifactLinks::from).unwrap_or_default())
                }
            }
        };
    };
}
pub(super) use events_impl;
