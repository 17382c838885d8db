//! The evidence contract for bare DSSE envelopes (attached through the API, checked by
//! `dsse::verify_attestation` with the configured keys): `details.check` is `verified` on a
//! pass, or the name of the check that failed.

use serde_json::json;

use super::dsse::{AttestationError, SignatureKeys, check_attestation};
use crate::domain::{Digest, Evidence, EvidenceResult};

/// `evidence` (from `verify_attestation` over `envelope`) with `details.check` filled in.
pub fn with_check(
    mut evidence: Evidence,
    keys: &dyn SignatureKeys,
    digest: &Digest,
    envelope: &serde_json::Value,
) -> Evidence {
    if !evidence.details.is_object() {
        evidence.details = json!({});
    }
    if evidence.details.get("check").is_none() {
        let check = match (&evidence.result, check_attestation(keys, digest, envelope)) {
            (EvidenceResult::Pass, _) | (_, Ok(_)) => "verified",
            (_, Err(error)) => check_of(&error),
        };
        evidence.details["check"] = json!(check);
    }
    evidence
}

/// The agreed name of the check an envelope failed.
fn check_of(error: &AttestationError) -> &'static str {
    match error {
        AttestationError::Malformed(_) | AttestationError::PayloadTooLarge => "bundle_format",
        AttestationError::UnsupportedPayloadType(_) | AttestationError::NotAStatement(_) => "statement",
        AttestationError::SignatureInvalid => "signature",
        AttestationError::SubjectMismatch(_) => "digest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_named_by_the_agreed_checks() {
        assert_eq!(check_of(&AttestationError::SignatureInvalid), "signature");
        assert_eq!(check_of(&AttestationError::SubjectMismatch("d".into())), "digest");
        assert_eq!(check_of(&AttestationError::PayloadTooLarge), "bundle_format");
    }
}
