//! App manifests as the App Manifest Registration Guide writes them (issue 16), on SQLite and
//! PostgreSQL: the guide's `slurm-reference` example registers as written (plus digests); every
//! vocabulary value comes from the catalog, so a contributed and approved operating mode becomes
//! valid and a disabled one is refused naming the entry, with the refusal in the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, auditor_token, oci_registration, repo_path, sign_es256, token, user_claims};
use serde_json::{Value, json};

/// sha256("slurm-reference controller image") and sha256("slurm-reference worker chart").
const CONTROLLER: &str = "sha256:c482af0e3cf56e1624a36aa0d5b2d6704810c89a86472797c9fd08311c7f0d99";
const CHART: &str = "sha256:59f7c36e28b1d0a816a6c4c2430f2b7365d100ff1acfeb7232e334fa2d36405f";

fn guide() -> String {
    std::fs::read_to_string(repo_path("fixtures/manifests/slurm-reference.yaml")).unwrap()
}

fn guide_json() -> Value {
    serde_norway::from_str(&guide()).unwrap()
}

fn with_platform_roles(sub: &str, roles: &[&str]) -> String {
    let mut claims = user_claims(sub, json!({}));
    claims["platform_roles"] = json!(roles);
    sign_es256(&claims)
}

fn hpc_admin() -> String {
    token("ada", json!({ "hpc": ["admin"] }))
}

async fn post_yaml(app: &TestApp, path: &str, who: &str, body: String) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(who)
        .header("content-type", "application/yaml")
        .body(body)
        .send()
        .await
        .unwrap();
    common::read(response).await
}

async fn audit(app: &TestApp, action: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!("/v1/audit?action={action}&limit=500"), &auditor_token())
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn register_artifacts(app: &TestApp) {
    for digest in [CONTROLLER, CHART] {
        let (status, body) = app
            .post(
                "/v1/projects/hpc/artifacts",
                &hpc_admin(),
                oci_registration("slurm-reference", digest),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

fn assert_catalog_fault(status: u16, body: &Value, pointer: &str, message: &str) {
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["pointer"] == pointer && e["rule"] == "catalog" && e["message"] == message),
        "{body}"
    );
}

async fn the_guides_manifest_registers(app: TestApp) {
    register_artifacts(&app).await;
    let (status, body) = post_yaml(&app, "/v1/apps", &hpc_admin(), guide()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["app"]["slug"], "slurm-reference");
    // No `app.project` in the guide: the owner is the project its canonical repositories name.
    assert_eq!(body["app"]["project"], "hpc");
    assert_eq!(body["version"]["version"], "0.1.0");
    assert_eq!(body["version"]["status"], "draft");
    let digests: Vec<&Value> = body["version"]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["digest"])
        .collect();
    assert_eq!(digests, [CONTROLLER, CHART]);
    // As written: the guide's names are kept in the stored manifest.
    let contract = &body["app"]["manifest"];
    assert_eq!(
        contract["supported_modes"]["operating_modes"],
        json!(["tenant_dedicated"])
    );
    // The same document again is the same registration.
    let (status, again) = app.post("/v1/apps", &hpc_admin(), guide_json()).await;
    assert_eq!(status, 200, "{again}");

    // A version whose repositories name no project still registers under the app's owner.
    let mut next = guide_json();
    next["version"]["version"] = json!("0.2.0");
    let (status, body) = app
        .post("/v1/apps/slurm-reference/versions", &hpc_admin(), next)
        .await;
    assert_eq!(status, 201, "{body}");
    let actions: Vec<String> = audit(&app, "app_version.register")
        .await
        .iter()
        .map(|r| r["transition"]["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "app `slurm-reference` version `0.1.0`",
            "app `slurm-reference` version `0.2.0`"
        ]
    );
    app.shutdown().await;
}

/// A new operating mode is refused until a product contributes it and a platform admin approves
/// it; disabling a seeded one refuses manifests that use it, naming the entry; each refusal is
/// audited and stores nothing.
async fn vocabulary_comes_from_the_catalog(app: TestApp) {
    register_artifacts(&app).await;
    let admin = with_platform_roles("pat", &["platform_admin"]);
    let contributor = with_platform_roles("apps-bot", &["catalog_contributor"]);
    let mut burst = guide_json();
    burst["app"]["supported_modes"]["operating_modes"] = json!(["tenant_dedicated", "edge_burst"]);

    let (status, body) = app.post("/v1/apps", &hpc_admin(), burst.clone()).await;
    assert_catalog_fault(
        status,
        &body,
        "/app/supported_modes/operating_modes/1",
        "operating mode `edge_burst` is not in the catalog",
    );
    let entry = json!({
        "id": "edge_burst", "description": "Bursts onto edge GPU capacity.",
        "owner_product": "app_runtime", "fields": {},
    });
    let (status, created) = app.post("/v1/catalog/operating_modes", &contributor, entry).await;
    assert_eq!(
        (status, created["status"].as_str()),
        (201, Some("pending")),
        "{created}"
    );
    let (status, body) = app.post("/v1/apps", &hpc_admin(), burst.clone()).await;
    assert_catalog_fault(
        status,
        &body,
        "/app/supported_modes/operating_modes/1",
        "operating mode `edge_burst` is pending approval in the catalog",
    );
    let (status, approved) = app
        .post(
            "/v1/catalog/operating_modes/edge_burst/approve",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, approved["usable"].as_bool()),
        (200, Some(true)),
        "{approved}"
    );
    let (status, body) = app.post("/v1/apps", &hpc_admin(), burst).await;
    assert_eq!(status, 201, "{body}");

    // Disabling a seeded value refuses new versions that use it, naming the entry and pointer.
    let (status, _) = app
        .post(
            "/v1/catalog/credential_classes/workload_identity/disable",
            &admin,
            json!({ "reason": "operators move to short-lived identities" }),
        )
        .await;
    assert_eq!(status, 200);
    let mut next = guide_json();
    next["version"]["version"] = json!("0.3.0");
    let (status, body) = app
        .post("/v1/apps/slurm-reference/versions", &hpc_admin(), next)
        .await;
    assert_catalog_fault(
        status,
        &body,
        "/version/runtime_requirements/operator_identity",
        "credential class `workload_identity` is disabled in the catalog",
    );
    let (_, page) = app.get("/v1/apps/slurm-reference/versions", &hpc_admin()).await;
    let versions: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(versions, ["0.1.0"], "a refused version stores nothing");

    // Each refusal is in the audit trail, naming the entry.
    let refusals = audit(&app, "catalog.refuse").await;
    let reasons: Vec<&str> = refusals
        .iter()
        .map(|r| r["transition"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|r| r["project"] == "hpc" && r["actor"]["id"] == "ada")
    );
    assert!(
        reasons[0].contains("operating mode `edge_burst` is not in the catalog"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("is pending approval"), "{reasons:?}");
    assert!(
        reasons[2].contains("credential class `workload_identity` is disabled in the catalog"),
        "{reasons:?}"
    );
    assert_eq!(refusals[2]["transition"]["from"], "register_app_version");
    app.shutdown().await;
}

/// A version shows what it ships, as it stands now; disabling the artifacts' type refuses pull
/// intents, admission reviews and promotions naming the entry, each refusal audited.
async fn a_disabled_artifact_type_governs_every_path(app: TestApp) {
    register_artifacts(&app).await;
    let admin = hpc_admin();
    let (status, body) = post_yaml(&app, "/v1/apps", &admin, guide()).await;
    assert_eq!(status, 201, "{body}");
    let (status, version) = app.get("/v1/apps/slurm-reference/versions/0.1.0", &admin).await;
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["status"], "draft");
    let linked = version["linked_artifacts"].as_array().unwrap();
    assert_eq!(linked.len(), 2, "{version}");
    assert_eq!(
        (
            linked[0]["name"].as_str(),
            linked[0]["digest"].as_str(),
            linked[0]["artifact_type"].as_str(),
            linked[0]["trust_state"].as_str(),
            linked[0]["lifecycle_state"].as_str(),
        ),
        (
            Some("slurm-controller"),
            Some(CONTROLLER),
            Some("oci.image"),
            Some("unverified"),
            Some("published")
        )
    );
    assert_eq!(linked[0]["catalog_refusals"], json!([]));
    let (status, _) = app.get("/v1/apps/slurm-reference/versions/9.9.9", &admin).await;
    assert_eq!(status, 404);
    let outsider = token("bea", json!({ "team-b": ["admin"] }));
    let (status, _) = app
        .get("/v1/apps/slurm-reference/versions/0.1.0", &outsider)
        .await;
    assert_eq!(status, 403);

    let pull = json!({ "digest": CONTROLLER });
    let review = json!({ "project": "hpc", "digest": CONTROLLER, "action": "read" });
    let (status, body) = app
        .post("/v1/projects/hpc/pull-intents", &admin, pull.clone())
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = app.post("/v1/admission/review", &admin, review.clone()).await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("allow")),
        "{body}"
    );

    let platform = with_platform_roles("pat", &["platform_admin"]);
    let (status, _) = app
        .post(
            "/v1/catalog/artifact_types/oci.image/disable",
            &platform,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let disabled = "artifact type `oci.image` is disabled in the catalog";
    let assert_unusable = |status: u16, body: &Value| {
        assert_eq!(status, 409, "{body}");
        assert_eq!(
            body["type"], "urn:gatehouse:problem:catalog-entry-unusable",
            "{body}"
        );
        assert_eq!(body["detail"], disabled, "{body}");
        assert_eq!(
            (body["catalog_family"].as_str(), body["catalog_id"].as_str()),
            (Some("artifact_types"), Some("oci.image"))
        );
    };
    let (status, body) = app.post("/v1/projects/hpc/pull-intents", &admin, pull).await;
    assert_unusable(status, &body);
    let (status, body) = app.post("/v1/admission/review", &admin, review).await;
    assert_eq!((status, body["decision"].as_str()), (200, Some("deny")), "{body}");
    assert_eq!(body["reasons"], json!([disabled]));
    assert!(body["artifact"].is_null());
    let id = linked[0]["artifact_id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &admin,
            json!({ "channel": "dev" }),
        )
        .await;
    assert_unusable(status, &body);
    let (_, version) = app.get("/v1/apps/slurm-reference/versions/0.1.0", &admin).await;
    assert_eq!(
        version["linked_artifacts"][0]["catalog_refusals"],
        json!([disabled])
    );
    assert_eq!(version["linked_artifacts"][0]["lifecycle_state"], "published");

    let refusals = audit(&app, "catalog.refuse").await;
    let seen: Vec<(&str, &str, &str)> = refusals
        .iter()
        .map(|r| {
            (
                r["transition"]["from"].as_str().unwrap(),
                r["transition"]["reason"].as_str().unwrap(),
                r["artifact_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("request_pull_intent", disabled, id),
            ("read", disabled, id),
            ("promote", disabled, id)
        ]
    );
    app.shutdown().await;
}

/// A gateway that issues registry tokens, so pull intents can be granted.
async fn with_registry_tokens(db: Db) -> TestApp {
    let mut config = common::test_config(&db);
    config.registry.token_key_file = Some(repo_path("fixtures/registry/token.key"));
    config.registry.token_cert_file = Some(repo_path("fixtures/registry/token.crt"));
    TestApp::spawn_with(db, config).await
}

#[tokio::test]
async fn the_guides_manifest_registers_on_sqlite() {
    the_guides_manifest_registers(TestApp::spawn(Db::sqlite()).await).await;
}

#[tokio::test]
async fn the_guides_manifest_registers_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    the_guides_manifest_registers(TestApp::spawn(Db::Postgres(db)).await).await;
}

#[tokio::test]
async fn vocabulary_comes_from_the_catalog_on_sqlite() {
    vocabulary_comes_from_the_catalog(TestApp::spawn(Db::sqlite()).await).await;
}

#[tokio::test]
async fn vocabulary_comes_from_the_catalog_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    vocabulary_comes_from_the_catalog(TestApp::spawn(Db::Postgres(db)).await).await;
}

#[tokio::test]
async fn a_disabled_artifact_type_governs_every_path_on_sqlite() {
    a_disabled_artifact_type_governs_every_path(with_registry_tokens(Db::sqlite()).await).await;
}

#[tokio::test]
async fn a_disabled_artifact_type_governs_every_path_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    a_disabled_artifact_type_governs_every_path(with_registry_tokens(Db::Postgres(db)).await).await;
}
