//! Keyless trust end to end. A test Fulcio (`common::fulcio`, rcgen), a test transparency log
//! and a `trusted_root.json` naming both are made here, apart from the verifier; certificates
//! it issues sign cosign image signatures (pushed with skopeo beside the image in a real
//! registry) and sigstore bundles over blobs, and the gateway checks them against the trusted
//! root and the configured identities.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::cosign::{KeylessSignature, push_keyless_signature, simple_signing_payload};
use common::fulcio::{self, LeafSpec, OIDC_ISSUER, SIGNED_AT, TestFulcio, WORKFLOW};
use common::registry::{Auth, skopeo_push, write_oci_image};
use common::sigstore_fixtures as fx;
use common::stack::{
    Stack, artifact_by_digest, creds, eventually, gateway_for, operator, publish_intent, stack_with,
};
use common::{Db, TestApp};
use gatehouse::domain::{Digest, Evidence, EvidenceResult};
use gatehouse::trust::bundle::verify_blob_bundle;
use gatehouse::trust::{Identities, KeylessIdentity, LoadedRoot, SigstoreVerifier, TrustKeys};
use p256::ecdsa::SigningKey;
use serde_json::{Value, json};

/// A test Fulcio and log, and a trusted root file naming both.
struct Sigstore {
    fulcio: TestFulcio,
    log: SigningKey,
    root_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sigstore {
    fn new() -> Self {
        let fulcio = TestFulcio::new("fulcio");
        let log = fx::log_key("rekor");
        let dir = tempfile::tempdir().unwrap();
        let root_file = dir.path().join("trusted_root.json");
        let root = fulcio::trusted_root(&log, &[&fulcio]);
        std::fs::write(&root_file, root.to_string()).unwrap();
        Self {
            fulcio,
            log,
            root_file,
            _dir: dir,
        }
    }

    /// A keyless bundle over `blob` by a certificate as `spec` says.
    fn bundle(&self, blob: &[u8], spec: &LeafSpec) -> (Value, String) {
        fulcio::keyless_bundle(blob, &self.fulcio.issue(spec), &self.log)
    }
}

fn allow(subject: &str) -> KeylessIdentity {
    KeylessIdentity {
        issuer: OIDC_ISSUER.to_owned(),
        subject: Some(subject.to_owned()),
        subject_regex: None,
    }
}

fn workflow() -> LeafSpec {
    LeafSpec::new(OIDC_ISSUER, WORKFLOW)
}

fn identity_json() -> Value {
    json!({ "issuer": OIDC_ISSUER, "subject": WORKFLOW })
}

const OTHER_WORKFLOW: &str = "https://github.com/acme/other/.github/workflows/release.yml@refs/heads/main";

// ---- The library: bundles over blobs -------------------------------------------------------

/// The verifier over the root at `root_file` for `identities`.
fn verifier(root_file: &std::path::Path, identities: &[KeylessIdentity]) -> SigstoreVerifier {
    let root = LoadedRoot::load(root_file).unwrap();
    // A keyless bundle needs its log entry whatever `require_tlog` says.
    SigstoreVerifier::new(&root, TrustKeys::default(), Identities::compile(identities).unwrap(), false).unwrap()
}

fn verify(sigstore: &Sigstore, identities: &[KeylessIdentity], digest: &str, bundle: &Value) -> Evidence {
    let digest: Digest = digest.parse().unwrap();
    verify_blob_bundle(&verifier(&sigstore.root_file, identities), &digest, bundle)
}

fn fails_on(evidence: &Evidence, check: &str, reason: &str) {
    assert_eq!(evidence.result, EvidenceResult::Fail, "{}", evidence.reason);
    assert_eq!(evidence.details["check"], json!(check), "{}", evidence.reason);
    assert!(evidence.reason.contains(reason), "{}", evidence.reason);
}

#[test]
fn a_keyless_bundle_verifies_naming_the_identity_in_every_bundle_form() {
    let sigstore = Sigstore::new();
    let (bundle, digest) = sigstore.bundle(b"weights", &workflow());
    let evidence = verify(&sigstore, &[allow(WORKFLOW)], &digest, &bundle);
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(evidence.evidence_type, "blob_bundle");
    assert_eq!(evidence.details["identity"], identity_json());
    assert_eq!(evidence.details["check"], json!("verified"));
    assert_eq!(
        evidence.details["tlog_entries"][0]["integrated_time"],
        json!(SIGNED_AT)
    );
    assert_eq!(
        evidence.details["tlog_entries"][0]["inclusion_proof"],
        json!(true)
    );
    // v0.1/v0.2 carry the leaf first in `x509CertificateChain` (the rest is not needed).
    let mut v01 = bundle.clone();
    v01["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.1");
    let leaf = v01["verificationMaterial"]
        .as_object_mut()
        .unwrap()
        .remove("certificate")
        .unwrap();
    v01["verificationMaterial"]["x509CertificateChain"] = json!({ "certificates": [
        leaf, { "rawBytes": STANDARD.encode(&sigstore.fulcio.intermediate_der) },
    ] });
    let evidence = verify(&sigstore, &[allow(WORKFLOW)], &digest, &v01);
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    // A legacy issuer extension names the same identity.
    let legacy = LeafSpec {
        legacy_issuer: true,
        ..workflow()
    };
    let (bundle, digest) = sigstore.bundle(b"weights", &legacy);
    let evidence = verify(&sigstore, &[allow(WORKFLOW)], &digest, &bundle);
    assert_eq!(
        evidence.details["identity"],
        identity_json(),
        "{}",
        evidence.reason
    );
}

#[test]
fn keyless_bundle_failures_name_their_check() {
    let sigstore = Sigstore::new();
    let allowed = [allow(WORKFLOW)];
    let (good, digest) = sigstore.bundle(b"weights", &workflow());

    // A different identity: the same bundle fails on the identity, naming who signed.
    let evidence = verify(&sigstore, &[allow(OTHER_WORKFLOW)], &digest, &good);
    fails_on(&evidence, "identity", "matches no configured keyless identity");
    assert_eq!(evidence.details["identity"], identity_json());

    // A bundle for other bytes.
    let (other, other_digest) = sigstore.bundle(b"other weights", &workflow());
    assert_ne!(other_digest, digest);
    fails_on(
        &verify(&sigstore, &allowed, &digest, &other),
        "digest",
        "does not match artifact hash",
    );

    // A tampered signature.
    let mut tampered = good.clone();
    tampered["messageSignature"] = other["messageSignature"].clone();
    tampered["messageSignature"]["messageDigest"] = good["messageSignature"]["messageDigest"].clone();
    fails_on(
        &verify(&sigstore, &allowed, &digest, &tampered),
        "signature",
        "signature verification failed",
    );

    // A tampered log entry: another integrated time, or no entry at all.
    let mut moved = good.clone();
    moved["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = json!((SIGNED_AT + 60).to_string());
    fails_on(
        &verify(&sigstore, &allowed, &digest, &moved),
        "tlog_set",
        "SET verification failed",
    );
    let mut unlogged = good.clone();
    unlogged["verificationMaterial"]["tlogEntries"] = json!([]);
    fails_on(
        &verify(&sigstore, &allowed, &digest, &unlogged),
        "tlog_present",
        "no transparency-log entry",
    );
    let mut unproven = good.clone();
    unproven["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0] =
        json!(STANDARD.encode([0u8; 32]));
    fails_on(
        &verify(&sigstore, &allowed, &digest, &unproven),
        "tlog_inclusion_proof",
        "inclusion proof verification failed",
    );

    // A certificate from a CA the trusted root does not list.
    let rogue = TestFulcio::new("rogue");
    let (forged, _) = fulcio::keyless_bundle(b"weights", &rogue.issue(&workflow()), &sigstore.log);
    fails_on(
        &verify(&sigstore, &allowed, &digest, &forged),
        "chain",
        "certificate chain validation failed",
    );

    // A certificate without the SCT a CT log of the trusted root signed.
    let unlogged_cert = LeafSpec {
        sct: false,
        ..workflow()
    };
    let (no_sct, _) = sigstore.bundle(b"weights", &unlogged_cert);
    fails_on(
        &verify(&sigstore, &allowed, &digest, &no_sct),
        "sct",
        "missing SCT extension",
    );

    // A certificate that had expired when the log saw the signature.
    let expired = LeafSpec {
        not_before: SIGNED_AT - 1200,
        not_after: SIGNED_AT - 600,
        ..workflow()
    };
    let (late, _) = sigstore.bundle(b"weights", &expired);
    fails_on(
        &verify(&sigstore, &allowed, &digest, &late),
        "validity",
        "outside the signing certificate's validity",
    );
    // Valid from one second after it was logged: not yet valid then.
    let early = LeafSpec {
        not_before: SIGNED_AT + 1,
        not_after: SIGNED_AT + 600,
        ..workflow()
    };
    let (early, _) = sigstore.bundle(b"weights", &early);
    fails_on(
        &verify(&sigstore, &allowed, &digest, &early),
        "validity",
        "outside the signing certificate's validity",
    );
    // Both ends of the validity window are inside it.
    for (not_before, not_after) in [(SIGNED_AT, SIGNED_AT + 600), (SIGNED_AT - 600, SIGNED_AT)] {
        let edge = LeafSpec {
            not_before,
            not_after,
            ..workflow()
        };
        let (bundle, digest) = sigstore.bundle(b"weights", &edge);
        let evidence = verify(&sigstore, &allowed, &digest, &bundle);
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    }
}

#[test]
fn the_public_good_trusted_root_loads_and_test_certificates_do_not_chain_to_it() {
    // Sigstore's own trusted root (fixtures/keyless/README.md), read and checked by the verifier.
    let root_file = common::repo_path("fixtures/keyless/public-good-trusted_root.json");
    let root = LoadedRoot::load(&root_file).unwrap();
    assert!(root.has_certificate_authorities());
    // A test Fulcio certificate does not chain to the real CAs.
    let log = fx::log_key("rekor");
    let (bundle, digest) = fulcio::keyless_bundle(b"weights", &TestFulcio::new("fulcio").issue(&workflow()), &log);
    let evidence = verify_blob_bundle(
        &verifier(&root_file, &[allow(WORKFLOW)]),
        &digest.parse().unwrap(),
        &bundle,
    );
    assert_eq!(evidence.result, EvidenceResult::Fail, "{}", evidence.reason);
    assert_ne!(evidence.details["check"], json!("verified"));
}

/// What the public-good fixtures verify against: the real trusted root and `identities`.
fn public_good(identities: &[KeylessIdentity], digest: &str, bundle: &Value) -> Evidence {
    let root_file = common::repo_path("fixtures/keyless/public-good-trusted_root.json");
    verify_blob_bundle(&verifier(&root_file, identities), &digest.parse().unwrap(), bundle)
}

#[test]
fn a_real_keyless_bundle_made_by_the_public_good_instance_verifies_offline() {
    // CPython 3.12.5's release bundle (fixtures/keyless/README.md): a P-384 Fulcio leaf, a v0.1
    // bundle, a Rekor v1 entry with SET and an inclusion proof without a checkpoint (so it stands
    // on its SET), checked without the tarball.
    let text =
        std::fs::read_to_string(common::repo_path("fixtures/keyless/Python-3.12.5.tgz.sigstore")).unwrap();
    let bundle: Value = serde_json::from_str(&text).unwrap();
    let digest = "sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405";
    let release_manager = KeylessIdentity {
        issuer: "https://accounts.google.com".to_owned(),
        subject: Some("thomas@python.org".to_owned()),
        subject_regex: None,
    };
    let evidence = public_good(std::slice::from_ref(&release_manager), digest, &bundle);
    assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
    assert_eq!(
        evidence.details["identity"],
        json!({ "issuer": "https://accounts.google.com", "subject": "thomas@python.org" })
    );
    assert_eq!(
        evidence.details["tlog_entries"][0]["inclusion_proof"],
        json!(false)
    );
    // Someone else's identity, another digest, or a moved log time all fail.
    let evidence = public_good(&[allow(WORKFLOW)], digest, &bundle);
    fails_on(&evidence, "identity", "matches no configured keyless identity");
    let other = format!("sha256:{}", "0".repeat(64));
    fails_on(
        &public_good(std::slice::from_ref(&release_manager), &other, &bundle),
        "digest",
        "does not match artifact hash",
    );
    let mut moved = bundle.clone();
    moved["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = json!("1722976368");
    let evidence = public_good(&[release_manager], digest, &moved);
    fails_on(&evidence, "tlog_set", "SET verification failed");
}

// ---- The API: blobs registered with a keyless bundle ---------------------------------------

/// A gateway that trusts the test Fulcio and log for `identities` and requires a bundle for blobs.
async fn blob_gateway(sigstore: &Sigstore, identities: Vec<KeylessIdentity>) -> TestApp {
    let db = Db::sqlite();
    let mut config = common::test_config(&db);
    config.trust.trusted_root_file = Some(sigstore.root_file.clone());
    config.trust.keyless_identities = identities;
    config
        .trust
        .required
        .insert("blob".to_owned(), vec!["blob_bundle".to_owned()]);
    TestApp::spawn_with(db, config).await
}

async fn register_and_verify(app: &TestApp, digest: &str, bundle: &Value) -> Value {
    let operator = operator("team-a");
    let body = json!({
        "app": "llm", "artifact_kind": "blob", "artifact_type": "blob.model_weights", "digest": digest,
        "source": { "source_type": "artifact_store", "uri": "store://models/llm/weights.safetensors" },
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

/// The latest evidence of `kind` (an artifact keeps the evidence of every verification).
fn evidence_of(artifact: &Value, kind: &str) -> Value {
    artifact["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["type"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} evidence in {artifact}"))
}

#[tokio::test]
async fn a_blob_with_a_keyless_bundle_is_verified_and_a_tampered_log_entry_fails() {
    let sigstore = Sigstore::new();
    let app = blob_gateway(&sigstore, vec![allow(WORKFLOW)]).await;

    let (bundle, digest) = sigstore.bundle(b"model weights v1", &workflow());
    let artifact = register_and_verify(&app, &digest, &bundle).await;
    assert_eq!(artifact["trust_state"], "verified", "{artifact}");
    let evidence = evidence_of(&artifact, "blob_bundle");
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert_eq!(evidence["details"]["identity"], identity_json(), "{evidence}");

    let (bundle, digest) = sigstore.bundle(b"model weights v2", &workflow());
    let mut forged = bundle.clone();
    forged["verificationMaterial"]["tlogEntries"][0]["logIndex"] = json!("5");
    let artifact = register_and_verify(&app, &digest, &forged).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = evidence_of(&artifact, "blob_bundle");
    assert_eq!(evidence["details"]["check"], "tlog_set", "{evidence}");

    // Signed by an identity the gateway does not accept.
    let other = LeafSpec::new(OIDC_ISSUER, OTHER_WORKFLOW);
    let (bundle, digest) = sigstore.bundle(b"model weights v3", &other);
    let artifact = register_and_verify(&app, &digest, &bundle).await;
    assert_eq!(artifact["trust_state"], "failed_verification", "{artifact}");
    let evidence = evidence_of(&artifact, "blob_bundle");
    assert_eq!(evidence["details"]["check"], "identity", "{evidence}");
    assert_eq!(
        evidence["details"]["identity"]["subject"], OTHER_WORKFLOW,
        "{evidence}"
    );
}

#[tokio::test]
async fn keyless_configuration_errors_stop_start_up_naming_the_key() {
    let sigstore = Sigstore::new();
    let db = Db::sqlite();
    // Identities with a trusted root that lists no Fulcio CA.
    let dir = tempfile::tempdir().unwrap();
    let keyed_root = dir.path().join("keyed_root.json");
    std::fs::write(&keyed_root, fx::trusted_root(&sigstore.log).to_string()).unwrap();
    let mut config = common::test_config(&db);
    config.trust.trusted_root_file = Some(keyed_root);
    config.trust.keyless_identities = vec![allow(WORKFLOW)];
    let err = gatehouse::Application::build(config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`trust.keyless_identities`") && err.contains("Fulcio certificate authority"),
        "{err}"
    );
    // A CA certificate that is not a certificate: the verifier refuses the root, naming it.
    let mut root = fulcio::trusted_root(&sigstore.log, &[&sigstore.fulcio]);
    root["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"] = json!("AAAA");
    let bad_root = dir.path().join("bad_root.json");
    std::fs::write(&bad_root, root.to_string()).unwrap();
    let mut config = common::test_config(&db);
    config.trust.trusted_root_file = Some(bad_root);
    let err = format!("{:#}", gatehouse::Application::build(config).await.err().unwrap());
    assert!(
        err.contains("`trust.trusted_root_file`") && err.contains("bad_root.json"),
        "{err}"
    );
    // A validity window that ends before it starts.
    let mut root = fulcio::trusted_root(&sigstore.log, &[&sigstore.fulcio]);
    root["certificateAuthorities"][0]["validFor"] =
        json!({ "start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z" });
    let backwards = dir.path().join("backwards_root.json");
    std::fs::write(&backwards, root.to_string()).unwrap();
    let mut config = common::test_config(&db);
    config.trust.trusted_root_file = Some(backwards);
    let err = format!("{:#}", gatehouse::Application::build(config).await.err().unwrap());
    assert!(
        err.contains("backwards_root.json") && err.contains("window"),
        "{err}"
    );
}

// ---- The registry: cosign keyless signatures beside an image -------------------------------

/// Pushes an image through a publish intent; answers its digest once the notification registered it.
async fn push_image(stack: &Stack, app_slug: &str, seed: &str) -> String {
    let intent = publish_intent(
        &stack.app,
        "team-a",
        json!({ "app": app_slug, "artifact_kind": "oci", "tag": "v1" }),
    )
    .await;
    let (user, pass) = creds(&intent);
    let repository = intent["repository"].as_str().unwrap();
    let image = write_oci_image(seed, "v1");
    let digest = skopeo_push(
        &image,
        &stack.registry.host,
        repository,
        &Auth::Creds(&user, &pass),
    )
    .await
    .unwrap();
    eventually("the push to be registered", async || {
        artifact_by_digest(&stack.app, "team-a", &digest).await
    })
    .await;
    digest
}

/// Signs `digest` keylessly with a certificate from the test Fulcio and pushes it beside the image.
async fn sign_keyless(stack: &Stack, sigstore: &Sigstore, repository: &str, digest: &str) {
    let leaf = sigstore.fulcio.issue(&workflow());
    let payload = simple_signing_payload(&format!("{}/{repository}", stack.registry.host), digest);
    let signature = leaf.sign(&payload);
    let rekor_bundle = fulcio::cosign_rekor_bundle(&sigstore.log, &leaf, &payload, &signature, SIGNED_AT);
    let chain_pem = format!(
        "{}{}",
        fulcio::pem_of(&sigstore.fulcio.intermediate_der),
        fulcio::pem_of(&sigstore.fulcio.root_der)
    );
    let layer = KeylessSignature {
        payload,
        signature_b64: STANDARD.encode(&signature),
        certificate_pem: leaf.pem,
        chain_pem,
        rekor_bundle,
    };
    let grant = gatehouse::domain::AccessGrant::repository(repository.to_owned(), &["pull", "push"]);
    let token = common::registry::fixture_signer()
        .sign("ci", &[grant], std::time::Duration::from_secs(60))
        .unwrap();
    push_keyless_signature(
        &stack.registry.host,
        repository,
        digest,
        &layer,
        &Auth::Token(&token.token),
    )
    .await
    .unwrap();
}

async fn verify_image(app: &TestApp, digest: &str) -> Value {
    let artifact = artifact_by_digest(app, "team-a", digest).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_cosign_signature_verifies_for_its_identity_and_fails_for_another() {
    if !common::registry::tools_available() {
        return;
    }
    let sigstore = Sigstore::new();
    let root_file = sigstore.root_file.clone();
    let trusting = |subject: &'static str| {
        let root_file = root_file.clone();
        move |c: &mut gatehouse::Config| {
            c.trust.trusted_root_file = Some(root_file);
            c.trust.keyless_identities = vec![allow(subject)];
        }
    };
    let stack = stack_with(Db::sqlite(), trusting(WORKFLOW)).await;

    let digest = push_image(&stack, "keyless", "keyless image").await;
    sign_keyless(&stack, &sigstore, "gpuaas/apps/team-a/keyless", &digest).await;
    let body = verify_image(&stack.app, &digest).await;
    assert_eq!(body["trust_state"], "verified", "{body}");
    assert_eq!(body["signature_verified"], true, "{body}");
    let evidence = evidence_of(&body, "signature");
    assert_eq!(evidence["result"], "pass", "{evidence}");
    assert_eq!(evidence["details"]["identity"], identity_json(), "{evidence}");
    assert!(
        evidence["reason"].as_str().unwrap().contains(WORKFLOW),
        "{evidence}"
    );

    // An unsigned image: signatures are required once identities are configured.
    let unsigned = push_image(&stack, "unsigned", "unsigned image").await;
    let body = verify_image(&stack.app, &unsigned).await;
    assert_eq!(body["trust_state"], "failed_verification", "{body}");
    assert_eq!(
        evidence_of(&body, "signature")["details"]["check"],
        "signature_found"
    );

    // The same image and signature, with a gateway on the same database that accepts another
    // identity: failed, on the identity check.
    let Stack { app, registry, .. } = stack;
    let db = app.shutdown().await;
    let (app, _secret) = gateway_for(db, &registry, trusting(OTHER_WORKFLOW)).await;
    let body = verify_image(&app, &digest).await;
    assert_eq!(body["trust_state"], "failed_verification", "{body}");
    assert_eq!(body["signature_verified"], false, "{body}");
    let evidence = evidence_of(&body, "signature");
    assert_eq!(evidence["details"]["check"], "identity", "{evidence}");
    assert_eq!(evidence["details"]["identity"], identity_json(), "{evidence}");
}
