//! PostgreSQL: the production backend, shared by many gateway instances.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use super::pg_reads::{CoalescedReads, Key};
use super::rows::ArtifactRow;
use super::sealer::{AuditSealer, SealerCell, seal_backlog};
use super::{PING_IF_IDLE_FOR, PoolFigures, Store, StoreError, sql};
use crate::audit::{AuditRecord, DecisionRecord, UnsealedAudit};
use crate::domain::{ArtifactId, Digest, ProjectSlug, RepositoryPath};

mod connect_options;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Chains the audit records mutations commit unsealed (see `sealer`).
    sealer: SealerCell,
    /// Coalesces the artifact reads by id and by digest (see `pg_reads`).
    reads_task: Arc<OnceLock<CoalescedReads>>,
    /// The decision inputs seen committed, not sent again (see `pg_decisions`).
    known_inputs: Arc<super::pg_decisions::KnownInputs>,
}

impl PostgresStore {
    /// Connects to `url` (migrations are not run: call `Store::migrate`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, super::DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Connects to `url`; a request waits at most `acquire_timeout` for a connection, so an
    /// outage answers 503 fast and the pool reconnects by itself once the server is back.
    pub async fn connect_with(url: &str, acquire_timeout: Duration) -> Result<Self, StoreError> {
        Self::connect_sized(url, acquire_timeout, super::DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like `connect_with`, opening at most `max_connections` (the audit sealer opens one more
    /// of its own). A server on this host is reached without TLS unless the URL or the
    /// environment asks for it (see `connect_options`).
    pub async fn connect_sized(
        url: &str,
        acquire_timeout: Duration,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            // sqlx pings every connection before handing it out: a round trip to the server
            // (and a wake-up of its backend) per review read and per decision batch. A
            // connection in steady use has just answered its last statement and been pinged on
            // release, so only one that sat idle a while is pinged (after an outage, every one).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect_options::connect_options(url)?)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        super::pg_decisions::note_pool_tls(pool.connect_options().get_ssl_mode());
        Self {
            pool,
            sealer: SealerCell::default(),
            reads_task: Arc::default(),
            known_inputs: Arc::default(),
        }
    }

    /// The underlying pool (for tests and maintenance tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The pool reads outside a transaction use: the same pool (PostgreSQL's connections all
    /// read and write concurrently).
    pub fn reads(&self) -> &PgPool {
        &self.pool
    }

    /// An artifact by id, read together with the lookups queued beside it (`pg_reads`).
    pub(super) async fn artifact_by_id_inline(
        &self,
        id: ArtifactId,
    ) -> Option<Result<Option<ArtifactRow>, StoreError>> {
        self.coalesced().read(Key::Id(id.0)).await
    }

    /// A project's artifact by digest, read together with the lookups queued beside it; one in
    /// a given repository (not the review's question) through the pool.
    pub(super) async fn artifact_by_digest_inline(
        &self,
        project: &ProjectSlug,
        digest: &Digest,
        repository: Option<&RepositoryPath>,
    ) -> Option<Result<Option<ArtifactRow>, StoreError>> {
        if repository.is_some() {
            return None;
        }
        let key = Key::Digest {
            project: project.as_str().to_owned(),
            digest: digest.as_str().to_owned(),
        };
        self.coalesced().read(key).await
    }

    /// The coalescing task, started on first use (inside the runtime that serves requests).
    fn coalesced(&self) -> &CoalescedReads {
        self.reads_task
            .get_or_init(|| CoalescedReads::spawn(self.pool.clone()))
    }

    /// Inserts a decision-log batch, each distinct input stored once (see `pg_decisions`).
    pub(super) async fn insert_decision_batch_in(
        &self,
        conn: &mut PgConnection,
        decisions: &[DecisionRecord],
    ) -> Result<(), StoreError> {
        super::pg_decisions::insert_decision_batch(conn, decisions, &self.known_inputs).await
    }

    /// Inserts a batch of decisions with one `unnest` statement (see `pg_decisions`).
    pub(super) async fn insert_decisions_in(
        conn: &mut PgConnection,
        decisions: &[DecisionRecord],
    ) -> Result<(), StoreError> {
        super::pg_decisions::insert_decisions(conn, decisions).await
    }

    /// The statement that writes `change`'s evidence and promotion with its audit record and
    /// `decisions` (see `pg_history`).
    pub(super) fn history_items(
        change: &super::ArtifactChange,
        decisions: usize,
    ) -> Option<(&'static str, super::pg_history::BindHistory)> {
        super::pg_history::history_items(change, decisions)
    }

    /// Registration reads the new row back from its insert (`returning`): one round trip.
    const INSERT_RETURNS_ARTIFACT: bool = true;

    /// Evidence details and promotion decisions are `jsonb` (keys reordered), their times
    /// `timestamptz` (microseconds): see `written_history`.
    const HISTORY_AS_JSONB: bool = true;

    /// Audit records are written unsealed and chained by the sealer after commit, so mutations
    /// do not hold the chain lock across their commits.
    const SEALS_AFTER_COMMIT: bool = true;

    /// Waits for the sealer to chain `record`, which the caller's transaction committed.
    async fn seal_committed(&self, record: UnsealedAudit) -> Result<AuditRecord, StoreError> {
        self.sealer
            .get_or_init(|| AuditSealer::spawn(&self.pool))
            .seal(record)
            .await
    }

    /// Serializes chain appenders: the sealer's transaction-scoped lock.
    async fn lock_audit_chain(conn: &mut PgConnection) -> Result<(), StoreError> {
        super::sealer::lock_audit_chain(conn).await
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    /// Runs the migrations, then takes the artifact table's first statistics once it has
    /// rows (see `pg_statistics`).
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        super::pg_statistics::watch_first_statistics(self.pool.clone());
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    /// Chains the records a crash left unsealed; answers how many.
    async fn seal_audit_backlog(&self) -> Result<u64, StoreError> {
        seal_backlog(&self.pool).await
    }

    /// The one pool.
    fn pool_figures(&self) -> Vec<PoolFigures> {
        vec![PoolFigures::of("primary", &self.pool)]
    }
}

super::shared::store_impl!(PostgresStore, sqlx::Postgres);
