//! The review's inline SQLite lookups (`sqlite_inline`), through the store that uses them.

use std::sync::Arc;

use super::sqlite::SqliteStore;
use super::{RegistrationLinks, Store, StoreError};
use crate::audit::{DecisionRecord, NewAuditRecord};
use crate::domain::{Actor, ActorType, Artifact, ArtifactId};

fn ci() -> Actor {
    Actor {
        actor_type: ActorType::ServiceAccount,
        id: "ci".to_owned(),
    }
}

/// An artifact with every optional column filled, so each decodes from a real value.
fn artifact() -> Artifact {
    serde_json::from_value(serde_json::json!({
        "id": ArtifactId::new(),
        "project": "team-a",
        "app": "trainer",
        "artifact_kind": "oci",
        "artifact_type": "oci.image",
        "repository": "gpuaas/apps/team-a/trainer",
        "digest": format!("sha256:{}", "ab".repeat(32)),
        "tag": "v1",
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "source": { "source_type": "oci_registry", "uri": "registry.local/gpuaas/apps/team-a/trainer",
                    "source_ref": "main", "size_bytes": 1024, "content_encoding": "gzip" },
        "lifecycle_state": "promoted",
        "trust_state": "verified",
        "channels": ["dev", "test"],
        "signature_verified": true,
        "attestations": ["https://slsa.dev/provenance/v1"],
        "created_by": { "type": "service_account", "id": "ci" },
        "created_at": "2025-01-01T00:00:00.123456Z",
        "updated_at": "2025-01-02T03:04:05Z",
        "version": 3
    }))
    .unwrap()
}

fn decision(a: &Artifact) -> DecisionRecord {
    DecisionRecord {
        id: uuid::Uuid::now_v7(),
        decided_at: chrono::Utc::now(),
        correlation_id: "req-1".to_owned(),
        actor: ci(),
        action: "register".to_owned(),
        project: Some(a.project.to_string()),
        artifact_id: None,
        resource: String::new(),
        effect: "allow".to_owned(),
        policy_ids: vec![],
        reasons: vec![],
        errors: vec![],
        policy_hash: "h".to_owned(),
        request: serde_json::json!({}).into(),
        entities: serde_json::json!([]).into(),
    }
}

#[tokio::test]
async fn inline_lookups_answer_what_the_pooled_ones_do() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inline.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let a = artifact();
    let dyn_store: Arc<dyn Store> = Arc::new(store.clone());
    dyn_store
        .register_artifact(
            &a,
            NewAuditRecord::new(ci(), "app_artifact.register", "req-1"),
            &decision(&a),
            &RegistrationLinks::default(),
        )
        .await
        .unwrap();
    let inline = store.inline_reads().expect("a WAL file reads inline");

    let by_id = inline.artifact_by_id(a.id.0).expect("a free connection answers");
    let by_id = Artifact::try_from(by_id.expect("registered")).unwrap();
    assert_eq!(by_id, a, "every column decodes as sqlx stored it");
    assert_eq!(store.get_artifact_pooled(a.id).await.unwrap(), Some(by_id));

    let repository = a.repository.to_string();
    for repo in [None, Some(repository.as_str())] {
        let row = inline
            .artifact_by_digest(a.project.as_str(), a.digest.as_str(), repo)
            .expect("a free connection answers")
            .expect("registered");
        assert_eq!(Artifact::try_from(row).unwrap(), a);
    }
    assert!(
        inline
            .artifact_by_digest(
                a.project.as_str(),
                a.digest.as_str(),
                Some("gpuaas/apps/team-a/other")
            )
            .expect("answered")
            .is_none()
    );
    assert!(
        inline
            .artifact_by_id(uuid::Uuid::now_v7())
            .expect("answered")
            .is_none()
    );
}

#[tokio::test]
async fn a_busy_set_of_connections_hands_the_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("busy.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let inline = store.inline_reads().unwrap();
    let held: Vec<_> = inline.slots.iter().map(|slot| slot.lock().unwrap()).collect();
    assert!(
        inline.artifact_by_id(uuid::Uuid::now_v7()).is_none(),
        "no free connection: the caller reads through sqlx, never waits here"
    );
    drop(held);
    assert!(matches!(inline.artifact_by_id(uuid::Uuid::now_v7()), Some(None)));
}

/// Every column of the decision row with `id`, as SQLite stores it: its storage class and text;
/// the request and entities from its stored input where it names one.
async fn stored_decision(store: &SqliteStore, id: uuid::Uuid) -> Vec<(String, Option<String>)> {
    let mut columns = Vec::new();
    for column in [
        "decided_at",
        "correlation_id",
        "actor_type",
        "actor_id",
        "action",
        "project",
        "artifact_id",
        "resource",
        "effect",
        "policy_ids",
        "reasons",
        "errors",
        "policy_hash",
        "request",
        "entities",
    ] {
        let value = if matches!(column, "request" | "entities") {
            format!("case when d.input_hash is null then d.{column} else i.{column} end")
        } else {
            format!("d.{column}")
        };
        let (class, text): (String, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select typeof(v), case typeof(v) when 'blob' then hex(v) else v end from (select {value} as v \
             from decisions d left join decision_inputs i on i.hash = d.input_hash where d.id = ?)"
        )))
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
        columns.push((class, text));
    }
    columns
}

#[tokio::test]
async fn the_decision_writer_stores_what_sqlx_stores() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("writer.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let a = artifact();
    let mut inline = decision(&a);
    inline.artifact_id = Some(a.id);
    inline.resource = format!("Gatehouse::Artifact::\"{}\"", a.id);
    inline.policy_ids = vec!["p1".to_owned(), "p2".to_owned()];
    inline.reasons = vec!["because \"quoted\"".to_owned()];
    inline.errors = vec!["e".to_owned()];
    inline.request =
        serde_json::json!({ "principal": "Gatehouse::User::\"olivia\"", "context": { "b": true } }).into();
    inline.entities = serde_json::json!([{ "uid": { "type": "Gatehouse::User", "id": "olivia" } }]).into();
    let pooled = DecisionRecord {
        id: uuid::Uuid::now_v7(),
        ..inline.clone()
    };

    let writer = store.decision_writer().expect("a WAL file has a decision writer");
    {
        // Held as `append_decisions` holds it.
        let _held = store.pool().acquire().await.unwrap();
        let row = super::sqlite_inline::DecisionRow::encode(&inline).unwrap();
        writer
            .write(vec![row])
            .await
            .expect("written on the writer's thread");
    }
    let mut tx = store.pool().begin().await.unwrap();
    SqliteStore::insert_decisions_in(&mut tx, std::slice::from_ref(&pooled))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        stored_decision(&store, inline.id).await,
        stored_decision(&store, pooled.id).await,
        "each column has the same storage class and value either way"
    );
    let listed = super::AuditStore::list_decisions(
        &store,
        &super::LogFilter::default(),
        &super::PageRequest {
            limit: 10,
            cursor: None,
        },
    )
    .await
    .unwrap()
    .items;
    assert_eq!(listed, vec![inline.clone(), pooled]);

    // A batch SQLite refuses (a duplicate id) fails on the writer's thread, is written again
    // through sqlx, and is reported as sqlx reports a refusal (so the log retries one by one).
    let fresh = DecisionRecord {
        id: uuid::Uuid::now_v7(),
        ..inline.clone()
    };
    let error = super::DecisionBatchStore::append_decisions(&store, &[fresh.clone(), inline])
        .await
        .expect_err("a duplicate id is refused");
    assert!(error.is_refusal(), "{error}");
    let (kept,): (i64,) = sqlx::query_as("select count(*) from decisions where id = ?")
        .bind(fresh.id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(kept, 0, "no row of a refused batch is kept");
    super::DecisionBatchStore::append_decisions(&store, std::slice::from_ref(&fresh))
        .await
        .expect("the writer's thread recovers after a failed batch");
    assert_eq!(stored_decision(&store, fresh.id).await.len(), 15);
}

/// An input is logged inline the first time the writer sees it and stored once in
/// `decision_inputs` from the second, and every decision lists back whole; one naming an input
/// that is gone is reported corrupt, never shown without what it was decided on.
#[tokio::test]
async fn the_decision_writer_stores_a_repeated_input_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inputs.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let a = artifact();
    let first = decision(&a);
    let same = |first: &DecisionRecord| DecisionRecord {
        id: uuid::Uuid::now_v7(),
        ..first.clone()
    };
    let again = same(&first);
    let mut other = same(&first);
    other.entities = serde_json::json!([{ "uid": { "type": "Gatehouse::User", "id": "ines" } }]).into();
    let third = same(&first);
    let fourth = same(&first);
    // Neither of the first two was seen before their batch committed: both inline.
    for batch in [
        vec![first.clone(), again.clone()],
        vec![other.clone()],
        vec![third.clone()],
        vec![fourth.clone()],
    ] {
        super::DecisionBatchStore::append_decisions(&store, &batch)
            .await
            .unwrap();
    }

    let count = |sql: &'static str| {
        let pool = store.pool().clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    assert_eq!(
        count("select count(*) from decision_inputs").await,
        1,
        "the repeated input, once"
    );
    assert_eq!(
        count("select count(*) from decisions where input_hash is not null and request = 'null' and entities = 'null'").await,
        2,
        "the third and fourth name it"
    );
    let page = super::PageRequest {
        limit: 10,
        cursor: None,
    };
    let listed = super::AuditStore::list_decisions(&store, &super::LogFilter::default(), &page)
        .await
        .unwrap()
        .items;
    assert_eq!(listed, vec![first.clone(), again, other, third, fourth]);

    sqlx::query("delete from decision_inputs where hash = ?")
        .bind(super::decision_inputs::input_hash(
            first.request.get(),
            first.entities.get(),
        ))
        .execute(store.pool())
        .await
        .unwrap();
    let error = super::AuditStore::list_decisions(&store, &super::LogFilter::default(), &page)
        .await
        .expect_err("a decision whose input is gone");
    assert!(matches!(error, StoreError::Corrupt(_)), "{error}");
}
