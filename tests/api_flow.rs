//! The acceptance path through the HTTP API, on SQLite and on PostgreSQL: register → verify →
//! promote dev → test → staging → prod for the right roles, and every refusal with its status and
//! problem body, all visible in the decision log and the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Db, TestApp, auditor_token, digest, oci_registration, token};
use serde_json::{Value, json};

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

fn releaser() -> String {
    // Issued by the RS256 issuer: both key families take part in the same flow.
    common::sign_rs256(&{
        let mut c = common::user_claims("rick", json!({ "team-a": ["releaser"] }));
        c["iss"] = json!(common::RS_ISSUER);
        c
    })
}

fn viewer() -> String {
    token("vera", json!({ "team-a": ["viewer"] }))
}

fn outsider() -> String {
    token("mallory", json!({ "team-b": ["admin"] }))
}

fn admin() -> String {
    token("ada", json!({ "team-a": ["admin"] }))
}

async fn register(app: &TestApp, seed: &str) -> String {
    app.register_oci("team-a", &operator(), seed).await
}

async fn promote(app: &TestApp, id: &str, who: &str, channel: &str) -> (u16, Value) {
    app.post(
        &format!("/v1/artifacts/{id}/promote"),
        who,
        json!({ "channel": channel }),
    )
    .await
}

fn assert_problem(body: &Value, status: u16) {
    assert_eq!(body["status"], status, "{body}");
    for key in ["type", "title", "detail", "request_id"] {
        assert!(body[key].is_string(), "problem body lacks `{key}`: {body}");
    }
}

fn assert_denied(status: u16, body: &Value) {
    assert_eq!(status, 403, "{body}");
    assert_problem(body, 403);
    assert_eq!(body["decision"], "deny");
    assert!(
        body["policy_ids"].is_array() && body["reasons"].as_array().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
}

/// The digest the committed attestation fixtures name (sha256 of these bytes).
const ATTESTED: &str = "gatehouse attested artifact";

/// Trusts the attestation fixtures' key; this flow has no registry, so no signature is required.
fn attested_config(db: &Db) -> gatehouse::Config {
    let mut config = common::test_config(db);
    config.trust.cosign_public_key_files = vec![common::repo_path("fixtures/attestations/attest.pub.pem")];
    config.trust.required.insert("oci".to_owned(), Vec::new());
    config
}

async fn happy_path_and_refusals(app: TestApp) {
    let id = register(&app, ATTESTED).await;

    // Idempotent repeat answers 200 with the same artifact.
    let (status, again) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator(),
            oci_registration("trainer", &digest(ATTESTED)),
        )
        .await;
    assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())));

    // Unverified past dev is refused by policy.
    let (status, body) = promote(&app, &id, &operator(), "dev").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = promote(&app, &id, &operator(), "test").await;
    assert_denied(status, &body);

    let (status, body) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trust_state"], "verified");
    let kinds: Vec<&str> = body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"digest_format") && kinds.contains(&"source_policy"),
        "{body}"
    );

    // Skipping a channel (dev → staging) is refused.
    let (status, body) = promote(&app, &id, &operator(), "staging").await;
    assert_denied(status, &body);
    // A viewer may not promote; another project's admin may not either.
    let (status, body) = promote(&app, &id, &viewer(), "test").await;
    assert_denied(status, &body);
    let (status, body) = promote(&app, &id, &outsider(), "test").await;
    assert_denied(status, &body);

    for channel in ["test", "staging"] {
        let (status, body) = promote(&app, &id, &operator(), channel).await;
        assert_eq!(status, 200, "{channel}: {body}");
    }
    // Prod needs admin or releaser, and SLSA provenance.
    let (status, body) = promote(&app, &id, &operator(), "prod").await;
    assert_denied(status, &body);
    let (status, body) = promote(&app, &id, &releaser(), "prod").await;
    assert_denied(status, &body);
    assert_eq!(body["policy_ids"], json!(["prod-needs-slsa-provenance"]));
    // Attach provenance (made by in-toto/securesystemslib, see fixtures/attestations) and re-verify.
    let provenance: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_path(
            "fixtures/attestations/slsa-provenance-v1.dsse.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &releaser(),
            json!({ "attestations": [provenance] }),
        )
        .await;
    assert_eq!(
        (status, body["trust_state"].as_str()),
        (200, Some("verified")),
        "{body}"
    );
    assert_eq!(body["attestations"], json!(["https://slsa.dev/provenance/v1"]));
    let attestation = body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "attestation")
        .unwrap();
    assert_eq!(attestation["result"], "pass", "{attestation}");
    let (status, body) = promote(&app, &id, &releaser(), "prod").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["lifecycle_state"], "promoted");
    assert_eq!(body["channels"], json!(["dev", "test", "staging", "prod"]));
    assert_eq!(body["promotions"].as_array().unwrap().len(), 4);

    // The admission gate answers allow for a prod deploy now, and deny for an outsider.
    let review =
        json!({ "project": "team-a", "digest": digest(ATTESTED), "action": "deploy", "channel": "prod" });
    let (status, body) = app
        .post("/v1/admission/review", &operator(), review.clone())
        .await;
    assert_eq!(
        (status, body["decision"].as_str()),
        (200, Some("allow")),
        "{body}"
    );
    let (status, body) = app.post("/v1/admission/review", &outsider(), review).await;
    assert_eq!((status, body["decision"].as_str()), (200, Some("deny")), "{body}");
    assert!(body["artifact"].is_null());

    // Every state change is audited, with actor, project, digest, transition and correlation id.
    let (status, audit) = app
        .get(&format!("/v1/audit?artifact_id={id}"), &auditor_token())
        .await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "app_artifact.register",
            "app_artifact.promote",
            "app_artifact.verify",
            "app_artifact.promote",
            "app_artifact.promote",
            "app_artifact.verify",
            "app_artifact.promote"
        ]
    );
    let last = audit["items"].as_array().unwrap().last().unwrap();
    assert_eq!(last["actor"], json!({ "type": "user", "id": "rick" }));
    assert_eq!(last["project"], "team-a");
    assert_eq!(last["digest"], digest(ATTESTED));
    assert_eq!(last["transition"]["to"], "promoted");
    assert_eq!(last["promotion"]["channel"], "prod");
    assert!(last["correlation_id"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(last["decision"]["effect"], "allow");

    // Every allowed and denied request is in the decision log.
    let (status, denies) = app
        .get("/v1/decisions?decision=deny&action=promote", &auditor_token())
        .await;
    assert_eq!(status, 200, "{denies}");
    let denied_actors: Vec<&str> = denies["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["actor"]["id"].as_str().unwrap())
        .collect();
    for who in ["olivia", "vera", "mallory"] {
        assert!(
            denied_actors.contains(&who),
            "no deny for {who}: {denied_actors:?}"
        );
    }
    let first = &denies["items"][0];
    assert!(
        first["policy_hash"].as_str().is_some_and(|h| h.len() == 64),
        "{first}"
    );
    assert!(
        first["entities"].is_array() || first["entities"].is_object(),
        "{first}"
    );
    let (_, allows) = app
        .get(
            &format!("/v1/decisions?decision=allow&artifact_id={id}"),
            &auditor_token(),
        )
        .await;
    assert!(allows["items"].as_array().unwrap().len() >= 7, "{allows}");

    // A project member may read their project's log; an outsider may not read across projects.
    let (status, _) = app.get("/v1/audit?project=team-a", &viewer()).await;
    assert_eq!(status, 200);
    let (status, body) = app.get("/v1/audit", &viewer()).await;
    assert_denied(status, &body);
}

async fn lifecycle_refusals(app: TestApp) {
    // Deprecated, retired and revoked artifacts are never promoted (409: a state rule).
    for (seed, action, body) in [
        ("dep", "deprecate", json!({ "reason": "superseded" })),
        ("ret", "retire", json!({})),
        ("rev", "revoke", json!({ "reason": "key compromise" })),
    ] {
        let id = register(&app, seed).await;
        let (status, resp) = app
            .post(&format!("/v1/artifacts/{id}/{action}"), &admin(), body)
            .await;
        assert_eq!(status, 200, "{action}: {resp}");
        let (status, resp) = promote(&app, &id, &admin(), "dev").await;
        assert_eq!(status, 409, "{action}: {resp}");
        assert_problem(&resp, 409);
    }
    // Revoking needs a reason; an operator may not revoke.
    let id = register(&app, "rev2").await;
    let (status, body) = app
        .post(&format!("/v1/artifacts/{id}/revoke"), &admin(), json!({}))
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("reason")), "{body}");
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/revoke"),
            &operator(),
            json!({"reason": "x"}),
        )
        .await;
    assert_denied(status, &body);
    let (status, body) = app
        .post(&format!("/v1/artifacts/{id}/retire"), &admin(), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(&format!("/v1/artifacts/{id}/retire"), &admin(), json!({}))
        .await;
    assert_eq!(status, 409, "retired is terminal: {body}");
}

/// How many decisions of each action the decision log holds for an artifact: `(verify,
/// accept_source)`.
async fn verify_decisions(app: &TestApp, id: &str) -> (usize, usize) {
    let (status, body) = app
        .get(
            &format!("/v1/decisions?artifact_id={id}&limit=100"),
            &auditor_token(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let count = |action: &str| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["action"] == action)
            .count()
    };
    (count("verify"), count("accept_source"))
}

/// A verification takes two decisions (`verify`, and `accept_source` for its evidence); both
/// are in the decision log once it answers, whether it committed a trust state, committed a
/// failed one, or was refused on the way.
async fn verify_logs_both_decisions(app: TestApp, platform_admin: &str) {
    // Passing (the attested configuration asks nothing more of an OCI image).
    let id = register(&app, "passing").await;
    let (status, body) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(
        (status, body["trust_state"].as_str()),
        (200, Some("verified")),
        "{body}"
    );
    assert_eq!(verify_decisions(&app, &id).await, (1, 1));
    // A change's answer shows its history exactly as a later read does.
    let (_, read) = app.get(&format!("/v1/artifacts/{id}"), &operator()).await;
    assert_eq!(body.to_string(), read.to_string());
    let (status, body) = promote(&app, &id, &operator(), "dev").await;
    assert_eq!(status, 200, "{body}");
    let (_, read) = app.get(&format!("/v1/artifacts/{id}"), &operator()).await;
    assert_eq!(body.to_string(), read.to_string());

    // Failing: an envelope that names another digest fails the attestation check.
    let id = register(&app, "failing").await;
    let stranger =
        json!({ "payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": [] });
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &operator(),
            json!({ "attestations": [stranger] }),
        )
        .await;
    assert_eq!(
        (status, body["trust_state"].as_str()),
        (200, Some("failed_verification")),
        "{body}"
    );
    assert_eq!(verify_decisions(&app, &id).await, (1, 1));

    // Refused after both decisions: the verify audit action is disabled, so nothing is written
    // but the decisions.
    let id = register(&app, "refused").await;
    let action = "/v1/catalog/audit_actions/app_artifact.verify";
    let (status, body) = app
        .post(&format!("{action}/disable"), platform_admin, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(verify_decisions(&app, &id).await, (1, 1));
    let (status, body) = app
        .post(&format!("{action}/enable"), platform_admin, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get(&format!("/v1/artifacts/{id}"), &operator()).await;
    assert_eq!(
        (status, body["trust_state"].as_str()),
        (200, Some("unverified")),
        "{body}"
    );

    // Refused before the source is asked (revoked trust is never verified again): the allowed
    // `verify` decision is logged all the same.
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/revoke"),
            &admin(),
            json!({ "reason": "key compromise" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(verify_decisions(&app, &id).await, (2, 1));
}

fn platform_admin() -> String {
    let mut claims = common::user_claims("pat", json!({}));
    claims["platform_roles"] = json!(["platform_admin"]);
    common::sign_es256(&claims)
}

#[tokio::test]
async fn verify_logs_both_decisions_on_sqlite() {
    let db = Db::sqlite();
    let config = attested_config(&db);
    verify_logs_both_decisions(TestApp::spawn_with(db, config).await, &platform_admin()).await;
}

#[tokio::test]
async fn verify_logs_both_decisions_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    let db = Db::Postgres(db);
    let config = attested_config(&db);
    verify_logs_both_decisions(TestApp::spawn_with(db, config).await, &platform_admin()).await;
}

#[tokio::test]
async fn acceptance_flow_on_sqlite() {
    let db = Db::sqlite();
    let config = attested_config(&db);
    happy_path_and_refusals(TestApp::spawn_with(db, config).await).await;
}

#[tokio::test]
async fn acceptance_flow_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    let db = Db::Postgres(db);
    let config = attested_config(&db);
    happy_path_and_refusals(TestApp::spawn_with(db, config).await).await;
}

#[tokio::test]
async fn lifecycle_refusals_on_sqlite() {
    lifecycle_refusals(TestApp::spawn(Db::sqlite()).await).await;
}

#[tokio::test]
async fn lifecycle_refusals_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    lifecycle_refusals(TestApp::spawn(Db::Postgres(db)).await).await;
}
