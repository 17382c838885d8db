//! The sigstore corpus (`fixtures/sigstore-corpus`, made by its own generator with tooling apart
//! from the gateway): each case's bundle is registered with its blob through the API and verified,
//! and the evidence must carry the case's verdict and check, the artifact the matching trust
//! state. Black box: the gateway is configured only through `[trust]` keys and spoken to over HTTP.
//! `SIGSTORE_CORPUS_CASE=<part of a name>` runs the matching cases only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use common::{Db, TestApp, token};
use serde_json::{Value, json};
use sha2::Digest as _;

fn corpus() -> PathBuf {
    common::repo_path("fixtures/sigstore-corpus")
}

/// What a case must come to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// The bundle verifies; the artifact is `verified`.
    Pass,
    /// The bundle fails naming this check; the artifact is `failed_verification`.
    Fail(String),
    /// The API refuses the registration (422).
    Reject,
    /// Anything else (a missing evidence item, a wrong trust state, an unexpected status).
    Broken(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass => f.write_str("pass"),
            Self::Fail(check) => write!(f, "fail/{check}"),
            Self::Reject => f.write_str("reject (422)"),
            Self::Broken(what) => write!(f, "broken: {what}"),
        }
    }
}

struct Case {
    name: String,
    config: String,
    digest: String,
    bundle: Value,
    expected: Verdict,
    evidence_type: String,
    signer: Value,
    predicate_type: Option<String>,
    builder_id: Option<String>,
}

fn cases(manifest: &Value) -> Vec<Case> {
    let only = std::env::var("SIGSTORE_CORPUS_CASE").ok();
    manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            only.as_deref()
                .is_none_or(|part| c["name"].as_str().unwrap().contains(part))
        })
        .map(|c| {
            let text = std::fs::read_to_string(corpus().join(c["bundle"].as_str().unwrap())).unwrap();
            let expected = match c["expected"].as_str().unwrap() {
                "pass" => Verdict::Pass,
                "fail" => Verdict::Fail(c["check"].as_str().unwrap().to_owned()),
                "reject" => Verdict::Reject,
                other => panic!("case {}: unknown verdict `{other}`", c["name"]),
            };
            Case {
                name: c["name"].as_str().unwrap().to_owned(),
                config: c["config"].as_str().unwrap().to_owned(),
                digest: c["digest"].as_str().unwrap().to_owned(),
                bundle: serde_json::from_str(&text).unwrap(),
                expected,
                evidence_type: c["evidence_type"].as_str().unwrap().to_owned(),
                signer: c["signer"].clone(),
                predicate_type: c["predicate_type"].as_str().map(str::to_owned),
                builder_id: c["builder_id"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// The `[trust]` section a case's config names, with its files made absolute.
fn trust_section(config: &Value) -> Value {
    let dir = corpus();
    let absolute = |rel: &Value| json!(dir.join(rel.as_str().unwrap()));
    let keys: Vec<Value> = config["cosign_public_key_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(absolute)
        .collect();
    json!({
        "trusted_root_file": absolute(&config["trusted_root_file"]),
        "cosign_public_key_files": keys,
        "keyless_identities": config["keyless_identities"],
        "require_tlog": config["require_tlog"],
        // The test verifies each artifact itself.
        "verify_on_register": false,
    })
}

/// A gateway with the config's trust section, or why it would not start.
async fn gateway(config: &Value) -> Result<TestApp, String> {
    let db = Db::sqlite();
    let mut app_config = common::test_config(&db);
    app_config.trust = serde_json::from_value(trust_section(config)).map_err(|e| e.to_string())?;
    // Start-up refusing the trusted root is a verdict too: report it rather than abort the run.
    tokio::spawn(TestApp::spawn_with(db, app_config))
        .await
        .map_err(|e| match e.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned()),
            Err(e) => e.to_string(),
        })
}

fn operator() -> String {
    token("corpus", json!({ "team-a": ["operator"] }))
}

/// Registers the case's blob with its bundle, verifies it, and reads the verdict off the evidence.
async fn observe(app: &TestApp, case: &Case) -> Verdict {
    let body = json!({
        "app": "llm", "artifact_kind": "blob", "artifact_type": "blob.model_weights", "digest": case.digest,
        "source": { "source_type": "artifact_store", "uri": format!("store://corpus/{}.bin", case.name) },
        "sigstore_bundle": case.bundle,
    });
    let (status, artifact) = app.post("/v1/projects/team-a/artifacts", &operator(), body).await;
    match status {
        201 => {}
        422 if artifact["field"] == "sigstore_bundle" => return Verdict::Reject,
        _ => return Verdict::Broken(format!("registration answered {status}: {artifact}")),
    }
    let id = artifact["id"].as_str().unwrap();
    let (status, verified) = app
        .post(&format!("/v1/artifacts/{id}/verify"), &operator(), json!({}))
        .await;
    if status != 200 {
        return Verdict::Broken(format!("verify answered {status}: {verified}"));
    }
    let evidence = verified["evidence"].as_array().cloned().unwrap_or_default();
    let Some(item) = evidence.iter().find(|e| e["type"] == case.evidence_type.as_str()) else {
        let seen: Vec<String> = evidence
            .iter()
            .map(|e| format!("{}={} ({})", e["type"], e["result"], e["reason"]))
            .collect();
        return Verdict::Broken(format!(
            "no `{}` evidence (got {})",
            case.evidence_type,
            seen.join(", ")
        ));
    };
    let verdict = match item["result"].as_str() {
        Some("pass") => Verdict::Pass,
        Some("fail") => Verdict::Fail(item["details"]["check"].as_str().unwrap_or("<none>").to_owned()),
        other => return Verdict::Broken(format!("evidence result {other:?}")),
    };
    let trust_state = verified["trust_state"].as_str().unwrap_or_default();
    let expected_state = if verdict == Verdict::Pass {
        "verified"
    } else {
        "failed_verification"
    };
    if trust_state != expected_state {
        return Verdict::Broken(format!("{verdict}, but trust_state `{trust_state}`: {item}"));
    }
    if verdict == Verdict::Pass
        && let Some(missing) = missing_facts(case, item)
    {
        return Verdict::Broken(format!("pass without {missing}: {item}"));
    }
    verdict
}

/// What a passing evidence item must name: the signer, and a DSSE bundle's predicate type and
/// SLSA builder id.
fn missing_facts(case: &Case, item: &Value) -> Option<String> {
    let details = &item["details"];
    if let Some(key_id) = case.signer.get("key_id")
        && &details["key_id"] != key_id
    {
        return Some(format!("details.key_id {key_id}"));
    }
    if let Some(identity) = case.signer.get("identity")
        && (details["identity"]["issuer"] != identity["issuer"]
            || details["identity"]["subject"] != identity["subject"])
    {
        return Some(format!("details.identity {identity}"));
    }
    if let Some(predicate) = &case.predicate_type
        && details["predicate_type"] != predicate.as_str()
    {
        return Some(format!("details.predicate_type {predicate}"));
    }
    match &case.builder_id {
        Some(builder) if details["builder_id"] != builder.as_str() => {
            Some(format!("details.builder_id {builder}"))
        }
        _ => None,
    }
}

#[tokio::test]
async fn every_corpus_case_gets_its_verdict() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("cases.json")).unwrap()).unwrap();
    let cases = cases(&manifest);
    assert!(!cases.is_empty(), "no corpus case matches SIGSTORE_CORPUS_CASE");
    let mut by_config: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for case in &cases {
        by_config.entry(case.config.as_str()).or_default().push(case);
    }

    let mut observed: Vec<(&Case, Verdict)> = Vec::new();
    for (config, group) in by_config {
        match gateway(&manifest["configs"][config]).await {
            Ok(app) => {
                for case in group {
                    observed.push((case, observe(&app, case).await));
                }
                app.shutdown().await;
            }
            Err(why) => {
                let why = format!("gateway with config `{config}` did not start: {why}");
                observed.extend(group.into_iter().map(|case| (case, Verdict::Broken(why.clone()))));
            }
        }
    }

    let mut report = String::new();
    let mut disagreements = Vec::new();
    for (case, verdict) in &observed {
        let agrees = *verdict == case.expected;
        report.push_str(&format!(
            "{:4} {:42} expected {:28} observed {}\n",
            if agrees { "ok" } else { "FAIL" },
            case.name,
            case.expected.to_string(),
            verdict
        ));
        if !agrees {
            disagreements.push(case.name.as_str());
        }
    }
    println!("{report}");
    assert!(
        disagreements.is_empty(),
        "{} of {} corpus cases disagree (table above): {}",
        disagreements.len(),
        observed.len(),
        disagreements.join(", ")
    );
}

#[test]
fn the_manifest_names_existing_bundles_roots_and_keys() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("cases.json")).unwrap()).unwrap();
    let exists = |rel: &str| Path::new(&corpus()).join(rel).is_file();
    for (name, config) in manifest["configs"].as_object().unwrap() {
        assert!(
            exists(config["trusted_root_file"].as_str().unwrap()),
            "config {name}"
        );
        for key in config["cosign_public_key_files"].as_array().unwrap() {
            assert!(exists(key.as_str().unwrap()), "config {name}: {key}");
        }
    }
    for case in manifest["cases"].as_array().unwrap() {
        assert!(exists(case["bundle"].as_str().unwrap()), "{case}");
        assert!(
            manifest["configs"]
                .get(case["config"].as_str().unwrap())
                .is_some(),
            "{case}"
        );
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(case["blob"].as_str().unwrap()))
        );
        assert_eq!(case["digest"], json!(digest), "{}", case["name"]);
    }
}
