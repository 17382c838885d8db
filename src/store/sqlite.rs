//! SQLite: the embedded default, so `gatehouse serve` works with no database server.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{SqliteConnection, SqlitePool};

use super::StoreError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) the database at `url`, e.g.
    /// `sqlite://gatehouse-data/gatehouse.db` or `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
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
        // One connection: SQLite allows one writer, and a deferred transaction that reads the
        // chain head then writes can fail with SQLITE_BUSY mid-way if another connection got
        // there first. A single connection makes every transaction, and so every audit-chain
        // append, strictly serial; it also keeps a `:memory:` database one database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool (it should have one connection; see `connect`).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The underlying pool (for tests and maintenance tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Nothing to take: the single connection already serializes chain appenders.
    async fn lock_audit_chain(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }
}

super::shared::store_impl!(SqliteStore, sqlx::Sqlite, MIGRATOR);
