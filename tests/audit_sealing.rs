//! The audit chain under concurrent mutations, as the store and an operator see it: every
//! committed change has exactly one record, the chain has no gap and verifies, a change that
//! fails leaves no record, and a record a stopped gateway left unsealed (committed with its
//! change, not yet chained) is reported as pending, never as verified, and is chained when a
//! gateway starts on the database again. A mutation whose seal meets a connection the server
//! closed is still answered (sealed on a new one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};
use std::sync::Arc;

use common::store_harness::{
    actor, artifact, audit_count, audit_for, conformance, decision, decision_count, now, register,
};
use common::{Db, TestApp, digest, oci_registration, token};
use gatehouse::audit::{AuditRecord, verify_chain};
use gatehouse::domain::{ArtifactKind, LifecycleState, Promotion};
use gatehouse::store::{ArtifactChange, PostgresStore, RegistrationLinks, Store, StoreError};
use serde_json::json;

conformance!(
    plain: [
        case_concurrent_mutations_make_a_whole_chain,
        case_failed_registration_leaves_no_audit_record,
    ],
    raw: []
);

/// The whole chain, checked: every record in order from seq 1, each hash recomputed.
async fn whole_chain(store: &Arc<dyn Store>) -> Vec<AuditRecord> {
    let (mut seq, mut hash, mut all) = (0, String::new(), Vec::new());
    loop {
        let page = store.audit_chain_page(seq, 100).await.unwrap();
        if page.is_empty() {
            return all;
        }
        (seq, hash) = verify_chain(&page, seq, hash).unwrap_or_else(|broken| panic!("{broken}"));
        all.extend(page);
    }
}

const CLIENTS: u32 = 24;

async fn case_concurrent_mutations_make_a_whole_chain(store: Arc<dyn Store>) {
    // Each client registers an artifact, promotes it, and appends a record of its own: three
    // records per client, all racing the other clients' for the chain.
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let a = register(&store, &artifact("team-a", "trainer", n, ArtifactKind::Oci)).await;
                let mut next = a.clone();
                next.lifecycle_state = LifecycleState::Promoted;
                next.channels.push("dev".parse().unwrap());
                let change = ArtifactChange {
                    artifact: next,
                    promotion: Some(Promotion {
                        channel: "dev".parse().unwrap(),
                        target_environment: None,
                        actor: actor("releaser"),
                        promoted_at: now(),
                        decision: json!({"effect": "allow"}),
                        reason: None,
                    }),
                    evidence: vec![],
                    summary: None,
                };
                let d = decision("promote", "team-a", "allow", now());
                store
                    .apply_change(
                        &change,
                        audit_for(Some(&a), "app_artifact.promote", "ci"),
                        std::slice::from_ref(&d),
                    )
                    .await
                    .unwrap();
                store
                    .append_audit(audit_for(None, "policy.reload", &format!("admin-{n}")))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut answered = Vec::new();
    for client in clients {
        answered.push(client.await.unwrap());
    }

    let chain = whole_chain(&store).await;
    assert_eq!(chain.len(), 3 * CLIENTS as usize, "one record per mutation");
    let seqs: Vec<i64> = chain.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=i64::from(3 * CLIENTS)).collect::<Vec<_>>(), "no gap");
    assert_eq!(store.unsealed_audit_records().await.unwrap(), 0);
    // What each caller was answered is what the chain holds.
    for record in &answered {
        assert!(
            chain.contains(record),
            "answered record {} not in the chain",
            record.seq
        );
    }
    // A promotion waited for its registration: it comes after it in the chain.
    for a in chain.iter().filter_map(|r| r.body.artifact_id) {
        let position = |action: &str| {
            chain
                .iter()
                .position(|r| r.body.artifact_id == Some(a) && r.body.action == action)
                .unwrap()
        };
        assert!(position("app_artifact.register") < position("app_artifact.promote"));
    }
}

async fn case_failed_registration_leaves_no_audit_record(store: Arc<dyn Store>) {
    let a = artifact("team-a", "trainer", 1, ArtifactKind::Oci);
    // An unknown publish intent refuses the registration: nothing of it may stay.
    let links = RegistrationLinks {
        publish_intent_id: Some(uuid::Uuid::now_v7()),
        ..RegistrationLinks::default()
    };
    let err = store
        .register_artifact(
            &a,
            audit_for(Some(&a), "app_artifact.register", "ci"),
            &decision("register", "team-a", "allow", now()),
            &links,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(store.get_artifact(a.id).await.unwrap(), None);
    assert_eq!(audit_count(&store).await, 0);
    assert_eq!(store.unsealed_audit_records().await.unwrap(), 0);
    assert_eq!(decision_count(&store).await, 0);
    assert!(whole_chain(&store).await.is_empty());
}

fn audit_verify(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["audit", "verify"])
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "error")
        .env("GATEHOUSE_DATABASE_URL", url)
        .output()
        .unwrap()
}

/// What a gateway that committed a promotion and stopped before sealing its record leaves
/// behind: the record, unsealed, in the sealer's queue.
const CRASH_LEFT_RECORD: &str = "insert into audit_pending (id, occurred_at, actor_type, actor_id, \
     action, project, correlation_id) values ('01890000-0000-7000-8000-000000000001', now(), \
     'service_account', 'ci', 'app_artifact.promote', 'team-a', 'req-crashed')";

/// The same left by a gateway of an earlier release, which wrote unsealed records into
/// `audit_records` itself (migration 0011) and sealed them in place.
const CRASH_LEFT_LEGACY_RECORD: &str = "insert into audit_records (id, occurred_at, actor_type, \
     actor_id, action, project, correlation_id) values ('01890000-0000-7000-8000-000000000002', \
     now(), 'service_account', 'ci', 'app_artifact.promote', 'team-a', 'req-crashed-earlier')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_left_unsealed_is_pending_until_the_next_start_seals_it() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    let app = TestApp::spawn(Db::Postgres(db)).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (status, _) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("trainer", &digest("one")),
        )
        .await;
    assert_eq!(status, 201);
    let db = app.shutdown().await;
    let url = db.url();
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await.unwrap());
    let sealed_before = whole_chain(&store).await.len();
    assert!(sealed_before >= 1);

    let pool = PostgresStore::connect(&url).await.unwrap().pool().clone();
    for left in [CRASH_LEFT_RECORD, CRASH_LEFT_LEGACY_RECORD] {
        sqlx::query(left).execute(&pool).await.unwrap();
    }
    pool.close().await;
    assert_eq!(store.unsealed_audit_records().await.unwrap(), 2);
    assert_eq!(
        whole_chain(&store).await.len(),
        sealed_before,
        "not in the chain yet"
    );
    assert_eq!(audit_count(&store).await, sealed_before, "not listed yet");
    let out = audit_verify(&url);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("intact: {sealed_before} records")),
        "{said}"
    );
    assert!(said.contains("2 audit records pending"), "{said}");

    // The next gateway seals it before it serves.
    let app = TestApp::spawn(db).await;
    assert_eq!(store.unsealed_audit_records().await.unwrap(), 0);
    let chain = whole_chain(&store).await;
    assert_eq!(chain.len(), sealed_before + 2);
    let last_two: Vec<&str> = chain[sealed_before..]
        .iter()
        .map(|r| r.body.correlation_id.as_str())
        .collect();
    assert_eq!(
        last_two,
        ["req-crashed", "req-crashed-earlier"],
        "in append order"
    );
    let out = audit_verify(&url);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("pending"), "{said}");
    app.shutdown().await;
}

/// The sealer's connections in the test database, by the name the gateway gives them.
const SEALER_BACKENDS: &str = "select pid from pg_stat_activity \
     where datname = current_database() and application_name = 'gatehouse audit sealer'";

/// The server closes the sealer's connection between two mutations (a restart, a proxy, an
/// operator): the next mutation has committed by the time its seal fails on the dead
/// connection, so the sealer seals it on a new one and the client gets its answer, instead of
/// a 503 for a change that is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_is_answered_when_the_server_closed_the_sealers_connection() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    let url = db.url.clone();
    let app = TestApp::spawn(Db::Postgres(db)).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("trainer", &digest("one")),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let pool = PostgresStore::connect(&url).await.unwrap().pool().clone();
    let sealers: Vec<i32> = sqlx::query_scalar(SEALER_BACKENDS)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(sealers.len(), 1, "the sealer holds one connection: {sealers:?}");
    let closed: bool = sqlx::query_scalar("select pg_terminate_backend($1, 5000)")
        .bind(sealers[0])
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(closed);

    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("trainer", &digest("two")),
        )
        .await;
    assert_eq!(status, 201, "a stored change is answered as stored: {body}");
    let id = gatehouse::domain::ArtifactId(body["id"].as_str().unwrap().parse().unwrap());
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await.unwrap());
    assert_eq!(store.unsealed_audit_records().await.unwrap(), 0);
    let chain = whole_chain(&store).await;
    assert!(
        chain
            .iter()
            .any(|r| r.body.artifact_id == Some(id) && r.body.action == "app_artifact.register"),
        "the second registration's record is in the chain"
    );
    let sealers: Vec<i32> = sqlx::query_scalar(SEALER_BACKENDS)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(sealers.len(), 1, "on a new connection: {sealers:?}");
    pool.close().await;
    app.shutdown().await;
}
