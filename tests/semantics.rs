//! Issue 13: one tenant's hostile text never fails another tenant's requests; promote is
//! idempotent; a conflicting re-registration is a 409 naming the fields; source URIs are checked
//! against their source type. Each case runs on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, auditor_token, digest, oci_registration, token};
use serde_json::{Value, json};

fn team_a() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn team_b() -> String {
    token("mallory", json!({ "team-b": ["operator"] }))
}

async fn postgres() -> Option<Db> {
    common::pg::fresh_db().await.map(Db::Postgres)
}

async fn register(app: &TestApp, who: &str, project: &str, body: Value) -> (u16, Value) {
    app.post(&format!("/v1/projects/{project}/artifacts"), who, body)
        .await
}

async fn registered(app: &TestApp, who: &str, project: &str, seed: &str) -> String {
    app.register_oci(project, who, seed).await
}

/// Asserts a 422 problem+json naming `field`.
fn assert_invalid(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], field, "{body}");
    assert_eq!(body["type"], "urn:gatehouse:problem:invalid-input", "{body}");
    assert!(body["request_id"].is_string(), "{body}");
}

/// The artifact's audit records of `action`.
async fn audit(app: &TestApp, id: &str, action: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            &format!("/v1/audit?artifact_id={id}&action={action}&limit=500"),
            &auditor_token(),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// Noisy neighbour: team-b sends NUL-laden requests while team-a reads and reviews

/// One of team-b's hostile requests; answers (status, body, the field it must be refused for).
async fn hostile(app: &TestApp, id_b: &str, round: usize) -> (u16, Value, &'static str) {
    match round % 5 {
        0 => {
            let body = json!({ "project": "team-b", "artifact_id": id_b, "action": "deploy",
                               "runtime_class": "k8s\u{0}gpu" });
            let (s, b) = app.post("/v1/admission/review", &team_b(), body).await;
            (s, b, "runtime_class")
        }
        1 => {
            let body = json!({ "channel": "dev", "reason": "ship\u{0}it" });
            let (s, b) = app
                .post(&format!("/v1/artifacts/{id_b}/promote"), &team_b(), body)
                .await;
            (s, b, "reason")
        }
        2 => {
            let mut body = oci_registration("trainer", &digest(&format!("nul-{round}")));
            body["source"]["uri"] = json!("registry.local/gpuaas/apps/team-b/\u{0}trainer");
            let (s, b) = register(app, &team_b(), "team-b", body).await;
            (s, b, "source.uri")
        }
        3 => {
            let (s, b) = app
                .get("/v1/projects/team-b/artifacts?app=trai%00ner", &team_b())
                .await;
            (s, b, "app")
        }
        _ => {
            let body = json!({ "project": "team-b", "artifact_id": id_b, "action": "deploy",
                               "target_environment": "prod\u{7}" });
            let (s, b) = app.post("/v1/admission/review", &team_b(), body).await;
            (s, b, "target_environment")
        }
    }
}

async fn noisy_neighbour(db: Db) {
    let app = std::sync::Arc::new(TestApp::spawn(db).await);
    let id_a = registered(&app, &team_a(), "team-a", "reader").await;
    let id_b = registered(&app, &team_b(), "team-b", "neighbour").await;

    let mut attackers = Vec::new();
    for worker in 0..3 {
        let (app, id_b) = (app.clone(), id_b.clone());
        attackers.push(tokio::spawn(async move {
            for round in 0..20 {
                let (status, body, field) = hostile(&app, &id_b, worker * 20 + round).await;
                assert_invalid(status, &body, field);
            }
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (app, id_a) = (app.clone(), id_a.clone());
        readers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for _ in 0..30 {
                let (status, body) = app.get(&format!("/v1/artifacts/{id_a}"), &team_a()).await;
                if status != 200 {
                    failures.push(body);
                }
                let review = json!({ "project": "team-a", "artifact_id": id_a, "action": "deploy",
                                     "runtime_class": "k8s-gpu" });
                let (status, body) = app.post("/v1/admission/review", &team_a(), review).await;
                if status != 200 {
                    failures.push(body);
                }
            }
            failures
        }));
    }
    for attacker in attackers {
        attacker.await.unwrap();
    }
    for reader in readers {
        let failures = reader.await.unwrap();
        assert!(failures.is_empty(), "the reader saw errors: {failures:?}");
    }
    // A token whose subject carries a control character is refused at authentication.
    let nul_subject = token("mal\u{0}lory", json!({ "team-b": ["operator"] }));
    let (status, body) = app.get(&format!("/v1/artifacts/{id_b}"), &nul_subject).await;
    assert_eq!(status, 401, "{body}");
    // Nothing of the hostile requests was stored: team-b still has its one artifact, unpromoted.
    let (status, list) = app.get("/v1/projects/team-b/artifacts", &team_b()).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert!(audit(&app, &id_b, "app_artifact.promote").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_neighbour_sqlite() {
    noisy_neighbour(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noisy_neighbour_postgres() {
    if let Some(db) = postgres().await {
        noisy_neighbour(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Promote to a channel already reached: an idempotent success that writes nothing

async fn promote(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    app.post(&format!("/v1/artifacts/{id}/promote"), &team_a(), body)
        .await
}

async fn idempotent_promote(db: Db) {
    let app = std::sync::Arc::new(TestApp::spawn(db).await);
    let id = registered(&app, &team_a(), "team-a", "promoted-once").await;
    let (status, first) = promote(&app, &id, json!({ "channel": "dev" })).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = promote(&app, &id, json!({ "channel": "dev", "reason": "retry" })).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["version"], first["version"], "nothing written: {again}");
    assert_eq!(again["promotions"].as_array().unwrap().len(), 1, "{again}");
    assert_eq!(audit(&app, &id, "app_artifact.promote").await.len(), 1);
    // The repeat's decision is still in the decision log.
    let (status, decisions) = app
        .get(
            &format!("/v1/decisions?action=promote&artifact_id={id}&decision=allow"),
            &auditor_token(),
        )
        .await;
    assert_eq!(status, 200, "{decisions}");
    assert_eq!(decisions["items"].as_array().unwrap().len(), 2, "{decisions}");

    // Concurrent identical promotes all succeed; exactly one promotion and one record exist.
    let id = registered(&app, &team_a(), "team-a", "promoted-concurrently").await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move { promote(&app, &id, json!({ "channel": "dev" })).await })
        })
        .collect();
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["channels"], json!(["dev"]), "{body}");
    }
    let (_, artifact) = app.get(&format!("/v1/artifacts/{id}"), &team_a()).await;
    assert_eq!(artifact["promotions"].as_array().unwrap().len(), 1, "{artifact}");
    assert_eq!(audit(&app, &id, "app_artifact.promote").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_promote_sqlite() {
    idempotent_promote(Db::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_promote_postgres() {
    if let Some(db) = postgres().await {
        idempotent_promote(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Re-registration: identical is idempotent, different is a 409 naming the fields

async fn conflicting_reregistration(db: Db) {
    let app = TestApp::spawn(db).await;
    let mut body = oci_registration("trainer", &digest("twice"));
    body["tag"] = json!("v1");
    let (status, first) = register(&app, &team_a(), "team-a", body.clone()).await;
    assert_eq!(status, 201, "{first}");
    let (status, same) = register(&app, &team_a(), "team-a", body.clone()).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["id"], first["id"], "{same}");
    // Omitting an optional field is not a difference.
    let mut untagged = body.clone();
    untagged.as_object_mut().unwrap().remove("tag");
    let (status, same) = register(&app, &team_a(), "team-a", untagged).await;
    assert_eq!(status, 200, "{same}");

    let mut other = body.clone();
    other["tag"] = json!("v2");
    other["source"]["uri"] = json!("registry.local/gpuaas/apps/team-a/elsewhere");
    let (status, problem) = register(&app, &team_a(), "team-a", other).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:gatehouse:problem:registration-conflict");
    assert_eq!(problem["fields"], json!(["tag", "source.uri"]), "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("`source.uri`"),
        "{problem}"
    );
    let (_, stored) = app
        .get(
            &format!("/v1/artifacts/{}", first["id"].as_str().unwrap()),
            &team_a(),
        )
        .await;
    assert_eq!(stored["tag"], "v1", "the first registration stands: {stored}");
    let registrations = audit(&app, first["id"].as_str().unwrap(), "app_artifact.register").await;
    assert_eq!(registrations.len(), 1, "{registrations:?}");
}

#[tokio::test]
async fn conflicting_reregistration_sqlite() {
    conflicting_reregistration(Db::sqlite()).await;
}

#[tokio::test]
async fn conflicting_reregistration_postgres() {
    if let Some(db) = postgres().await {
        conflicting_reregistration(db).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Source URIs per source type, through the API

#[tokio::test]
async fn every_source_type_accepts_its_grammar_and_refuses_others() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let blob = |seed: &str, source: Value| {
        json!({ "app": "llm", "artifact_kind": "blob", "artifact_type": "blob.model_weights",
                "digest": digest(seed), "source": source })
    };
    let accepted = [
        json!({ "source_type": "s3", "uri": "s3://models-bucket/llm/w.bin" }),
        json!({ "source_type": "gcs", "uri": "gs://models-bucket/llm/w.bin" }),
        json!({ "source_type": "azure_blob", "uri": "https://acct01.blob.core.windows.net/models/w.bin?sig=secret" }),
        json!({ "source_type": "https", "uri": "https://models.example.com/w.bin" }),
        json!({ "source_type": "huggingface", "uri": "hf://acme/llm", "source_ref": "0123abcd" }),
        json!({ "source_type": "artifact_store", "uri": "store://models/llm/w.bin" }),
    ];
    for (i, source) in accepted.into_iter().enumerate() {
        let (status, body) = register(&app, &team_a(), "team-a", blob(&format!("ok-{i}"), source)).await;
        assert_eq!(status, 201, "{body}");
        assert!(!body.to_string().contains("secret"), "{body}");
    }
    let (status, body) = register(&app, &team_a(), "team-a", oci_registration("web", &digest("oci"))).await;
    assert_eq!(status, 201, "{body}");

    let refused = [
        (
            json!({ "source_type": "https", "uri": "file:///etc/passwd" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "https", "uri": "gopher://models.example.com/" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "https", "uri": "http://169.254.169.254/latest/meta-data/" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "https", "uri": "https://169.254.169.254/latest/meta-data/" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "https", "uri": "not a uri" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "https", "uri": "https://models.example.com/w\r\nX: 1" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "s3", "uri": "gs://models-bucket/w.bin" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "gcs", "uri": "gs://models-bucket" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "azure_blob", "uri": "https://models.example.com/c/w.bin" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "huggingface", "uri": "hf://acme/llm" }),
            "source.source_ref",
        ),
        (
            json!({ "source_type": "artifact_store", "uri": "store://../etc/passwd" }),
            "source.uri",
        ),
        (
            json!({ "source_type": "oci_registry", "uri": "oci://x" }),
            "source.uri",
        ),
    ];
    for (i, (source, field)) in refused.into_iter().enumerate() {
        let (status, body) = register(
            &app,
            &team_a(),
            "team-a",
            blob(&format!("bad-{i}"), source.clone()),
        )
        .await;
        assert_invalid(status, &body, field);
    }
}
