//! Keyed cosign signatures against a real CNCF distribution registry: images pushed with skopeo,
//! signatures made (and logged in a test Rekor) by the test helper from the cosign spec, not by
//! the verifier; found and verified by `trust::fetch_signatures` + `trust::verify_signatures`,
//! which needs a valid log entry for exactly that signature while `trust.require_tlog` is on. Also the registry client's
//! manifest and blob reads, against the real registry and a loopback server that lies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::cosign::{
    REKOR_BUNDLE_ANNOTATION, SIGNATURE_ANNOTATION, keyed_rekor_bundle, public_pem,
    push_signature_with, sig_tag, sign, sign_and_push, simple_signing_payload, test_log,
};
use common::sigstore_fixtures as fx;
use common::registry::{
    Auth, Credential, Recorder, RegistryOptions, TestRegistry, fixture_signer, sha256_digest, skopeo_push,
    start_token_realm, tools_available, write_oci_image,
};
use gatehouse::domain::{AccessGrant, Digest, Evidence, EvidenceResult};
use gatehouse::registry::{RegistryClient, RegistryClientError};
use gatehouse::trust::identity::Identities;
use gatehouse::trust::{LoadedRoot, SigstoreVerifier, TrustKeys, fetch_signatures, verify_signatures};
use serde_json::json;

const REPO: &str = "gpuaas/apps/demo/signed";
const USER: &str = "pusher";
const PASS: &str = "pusher-password";

struct Setup {
    registry: TestRegistry,
    _recorder: Recorder,
    client: RegistryClient,
    pull_token: String,
}

/// A registry whose realm lets `pusher` push and pull `REPO`, and a client with a pull token
/// the gateway minted itself. `None` when the tools are missing outside CI.
async fn setup() -> Option<Setup> {
    if !tools_available() {
        return None;
    }
    let grant = |actions: &[&str]| AccessGrant {
        resource_type: "repository".to_owned(),
        name: REPO.to_owned(),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    };
    let users = HashMap::from([(
        USER.to_owned(),
        Credential {
            password: PASS.to_owned(),
            subject: "subject-pusher".to_owned(),
            allowed: vec![grant(&["pull", "push"])],
        },
    )]);
    let realm = start_token_realm(fixture_signer(), users).await;
    let recorder = Recorder::start().await;
    let registry = TestRegistry::start(&RegistryOptions {
        realm,
        notify_url: recorder.url.clone(),
        notify_secret: "unused".to_owned(),
    });
    let pull_token = fixture_signer()
        .sign("gatehouse", &[grant(&["pull"])], Duration::from_secs(300))
        .unwrap()
        .token;
    let client = RegistryClient::new(&registry.url).unwrap();
    Some(Setup {
        registry,
        _recorder: recorder,
        client,
        pull_token,
    })
}

fn key(name: &str) -> PathBuf {
    common::repo_path(&format!("fixtures/cosign/{name}"))
}

fn trust(public: &str) -> TrustKeys {
    TrustKeys::load(&[key(public)]).unwrap()
}

impl Setup {
    /// Pushes a fresh image; answers its digest.
    async fn push_image(&self, seed: &str) -> Digest {
        let image = write_oci_image(seed, "v1");
        let pushed = skopeo_push(&image, &self.registry.host, REPO, &Auth::Creds(USER, PASS))
            .await
            .unwrap_or_else(|e| panic!("push refused: {e}\nregistry log:\n{}", self.registry.logs()));
        pushed.parse().unwrap()
    }

    /// What the gateway would record for `digest` with `keys`, the test Rekor trusted and a
    /// log entry required.
    async fn verify(&self, digest: &Digest, keys: &TrustKeys) -> Evidence {
        self.verify_with(digest, keys, true).await
    }

    async fn verify_with(&self, digest: &Digest, keys: &TrustKeys, require_tlog: bool) -> Evidence {
        let layers = fetch_signatures(&self.client, REPO, digest, &self.pull_token)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = LoadedRoot::load(&common::cosign::write_test_trusted_root(dir.path())).unwrap();
        let verifier = SigstoreVerifier::new(&root, keys.clone(), Identities::default(), require_tlog).unwrap();
        verify_signatures(&verifier, digest, &layers)
    }

    fn host(&self) -> &str {
        &self.registry.host
    }
}

fn assert_fail(evidence: &Evidence, reason: &str) {
    assert_eq!(evidence.result, EvidenceResult::Fail, "{evidence:?}");
    assert!(evidence.reason.contains(reason), "reason: {}", evidence.reason);
}

#[tokio::test]
async fn signed_with_the_configured_key_passes_naming_it_and_fails_with_another_key() {
    let Some(s) = setup().await else { return };
    let digest = s.push_image("signed-image").await;
    let auth = Auth::Creds(USER, PASS);
    sign_and_push(s.host(), REPO, digest.as_str(), &key("cosign.key"), &auth, None)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "signature push refused: {e}\nregistry log:\n{}",
                s.registry.logs()
            )
        });

    let keys = trust("cosign.pub");
    let evidence = s.verify(&digest, &keys).await;
    assert_eq!(evidence.result, EvidenceResult::Pass, "{evidence:?}");
    assert_eq!(evidence.evidence_type, "signature");
    assert_eq!(evidence.details["key_id"], keys.keys()[0].key_id.as_str());
    assert_eq!(evidence.details["key_file"], "cosign.pub");
    assert_eq!(evidence.details["check"], "verified");
    assert_eq!(evidence.details["tlog"], "verified");
    assert_eq!(
        evidence.details["tlog_entries"][0]["log_id"],
        fx::log_id_hex(&test_log())
    );
    assert!(
        evidence.reason.contains(&keys.keys()[0].key_id),
        "{}",
        evidence.reason
    );

    let evidence = s.verify(&digest, &trust("other.pub")).await;
    assert_fail(&evidence, "signature does not verify with any configured key");
}

#[tokio::test]
async fn an_unsigned_image_fails_with_no_signature_found() {
    let Some(s) = setup().await else { return };
    let digest = s.push_image("unsigned-image").await;
    let evidence = s.verify(&digest, &trust("cosign.pub")).await;
    assert_fail(&evidence, &format!("no signature found for `{digest}`"));
    assert!(
        evidence.reason.contains(&sig_tag(digest.as_str())),
        "{}",
        evidence.reason
    );
}

#[tokio::test]
async fn a_signature_naming_another_digest_fails_naming_both() {
    let Some(s) = setup().await else { return };
    let digest = s.push_image("this-image").await;
    let other = s.push_image("another-image").await;
    let auth = Auth::Creds(USER, PASS);
    // A genuine signature of `other`, put under this image's `.sig` tag.
    sign_and_push(
        s.host(),
        REPO,
        digest.as_str(),
        &key("cosign.key"),
        &auth,
        Some(other.as_str()),
    )
    .await
    .unwrap();
    let evidence = s.verify(&digest, &trust("cosign.pub")).await;
    assert_fail(
        &evidence,
        &format!("signed payload names digest `{other}`, not `{digest}`"),
    );
}

#[tokio::test]
async fn a_tampered_payload_fails() {
    let Some(s) = setup().await else { return };
    let digest = s.push_image("tampered-image").await;
    let reference = format!("{}/{REPO}", s.host());
    let signed = simple_signing_payload(&reference, digest.as_str());
    let signature = sign(&key("cosign.key"), &signed);
    // Same claims, one byte changed in the identity: the signature no longer covers the bytes.
    let tampered = simple_signing_payload(&format!("{reference}x"), digest.as_str());
    let auth = Auth::Creds(USER, PASS);
    let logged = keyed_rekor_bundle(&test_log(), &public_pem(&key("cosign.key")), &tampered, &signature);
    let annotations = json!({ SIGNATURE_ANNOTATION: signature, REKOR_BUNDLE_ANNOTATION: logged });
    push_signature_with(s.host(), REPO, digest.as_str(), &tampered, annotations, &auth)
        .await
        .unwrap();
    let evidence = s.verify(&digest, &trust("cosign.pub")).await;
    assert_fail(&evidence, "signature does not verify with any configured key");
    assert_eq!(evidence.details["check"], "signature");
}

/// Pushes a layer signed by the fixture key for `digest` with `rekor` as its log annotation
/// (none when `None`).
async fn push_logged(s: &Setup, digest: &Digest, rekor: impl FnOnce(&[u8], &str) -> Option<String>) {
    let payload = simple_signing_payload(&format!("{}/{REPO}", s.host()), digest.as_str());
    let signature = sign(&key("cosign.key"), &payload);
    let mut annotations = json!({ SIGNATURE_ANNOTATION: signature });
    if let Some(logged) = rekor(&payload, &signature) {
        annotations[REKOR_BUNDLE_ANNOTATION] = json!(logged);
    }
    push_signature_with(s.host(), REPO, digest.as_str(), &payload, annotations, &Auth::Creds(USER, PASS))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_keyed_signature_without_a_log_entry_fails_unless_the_log_is_off() {
    let Some(s) = setup().await else { return };
    let digest = s.push_image("unlogged-image").await;
    push_logged(&s, &digest, |_, _| None).await;
    let evidence = s.verify(&digest, &trust("cosign.pub")).await;
    assert_fail(&evidence, "no transparency-log entry");
    assert_eq!(evidence.details["check"], "tlog_present");
    // With `require_tlog` off it passes, saying the log was not checked.
    let evidence = s.verify_with(&digest, &trust("cosign.pub"), false).await;
    assert_eq!(evidence.result, EvidenceResult::Pass, "{evidence:?}");
    assert_eq!(evidence.details["tlog"], "not_checked");
    assert!(evidence.reason.contains("not checked"), "{}", evidence.reason);
}

#[tokio::test]
async fn a_log_entry_for_another_signature_fails_on_the_entry() {
    let Some(s) = setup().await else { return };
    let digest = s.push_image("borrowed-entry-image").await;
    // A genuine entry of the same key, for a signature over another payload.
    let other = simple_signing_payload("elsewhere/repo", digest.as_str());
    let other_signature = sign(&key("cosign.key"), &other);
    let borrowed = keyed_rekor_bundle(&test_log(), &public_pem(&key("cosign.key")), &other, &other_signature);
    push_logged(&s, &digest, |_, _| Some(borrowed)).await;
    let evidence = s.verify(&digest, &trust("cosign.pub")).await;
    assert_fail(&evidence, "not for this signature");
    assert_eq!(evidence.details["check"], "tlog_entry");
}

#[tokio::test]
async fn a_forged_signed_entry_timestamp_fails_on_the_set() {
    let Some(s) = setup().await else { return };
    let digest = s.push_image("forged-set-image").await;
    push_logged(&s, &digest, |payload, signature| {
        let real = keyed_rekor_bundle(&test_log(), &public_pem(&key("cosign.key")), payload, signature);
        // The same entry, its timestamp signed by a key that is not the log's.
        let forged = keyed_rekor_bundle(&fx::log_key("forger"), &public_pem(&key("cosign.key")), payload, signature);
        let mut real: serde_json::Value = serde_json::from_str(&real).unwrap();
        let forged: serde_json::Value = serde_json::from_str(&forged).unwrap();
        real["SignedEntryTimestamp"] = forged["SignedEntryTimestamp"].clone();
        Some(real.to_string())
    })
    .await;
    let evidence = s.verify(&digest, &trust("cosign.pub")).await;
    assert_eq!(evidence.details["check"], "tlog_set", "{evidence:?}");
    assert_fail(&evidence, "SET verification failed");
}

#[tokio::test]
async fn manifests_and_blobs_are_read_by_tag_or_digest_and_checked() {
    let Some(s) = setup().await else { return };
    let image = write_oci_image("client-reads", "v1");
    let digest: Digest = image.manifest_digest.parse().unwrap();
    skopeo_push(&image, s.host(), REPO, &Auth::Creds(USER, PASS))
        .await
        .unwrap();
    let token = s.pull_token.as_str();

    let by_tag = s.client.get_manifest(REPO, "v1", token).await.unwrap().unwrap();
    assert_eq!(by_tag.digest, digest);
    assert_eq!(by_tag.media_type, "application/vnd.oci.image.manifest.v1+json");
    let by_digest = s
        .client
        .get_manifest(REPO, digest.as_str(), token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_digest, by_tag);
    assert!(
        s.client
            .get_manifest(REPO, "no-such-tag", token)
            .await
            .unwrap()
            .is_none()
    );
    let bad = s.client.get_manifest(REPO, "../v1", token).await.unwrap_err();
    assert!(matches!(bad, RegistryClientError::BadReference(_)), "{bad:?}");

    let manifest: serde_json::Value = serde_json::from_slice(&by_tag.bytes).unwrap();
    let layer: Digest = manifest["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    let blob = s.client.get_blob(REPO, &layer, token, 1 << 20).await.unwrap();
    assert_eq!(sha256_digest(&blob), layer.as_str());
    let capped = s.client.get_blob(REPO, &layer, token, 16).await.unwrap_err();
    assert!(matches!(capped, RegistryClientError::TooLarge(16)), "{capped:?}");
    let missing: Digest = sha256_digest(b"never pushed").parse().unwrap();
    let err = s
        .client
        .get_blob(REPO, &missing, token, 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryClientError::Status(StatusCode::NOT_FOUND)),
        "{err:?}"
    );
    let refused = s
        .client
        .get_blob(REPO, &layer, "not-a-token", 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, RegistryClientError::Unauthorized(_)),
        "{refused:?}"
    );
}

/// A registry on loopback that serves wrong bytes and redirects (no real registry does this).
async fn lying_registry() -> RegistryClient {
    let moved =
        |to: &'static str| move || async move { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]) };
    let router = Router::new()
        .route(
            "/v2/fake/wrong/blobs/{d}",
            get(|| async { "not what was asked for" }),
        )
        .route(
            "/v2/fake/wrong/manifests/{r}",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json")],
                    "{}",
                )
            }),
        )
        .route("/v2/fake/here/blobs/{d}", get(moved("/data")))
        .route("/v2/fake/away/blobs/{d}", get(moved("http://127.0.0.2:9/data")))
        .route("/data", get(|| async { "blob bytes".into_response() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    RegistryClient::new(&format!("http://{addr}")).unwrap()
}

#[tokio::test]
async fn bytes_that_do_not_hash_to_the_digest_and_foreign_redirects_are_refused() {
    let client = lying_registry().await;
    let digest: Digest = sha256_digest(b"blob bytes").parse().unwrap();
    let wrong = client
        .get_blob("fake/wrong", &digest, "t", 1024)
        .await
        .unwrap_err();
    let served = sha256_digest(b"not what was asked for");
    assert!(
        matches!(&wrong, RegistryClientError::DigestMismatch(d) if *d == served),
        "{wrong:?}"
    );
    let manifest = client
        .get_manifest("fake/wrong", digest.as_str(), "t")
        .await
        .unwrap_err();
    assert!(
        matches!(manifest, RegistryClientError::DigestMismatch(_)),
        "{manifest:?}"
    );
    // By tag there is nothing to check against: the digest is what the bytes hash to.
    let by_tag = client
        .get_manifest("fake/wrong", "v1", "t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_tag.digest.as_str(), sha256_digest(b"{}"));

    assert_eq!(
        client.get_blob("fake/here", &digest, "t", 1024).await.unwrap(),
        b"blob bytes"
    );
    let away = client
        .get_blob("fake/away", &digest, "t", 1024)
        .await
        .unwrap_err();
    assert!(matches!(away, RegistryClientError::Redirect(_)), "{away:?}");
}
