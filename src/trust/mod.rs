//! Trust inputs: the configured keys and the verifiers that turn signatures and attestations
//! into evidence. Checks are pure; `Verifier` (`evidence`) sequences them over the material a
//! caller's `Material` reads, bounding each read so an outage is a retry, not a verdict.

pub mod attachment;
pub mod bundle;
pub mod cache;
mod config;
pub mod content;
pub mod cosign;
pub mod cosign_attestations;
pub mod cosign_layer;
pub mod dsse;
pub mod envelope_check;
pub mod evidence;
pub mod evidence_facts;
pub mod identity;
pub mod keys;
pub mod model_signing;
pub mod oci_layout;
pub mod provenance;
pub mod referrers;
pub mod required;
pub mod verifier;

#[cfg(test)]
mod test_support;

pub use config::{ContentFetchConfig, REQUIRABLE_EVIDENCE, TrustConfig};
pub use cosign::{CosignError, SignatureLayer, fetch_signatures, signature_tag, verify_signatures};
pub use evidence::{Material, Unavailable, Verification, Verifier};
pub use identity::{Identities, Identity, KeylessIdentity};
pub use keys::{NamedKey, TrustKeyError, TrustKeys};
pub use verifier::{LoadedRoot, SigstoreVerifier, TrustedRootError};

/// A check that failed: its name (recorded as the evidence's `details.check`) and the reason
/// shown to people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// e.g. `chain`, `identity`, `validity`, `tlog_set`, `payload_digest`.
    pub check: &'static str,
    /// What failed, in words.
    pub reason: String,
}

impl Failure {
    /// A failure of `check`.
    pub fn new(check: &'static str, reason: impl Into<String>) -> Self {
        Self {
            check,
            reason: reason.into(),
        }
    }
}

/// Attestations are checked with the same configured keys as signatures; DSSE signatures from
/// securesystemslib and cosign are DER, and raw `r || s` is accepted too.
impl dsse::SignatureKeys for TrustKeys {
    fn verify(&self, message: &[u8], sig: &[u8]) -> Option<String> {
        self.verify_der(message, sig)
            .or_else(|| self.verify_raw(message, sig))
            .map(|k| k.key_id.clone())
    }
}
