//! The agreed check names for what `sigstore-verify` refuses: the evidence's `details.check`.

use sigstore_verify::error::{CertificateError, Error, TimestampError, TransparencyLogError};

/// The check a verifier error failed.
pub fn check_of(error: &Error) -> &'static str {
    match error {
        Error::IdentityMismatch { .. } | Error::IssuerMismatch { .. } => "identity",
        Error::SignatureInvalid(_) | Error::Crypto(_) => "signature",
        Error::ArtifactMismatch(_) | Error::UnsupportedArtifact(_) | Error::ArtifactRead(_) => "digest",
        Error::Certificate(certificate) => certificate_check(certificate),
        Error::TransparencyLog(log) => log_check(log),
        Error::Timestamp(timestamp) => timestamp_check(timestamp),
        Error::Bundle(shape) => shape_check(shape),
        Error::InvalidBundle(_) | Error::UnsupportedBundle(_) | Error::Types(_) => "bundle_format",
        Error::InvalidTrustRoot(_) | Error::TrustRoot(_) | Error::TrustedCertificate(_) => "trusted_root",
        // A kind of refusal this version does not know: still a failure, named generally.
        _ => "verification",
    }
}

fn certificate_check(error: &CertificateError) -> &'static str {
    match error {
        CertificateError::ChainInvalid(_) | CertificateError::NoValidAuthority { .. } => "chain",
        CertificateError::NotYetValid { .. } | CertificateError::Expired { .. } => "validity",
        CertificateError::Sct(_) => "sct",
        _ => "certificate",
    }
}

fn log_check(error: &TransparencyLogError) -> &'static str {
    match error {
        TransparencyLogError::UnknownLog { .. } => "tlog_log_id",
        TransparencyLogError::InclusionProof(_) => "tlog_inclusion_proof",
        TransparencyLogError::Checkpoint(_) => "checkpoint",
        TransparencyLogError::InclusionPromise(_) => "tlog_set",
        TransparencyLogError::IntegratedTime(_) => "tlog_integrated_time",
        _ => "tlog_entry",
    }
}

fn timestamp_check(_error: &TimestampError) -> &'static str {
    "timestamp"
}

/// Structural refusals that concern the log are named by the log check they stand for, so a
/// missing proof reads as the proof, not as a malformed bundle.
fn shape_check(error: &sigstore_verify::bundle::error::Error) -> &'static str {
    use sigstore_verify::bundle::error::Error as Shape;
    match error {
        Shape::MissingInclusionPromise(_) => "tlog_set",
        Shape::MissingInclusionProof(_) | Shape::LogIndexOutOfRange { .. } => "tlog_inclusion_proof",
        Shape::MissingCheckpoint | Shape::CheckpointRootMismatch => "checkpoint",
        Shape::MissingSigningTimeEvidence => "tlog_present",
        _ => "bundle_format",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_its_agreed_name() {
        let time = jiff::Timestamp::UNIX_EPOCH;
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::IssuerMismatch {
                    expected: "a".into(),
                    actual: None,
                },
                "identity",
            ),
            (Error::SignatureInvalid("x".into()), "signature"),
            (Error::ArtifactMismatch("x".into()), "digest"),
            (Error::UnsupportedArtifact("x".into()), "digest"),
            (CertificateError::Malformed("x".into()).into(), "certificate"),
            (CertificateError::ChainInvalid("x".into()).into(), "chain"),
            (CertificateError::NoValidAuthority { time }.into(), "chain"),
            (
                CertificateError::NotYetValid {
                    time,
                    not_before: time,
                }
                .into(),
                "validity",
            ),
            (
                CertificateError::Expired {
                    time,
                    not_after: time,
                }
                .into(),
                "validity",
            ),
            (CertificateError::Sct("x".into()).into(), "sct"),
            (
                TransparencyLogError::UnknownLog { log_id: "x".into() }.into(),
                "tlog_log_id",
            ),
            (
                TransparencyLogError::InclusionProof("x".into()).into(),
                "tlog_inclusion_proof",
            ),
            (TransparencyLogError::Checkpoint("x".into()).into(), "checkpoint"),
            (
                TransparencyLogError::InclusionPromise("x".into()).into(),
                "tlog_set",
            ),
            (
                TransparencyLogError::EntryMismatch("x".into()).into(),
                "tlog_entry",
            ),
            (
                TransparencyLogError::MalformedEntry("x".into()).into(),
                "tlog_entry",
            ),
            (
                TransparencyLogError::IntegratedTime("x".into()).into(),
                "tlog_integrated_time",
            ),
            (TimestampError::Invalid("x".into()).into(), "timestamp"),
            (
                TimestampError::NoVerifiedTimestamp("x".into()).into(),
                "timestamp",
            ),
            (Error::InvalidBundle("x".into()), "bundle_format"),
            (Error::UnsupportedBundle("x".into()), "bundle_format"),
            (Error::InvalidTrustRoot("x".into()), "trusted_root"),
        ];
        for (error, check) in cases {
            assert_eq!(check_of(&error), check, "{error}");
        }
    }
}
