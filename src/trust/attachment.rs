//! Trust material that travels with an artifact rather than sitting in the registry: a sigstore
//! bundle (blob signature, DSSE attestation or OpenSSF model-signing) or a bare DSSE envelope.
//! One dispatch for the gateway's verification and `gatehouse verify`, so both record alike.

use serde_json::Value;

use super::SigstoreVerifier;
use super::bundle::{verify_attestation_bundle, verify_blob_bundle};
use super::dsse::verify_attestation;
use super::envelope_check;
use super::model_signing::{is_dsse_bundle, is_model_signing_bundle, verify_model_signing_bundle};
use crate::domain::{Digest, Evidence};

/// Whether an attachment is a sigstore bundle (the rest are DSSE envelopes).
pub fn is_sigstore_bundle(value: &Value) -> bool {
    value
        .get("mediaType")
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"))
}

/// The evidence one attachment gives about `digest`.
pub fn verify_attachment(verifier: &SigstoreVerifier, digest: &Digest, attachment: &Value) -> Evidence {
    if is_sigstore_bundle(attachment) && is_model_signing_bundle(attachment) {
        verify_model_signing_bundle(verifier, digest, attachment)
    } else if is_sigstore_bundle(attachment) && is_dsse_bundle(attachment) {
        verify_attestation_bundle(verifier, digest, attachment)
    } else if is_sigstore_bundle(attachment) {
        verify_blob_bundle(verifier, digest, attachment)
    } else {
        // A bare envelope has no log entry to check: configured keys only.
        let evidence = verify_attestation(verifier.keys(), digest, attachment);
        envelope_check::with_check(evidence, verifier.keys(), digest, attachment)
    }
}
