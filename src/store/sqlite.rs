//! SQLite: the embedded default, so `gatehouse serve` works with no database server.
//!
//! One writer connection and, beside it, a few read-only connections (`sqlite_reads`). SQLite allows one
//! writer at a time, and in WAL mode readers never wait for it: each read sees the last
//! committed state at the moment it starts, so a request that reads after its write committed
//! sees that write.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

use super::rows::ArtifactRow;
use super::sqlite_inline::{InlineReads, InlineWriter};
use super::sqlite_reads::SqliteReads;
use super::{PoolFigures, Store, StoreError, sql};
use crate::audit::{AuditRecord, DecisionRecord, UnsealedAudit};
use crate::domain::{ArtifactId, Digest, ProjectSlug, RepositoryPath};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Read-only connections beside the writer: enough to keep both cores of a small machine busy
/// while the writer commits, few enough that idle ones cost nothing worth counting.
const READ_CONNECTIONS: usize = 4;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// The single writer: every write and every read inside a write transaction.
    pool: SqlitePool,
    /// Read-only connections for reads outside a transaction; the writer itself when the
    /// database cannot share (in memory, or not in WAL mode).
    reads: SqliteReads,
    /// The review's artifact lookups, run on the calling thread (`sqlite_inline`); only beside
    /// separate read connections (a file in WAL mode).
    inline: Option<Arc<InlineReads>>,
    /// The decision-log batches, written on a thread of their own while the caller holds the
    /// writer (`sqlite_inline`); beside separate read connections only, like `inline`.
    decision_writer: Option<Arc<InlineWriter>>,
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) the database at `url`, e.g.
    /// `sqlite://gatehouse-data/gatehouse.db` or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, super::DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Like `connect`; a request waits at most `acquire_timeout` for the writer or a reader, so
    /// a stuck database answers 503 fast instead of piling requests up.
    pub async fn connect_with(url: &str, acquire_timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A decision is answered only once durable (DESIGN.md): FULL syncs the WAL at every
            // commit. NORMAL would be faster but could lose answered decisions on power loss.
            // (FULL is also SQLite's default; stated here so nobody weakens it unnoticed.)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let file = options.get_filename();
        // In-memory databases have no file (their name is not a path), so nothing to create.
        if let Some(dir) = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && file != Path::new(":memory:"))
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        // One writer connection: SQLite allows one writer, and a deferred transaction that reads
        // the chain head then writes can fail with SQLITE_BUSY mid-way if another connection got
        // there first. A single writer makes every transaction, and so every audit-chain append,
        // strictly serial; it also keeps a `:memory:` database one database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(acquire_timeout)
            // An embedded connection cannot hang up: the pool's ping before each use would only
            // add a round trip to the connection's thread (its ping on release stays).
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let shares = Self::shares_reads(&pool).await?;
        let reads = if shares {
            // Opened after the writer, so the file, its WAL and shared-memory index exist (a
            // read-only connection cannot create them). No journal mode: a reader may not set it.
            let read_options = SqliteConnectOptions::from_str(url)?
                .read_only(true)
                .busy_timeout(Duration::from_secs(5));
            SqliteReads::open(read_options, READ_CONNECTIONS, acquire_timeout).await?
        } else {
            SqliteReads::through_writer(pool.clone())
        };
        let inline = shares.then(|| Arc::new(InlineReads::new(file, READ_CONNECTIONS)));
        let decision_writer = if shares {
            // Without the thread, batches go through sqlx as before.
            InlineWriter::spawn(file)
                .map_err(|error| tracing::warn!(%error, "no SQLite decision-writer thread; writing decisions through the pool"))
                .ok()
                .map(Arc::new)
        } else {
            None
        };
        Ok(Self {
            pool,
            reads,
            inline,
            decision_writer,
        })
    }

    /// Whether separate connections can read beside the writer: only a file in WAL mode. An
    /// in-memory database is private to its connection (or, shared-cache, locked table by
    /// table, which makes readers fail rather than wait); a rollback journal blocks readers
    /// while the writer commits.
    async fn shares_reads(writer: &SqlitePool) -> Result<bool, StoreError> {
        let (mode,): (String,) = sqlx::query_as("pragma journal_mode").fetch_one(writer).await?;
        let files: Vec<(i64, String, String)> =
            sqlx::query_as("pragma database_list").fetch_all(writer).await?;
        let on_disk = files
            .iter()
            .any(|(_, name, file)| name == "main" && !file.is_empty());
        Ok(on_disk && mode.eq_ignore_ascii_case("wal"))
    }

    /// Wraps an existing pool for reads and writes alike (it should have one connection; see
    /// `connect`).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            reads: SqliteReads::through_writer(pool.clone()),
            pool,
            inline: None,
            decision_writer: None,
        }
    }

    /// The writer pool (for tests and maintenance tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Where reads outside a transaction go (read-only connections, or the writer's pool).
    pub fn reads(&self) -> &SqliteReads {
        &self.reads
    }

    /// An artifact by id, read inline when a connection is free (`None`: go through sqlx).
    pub(super) async fn artifact_by_id_inline(&self, id: ArtifactId) -> Option<Option<ArtifactRow>> {
        let row = self.inline.as_ref()?.artifact_by_id(id.0)?;
        yield_if_due().await;
        Some(row)
    }

    /// An artifact by digest, read inline when a connection is free (`None`: go through sqlx).
    pub(super) async fn artifact_by_digest_inline(
        &self,
        project: &ProjectSlug,
        digest: &Digest,
        repository: Option<&RepositoryPath>,
    ) -> Option<Option<ArtifactRow>> {
        let row = self.inline.as_ref()?.artifact_by_digest(
            project.as_str(),
            digest.as_str(),
            repository.map(|r| r.as_str()),
        )?;
        yield_if_due().await;
        Some(row)
    }

    /// The decision-log batches' own writer thread, when this database has one.
    pub(super) fn decision_writer(&self) -> Option<&InlineWriter> {
        self.decision_writer.as_deref()
    }

    /// The inline readers, when this database has them.
    #[cfg(test)]
    pub(super) fn inline_reads(&self) -> Option<&InlineReads> {
        self.inline.as_deref()
    }

    /// Inserts a batch of decisions with multi-row `values` statements.
    pub(super) async fn insert_decisions_in(
        conn: &mut SqliteConnection,
        decisions: &[DecisionRecord],
    ) -> Result<(), StoreError> {
        Self::insert_decision_values_in(conn, decisions).await
    }

    /// History rows are written by their own statements here (in-process: a statement is no
    /// round trip); see PostgreSQL's `history_items`.
    #[allow(clippy::type_complexity, reason = "the same call shape as PostgreSQL's")]
    pub(super) fn history_items(
        _change: &super::ArtifactChange,
        _decisions: usize,
    ) -> Option<(&'static str, fn(SqliteQuery<'_>) -> SqliteQuery<'_>)> {
        None
    }

    /// `insert … returning` is planned here with scans of the tables whose foreign keys point
    /// at `artifacts`: registration reads the new row back with a select instead.
    const INSERT_RETURNS_ARTIFACT: bool = false;

    /// History JSON is stored as written text and times at full precision: a read answers
    /// what was written (see `written_history`).
    const HISTORY_AS_JSONB: bool = false;

    /// Audit records are chained inside their mutation's transaction: the single writer
    /// serializes commits anyway, so sealing later would save nothing.
    const SEALS_AFTER_COMMIT: bool = false;

    /// Never reached: records are sealed before commit here. Fails closed if it ever is.
    async fn seal_committed(&self, _record: UnsealedAudit) -> Result<AuditRecord, StoreError> {
        Err(StoreError::AuditSealing)
    }

    /// Nothing to take: the single connection already serializes chain appenders.
    async fn lock_audit_chain(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }
}

/// An inline read never suspends, so a task that only reads (a poller, a loop of reads) would hold
/// its thread forever: it counts against tokio's cooperative budget like any other I/O and
/// yields once that is spent.
async fn yield_if_due() {
    tokio::task::consume_budget().await;
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    /// Nothing can be left unsealed: records are sealed in their mutation's transaction.
    async fn seal_audit_backlog(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// The writer pool, and the read-only connections when they are separate.
    fn pool_figures(&self) -> Vec<PoolFigures> {
        let mut figures = vec![PoolFigures::of("primary", &self.pool)];
        figures.extend(self.reads.figures());
        figures
    }
}

super::shared::store_impl!(SqliteStore, sqlx::Sqlite);
