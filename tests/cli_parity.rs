//! The CLI as Cedar's and cosign's users expect it (issue 14, item 8): an offline `policy
//! authorize` with the Cedar CLI's exit codes, `policy format` and its `--check`, one JSON
//! document from `--format json`, JUnit from `policy test`, `verify` of envelopes, bundles and
//! an image's signature layers against the trust config, and no progress noise off a terminal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::blob_store::BlobStore;
use common::registry::{
    Auth, LayoutWriter, OciImage, RegistryOptions, TestRegistry, fixture_signer, skopeo_push,
    start_token_realm,
};
use gatehouse::domain::AccessGrant;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn gatehouse(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "error")
        .env_remove("GATEHOUSE_REGISTRY_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

/// Stdout parsed as the one JSON document `--format json` promises.
fn json_out(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", stdout(out)))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Entities in the decision log's form: a platform admin, a user with no role, the platform.
fn entities(dir: &Path) -> String {
    let user = |id: &str, roles: Value| {
        json!({
            "uid": { "type": "Gatehouse::User", "id": id },
            "attrs": { "issuer": "https://issuer.test", "admin_of": [], "operator_of": [],
                       "releaser_of": [], "viewer_of": [], "platform_roles": roles },
            "parents": [],
        })
    };
    let all = json!([
        user("alice", json!(["platform_admin"])),
        user("bob", json!([])),
        { "uid": { "type": "Gatehouse::Platform", "id": "platform" }, "attrs": {}, "parents": [] },
    ]);
    write(dir, "entities.json", &all.to_string())
}

fn authorize(principal: &str, action: &str, entities: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "policy",
        "authorize",
        "--principal",
        principal,
        "--action",
        action,
        "--resource",
        "Platform::\"platform\"",
        "--entities",
        entities,
    ];
    args.extend(extra);
    gatehouse(&args, &[])
}

#[test]
fn authorize_answers_allow_0_deny_2_and_error_1_like_the_cedar_cli() {
    let dir = tempfile::tempdir().unwrap();
    let entities = entities(dir.path());

    let allow = authorize("User::\"alice\"", "Action::\"read_platform\"", &entities, &[]);
    assert_eq!(code(&allow), 0, "{}{}", stdout(&allow), stderr(&allow));
    let text = stdout(&allow);
    assert!(text.starts_with("ALLOW\n"), "{text}");
    assert!(text.contains("determining policies: platform-read"), "{text}");

    let deny = authorize("User::\"bob\"", "Action::\"read_platform\"", &entities, &[]);
    assert_eq!(code(&deny), 2, "{}{}", stdout(&deny), stderr(&deny));
    let text = stdout(&deny);
    assert!(text.starts_with("DENY\n"), "{text}");
    assert!(
        text.contains("reason: no policy permits `read_platform` on this resource"),
        "{text}"
    );

    // A request the schema refuses is not a deny: it could not be asked.
    let error = authorize("User::\"bob\"", "Action::\"no_such_action\"", &entities, &[]);
    assert_eq!(code(&error), 1, "{}{}", stdout(&error), stderr(&error));
    assert!(
        stderr(&error).contains("`no_such_action` is not known"),
        "{}",
        stderr(&error)
    );
    assert!(stdout(&error).is_empty(), "{}", stdout(&error));
    let missing = gatehouse(
        &["policy", "authorize", "--action", "Action::\"read_platform\""],
        &[],
    );
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("needs a `principal`"),
        "{}",
        stderr(&missing)
    );
    let bad_entities = write(dir.path(), "bad.json", "[{\"uid\": 1}]");
    let out = authorize("User::\"alice\"", "Action::\"read_platform\"", &bad_entities, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("entit"), "{}", stderr(&out));
}

#[test]
fn authorize_json_has_stable_fields_for_allow_deny_and_error() {
    let dir = tempfile::tempdir().unwrap();
    let entities = entities(dir.path());
    let json_flag = ["--format", "json"];

    let allow = authorize(
        "User::\"alice\"",
        "Action::\"read_platform\"",
        &entities,
        &json_flag,
    );
    assert_eq!(code(&allow), 0);
    let doc = json_out(&allow);
    assert_eq!(doc["decision"], "allow", "{doc}");
    assert_eq!(doc["policy_ids"], json!(["platform-read"]), "{doc}");
    assert_eq!(doc["errors"], json!([]), "{doc}");
    assert_eq!(doc["policy_hash"].as_str().unwrap().len(), 64, "{doc}");

    let deny = authorize(
        "User::\"bob\"",
        "Action::\"read_platform\"",
        &entities,
        &json_flag,
    );
    assert_eq!(code(&deny), 2);
    let doc = json_out(&deny);
    assert_eq!(doc["decision"], "deny", "{doc}");
    assert_eq!(doc["policy_ids"], json!([]), "{doc}");
    assert_eq!(doc["reasons"].as_array().unwrap().len(), 1, "{doc}");

    let error = authorize(
        "User::\"bob\"",
        "Action::\"no_such_action\"",
        &entities,
        &json_flag,
    );
    assert_eq!(code(&error), 1);
    let doc = json_out(&error);
    assert_eq!(doc["decision"], Value::Null, "{doc}");
    assert!(
        doc["errors"][0].as_str().unwrap().contains("no_such_action"),
        "{doc}"
    );
}

#[test]
fn authorize_takes_a_decision_log_request_file_with_full_names_and_a_context() {
    let dir = tempfile::tempdir().unwrap();
    let entities = entities(dir.path());
    let request = write(
        dir.path(),
        "request.json",
        &json!({
            "principal": "Gatehouse::User::\"alice\"",
            "action": "Gatehouse::Action::\"read_platform\"",
            "resource": "Gatehouse::Platform::\"platform\"",
            "context": { "channel": "prod" },
        })
        .to_string(),
    );
    let out = gatehouse(
        &[
            "policy",
            "authorize",
            "--request-json",
            &request,
            "--entities",
            &entities,
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // A context field the schema does not declare is refused, naming it.
    let out = authorize(
        "User::\"alice\"",
        "Action::\"read_platform\"",
        &entities,
        &["--context", "{\"no_such_field\": \"x\"}"],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("no_such_field"), "{}", stderr(&out));
}

const UNFORMATTED: &str =
    "@id(\"p\")\npermit(principal,action==Gatehouse::Action::\"describe\",resource)when{true};\n";

#[test]
fn format_rewrites_in_place_and_check_fails_until_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "p.cedar", UNFORMATTED);
    let dir_text = dir.path().to_str().unwrap();

    let check = gatehouse(&["policy", "format", "--check", dir_text], &[]);
    assert_eq!(code(&check), 1, "{}{}", stdout(&check), stderr(&check));
    assert!(stdout(&check).contains("not formatted: "), "{}", stdout(&check));
    assert!(stdout(&check).contains("p.cedar"), "{}", stdout(&check));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        UNFORMATTED,
        "--check wrote"
    );

    let json = gatehouse(&["policy", "format", "--check", "--format", "json", &file], &[]);
    assert_eq!(code(&json), 1);
    let doc = json_out(&json);
    assert_eq!(doc["check"], true, "{doc}");
    assert_eq!(doc["changed"], json!([file]), "{doc}");

    let format = gatehouse(&["policy", "format", dir_text], &[]);
    assert_eq!(code(&format), 0, "{}{}", stdout(&format), stderr(&format));
    let formatted = std::fs::read_to_string(&file).unwrap();
    assert_ne!(formatted, UNFORMATTED);
    assert!(formatted.contains("permit (\n"), "{formatted}");
    assert!(formatted.starts_with("@id(\"p\")"), "{formatted}");

    let check = gatehouse(&["policy", "format", "--check", dir_text], &[]);
    assert_eq!(code(&check), 0, "{}{}", stdout(&check), stderr(&check));
    assert!(
        stdout(&check).contains("1 policy files already formatted"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn format_of_an_unparsable_file_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "a.cedar", UNFORMATTED);
    write(dir.path(), "b.cedar", "permit(principal,action,resource\n");
    let out = gatehouse(&["policy", "format", dir.path().to_str().unwrap()], &[]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("b.cedar"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&good).unwrap(),
        UNFORMATTED,
        "a.cedar was written"
    );
    let out = gatehouse(&["policy", "format", "--check", "no/such/dir"], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no/such/dir"), "{}", stderr(&out));
}

#[test]
fn validate_and_test_print_one_json_document() {
    let out = gatehouse(&["policy", "validate", "--format", "json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc["valid"], true, "{doc}");
    assert!(doc["policies"].as_u64().unwrap() > 10, "{doc}");
    assert_eq!(doc["problems"], json!([]), "{doc}");

    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "broken.cedar",
        "@id(\"broken\")\npermit(principal, action, resource)\nwhen { resource.no_such_attribute == 1 };\n",
    );
    let out = gatehouse(
        &[
            "policy",
            "validate",
            "--format",
            "json",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&out), 1);
    let doc = json_out(&out);
    assert_eq!(doc["valid"], false, "{doc}");
    let problem = &doc["problems"][0];
    assert_eq!(problem["file"], "broken.cedar", "{doc}");
    assert!(
        problem["reason"].as_str().unwrap().contains("no_such_attribute"),
        "{doc}"
    );

    let out = gatehouse(&["policy", "test", "--format", "json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json_out(&out);
    let total = doc["total"].as_u64().unwrap();
    assert!(total > 20, "{doc}");
    assert_eq!(doc["passed"].as_u64().unwrap(), total, "{doc}");
    assert_eq!(doc["cases"].as_array().unwrap().len() as u64, total, "{doc}");
    assert_eq!(doc["cases"][0]["passed"], true, "{doc}");
}

/// A copy of the shipped policies with one test file: a passing and a failing case.
fn policies_with_a_failing_test() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let case = |name: &str, role: &str| {
        json!({
            "name": name,
            "principal": { "type": "user", "id": "aud", "platform_roles": [role] },
            "action": "read_platform",
            "resource": "platform",
            "expect": { "decision": "allow" },
        })
    };
    let cases = json!([
        case("an auditor reads the platform", "auditor"),
        case("a <visitor> & friends read the platform", "visitor"),
    ]);
    write(&dir.path().join("tests"), "platform.json", &cases.to_string());
    dir
}

#[test]
fn policy_test_writes_junit_with_one_testcase_per_case_and_the_failure() {
    let dir = policies_with_a_failing_test();
    let junit = dir.path().join("report.xml");
    let out = gatehouse(
        &[
            "policy",
            "test",
            dir.path().to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let doc = json_out(&out);
    assert_eq!(
        (doc["total"].as_u64(), doc["failed"].as_u64()),
        (Some(2), Some(1)),
        "{doc}"
    );
    assert!(
        doc["cases"][1]["failure"]
            .as_str()
            .unwrap()
            .contains("expected Allow, got Deny"),
        "{doc}"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuites name=\"gatehouse policy test\" tests=\"2\" failures=\"1\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"platform.json\" tests=\"2\" failures=\"1\">"),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"platform.json\" name=\"an auditor reads the platform\"/>"),
        "{xml}"
    );
    // The failing case's name is escaped and it carries its failure with the diff.
    let failing = xml
        .split("<testcase classname=\"platform.json\" name=\"a &lt;visitor&gt; &amp; friends read the platform\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no escaped failing testcase:\n{xml}"));
    assert!(
        failing.trim_start().starts_with("<failure message=\"decision:"),
        "{xml}"
    );
    assert!(failing.contains("expected Allow, got Deny"), "{xml}");
    assert!(failing.contains("</failure>\n    </testcase>"), "{xml}");
    // Well formed at the level CI readers need: every element opened is closed.
    for element in ["testsuites", "testsuite", "failure"] {
        assert_eq!(
            xml.matches(&format!("<{element} ")).count(),
            xml.matches(&format!("</{element}>")).count(),
            "{element}: {xml}"
        );
    }
    assert!(!xml.contains("<visitor>"), "{xml}");
}

#[test]
fn replay_prints_one_json_document_and_no_progress_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/replay.db", dir.path().display());
    let env = [("GATEHOUSE_DATABASE_URL", url.as_str())];
    let migrate = gatehouse(&["migrate"], &env);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let out = gatehouse(
        &["policy", "replay", "--candidate", "policies", "--format", "json"],
        &env,
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let doc = json_out(&out);
    assert_eq!(
        (doc["replayed"].as_u64(), doc["changed"].as_u64()),
        (Some(0), Some(0)),
        "{doc}"
    );
    assert_eq!(doc["changes"], json!([]), "{doc}");
    assert!(
        stderr(&out).is_empty(),
        "stderr is not a terminal: {:?}",
        stderr(&out)
    );

    let out = gatehouse(
        &[
            "policy",
            "replay",
            "--candidate",
            "no/such/dir",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(code(&out), 2);
    assert!(json_out(&out)["error"].as_str().unwrap().contains("no/such/dir"));
}

#[tokio::test]
async fn fetch_shows_no_progress_when_stderr_is_not_a_terminal() {
    let store = BlobStore::start().await;
    let content = vec![7_u8; 300_000];
    store.put("weights.bin", &content);
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&content)));
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("weights.bin");
    let url = format!("{}/weights.bin", store.url);
    let args: Vec<String> = vec![
        "fetch".into(),
        url,
        "--digest".into(),
        digest,
        "-o".into(),
        output.to_str().unwrap().into(),
    ];
    // The blob store runs on this runtime: the blocking child process waits off it.
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        gatehouse(&args, &[])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&output).unwrap(), content);
    assert!(
        stderr(&out).is_empty(),
        "stderr is not a terminal: {:?}",
        stderr(&out)
    );
}

// ---- verify ----

/// A config trusting `keys`, with `extra` TOML under `[trust]`.
fn trust_config(dir: &Path, keys: &[&str], extra: &str) -> String {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| format!("{:?}", common::repo_path(k).display().to_string()))
        .collect();
    write(
        dir,
        "gatehouse.toml",
        &format!(
            "[trust]\ncosign_public_key_files = [{}]\n{extra}\n",
            keys.join(", ")
        ),
    )
}

const ATTESTED: &str = "sha256:784241a41185171f16163eb9dd9c32b07a4da4bfe487f97111d5b1bd4ab68d11";
const MODEL: &str = "sha256:0de4adc6b348aaf7a9fdcff8896a1727c4490ff2a233374182411f608f595110";

#[test]
fn verify_envelope_passes_the_fixture_and_fails_a_tampered_one_naming_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = trust_config(
        dir.path(),
        &["fixtures/attestations/attest.pub.pem"],
        "require_tlog = false",
    );
    let verify = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "--config", &config, "verify", "envelope", file, "--digest", ATTESTED,
        ];
        args.extend(extra);
        gatehouse(&args, &[])
    };
    let out = verify("fixtures/attestations/slsa-provenance-v1.dsse.json", &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("PASS attestation [verified]"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).ends_with("verified\n"), "{}", stdout(&out));

    let out = verify(
        "fixtures/attestations/slsa-provenance-v1.dsse.json",
        &["--format", "json"],
    );
    let doc = json_out(&out);
    assert_eq!(doc["verified"], true, "{doc}");
    assert_eq!(doc["subject"], ATTESTED, "{doc}");
    let evidence = &doc["evidence"][0];
    assert_eq!(evidence["type"], "attestation", "{doc}");
    assert_eq!(evidence["result"], "pass", "{doc}");
    assert_eq!(
        evidence["details"]["predicate_type"], "https://slsa.dev/provenance/v1",
        "{doc}"
    );

    let out = verify("fixtures/attestations/tampered.dsse.json", &[]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out)
            .contains("FAIL attestation [signature]: signature does not verify with any configured key"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("not verified: 1 of 1 checks failed"),
        "{}",
        stdout(&out)
    );

    let out = verify(
        "fixtures/attestations/wrong-subject.dsse.json",
        &["--format", "json"],
    );
    assert_eq!(code(&out), 1);
    assert_eq!(json_out(&out)["evidence"][0]["result"], "fail");

    // The wrong kind of file is refused by name, not reported as a failed check.
    let out = gatehouse(
        &[
            "--config",
            &config,
            "verify",
            "bundle",
            "fixtures/attestations/tampered.dsse.json",
            "--digest",
            ATTESTED,
        ],
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("is not a sigstore bundle"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_bundle_passes_the_model_signing_fixture_and_fails_for_another_digest() {
    let dir = tempfile::tempdir().unwrap();
    let config = trust_config(
        dir.path(),
        &["fixtures/cosign/cosign.pub"],
        "require_tlog = false",
    );
    let bundle = "fixtures/bundles/tiny-model.sig.json";
    let out = gatehouse(
        &["--config", &config, "verify", "bundle", bundle, "--digest", MODEL],
        &[],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("PASS blob_bundle [verified]"),
        "{}",
        stdout(&out)
    );

    let other = format!("sha256:{}", "ab".repeat(32));
    let out = gatehouse(
        &[
            "--config", &config, "verify", "bundle", bundle, "--digest", &other, "--format", "json",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc["verified"], false, "{doc}");
    assert_eq!(doc["evidence"][0]["details"]["check"], "digest", "{doc}");

    // An untrusted key: the same bundle fails the key check.
    let untrusted = trust_config(dir.path(), &["fixtures/cosign/other.pub"], "require_tlog = false");
    let out = gatehouse(
        &[
            "--config", &untrusted, "verify", "bundle", bundle, "--digest", MODEL,
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("FAIL blob_bundle"), "{}", stdout(&out));

    // `--artifact` hashes the file itself; requirements from `[trust.required]` apply on request.
    let artifact = write(dir.path(), "artifact.bin", "gatehouse attested artifact");
    let required = trust_config(
        dir.path(),
        &["fixtures/attestations/attest.pub.pem"],
        "require_tlog = false\n[trust.required]\n\"blob.model_weights\" = [\"attestation\", \"signature\"]",
    );
    let out = gatehouse(
        &[
            "--config",
            &required,
            "verify",
            "envelope",
            "fixtures/attestations/slsa-provenance-v1.dsse.json",
            "--artifact",
            &artifact,
            "--artifact-type",
            "blob.model_weights",
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("subject {ATTESTED}")), "{text}");
    assert!(text.contains("PASS attestation"), "{text}");
    assert!(
        text.contains("FAIL signature: a passing `signature` is required for `blob.model_weights`"),
        "{text}"
    );
}

fn ci_flow(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_path(&format!("fixtures/ci-flow/{name}"))).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An OCI layout holding cosign's `.sig` and `.att` manifests for the ci-flow image, as `skopeo
/// copy` of those tags would write it; `payload` replaces the signed payload when given.
fn signature_layout(payload: Option<&[u8]>) -> (tempfile::TempDir, String) {
    let subject: Value = serde_json::from_slice(&ci_flow("subject.json")).unwrap();
    let digest = subject["digest"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).unwrap();
        digest
    };
    let config = put(b"{}");
    let mut index = Vec::new();
    for (suffix, media_type, layer, annotations) in [
        (
            "sig",
            "application/vnd.dev.cosign.simplesigning.v1+json",
            payload.map_or_else(|| ci_flow("signature.payload.json"), <[u8]>::to_vec),
            "signature.annotations.json",
        ),
        (
            "att",
            "application/vnd.dsse.envelope.v1+json",
            ci_flow("attestation.envelope.json"),
            "attestation.annotations.json",
        ),
    ] {
        let annotations: Value = serde_json::from_slice(&ci_flow(annotations)).unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
            "layers": [{ "mediaType": media_type, "digest": put(&layer), "size": layer.len(), "annotations": annotations }],
        }))
        .unwrap();
        index.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put(&manifest),
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": format!("{}.{suffix}", digest.replacen(':', "-", 1)) },
        }));
    }
    std::fs::write(
        dir.path().join("index.json"),
        json!({ "schemaVersion": 2, "manifests": index }).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    (dir, digest)
}

fn ci_flow_config(dir: &Path) -> String {
    let root = common::repo_path("fixtures/ci-flow/trusted_root.json");
    trust_config(
        dir,
        &["fixtures/ci-flow/cosign.pub.pem"],
        &format!(
            "require_tlog = true\ntrusted_root_file = {:?}",
            root.display().to_string()
        ),
    )
}

#[test]
fn verify_image_checks_signature_and_attestation_layers_of_an_oci_layout() {
    let (layout, digest) = signature_layout(None);
    let config = ci_flow_config(layout.path());
    let reference = format!("oci:{}", layout.path().display());
    let out = gatehouse(
        &[
            "--config", &config, "verify", "image", &reference, "--digest", &digest, "--format", "json",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc["verified"], true, "{doc}");
    let evidence = doc["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 2, "{doc}");
    assert_eq!(evidence[0]["type"], "signature", "{doc}");
    assert_eq!(evidence[0]["details"]["source"], "signature_tag", "{doc}");
    assert_eq!(evidence[1]["type"], "attestation", "{doc}");
    assert_eq!(
        evidence[1]["details"]["predicate_type"], "https://slsa.dev/provenance/v1",
        "{doc}"
    );

    // The image named by a digest in the reference reads the same.
    let by_digest = format!("oci:{}@{digest}", layout.path().display());
    let out = gatehouse(&["--config", &config, "verify", "image", &by_digest], &[]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("PASS signature [verified]"),
        "{}",
        stdout(&out)
    );

    // Another digest has no signature in the layout: the required signature fails, saying so.
    let other = format!("sha256:{}", "cd".repeat(32));
    let out = gatehouse(
        &[
            "--config", &config, "verify", "image", &reference, "--digest", &other,
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("FAIL signature [signature_found]: no signature found"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_image_fails_a_tampered_signature_payload_with_a_clear_reason() {
    let original = ci_flow("signature.payload.json");
    let mut payload: Value = serde_json::from_slice(&original).unwrap();
    payload["optional"] = json!({ "edited": "after signing" });
    let (layout, digest) = signature_layout(Some(&serde_json::to_vec(&payload).unwrap()));
    let config = ci_flow_config(layout.path());
    let reference = format!("oci:{}", layout.path().display());
    let out = gatehouse(
        &[
            "--config", &config, "verify", "image", &reference, "--digest", &digest,
        ],
        &[],
    );
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL signature"))
        .unwrap_or_else(|| panic!("no failing signature line:\n{text}"));
    assert!(
        line.contains("signature") && line.len() > "FAIL signature: ".len(),
        "{text}"
    );
    assert!(text.contains("not verified: 1 of 2 checks failed"), "{text}");

    // Not a layout at all: an error naming the directory, exit 2.
    let empty = tempfile::tempdir().unwrap();
    let out = gatehouse(
        &[
            "--config",
            &config,
            "verify",
            "image",
            &format!("oci:{}", empty.path().display()),
        ],
        &[],
    );
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("is not an OCI image layout"),
        "{}",
        stderr(&out)
    );
}

/// One of cosign's tags for the ci-flow image as its own layout, to push to a registry.
fn cosign_tag_image(
    digest: &str,
    suffix: &str,
    media_type: &str,
    layer: &str,
    annotations: &str,
) -> OciImage {
    let layout = LayoutWriter::new();
    let layer = ci_flow(layer);
    let annotations: Value = serde_json::from_slice(&ci_flow(annotations)).unwrap();
    let config = layout.put(b"{}");
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
        "layers": [{ "mediaType": media_type, "digest": layout.put(&layer), "size": layer.len(), "annotations": annotations }],
    });
    layout.finish(&format!("{}.{suffix}", digest.replacen(':', "-", 1)), &manifest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_image_reads_the_signature_tags_from_a_local_registry() {
    if !common::registry::tools_available() {
        return;
    }
    let realm = start_token_realm(fixture_signer(), HashMap::new()).await;
    let registry = TestRegistry::start(&RegistryOptions {
        realm,
        // Nothing listens there: the registry's notifications go nowhere, which is fine here.
        notify_url: "http://127.0.0.1:9/notifications".to_owned(),
        notify_secret: "unused".to_owned(),
    });
    let repository = "team-a/ci-demo";
    let grant = AccessGrant::repository(repository, &["pull", "push"]);
    let token = fixture_signer()
        .sign("release-bot", &[grant], Duration::from_secs(300))
        .unwrap()
        .token;
    let subject: Value = serde_json::from_slice(&ci_flow("subject.json")).unwrap();
    let digest = subject["digest"].as_str().unwrap().to_owned();
    for image in [
        cosign_tag_image(
            &digest,
            "sig",
            "application/vnd.dev.cosign.simplesigning.v1+json",
            "signature.payload.json",
            "signature.annotations.json",
        ),
        cosign_tag_image(
            &digest,
            "att",
            "application/vnd.dsse.envelope.v1+json",
            "attestation.envelope.json",
            "attestation.annotations.json",
        ),
    ] {
        skopeo_push(&image, &registry.host, repository, &Auth::Token(&token))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let config = ci_flow_config(dir.path());
    let reference = format!("{}/{repository}@{digest}", registry.host);
    let run = |args: Vec<String>, token: String| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            gatehouse(&args, &[("GATEHOUSE_REGISTRY_TOKEN", token.as_str())])
        })
    };
    let args: Vec<String> = [
        "--config",
        &config,
        "verify",
        "image",
        &reference,
        "--plain-http",
        "--format",
        "json",
    ]
    .map(str::to_owned)
    .to_vec();
    let out = run(args.clone(), token.clone()).await.unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let doc = json_out(&out);
    assert_eq!(doc["verified"], true, "{doc}");
    assert_eq!(doc["evidence"][0]["type"], "signature", "{doc}");
    assert_eq!(doc["evidence"][1]["type"], "attestation", "{doc}");

    // A token the registry does not accept: the registry is at fault, not the image (exit 2).
    let out = run(args, "not-a-token".to_owned()).await.unwrap();
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(json_out(&out)["error"].as_str().is_some(), "{}", stdout(&out));
}
