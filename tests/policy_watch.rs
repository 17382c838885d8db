//! The configurable watch on `policy_dir`: an edit is picked up without a signal or a request; an
//! invalid edit is refused once and the last good set keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Db, TestApp, user_claims};
use serde_json::{Value, json};

async fn served(app: &TestApp) -> Value {
    let mut claims = user_claims("sam", json!({}));
    claims["platform_roles"] = json!(["security_admin"]);
    app.get("/v1/policies", &common::sign_es256(&claims)).await.1
}

#[tokio::test]
async fn edits_to_the_policy_directory_are_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.policy_dir = dir.path().to_owned();
    config.policy_watch_seconds = 1;
    let app = TestApp::spawn_with(db, config).await;
    let first = served(&app).await["hash"].as_str().unwrap().to_owned();

    std::fs::write(
        dir.path().join("freeze.cedar"),
        "@id(\"freeze\")\nforbid (principal, action == Gatehouse::Action::\"promote\", resource);\n",
    )
    .unwrap();
    let mut reloaded = Value::Null;
    for _ in 0..50 {
        reloaded = served(&app).await;
        if reloaded["hash"] != first.as_str() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(reloaded["hash"], first.as_str(), "the edit was not picked up");
    assert!(
        reloaded["policy_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| id == "freeze")
    );

    std::fs::write(
        dir.path().join("broken.cedar"),
        "forbid (principal, action, resource) when {\n",
    )
    .unwrap();
    let mut refused = Value::Null;
    for _ in 0..50 {
        refused = served(&app).await;
        if refused["last_reload_error"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        refused["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("broken.cedar"),
        "{refused}"
    );
    assert_eq!(
        refused["hash"], reloaded["hash"],
        "the last good set must keep serving"
    );

    // Refused once, not on every tick: one refusal in the audit trail.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, audit) = app
        .get("/v1/audit?action=policy.reload_refused", &common::auditor_token())
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
}
