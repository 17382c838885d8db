//! Non-OCI blobs registered with a keyed sigstore bundle over their digest: verified without
//! downloading the blob, the transparency-log entry checked against the configured trusted root.
//! Bundles are built by a test helper written from the specs, separate from the verifier.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::sigstore_fixtures as fx;
use common::{Db, TestApp, token};
use serde_json::{Value, json};

fn operator() -> String {
    token("olivia", json!({ "team-a": ["operator"] }))
}

/// A gateway that trusts the fixture signing key and the fixture log, and requires a bundle for blobs.
async fn app_trusting(trusted_root: &Value) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root_file = dir.path().join("trusted_root.json");
    std::fs::write(&root_file, trusted_root.to_string()).unwrap();
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.trust.cosign_public_key_files = vec![common::repo_path("fixtures/cosign/cosign.pub")];
    config.trust.trusted_root_file = Some(root_file);
    config
        .trust
        .required
        .insert("blob".to_owned(), vec!["blob_bundle".to_owned()]);
    (TestApp::spawn_with(db, config).await, dir)
}

/// Registers a model-weights blob with `bundle` and verifies it; answers the verified artifact.
async fn register_and_verify(app: &TestApp, digest: &str, bundle: &Value) -> Value {
    let body = json!({
        "app": "llm", "artifact_kind": "blob", "artifact_type": "blob.model_weights", "digest": digest,
        "source": { "source_type": "artifact_store", "uri": "store://models/llm/weights.safetensors" },
        "sigstore_bundle": bundle,
    });
    let (status, artifact) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let (status, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(status, 200, "{verified}");
    verified
}

fn bundle_evidence(artifact: &Value) -> Value {
    artifact["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "blob_bundle")
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_valid_keyed_bundle_verifies_the_blob() {
    let log = fx::log_key("rekor");
    let good = fx::keyed_bundle(b"model weights v1", &log);
    let (app, _dir) = app_trusting(&good.trusted_root).await;
    let artifact = register_and_verify(&app, &good.digest, &good.bundle).await;
    assert_eq!(artifact["trust_state"], "verified", "{artifact}");
    let evidence = bundle_evidence(&artifact);
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert!(
        evidence["details"]["key_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{evidence}"
    );
}

#[tokio::test]
async fn bundles_for_other_bytes_tampered_signatures_and_forged_log_entries_fail() {
    let log = fx::log_key("rekor");
    let good = fx::keyed_bundle(b"model weights v1", &log);
    let (app, _dir) = app_trusting(&good.trusted_root).await;

    // A bundle over other bytes, registered for this digest.
    let other = fx::keyed_bundle(b"other weights", &log);
    let artifact = register_and_verify(&app, &good.digest, &other.bundle).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    assert_eq!(
        bundle_evidence(&artifact)["details"]["check"],
        "digest",
        "{artifact}"
    );

    // A tampered signature (a blob of its own, so the registrations do not collide).
    let second = fx::keyed_bundle(b"model weights v2", &log);
    let mut tampered = second.bundle.clone();
    let sig = tampered["messageSignature"]["signature"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = if sig.starts_with('M') {
        sig.replacen('M', "N", 1)
    } else {
        format!("M{}", &sig[1..])
    };
    tampered["messageSignature"]["signature"] = json!(flipped);
    let artifact = register_and_verify(&app, &second.digest, &tampered).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    assert_eq!(bundle_evidence(&artifact)["result"], "fail");
    assert_eq!(bundle_evidence(&artifact)["details"]["check"], "signature");

    // A forged transparency-log entry: same body, a different integrated time.
    let third = fx::keyed_bundle(b"model weights v3", &log);
    let mut forged = third.bundle.clone();
    forged["verificationMaterial"]["tlogEntries"][0]["integratedTime"] =
        json!((fx::INTEGRATED_TIME + 60).to_string());
    let artifact = register_and_verify(&app, &third.digest, &forged).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = bundle_evidence(&artifact);
    assert_eq!(evidence["details"]["check"], "tlog_set", "{evidence}");
}

#[tokio::test]
async fn a_blob_without_the_required_bundle_fails_and_junk_bundles_are_refused() {
    let log = fx::log_key("rekor");
    let good = fx::keyed_bundle(b"model weights v1", &log);
    let (app, _dir) = app_trusting(&good.trusted_root).await;
    let body = json!({
        "app": "llm", "artifact_kind": "blob", "digest": good.digest,
        "source": { "source_type": "artifact_store", "uri": "store://models/llm/weights" },
        "sigstore_bundle": { "not": "a bundle" },
    });
    let (status, problem) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (422, Some("sigstore_bundle")),
        "{problem}"
    );

    let body = json!({
        "app": "llm", "artifact_kind": "blob", "digest": good.digest,
        "source": { "source_type": "artifact_store", "uri": "store://models/llm/weights" },
    });
    let (status, artifact) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let (_, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    assert_eq!(verified["trust_state"], "failed_verification", "{verified}");
    assert!(
        bundle_evidence(&verified)["reason"]
            .as_str()
            .unwrap()
            .contains("required"),
        "{verified}"
    );
}
