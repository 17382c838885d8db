//! OpenSSF model-signing bundles made by PyPI `model-signing` in key mode
//! (fixtures/bundles/make.py): a model registered with its bundle is verified without
//! downloading its files, and each forgery fails on the check it breaks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Db, TestApp, token};
use gatehouse::domain::{Digest, EvidenceResult};
use gatehouse::trust::model_signing::verify_model_signing_bundle;
use gatehouse::trust::{Identities, LoadedRoot, SigstoreVerifier, TrustKeys};
use serde_json::{Value, json};

/// The model digest `model_signing` computed for fixtures/bundles/tiny-model: sha256 over the
/// sha256 of config.json then weights.bin.
const MODEL_DIGEST: &str = "sha256:0de4adc6b348aaf7a9fdcff8896a1727c4490ff2a233374182411f608f595110";

fn fixture_bundle() -> Value {
    let text = std::fs::read_to_string(common::repo_path("fixtures/bundles/tiny-model.sig.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn keys(file: &str) -> TrustKeys {
    TrustKeys::load(&[common::repo_path(file)]).unwrap()
}

fn statement(bundle: &Value) -> Value {
    let payload = STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

fn with_statement(bundle: &Value, statement: &Value) -> Value {
    let mut bundle = bundle.clone();
    bundle["dsseEnvelope"]["payload"] = json!(STANDARD.encode(statement.to_string()));
    bundle
}

fn check(
    bundle: &Value,
    digest: &str,
    key_file: &str,
    require_tlog: bool,
) -> (EvidenceResult, String, Value) {
    let digest: Digest = digest.parse().unwrap();
    let verifier = SigstoreVerifier::new(
        &LoadedRoot::empty().unwrap(),
        keys(key_file),
        Identities::default(),
        require_tlog,
    )
    .unwrap();
    let e = verify_model_signing_bundle(&verifier, &digest, bundle);
    assert_eq!(e.evidence_type, "blob_bundle");
    (e.result, e.reason, e.details)
}

fn fails_on(outcome: (EvidenceResult, String, Value), check: &str, reason: &str) {
    let (result, text, details) = outcome;
    assert_eq!(result, EvidenceResult::Fail, "{text}");
    assert_eq!(details["check"], json!(check), "{text}");
    assert!(text.contains(reason), "{text}");
}

#[test]
fn the_fixture_model_verifies_with_its_key_naming_the_key_and_file_count() {
    let (result, reason, details) = check(
        &fixture_bundle(),
        MODEL_DIGEST,
        "fixtures/cosign/cosign.pub",
        false,
    );
    assert_eq!(result, EvidenceResult::Pass, "{reason}");
    assert_eq!(details["format"], json!("model_signing"));
    assert_eq!(details["files"], json!(2));
    assert!(
        details["key_id"].as_str().unwrap().starts_with("sha256:"),
        "{details}"
    );
    assert_eq!(
        details["predicate_type"],
        json!("https://model_signing/signature/v1.0")
    );
}

#[test]
fn another_key_another_model_and_edited_statements_fail_on_their_check() {
    let bundle = fixture_bundle();
    fails_on(
        check(&bundle, MODEL_DIGEST, "fixtures/cosign/other.pub", false),
        "signature",
        "signature does not verify",
    );
    let other = format!("sha256:{}", "ab".repeat(32));
    fails_on(
        check(&bundle, &other, "fixtures/cosign/cosign.pub", false),
        "digest",
        "does not match any subject",
    );
    // Swapping a file digest in the signed statement breaks the signature.
    let mut edited = statement(&bundle);
    edited["predicate"]["resources"][1]["digest"] = json!("00".repeat(32));
    fails_on(
        check(
            &with_statement(&bundle, &edited),
            MODEL_DIGEST,
            "fixtures/cosign/cosign.pub",
            false,
        ),
        "signature",
        "signature does not verify",
    );
}

#[test]
fn a_transparency_log_requirement_and_keyless_material_are_refused_clearly() {
    let bundle = fixture_bundle();
    fails_on(
        check(&bundle, MODEL_DIGEST, "fixtures/cosign/cosign.pub", true),
        "tlog_present",
        "no transparency-log entry",
    );
    // Certificate material with no keyless identity configured cannot pass.
    let mut keyless = bundle.clone();
    keyless["verificationMaterial"]["certificate"] = json!({ "rawBytes": "AA==" });
    keyless["verificationMaterial"]
        .as_object_mut()
        .unwrap()
        .remove("publicKey");
    fails_on(
        check(&keyless, MODEL_DIGEST, "fixtures/cosign/cosign.pub", false),
        "keyless_configured",
        "no `trust.keyless_identities`",
    );
    let mut unknown = bundle;
    unknown["mediaType"] = json!("application/json");
    fails_on(
        check(&unknown, MODEL_DIGEST, "fixtures/cosign/cosign.pub", false),
        "media_type",
        "not a known sigstore bundle version",
    );
}

/// A gateway trusting the cosign fixture key that requires a bundle for model weights and, like
/// key-mode model signing, accepts bundles without a transparency-log entry.
async fn app() -> TestApp {
    app_with_policies(common::repo_path("policies")).await
}

async fn app_with_policies(policy_dir: std::path::PathBuf) -> TestApp {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.policy_dir = policy_dir;
    config.trust.cosign_public_key_files = vec![common::repo_path("fixtures/cosign/cosign.pub")];
    config.trust.require_tlog = false;
    config
        .trust
        .required
        .insert("blob.model_weights".to_owned(), vec!["blob_bundle".to_owned()]);
    TestApp::spawn_with(db, config).await
}

async fn register_and_verify(app: &TestApp, digest: &str, bundle: &Value) -> Value {
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    let body = json!({
        "app": "llm", "artifact_kind": "blob", "artifact_type": "blob.model_weights", "digest": digest,
        "source": { "source_type": "huggingface", "uri": "https://huggingface.co/acme/tiny-model", "source_ref": "main" },
        "sigstore_bundle": bundle,
    });
    let (status, artifact) = app.post("/v1/projects/team-a/artifacts", &operator, body).await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let (status, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator, json!({}))
        .await;
    assert_eq!(status, 200, "{verified}");
    verified
}

/// The latest `blob_bundle` record (evidence accumulates, oldest first).
fn bundle_evidence(artifact: &Value) -> Value {
    let evidence = artifact["evidence"].as_array().unwrap();
    evidence
        .iter()
        .rev()
        .find(|e| e["type"] == "blob_bundle")
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_model_registered_with_its_signing_bundle_becomes_verified_and_a_forgery_does_not() {
    let app = app().await;
    let verified = register_and_verify(&app, MODEL_DIGEST, &fixture_bundle()).await;
    assert_eq!(verified["trust_state"], "verified", "{verified}");
    let evidence = bundle_evidence(&verified);
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert_eq!(evidence["details"]["files"], json!(2), "{evidence}");

    // The same bundle declared for another model's digest fails, naming the subject check.
    let other = format!("sha256:{}", "cd".repeat(32));
    let failed = register_and_verify(&app, &other, &fixture_bundle()).await;
    assert_eq!(failed["trust_state"], "failed_verification", "{failed}");
    let evidence = bundle_evidence(&failed);
    assert_eq!(evidence["result"], "fail", "{evidence}");
    assert_eq!(evidence["details"]["check"], json!("digest"), "{evidence}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_repeated_check_is_answered_from_the_cache_until_the_policy_set_changes() {
    let policies = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, policies.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let app = app_with_policies(policies.path().to_owned()).await;
    let verified = register_and_verify(&app, MODEL_DIGEST, &fixture_bundle()).await;
    let first = bundle_evidence(&verified);
    let id = verified["id"].as_str().unwrap();
    let operator = token("olivia", json!({ "team-a": ["operator"] }));
    // Same material, same configuration: the remembered result, with the time it was checked.
    let (status, again) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator, json!({}))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        bundle_evidence(&again)["checked_at"],
        first["checked_at"],
        "{again}"
    );
    // A changed policy set drops every remembered result: the bundle is checked afresh.
    std::fs::write(
        policies.path().join("freeze.cedar"),
        "@id(\"freeze-retire\")\nforbid (principal, action == Gatehouse::Action::\"retire\", resource);\n",
    )
    .unwrap();
    let mut claims = common::user_claims("pat", json!({}));
    claims["platform_roles"] = json!(["platform_admin"]);
    let admin = common::sign_es256(&claims);
    let (status, body) = app.post("/v1/policies/reload", &admin, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (_, fresh) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator, json!({}))
        .await;
    let fresh = bundle_evidence(&fresh);
    assert_eq!(fresh["result"], "pass", "{fresh}");
    assert_ne!(fresh["checked_at"], first["checked_at"], "{fresh}");
    app.shutdown().await;
}
