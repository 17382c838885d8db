//! Storage: one trait, two implementations (PostgreSQL for production, SQLite as the embedded
//! default). All SQL lives under this module.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit::{AuditRecord, DecisionRecord, NewAuditRecord};
use uuid::Uuid;

use crate::domain::{
    Artifact, ArtifactId, ArtifactKind, Channel, Digest, EventStatus, Evidence, IssuedToken, LifecycleState,
    ProjectSlug, Promotion, PublishIntent, PullIntent, RegistryEvent, RepositoryPath, TrustState,
    UnregisteredPush, VerificationJob,
};

mod app_rows;
mod apps;
mod bundles;
mod catalog;
mod chain_status;
mod decision_batches;
mod decision_log;
mod events;
mod figures;
mod intents;
mod listing;
mod pg_decisions;
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
mod verification;
mod writes;

pub use apps::AppStore;
pub use catalog::{CatalogStore, SeedCatalogError, seed_catalog};
pub use chain_status::{ChainStatus, chain_status};
pub use decision_log::{DecisionLogError, DecisionLogWriter};
pub use figures::{PoolFigures, QueueFigures};
pub use policy_changes::{POLICY_CHANNEL, PolicyChangeListener};
pub use postgres::PostgresStore;
#[doc(hidden)]
pub use sql::hot_queries;
pub use sqlite::SqliteStore;
pub use sqlite_reads::SqliteReads;

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

/// The one storage interface. Every mutation commits its audit record (chained) and its
/// decision record in the same transaction as the state change. App storage is its own part.
#[async_trait]
pub trait Store: CatalogStore + AppStore + Send + Sync + 'static {
    /// Applies embedded migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Stores a new artifact, or answers the existing one for the same (project, repository,
    /// digest) without writing anything. A new artifact completes `links.publish_intent_id`
    /// (`Conflict`, and nothing written, if that intent is already completed or unknown) and
    /// records the links, in the same transaction.
    async fn register_artifact(
        &self,
        artifact: &Artifact,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
        links: &RegistrationLinks,
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
    /// How many `append_decisions` batches the decision-log writer may have committing at once:
    /// 1 where writes serialize anyway (SQLite's single writer).
    fn decision_batches_in_flight(&self) -> usize;
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
    /// Places in the chain the audit records an earlier run committed but did not seal (it
    /// stopped between a mutation's commit and its seal); answers how many. Run at start-up,
    /// before serving.
    async fn seal_audit_backlog(&self) -> Result<u64, StoreError>;
    /// How many committed audit records wait for their place in the chain (not yet verifiable).
    async fn unsealed_audit_records(&self) -> Result<i64, StoreError>;
    /// Audit records with `seq > after_seq`, in chain order, at most `limit` (for chain checks).
    async fn audit_chain_page(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;

    /// Stores a new publish intent with its audit record and decision.
    async fn create_publish_intent(
        &self,
        intent: &PublishIntent,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
    /// One publish intent by id.
    async fn get_publish_intent(&self, id: Uuid) -> Result<Option<PublishIntent>, StoreError>;
    /// Open (not completed, `expires_at > now`) publish intents for a repository, newest first.
    async fn open_publish_intents(
        &self,
        repository: &RepositoryPath,
        now: DateTime<Utc>,
    ) -> Result<Vec<PublishIntent>, StoreError>;
    /// Stores a new pull intent with its audit record and decision.
    async fn create_pull_intent(
        &self,
        intent: &PullIntent,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
    /// One pull intent by id.
    async fn get_pull_intent(&self, id: Uuid) -> Result<Option<PullIntent>, StoreError>;
    /// Records a registry token the gateway signed.
    async fn record_issued_token(&self, token: &IssuedToken) -> Result<(), StoreError>;
    /// The tokens issued for an intent, oldest first.
    async fn tokens_for_intent(&self, intent_id: Uuid) -> Result<Vec<IssuedToken>, StoreError>;

    /// Makes a policy set (hash and files) the active one for every instance on this database.
    async fn activate_policy_bundle(
        &self,
        hash: &str,
        files: &[(String, String)],
        activated_by: &str,
    ) -> Result<(), StoreError>;
    /// The most recently activated policy set, if any.
    async fn active_policy_bundle(&self) -> Result<Option<(String, Vec<(String, String)>)>, StoreError>;
    /// A listener woken by every activation, where the database announces them (PostgreSQL);
    /// `None` where instances must poll (SQLite).
    async fn listen_policy_changes(&self) -> Result<Option<Box<dyn PolicyChangeListener>>, StoreError>;
    /// Queues a verification job on its own (registration queues one atomically through
    /// `RegistrationLinks::verification`).
    async fn enqueue_verification(&self, job: &VerificationJob) -> Result<(), StoreError>;
    /// Queues `job` unless a job for the same artifact is pending and not yet claimed (it will see
    /// the same registry state); answers whether `job` was queued. A claimed job does not count:
    /// it may have read the registry before the change that asks for this one.
    async fn enqueue_verification_unless_waiting(&self, job: &VerificationJob) -> Result<bool, StoreError>;
    /// Claims the oldest pending job whose lease is free or expired, like `claim_registry_event`.
    async fn claim_verification(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<VerificationJob>, StoreError>;
    /// Finishes a claimed job (`done`, or failed for good) with its result.
    async fn finish_verification(
        &self,
        id: Uuid,
        done: bool,
        result: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Commits a claimed job's verification: applies `change` with its audit and decision
    /// records (as `apply_change` does) and finishes the job as done with `result`, in one
    /// transaction. `None`, and nothing written, when the job is no longer pending (an earlier
    /// claim of it committed); `Conflict`, and the job left pending, when the artifact changed.
    async fn commit_verification(
        &self,
        job: Uuid,
        change: &ArtifactChange,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
        result: &serde_json::Value,
    ) -> Result<Option<Artifact>, StoreError>;
    /// Puts a claimed job back for a later attempt.
    async fn release_verification(&self, id: Uuid, result: &serde_json::Value) -> Result<(), StoreError>;
    /// Pending verification jobs (for queue-depth metrics).
    async fn pending_verifications(&self) -> Result<i64, StoreError>;
    /// Depth and oldest entry of the registry-event and verification-job queues (metrics).
    async fn queue_figures(&self) -> Result<QueueFigures, StoreError>;
    /// Connections of each pool (metrics); no database round trip.
    fn pool_figures(&self) -> Vec<PoolFigures>;
    /// Attaches DSSE envelopes to an artifact; every later verification re-checks them.
    async fn add_attestations(
        &self,
        artifact: ArtifactId,
        envelopes: &[serde_json::Value],
    ) -> Result<(), StoreError>;
    /// An artifact's attached envelopes, oldest first.
    async fn attestations(&self, artifact: ArtifactId) -> Result<Vec<serde_json::Value>, StoreError>;
    /// An artifact's latest verification summary, if any run produced one.
    async fn latest_summary(&self, artifact: ArtifactId) -> Result<Option<StoredSummary>, StoreError>;
    /// Queues events as given, deduplicated by id, with the `notify` decisions (all of them, even
    /// for duplicates: each was a decision taken) in one transaction; answers, per event in input
    /// order, whether it was new. A duplicate id leaves its stored copy untouched.
    async fn enqueue_registry_events(
        &self,
        events: &[RegistryEvent],
        decisions: &[DecisionRecord],
    ) -> Result<Vec<bool>, StoreError>;
    /// Claims the oldest pending event whose lease is free or expired: `lease_until = now +
    /// lease`, `attempts += 1`. Safe when several processes claim at once.
    async fn claim_registry_event(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<RegistryEvent>, StoreError>;
    /// Finishes a pending event with `status` and `result`, clearing its lease, and in the same
    /// transaction records an unregistered push and/or sets an artifact's registry presence
    /// (`present` | `deleted`). `NotFound` for an unknown id, `Conflict` if already finished.
    async fn finish_registry_event(
        &self,
        id: &str,
        status: EventStatus,
        result: &serde_json::Value,
        unregistered: Option<&UnregisteredPush>,
        presence: Option<(ArtifactId, &str)>,
    ) -> Result<(), StoreError>;
    /// Puts a claimed event back for a retry once its lease expires (still pending), noting
    /// `result`; keeping the lease is the backoff that spares a registry or database in an outage.
    async fn release_registry_event(&self, id: &str, result: &serde_json::Value) -> Result<(), StoreError>;
    /// One registry event by id.
    async fn get_registry_event(&self, id: &str) -> Result<Option<RegistryEvent>, StoreError>;
    /// How many events are pending (queue depth).
    async fn pending_registry_events(&self) -> Result<i64, StoreError>;
    /// A project's unregistered pushes, oldest first.
    async fn list_unregistered_pushes(
        &self,
        project: &ProjectSlug,
        page: &PageRequest,
    ) -> Result<Page<UnregisteredPush>, StoreError>;
    /// An artifact's links for explain (all `None` when nothing is known).
    async fn artifact_links(&self, id: ArtifactId) -> Result<ArtifactLinks, StoreError>;

    /// Defines a platform release with its audit record and decision; `false` (and nothing
    /// written) when the version already exists.
    async fn create_release(
        &self,
        release: &crate::domain::Release,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<bool, StoreError>;

    /// Every platform release, newest first.
    async fn list_releases(&self) -> Result<Vec<crate::domain::ReleaseSummary>, StoreError>;

    /// One platform release with its files.
    async fn get_release(&self, version: &str) -> Result<Option<crate::domain::Release>, StoreError>;
}
