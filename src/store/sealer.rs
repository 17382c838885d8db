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
//!
//! A mutation's request can reach the sealer after a round already read its record's id from the
//! queue: the round takes every request that arrived by then (so it hashes their bodies, not
//! their rows), and keeps the few it still sealed from their rows for a while (`Recent`), so
//! their requests, when they come, are answered without reading the chain back.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::rows::{AuditRow, UnsealedRow};
use super::{PING_IF_IDLE_FOR, StoreError, sql};
use crate::audit::{AuditRecord, UnsealedAudit};

/// Advisory lock key that serializes audit-chain appends across every instance
/// (ASCII "gh-audit" as a big-endian i64).
const AUDIT_CHAIN_LOCK: i64 = 0x6768_2d61_7564_6974;

/// The sealer connection's `application_name` when the database URL gives none.
const SEALER_APPLICATION_NAME: &str = "gatehouse audit sealer";

/// Most records one sealing transaction places (and most waiting mutations one round answers).
const BATCH: usize = 512;

/// How long the sealer waits for work before it looks for records nobody asked it to seal.
const SWEEP_WHEN_IDLE: Duration = Duration::from_secs(10);

/// Shortest time from one round's start to the next's: back-to-back rounds under load gather the
/// mutations that commit meanwhile into one synchronous commit instead of one each, and a round
/// after a pause starts at once.
const ROUND_EVERY: Duration = Duration::from_millis(3);

/// Most records the sealer keeps that it sealed before anyone asked for them (see `Recent`).
const RECENT: usize = 1024;

/// A committed record waiting for its seal.
struct Request {
    record: UnsealedAudit,
    done: oneshot::Sender<Result<AuditRecord, StoreError>>,
    /// Waiting when a round began: its record committed before that round read the queue.
    before_round: bool,
}

/// The handle mutations send their committed records to; the task behind it ends when the
/// last handle is dropped.
#[derive(Debug)]
pub(super) struct AuditSealer {
    requests: mpsc::UnboundedSender<Request>,
}

impl AuditSealer {
    /// Starts the sealer on its own connection (opened lazily from `pool`'s options), so it
    /// never queues for a connection behind the mutations it is about to answer, and on a thread
    /// and runtime of its own (see `spawn_thread`).
    pub(super) fn spawn(pool: &PgPool) -> Self {
        let own = OwnConnection::new(pool);
        let (requests, queue) = mpsc::unbounded_channel();
        spawn_thread(run(own, queue));
        Self { requests }
    }

    /// Waits until `record` (committed) is sealed and durable.
    pub(super) async fn seal(&self, record: UnsealedAudit) -> Result<AuditRecord, StoreError> {
        let (done, answer) = oneshot::channel();
        self.requests
            .send(Request {
                record,
                done,
                before_round: false,
            })
            .map_err(|_| StoreError::AuditSealing)?;
        answer.await.map_err(|_| StoreError::AuditSealing)?
    }
}

/// Runs the sealer on a thread with a single-threaded runtime of its own, which also owns the
/// sealer's connection (its socket is polled by that runtime). On the gateway's runtime, each
/// round trip of a round waited, once answered, until a worker was free and next polled for I/O:
/// behind the very requests the last round had just woken (each serialising its answer), and
/// on a busy machine for milliseconds. Every mutation waits for a round, so those delays were
/// the mutations' tail. This thread sleeps in `epoll` between round trips and is woken for its
/// own socket alone. The thread ends with the task, when the last `AuditSealer` is dropped.
fn spawn_thread(task: impl std::future::Future<Output = ()> + Send + 'static) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let started = runtime.map_err(|error| error.to_string()).and_then(|runtime| {
        std::thread::Builder::new()
            .name("audit-sealer".to_owned())
            .spawn(move || runtime.block_on(task))
            .map_err(|error| error.to_string())
    });
    if let Err(error) = started {
        // The requests' receiver is gone with the task: every seal fails (closed), and the
        // mutations are not acknowledged.
        tracing::error!(%error, "the audit sealer could not start");
    }
}

/// The sealer's own connection, held across rounds rather than taken from a pool: sqlx pings a
/// pooled connection each time it is given back (and by default before handing it out), so a
/// round through a pool costs one or two more round trips, and every waiting mutation waits for
/// them. Opened when first needed, pinged first only after a pause (as the shared pool does),
/// and dropped after any failure, so the next round starts on a fresh connection whatever state
/// this one was left in (the server ends its transaction and the chain lock with it).
struct OwnConnection {
    options: PgConnectOptions,
    /// How long opening may take (the pool's acquire timeout: an outage fails the round fast).
    connect_timeout: Duration,
    conn: Option<PgConnection>,
    used: Instant,
}

impl OwnConnection {
    fn new(pool: &PgPool) -> Self {
        let options = pool.connect_options().as_ref().clone();
        // Named so an operator can tell it apart in `pg_stat_activity` (keeping the name the
        // URL gave the gateway's connections, if any).
        let name = match options.get_application_name() {
            Some(given) => format!("{given} (audit sealer)"),
            None => SEALER_APPLICATION_NAME.to_owned(),
        };
        Self {
            options: options.application_name(&name),
            connect_timeout: pool.options().get_acquire_timeout(),
            conn: None,
            used: Instant::now(),
        }
    }

    /// The connection: opened if there is none, pinged first if it sat idle a while (and
    /// opened again if that fails).
    async fn get(&mut self) -> Result<&mut PgConnection, StoreError> {
        let stale = match &mut self.conn {
            Some(conn) if self.used.elapsed() >= PING_IF_IDLE_FOR => conn.ping().await.is_err(),
            _ => false,
        };
        if stale {
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => tokio::time::timeout(self.connect_timeout, PgConnection::connect_with(&self.options))
                .await
                .map_err(|_elapsed| StoreError::Database(sqlx::Error::PoolTimedOut))??,
        };
        self.used = Instant::now();
        Ok(self.conn.insert(conn))
    }

    /// Forgets the connection after a failure.
    fn discard(&mut self) {
        self.conn = None;
    }

    /// Whether a connection is held from an earlier round (which the server, a restart or a
    /// proxy may have closed since without this side knowing).
    fn holds_one(&self) -> bool {
        self.conn.is_some()
    }
}

/// Records this sealer placed in the chain before their mutation asked for them: the mutation
/// committed, a round already running read its id from the queue, and its request arrived only
/// after that round had read the queue. The request that follows is answered from here (at
/// most `RECENT` kept, oldest dropped first; a request that finds nothing here reads the chain).
struct Recent<V> {
    order: VecDeque<Uuid>,
    records: HashMap<Uuid, V>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Self {
            order: VecDeque::new(),
            records: HashMap::new(),
        }
    }
}

impl<V> Recent<V> {
    fn keep(&mut self, id: Uuid, record: V) {
        if self.order.len() == RECENT
            && let Some(oldest) = self.order.pop_front()
        {
            self.records.remove(&oldest);
        }
        self.order.push_back(id);
        self.records.insert(id, record);
    }

    fn take(&mut self, id: &Uuid) -> Option<V> {
        self.records.remove(id)
    }
}

/// The sealer's requests: who waits for which record, and what it sealed before anyone asked.
#[derive(Default)]
struct Waiting {
    requests: HashMap<Uuid, Request>,
    recent: Recent<AuditRecord>,
}

impl Waiting {
    /// Takes `request`, or answers it at once when its record is already sealed here.
    fn add(&mut self, request: Request) {
        match self.recent.take(&request.record.id) {
            Some(sealed) => {
                let _ = request.done.send(Ok(sealed));
            }
            None => {
                self.requests.insert(request.record.id, request);
            }
        }
    }

    /// Takes every request queued by now.
    fn drain(&mut self, queue: &mut mpsc::UnboundedReceiver<Request>) {
        while let Ok(request) = queue.try_recv() {
            self.add(request);
        }
    }

    fn fail_all(&mut self) {
        for (_, request) in self.requests.drain() {
            let _ = request.done.send(Err(StoreError::AuditSealing));
        }
    }
}

/// Seals what earlier runs left unsealed (a crash between a mutation's commit and its seal);
/// answers how many records it sealed.
pub(super) async fn seal_backlog(pool: &PgPool) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await?;
    queue_legacy_unsealed(&mut conn).await?;
    let mut nobody = Waiting::default();
    let mut total = 0;
    loop {
        let sealed = seal_batch(&mut conn, &mut nobody, None).await?;
        total += sealed.len() as u64;
        if sealed.len() < BATCH {
            return Ok(total);
        }
    }
}

/// Moves the records an earlier release left unsealed in `audit_records` (it sealed in place)
/// into the queue, under the chain lock so no such sealer is halfway through them.
async fn queue_legacy_unsealed(conn: &mut PgConnection) -> Result<(), StoreError> {
    let mut tx = conn.begin().await?;
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

async fn run(mut own: OwnConnection, mut queue: mpsc::UnboundedReceiver<Request>) {
    let mut waiting = Waiting::default();
    let mut last_round = Instant::now();
    loop {
        if waiting.requests.is_empty() {
            match tokio::time::timeout(SWEEP_WHEN_IDLE, queue.recv()).await {
                Ok(Some(first)) => waiting.add(first),
                Ok(None) => return,
                Err(_idle) => {
                    // A mutation whose caller went away between its commit and its seal
                    // request left its record unsealed; chain it now rather than at the next
                    // start (kept in `recent`, should its request come after all).
                    if let Err(error) = sweep(&mut own, &mut waiting).await {
                        own.discard();
                        tracing::warn!(?error, "sealing left-over audit records failed");
                    }
                    continue;
                }
            }
        }
        tokio::time::sleep_until((last_round + ROUND_EVERY).into()).await;
        // Everything that arrived while the last round was sealing goes into this one.
        while waiting.requests.len() < BATCH {
            let Ok(next) = queue.try_recv() else { break };
            waiting.add(next);
        }
        if !waiting.requests.is_empty() {
            last_round = Instant::now();
            round(&mut own, &mut waiting, &mut queue).await;
        }
    }
}

/// Seals whatever is queued when nobody asked, keeping what it seals in `recent`.
async fn sweep(own: &mut OwnConnection, waiting: &mut Waiting) -> Result<(), StoreError> {
    let conn = own.get().await?;
    queue_legacy_unsealed(conn).await?;
    loop {
        let sealed = seal_batch(conn, waiting, None).await?;
        let full = sealed.len() == BATCH;
        for record in sealed {
            waiting.recent.keep(record.id, record);
        }
        if !full {
            return Ok(());
        }
    }
}

/// One sealing transaction, then answers: each waiting mutation whose record it sealed, and
/// each that waited since before it began and whose record it did not find in the queue
/// (another instance's sealer chained it: answered with what that one stored). A request that
/// arrived while the round ran and whose record it did not seal waits for the next round.
async fn round(own: &mut OwnConnection, waiting: &mut Waiting, queue: &mut mpsc::UnboundedReceiver<Request>) {
    for request in waiting.requests.values_mut() {
        request.before_round = true;
    }
    let held = own.holds_one();
    let mut sealed = seal_on(own, waiting, queue).await;
    if let Err(error) = &sealed
        && held
    {
        // A held connection can be gone without this side knowing (the server restarted, a
        // proxy closed it): the waiting mutations are committed, so try once more on a fresh
        // one before failing them. Had the failed round committed after all, its records are
        // no longer queued and are answered below as sealed elsewhere.
        tracing::warn!(
            ?error,
            "sealing audit records failed; retrying on a new connection"
        );
        sealed = seal_on(own, waiting, queue).await;
    }
    let sealed = match sealed {
        Ok(sealed) => sealed,
        Err(error) => {
            // The mutations are committed; their records stay unsealed until the next
            // round seals them, but none of them is acknowledged now.
            tracing::error!(?error, "sealing audit records failed");
            waiting.fail_all();
            return;
        }
    };
    let full = sealed.len() == BATCH;
    for record in sealed {
        match waiting.requests.remove(&record.id) {
            Some(request) => {
                let _ = request.done.send(Ok(record));
            }
            // Sealed from its row: its request has not come yet.
            None => waiting.recent.keep(record.id, record),
        }
    }
    if full {
        // More may be queued ahead of the ones still waiting: the next round seals them.
        return;
    }
    let elsewhere: Vec<Uuid> = waiting
        .requests
        .values()
        .filter(|request| request.before_round)
        .map(|request| request.record.id)
        .collect();
    for id in elsewhere {
        // Committed before this round read the queue, so visible to it, yet not queued any
        // more: another instance's sealer chained it.
        if let Some(request) = waiting.requests.remove(&id) {
            let answer = match own.get().await {
                Ok(conn) => sealed_by_id(conn, id).await,
                Err(error) => Err(error),
            };
            if answer.is_err() {
                own.discard();
            }
            let _ = request.done.send(answer);
        }
    }
}

/// One `seal_batch` on the sealer's connection, which is dropped if anything fails.
async fn seal_on(
    own: &mut OwnConnection,
    waiting: &mut Waiting,
    queue: &mut mpsc::UnboundedReceiver<Request>,
) -> Result<Vec<AuditRecord>, StoreError> {
    let sealed = match own.get().await {
        Ok(conn) => seal_batch(conn, waiting, Some(queue)).await,
        Err(error) => Err(error),
    };
    if sealed.is_err() {
        own.discard();
    }
    sealed
}

async fn sealed_by_id(conn: &mut PgConnection, id: Uuid) -> Result<AuditRecord, StoreError> {
    let row: Option<AuditRow> = sqlx::query_as(sql::SEALED_AUDIT_BY_ID)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.ok_or(StoreError::AuditSealing)?.try_into()
}

/// Seals up to `BATCH` of the oldest unsealed records after the chain head, in one transaction
/// under the chain lock. A record some waiting request wrote is hashed from the body it passed;
/// requests that arrived by the time the queue's ids are read (`queue`) count too, so a record
/// committed just before is not read whole. Answers the records sealed, in chain order.
async fn seal_batch(
    conn: &mut PgConnection,
    waiting: &mut Waiting,
    queue: Option<&mut mpsc::UnboundedReceiver<Request>>,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut tx = begin_locked_audit_chain(conn).await?;
    let head: Option<(i64, String)> = sqlx::query_as(sql::LAST_AUDIT).fetch_optional(&mut *tx).await?;
    // Ids first: this process's own records are hashed from the bodies it holds, so only the
    // others' rows (another instance's, a crash's, a request still on its way) are read whole.
    let ids: Vec<Uuid> = sqlx::query_scalar(sql::UNSEALED_AUDIT_IDS)
        .bind(BATCH as i64)
        .fetch_all(&mut *tx)
        .await?;
    if ids.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    if let Some(queue) = queue {
        waiting.drain(queue);
    }
    let own = &waiting.requests;
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
            Some(request) => request.record.clone(),
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

/// Opens a transaction and takes the chain lock in one round trip (two statements in one
/// simple query; the key is `AUDIT_CHAIN_LOCK`, checked by a test).
const BEGIN_LOCKED_AUDIT_CHAIN: &str = "begin; select pg_advisory_xact_lock(7451255480089078132)";

/// A transaction holding the chain lock (see `lock_audit_chain`), opened in one round trip
/// instead of two.
async fn begin_locked_audit_chain(
    conn: &mut PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, StoreError> {
    Ok(conn.begin_with(BEGIN_LOCKED_AUDIT_CHAIN).await?)
}

/// Shared between a store's clones: the sealer starts with the first mutation that needs it.
pub(super) type SealerCell = Arc<std::sync::OnceLock<AuditSealer>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locking_begin_takes_the_chain_lock() {
        assert!(BEGIN_LOCKED_AUDIT_CHAIN.ends_with(&format!("pg_advisory_xact_lock({AUDIT_CHAIN_LOCK})")));
    }

    /// The sealer does not need the runtime of whoever started it: its rounds run (and answer)
    /// while that runtime is not running at all, as they must while its workers are busy.
    #[test]
    fn the_sealer_answers_while_the_runtime_that_started_it_is_idle() {
        let starter = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A lazy pool to a port nothing listens on: the round fails at once and answers so.
        let sealer = starter.block_on(async {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .acquire_timeout(Duration::from_secs(5))
                .connect_lazy("postgres://gatehouse@127.0.0.1:1/none")
                .unwrap();
            AuditSealer::spawn(&pool)
        });
        // `starter` is never driven again from here: a task spawned on it would never run.
        let (answered, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let caller = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let actor = crate::domain::Actor {
                actor_type: crate::domain::ActorType::User,
                id: "alice".into(),
            };
            let record = UnsealedAudit::new(
                crate::audit::NewAuditRecord::new(actor, "app_artifact.promote", "req-1"),
                chrono::Utc::now(),
            );
            let _ = answered.send(caller.block_on(sealer.seal(record)));
        });
        let outcome = answer
            .recv_timeout(Duration::from_secs(60))
            .expect("the sealer answered without its starter's runtime");
        assert!(matches!(outcome, Err(StoreError::AuditSealing)), "{outcome:?}");
        drop(starter);
    }

    #[test]
    fn recent_keeps_at_most_its_bound_and_drops_the_oldest_first() {
        let mut recent = Recent::default();
        let ids: Vec<Uuid> = (0..=RECENT).map(|_| Uuid::now_v7()).collect();
        for id in &ids {
            recent.keep(*id, ());
        }
        assert!(recent.records.len() <= RECENT && recent.order.len() <= RECENT);
        assert_eq!(recent.take(&ids[0]), None, "the oldest went first");
        assert_eq!(recent.take(&ids[RECENT]), Some(()));
        assert_eq!(recent.take(&ids[RECENT]), None, "answered once");
    }
}
