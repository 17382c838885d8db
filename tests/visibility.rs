//! Visibility classes through the HTTP API: project, tenant and platform repositories get their
//! canonical gateway-chosen paths, the class reaches Cedar, and a policy can restrict one class
//! (or one tenant) without touching project repositories.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, digest, oci_registration, token};
use serde_json::{Value, json};

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn platform_releaser() -> String {
    let mut claims = common::user_claims("rel", json!({ "team-a": ["operator"] }));
    claims["platform_roles"] = json!(["releaser"]);
    common::sign_es256(&claims)
}

fn scoped(app: &str, seed: &str, scope: Value) -> Value {
    let mut body = oci_registration(app, &digest(seed));
    for (k, v) in scope.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn artifact_count(app: &TestApp) -> usize {
    let (status, body) = app.get("/v1/projects/team-a/artifacts", &operator()).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn each_class_gets_its_canonical_path_on_sqlite() {
    each_class_gets_its_canonical_path(Db::sqlite()).await;
}

#[tokio::test]
async fn each_class_gets_its_canonical_path_on_postgres() {
    if let Some(db) = common::pg::fresh_db().await {
        each_class_gets_its_canonical_path(Db::Postgres(db)).await;
    }
}

async fn each_class_gets_its_canonical_path(db: Db) {
    let app = TestApp::spawn(db).await;

    let (status, project) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            scoped("trainer", "p", json!({})),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    assert_eq!(project["repository"], "gpuaas/apps/team-a/trainer");
    assert_eq!(project["visibility"], "project");
    assert!(project.get("tenant").is_none(), "{project}");

    let tenant = json!({ "visibility": "tenant", "tenant": "acme" });
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            scoped("trainer", "t", tenant),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["repository"], "gpuaas/tenants/acme/trainer");
    assert_eq!(
        (&body["visibility"], &body["tenant"]),
        (&json!("tenant"), &json!("acme"))
    );

    let platform = json!({ "visibility": "platform" });
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &platform_releaser(),
            scoped("gatehouse-cli", "c", platform),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["repository"], "gpuaas/platform/gatehouse-cli");
    assert_eq!(body["visibility"], "platform");

    // Read back, the class is what was stored.
    let id = body["id"].as_str().unwrap();
    let (status, read) = app.get(&format!("/v1/artifacts/{id}"), &operator()).await;
    assert_eq!((status, &read["visibility"]), (200, &json!("platform")), "{read}");

    // The gateway names the roots it chooses paths under.
    let (status, info) = app.get("/v1/registry", &operator()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["platform_root"], "gpuaas/platform");
    assert_eq!(info["tenant_root"], "gpuaas/tenants");
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_class_or_path_is_refused_and_changes_nothing() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let cases = [
        (json!({ "visibility": "public" }), "visibility"),
        (json!({ "visibility": "tenant" }), "visibility"),
        (json!({ "visibility": "platform", "tenant": "acme" }), "tenant"),
        (json!({ "visibility": "tenant", "tenant": "Acme!" }), "tenant"),
        // The path is the gateway's choice: a project path for a tenant class is refused.
        (
            json!({ "visibility": "tenant", "tenant": "acme", "repository": "gpuaas/apps/team-a/trainer" }),
            "repository",
        ),
    ];
    for (scope, field) in cases {
        let (status, body) = app
            .post(
                "/v1/projects/team-a/artifacts",
                &operator(),
                scoped("trainer", "x", scope.clone()),
            )
            .await;
        assert_eq!(status, 422, "{scope}: {body}");
        assert_eq!(body["field"], field, "{scope}: {body}");
    }
    assert_eq!(artifact_count(&app).await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn platform_repositories_need_a_platform_role() {
    let app = TestApp::spawn(Db::sqlite()).await;
    // An operator of the owning project is still refused a platform repository.
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            scoped("gatehouse-cli", "c", json!({ "visibility": "platform" })),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["decision"], "deny");
    assert_eq!(
        body["policy_ids"],
        json!(["visibility-platform-publish-needs-platform-role"]),
        "{body}"
    );
    assert_eq!(artifact_count(&app).await, 0);

    // The decision log holds the class the policy saw.
    let (status, log) = app
        .get("/v1/decisions?action=register", &common::auditor_token())
        .await;
    assert_eq!(status, 200, "{log}");
    let entities = log["items"][0]["entities"].to_string();
    assert!(entities.contains(r#""visibility":"platform""#), "{entities}");
    app.shutdown().await;
}

/// The shipped policies plus one more that closes tenant `acme` only.
fn with_tenant_restriction(db: &Db, dir: &std::path::Path) -> gatehouse::Config {
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.join("tenant_freeze.cedar"),
        r#"@id("tenant-acme-frozen")
@reason("tenant `acme` repositories are frozen")
forbid (principal, action == Gatehouse::Action::"register", resource)
when { resource has tenant && resource.tenant == "acme" };
"#,
    )
    .unwrap();
    let mut config = common::test_config(db);
    config.policy_dir = dir.to_path_buf();
    config
}

#[tokio::test]
async fn a_policy_restricts_one_class_apart_from_project_repositories() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite();
    let config = with_tenant_restriction(&db, dir.path());
    let app = TestApp::spawn_with(db, config).await;

    let acme = json!({ "visibility": "tenant", "tenant": "acme" });
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            scoped("trainer", "a", acme),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["policy_ids"], json!(["tenant-acme-frozen"]), "{body}");

    // The same caller, app and role: another tenant and the project class are untouched.
    let globex = json!({ "visibility": "tenant", "tenant": "globex" });
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            scoped("trainer", "g", globex),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["repository"], "gpuaas/tenants/globex/trainer");
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            scoped("trainer", "p", json!({})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(artifact_count(&app).await, 2);
    app.shutdown().await;
}
