//! App onboarding through the HTTP API, on SQLite and PostgreSQL: the reference manifests
//! register, faulty ones are refused with the JSON pointer of the fault and nothing stored;
//! publishing waits for every linked artifact to be verified and for a platform admin; projects
//! see published versions once entitled; every step is in the audit trail and decision log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::sigstore_fixtures as fx;
use common::{Db, TestApp, auditor_token, oci_registration, repo_path, token};
use serde_json::{Value, json};

/// The digest the slurm reference manifest names for its image.
const SLURM_DIGEST: &str = "sha256:92df036bffe874a2b077c97354cc1f528b44cfff9831d4315f8e3fa03c8dae9c";
/// The bytes whose sha256 the model-serving manifest names for its weights.
const WEIGHTS: &[u8] = b"gatehouse model-serving weights v1";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_path(&format!("fixtures/manifests/{name}"))).unwrap()
}

fn yaml_fixture(name: &str) -> Value {
    serde_norway::from_str(&fixture(name)).unwrap()
}

fn platform_admin() -> String {
    let mut claims = common::user_claims("pat", json!({}));
    claims["platform_roles"] = json!(["platform_admin"]);
    common::sign_es256(&claims)
}

/// POSTs raw bytes with a content type.
async fn post_raw(app: &TestApp, path: &str, who: &str, content_type: &str, body: String) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(who)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    common::read(response).await
}

fn assert_fault(status: u16, body: &Value, pointer: &str, rule: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], pointer, "{body}");
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["pointer"] == pointer && e["rule"] == rule),
        "{body}"
    );
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

fn versions_of(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit_actions(app: &TestApp, project: &str) -> Vec<String> {
    let (status, audit) = app.get("/v1/audit?limit=500", &auditor_token()).await;
    assert_eq!(status, 200, "{audit}");
    items(&audit)
        .iter()
        .filter(|r| r["project"] == project)
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn slurm_registers_and_faults_store_nothing(app: TestApp) {
    let admin = token("ada", json!({ "hpc": ["admin"] }));
    let (status, body) = app
        .post(
            "/v1/projects/hpc/artifacts",
            &admin,
            oci_registration("slurm-cluster", SLURM_DIGEST),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // An operator may register artifacts but not apps.
    let operator = token("olivia", json!({ "hpc": ["operator"] }));
    let slurm = fixture("slurm-cluster.yaml");
    let (status, body) = post_raw(&app, "/v1/apps", &operator, "application/yaml", slurm.clone()).await;
    assert_eq!((status, body["decision"].as_str()), (403, Some("deny")), "{body}");

    let (status, body) = post_raw(&app, "/v1/apps", &admin, "application/yaml", slurm.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["app"]["slug"], "slurm-cluster");
    assert_eq!(body["app"]["project"], "hpc");
    assert_eq!(body["version"]["status"], "draft");
    assert_eq!(body["version"]["artifacts"][0]["digest"], SLURM_DIGEST);
    // The same manifest again (as JSON this time) is the same registration.
    let (status, again) = app
        .post("/v1/apps", &admin, yaml_fixture("slurm-cluster.yaml"))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["version"]["id"], body["version"]["id"]);

    // Faulty manifests: each refused with the pointer of its fault.
    let (status, problem) = post_raw(
        &app,
        "/v1/apps",
        &admin,
        "application/yaml",
        fixture("invalid/bad-placement-schema.yaml"),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["field"]
            .as_str()
            .unwrap()
            .starts_with("/version/placement_schema"),
        "{problem}"
    );
    let (status, problem) = post_raw(
        &app,
        "/v1/apps",
        &admin,
        "application/json",
        fixture("invalid/missing-slug.json"),
    )
    .await;
    assert_fault(status, &problem, "/app/slug", "required");
    let (status, problem) = post_raw(
        &app,
        "/v1/apps/slurm-cluster/versions",
        &admin,
        "application/yaml",
        fixture("invalid/tag-only-artifact.yaml"),
    )
    .await;
    assert_fault(status, &problem, "/version/artifacts/0/digest", "required");

    // A digest no artifact of the project has is refused at its pointer.
    let mut unknown = yaml_fixture("slurm-cluster.yaml");
    unknown["version"]["version"] = json!("1.1.0");
    unknown["version"]["artifacts"][0]["digest"] = json!(common::digest("never registered"));
    let (status, problem) = app.post("/v1/apps/slurm-cluster/versions", &admin, unknown).await;
    assert_fault(status, &problem, "/version/artifacts/0/digest", "registered");
    // So is one registered in another project.
    let mut elsewhere = yaml_fixture("slurm-cluster.yaml");
    elsewhere["version"]["version"] = json!("1.2.0");
    elsewhere["version"]["artifacts"][0]["repository"] = json!("gpuaas/apps/team-a/slurm-cluster");
    let (status, problem) = app
        .post("/v1/apps/slurm-cluster/versions", &admin, elsewhere)
        .await;
    assert_fault(status, &problem, "/version/artifacts/0/digest", "registered");

    // The app layer is fixed too: the same slug with other content is a conflict.
    let mut renamed = yaml_fixture("slurm-cluster.yaml");
    renamed["app"]["display_name"] = json!("Slurm, renamed");
    let (status, problem) = app.post("/v1/apps", &admin, renamed).await;
    assert_eq!(status, 409, "{problem}");
    // An app needs its owning project; a version must name the owner, if any project.
    let mut ownerless = yaml_fixture("slurm-cluster.yaml");
    ownerless["app"].as_object_mut().unwrap().remove("project");
    ownerless["app"]["slug"] = json!("slurm-other");
    let (status, problem) = app.post("/v1/apps", &admin, ownerless).await;
    assert_fault(status, &problem, "/app/project", "required");
    let mut moved = yaml_fixture("slurm-cluster.yaml");
    moved["app"]["project"] = json!("team-a");
    moved["version"]["version"] = json!("1.3.0");
    let (status, problem) = app.post("/v1/apps/slurm-cluster/versions", &admin, moved).await;
    assert_fault(status, &problem, "/app/project", "const");

    // Versions are immutable: the same number with other content is a conflict.
    let mut changed = yaml_fixture("slurm-cluster.yaml");
    changed["version"]["runtime_requirements"]["credential_classes"] = json!(["registry_pull"]);
    let (status, problem) = app.post("/v1/apps/slurm-cluster/versions", &admin, changed).await;
    assert_eq!(status, 409, "{problem}");
    // The manifest's slug must be the path's.
    let (status, problem) = app
        .post(
            "/v1/apps/other-app/versions",
            &admin,
            yaml_fixture("slurm-cluster.yaml"),
        )
        .await;
    assert_fault(status, &problem, "/app/slug", "const");
    // Neither JSON nor YAML is a 415.
    let (status, problem) = post_raw(&app, "/v1/apps", &admin, "text/plain", slurm.clone()).await;
    assert_eq!(status, 415, "{problem}");
    // Malformed YAML is a 400.
    let (status, problem) = post_raw(&app, "/v1/apps", &admin, "application/yaml", "app: [".into()).await;
    assert_eq!(status, 400, "{problem}");

    // Nothing of the refused manifests was stored.
    let (status, page) = app.get("/v1/apps", &admin).await;
    assert_eq!(status, 200, "{page}");
    let slugs: Vec<Value> = items(&page).iter().map(|a| a["slug"].clone()).collect();
    assert_eq!(slugs, [json!("slurm-cluster")]);
    let (_, page) = app.get("/v1/apps/slurm-cluster/versions", &admin).await;
    assert_eq!(versions_of(&page), ["1.0.0"]);
    let actions = audit_actions(&app, "hpc").await;
    assert_eq!(
        actions,
        ["app_artifact.register", "app.register", "app_version.register"],
        "{actions:?}"
    );

    // A draft-only app cannot be granted.
    let other_admin = token("bea", json!({ "team-b": ["admin"] }));
    let (status, problem) = app
        .post(
            "/v1/projects/team-b/entitlements",
            &other_admin,
            json!({ "app": "slurm-cluster" }),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    // Outsiders learn nothing about the app.
    let (status, _) = app.get("/v1/apps/slurm-cluster", &other_admin).await;
    assert_eq!(status, 403);
    let (_, page) = app.get("/v1/apps", &other_admin).await;
    assert!(items(&page).is_empty(), "{page}");
}

/// A gateway that trusts the fixture signing key and log, and requires a bundle for blobs.
fn trusting_config(db: &Db, dir: &tempfile::TempDir) -> gatehouse::Config {
    let log = fx::log_key("rekor");
    let root_file = dir.path().join("trusted_root.json");
    std::fs::write(&root_file, fx::trusted_root(&log).to_string()).unwrap();
    let mut config = common::test_config(db);
    config.trust.cosign_public_key_files = vec![repo_path("fixtures/cosign/cosign.pub")];
    config.trust.trusted_root_file = Some(root_file);
    config
        .trust
        .required
        .insert("blob".to_owned(), vec!["blob_bundle".to_owned()]);
    config
}

async fn publish_waits_for_verification_and_a_platform_admin(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let config = trusting_config(&db, &dir);
    let app = TestApp::spawn_with(db, config).await;
    let admin = token("ada", json!({ "ml": ["admin"] }));
    let good = fx::keyed_bundle(WEIGHTS, &fx::log_key("rekor"));

    // The weights, registered without the bundle that blobs require: verification fails.
    let (status, weights) = app
        .post(
            "/v1/projects/ml/artifacts",
            &admin,
            json!({
                "app": "llm-serving", "artifact_kind": "blob", "artifact_type": "blob.model_weights",
                "digest": good.digest,
                "source": { "source_type": "huggingface", "uri": "hf://acme/llm-7b/model.safetensors", "source_ref": "main" },
            }),
        )
        .await;
    assert_eq!(status, 201, "{weights}");
    let id = weights["id"].as_str().unwrap().to_owned();
    let (_, failed) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &admin, json!({}))
        .await;
    assert_eq!(failed["trust_state"], "failed_verification", "{failed}");

    let (status, body) = post_raw(
        &app,
        "/v1/apps",
        &admin,
        "application/json",
        fixture("model-serving.json"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["version"]["artifacts"][0]["artifact_id"], id.as_str());

    let publish = "/v1/apps/llm-serving/versions/0.3.0/publish";
    let (status, denied) = app.post(publish, &platform_admin(), json!({})).await;
    assert_eq!(status, 403, "{denied}");
    assert_eq!(denied["policy_ids"], json!(["app-publish-artifacts-verified"]));

    // Re-verification with the bundle passes.
    let (_, verified) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &admin,
            json!({ "sigstore_bundle": good.bundle }),
        )
        .await;
    assert_eq!(verified["trust_state"], "verified", "{verified}");

    // The owning project's admin still may not publish; a platform admin may, once.
    let (status, denied) = app.post(publish, &admin, json!({})).await;
    assert_eq!(status, 403, "{denied}");
    assert_eq!(denied["policy_ids"], json!(["app-publish-platform-admin-only"]));
    let (status, published) = app.post(publish, &platform_admin(), json!({})).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!(published["status"], "published");
    assert_eq!(published["published_by"]["id"], "pat");
    let (status, again) = app.post(publish, &platform_admin(), json!({})).await;
    assert_eq!(status, 409, "{again}");

    // A later draft, then entitlements: an entitled project sees published versions only.
    let mut next = serde_json::from_str::<Value>(&fixture("model-serving.json")).unwrap();
    next["version"]["version"] = json!("0.4.0");
    let (status, body) = app.post("/v1/apps/llm-serving/versions", &admin, next).await;
    assert_eq!(status, 201, "{body}");
    let team_b_admin = token("bea", json!({ "team-b": ["admin"] }));
    let team_b_viewer = token("bob", json!({ "team-b": ["viewer"] }));
    let (status, _) = app.get("/v1/apps/llm-serving/versions", &team_b_viewer).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post(
            "/v1/projects/team-b/entitlements",
            &team_b_viewer,
            json!({ "app": "llm-serving" }),
        )
        .await;
    assert_eq!(status, 403);
    let (status, grant) = app
        .post(
            "/v1/projects/team-b/entitlements",
            &team_b_admin,
            json!({ "app": "llm-serving" }),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let other_b_admin = token("ben", json!({ "team-b": ["admin"] }));
    let (status, repeat) = app
        .post(
            "/v1/projects/team-b/entitlements",
            &other_b_admin,
            json!({ "app": "llm-serving" }),
        )
        .await;
    assert_eq!(status, 200, "{repeat}");
    assert_eq!(repeat["granted_by"]["id"], "bea", "{repeat}");
    let (status, held) = app.get("/v1/projects/team-b/entitlements", &team_b_viewer).await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(items(&held)[0]["app"], "llm-serving");

    let (_, seen) = app.get("/v1/apps/llm-serving/versions", &team_b_viewer).await;
    assert_eq!(versions_of(&seen), ["0.3.0"]);
    let (_, seen) = app.get("/v1/apps/llm-serving/versions", &admin).await;
    assert_eq!(versions_of(&seen), ["0.3.0", "0.4.0"]);
    let (_, first) = app.get("/v1/apps/llm-serving/versions?limit=1", &admin).await;
    assert_eq!(versions_of(&first), ["0.3.0"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(
            &format!("/v1/apps/llm-serving/versions?limit=1&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(versions_of(&second), ["0.4.0"]);
    assert!(second["next_cursor"].is_null(), "{second}");
    let (_, seen) = app
        .get("/v1/apps/llm-serving/versions?status=draft", &admin)
        .await;
    assert_eq!(versions_of(&seen), ["0.4.0"]);
    let (status, problem) = app
        .get("/v1/apps/llm-serving/versions?status=approved", &admin)
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("status")),
        "{problem}"
    );
    let (_, apps) = app.get("/v1/apps", &team_b_viewer).await;
    assert_eq!(items(&apps).len(), 1, "{apps}");

    // Every step is in the audit trail, and both refusals in the decision log.
    let actions = audit_actions(&app, "ml").await;
    assert_eq!(
        actions,
        [
            "app_artifact.register",
            "app_artifact.verify",
            "app.register",
            "app_version.register",
            "app_artifact.verify",
            "app_version.publish",
            "app_version.register",
        ],
        "{actions:?}"
    );
    assert_eq!(audit_actions(&app, "team-b").await, ["entitlement.grant"]);
    let (_, denies) = app
        .get(
            "/v1/decisions?decision=deny&action=publish_app_version",
            &auditor_token(),
        )
        .await;
    let denied_by: Vec<&str> = items(&denies)
        .iter()
        .map(|d| {
            if d["actor"]["id"] == "pat" {
                "platform admin"
            } else {
                "project admin"
            }
        })
        .collect();
    assert_eq!(denied_by, ["platform admin", "project admin"], "{denies}");
}

#[tokio::test]
async fn slurm_reference_on_sqlite() {
    slurm_registers_and_faults_store_nothing(TestApp::spawn(Db::sqlite()).await).await;
}

#[tokio::test]
async fn slurm_reference_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    slurm_registers_and_faults_store_nothing(TestApp::spawn(Db::Postgres(db)).await).await;
}

#[tokio::test]
async fn publishing_on_sqlite() {
    publish_waits_for_verification_and_a_platform_admin(Db::sqlite()).await;
}

#[tokio::test]
async fn publishing_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    publish_waits_for_verification_and_a_platform_admin(Db::Postgres(db)).await;
}

/// The audit trail's catalog gate covers apps too: with the `app.register` action disabled an
/// app registration is refused naming the entry, and nothing is stored or audited.
#[tokio::test]
async fn a_disabled_audit_action_refuses_app_registration() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let admin = token("ada", json!({ "hpc": ["admin"] }));
    let (status, body) = app
        .post(
            "/v1/projects/hpc/artifacts",
            &admin,
            oci_registration("slurm-cluster", SLURM_DIGEST),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let disable = "/v1/catalog/audit_actions/app.register/disable";
    let (status, body) = app.post(disable, &platform_admin(), json!({})).await;
    assert_eq!(status, 200, "{body}");

    let slurm = fixture("slurm-cluster.yaml");
    let (status, body) = post_raw(&app, "/v1/apps", &admin, "application/yaml", slurm.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["type"], "urn:gatehouse:problem:catalog-entry-unusable",
        "{body}"
    );
    assert_eq!(
        (body["catalog_family"].as_str(), body["catalog_id"].as_str()),
        (Some("audit_actions"), Some("app.register")),
        "{body}"
    );
    let (status, body) = app.get("/v1/apps/slurm-cluster", &admin).await;
    assert_eq!(status, 404, "{body}");
    let actions = audit_actions(&app, "hpc").await;
    assert!(
        !actions
            .iter()
            .any(|a| a == "app.register" || a == "app_version.register"),
        "a refused registration is not audited: {actions:?}"
    );

    let enable = "/v1/catalog/audit_actions/app.register/enable";
    let (status, body) = app.post(enable, &platform_admin(), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_raw(&app, "/v1/apps", &admin, "application/yaml", slurm).await;
    assert_eq!(status, 201, "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_app_routes() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let response = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let (status, doc) = common::read(response).await;
    assert_eq!(status, 200);
    for (path, methods) in [
        ("/v1/apps", &["get", "post"][..]),
        ("/v1/apps/{slug}", &["get"][..]),
        ("/v1/apps/{slug}/versions", &["get", "post"][..]),
        ("/v1/apps/{slug}/versions/{version}/publish", &["post"][..]),
        ("/v1/projects/{project}/entitlements", &["get", "post"][..]),
    ] {
        for method in methods {
            assert!(
                doc["paths"][path][method].is_object(),
                "openapi lacks {method} {path}"
            );
        }
    }
    assert!(doc["components"]["schemas"]["ManifestFault"].is_object());
}
