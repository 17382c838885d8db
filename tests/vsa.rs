//! Signed verification summaries end to end: a verification that ends `verified` or
//! `failed_verification` leaves a SLSA VSA in a DSSE envelope, served at
//! `GET /v1/artifacts/{id}/vsa` and checked here with PyPI in-toto and securesystemslib (not the
//! gateway's code) against the key served at `GET /v1/vsa/public-key`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::registry::{Auth, skopeo_push, write_oci_image};
use common::stack::{artifact_by_digest, creds, eventually, publish_intent, releaser, stack_with};
use common::{Db, TestApp, repo_path, token};
use gatehouse::config::VsaConfig;
use gatehouse::domain::{ProjectProvenance, ProvenanceTrust};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const VERIFIER: &str = "https://gatehouse.test/verifier";
const TRUSTED_BUILDER: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml@refs/tags/v2.0.0";
const TRUSTED_BYTES: &str = "gatehouse evidence: trusted build";
const OTHER_BUILDER_BYTES: &str = "gatehouse evidence: other builder";

fn envelope(name: &str) -> Value {
    let path = repo_path("fixtures/evidence_policies").join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn subject(bytes: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes.as_bytes())))
}

/// Trusts the provenance fixtures' key and builder; signs summaries with the fixture VSA key.
fn config(db: &Db) -> gatehouse::Config {
    let mut config = common::test_config(db);
    config.trust.cosign_public_key_files = vec![repo_path("fixtures/evidence_policies/attest.pub.pem")];
    config.trust.provenance = ProvenanceTrust {
        builders: vec![TRUSTED_BUILDER.to_owned()],
        projects: [("team-a".parse().unwrap(), ProjectProvenance::default())].into(),
    };
    config.vsa = VsaConfig {
        key_file: Some(repo_path("fixtures/vsa/vsa.key")),
        verifier_id: Some(VERIFIER.to_owned()),
    };
    config
}

/// Registers a blob of `bytes` from `https://downloads.example/<file>`; answers its id.
async fn register_blob(app: &TestApp, bytes: &str, file: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/projects/team-a/artifacts",
            &releaser("team-a"),
            json!({
                "app": "web", "artifact_kind": "blob", "digest": subject(bytes),
                "source": { "source_type": "https", "uri": format!("https://downloads.example/{file}?X-Amz-Signature=secret") },
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, id: &str, attestations: Value) -> Value {
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/verify"),
            &releaser("team-a"),
            json!({ "attestations": attestations }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn summary(app: &TestApp, id: &str) -> Value {
    let response = app
        .http
        .get(format!("{}/v1/artifacts/{id}/vsa", app.base))
        .bearer_auth(releaser("team-a"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    response.json().await.unwrap()
}

async fn public_key(app: &TestApp) -> String {
    let response = app
        .http
        .get(format!("{}/v1/vsa/public-key", app.base))
        .bearer_auth(token("vic", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The outcome of the Python check: the statement it verified, or why it refused.
type Checked = Result<Value, String>;

/// What PyPI in-toto/securesystemslib say about `envelope` under `public_pem`. The key id is
/// derived in Python (sha256 of the DER SubjectPublicKeyInfo), so the gateway's `keyid` is
/// checked too; `inputs` are JSON documents whose canonical digests Python computes.
fn python_check(envelope: &Value, public_pem: &str, inputs: &[Value]) -> Option<(Checked, Vec<String>)> {
    if !python_modules_available() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.pem"), public_pem).unwrap();
    std::fs::write(dir.path().join("envelope.json"), envelope.to_string()).unwrap();
    std::fs::write(
        dir.path().join("inputs.json"),
        Value::from(inputs.to_vec()).to_string(),
    )
    .unwrap();
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CHECK)
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{stdout}\n{stderr}"));
    let digests = report["input_digests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    let checked = match report["error"].as_str() {
        Some(error) => Err(error.to_owned()),
        None => Ok(report["statement"].clone()),
    };
    Some((checked, digests))
}

const PYTHON_CHECK: &str = r#"
import hashlib, json, os, sys
from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import SSlibKey
from in_toto.models.metadata import Envelope

d = sys.argv[1]
pub = serialization.load_pem_public_key(open(os.path.join(d, "key.pem"), "rb").read())
der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
key = SSlibKey.from_crypto(pub, keyid="sha256:" + hashlib.sha256(der).hexdigest(), scheme="ecdsa-sha2-nistp256")
inputs = json.load(open(os.path.join(d, "inputs.json")))
digests = [hashlib.sha256(json.dumps(i, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest() for i in inputs]
report = {"input_digests": digests}
try:
    envelope = Envelope.from_dict(json.load(open(os.path.join(d, "envelope.json"))))
    assert envelope.payload_type == "application/vnd.in-toto+json", envelope.payload_type
    envelope.verify([key], 1)
    report["statement"] = json.loads(envelope.payload)
except Exception as e:
    report["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(report))
"#;

/// Whether python3 can import in_toto and securesystemslib; under `CI=true` a missing module
/// is a failure (`.ci/run` installs them), elsewhere the check is skipped with a notice.
fn python_modules_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import in_toto, securesystemslib, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        common::skip::missing(
            "python3 cannot import in_toto/securesystemslib",
            "the offline VSA checks",
        );
    }
    ok
}

/// The envelope with one byte of its payload flipped, signature kept.
fn tampered(envelope: &Value) -> Value {
    let mut payload = STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let at = payload.len() / 2;
    payload[at] ^= 0x01;
    let mut out = envelope.clone();
    out["payload"] = json!(STANDARD.encode(payload));
    out
}

/// Verifies `envelope` in Python and answers its statement (None when Python is unavailable).
fn verified_statement(envelope: &Value, pem: &str, inputs: &[Value]) -> Option<(Value, Vec<String>)> {
    let (checked, digests) = python_check(envelope, pem, inputs)?;
    let statement = checked.unwrap_or_else(|e| panic!("in-toto refused the gateway's summary: {e}"));
    // A flipped payload byte must fail the same check.
    let (tampered, _) = python_check(&tampered(envelope), pem, &[])?;
    let refusal = tampered.expect_err("a tampered summary verified");
    assert!(refusal.contains("Verification"), "{refusal}");
    Some((statement, digests))
}

async fn a_verified_blob_has_a_summary_that_in_toto_verifies(db: Db) {
    let config = config(&db);
    let app = TestApp::spawn_with(db, config).await;
    let pem = public_key(&app).await;
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");

    let id = register_blob(&app, TRUSTED_BYTES, "web.tar").await;
    let provenance = envelope("provenance-trusted.dsse.json");
    let verified = verify(&app, &id, json!([provenance])).await;
    assert_eq!(verified["trust_state"], "verified", "{verified}");
    let vsa = summary(&app, &id).await;
    assert_eq!(vsa["payloadType"], "application/vnd.in-toto+json");

    // The statement, read without the gateway's code, says what was verified.
    let payload: Value =
        serde_json::from_slice(&STANDARD.decode(vsa["payload"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(payload["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        payload["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    assert_eq!(
        payload["subject"][0]["digest"]["sha256"],
        subject(TRUSTED_BYTES).trim_start_matches("sha256:")
    );
    let p = &payload["predicate"];
    assert_eq!(p["verifier"]["id"], VERIFIER);
    assert_eq!(p["verificationResult"], "PASSED", "{p}");
    assert_eq!(p["verifiedLevels"], json!(["SLSA_BUILD_LEVEL_1"]), "{p}");
    // The signed URL's secret stays out of a signed, served document.
    let uri = p["resourceUri"].as_str().unwrap();
    assert!(uri.starts_with("https://downloads.example/web.tar"), "{uri}");
    assert!(!uri.contains("secret"), "{uri}");
    assert!(chrono::DateTime::parse_from_rfc3339(p["timeVerified"].as_str().unwrap()).is_ok());
    // The policy is the serving set, named by its hash.
    let (status, policies) = app.get("/v1/policies", &security_admin()).await;
    assert_eq!(status, 200, "{policies}");
    assert_eq!(p["policy"]["digest"]["sha256"], policies["hash"], "{p}");
    assert!(
        p["policy"]["uri"]
            .as_str()
            .unwrap()
            .contains(policies["hash"].as_str().unwrap())
    );
    let inputs = p["inputAttestations"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "{p}");

    if let Some((statement, digests)) = verified_statement(&vsa, &pem, &[provenance]) {
        assert_eq!(statement, payload);
        // The input's digest is the canonical JSON digest of the envelope that was attached.
        assert_eq!(inputs[0]["digest"]["sha256"], digests[0].as_str(), "{p}");
    }

    // Provenance from a builder the project does not trust: verified, but no level above 0.
    let other = register_blob(&app, OTHER_BUILDER_BYTES, "other.tar").await;
    let verified = verify(
        &app,
        &other,
        json!([envelope("provenance-other-builder.dsse.json")]),
    )
    .await;
    assert_eq!(verified["trust_state"], "verified", "{verified}");
    let vsa = summary(&app, &other).await;
    let payload: Value =
        serde_json::from_slice(&STANDARD.decode(vsa["payload"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(
        payload["predicate"]["verifiedLevels"],
        json!(["SLSA_BUILD_LEVEL_0"])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_verified_blob_has_a_summary_that_in_toto_verifies_on_sqlite() {
    a_verified_blob_has_a_summary_that_in_toto_verifies(Db::sqlite()).await;
}

#[tokio::test]
async fn a_verified_blob_has_a_summary_that_in_toto_verifies_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    a_verified_blob_has_a_summary_that_in_toto_verifies(Db::Postgres(db)).await;
}

fn security_admin() -> String {
    let mut claims = common::user_claims("sam", json!({}));
    claims["platform_roles"] = json!(["security_admin"]);
    common::sign_es256(&claims)
}

fn statement_of(vsa: &Value) -> Value {
    serde_json::from_slice(&STANDARD.decode(vsa["payload"].as_str().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn a_failed_verification_yields_failed_and_only_the_summary_of_the_current_state_is_served() {
    let db = Db::sqlite();
    let config = config(&db);
    let app = TestApp::spawn_with(db, config).await;
    let pem = public_key(&app).await;
    let id = register_blob(&app, TRUSTED_BYTES, "web.tar").await;

    // Unverified: nothing to serve yet.
    let (status, body) = app
        .get(&format!("/v1/artifacts/{id}/vsa"), &releaser("team-a"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("verify it"), "{body}");

    // Passes with no trust material (nothing is required of this type): PASSED, level 0.
    verify(&app, &id, json!([])).await;
    let passed = statement_of(&summary(&app, &id).await);
    assert_eq!(passed["predicate"]["verificationResult"], "PASSED");
    assert_eq!(
        passed["predicate"]["verifiedLevels"],
        json!(["SLSA_BUILD_LEVEL_0"])
    );
    assert_eq!(passed["predicate"]["inputAttestations"], json!([]));

    // An envelope by a key the gateway does not trust fails the run: FAILED, and the level is
    // `FAILED` as the spec asks, never a build level.
    let failed = verify(&app, &id, json!([envelope("provenance-unknown-key.dsse.json")])).await;
    assert_eq!(failed["trust_state"], "failed_verification", "{failed}");
    let vsa = summary(&app, &id).await;
    let statement = statement_of(&vsa);
    assert_eq!(statement["predicate"]["verificationResult"], "FAILED");
    assert_eq!(statement["predicate"]["verifiedLevels"], json!(["FAILED"]));
    assert_eq!(
        statement["predicate"]["inputAttestations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    if let Some((checked, _)) = verified_statement(&vsa, &pem, &[]) {
        assert_eq!(checked, statement);
    }

    // Revoked: no summary holds any more, not even the last one.
    let admin = token("ada", json!({ "team-a": ["admin"] }));
    let (status, body) = app
        .post(
            &format!("/v1/artifacts/{id}/revoke"),
            &admin,
            json!({ "reason": "leaked" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .get(&format!("/v1/artifacts/{id}/vsa"), &releaser("team-a"))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("revoked"), "{body}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_reader_without_access_gets_what_reading_the_artifact_gives() {
    let db = Db::sqlite();
    let config = config(&db);
    let app = TestApp::spawn_with(db, config).await;
    let id = register_blob(&app, TRUSTED_BYTES, "web.tar").await;
    verify(&app, &id, json!([])).await;

    let outsider = token("oscar", json!({ "team-b": ["admin"] }));
    let (artifact_status, artifact_body) = app.get(&format!("/v1/artifacts/{id}"), &outsider).await;
    let (status, body) = app.get(&format!("/v1/artifacts/{id}/vsa"), &outsider).await;
    assert!(matches!(artifact_status, 403 | 404), "{artifact_body}");
    assert_eq!(status, artifact_status, "{body}");
    assert_eq!(body["title"], artifact_body["title"], "{body}");
    assert!(body.get("payload").is_none(), "{body}");

    let response = app
        .http
        .get(format!("{}/v1/artifacts/{id}/vsa", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // An unknown or malformed id answers as it does when reading the artifact.
    for id in [uuid::Uuid::now_v7().to_string(), "not-an-id".to_owned()] {
        let (artifact_status, _) = app.get(&format!("/v1/artifacts/{id}"), &releaser("team-a")).await;
        let (status, body) = app
            .get(&format!("/v1/artifacts/{id}/vsa"), &releaser("team-a"))
            .await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(status, artifact_status, "{body}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn without_a_key_no_summary_is_produced_and_both_routes_say_so() {
    let db = Db::sqlite();
    let mut config = config(&db);
    config.vsa = VsaConfig::default();
    let app = TestApp::spawn_with(db, config).await;
    let id = register_blob(&app, TRUSTED_BYTES, "web.tar").await;
    let verified = verify(&app, &id, json!([envelope("provenance-trusted.dsse.json")])).await;
    assert_eq!(verified["trust_state"], "verified", "{verified}");

    for path in [format!("/v1/artifacts/{id}/vsa"), "/v1/vsa/public-key".to_owned()] {
        let response = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(releaser("team-a"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains("[vsa]"), "{body}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_bad_vsa_key_or_verifier_stops_start_up_naming_the_key() {
    for (vsa, named) in [
        (
            VsaConfig {
                key_file: Some(repo_path("fixtures/keys/issuer-rs256.key")),
                verifier_id: Some(VERIFIER.to_owned()),
            },
            "vsa.key_file",
        ),
        (
            VsaConfig {
                key_file: Some(repo_path("fixtures/vsa/vsa.key")),
                verifier_id: Some("not a uri".to_owned()),
            },
            "vsa.verifier_id",
        ),
    ] {
        let db = Db::sqlite();
        let mut config = config(&db);
        config.vsa = vsa;
        let error = match gatehouse::Application::build(config).await {
            Ok(_) => panic!("started with a bad [vsa] section"),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains(named), "{error}");
        assert!(!error.contains("BEGIN"), "{error}");
    }
}

/// A cosign-format signature on an image in a real registry (as tests/trust_e2e.rs makes them):
/// the summary names the image by digest and lists the signature it checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_image_has_a_summary_listing_its_signature() {
    if !common::registry::tools_available() {
        return;
    }
    let stack = stack_with(Db::sqlite(), |c| {
        c.trust.cosign_public_key_files = vec![repo_path("fixtures/cosign/cosign.pub")];
        c.trust.trusted_root_file = Some(common::cosign::test_trusted_root_file());
        c.vsa = VsaConfig {
            key_file: Some(repo_path("fixtures/vsa/vsa.key")),
            verifier_id: Some(VERIFIER.to_owned()),
        };
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
    let image = write_oci_image("vsa image", "v1");
    let digest = skopeo_push(
        &image,
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
    let signer_token = common::registry::fixture_signer()
        .sign("signer", &[grant], std::time::Duration::from_secs(60))
        .unwrap();
    common::cosign::sign_and_push(
        &stack.registry.host,
        &repository,
        &digest,
        &repo_path("fixtures/cosign/cosign.key"),
        &Auth::Token(&signer_token.token),
        None,
    )
    .await
    .unwrap();
    let artifact = eventually("the push to be registered", async || {
        artifact_by_digest(&stack.app, "team-a", &digest).await
    })
    .await;
    let id = artifact["id"].as_str().unwrap();
    let verified = verify(&stack.app, id, json!([])).await;
    assert_eq!(verified["trust_state"], "verified", "{verified}");

    let vsa = summary(&stack.app, id).await;
    let statement = statement_of(&vsa);
    let image_name = format!("{}/{repository}", stack.registry.host);
    assert_eq!(statement["subject"][0]["name"], image_name.as_str());
    assert_eq!(
        statement["predicate"]["resourceUri"],
        format!("{image_name}@{digest}")
    );
    assert_eq!(statement["predicate"]["verificationResult"], "PASSED");
    let inputs = statement["predicate"]["inputAttestations"].as_array().unwrap();
    let signature = inputs
        .iter()
        .find(|i| i["name"].as_str().unwrap().ends_with(".sig"))
        .unwrap_or_else(|| panic!("no signature among {inputs:?}"));
    // The digest of the signed payload: the signature layer's own blob digest.
    let payload = common::cosign::simple_signing_payload(&image_name, &digest);
    assert_eq!(
        signature["digest"]["sha256"],
        hex::encode(Sha256::digest(&payload)).as_str(),
        "{signature}"
    );
    assert_eq!(
        signature["name"],
        format!("{image_name}:{}", common::cosign::sig_tag(&digest)).as_str()
    );
    let pem = public_key(&stack.app).await;
    if let Some((checked, _)) = verified_statement(&vsa, &pem, &[]) {
        assert_eq!(checked, statement);
    }
}
