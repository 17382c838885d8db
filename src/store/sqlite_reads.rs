//! SQLite's read-only connections, used directly rather than through sqlx's pool.
//!
//! A SQLite connection in sqlx is a worker thread: every statement is a hand-off to that thread
//! and back. sqlx's pool adds two more round trips to every use — a ping when the connection is
//! acquired and another when it is released (in a task spawned for it) — which protect a network
//! connection that may have hung up, something an embedded connection cannot do. On the review
//! path that was three thread round trips, with their context switches, where one does the
//! work. Here a read locks one of a few connections, runs its one statement and unlocks it.
//!
//! Coherence is SQLite's own: each read sees the last commit at the moment it starts (WAL), the
//! same as through the pool. Nothing is cached, artifacts included: this process is not known to
//! be the database's only writer (two gateways may serve one file, `tests/verify_races.rs`), and
//! a cache here could not see another process's revocation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream};
use futures_util::{FutureExt, StreamExt, TryFutureExt, TryStreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteQueryResult, SqliteRow, SqliteStatement, SqliteTypeInfo};
use sqlx::{
    ConnectOptions, Describe, Either, Execute, Executor, SqlStr, Sqlite, SqliteConnection, SqlitePool,
};
use tokio::sync::{Mutex, MutexGuard};

/// Where a `SqliteStore` reads outside a transaction: its own read-only connections, or the
/// writer's pool when the database cannot be shared (in memory, or not in WAL mode).
#[derive(Debug, Clone)]
pub struct SqliteReads(Readers);

#[derive(Debug, Clone)]
enum Readers {
    Direct(Arc<ReadConnections>),
    Writer(SqlitePool),
}

impl SqliteReads {
    /// Opens `count` read-only connections with `options` (now, so a database that cannot be
    /// read fails start-up rather than the first request).
    pub(super) async fn open(
        options: SqliteConnectOptions,
        count: usize,
        acquire_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let mut slots = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            slots.push(Mutex::new(Some(options.connect().await?)));
        }
        Ok(Self(Readers::Direct(Arc::new(ReadConnections {
            options,
            slots,
            next: AtomicUsize::new(0),
            acquire_timeout,
        }))))
    }

    /// Reads through the writer's pool.
    pub(super) fn through_writer(pool: SqlitePool) -> Self {
        Self(Readers::Writer(pool))
    }

    /// The read-only connections' figures for `/metrics`, when they are separate from the
    /// writer (a connection is idle when no read holds it).
    pub(super) fn figures(&self) -> Option<super::PoolFigures> {
        let Readers::Direct(reads) = &self.0 else {
            return None;
        };
        let size = u32::try_from(reads.slots.len()).unwrap_or(u32::MAX);
        let idle = reads.slots.iter().filter(|slot| slot.try_lock().is_ok()).count();
        Some(super::PoolFigures {
            pool: "reads",
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max: size,
        })
    }
}

/// A few read-only connections, each used by one read at a time.
#[derive(Debug)]
struct ReadConnections {
    /// To reopen a connection whose worker thread died.
    options: SqliteConnectOptions,
    /// `None` once a connection's worker is gone; the next read there reopens it.
    slots: Vec<Mutex<Option<SqliteConnection>>>,
    /// Where the next read starts looking, so reads spread over the connections.
    next: AtomicUsize,
    /// How long a read waits for a busy connection before failing (as the pool's acquire would).
    acquire_timeout: Duration,
}

type Slot<'a> = MutexGuard<'a, Option<SqliteConnection>>;

impl ReadConnections {
    /// A free connection if there is one, otherwise the next in turn once it is free.
    async fn acquire(&self) -> Result<Slot<'_>, sqlx::Error> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.slots.len();
        let free = (0..count).find_map(|i| self.slots[(start + i) % count].try_lock().ok());
        let mut slot = match free {
            Some(slot) => slot,
            None => tokio::time::timeout(self.acquire_timeout, self.slots[start % count].lock())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?,
        };
        if slot.is_none() {
            *slot = Some(self.options.connect().await?);
        }
        Ok(slot)
    }
}

/// A connection whose worker thread is gone is dropped, to be reopened by the next read that
/// picks its slot.
fn settle<T>(slot: &mut Slot<'_>, outcome: &Result<T, sqlx::Error>) {
    if matches!(outcome, Err(sqlx::Error::WorkerCrashed)) {
        **slot = None;
    }
}

/// Runs one executor call on an acquired read connection.
macro_rules! on_reader {
    ($reads:expr, |$conn:ident| $call:expr) => {{
        let reads = Arc::clone($reads);
        async move {
            let mut slot = reads.acquire().await?;
            let outcome = match slot.as_mut() {
                Some($conn) => $call.await,
                None => Err(sqlx::Error::PoolClosed),
            };
            settle(&mut slot, &outcome);
            outcome
        }
    }};
}

type RowOrResult = Either<SqliteQueryResult, SqliteRow>;

impl<'p> Executor<'p> for &'_ SqliteReads {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<RowOrResult, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        match &self.0 {
            Readers::Writer(pool) => pool.fetch_many(query),
            Readers::Direct(reads) => {
                // The rows are gathered while the connection is held, then streamed: a stream
                // that borrowed the connection would have to own its lock too.
                on_reader!(reads, |conn| conn.fetch_many(query).try_collect::<Vec<_>>())
                    .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
                    .try_flatten_stream()
                    .boxed()
            }
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        match &self.0 {
            Readers::Writer(pool) => pool.fetch_optional(query),
            Readers::Direct(reads) => on_reader!(reads, |conn| conn.fetch_optional(query)).boxed(),
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        match &self.0 {
            Readers::Writer(pool) => pool.prepare_with(sql, parameters),
            Readers::Direct(reads) => on_reader!(reads, |conn| conn.prepare_with(sql, parameters)).boxed(),
        }
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Sqlite>, sqlx::Error>>
    where
        'p: 'e,
    {
        match &self.0 {
            Readers::Writer(pool) => pool.describe(sql),
            Readers::Direct(reads) => on_reader!(reads, |conn| conn.describe(sql)).boxed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// A file database in WAL mode with one table, and `count` read connections on it.
    async fn reads_on_a_file(dir: &tempfile::TempDir, count: usize, wait: Duration) -> SqliteReads {
        let url = format!("sqlite://{}", dir.path().join("reads.db").display());
        let writer = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut conn = writer.connect().await.unwrap();
        sqlx::query("create table t (x integer)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("insert into t values (7)")
            .execute(&mut conn)
            .await
            .unwrap();
        let read_only = SqliteConnectOptions::from_str(&url).unwrap().read_only(true);
        SqliteReads::open(read_only, count, wait).await.unwrap()
    }

    fn direct(reads: &SqliteReads) -> &ReadConnections {
        match &reads.0 {
            Readers::Direct(connections) => connections,
            Readers::Writer(_) => panic!("a file in WAL mode reads on its own connections"),
        }
    }

    async fn read_x(reads: &SqliteReads) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("select x from t").fetch_one(reads).await
    }

    #[tokio::test]
    async fn a_read_waits_for_a_busy_connection_only_up_to_the_acquire_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let reads = reads_on_a_file(&dir, 1, Duration::from_millis(50)).await;
        let held = direct(&reads).acquire().await.unwrap();
        assert!(
            matches!(read_x(&reads).await, Err(sqlx::Error::PoolTimedOut)),
            "the only connection is busy: the read fails as a pool timeout would (503)"
        );
        drop(held);
        assert_eq!(
            read_x(&reads).await.unwrap(),
            7,
            "free again: the read goes through"
        );
    }

    #[tokio::test]
    async fn a_dropped_connection_is_reopened_by_the_next_read() {
        let dir = tempfile::tempdir().unwrap();
        let reads = reads_on_a_file(&dir, 2, Duration::from_secs(1)).await;
        for slot in &direct(&reads).slots {
            *slot.lock().await = None;
        }
        assert_eq!(read_x(&reads).await.unwrap(), 7);
        let listed: Vec<i64> = sqlx::query_scalar("select x from t")
            .fetch_all(&reads)
            .await
            .unwrap();
        assert_eq!(listed, [7], "rows gathered then streamed");
    }

    #[tokio::test]
    async fn read_connections_refuse_writes() {
        let dir = tempfile::tempdir().unwrap();
        let reads = reads_on_a_file(&dir, 1, Duration::from_secs(1)).await;
        assert!(
            sqlx::query("insert into t values (8)")
                .execute(&reads)
                .await
                .is_err()
        );
        assert_eq!(read_x(&reads).await.unwrap(), 7);
    }
}
