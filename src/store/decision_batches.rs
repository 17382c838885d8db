//! How each backend commits a decision-log batch, and how many batches it commits at once.

use async_trait::async_trait;

use super::StoreError;
use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::sqlite_inline::DecisionRow;
use crate::audit::DecisionRecord;

/// The decision log's batches, which each backend commits its own way; a part of
/// [`super::Store`].
#[async_trait]
pub trait DecisionBatchStore: Send + Sync {
    /// Appends decision records in one transaction (the group-commit path).
    async fn append_decisions(&self, decisions: &[DecisionRecord]) -> Result<(), StoreError>;
    /// How many `append_decisions` batches the decision-log writer may have committing at once:
    /// 1 where writes serialize anyway (SQLite's single writer) or where a commit's cost is
    /// mostly per commit (PostgreSQL).
    fn decision_batches_in_flight(&self) -> usize;
}

#[async_trait]
impl DecisionBatchStore for PostgresStore {
    /// The batch is one `insert … select … from unnest(…)` statement, atomic on its own: sent
    /// outside a transaction it commits, synchronously, in one round trip instead of three
    /// (begin, insert, commit), each of which waits for the server to be scheduled. It stores
    /// each distinct input once (`decision_inputs`), sending only those not known to be stored.
    async fn append_decisions(&self, decisions: &[DecisionRecord]) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        self.insert_decision_batch_in(&mut conn, decisions).await
    }

    /// One: the next batch gathers while this one commits. A commit's cost on both sides is
    /// mostly per commit (the statement, its WAL flush), so on 2 cores two batches at once
    /// (the default pool's quarter) were smaller batches and more CPU per review: one at a
    /// time gave 8–14 % more reviews/s (BENCHMARKS.md, "one PostgreSQL decision batch at a
    /// time"). Waiting longer makes the next batch larger, so a slow commit is absorbed.
    fn decision_batches_in_flight(&self) -> usize {
        1
    }
}

#[async_trait]
impl DecisionBatchStore for SqliteStore {
    /// SQLite commits a batch in one transaction on the decision writer's own thread (one
    /// hand-off) while this holds sqlx's single writer connection, so no sqlx transaction runs
    /// meanwhile; without that thread, or when it fails, through the held connection in
    /// several multi-row statements, as before.
    async fn append_decisions(&self, decisions: &[DecisionRecord]) -> Result<(), StoreError> {
        let mut writer = self.pool().acquire().await?;
        if let Some(inline) = self.decision_writer() {
            let rows = decisions.iter().map(DecisionRow::encode).collect();
            // Any failure (a row it cannot encode, a refused insert, the thread gone) is written
            // again through sqlx, which answers it the usual way: still under the same hold, so
            // nothing ran between the two attempts.
            if let Ok(rows) = rows
                && inline.write(rows).await.is_ok()
            {
                return Ok(());
            }
        }
        let mut tx = sqlx::Connection::begin(&mut *writer).await?;
        Self::insert_decisions_in(&mut tx, decisions).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One writer: a second batch would only wait for the first.
    fn decision_batches_in_flight(&self) -> usize {
        1
    }
}
