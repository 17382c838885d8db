//! Storage: one trait, two implementations (PostgreSQL for production, SQLite as the embedded
//! default). All SQL lives under this module.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditRecord, DecisionRecord, NewAuditRecord};
use crate::domain::{
    Artifact, ArtifactId, ArtifactKind, Channel, Digest, Evidence, LifecycleState, ProjectSlug, Promotion,
    RepositoryPath, TrustState,
};

mod listing;
mod postgres;
mod rows;
mod shared;
mod sql;
mod sqlite;
mod writes;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

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

/// Opens the store named by `url`: PostgreSQL for `postgres://`/`postgresql://`, SQLite for
/// `sqlite:`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// A page of results with an opaque cursor for the next one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
}

/// The one storage interface. Every mutation commits its audit record (chained) and its
/// decision record in the same transaction as the state change.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies embedded migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a new artifact, or answers the existing one for the same (project, repository,
    /// digest) without writing anything.
    async fn register_artifact(
        &self,
        artifact: &Artifact,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<Registered, StoreError>;
    /// One artifact by id.
    async fn get_artifact(&self, id: ArtifactId) -> Result<Option<Artifact>, StoreError>;
    /// One artifact of a project by digest (and repository, when several repositories hold it).
    async fn find_artifact_by_digest(
        &self,
        project: &ProjectSlug,
        digest: &Digest,
        repository: Option<&RepositoryPath>,
    ) -> Result<Option<Artifact>, StoreError>;
    /// A project's artifacts, oldest first.
    async fn list_artifacts(
        &self,
        filter: &ArtifactFilter,
        page: &PageRequest,
    ) -> Result<Page<Artifact>, StoreError>;
    /// Applies `change` if the row version still matches; answers the stored artifact (with
    /// `version` incremented) or `Conflict`.
    async fn apply_change(
        &self,
        change: &ArtifactChange,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<Artifact, StoreError>;
    /// An artifact's evidence, oldest first.
    async fn evidence(&self, id: ArtifactId) -> Result<Vec<Evidence>, StoreError>;
    /// An artifact's promotion history, oldest first.
    async fn promotions(&self, id: ArtifactId) -> Result<Vec<Promotion>, StoreError>;

    /// Appends an audit record that belongs to no artifact change (e.g. `policy.reload`).
    async fn append_audit(&self, audit: NewAuditRecord) -> Result<AuditRecord, StoreError>;
    /// Appends decision records in one transaction (the group-commit path).
    async fn append_decisions(&self, decisions: &[DecisionRecord]) -> Result<(), StoreError>;
    /// Decision records, oldest first.
    async fn list_decisions(
        &self,
        filter: &LogFilter,
        page: &PageRequest,
    ) -> Result<Page<DecisionRecord>, StoreError>;
    /// Audit records, in chain order.
    async fn list_audit(
        &self,
        filter: &LogFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditRecord>, StoreError>;
    /// Audit records with `seq > after_seq`, in chain order, at most `limit` (for chain checks).
    async fn audit_chain_page(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
}
