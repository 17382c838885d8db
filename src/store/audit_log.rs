//! The audit log and the decision log, for both backends: the audit record every mutation
//! appends inside its own transaction (chained there, or sealed after commit), the decisions
//! written with it, and the listings and chain pages that read them back.

use async_trait::async_trait;

use super::{LogFilter, Page, PageRequest, StoreError};
use crate::audit::{AuditRecord, DecisionRecord, NewAuditRecord, UnsealedAudit};

/// The audit and decision logs; a part of [`super::Store`]. (Decision batches, which each
/// backend commits its own way, are [`super::DecisionBatchStore`].)
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an audit record that belongs to no artifact change (e.g. `policy.reload`).
    async fn append_audit(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError>;
    /// Decision records, oldest first.
    async fn list_decisions(
        &self,
        filter: &LogFilter,
        page: &PageRequest,
    ) -> Result<Page<DecisionRecord>, StoreError>;
    /// Audit records, in chain order.
    async fn list_audit(
        &self,
        filter: &LogFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditRecord>, StoreError>;
    /// How many committed audit records wait for their place in the chain (not yet verifiable).
    async fn unsealed_audit_records(&self) -> Result<i64, StoreError>;
    /// Audit records with `seq > after_seq`, in chain order, at most `limit` (for chain checks).
    async fn audit_chain_page(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
}

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

/// Implements `AuditStore` for one backend, with the helpers every mutation uses to append its
/// audit record and decision inside its transaction. The backend provides
/// `SEALS_AFTER_COMMIT`; `lock_audit_chain(&mut Connection)`, which serializes chain appenders;
/// and `seal_committed(&self, UnsealedAudit)`, which waits for a committed record's seal.
macro_rules! audit_log_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::Utc;
            use sqlx::types::Json;
            use $crate::audit::{AuditRecord, DecisionRecord, NewAuditRecord, UnsealedAudit, seal};
            use $crate::store::audit_log::{AuditAppend, AuditStore};
            use $crate::store::listing::{clamp, paginate, seq_after, uuid_after};
            use $crate::store::rows::{AuditRow, DecisionRow, actor_type_str, convert};
            use $crate::store::{LogFilter, Page, PageRequest, StoreError, sql};

            type Builder = sqlx::QueryBuilder<$db>;

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

            /// The filters audit and decision listings share; `time` names the time column.
            fn push_log_filter(qb: &mut Builder, f: &LogFilter, time: &str) {
                if let Some(v) = &f.project {
                    qb.push(" and project = ").push_bind(v.clone());
                }
                if let Some(v) = f.artifact_id {
                    qb.push(" and artifact_id = ").push_bind(v.0);
                }
                if let Some(v) = &f.action {
                    qb.push(" and action = ").push_bind(v.clone());
                }
                if let Some(v) = &f.actor {
                    qb.push(" and actor_id = ").push_bind(v.clone());
                }
                if let Some(v) = f.since {
                    qb.push(format!(" and {time} >= ")).push_bind(v);
                }
                if let Some(v) = f.until {
                    qb.push(format!(" and {time} < ")).push_bind(v);
                }
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
                    Self::append_audit_with_decisions_in(conn, body, std::slice::from_ref(decision)).await
                }

                /// `append_audit_with_decision_in` for the decisions a change carries (the one
                /// that allowed it, and any it took on the way, e.g. a verification's
                /// `accept_source`), in order. Where records are sealed after commit, up to two
                /// decisions go in the audit record's statement.
                pub(super) async fn append_audit_with_decisions_in(
                    conn: &mut Conn,
                    body: NewAuditRecord,
                    decisions: &[DecisionRecord],
                ) -> Result<AuditAppend, StoreError> {
                    if Self::SEALS_AFTER_COMMIT && matches!(decisions.len(), 1 | 2) {
                        // As in `append_audit_in`: unsealed, the commit's flush deferred.
                        let record = UnsealedAudit::new(body, Utc::now());
                        let text = if decisions.len() == 1 {
                            sql::INSERT_UNSEALED_AUDIT_WITH_DECISION
                        } else {
                            sql::INSERT_UNSEALED_AUDIT_WITH_TWO_DECISIONS
                        };
                        let mut insert = bind_audit_body(
                            sqlx::query(text).bind(record.id).bind(record.occurred_at),
                            &record.body,
                        );
                        for decision in decisions {
                            insert = bind_decision(insert, decision);
                        }
                        insert.execute(&mut *conn).await?;
                        return Ok(AuditAppend::Pending(record));
                    }
                    let appended = Self::append_audit_in(&mut *conn, body).await?;
                    for decision in decisions {
                        Self::insert_decision_in(&mut *conn, decision).await?;
                    }
                    Ok(appended)
                }

                /// `append_audit_with_decisions_in` (sealed after commit) by `statement`, which
                /// writes more rows: its audit record's and decisions' parameters come first,
                /// then those `bind_rows` binds.
                pub(super) async fn append_audit_with_rows_in(
                    conn: &mut Conn,
                    body: NewAuditRecord,
                    decisions: &[DecisionRecord],
                    statement: &'static str,
                    bind_rows: impl for<'a> FnOnce(Query<'a>) -> Query<'a> + Send,
                ) -> Result<AuditAppend, StoreError> {
                    let record = UnsealedAudit::new(body, Utc::now());
                    let mut insert = bind_audit_body(
                        sqlx::query(statement)
                            .bind(record.id)
                            .bind(record.occurred_at),
                        &record.body,
                    );
                    for decision in decisions {
                        insert = bind_decision(insert, decision);
                    }
                    bind_rows(insert).execute(&mut *conn).await?;
                    Ok(AuditAppend::Pending(record))
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
            }

            #[async_trait::async_trait]
            impl AuditStore for $store {
                async fn append_audit(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let appended = Self::append_audit_in(&mut *tx, audit).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await
                }

                async fn list_audit(
                    &self,
                    f: &LogFilter,
                    page: &PageRequest,
                ) -> Result<Page<AuditRecord>, StoreError> {
                    let limit = clamp(page.limit);
                    let mut qb = Builder::new(sql::LIST_AUDIT);
                    push_log_filter(&mut qb, f, "occurred_at");
                    if let Some(c) = &page.cursor {
                        qb.push(" and seq > ").push_bind(seq_after(c)?);
                    }
                    qb.push(" order by seq limit ")
                        .push_bind(i64::from(limit) + 1);
                    let rows: Vec<AuditRow> = qb.build_query_as().fetch_all(self.reads()).await?;
                    Ok(paginate(convert(rows)?, limit, |r: &AuditRecord| {
                        r.seq.to_string()
                    }))
                }

                async fn list_decisions(
                    &self,
                    f: &LogFilter,
                    page: &PageRequest,
                ) -> Result<Page<DecisionRecord>, StoreError> {
                    let limit = clamp(page.limit);
                    let mut qb = Builder::new(sql::LIST_DECISIONS);
                    push_log_filter(&mut qb, f, "decided_at");
                    if let Some(v) = &f.effect {
                        qb.push(" and effect = ").push_bind(v.clone());
                    }
                    if let Some(id) = f.decision_id {
                        qb.push(" and id = ").push_bind(id);
                    }
                    if let Some(c) = &page.cursor {
                        qb.push(" and id > ").push_bind(uuid_after(c)?);
                    }
                    qb.push(" order by id limit ")
                        .push_bind(i64::from(limit) + 1);
                    let mut rows: Vec<DecisionRow> = qb.build_query_as().fetch_all(self.reads()).await?;
                    let named = $crate::store::decision_inputs::named_inputs(&rows);
                    if !named.is_empty() {
                        let mut qb = Builder::new(sql::DECISION_INPUTS_HEAD);
                        qb.push("(");
                        let mut each = qb.separated(", ");
                        for hash in named {
                            each.push_bind(hash);
                        }
                        each.push_unseparated(")");
                        let inputs = qb.build_query_as().fetch_all(self.reads()).await?;
                        $crate::store::decision_inputs::fill_inputs(&mut rows, inputs)?;
                    }
                    Ok(paginate(convert(rows)?, limit, |d: &DecisionRecord| {
                        d.id.to_string()
                    }))
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
            }
        };
    };
}
pub(super) use audit_log_impl;
