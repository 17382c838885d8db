//! PostgreSQL: the production backend, shared by many gateway instances.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use super::StoreError;
use super::sealer::{AuditSealer, SealerCell, seal_backlog};
use crate::audit::{AuditRecord, DecisionRecord, UnsealedAudit};
use crate::domain::{Artifact, ArtifactId, Digest, ProjectSlug, RepositoryPath};

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Advisory lock key that serializes audit-chain appends across every instance
/// (ASCII "gh-audit" as a big-endian i64).
const AUDIT_CHAIN_LOCK: i64 = 0x6768_2d61_7564_6974;

/// Opens a transaction and takes the chain lock in one round trip (two statements in one
/// simple query; the key is `AUDIT_CHAIN_LOCK`, checked by a test).
const BEGIN_LOCKED_AUDIT_CHAIN: &str = "begin; select pg_advisory_xact_lock(7451255480089078132)";

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Chains the audit records mutations commit unsealed (see `sealer`).
    sealer: SealerCell,
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
    /// of its own).
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
            .connect(url)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            sealer: SealerCell::default(),
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

    /// An artifact by id: one pooled read (no per-process copy, see `sqlite_inline`).
    pub(super) async fn get_artifact_impl(&self, id: ArtifactId) -> Result<Option<Artifact>, StoreError> {
        self.get_artifact_pooled(id).await
    }

    /// An artifact by digest: one pooled read.
    pub(super) async fn find_artifact_by_digest_impl(
        &self,
        project: &ProjectSlug,
        digest: &Digest,
        repository: Option<&RepositoryPath>,
    ) -> Result<Option<Artifact>, StoreError> {
        self.find_artifact_by_digest_pooled(project, digest, repository)
            .await
    }

    /// The one pool.
    pub(super) fn pool_figures_impl(&self) -> Vec<super::PoolFigures> {
        vec![super::PoolFigures::of("primary", &self.pool)]
    }

    /// Inserts a batch of decisions with one `unnest` statement (see `pg_decisions`).
    pub(super) async fn insert_decisions_in(
        conn: &mut PgConnection,
        decisions: &[DecisionRecord],
    ) -> Result<(), StoreError> {
        super::pg_decisions::insert_decisions(conn, decisions).await
    }

    /// Registration reads the new row back from its insert (`returning`): one round trip.
    const INSERT_RETURNS_ARTIFACT: bool = true;

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

    /// Chains the records a crash left unsealed; answers how many.
    async fn seal_backlog_impl(&self) -> Result<u64, StoreError> {
        seal_backlog(&self.pool).await
    }

    /// A transaction holding the chain lock (see `lock_audit_chain`), opened in one round trip
    /// instead of two.
    pub(super) async fn begin_locked_audit_chain(
        pool: &PgPool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(pool.begin_with(BEGIN_LOCKED_AUDIT_CHAIN).await?)
    }

    /// Takes the transaction-scoped chain lock, so two sealers (of two instances) never read
    /// the same head and fork the chain; it is released at commit or rollback.
    pub(super) async fn lock_audit_chain(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(AUDIT_CHAIN_LOCK)
            .execute(conn)
            .await?;
        Ok(())
    }
}

super::shared::store_impl!(PostgresStore, sqlx::Postgres, MIGRATOR);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locking_begin_takes_the_chain_lock() {
        assert!(BEGIN_LOCKED_AUDIT_CHAIN.ends_with(&format!("pg_advisory_xact_lock({AUDIT_CHAIN_LOCK})")));
    }
}
