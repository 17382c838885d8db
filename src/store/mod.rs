//! Storage: one trait (a bundle of per-concern parts, see `Store`), two implementations
//! (PostgreSQL for production, SQLite as the embedded default). All SQL lives under this module.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use uuid::Uuid;

use crate::domain::{
    Artifact, ArtifactId, ArtifactKind, Channel, Digest, Evidence, LifecycleState, ProjectSlug, Promotion,
    TrustState, VerificationJob,
};

mod app_rows;
mod apps;
mod artifacts;
mod audit_log;
mod bundles;
mod catalog;
mod chain_status;
mod decision_batches;
mod decision_inputs;
mod decision_log;
mod events;
mod figures;
mod intents;
mod listing;
mod pg_decisions;
mod pg_history;
mod pg_reads;
mod pg_statistics;
mod plans;
mod policy_changes;
mod postgres;
mod registry_rows;
mod releases;
mod rows;
mod sealer;
mod shared;
mod sql;
mod sqlite;
mod sqlite_inline;
#[cfg(test)]
mod sqlite_inline_tests;
mod sqlite_reads;
mod stored_form;
mod verification;

pub use apps::AppStore;
pub use artifacts::ArtifactStore;
pub use audit_log::AuditStore;
pub use bundles::PolicyStore;
pub use catalog::{CatalogStore, SeedCatalogError, seed_catalog};
pub use chain_status::{ChainStatus, chain_status};
pub use decision_batches::DecisionBatchStore;
pub use decision_log::{DecisionLogError, DecisionLogWriter};
pub use events::RegistryEventStore;
pub use figures::{FigureStore, PoolFigures, QueueFigures};
pub use intents::IntentStore;
#[doc(hidden)]
pub use plans::hot_queries;
pub use policy_changes::{POLICY_CHANNEL, PolicyChangeListener, PolicyChangeStore};
pub use postgres::PostgresStore;
pub use releases::ReleaseStore;
pub use sqlite::SqliteStore;
pub use sqlite_reads::SqliteReads;
pub use verification::VerificationStore;

/// A PostgreSQL connection idle at least this long is pinged before it is used again (the
/// shared pool's and the audit sealer's own): a busy connection is not pinged per use.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The artifact changed since it was read (optimistic concurrency).
    #[error("the artifact was changed by another request; read it again and retry")]
    Conflict,
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A stored row no longer parses (someone wrote around the gateway).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The cursor given is not one this store produced.
    #[error("invalid cursor")]
    BadCursor,
    /// A committed audit record could not be placed in the hash chain (yet): the change it
    /// describes is stored, but is not acknowledged until its record is sealed.
    #[error("the audit record could not be sealed into the chain")]
    AuditSealing,
    /// The database is unreachable or failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database url names no supported backend (the url itself is never echoed: it may
    /// hold a password).
    #[error("unsupported database url: expected `postgres://`, `postgresql://` or `sqlite:`")]
    UnsupportedUrl,
}

impl StoreError {
    /// The database answered and refused the statement (a constraint, a value it cannot store),
    /// as opposed to being unreachable or failing: retrying the same data fails the same way,
    /// while retrying part of it may succeed.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(_)))
    }
}

/// Opens the store named by `url`: PostgreSQL for `postgres://`/`postgresql://`, SQLite for
/// `sqlite:`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(url, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// How long a request waits for a database connection by default (config key
/// `database_acquire_timeout_ms`).
pub const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// How many connections a PostgreSQL store opens at most by default (config key
/// `database_max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Like `connect`, waiting at most `acquire_timeout` for a pooled connection.
pub async fn connect_with(
    url: &str,
    acquire_timeout: std::time::Duration,
) -> Result<Arc<dyn Store>, StoreError> {
    connect_sized(url, acquire_timeout, DEFAULT_MAX_CONNECTIONS).await
}

/// Like `connect_with`, with a PostgreSQL pool of at most `max_connections` (SQLite's
/// connections are fixed: one writer and a small read pool).
pub async fn connect_sized(
    url: &str,
    acquire_timeout: std::time::Duration,
    max_connections: u32,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PostgresStore::connect_sized(url, acquire_timeout, max_connections).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect_with(url, acquire_timeout).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// A page of results with an opaque cursor for the next one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// This page.
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Page size and position.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Items per page (the http layer clamps it to 1..=500).
    pub limit: u32,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

/// Filters for listing a project's artifacts.
#[derive(Debug, Clone, Default)]
pub struct ArtifactFilter {
    /// The project (always required: listings never cross projects).
    pub project: Option<ProjectSlug>,
    /// App slug.
    pub app: Option<String>,
    /// Kind.
    pub artifact_kind: Option<ArtifactKind>,
    /// Lifecycle state.
    pub lifecycle_state: Option<LifecycleState>,
    /// Trust state.
    pub trust_state: Option<TrustState>,
    /// Channel reached.
    pub channel: Option<Channel>,
    /// Digest.
    pub digest: Option<Digest>,
}

/// Filters for audit and decision listings.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Project.
    pub project: Option<String>,
    /// Artifact.
    pub artifact_id: Option<ArtifactId>,
    /// Action id (audit: `app_artifact.promote`; decisions: `promote`).
    pub action: Option<String>,
    /// Actor id.
    pub actor: Option<String>,
    /// Inclusive lower time bound.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper time bound.
    pub until: Option<DateTime<Utc>>,
    /// Decisions only: `allow` or `deny`.
    pub effect: Option<String>,
    /// Decisions only: the one decision with this id.
    pub decision_id: Option<uuid::Uuid>,
}

/// The outcome of an idempotent registration.
#[derive(Debug, Clone, PartialEq)]
pub enum Registered {
    /// A new artifact was stored (with its audit record and decision).
    Created(Artifact),
    /// The same (project, repository, digest) was already registered; nothing was written.
    Existing(Artifact),
}

/// A state change of one artifact, applied only if its row version is still `expected_version`.
#[derive(Debug, Clone)]
pub struct ArtifactChange {
    /// The artifact with its new state (`version` is the version it was read at).
    pub artifact: Artifact,
    /// A promotion to append to the history, if this change is one.
    pub promotion: Option<Promotion>,
    /// Evidence records to append.
    pub evidence: Vec<Evidence>,
    /// The signed verification summary of a verification run, kept with its trust change.
    pub summary: Option<NewSummary>,
}

/// A signed verification summary (a DSSE envelope of a SLSA VSA) to store with its run.
#[derive(Debug, Clone)]
pub struct NewSummary {
    /// Its id (UUIDv7: later summaries sort after earlier ones).
    pub id: Uuid,
    /// Whether the run passed (`PASSED`) or failed (`FAILED`).
    pub passed: bool,
    /// When the run finished checking.
    pub created_at: DateTime<Utc>,
    /// The DSSE envelope, served as stored.
    pub envelope: serde_json::Value,
}

/// A stored verification summary.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSummary {
    /// Whether it states `PASSED`.
    pub passed: bool,
    /// The DSSE envelope, as stored.
    pub envelope: serde_json::Value,
}

/// How a registration came about, linked atomically with it.
#[derive(Debug, Clone, Default)]
pub struct RegistrationLinks {
    /// The publish intent the registration completes (it must still be open).
    pub publish_intent_id: Option<Uuid>,
    /// The registry event that caused the registration.
    pub event_id: Option<String>,
    /// A verification to queue with the registration, so a crash never loses it.
    pub verification: Option<VerificationJob>,
    /// Trust material (DSSE envelopes, sigstore bundles) that came with the registration.
    pub attachments: Vec<serde_json::Value>,
}

/// What explain shows about where an artifact came from and whether the registry still has it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ArtifactLinks {
    /// The publish intent its registration completed.
    pub publish_intent_id: Option<Uuid>,
    /// The registry event that registered it.
    pub event_id: Option<String>,
    /// `present` or `deleted`, when a registry event said so.
    pub registry_presence: Option<String>,
    /// The registry event that last set the presence.
    pub presence_event_id: Option<String>,
}

/// The one storage interface: every part below, plus what each backend does its own way (its
/// migrations, its pools, the audit records an earlier run left unsealed). Every mutation
/// commits its audit record (chained) and its decision record in the same transaction as the
/// state change.
///
/// Each part is a trait of its own file, written once for both backends (`shared::store_impl!`
/// lists them); a caller holding `dyn Store` calls any part's methods without importing it.
#[async_trait]
pub trait Store:
    ArtifactStore
    + AuditStore
    + DecisionBatchStore
    + IntentStore
    + PolicyStore
    + PolicyChangeStore
    + VerificationStore
    + RegistryEventStore
    + FigureStore
    + ReleaseStore
    + CatalogStore
    + AppStore
    + Send
    + Sync
    + 'static
{
    /// Applies embedded migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Places in the chain the audit records an earlier run committed but did not seal (it
    /// stopped between a mutation's commit and its seal); answers how many. Run at start-up,
    /// before serving.
    async fn seal_audit_backlog(&self) -> Result<u64, StoreError>;
    /// Connections of each pool (metrics); no database round trip.
    fn pool_figures(&self) -> Vec<PoolFigures>;
}
