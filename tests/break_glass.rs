//! Break-glass: a caller with the `break_glass` platform role may override a policy denial with a
//! justification (`Gatehouse-Break-Glass` header) — only where the permits alone allow it — and
//! the override is loudly audited and counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, auditor_token, digest, oci_registration, read, token, user_claims};
use serde_json::{Value, json};

const JUSTIFICATION: &str = "INC-4242: hotfix for the prod outage, approved by on-call";

fn with_roles(sub: &str, projects: Value, platform_roles: &[&str]) -> String {
    let mut claims = user_claims(sub, projects);
    claims["platform_roles"] = json!(platform_roles);
    common::sign_es256(&claims)
}

async fn promote(app: &TestApp, id: &str, who: &str, channel: &str, glass: Option<&str>) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}/v1/artifacts/{id}/promote", app.base))
        .bearer_auth(who)
        .json(&json!({ "channel": channel }));
    if let Some(text) = glass {
        request = request.header("gatehouse-break-glass", text);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn a_justified_privileged_override_is_allowed_and_audited() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let (_, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator,
            oci_registration("api", &digest("glass")),
        )
        .await;
    let id = artifact["id"].as_str().unwrap().to_owned();
    assert_eq!(promote(&app, &id, &operator, "dev", None).await.0, 200);

    // Unverified past dev is denied; a plain releaser cannot break the glass.
    let releaser = token("rick", json!({ "team-a": ["releaser"] }));
    assert_eq!(
        promote(&app, &id, &releaser, "test", Some(JUSTIFICATION)).await.0,
        403
    );
    // The role without a real justification is not enough either.
    let glass = with_roles("gina", json!({ "team-a": ["releaser"] }), &["break_glass"]);
    assert_eq!(promote(&app, &id, &glass, "test", Some("because")).await.0, 403);
    // A caller no permit allows gets nothing from the glass.
    let outsider = with_roles("otto", json!({ "team-b": ["admin"] }), &["break_glass"]);
    assert_eq!(
        promote(&app, &id, &outsider, "test", Some(JUSTIFICATION)).await.0,
        403
    );

    let (status, body) = promote(&app, &id, &glass, "test", Some(JUSTIFICATION)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["channels"], json!(["dev", "test"]));

    let (_, audit) = app
        .get("/v1/audit?action=policy.break_glass", &auditor_token())
        .await;
    let record = &audit["items"][0];
    assert_eq!(record["actor"]["id"], "gina", "{audit}");
    assert_eq!(
        record["transition"],
        json!({ "from": "deny", "to": "allow", "reason": JUSTIFICATION })
    );
    assert_eq!(
        record["decision"]["policy_ids"],
        json!(["promotion-verified-beyond-dev"])
    );

    let (_, log) = app
        .get(
            &format!("/v1/decisions?action=promote&artifact_id={id}&decision=allow"),
            &auditor_token(),
        )
        .await;
    let overridden = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["actor"]["id"] == "gina")
        .unwrap();
    assert!(
        overridden["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("break-glass override"),
        "{overridden}"
    );
    assert_eq!(overridden["request"]["context"]["break_glass"], true);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"gatehouse_decisions_total{action="promote",effect="break_glass"} 1"#),
        "{metrics}"
    );
}
