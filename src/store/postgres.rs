//! PostgreSQL: the production backend, shared by many gateway instances.

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};

use super::StoreError;
use crate::audit::DecisionRecord;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Advisory lock key that serializes audit-chain appends across every instance
/// (ASCII "gh-audit" as a big-endian i64).
const AUDIT_CHAIN_LOCK: i64 = 0x6768_2d61_7564_6974;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (migrations are not run: call `Store::migrate`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().max_connections(10).connect(url).await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
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

    /// Inserts a batch of decisions with one `unnest` statement (see `pg_decisions`).
    pub(super) async fn insert_decisions_in(
        conn: &mut PgConnection,
        decisions: &[DecisionRecord],
    ) -> Result<(), StoreError> {
        super::pg_decisions::insert_decisions(conn, decisions).await
    }

    /// Takes the transaction-scoped chain lock, so two instances never read the same last
    /// record and fork the chain; it is released at commit or rollback.
    async fn lock_audit_chain(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(AUDIT_CHAIN_LOCK)
            .execute(conn)
            .await?;
        Ok(())
    }
}

super::shared::store_impl!(PostgresStore, sqlx::Postgres, MIGRATOR);
