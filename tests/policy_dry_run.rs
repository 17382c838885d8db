//! Dry-run policies: a forbid in `@mode("warn")`, or any forbid on a channel listed in
//! `policy_dry_run_channels`, records "would deny" in the decision log, the metrics and the
//! `Gatehouse-Would-Deny` response header but does not deny, so a team can shadow a new rule
//! before enforcing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, auditor_token, digest, oci_registration, token};
use serde_json::{Value, json};

/// POSTs and answers the status, the `Gatehouse-Would-Deny` header and the body.
async fn post_seeing_would_deny(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let response = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let header = response
        .headers()
        .get("gatehouse-would-deny")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = common::read(response).await;
    (status, header, body)
}

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

    let (status, would_deny, body) = post_seeing_would_deny(
        &app,
        &format!("/v1/artifacts/{id}/promote"),
        &operator,
        json!({ "channel": "dev" }),
    )
    .await;
    assert_eq!(status, 200, "the dry-run forbid denied: {body}");
    assert_eq!(would_deny.as_deref(), Some("dev-needs-ticket"));

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

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"gatehouse_decisions_total{action="promote",effect="would_deny"} 1"#),
        "{metrics}"
    );

    // Enforced forbids still deny: the artifact is unverified, so it cannot leave dev.
    let (status, would_deny, body) = post_seeing_would_deny(
        &app,
        &format!("/v1/artifacts/{id}/promote"),
        &operator,
        json!({ "channel": "test" }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(would_deny, None);
}

#[tokio::test]
async fn an_allowed_request_no_dry_run_forbid_matched_carries_no_would_deny_header() {
    let policies = policy_dir_with(SHADOW_RULE);
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.policy_dir = policies.path().to_owned();
    let app = TestApp::spawn_with(db, config).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    // The shadow rule is about promotions to dev; a registration is plainly allowed.
    let (status, would_deny, body) = post_seeing_would_deny(
        &app,
        "/v1/projects/team-a/artifacts",
        &operator,
        oci_registration("web", &digest("no shadow")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(would_deny, None);
}

/// The shipped policies with `policy_dry_run_channels = ["dev"]`.
async fn app_with_dry_run_channels(channels: &[&str]) -> TestApp {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.policy_dry_run_channels = channels.iter().map(|c| c.parse().unwrap()).collect();
    TestApp::spawn_with(db, config).await
}

#[tokio::test]
async fn on_a_dry_run_channel_every_forbid_only_warns() {
    let app = app_with_dry_run_channels(&["test"]).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (status, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("web", &digest("per channel")),
        )
        .await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();

    // The artifact is unverified and has not reached dev: on `test` two shipped forbids match,
    // and both only warn.
    let (status, would_deny, body) = post_seeing_would_deny(
        &app,
        &format!("/v1/artifacts/{id}/promote"),
        &operator,
        json!({ "channel": "test" }),
    )
    .await;
    assert_eq!(status, 200, "a forbid on a dry-run channel denied: {body}");
    assert_eq!(
        would_deny.as_deref(),
        Some("promotion-no-channel-skipping,promotion-verified-beyond-dev")
    );
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
        json!([
            "would deny (dry run): the artifact has not reached the previous channel",
            "would deny (dry run): promotion beyond `dev` needs a verified artifact"
        ]),
        "{decision}"
    );

    // Another channel is enforced: staging still needs a verified artifact.
    let (status, would_deny, body) = post_seeing_would_deny(
        &app,
        &format!("/v1/artifacts/{id}/promote"),
        &operator,
        json!({ "channel": "staging" }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(would_deny, None);
    assert!(body["detail"].to_string().contains("verified"), "{body}");
}

#[tokio::test]
async fn on_a_dry_run_channel_a_request_no_permit_allows_is_still_denied() {
    let app = app_with_dry_run_channels(&["test"]).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (status, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("web", &digest("fail closed")),
        )
        .await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    // A viewer holds no permit to promote: dry-run forbids cannot turn that into an allow.
    let viewer = token("victor", json!({ "team-a": ["viewer"] }));
    let (status, would_deny, body) = post_seeing_would_deny(
        &app,
        &format!("/v1/artifacts/{id}/promote"),
        &viewer,
        json!({ "channel": "test" }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(would_deny, None);
    let (_, log) = app
        .get(
            &format!("/v1/decisions?action=promote&artifact_id={id}"),
            &auditor_token(),
        )
        .await;
    assert_eq!(log["items"][0]["effect"], "deny", "{log}");
}

#[test]
fn a_dry_run_channel_must_be_a_configured_channel() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "policy_dry_run_channels = [\"prd\"]\n").unwrap();
    let error = gatehouse::config::Config::load_with_env(Some(file.path()), &[])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("policy_dry_run_channels")
            && error.contains("`prd` is not one of the configured `channels`"),
        "{error}"
    );
    let env = [(
        "GATEHOUSE_POLICY_DRY_RUN_CHANNELS".to_owned(),
        "[\"prod\"]".to_owned(),
    )];
    let config = gatehouse::config::Config::load_with_env(None, &env).unwrap();
    assert_eq!(config.policy_dry_run_channels.len(), 1);
    assert_eq!(config.policy_dry_run_channels[0].to_string(), "prod");
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

#[tokio::test]
async fn the_dry_run_channels_survive_a_policy_reload() {
    let app = app_with_dry_run_channels(&["test"]).await;
    let mut claims = common::user_claims("pat", json!({}));
    claims["platform_roles"] = json!(["platform_admin"]);
    let (status, body) = app
        .post("/v1/policies/reload", &common::sign_es256(&claims), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (status, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("web", &digest("after reload")),
        )
        .await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let (status, would_deny, body) = post_seeing_would_deny(
        &app,
        &format!("/v1/artifacts/{id}/promote"),
        &operator,
        json!({ "channel": "test" }),
    )
    .await;
    assert_eq!(status, 200, "the reloaded set enforced a dry-run channel: {body}");
    assert!(would_deny.is_some_and(|ids| ids.contains("promotion-verified-beyond-dev")));
}
