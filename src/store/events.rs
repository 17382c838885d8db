//! The registry event queue (durable, deduplicated, leased to one worker at a time),
//! unregistered pushes and artifact links, shared by both backends.

/// Candidates fetched per claim round; a claimer that loses all of them to others looks again.
pub(super) const CLAIM_BATCH: i64 = 8;

/// Rounds before a claimer gives up and answers "nothing": under heavy contention others are
/// making progress on the queue, and the worker polls again anyway.
pub(super) const CLAIM_ROUNDS: usize = 4;

/// Generates the registry event, unregistered push and link methods for one backend.
macro_rules! events_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use $crate::audit::DecisionRecord;
            use $crate::domain::{ArtifactId, EventStatus, ProjectSlug, RegistryEvent, UnregisteredPush};
            use $crate::store::events::{CLAIM_BATCH, CLAIM_ROUNDS};
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

                async fn enqueue_events_impl(
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
                            .bind(&e.repository)
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

                async fn claim_event_impl(
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

                async fn finish_event_impl(
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
                            .bind(&p.repository)
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

                async fn release_event_impl(
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

                async fn get_event_impl(&self, id: &str) -> Result<Option<RegistryEvent>, StoreError> {
                    let row: Option<EventRow> = sqlx::query_as(sql::SELECT_EVENT)
                        .bind(id)
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(RegistryEvent::try_from).transpose()
                }

                async fn pending_events_impl(&self) -> Result<i64, StoreError> {
                    let (n,): (i64,) = sqlx::query_as(sql::PENDING_EVENTS)
                        .fetch_one(self.reads())
                        .await?;
                    Ok(n)
                }

                async fn list_pushes_impl(
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

                async fn artifact_links_impl(&self, id: ArtifactId) -> Result<ArtifactLinks, StoreError> {
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
