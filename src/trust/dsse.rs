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
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let engine = |alphabet: &Alphabet| {
        let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        GeneralPurpose::new(alphabet, config)
    };
    let alphabet = if text.contains(['-', '_']) { &URL_SAFE } else { &STANDARD };
    engine(alphabet).decode(text).ok()
}
