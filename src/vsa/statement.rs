//! The in-toto statement of a verification summary, built from what one verification run
//! checked. Pure: no keys, no I/O.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::domain::Digest;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA VSA v1 predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// The SLSA version the levels refer to.
const SLSA_VERSION: &str = "1.0";

/// The highest SLSA build level the run's evidence supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildLevel {
    /// No provenance the gateway could check and trust: no build-track guarantee.
    L0,
    /// A passing, signed SLSA provenance attestation naming a builder the project trusts.
    L1,
}

impl BuildLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::L0 => "SLSA_BUILD_LEVEL_0",
            Self::L1 => "SLSA_BUILD_LEVEL_1",
        }
    }
}

/// One piece of trust material the run checked (an in-toto `ResourceDescriptor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputAttestation {
    /// Where it was found, e.g. `registry/repo:sha256-….sig` or `attachment[0]`.
    pub name: String,
    /// sha256 hex of its bytes as the gateway read them.
    pub sha256: String,
    /// Its media type, where known.
    pub media_type: Option<String>,
}

impl InputAttestation {
    /// A descriptor of `bytes` found at `name`.
    pub fn of(name: impl Into<String>, bytes: &[u8], media_type: Option<&str>) -> Self {
        use sha2::{Digest as _, Sha256};
        Self {
            name: name.into(),
            sha256: hex::encode(Sha256::digest(bytes)),
            media_type: media_type.map(str::to_owned),
        }
    }

    /// A descriptor of a JSON document (an envelope, a bundle) found at `name`, digested in its
    /// canonical form (keys sorted, no whitespace) so the digest does not depend on how a
    /// database or a client ordered its keys.
    pub fn of_json(name: impl Into<String>, document: &Value, media_type: Option<&str>) -> Self {
        let mut bytes = Vec::new();
        write_canonical(document, &mut bytes);
        Self::of(name, &bytes, media_type)
    }

    fn to_json(&self) -> Value {
        let mut d = Map::new();
        d.insert("name".into(), json!(self.name));
        d.insert("digest".into(), json!({ "sha256": self.sha256 }));
        if let Some(m) = &self.media_type {
            d.insert("mediaType".into(), json!(m));
        }
        Value::Object(d)
    }
}

/// `value` as compact JSON with every object's keys in byte order.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        // Scalars serialize the same whatever the map order: `Value`'s own rendering.
        scalar => out.extend(scalar.to_string().into_bytes()),
    }
}

/// What one verification run established, as the summary states it.
#[derive(Debug, Clone)]
pub struct Summary<'a> {
    /// `verifier.id` (config `vsa.verifier_id`).
    pub verifier_id: &'a str,
    /// The artifact's name in the statement's subject.
    pub subject_name: String,
    /// The artifact's digest.
    pub digest: &'a Digest,
    /// The artifact's location (`resourceUri`).
    pub resource_uri: String,
    /// sha256 hex of the policy set the run was decided under.
    pub policy_hash: &'a str,
    /// Every piece of trust material the run checked.
    pub inputs: Vec<InputAttestation>,
    /// Whether every check passed (the trust state became `verified`).
    pub passed: bool,
    /// The build level the evidence supports; ignored for a failed run.
    pub build_level: BuildLevel,
    /// When the run finished checking.
    pub time_verified: DateTime<Utc>,
}

/// The statement for `summary`.
// INVARIANT: `PASSED` and any level appear only when `summary.passed`; a failed run states
// `FAILED` as its only level, as the VSA spec asks.
pub fn statement(summary: &Summary<'_>) -> Value {
    let (result, levels) = if summary.passed {
        ("PASSED", vec![summary.build_level.as_str()])
    } else {
        ("FAILED", vec!["FAILED"])
    };
    let inputs: Vec<Value> = summary.inputs.iter().map(InputAttestation::to_json).collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": summary.subject_name,
            "digest": { summary.digest.algorithm(): summary.digest.hex() },
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verifier": {
                "id": summary.verifier_id,
                "version": { "gatehouse": env!("CARGO_PKG_VERSION") },
            },
            "timeVerified": summary.time_verified.to_rfc3339_opts(SecondsFormat::Millis, true),
            "resourceUri": summary.resource_uri,
            // The policy set has no fetchable address: it is named by its hash, which
            // `GET /v1/policies` and every decision record carry.
            "policy": {
                "uri": format!("urn:gatehouse:policy-set:sha256:{}", summary.policy_hash),
                "digest": { "sha256": summary.policy_hash },
            },
            "inputAttestations": inputs,
            "verificationResult": result,
            "verifiedLevels": levels,
            "slsaVersion": SLSA_VERSION,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn digest() -> Digest {
        format!("sha256:{}", "ab".repeat(32)).parse().unwrap()
    }

    fn summary(d: &Digest, passed: bool, level: BuildLevel) -> Summary<'_> {
        Summary {
            verifier_id: "https://gatehouse.example/verifier",
            subject_name: "registry.test/gpuaas/apps/team-a/web".into(),
            digest: d,
            resource_uri: format!("registry.test/gpuaas/apps/team-a/web@{d}"),
            policy_hash: "cd",
            inputs: vec![InputAttestation::of("attachment[0]", b"envelope", None)],
            passed,
            build_level: level,
            time_verified: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn a_passing_run_is_a_vsa_v1_statement_with_every_required_field() {
        let d = digest();
        let s = statement(&summary(&d, true, BuildLevel::L1));
        assert_eq!(s["_type"], STATEMENT_TYPE);
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        assert_eq!(s["subject"][0]["digest"]["sha256"], "ab".repeat(32));
        assert_eq!(s["subject"][0]["name"], "registry.test/gpuaas/apps/team-a/web");
        let p = &s["predicate"];
        assert_eq!(p["verifier"]["id"], "https://gatehouse.example/verifier");
        assert_eq!(p["timeVerified"], "2023-11-14T22:13:20.000Z");
        assert_eq!(
            p["resourceUri"],
            format!("registry.test/gpuaas/apps/team-a/web@{d}")
        );
        assert_eq!(p["policy"]["digest"]["sha256"], "cd");
        assert!(p["policy"]["uri"].as_str().unwrap().ends_with("sha256:cd"));
        assert_eq!(p["verificationResult"], "PASSED");
        assert_eq!(p["verifiedLevels"], json!(["SLSA_BUILD_LEVEL_1"]));
        let input = &p["inputAttestations"][0];
        assert_eq!(input["name"], "attachment[0]");
        assert_eq!(input["digest"]["sha256"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn a_failed_run_states_failed_and_no_level_even_with_provenance() {
        let d = digest();
        let s = statement(&summary(&d, false, BuildLevel::L1));
        assert_eq!(s["predicate"]["verificationResult"], "FAILED");
        assert_eq!(s["predicate"]["verifiedLevels"], json!(["FAILED"]));
    }

    #[test]
    fn without_trusted_provenance_a_pass_claims_level_zero_only() {
        let d = digest();
        let s = statement(&summary(&d, true, BuildLevel::L0));
        assert_eq!(s["predicate"]["verifiedLevels"], json!(["SLSA_BUILD_LEVEL_0"]));
    }

    #[test]
    fn a_json_input_is_digested_the_same_whatever_its_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":[{"y":1,"x":"é\n"}],"a":null}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a": null, "b": [ { "x": "é\n", "y": 1 } ] }"#).unwrap();
        let (da, db) = (
            InputAttestation::of_json("a", &a, None),
            InputAttestation::of_json("b", &b, None),
        );
        assert_eq!(da.sha256, db.sha256);
        // The canonical bytes, as Python's json.dumps(sort_keys=True, separators=(",", ":"),
        // ensure_ascii=False) writes them.
        let expected = InputAttestation::of("c", r#"{"a":null,"b":[{"x":"é\n","y":1}]}"#.as_bytes(), None);
        assert_eq!(da.sha256, expected.sha256);
    }

    #[test]
    fn a_sha512_subject_is_named_by_its_algorithm() {
        let d: Digest = format!("sha512:{}", "0f".repeat(64)).parse().unwrap();
        let s = statement(&summary(&d, true, BuildLevel::L0));
        assert_eq!(s["subject"][0]["digest"]["sha512"], "0f".repeat(64));
    }
}
