//! The write paths shared by both backends: idempotent registration, version-guarded changes,
//! and the audit record every mutation appends inside its own transaction.

use crate::audit::{AuditRecord, UnsealedAudit};

/// An audit record appended inside a transaction: chained there (`Sealed`), or written unsealed
/// (`Pending`) for the backend's sealer to chain once the transaction has committed.
#[derive(Debug)]
#[must_use = "a mutation is acknowledged only once its audit record is sealed: pass it to `audit_sealed`"]
pub(super) enum AuditAppend {
    /// Already in the chain.
    Sealed(AuditRecord),
    /// Committed without a place in the chain yet.
    Pending(UnsealedAudit),
}

/// Generates the write helpers for one backend. The backend provides `SEALS_AFTER_COMMIT`;
/// `lock_audit_chain(&mut Connection)`, which serializes chain appenders; and
/// `seal_committed(&self, UnsealedAudit)`, which waits for a committed record's seal.
macro_rules! write_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::Utc;
            use sqlx::types::Json;
            use $crate::audit::{AuditRecord, DecisionRecord, NewAuditRecord, UnsealedAudit, seal};
            use $crate::domain::{Artifact, Evidence, Promotion};
            use $crate::store::rows::{ArtifactRow, actor_type_str, result_str};
            use $crate::store::writes::AuditAppend;
            use $crate::store::{ArtifactChange, Registered, RegistrationLinks, StoreError, sql};

            type Conn = <$db as sqlx::Database>::Connection;
            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>;

            /// Binds the body's columns, in the order both audit inserts list them after
            /// their leading id (and seq) columns.
            fn bind_audit_body<'q>(query: Query<'q>, b: &'q NewAuditRecord) -> Query<'q> {
                query
                    .bind(actor_type_str(b.actor.actor_type))
                    .bind(&b.actor.id)
                    .bind(&b.action)
                    .bind(&b.project)
                    .bind(b.artifact_id.map(|a| a.0))
                    .bind(&b.repository)
                    .bind(&b.digest)
                    .bind(&b.artifact_kind)
                    .bind(&b.source_type)
                    .bind(b.transition.as_ref().map(Json))
                    .bind(b.promotion.as_ref().map(Json))
                    .bind(b.decision.as_ref().map(Json))
                    .bind(&b.correlation_id)
            }

            /// Binds a decision record's columns, in the order `decision_cols!` lists them.
            fn bind_decision<'q>(query: Query<'q>, d: &'q DecisionRecord) -> Query<'q> {
                query
                    .bind(d.id)
                    .bind(d.decided_at)
                    .bind(&d.correlation_id)
                    .bind(actor_type_str(d.actor.actor_type))
                    .bind(&d.actor.id)
                    .bind(&d.action)
                    .bind(&d.project)
                    .bind(d.artifact_id.map(|a| a.0))
                    .bind(&d.resource)
                    .bind(&d.effect)
                    .bind(Json(&d.policy_ids))
                    .bind(Json(&d.reasons))
                    .bind(Json(&d.errors))
                    .bind(&d.policy_hash)
                    .bind(Json(&d.request))
                    .bind(Json(&d.entities))
            }

            impl $store {
                /// `append_audit_in` and `insert_decision_in` for the decision that allowed the
                /// change. Where records are sealed after commit, both rows go in one statement:
                /// one round trip fewer per mutation.
                pub(super) async fn append_audit_with_decision_in(
                    conn: &mut Conn,
                    body: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<AuditAppend, StoreError> {
                    if Self::SEALS_AFTER_COMMIT {
                        // As in `append_audit_in`: unsealed, the commit's flush deferred.
                        let record = UnsealedAudit::new(body, Utc::now());
                        let insert = sqlx::query(sql::INSERT_UNSEALED_AUDIT_WITH_DECISION)
                            .bind(record.id)
                            .bind(record.occurred_at);
                        bind_decision(bind_audit_body(insert, &record.body), decision)
                            .execute(&mut *conn)
                            .await?;
                        return Ok(AuditAppend::Pending(record));
                    }
                    let appended = Self::append_audit_in(&mut *conn, body).await?;
                    Self::insert_decision_in(&mut *conn, decision).await?;
                    Ok(appended)
                }

                /// Appends `body` inside the caller's transaction, so the record commits (or
                /// not) with the change it describes. Where the backend seals after commit, the
                /// record is written unsealed and the caller passes the answer to
                /// `audit_sealed` once committed; otherwise it is chained here, under the chain
                /// lock.
                pub(super) async fn append_audit_in(
                    conn: &mut Conn,
                    body: NewAuditRecord,
                ) -> Result<AuditAppend, StoreError> {
                    if Self::SEALS_AFTER_COMMIT {
                        // This commit need not wait for its own flush: the caller acknowledges
                        // nothing before the seal's commit, which is synchronous and later in
                        // the log, so flushing it flushes this one. A crash before then loses
                        // the change and its record together, neither acknowledged. The insert
                        // itself defers the flush (`INSERT_UNSEALED_AUDIT`).
                        let record = UnsealedAudit::new(body, Utc::now());
                        let insert = sqlx::query(sql::INSERT_UNSEALED_AUDIT)
                            .bind(record.id)
                            .bind(record.occurred_at);
                        bind_audit_body(insert, &record.body)
                            .execute(&mut *conn)
                            .await?;
                        return Ok(AuditAppend::Pending(record));
                    }
                    Self::lock_audit_chain(&mut *conn).await?;
                    let last: Option<(i64, String)> = sqlx::query_as(sql::LAST_AUDIT)
                        .fetch_optional(&mut *conn)
                        .await?;
                    let (seq, hash) = last.unwrap_or((0, String::new()));
                    let r = seal(body, seq, &hash, Utc::now());
                    let insert = sqlx::query(sql::INSERT_AUDIT)
                        .bind(r.id)
                        .bind(r.seq)
                        .bind(r.occurred_at);
                    bind_audit_body(insert, &r.body)
                        .bind(&r.prev_hash)
                        .bind(&r.hash)
                        .execute(&mut *conn)
                        .await?;
                    Ok(AuditAppend::Sealed(r))
                }

                /// Answers `appended` once it has its place in the chain, durably. Call after
                /// the transaction that wrote it committed: the mutation is acknowledged only
                /// then.
                pub(super) async fn audit_sealed(
                    &self,
                    appended: AuditAppend,
                ) -> Result<AuditRecord, StoreError> {
                    match appended {
                        AuditAppend::Sealed(record) => Ok(record),
                        AuditAppend::Pending(record) => self.seal_committed(record).await,
                    }
                }

                pub(super) async fn insert_decision_in(
                    conn: &mut Conn,
                    d: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    bind_decision(sqlx::query(sql::INSERT_DECISION), d)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                }

                /// Inserts `decisions` with multi-row statements (up to
                /// `SQLITE_DECISION_ROWS_PER_INSERT` rows each), in order. Chunks are powers of
                /// two (128, 64, .., 1 rows), so a connection prepares at most eight statement
                /// texts whatever the batch sizes, instead of one per size. SQLite's batch
                /// path; PostgreSQL unnests arrays instead (`pg_decisions`).
                #[allow(dead_code, reason = "generated for both backends, used by SQLite")]
                pub(super) async fn insert_decision_values_in(
                    conn: &mut Conn,
                    decisions: &[DecisionRecord],
                ) -> Result<(), StoreError> {
                    let mut rest = decisions;
                    while !rest.is_empty() {
                        let rows = rest.len().min(sql::SQLITE_DECISION_ROWS_PER_INSERT);
                        let rows = 1_usize << rows.ilog2();
                        let (chunk, tail) = rest.split_at(rows);
                        let mut insert = sqlx::QueryBuilder::<$db>::new(sql::INSERT_DECISIONS_HEAD);
                        insert.push_values(chunk, |mut row, d| {
                            row.push_bind(d.id)
                                .push_bind(d.decided_at)
                                .push_bind(&d.correlation_id)
                                .push_bind(actor_type_str(d.actor.actor_type))
                                .push_bind(&d.actor.id)
                                .push_bind(&d.action)
                                .push_bind(&d.project)
                                .push_bind(d.artifact_id.map(|a| a.0))
                                .push_bind(&d.resource)
                                .push_bind(&d.effect)
                                .push_bind(Json(&d.policy_ids))
                                .push_bind(Json(&d.reasons))
                                .push_bind(Json(&d.errors))
                                .push_bind(&d.policy_hash)
                                .push_bind(Json(&d.request))
                                .push_bind(Json(&d.entities));
                        });
                        insert.build().execute(&mut *conn).await?;
                        rest = tail;
                    }
                    Ok(())
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

                pub(super) async fn register_impl(
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
                    let inserted = sqlx::query(insert)
                        .bind(a.id.0)
                        .bind(a.project.as_str())
                        .bind(a.app.as_str())
                        .bind(a.artifact_kind.as_str())
                        .bind(a.artifact_type.as_str())
                        .bind(a.repository.as_str())
                        .bind(a.digest.as_str())
                        .bind(&a.tag)
                        .bind(&a.media_type)
                        .bind(a.source.source_type.as_str())
                        .bind(&a.source.uri)
                        .bind(&a.source.source_ref)
                        .bind(a.source.size_bytes)
                        .bind(&a.source.content_encoding)
                        .bind(a.lifecycle_state.as_str())
                        .bind(a.trust_state.as_str())
                        .bind(Json(&channels))
                        .bind(a.signature_verified)
                        .bind(Json(&a.attestations))
                        .bind(actor_type_str(a.created_by.actor_type))
                        .bind(&a.created_by.id)
                        .bind(a.created_at)
                        .bind(a.updated_at)
                        .bind(a.version)
                        .bind(a.scope.visibility().as_str())
                        .bind(a.scope.tenant().map(|t| t.as_str()))
                        .bind(Json(&a.trust_facts));
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

                pub(super) async fn apply_change_impl(
                    &self,
                    change: &ArtifactChange,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<Artifact, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    // On an error the transaction is dropped, which rolls it back.
                    let (stored, appended) = Self::apply_change_in(&mut *tx, change, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(stored)
                }

                /// Applies `change` with its records inside the caller's transaction; on
                /// `Conflict` or `NotFound` the caller rolls back. After commit the caller
                /// awaits the audit record with `audit_sealed`.
                pub(super) async fn apply_change_in(
                    conn: &mut Conn,
                    change: &ArtifactChange,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(Artifact, AuditAppend), StoreError> {
                    let a = &change.artifact;
                    let channels: Vec<&str> = a.channels.iter().map(|c| c.as_str()).collect();
                    // The version guard is the optimistic lock: a concurrent writer that
                    // committed first bumped it, so this update matches no row.
                    let row: Option<ArtifactRow> = sqlx::query_as(sql::UPDATE_ARTIFACT)
                        .bind(a.id.0)
                        .bind(a.version)
                        .bind(&a.tag)
                        .bind(&a.media_type)
                        .bind(a.source.source_type.as_str())
                        .bind(&a.source.uri)
                        .bind(&a.source.source_ref)
                        .bind(a.source.size_bytes)
                        .bind(&a.source.content_encoding)
                        .bind(a.lifecycle_state.as_str())
                        .bind(a.trust_state.as_str())
                        .bind(Json(&channels))
                        .bind(a.signature_verified)
                        .bind(Json(&a.attestations))
                        .bind(a.updated_at)
                        .bind(Json(&a.trust_facts))
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
                    let stored = Artifact::try_from(row)?;
                    if let Some(p) = &change.promotion {
                        Self::insert_promotion_in(&mut *conn, a, p).await?;
                    }
                    Self::insert_evidence_in(&mut *conn, a, &change.evidence).await?;
                    if let Some(summary) = &change.summary {
                        Self::insert_summary_in(&mut *conn, a.id, summary).await?;
                    }
                    let appended = Self::append_audit_with_decision_in(&mut *conn, audit, decision).await?;
                    Ok((stored, appended))
                }
            }
        };
    };
}
pub(super) use write_impl;
