//! Open vocabularies: a source type or artifact type a product contributes is accepted once a
//! platform admin approves it, with no code change; pending, unknown and disabled ones fail
//! closed naming the entry, audited as `catalog.refuse` on every path (publish intents too).

use serde_json::{Value, json};

use super::common::{self, Db, TestApp, digest};
use super::{assert_unusable, audit_actions, contributor, operator, platform_admin, register};

/// Registry tokens (for publish and pull intents) and content fetch on, with no https host
/// allowed: nothing is actually fetched, so only the fail-closed path is exercised.
async fn gateway(db: Db) -> TestApp {
    let mut config = common::test_config(&db);
    config.registry.token_key_file = Some(common::repo_path("fixtures/registry/token.key"));
    config.registry.token_cert_file = Some(common::repo_path("fixtures/registry/token.crt"));
    config.trust.content_fetch.enabled = true;
    TestApp::spawn_with(db, config).await
}

fn weights(source_type: &str, uri: &str, seed: &str) -> Value {
    json!({
        "app": "trainer", "artifact_kind": "blob", "artifact_type": "blob.model_weights",
        "digest": digest(seed),
        "source": { "source_type": source_type, "uri": uri },
    })
}

async fn contribute_and_approve(app: &TestApp, family: &str, entry: Value, approve: bool) {
    let id = entry["id"].as_str().unwrap().to_owned();
    let (status, created) = app
        .post(&format!("/v1/catalog/{family}"), &contributor(), entry)
        .await;
    assert_eq!(
        (status, created["status"].as_str()),
        (201, Some("pending")),
        "{created}"
    );
    if approve {
        let (status, body) = app
            .post(
                &format!("/v1/catalog/{family}/{id}/approve"),
                &platform_admin(),
                json!({}),
            )
            .await;
        assert_eq!((status, body["usable"].as_bool()), (200, Some(true)), "{body}");
    }
}

async fn disable(app: &TestApp, family: &str, id: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/catalog/{family}/{id}/disable"),
            &platform_admin(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The source types `GET /v1/registry` says registration accepts now.
async fn accepted_source_types(app: &TestApp) -> Vec<String> {
    let (status, info) = app.get("/v1/registry", &operator()).await;
    assert_eq!(status, 200, "{info}");
    serde_json::from_value(info["source_types"].clone()).unwrap()
}

/// The `from` and `reason` of every `catalog.refuse` record, in the order written.
async fn refusals(app: &TestApp) -> Vec<(String, String)> {
    audit_actions(app, "catalog.refuse")
        .await
        .iter()
        .map(|r| {
            let t = &r["transition"];
            (
                t["from"].as_str().unwrap().to_owned(),
                t["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A contributed source type: refused while unknown and pending, registrable once approved
/// (its location read with its catalog protocol's grammar, if any), refused once disabled.
async fn contributed_source_types(app: TestApp) {
    let minio = |seed: &str| weights("minio_eu", &format!("minio://eu-1/models/{seed}"), seed);
    let (status, body) = register(&app, minio("w-1")).await;
    let unknown = "source type `minio_eu` is not in the catalog";
    assert_unusable(status, &body, "source_types", "minio_eu", unknown);

    let entry = json!({
        "id": "minio_eu", "description": "The EU MinIO cluster.", "owner_product": "gpuaas",
        "fields": { "kinds": ["blob"] },
    });
    contribute_and_approve(&app, "source_types", entry, false).await;
    let (status, body) = register(&app, minio("w-1")).await;
    let pending = "source type `minio_eu` is pending approval in the catalog";
    assert_unusable(status, &body, "source_types", "minio_eu", pending);
    let (status, body) = app
        .post(
            "/v1/catalog/source_types/minio_eu/approve",
            &platform_admin(),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    assert!(accepted_source_types(&app).await.contains(&"minio_eu".to_owned()));
    let (status, artifact) = register(&app, minio("w-1")).await;
    assert_eq!(status, 201, "{artifact}");
    assert_eq!(artifact["source"]["source_type"], "minio_eu", "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let registered = audit_actions(&app, "app_artifact.register").await;
    assert!(
        registered
            .iter()
            .any(|r| r["artifact_id"] == id && r["source_type"] == "minio_eu"),
        "{registered:?}"
    );
    // No protocol in its entry: the gateway cannot fetch its content, so the check fails
    // closed with a reason rather than passing unchecked.
    let (status, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(
        (status, verified["trust_state"].as_str()),
        (200, Some("failed_verification")),
        "{verified}"
    );
    let content = verified["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "blob_digest")
        .cloned()
        .unwrap_or_else(|| panic!("no blob_digest evidence: {verified}"));
    assert_eq!(content["result"], "fail", "{content}");
    assert!(
        content["reason"]
            .as_str()
            .unwrap()
            .contains("`minio_eu` names no fetch protocol"),
        "{content}"
    );

    // A contributed type naming a protocol has that protocol's location grammar.
    let entry = json!({
        "id": "minio_https", "description": "MinIO behind its HTTPS gateway.",
        "owner_product": "gpuaas", "fields": { "kinds": ["blob"], "protocol": "https" },
    });
    contribute_and_approve(&app, "source_types", entry, true).await;
    let (status, body) = register(&app, weights("minio_https", "minio://eu-1/w", "w-2")).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("source.uri")),
        "{body}"
    );
    let (status, body) = register(
        &app,
        weights("minio_https", "https://minio.example.com/w.bin", "w-2"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let bad = json!({
        "id": "minio_loop", "description": "d", "owner_product": "gpuaas",
        "fields": { "kinds": ["blob"], "protocol": "minio_eu" },
    });
    let (status, body) = app.post("/v1/catalog/source_types", &contributor(), bad).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("/fields/protocol")),
        "{body}"
    );

    // Disabled: registration is refused again, naming the entry.
    disable(&app, "source_types", "minio_eu").await;
    let (status, body) = register(&app, minio("w-3")).await;
    let disabled = "source type `minio_eu` is disabled in the catalog";
    let accepted = accepted_source_types(&app).await;
    assert!(!accepted.contains(&"minio_eu".to_owned()) && accepted.contains(&"s3".to_owned()));
    assert_unusable(status, &body, "source_types", "minio_eu", disabled);

    // Forged values are refused by the grammar, naming the field.
    for (field, body) in [
        ("source.source_type", weights("Minio EU", "minio://eu-1/w", "w-4")),
        ("artifact_type", {
            let mut b = minio("w-4");
            b["artifact_type"] = json!("blob..weights");
            b
        }),
    ] {
        let (status, answer) = register(&app, body).await;
        assert_eq!((status, answer["field"].as_str()), (422, Some(field)), "{answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains("catalog id"),
            "{answer}"
        );
    }

    let seen = refusals(&app).await;
    let expected = [unknown, pending, disabled].map(|r| ("register".to_owned(), r.to_owned()));
    assert_eq!(seen, expected);
    app.shutdown().await;
}

/// A contributed artifact type takes its kind from its catalog entry; disabled, it refuses pull
/// intents, admission reviews and publish intents, each refusal audited.
async fn contributed_artifact_types(app: TestApp) {
    let entry = json!({
        "id": "wasm_module", "description": "A WebAssembly module stored as an OCI artifact.",
        "owner_product": "gpuaas",
        "fields": { "kind": "oci", "trust_inputs": ["signature"], "promotable": true },
    });
    contribute_and_approve(&app, "artifact_types", entry, true).await;
    let module = |kind: &str, seed: &str| {
        let mut body = common::oci_registration("trainer", &digest(seed));
        body["artifact_kind"] = json!(kind);
        body["artifact_type"] = json!("wasm_module");
        body
    };
    let (status, body) = register(&app, module("blob", "wasm-1")).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("artifact_type")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("`wasm_module` is not of kind `blob`"),
        "{body}"
    );
    let (status, artifact) = register(&app, module("oci", "wasm-1")).await;
    assert_eq!(status, 201, "{artifact}");
    assert_eq!(
        (
            artifact["artifact_type"].as_str(),
            artifact["artifact_kind"].as_str()
        ),
        (Some("wasm_module"), Some("oci"))
    );
    let id = artifact["id"].as_str().unwrap();

    let pull = json!({ "artifact_id": id });
    let review = json!({ "project": "team-a", "digest": digest("wasm-1"), "action": "read" });
    let publish =
        json!({ "app": "trainer", "artifact_kind": "oci", "artifact_type": "wasm_module", "tag": "v2" });
    let (status, body) = app
        .post("/v1/projects/team-a/pull-intents", &operator(), pull.clone())
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = app
        .post("/v1/admission/review", &operator(), review.clone())
        .await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("allow")),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/v1/projects/team-a/publish-intents",
            &operator(),
            publish.clone(),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    disable(&app, "artifact_types", "wasm_module").await;
    let disabled = "artifact type `wasm_module` is disabled in the catalog";
    let (status, body) = app
        .post("/v1/projects/team-a/pull-intents", &operator(), pull)
        .await;
    assert_unusable(status, &body, "artifact_types", "wasm_module", disabled);
    let (status, body) = app.post("/v1/admission/review", &operator(), review).await;
    assert_eq!((status, body["decision"].as_str()), (200, Some("deny")), "{body}");
    assert_eq!(body["reasons"], json!([disabled]));
    let (status, body) = app
        .post("/v1/projects/team-a/publish-intents", &operator(), publish)
        .await;
    assert_unusable(status, &body, "artifact_types", "wasm_module", disabled);
    // An artifact type nobody contributed is refused by name, and audited, too.
    let unknown = json!({ "app": "trainer", "artifact_kind": "oci", "artifact_type": "oci.nope" });
    let (status, body) = app
        .post("/v1/projects/team-a/publish-intents", &operator(), unknown)
        .await;
    let not_in = "artifact type `oci.nope` is not in the catalog";
    assert_unusable(status, &body, "artifact_types", "oci.nope", not_in);

    let seen = refusals(&app).await;
    let expected = [
        ("request_pull_intent", disabled),
        ("read", disabled),
        ("request_publish_intent", disabled),
        ("request_publish_intent", not_in),
    ]
    .map(|(from, reason)| (from.to_owned(), reason.to_owned()));
    assert_eq!(seen, expected);
    let records = audit_actions(&app, "catalog.refuse").await;
    let publish_refusal = records
        .iter()
        .find(|r| r["transition"]["reason"] == not_in)
        .unwrap();
    assert_eq!(
        (
            publish_refusal["project"].as_str(),
            publish_refusal["repository"].as_str(),
            publish_refusal["actor"]["id"].as_str(),
        ),
        (Some("team-a"), Some("gpuaas/apps/team-a/trainer"), Some("olivia")),
        "{publish_refusal}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn contributed_source_types_on_sqlite() {
    contributed_source_types(gateway(Db::sqlite()).await).await;
}

#[tokio::test]
async fn contributed_source_types_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    contributed_source_types(gateway(Db::Postgres(db)).await).await;
}

#[tokio::test]
async fn contributed_artifact_types_on_sqlite() {
    contributed_artifact_types(gateway(Db::sqlite()).await).await;
}

#[tokio::test]
async fn contributed_artifact_types_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    contributed_artifact_types(gateway(Db::Postgres(db)).await).await;
}
