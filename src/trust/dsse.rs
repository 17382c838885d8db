//! DSSE envelopes carrying in-toto statements: the `attestation` evidence for an artifact.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::alphabet::{Alphabet, STANDARD, URL_SAFE};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Value, json};

use crate::domain::{Digest, Evidence, EvidenceResult};

/// The only DSSE payload type accepted: an in-toto statement as JSON.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Largest decoded payload accepted, so a hostile envelope cannot make us parse megabytes.
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Most signatures tried per envelope; each costs a verification per configured key.
pub const MAX_SIGNATURES: usize = 16;
const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v1",
    "https://in-toto.io/Statement/v0.1",
];

/// Configured public keys that can check a signature over a message.
pub trait SignatureKeys {
    /// The id of the first key under which `sig` verifies over `message`, if any.
    fn verify(&self, message: &[u8], sig: &[u8]) -> Option<String>;
}

/// What a verified attestation says, recorded in its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationFacts {
    /// The statement's `predicateType`.
    pub predicate_type: String,
    /// The builder id, for SLSA provenance v0.2 and v1.
    pub builder_id: Option<String>,
    /// The id of the key whose signature verified.
    pub key_id: String,
}

/// Why an envelope does not attest the artifact; each names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The JSON is not a DSSE envelope.
    #[error("malformed dsse envelope: {0}")]
    Malformed(&'static str),
    /// The payload is over [`MAX_PAYLOAD_BYTES`].
    #[error("dsse payload is larger than {MAX_PAYLOAD_BYTES} bytes")]
    PayloadTooLarge,
    /// The payload is not an in-toto statement by its declared type.
    #[error("unsupported payload type `{0}`, expected `{IN_TOTO_PAYLOAD_TYPE}`")]
    UnsupportedPayloadType(String),
    /// No signature verifies over the PAE with a configured key.
    #[error("signature does not verify with any configured key")]
    SignatureInvalid,
    /// The signed payload is not an in-toto statement.
    #[error("payload is not an in-toto statement: {0}")]
    NotAStatement(&'static str),
    /// The statement is about other artifacts.
    #[error("statement subject digests do not include `{0}`")]
    SubjectMismatch(String),
}

/// DSSE pre-authentication encoding: what a DSSE signature is computed over.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let header = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), body.len());
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks one envelope against the keys and the artifact digest; one `attestation` evidence record.
pub fn verify_attestation(keys: &dyn SignatureKeys, digest: &Digest, envelope: &Value) -> Evidence {
    let (result, reason, details) = match check_attestation(keys, digest, envelope) {
        Ok(facts) => {
            let mut details = json!({
                "predicate_type": facts.predicate_type,
                "key_id": facts.key_id,
            });
            if let (Some(id), Some(map)) = (&facts.builder_id, details.as_object_mut()) {
                map.insert("builder_id".to_owned(), json!(id));
            }
            let reason = format!(
                "attestation `{}` for `{}` signed by `{}`",
                facts.predicate_type,
                digest.as_str(),
                facts.key_id
            );
            (EvidenceResult::Pass, reason, details)
        }
        Err(err) => (EvidenceResult::Fail, err.to_string(), Value::Null),
    };
    Evidence {
        evidence_type: "attestation".to_owned(),
        result,
        reason,
        checked_at: chrono::Utc::now(),
        details,
    }
}

/// The checks behind [`verify_attestation`], in order: shape, type, signature, statement, subject.
pub fn check_attestation(
    keys: &dyn SignatureKeys,
    digest: &Digest,
    envelope: &Value,
) -> Result<AttestationFacts, AttestationError> {
    use AttestationError::{Malformed, NotAStatement};
    let field = |name| envelope.get(name).and_then(Value::as_str);
    let payload_b64 = field("payload").ok_or(Malformed("`payload` must be a string"))?;
    let payload_type = field("payloadType").ok_or(Malformed("`payloadType` must be a string"))?;
    let signatures = envelope
        .get("signatures")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
        .ok_or(Malformed("`signatures` must be a non-empty array"))?;
    if signatures.len() > MAX_SIGNATURES {
        return Err(Malformed("too many signatures"));
    }
    // Refuse on the encoded length first so an oversized payload is never decoded.
    if payload_b64.len() > MAX_PAYLOAD_BYTES.div_ceil(3) * 4 {
        return Err(AttestationError::PayloadTooLarge);
    }
    let payload = decode_base64(payload_b64).ok_or(Malformed("`payload` is not base64"))?;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(AttestationError::PayloadTooLarge);
    }
    let sigs = signatures
        .iter()
        .map(|s| s.get("sig").and_then(Value::as_str).and_then(decode_base64))
        .collect::<Option<Vec<_>>>()
        .ok_or(Malformed("every signature needs a base64 `sig`"))?;
    if payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(AttestationError::UnsupportedPayloadType(payload_type.to_owned()));
    }
    // The keyid is an unauthenticated hint (DSSE protocol), so every signature is tried.
    let message = pae(payload_type, &payload);
    let key_id = sigs
        .iter()
        .find_map(|sig| keys.verify(&message, sig))
        .ok_or(AttestationError::SignatureInvalid)?;

    let statement: Value =
        serde_json::from_slice(&payload).map_err(|_| NotAStatement("payload is not json"))?;
    let statement_type = statement.get("_type").and_then(Value::as_str);
    if !statement_type.is_some_and(|t| STATEMENT_TYPES.contains(&t)) {
        return Err(NotAStatement("`_type` is not an in-toto statement type"));
    }
    let predicate_type = statement
        .get("predicateType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(NotAStatement("`predicateType` must be a non-empty string"))?;
    let subjects = statement
        .get("subject")
        .and_then(Value::as_array)
        .ok_or(NotAStatement("`subject` must be an array"))?;
    let names_artifact = subjects.iter().any(|subject| {
        subject
            .pointer(&format!("/digest/{}", digest.algorithm()))
            .and_then(Value::as_str)
            .is_some_and(|hex| hex.eq_ignore_ascii_case(digest.hex()))
    });
    if !names_artifact {
        return Err(AttestationError::SubjectMismatch(digest.as_str().to_owned()));
    }
    Ok(AttestationFacts {
        predicate_type: predicate_type.to_owned(),
        builder_id: builder_id(predicate_type, statement.get("predicate")),
        key_id,
    })
}

/// Sorted, deduplicated predicate types of passing attestation evidence (the Cedar `attestations`).
pub fn passing_predicate_types(evidence: &[Evidence]) -> Vec<String> {
    let types: BTreeSet<&str> = evidence
        .iter()
        .filter(|e| e.evidence_type == "attestation" && e.result == EvidenceResult::Pass)
        .filter_map(|e| e.details.get("predicate_type").and_then(Value::as_str))
        .collect();
    types.into_iter().map(str::to_owned).collect()
}

/// What evidence records about a verified statement: `predicate_type`, and `builder_id` for SLSA
/// provenance. Used for statements verified inside sigstore bundles and cosign `.att` layers.
pub fn statement_facts(payload: &[u8]) -> Value {
    let statement: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let predicate_type = statement
        .get("predicateType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut facts = json!({ "predicate_type": predicate_type });
    if let Some(id) = builder_id(predicate_type, statement.get("predicate")) {
        facts["builder_id"] = json!(id);
    }
    facts
}

/// The SLSA builder id, where it sits for the provenance version named.
fn builder_id(predicate_type: &str, predicate: Option<&Value>) -> Option<String> {
    let pointer = match predicate_type {
        "https://slsa.dev/provenance/v1" => "/runDetails/builder/id",
        "https://slsa.dev/provenance/v0.2" => "/builder/id",
        _ => return None,
    };
    predicate?.pointer(pointer)?.as_str().map(str::to_owned)
}

/// Standard or URL-safe base64, padded or not: DSSE verifiers must accept either alphabet.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let engine = |alphabet: &Alphabet| {
        let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        GeneralPurpose::new(alphabet, config)
    };
    let alphabet = if text.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    engine(alphabet).decode(text).ok()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

    use super::*;

    const HEX: &str = "784241a41185171f16163eb9dd9c32b07a4da4bfe487f97111d5b1bd4ab68d11";
    const SLSA: &str = "https://slsa.dev/provenance/v1";
    const SPDX: &str = "https://spdx.dev/Document";

    /// One P-256 key taking DER signatures, as securesystemslib writes them.
    struct OneKey(VerifyingKey);

    impl SignatureKeys for OneKey {
        fn verify(&self, message: &[u8], sig: &[u8]) -> Option<String> {
            let sig = Signature::from_der(sig).ok()?;
            self.0.verify(message, &sig).ok().map(|()| "test-key".to_owned())
        }
    }

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn keys() -> OneKey {
        OneKey(*signing_key(7).verifying_key())
    }

    fn digest() -> Digest {
        format!("sha256:{HEX}").parse().unwrap()
    }

    fn statement(predicate_type: &str, predicate: Value) -> Value {
        json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "a", "digest": {"sha256": HEX}}],
               "predicateType": predicate_type, "predicate": predicate})
    }

    fn provenance() -> Value {
        statement(
            SLSA,
            json!({"runDetails": {"builder": {"id": "https://builder.example"}}}),
        )
    }

    fn envelope(payload_type: &str, payload: &[u8]) -> Value {
        let sig: Signature = signing_key(7).sign(&pae(payload_type, payload));
        json!({"payload": STANDARD.encode(payload), "payloadType": payload_type,
               "signatures": [{"keyid": "", "sig": STANDARD.encode(sig.to_der())}]})
    }

    fn signed(statement: &Value) -> Value {
        envelope(IN_TOTO_PAYLOAD_TYPE, statement.to_string().as_bytes())
    }

    fn check(envelope: &Value) -> Result<AttestationFacts, AttestationError> {
        check_attestation(&keys(), &digest(), envelope)
    }

    fn reason(envelope: &Value) -> String {
        check(envelope).unwrap_err().to_string()
    }

    #[test]
    fn pae_matches_the_spec_test_vector_and_its_signature() {
        let message = pae("http://example.com/HelloWorld", b"hello world");
        assert_eq!(message, b"DSSEv1 29 http://example.com/HelloWorld 11 hello world");
        // The protocol's test vector: its P-256 key's raw r||s signature over this exact PAE.
        let point = hex::decode(concat!(
            "0467cd390f77aa359cb08c2235f652270493a9ed832b0abcc01f70954c0390d238",
            "0c782bd54e269125a44f4433aff1432ce94e12bca73aa67ac80cea12608ddf74"
        ))
        .unwrap();
        let sig = "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==";
        let sig = Signature::from_slice(&STANDARD.decode(sig).unwrap()).unwrap();
        let key = VerifyingKey::from_sec1_bytes(&point).unwrap();
        assert!(key.verify(&message, &sig).is_ok());
    }

    #[test]
    fn provenance_passes_with_predicate_type_builder_and_key() {
        let evidence = verify_attestation(&keys(), &digest(), &signed(&provenance()));
        assert_eq!(evidence.result, EvidenceResult::Pass, "{}", evidence.reason);
        assert_eq!(evidence.evidence_type, "attestation");
        assert_eq!(evidence.details["predicate_type"], SLSA);
        assert_eq!(evidence.details["builder_id"], "https://builder.example");
        assert_eq!(evidence.details["key_id"], "test-key");
    }

    #[test]
    fn v01_statement_with_slsa_v02_and_url_safe_base64_passes() {
        let mut stmt = statement(
            "https://slsa.dev/provenance/v0.2",
            json!({"builder": {"id": "b02"}}),
        );
        stmt["_type"] = json!("https://in-toto.io/Statement/v0.1");
        let mut env = signed(&stmt);
        let sig = STANDARD
            .decode(env["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        env["payload"] = json!(URL_SAFE_NO_PAD.encode(stmt.to_string()));
        env["signatures"][0]["sig"] = json!(URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(check(&env).unwrap().builder_id.as_deref(), Some("b02"));
        let sbom = check(&signed(&statement(SPDX, json!({})))).unwrap();
        assert_eq!((sbom.predicate_type.as_str(), sbom.builder_id), (SPDX, None));
    }

    #[test]
    fn malformed_envelopes_name_the_field() {
        let too_many = json!(vec![json!({"sig": ""}); MAX_SIGNATURES + 1]);
        for (field, value, needle) in [
            ("payload", json!(3), "`payload` must be a string"),
            ("payload", json!("not base64!"), "`payload` is not base64"),
            ("payloadType", Value::Null, "`payloadType` must be a string"),
            ("signatures", json!([]), "`signatures` must be a non-empty array"),
            (
                "signatures",
                json!([{"keyid": "k"}]),
                "every signature needs a base64 `sig`",
            ),
            ("signatures", too_many, "too many signatures"),
        ] {
            let mut env = signed(&provenance());
            env[field] = value;
            assert_eq!(reason(&env), format!("malformed dsse envelope: {needle}"));
        }
        assert!(matches!(
            check(&json!("envelope")),
            Err(AttestationError::Malformed(_))
        ));
    }

    #[test]
    fn oversized_payload_is_refused_before_anything_else() {
        let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(
            check(&envelope(IN_TOTO_PAYLOAD_TYPE, &big)),
            Err(AttestationError::PayloadTooLarge)
        );
        let mut env = signed(&provenance());
        env["payload"] = json!("A".repeat(MAX_PAYLOAD_BYTES * 2));
        assert_eq!(check(&env), Err(AttestationError::PayloadTooLarge));
    }

    #[test]
    fn other_payload_types_are_unsupported() {
        let env = envelope("application/json", provenance().to_string().as_bytes());
        let expected = "unsupported payload type `application/json`, expected `application/vnd.in-toto+json`";
        assert_eq!(reason(&env), expected);
    }

    #[test]
    fn signature_must_cover_this_payload_with_a_configured_key() {
        let mut tampered = signed(&provenance());
        tampered["payload"] = json!(STANDARD.encode(statement(SPDX, json!({})).to_string()));
        let other_key = OneKey(*signing_key(9).verifying_key());
        let unknown = check_attestation(&other_key, &digest(), &signed(&provenance())).unwrap_err();
        for err in [reason(&tampered), unknown.to_string()] {
            assert_eq!(err, "signature does not verify with any configured key");
        }
    }

    #[test]
    fn payloads_that_are_not_statements_fail() {
        let with = |field: &str, value: Value| {
            let mut stmt = provenance();
            stmt[field] = value;
            stmt.to_string().into_bytes()
        };
        for (payload, needle) in [
            (b"not json".to_vec(), "payload is not json"),
            (with("_type", json!("https://in-toto.io/Statement/v2")), "`_type`"),
            (with("predicateType", json!("")), "`predicateType`"),
            (with("subject", json!({})), "`subject` must be an array"),
        ] {
            let err = reason(&envelope(IN_TOTO_PAYLOAD_TYPE, &payload));
            assert!(
                err.starts_with("payload is not an in-toto statement: ") && err.contains(needle),
                "{err}"
            );
        }
    }

    #[test]
    fn subject_must_name_the_artifact_digest() {
        let mut stmt = provenance();
        // Same hex under another algorithm, or another hex under sha256: neither names the artifact.
        stmt["subject"] = json!([{"digest": {"sha512": HEX}}, {"digest": {"sha256": "00"}}]);
        let evidence = verify_attestation(&keys(), &digest(), &signed(&stmt));
        assert_eq!(evidence.result, EvidenceResult::Fail);
        assert_eq!(
            evidence.reason,
            format!("statement subject digests do not include `sha256:{HEX}`")
        );
        assert!(evidence.details.is_null());
    }

    #[test]
    fn sha512_digests_match_sha512_subjects() {
        let hex512 = HEX.repeat(2);
        let mut stmt = provenance();
        stmt["subject"] = json!([{"digest": {"sha256": HEX, "sha512": hex512}}]);
        let digest: Digest = format!("sha512:{hex512}").parse().unwrap();
        assert!(check_attestation(&keys(), &digest, &signed(&stmt)).is_ok());
    }

    #[test]
    fn passing_types_are_sorted_deduplicated_and_skip_failures() {
        let ev = |kind: &str, result, predicate_type: &str| Evidence {
            evidence_type: kind.to_owned(),
            result,
            reason: String::new(),
            checked_at: chrono::Utc::now(),
            details: json!({ "predicate_type": predicate_type }),
        };
        let evidence = [
            ev("attestation", EvidenceResult::Pass, SPDX),
            ev("attestation", EvidenceResult::Pass, SLSA),
            ev("attestation", EvidenceResult::Pass, SPDX),
            ev(
                "attestation",
                EvidenceResult::Fail,
                "https://in-toto.io/attestation/vulns",
            ),
            ev(
                "signature",
                EvidenceResult::Pass,
                "https://example.com/not-an-attestation",
            ),
        ];
        assert_eq!(passing_predicate_types(&evidence), [SLSA, SPDX]);
        assert!(passing_predicate_types(&[]).is_empty());
    }
}
