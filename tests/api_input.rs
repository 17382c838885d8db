//! Bad input and bad credentials get a clear error and change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{
    AUDIENCE, Db, ES_ISSUER, TestApp, auditor_token, digest, oci_registration, read, token, user_claims,
};
use serde_json::{Value, json};

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

async fn counts(app: &TestApp) -> (usize, usize) {
    let (_, artifacts) = app
        .get("/v1/projects/team-a/artifacts?limit=500", &operator())
        .await;
    let (_, audit) = app.get("/v1/audit?limit=500", &auditor_token()).await;
    (
        artifacts["items"].as_array().unwrap().len(),
        audit["items"].as_array().unwrap().len(),
    )
}

fn expect_invalid(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], field, "{body}");
    assert_eq!(body["status"], 422);
    assert!(body["detail"].as_str().unwrap().contains(field), "{body}");
}

#[tokio::test]
async fn invalid_registrations_are_refused_and_change_nothing() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let before = counts(&app).await;
    let mut tag_only = oci_registration("trainer", "x");
    tag_only.as_object_mut().unwrap().remove("digest");
    let upper = digest("a").to_uppercase().replace("SHA256", "sha256");
    let mut bad_source = oci_registration("trainer", &digest("b"));
    // Not even a catalog id (a well-formed unknown one is the catalog's 409: tests/catalog.rs).
    bad_source["source"]["source_type"] = json!("FTP");
    let mut bad_type = oci_registration("trainer", &digest("c"));
    bad_type["artifact_type"] = json!("blob.model_weights");
    let mut not_canonical = oci_registration("trainer", &digest("d"));
    not_canonical["repository"] = json!("elsewhere/trainer");
    let cases = [
        (tag_only, "digest"),
        (oci_registration("trainer", &upper), "digest"),
        (oci_registration("trainer", "sha256:abc123"), "digest"),
        (oci_registration("trainer", "trainer:latest"), "digest"),
        (bad_source, "source.source_type"),
        (bad_type, "artifact_type"),
        (not_canonical, "repository"),
        (oci_registration("Trainer", &digest("e")), "app"),
        (
            json!({ "app": 5, "artifact_kind": "oci", "digest": digest("f") }),
            "app",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
        expect_invalid(status, &problem, field);
    }
    assert_eq!(
        counts(&app).await,
        before,
        "a refused registration wrote something"
    );
}

#[tokio::test]
async fn malformed_oversized_and_unknown_requests() {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.http.body_limit_bytes = 4096;
    let app = TestApp::spawn_with(db, config).await;
    let url = format!("{}/v1/projects/team-a/artifacts", app.base);

    let response = app
        .http
        .post(&url)
        .bearer_auth(operator())
        .header("content-type", "application/json")
        .body("{\"app\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );

    let huge = json!({ "app": "trainer", "padding": "x".repeat(10_000) });
    let (status, body) = app.post("/v1/projects/team-a/artifacts", &operator(), huge).await;
    assert_eq!((status, body["status"].as_u64()), (413, Some(413)), "{body}");

    let (status, body) = app
        .get("/v1/artifacts/0190f0f0-0000-7000-8000-000000000000", &operator())
        .await;
    assert_eq!((status, body["status"].as_u64()), (404, Some(404)), "{body}");
    let (status, body) = app.get("/v1/nowhere", &operator()).await;
    assert_eq!((status, body["status"].as_u64()), (404, Some(404)), "{body}");
    let (status, body) = app
        .post(
            "/v1/artifacts/not-a-uuid/promote",
            &operator(),
            json!({"channel": "dev"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app
        .get("/v1/projects/team-a/artifacts?limit=0", &operator())
        .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("limit")), "{body}");
    // A query value of the wrong form, and a path slug the domain refuses, name their field.
    let (status, body) = app
        .get("/v1/projects/team-a/artifacts?limit=many", &operator())
        .await;
    expect_invalid(status, &body, "limit");
    let (status, body) = app.get("/v1/projects/Team_A/artifacts", &operator()).await;
    expect_invalid(status, &body, "project");
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_refused() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let now = chrono::Utc::now().timestamp();
    let claims = user_claims("olivia", json!({ "team-a": ["admin"] }));

    let mut expired = claims.clone();
    expired["exp"] = json!(now - 3600);
    expired["iat"] = json!(now - 7200);
    expired["nbf"] = json!(now - 7200);
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("someone-else");
    let mut unknown_issuer = claims.clone();
    unknown_issuer["iss"] = json!("https://evil.example");
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&claims)
    );
    let forged = {
        let key = jsonwebtoken::EncodingKey::from_ec_pem(
            &std::fs::read(common::repo_path("fixtures/keys/other-es256.key")).unwrap(),
        )
        .unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &key,
        )
        .unwrap()
    };
    // An RS256 token claiming the ES256-pinned issuer.
    let wrong_alg = common::sign_rs256(&claims);
    assert_eq!(claims["iss"], ES_ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);

    let body = oci_registration("trainer", &digest("tok"));
    for (name, token) in [
        ("alg none", alg_none),
        ("expired", common::sign_es256(&expired)),
        ("other audience", common::sign_es256(&other_audience)),
        ("unknown issuer", common::sign_es256(&unknown_issuer)),
        ("forged signature", forged),
        ("pinned algorithm", wrong_alg),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let (status, problem) = app
            .post("/v1/projects/team-a/artifacts", &token, body.clone())
            .await;
        assert_eq!(status, 401, "{name}: {problem}");
        assert_eq!(problem["status"], 401, "{name}");
        assert!(
            !problem["detail"].as_str().unwrap().contains(&token),
            "{name}: token echoed"
        );
    }
    let response = app
        .http
        .get(format!("{}/v1/registry", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("www-authenticate").is_some());
    let (_, artifacts) = app.get("/v1/projects/team-a/artifacts", &operator()).await;
    assert_eq!(
        artifacts["items"],
        json!([]),
        "a refused token registered something"
    );
}

#[tokio::test]
async fn request_ids_flow_into_problems_and_audit() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let response = app
        .http
        .post(format!("{}/v1/projects/team-a/artifacts", app.base))
        .bearer_auth(operator())
        .header("x-request-id", "ci-run-42")
        .json(&oci_registration("trainer", &digest("rid")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "ci-run-42");
    let (status, artifact) = read(response).await;
    assert_eq!(status, 201, "{artifact}");
    let (_, audit) = app
        .get(
            &format!("/v1/audit?artifact_id={}", artifact["id"].as_str().unwrap()),
            &auditor_token(),
        )
        .await;
    assert_eq!(audit["items"][0]["correlation_id"], "ci-run-42");

    let response = app
        .http
        .get(format!("{}/v1/artifacts/x", app.base))
        .header("x-request-id", "probe-7")
        .send()
        .await
        .unwrap();
    let (_, problem) = read(response).await;
    assert_eq!(problem["request_id"], "probe-7");
    let response = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let echoed = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(echoed, "bad id with spaces");
    assert!(!echoed.is_empty());
}

#[tokio::test]
async fn operational_endpoints_answer() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let (status, body) = read(
        app.http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = read(app.http.get(format!("{}/readyz", app.base)).send().await.unwrap()).await;
    assert_eq!((status, body["database"].as_bool()), (200, Some(true)), "{body}");
    let (status, doc) = read(
        app.http
            .get(format!("{}/openapi.json", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/projects/{project}/artifacts",
        "/v1/artifacts/{id}",
        "/v1/artifacts/{id}/explain",
        "/v1/artifacts/{id}/verify",
        "/v1/artifacts/{id}/promote",
        "/v1/artifacts/{id}/deprecate",
        "/v1/artifacts/{id}/retire",
        "/v1/artifacts/{id}/revoke",
        "/v1/admission/review",
        "/v1/audit",
        "/v1/audit/chain",
        "/v1/decisions",
        "/v1/policies",
        "/v1/policies/reload",
        "/v1/policies/simulate",
        "/v1/registry",
        "/v1/projects/{project}/publish-intents",
        "/v1/projects/{project}/pull-intents",
        "/v1/pull-intents/{id}",
        "/v1/projects/{project}/unregistered-pushes",
        "/v1/registry/token",
        "/v1/webhooks/registry",
        "/v1/platform/releases",
        "/v1/platform/releases/{version}",
        "/v1/platform/releases/{version}/artifacts/{name}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    app.get("/v1/registry", &operator()).await;
    let text = app.metrics().await;
    assert!(
        text.contains(
            "gatehouse_http_requests_total{route=\"/v1/registry\",method=\"GET\",status=\"2xx\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_decisions_total{action=\"describe\",effect=\"allow\"} 1")
            && text.contains("gatehouse_notification_queue_depth 0"),
        "{text}"
    );
    let (status, info) = app.get("/v1/registry", &operator()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["root"], "gpuaas/apps");
    assert_eq!(info["channels"], json!(["dev", "test", "staging", "prod"]));
}
