//! PostgreSQL's audit sealer. A mutation writes its audit record unsealed (into the queue,
//! `audit_pending`) in its own transaction, so concurrent mutations commit side by side (and share fsyncs) instead of
//! queueing on the chain lock across each other's commits. Once committed, the mutation hands
//! the record to this process's sealer and waits: the sealer places every unsealed record in
//! the chain, oldest append first, in batches of one transaction under the chain lock (each
//! record moves from the queue into `audit_records` with its `seq` and hashes), and
//! answers each waiting mutation once its record is sealed and durable.
//!
//! A record this process wrote is hashed from the body the mutation passed, not from what the
//! row says by then, so a row altered before its seal fails verification. Records another
//! instance (or a crash) left unsealed are sealed from their rows: someone must chain them, and
//! sealing in append order keeps causally ordered mutations (one waited on the other's row
//! lock) in order in the chain.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::rows::{AuditRow, UnsealedRow};
use super::{StoreError, sql};
use crate::audit::{AuditRecord, UnsealedAudit};

/// Advisory lock key that serializes audit-chain appends across every instance
/// (ASCII "gh-audit" as a big-endian i64).
const AUDIT_CHAIN_LOCK: i64 = 0x6768_2d61_7564_6974;

/// Most records one sealing transaction places (and most waiting mutations one round answers).
const BATCH: usize = 512;

/// How long the sealer waits for work before it looks for records nobody asked it to seal.
const SWEEP_WHEN_IDLE: Duration = Duration::from_secs(10);

/// A committed record waiting for its seal.
struct Request {
    record: UnsealedAudit,
    done: oneshot::Sender<Result<AuditRecord, StoreError>>,
}

/// The handle mutations send their committed records to; the task behind it ends when the
/// last handle is dropped.
#[derive(Debug)]
pub(super) struct AuditSealer {
    requests: mpsc::UnboundedSender<Request>,
}

impl AuditSealer {
    /// Starts the sealer on its own connection (opened lazily from `pool`'s options), so it
    /// never queues for a connection behind the mutations it is about to answer.
    pub(super) fn spawn(pool: &PgPool) -> Self {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(pool.connect_options().as_ref().clone());
        let (requests, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(own, queue));
        Self { requests }
    }

    /// Waits until `record` (committed) is sealed and durable.
    pub(super) async fn seal(&self, record: UnsealedAudit) -> Result<AuditRecord, StoreError> {
        let (done, answer) = oneshot::channel();
        self.requests
            .send(Request { record, done })
            .map_err(|_| StoreError::AuditSealing)?;
        answer.await.map_err(|_| StoreError::AuditSealing)?
    }
}

/// Seals what earlier runs left unsealed (a crash between a mutation's commit and its seal);
/// answers how many records it sealed.
pub(super) async fn seal_backlog(pool: &PgPool) -> Result<u64, StoreError> {
    queue_legacy_unsealed(pool).await?;
    let mut total = 0;
    loop {
        let sealed = seal_batch(pool, &HashMap::new()).await?;
        total += sealed.len() as u64;
        if sealed.len() < BATCH {
            return Ok(total);
        }
    }
}

/// Moves the records an earlier release left unsealed in `audit_records` (it sealed in place)
/// into the queue, under the chain lock so no such sealer is halfway through them.
async fn queue_legacy_unsealed(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    lock_audit_chain(&mut tx).await?;
    let queued = sqlx::query(sql::QUEUE_LEGACY_UNSEALED_AUDIT)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    if queued > 0 {
        tracing::info!(queued, "queued audit records an earlier release left unsealed");
    }
    Ok(())
}

async fn run(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Request>) {
    loop {
        let first = match tokio::time::timeout(SWEEP_WHEN_IDLE, queue.recv()).await {
            Ok(Some(first)) => first,
            Ok(None) => return,
            Err(_idle) => {
                // A mutation whose caller went away between its commit and its seal request
                // left its record unsealed; chain it now rather than at the next start.
                if let Err(error) = seal_backlog(&pool).await {
                    tracing::warn!(?error, "sealing left-over audit records failed");
                }
                continue;
            }
        };
        let mut waiting = HashMap::from([(first.record.id, first)]);
        // Everything that arrived while the last batch was sealing goes into this one.
        while waiting.len() < BATCH {
            let Ok(next) = queue.try_recv() else { break };
            waiting.insert(next.record.id, next);
        }
        answer(&pool, waiting).await;
    }
}

/// Seals until every waiting record is in the chain, and answers each.
async fn answer(pool: &PgPool, mut waiting: HashMap<Uuid, Request>) {
    loop {
        let own: HashMap<Uuid, &UnsealedAudit> = waiting.iter().map(|(id, r)| (*id, &r.record)).collect();
        let sealed = match seal_batch(pool, &own).await {
            Ok(sealed) => sealed,
            Err(error) => {
                // The mutations are committed; their records stay unsealed until the next
                // batch seals them, but none of them is acknowledged now.
                tracing::error!(?error, "sealing audit records failed");
                for (_, request) in waiting.drain() {
                    let _ = request.done.send(Err(StoreError::AuditSealing));
                }
                return;
            }
        };
        let more = sealed.len() == BATCH;
        for record in sealed {
            if let Some(request) = waiting.remove(&record.id) {
                let _ = request.done.send(Ok(record));
            }
        }
        if waiting.is_empty() || !more {
            break;
        }
    }
    // Committed before they were queued, so visible, yet not unsealed any more: another
    // instance's sealer chained them. Answer with what it stored.
    for (id, request) in waiting {
        let stored = sealed_by_id(pool, id).await;
        let _ = request.done.send(stored);
    }
}

async fn sealed_by_id(pool: &PgPool, id: Uuid) -> Result<AuditRecord, StoreError> {
    let row: Option<AuditRow> = sqlx::query_as(sql::SEALED_AUDIT_BY_ID)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.ok_or(StoreError::AuditSealing)?.try_into()
}

/// Seals up to `BATCH` of the oldest unsealed records after the chain head, in one transaction
/// under the chain lock; `own` holds the bodies this process's mutations wrote. Answers the
/// records sealed, in chain order.
async fn seal_batch(
    pool: &PgPool,
    own: &HashMap<Uuid, &UnsealedAudit>,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut tx = pool.begin().await?;
    lock_audit_chain(&mut tx).await?;
    let head: Option<(i64, String)> = sqlx::query_as(sql::LAST_AUDIT).fetch_optional(&mut *tx).await?;
    // Ids first: this process's own records are hashed from the bodies it holds, so only the
    // others' rows (another instance's, a crash's) are read whole.
    let ids: Vec<Uuid> = sqlx::query_scalar(sql::UNSEALED_AUDIT_IDS)
        .bind(BATCH as i64)
        .fetch_all(&mut *tx)
        .await?;
    if ids.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let others: Vec<Uuid> = ids.iter().filter(|id| !own.contains_key(id)).copied().collect();
    let mut theirs = HashMap::with_capacity(others.len());
    if !others.is_empty() {
        let rows: Vec<UnsealedRow> = sqlx::query_as(sql::UNSEALED_AUDIT_BY_IDS)
            .bind(&others)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            theirs.insert(row.id(), UnsealedAudit::try_from(row)?);
        }
    }
    let (mut seq, mut hash) = head.unwrap_or((0, String::new()));
    let mut sealed = Vec::with_capacity(ids.len());
    for id in ids {
        let record = match own.get(&id) {
            Some(record) => (*record).clone(),
            // Unsealed under the chain lock a moment ago: still there, still unsealed.
            None => theirs.remove(&id).ok_or(StoreError::AuditSealing)?,
        };
        let record = record.seal(seq, &hash);
        seq = record.seq;
        hash.clone_from(&record.hash);
        sealed.push(record);
    }
    let moved = sqlx::query(sql::SEAL_PENDING_AUDIT)
        .bind(sealed.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(sealed.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(sealed.iter().map(|r| r.prev_hash.as_str()).collect::<Vec<_>>())
        .bind(sealed.iter().map(|r| r.hash.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if moved != sealed.len() as u64 {
        // Cannot happen under the chain lock; if it does, seal nothing rather than fork.
        return Err(StoreError::AuditSealing);
    }
    tx.commit().await?;
    Ok(sealed)
}

/// Takes the transaction-scoped chain lock, so two sealers (of two instances) never read the
/// same head and fork the chain; it is released at commit or rollback.
pub(super) async fn lock_audit_chain(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(AUDIT_CHAIN_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Shared between a store's clones: the sealer starts with the first mutation that needs it.
pub(super) type SealerCell = Arc<std::sync::OnceLock<AuditSealer>>;
