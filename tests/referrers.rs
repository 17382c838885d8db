//! Signatures and attestations attached to an image as OCI 1.1 referrers carrying sigstore
//! bundles. The distribution registry packaged here has no referrers API, so the real registry
//! shows the fallback to cosign's tags; a loopback fake serving one image and its referrers
//! shows the bundles themselves. Bundles are made by the spec-written test helper
//! (`sigstore_fixtures`), separate from the verifier.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fake_registry::{FakeImage, FakeRegistry, Listing};
use common::registry::{Auth, skopeo_push, write_oci_image};
use common::sigstore_fixtures as fx;
use common::stack::{artifact_by_digest, creds, eventually, operator, publish_intent, stack_with};
use common::{Db, TestApp};
use serde_json::{Value, json};

const REPOSITORY: &str = "gpuaas/apps/team-a/web";
const SLSA: &str = "https://slsa.dev/provenance/v1";

fn key(name: &str) -> std::path::PathBuf {
    common::repo_path(&format!("fixtures/cosign/{name}"))
}

/// A gateway reading `registry`, trusting the fixture key and `log`'s trusted root.
async fn gateway_for_fake(
    registry: &FakeRegistry,
    log: &p256::ecdsa::SigningKey,
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root_file = dir.path().join("trusted_root.json");
    std::fs::write(&root_file, fx::trusted_root(log).to_string()).unwrap();
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.registry.url = Some(registry.url.clone());
    config.registry.public_host = Some(registry.host.clone());
    config.registry.service = common::registry::SERVICE.to_owned();
    config.registry.token_issuer = common::registry::ISSUER.to_owned();
    config.registry.token_key_file = Some(common::repo_path("fixtures/registry/token.key"));
    config.registry.token_cert_file = Some(common::repo_path("fixtures/registry/token.crt"));
    config.trust.cosign_public_key_files = vec![key("cosign.pub")];
    config.trust.trusted_root_file = Some(root_file);
    (TestApp::spawn_with(db, config).await, dir)
}

/// Registers the fake's image through the API and verifies it; answers the verified artifact.
async fn register_and_verify(app: &TestApp, image: &FakeImage) -> Value {
    let (status, artifact) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &operator("team-a"),
            common::oci_registration("web", &image.digest),
        )
        .await;
    assert_eq!(status, 201, "{artifact}");
    let id = artifact["id"].as_str().unwrap();
    let (status, verified) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &operator("team-a"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{verified}");
    verified
}

fn evidence_of(artifact: &Value, kind: &str) -> Vec<Value> {
    artifact["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .cloned()
        .collect()
}

fn signature(artifact: &Value) -> Value {
    let found = evidence_of(artifact, "signature");
    assert_eq!(found.len(), 1, "one signature record: {artifact}");
    found[0].clone()
}

/// A keyed DSSE bundle (public-key material) around an in-toto statement about `subject`,
/// logged as a `dsse` entry by the test Rekor.
fn dsse_bundle(subject: &str, predicate_type: &str) -> Value {
    let envelope = common::cosign::dsse_envelope(&key("cosign.key"), subject, predicate_type);
    let body = fx::dsse_body(&envelope, &common::cosign::public_pem(&key("cosign.key")));
    json!({
        "mediaType": fx::BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": { "hint": "" },
            "tlogEntries": [fx::dsse_tlog_entry(&fx::log_key("rekor"), &body)],
        },
        "dsseEnvelope": envelope,
    })
}

#[tokio::test]
async fn a_referrer_bundle_over_the_image_digest_verifies_it() {
    let log = fx::log_key("rekor");
    let mut image = FakeImage::new(REPOSITORY, "signed by referrer");
    let signed = fx::keyed_bundle(&image.manifest, &log);
    assert_eq!(signed.digest, image.digest);
    let referrer = image.attach(&signed.bundle);
    let registry = FakeRegistry::start(image.clone(), Listing::Api).await;
    let (app, _dir) = gateway_for_fake(&registry, &log).await;

    let artifact = register_and_verify(&app, &image).await;
    assert_eq!(artifact["trust_state"], "verified", "{artifact}");
    assert_eq!(artifact["signature_verified"], true);
    let evidence = signature(&artifact);
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert_eq!(evidence["details"]["source"], "referrers", "{evidence}");
    assert_eq!(evidence["details"]["referrers"], "api", "{evidence}");
    assert_eq!(evidence["details"]["referrer"], referrer, "{evidence}");
    assert!(
        evidence["details"]["key_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{evidence}"
    );
    // The cosign tag was looked at too, and found nothing.
    let checked = evidence["details"]["checked"].as_array().unwrap();
    assert_eq!(checked[0]["source"], "signature_tag");
    assert_eq!(checked[0]["check"], "signature_found");
    let asked = format!("GET /v2/{REPOSITORY}/referrers/{}", image.digest);
    assert!(registry.requests().contains(&asked), "{:?}", registry.requests());
}

#[tokio::test]
async fn a_referrer_bundle_over_another_digest_fails_naming_the_digest_check() {
    let log = fx::log_key("rekor");
    let mut image = FakeImage::new(REPOSITORY, "other digest");
    let other = fx::keyed_bundle(b"some other manifest", &log);
    image.attach(&other.bundle);
    let registry = FakeRegistry::start(image.clone(), Listing::Api).await;
    let (app, _dir) = gateway_for_fake(&registry, &log).await;

    let artifact = register_and_verify(&app, &image).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    assert_eq!(artifact["signature_verified"], false);
    let evidence = signature(&artifact);
    assert_eq!(evidence["result"], "fail");
    assert_eq!(evidence["details"]["check"], "digest", "{evidence}");
    let reason = evidence["reason"].as_str().unwrap();
    assert!(
        reason.contains(&other.digest) && reason.contains(&image.digest),
        "{reason}"
    );
}

#[tokio::test]
async fn a_tampered_referrer_bundle_fails() {
    let log = fx::log_key("rekor");
    let mut image = FakeImage::new(REPOSITORY, "tampered");
    let mut tampered = fx::keyed_bundle(&image.manifest, &log).bundle;
    // Another valid-looking signature: made over other bytes by the same key.
    tampered["messageSignature"]["signature"] =
        fx::keyed_bundle(b"other bytes", &log).bundle["messageSignature"]["signature"].clone();
    image.attach(&tampered);
    let registry = FakeRegistry::start(image.clone(), Listing::Api).await;
    let (app, _dir) = gateway_for_fake(&registry, &log).await;

    let artifact = register_and_verify(&app, &image).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = signature(&artifact);
    assert_eq!(evidence["details"]["check"], "signature", "{evidence}");
    assert_eq!(evidence["details"]["source"], "referrers", "{evidence}");
}

#[tokio::test]
async fn a_referrer_whose_subject_is_another_image_does_not_count() {
    let log = fx::log_key("rekor");
    let mut image = FakeImage::new(REPOSITORY, "listed but about another");
    // A valid signature of this image, but in a manifest that says it refers to another.
    let signed = fx::keyed_bundle(&image.manifest, &log);
    image.attach_with_subject(&signed.bundle, &common::digest("another image"));
    let registry = FakeRegistry::start(image.clone(), Listing::Api).await;
    let (app, _dir) = gateway_for_fake(&registry, &log).await;

    let artifact = register_and_verify(&app, &image).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = signature(&artifact);
    assert_eq!(evidence["details"]["check"], "signature_found", "{evidence}");
    assert!(
        evidence["reason"]
            .as_str()
            .unwrap()
            .contains("no signature found"),
        "{evidence}"
    );
    assert_eq!(
        evidence["details"]["checked"].as_array().unwrap().len(),
        1,
        "{evidence}"
    );
}

#[tokio::test]
async fn without_the_api_the_referrers_tag_schema_index_is_read() {
    let log = fx::log_key("rekor");
    let mut image = FakeImage::new(REPOSITORY, "tag schema");
    image.attach(&fx::keyed_bundle(&image.manifest.clone(), &log).bundle);
    let registry = FakeRegistry::start(image.clone(), Listing::TagSchema).await;
    let (app, _dir) = gateway_for_fake(&registry, &log).await;

    let artifact = register_and_verify(&app, &image).await;
    assert_eq!(artifact["trust_state"], "verified", "{artifact}");
    let evidence = signature(&artifact);
    assert_eq!(evidence["details"]["referrers"], "tag_schema", "{evidence}");
    let tag = format!(
        "GET /v2/{REPOSITORY}/manifests/{}",
        image.digest.replacen(':', "-", 1)
    );
    assert!(registry.requests().contains(&tag), "{:?}", registry.requests());
}

#[tokio::test]
async fn dsse_referrer_bundles_are_attestations_whose_subject_must_be_the_image() {
    let log = fx::log_key("rekor");
    let mut image = FakeImage::new(REPOSITORY, "attested by referrer");
    image.attach(&fx::keyed_bundle(&image.manifest.clone(), &log).bundle);
    let provenance = image.attach(&dsse_bundle(&image.digest.clone(), SLSA));
    let registry = FakeRegistry::start(image.clone(), Listing::Api).await;
    let (app, _dir) = gateway_for_fake(&registry, &log).await;

    let artifact = register_and_verify(&app, &image).await;
    assert_eq!(artifact["trust_state"], "verified", "{artifact}");
    assert_eq!(artifact["attestations"], json!([SLSA]), "{artifact}");
    let attestation = &evidence_of(&artifact, "attestation")[0];
    assert_eq!(attestation["details"]["source"], "referrers", "{attestation}");
    assert_eq!(attestation["details"]["referrer"], provenance, "{attestation}");
    assert_eq!(
        attestation["details"]["builder_id"], "https://ci.example/builder",
        "{attestation}"
    );

    // A statement about another digest fails the verification, naming the subject check,
    // even though the image's signature passes.
    let mut image = FakeImage::new(REPOSITORY, "attested about another");
    image.attach(&fx::keyed_bundle(&image.manifest.clone(), &log).bundle);
    image.attach(&dsse_bundle(&common::digest("another image"), SLSA));
    let registry = FakeRegistry::start(image.clone(), Listing::Api).await;
    let (app, _dir) = gateway_for_fake(&registry, &log).await;
    let artifact = register_and_verify(&app, &image).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    assert_eq!(artifact["signature_verified"], true, "{artifact}");
    let attestation = &evidence_of(&artifact, "attestation")[0];
    assert_eq!(attestation["result"], "fail");
    assert_eq!(attestation["details"]["check"], "digest", "{attestation}");
    assert!(
        attestation["reason"].as_str().unwrap().contains("subject"),
        "{attestation}"
    );
}

/// Debian's distribution registry answers the referrers API with 404: verification falls back
/// to cosign's signature tag without error, and says the registry does not serve referrers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_without_the_referrers_api_falls_back_to_the_signature_tag() {
    if !common::registry::tools_available() {
        return;
    }
    let stack = stack_with(Db::sqlite(), |c| {
        c.trust.cosign_public_key_files = vec![key("cosign.pub")];
        c.trust.trusted_root_file = Some(common::cosign::test_trusted_root_file());
    })
    .await;
    let intent = publish_intent(
        &stack.app,
        "team-a",
        json!({ "app": "signed", "artifact_kind": "oci", "tag": "v1" }),
    )
    .await;
    let (user, pass) = creds(&intent);
    let repository = intent["repository"].as_str().unwrap().to_owned();
    let oci = write_oci_image("referrers fallback", "v1");
    let digest = skopeo_push(
        &oci,
        &stack.registry.host,
        &repository,
        &Auth::Creds(&user, &pass),
    )
    .await
    .unwrap();
    let grant = gatehouse::domain::AccessGrant {
        resource_type: "repository".to_owned(),
        name: repository.clone(),
        actions: vec!["pull".to_owned(), "push".to_owned()],
    };
    let token = common::registry::fixture_signer()
        .sign("signer", &[grant], std::time::Duration::from_secs(60))
        .unwrap();
    common::cosign::sign_and_push(
        &stack.registry.host,
        &repository,
        &digest,
        &key("cosign.key"),
        &Auth::Token(&token.token),
        None,
    )
    .await
    .unwrap();

    let artifact = eventually("the push to be registered", async || {
        artifact_by_digest(&stack.app, "team-a", &digest).await
    })
    .await;
    let (status, body) = stack
        .app
        .post(
            &format!("/v1/artifacts/{}/verify", artifact["id"].as_str().unwrap()),
            &operator("team-a"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trust_state"], "verified", "{body}");
    let evidence = signature(&body);
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert_eq!(evidence["details"]["source"], "signature_tag", "{evidence}");
    assert_eq!(evidence["details"]["referrers"], "unsupported", "{evidence}");
}
