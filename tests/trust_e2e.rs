//! Trust end to end: images pushed with skopeo through publish intents, cosign-format signatures
//! and attestations made and logged in a test Rekor by the test's own signer (separate from the
//! verifier) and pushed beside them, verified by the gateway against configured keys and the
//! trusted root naming that log; verification queued by a registry notification survives a
//! restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::registry::{Auth, skopeo_push, write_oci_image};
use common::stack::{
    Stack, artifact_by_digest, creds, eventually, gateway_for, operator, publish_intent, stack_with,
};
use common::{Db, TestApp};
use serde_json::{Value, json};

fn key(name: &str) -> std::path::PathBuf {
    common::repo_path(&format!("fixtures/cosign/{name}"))
}

/// Trusts `public` and the test Rekor the signatures are logged in.
fn trusting(c: &mut gatehouse::Config, public: &str) {
    c.trust.cosign_public_key_files = vec![key(public)];
    c.trust.trusted_root_file = Some(common::cosign::test_trusted_root_file());
}

/// Pushes an image through a publish intent; answers its digest once the notification registered it.
async fn push_through_intent(stack: &Stack, app_slug: &str, seed: &str) -> String {
    let intent = publish_intent(
        &stack.app,
        "team-a",
        json!({ "app": app_slug, "artifact_kind": "oci", "tag": "v1" }),
    )
    .await;
    let (user, pass) = creds(&intent);
    let repository = intent["repository"].as_str().unwrap();
    let image = write_oci_image(seed, "v1");
    skopeo_push(
        &image,
        &stack.registry.host,
        repository,
        &Auth::Creds(&user, &pass),
    )
    .await
    .unwrap()
}

/// Signs `digest` in `repository` with `signing_key` and pushes the signature beside it.
async fn sign(stack: &Stack, repository: &str, digest: &str, signing_key: &str) {
    let grant = gatehouse::domain::AccessGrant {
        resource_type: "repository".to_owned(),
        name: repository.to_owned(),
        actions: vec!["pull".to_owned(), "push".to_owned()],
    };
    let signer = common::registry::fixture_signer();
    let token = signer
        .sign("signer", &[grant], std::time::Duration::from_secs(60))
        .unwrap();
    common::cosign::sign_and_push(
        &stack.registry.host,
        repository,
        digest,
        &key(signing_key),
        &Auth::Token(&token.token),
        None,
    )
    .await
    .unwrap();
}

async fn verify(app: &TestApp, digest: &str) -> Value {
    let artifact = eventually("the push to be registered", async || {
        artifact_by_digest(app, "team-a", digest).await
    })
    .await;
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{}/verify", artifact["id"].as_str().unwrap()),
            &operator("team-a"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn signature_evidence(body: &Value) -> Value {
    body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "signature")
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_cosign_signatures_decide_the_trust_state() {
    if !common::registry::tools_available() {
        return;
    }
    let stack = stack_with(Db::sqlite(), |c| trusting(c, "cosign.pub")).await;

    // Signed with the configured key: verified, and the evidence names the key.
    let signed = push_through_intent(&stack, "signed", "signed image").await;
    sign(&stack, "gpuaas/apps/team-a/signed", &signed, "cosign.key").await;
    let body = verify(&stack.app, &signed).await;
    assert_eq!(body["trust_state"], "verified", "{body}");
    assert_eq!(body["signature_verified"], true);
    let evidence = signature_evidence(&body);
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert!(
        evidence["details"]["key_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{evidence}"
    );

    // Unsigned: failed, saying no signature was found.
    let unsigned = push_through_intent(&stack, "unsigned", "unsigned image").await;
    let body = verify(&stack.app, &unsigned).await;
    assert_eq!(body["trust_state"], "failed_verification", "{body}");
    let evidence = signature_evidence(&body);
    assert!(
        evidence["reason"]
            .as_str()
            .unwrap()
            .contains("no signature found"),
        "{evidence}"
    );

    // Signed with a key the gateway does not trust: failed, naming the check.
    let other = push_through_intent(&stack, "other", "other image").await;
    sign(&stack, "gpuaas/apps/team-a/other", &other, "other.key").await;
    let body = verify(&stack.app, &other).await;
    assert_eq!(body["trust_state"], "failed_verification", "{body}");
    assert!(
        signature_evidence(&body)["reason"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{body}"
    );

    // Re-verification moves between the two: a valid signature added later makes it verified.
    sign(&stack, "gpuaas/apps/team-a/other", &other, "cosign.key").await;
    let body = verify(&stack.app, &other).await;
    assert_eq!(body["trust_state"], "verified", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_stored_beside_the_image_feed_the_policy() {
    if !common::registry::tools_available() {
        return;
    }
    let stack = stack_with(Db::sqlite(), |c| trusting(c, "cosign.pub")).await;
    let digest = push_through_intent(&stack, "attested", "attested image").await;
    let repository = "gpuaas/apps/team-a/attested";
    sign(&stack, repository, &digest, "cosign.key").await;
    let grant = gatehouse::domain::AccessGrant {
        resource_type: "repository".to_owned(),
        name: repository.to_owned(),
        actions: vec!["pull".to_owned(), "push".to_owned()],
    };
    let token = common::registry::fixture_signer()
        .sign("ci", &[grant], std::time::Duration::from_secs(60))
        .unwrap();
    let envelope =
        common::cosign::dsse_envelope(&key("cosign.key"), &digest, "https://slsa.dev/provenance/v1");
    common::cosign::push_attestation(
        &stack.registry.host,
        repository,
        &digest,
        &envelope,
        Some(&key("cosign.key")),
        &Auth::Token(&token.token),
    )
    .await
    .unwrap();

    let body = verify(&stack.app, &digest).await;
    assert_eq!(body["trust_state"], "verified", "{body}");
    assert_eq!(
        body["attestations"],
        json!(["https://slsa.dev/provenance/v1"]),
        "{body}"
    );
    let attestation = body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "attestation")
        .unwrap();
    assert_eq!(
        attestation["details"]["builder_id"], "https://ci.example/builder",
        "{attestation}"
    );
    assert_eq!(attestation["details"]["tlog"], "verified", "{attestation}");

    // A statement about another digest, attached through the API, fails naming the check.
    let id = body["id"].as_str().unwrap();
    let wrong = common::cosign::dsse_envelope(
        &key("cosign.key"),
        &common::digest("another"),
        "https://spdx.dev/Document",
    );
    let (status, body) = stack
        .app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &operator("team-a"),
            json!({ "attestations": [wrong] }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trust_state"], "failed_verification", "{body}");
    let failed = body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["type"] == "attestation" && e["result"] == "fail")
        .unwrap();
    assert!(failed["reason"].as_str().unwrap().contains("subject"), "{failed}");
    // A bare envelope has no log entry: checked with the configured keys, named like the rest.
    assert_eq!(failed["details"]["check"], "digest", "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_image_verified_against_another_key_fails() {
    if !common::registry::tools_available() {
        return;
    }
    let stack = stack_with(Db::sqlite(), |c| trusting(c, "other.pub")).await;
    let digest = push_through_intent(&stack, "signed", "signed image").await;
    sign(&stack, "gpuaas/apps/team-a/signed", &digest, "cosign.key").await;
    let body = verify(&stack.app, &digest).await;
    assert_eq!(body["trust_state"], "failed_verification", "{body}");
    assert_eq!(body["signature_verified"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_queued_by_a_notification_survives_a_restart() {
    if !common::registry::tools_available() {
        return;
    }
    let configure = |c: &mut gatehouse::Config| {
        trusting(c, "cosign.pub");
        c.trust.verify_on_register = true;
    };
    // An ingest-only gateway acknowledges the notifications and stops before applying them.
    let stack = stack_with(Db::sqlite(), |c| {
        configure(c);
        c.registry.apply_notifications = false;
    })
    .await;
    let digest = push_through_intent(&stack, "queued", "queued image").await;
    sign(&stack, "gpuaas/apps/team-a/queued", &digest, "cosign.key").await;
    let db_url = stack.app.db.url();
    eventually("the push notification to be queued", async || {
        let pool = sqlx::SqlitePool::connect(&db_url).await.unwrap();
        let n: i64 =
            sqlx::query_scalar("select count(*) from registry_events where action = 'push' and tag = 'v1'")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        (n > 0).then_some(())
    })
    .await;
    // A new gateway on the same database, beside the same registry, applies the queued event;
    // that registration queues the verification, which runs as the intent's actor.
    let Stack { app, registry, .. } = stack;
    let db = app.shutdown().await;
    let (app, _secret) = gateway_for(db, &registry, configure).await;
    let artifact = eventually("the queued registration after restart", async || {
        artifact_by_digest(&app, "team-a", &digest).await
    })
    .await;
    let id = artifact["id"].as_str().unwrap().to_owned();
    let explained = eventually("the queued verification after restart", async || {
        let (_, explained) = app
            .get(&format!("/v1/artifacts/{id}/explain"), &operator("team-a"))
            .await;
        let verified = explained["audit"]
            .as_array()?
            .iter()
            .any(|r| r["action"] == "app_artifact.verify");
        verified.then_some(explained)
    })
    .await;
    let verify = explained["audit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "app_artifact.verify")
        .unwrap();
    assert!(
        verify["correlation_id"]
            .as_str()
            .unwrap()
            .starts_with("verification-job:"),
        "{verify}"
    );
    assert_eq!(verify["actor"]["id"], "olivia");
    assert_eq!(verify["transition"]["to"], "verified", "{verify}");
    let (_, artifact) = app.get(&format!("/v1/artifacts/{id}"), &operator("team-a")).await;
    assert_eq!(artifact["trust_state"], "verified", "{artifact}");
}
