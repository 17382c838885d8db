//! The store conformance harness: every case is written once and runs against SQLite (a temp
//! file) and PostgreSQL (a fresh database per test), plus the fixtures the store suites share.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use gatehouse::audit::{AuditDecision, DecisionRecord, NewAuditRecord, PromotionFacts, Transition};
use gatehouse::domain::{
    Actor, ActorType, Artifact, ArtifactId, ArtifactKind, ArtifactType, LifecycleState, Source, SourceType,
    TrustState,
};
use gatehouse::store::{
    LogFilter, PageRequest, PostgresStore, Registered, RegistrationLinks, SqliteStore, Store,
};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness

/// Raw access to the database under test, for writing around the store (tampering).
pub enum Raw {
    /// The SQLite pool.
    Sqlite(SqlitePool),
    /// The PostgreSQL pool.
    Pg(PgPool),
}

impl Raw {
    /// Runs one statement, failing the test if it fails.
    pub async fn exec(&self, sql: &'static str) {
        match self {
            Raw::Sqlite(p) => {
                sqlx::query(sql).execute(p).await.unwrap();
            }
            Raw::Pg(p) => {
                sqlx::query(sql).execute(p).await.unwrap();
            }
        }
    }

    /// The one integer a `select count(*) …` answers.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Raw::Pg(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    }
}

/// Runs `case` on a migrated SQLite file in a temporary directory.
pub async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>, Raw) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/gatehouse.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let raw = Raw::Sqlite(store.pool().clone());
    case(Arc::new(store), raw).await;
}

/// Runs `case` on a migrated fresh PostgreSQL database (skipped outside CI when unreachable).
pub async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Store>, Raw) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = super::pg::fresh_db().await else {
        return;
    };
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect(&db.url)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool.clone());
    store.migrate().await.unwrap();
    // Run the case in its own task so a failing assertion still lets `db` drop the database.
    let outcome = tokio::spawn(case(Arc::new(store), Raw::Pg(pool.clone()))).await;
    pool.close().await;
    drop(db);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Generates one test per backend per case; `raw` cases also get raw database access.
#[allow(
    unused_macros,
    reason = "only the store suites use it; every test binary compiles it"
)]
macro_rules! conformance {
    (plain: [$($case:ident),* $(,)?], raw: [$($raw:ident),* $(,)?]) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { $crate::common::store_harness::on_sqlite(|s, _| super::$case(s)).await }) *
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $raw() { $crate::common::store_harness::on_sqlite(super::$raw).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { $crate::common::store_harness::on_postgres(|s, _| super::$case(s)).await }) *
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $raw() { $crate::common::store_harness::on_postgres(super::$raw).await }) *
        }
    };
}
#[allow(
    unused_imports,
    reason = "only the store suites use it; every test binary compiles it"
)]
pub(crate) use conformance;

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Now, at the microsecond precision both engines keep.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A service-account actor.
pub fn actor(id: &str) -> Actor {
    Actor {
        actor_type: ActorType::ServiceAccount,
        id: id.into(),
    }
}

/// A published, unverified artifact of `project`/`app` whose digest is made from `n`.
pub fn artifact(project: &str, app: &str, n: u32, kind: ArtifactKind) -> Artifact {
    let at = now();
    Artifact {
        id: ArtifactId::new(),
        project: project.parse().unwrap(),
        app: app.parse().unwrap(),
        artifact_kind: kind,
        artifact_type: ArtifactType::default_for(kind),
        repository: format!("gpuaas/apps/{project}/{app}").parse().unwrap(),
        scope: Default::default(),
        digest: format!("sha256:{n:064x}").parse().unwrap(),
        tag: Some(format!("v{n}")),
        media_type: None,
        source: Source {
            source_type: SourceType::OciRegistry,
            uri: format!("registry.local/gpuaas/apps/{project}/{app}"),
            source_ref: None,
            size_bytes: Some(1024),
            content_encoding: None,
        },
        lifecycle_state: LifecycleState::Published,
        trust_state: TrustState::Unverified,
        channels: vec![],
        signature_verified: false,
        attestations: vec![],
        trust_facts: Default::default(),
        created_by: actor("ci"),
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

/// An audit record about `a` (or about nothing).
pub fn audit_for(a: Option<&Artifact>, action: &str, actor_id: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: actor(actor_id),
        action: action.into(),
        project: a.map(|a| a.project.to_string()),
        artifact_id: a.map(|a| a.id),
        repository: a.map(|a| a.repository.to_string()),
        digest: a.map(|a| a.digest.to_string()),
        artifact_kind: a.map(|a| a.artifact_kind.to_string()),
        source_type: a.map(|a| a.source.source_type.to_string()),
        transition: Some(Transition {
            from: "published".into(),
            to: "promoted".into(),
            reason: Some("ready for dev".into()),
        }),
        promotion: Some(PromotionFacts {
            channel: "dev".into(),
            target_environment: None,
        }),
        decision: Some(AuditDecision {
            effect: "allow".into(),
            policy_ids: vec!["p1".into(), "p0".into()],
            policy_hash: "abc".into(),
        }),
        correlation_id: "req-1".into(),
    }
}

/// An allow or deny decision on a project.
pub fn decision(action: &str, project: &str, effect: &str, at: DateTime<Utc>) -> DecisionRecord {
    DecisionRecord {
        id: Uuid::now_v7(),
        decided_at: at,
        correlation_id: "req-1".into(),
        actor: actor("ci"),
        action: action.into(),
        project: Some(project.into()),
        artifact_id: None,
        resource: format!("Gatehouse::Project::\"{project}\""),
        effect: effect.into(),
        policy_ids: vec!["allow-ci".into()],
        reasons: vec!["because".into()],
        errors: vec![],
        policy_hash: "h".into(),
        request: json!({"principal": "ci", "context": {"z": 1, "a": [1.5, null, true]}}).into(),
        entities: json!([{"uid": {"type": "Gatehouse::Project", "id": project}}]).into(),
    }
}

/// Registers `a` (no links), which must be new.
pub async fn register(store: &Arc<dyn Store>, a: &Artifact) -> Artifact {
    let d = decision("register", a.project.as_str(), "allow", now());
    match store
        .register_artifact(
            a,
            audit_for(Some(a), "app_artifact.register", "ci"),
            &d,
            &RegistrationLinks::default(),
        )
        .await
        .unwrap()
    {
        Registered::Created(stored) => stored,
        Registered::Existing(_) => panic!("expected a new artifact"),
    }
}

/// The first page of `limit` items.
pub fn page(limit: u32) -> PageRequest {
    PageRequest { limit, cursor: None }
}

/// How many audit records are stored.
pub async fn audit_count(store: &Arc<dyn Store>) -> usize {
    store
        .list_audit(&LogFilter::default(), &page(500))
        .await
        .unwrap()
        .items
        .len()
}

/// How many decisions are stored.
pub async fn decision_count(store: &Arc<dyn Store>) -> usize {
    store
        .list_decisions(&LogFilter::default(), &page(500))
        .await
        .unwrap()
        .items
        .len()
}
