//! Dry-run policies: a forbid in `@mode("warn")` records "would deny" in the decision log and the
//! metrics but does not deny, so a team can shadow a new rule before enforcing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, auditor_token, digest, oci_registration, token};
use serde_json::json;

const SHADOW_RULE: &str = r#"
@id("dev-needs-ticket")
@mode("warn")
@reason("dev promotions will need a change ticket")
forbid (principal, action == Gatehouse::Action::"promote", resource)
when { context has channel && context.channel == "dev" };
"#;

fn policy_dir_with(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join("shadow.cedar"), extra).unwrap();
    dir
}

#[tokio::test]
async fn a_dry_run_forbid_is_recorded_but_does_not_deny() {
    let policies = policy_dir_with(SHADOW_RULE);
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.policy_dir = policies.path().to_owned();
    let app = TestApp::spawn_with(db, config).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (status, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("web", &digest("dry run")),
        )
        .await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();

    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &operator,
            json!({ "channel": "dev" }),
        )
        .await;
    assert_eq!(status, 200, "the dry-run forbid denied: {body}");

    let (_, log) = app
        .get(
            &format!("/v1/decisions?action=promote&artifact_id={id}"),
            &auditor_token(),
        )
        .await;
    let decision = &log["items"][0];
    assert_eq!(decision["effect"], "allow", "{decision}");
    assert_eq!(
        decision["reasons"],
        json!(["would deny (dry run): dev promotions will need a change ticket"])
    );

    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"gatehouse_decisions_total{action="promote",effect="would_deny"} 1"#),
        "{metrics}"
    );

    // Enforced forbids still deny: the artifact is unverified, so it cannot leave dev.
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/promote"),
            &operator,
            json!({ "channel": "test" }),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

#[test]
fn a_permit_cannot_be_dry_run() {
    let policies = policy_dir_with(
        "@id(\"wide\")\n@mode(\"warn\")\npermit (principal, action, resource);\n@id(\"odd\")\n@mode(\"maybe\")\nforbid (principal, action, resource);\n",
    );
    let engine = gatehouse::policy::PolicyEngine::load(
        &common::repo_path("schemas/gatehouse.cedarschema"),
        policies.path(),
    );
    let error = engine.err().unwrap().to_string();
    assert!(
        error.contains("`wide`") && error.contains("only a `forbid`"),
        "{error}"
    );
    assert!(error.contains("`odd`") && error.contains("maybe"), "{error}");
}
