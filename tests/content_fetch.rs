//! Content fetch: a blob in the (loopback) artifact store is downloaded during verification and
//! its hash compared with the registered digest; tampered bytes, a wrong size or a missing
//! object fail, and an unreachable store is an outage (503, nothing changed), not a verdict.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::blob_store::BlobStore;
use common::registry::sha256_digest as sha256;
use common::{Db, TestApp, token};
use serde_json::{Value, json};

const WEIGHTS: &[u8] = b"tiny model weights, fetched and hashed by the gateway\n";

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

/// A gateway that fetches `artifact_store` content from `store` and requires it to hash right.
async fn app_fetching_from(store: &BlobStore) -> TestApp {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.artifact_store.url = Some(store.url.clone());
    config.trust.content_fetch.enabled = true;
    config
        .trust
        .required
        .insert("blob".to_owned(), vec!["blob_digest".to_owned()]);
    TestApp::spawn_with(db, config).await
}

/// Registers a blob under its own app (one digest is one artifact per app).
async fn register(app: &TestApp, key: &str, digest: &str, size: Option<usize>) -> String {
    let app_slug = key.rsplit('/').next().unwrap().replace('.', "-");
    let mut source = json!({ "source_type": "artifact_store", "uri": format!("store://{key}") });
    if let Some(size) = size {
        source["size_bytes"] = json!(size);
    }
    let body = json!({
        "app": app_slug, "artifact_kind": "blob", "artifact_type": "blob.model_weights",
        "digest": digest, "source": source,
    });
    let (status, artifact) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
    assert_eq!(status, 201, "{artifact}");
    artifact["id"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, id: &str) -> (u16, Value) {
    app.post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await
}

fn digest_evidence(artifact: &Value) -> Value {
    let evidence = artifact["evidence"].as_array().unwrap();
    evidence
        .iter()
        .find(|e| e["type"] == "blob_digest")
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_blob_whose_bytes_hash_to_its_digest_is_verified() {
    let store = BlobStore::start().await;
    store.put("models/llm/weights.bin", WEIGHTS);
    let app = app_fetching_from(&store).await;
    let id = register(
        &app,
        "models/llm/weights.bin",
        &sha256(WEIGHTS),
        Some(WEIGHTS.len()),
    )
    .await;
    let (status, artifact) = verify(&app, &id).await;
    assert_eq!(status, 200, "{artifact}");
    assert_eq!(artifact["trust_state"], "verified", "{artifact}");
    let evidence = digest_evidence(&artifact);
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert_eq!(evidence["details"]["method"], "content_hash", "{evidence}");
    assert_eq!(evidence["details"]["bytes"], json!(WEIGHTS.len()), "{evidence}");
    app.shutdown().await;
}

#[tokio::test]
async fn tampered_bytes_a_wrong_size_and_a_missing_object_fail_naming_the_check() {
    let store = BlobStore::start().await;
    let app = app_fetching_from(&store).await;

    store.put("models/tampered.bin", b"not the weights that were registered");
    let id = register(&app, "models/tampered.bin", &sha256(WEIGHTS), None).await;
    let (status, artifact) = verify(&app, &id).await;
    assert_eq!(status, 200, "{artifact}");
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = digest_evidence(&artifact);
    assert_eq!(evidence["details"]["check"], "content_digest", "{evidence}");
    assert!(
        evidence["reason"]
            .as_str()
            .unwrap()
            .contains("not the registered"),
        "{evidence}"
    );

    store.put("models/sized.bin", WEIGHTS);
    let id = register(
        &app,
        "models/sized.bin",
        &sha256(WEIGHTS),
        Some(WEIGHTS.len() + 1),
    )
    .await;
    let (_, artifact) = verify(&app, &id).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    assert_eq!(
        digest_evidence(&artifact)["details"]["check"],
        "size",
        "{artifact}"
    );

    let id = register(&app, "models/absent.bin", &sha256(WEIGHTS), None).await;
    let (_, artifact) = verify(&app, &id).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = digest_evidence(&artifact);
    assert_eq!(evidence["details"]["check"], "fetch", "{evidence}");
    assert!(evidence["reason"].as_str().unwrap().contains("404"), "{evidence}");
    app.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_store_is_an_outage_that_changes_nothing() {
    let store = BlobStore::start().await;
    store.put("models/llm/weights.bin", WEIGHTS);
    let app = app_fetching_from(&store).await;
    let id = register(&app, "models/llm/weights.bin", &sha256(WEIGHTS), None).await;
    store.stop().await;
    let (status, problem) = verify(&app, &id).await;
    assert_eq!(status, 503, "{problem}");
    let (status, artifact) = app.get(&format!("/v1/artifacts/{id}"), &operator()).await;
    assert_eq!(status, 200, "{artifact}");
    assert_eq!(artifact["trust_state"], "unverified", "{artifact}");
    assert_eq!(artifact["evidence"], json!([]), "{artifact}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_source_outside_the_configured_places_is_never_fetched_and_the_requirement_fails() {
    let store = BlobStore::start().await;
    let app = app_fetching_from(&store).await;
    // An https host nobody allowlisted: the gateway must not reach it, so the required
    // `blob_digest` is missing rather than checked.
    let body = json!({
        "app": "llm", "artifact_kind": "blob", "artifact_type": "blob.model_weights",
        "digest": sha256(WEIGHTS),
        "source": { "source_type": "https", "uri": format!("{}/models/llm/weights.bin", store.url.replace("http://", "https://")) },
    });
    let (status, artifact) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
    assert_eq!(status, 201, "{artifact}");
    let (status, artifact) = verify(&app, artifact["id"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{artifact}");
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = digest_evidence(&artifact);
    assert!(
        evidence["reason"].as_str().unwrap().contains("none was found"),
        "{evidence}"
    );
    app.shutdown().await;
}
