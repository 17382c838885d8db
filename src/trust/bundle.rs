//! Sigstore bundles (protobuf-specs `sigstore_bundle.proto`, JSON form, v0.1–v0.3) attached to an
//! artifact: the `blob_bundle` evidence. Message signatures over the blob and DSSE in-toto
//! statements about it, keyed or keyless, Rekor v1 or v2, with or without RFC 3161 timestamps —
//! all checked by the shared [`SigstoreVerifier`].

use chrono::Utc;
use serde_json::{Value, json};
use sigstore_verify::types::{Bundle, SignatureContent};

use super::dsse::statement_facts;
use super::verifier::{Artifact, Rejected, SigstoreVerifier, Verified, parse_bundle, sha256_of};
use crate::domain::{Digest, Evidence, EvidenceResult};

pub use super::verifier::BUNDLE_MEDIA_TYPES;

/// What a verified bundle showed: its signer and, for a DSSE statement, its predicate facts.
pub struct BundleOutcome {
    /// The signer and log.
    pub verified: Verified,
    /// `predicate_type` and `builder_id` of a DSSE statement; `None` for a message signature.
    pub statement: Option<Value>,
}

/// Parses and verifies `bundle` as a signature over the artifact whose digest is `digest`.
pub fn check_bundle(
    verifier: &SigstoreVerifier,
    digest: &Digest,
    bundle: &Value,
) -> Result<BundleOutcome, Rejected> {
    let parsed = parse_bundle(bundle)?;
    let sha256 = sha256_of(digest)?;
    let verified = verifier.verify(Artifact::Sha256(sha256), &parsed)?;
    Ok(BundleOutcome {
        verified,
        statement: dsse_statement(&parsed),
    })
}

/// The predicate facts of a DSSE bundle's statement (read after the signature verified).
pub fn dsse_statement(bundle: &Bundle) -> Option<Value> {
    match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => Some(statement_facts(envelope.payload.as_bytes())),
        _ => None,
    }
}

/// Checks a DSSE bundle (an in-toto statement about the artifact, as `cosign attest
/// --new-bundle-format` and `sigstore attest` write) for `digest`: one `attestation` evidence record
/// with the statement's predicate facts, checked exactly as a blob bundle is.
pub fn verify_attestation_bundle(verifier: &SigstoreVerifier, digest: &Digest, bundle: &Value) -> Evidence {
    Evidence {
        evidence_type: "attestation".to_owned(),
        ..verify_blob_bundle(verifier, digest, bundle)
    }
}

/// Checks a bundle for `digest`; one `blob_bundle` evidence record naming the check that failed,
/// or the signer (key or certificate identity) and log entries when it passes.
pub fn verify_blob_bundle(verifier: &SigstoreVerifier, digest: &Digest, bundle: &Value) -> Evidence {
    let mut details = json!({ "media_type": bundle.get("mediaType") });
    let (result, reason) = match check_bundle(verifier, digest, bundle) {
        Ok(outcome) => {
            let by = outcome.verified.describe(&mut details);
            if let (Some(Value::Object(facts)), Some(fields)) = (outcome.statement, details.as_object_mut()) {
                fields.extend(facts);
            }
            details["check"] = json!("verified");
            (
                EvidenceResult::Pass,
                format!("bundle for `{digest}` signed by {by}"),
            )
        }
        Err(rejected) => {
            rejected.describe(&mut details);
            (EvidenceResult::Fail, rejected.failure.reason)
        }
    };
    Evidence {
        evidence_type: "blob_bundle".to_owned(),
        result,
        reason,
        checked_at: Utc::now(),
        details,
    }
}
