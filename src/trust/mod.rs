//! Trust inputs: the configured keys and the verifiers that turn signatures and attestations
//! into evidence. Verification is pure; fetching is separate so a caller can bound and retry it.

pub mod bundle;
pub mod cache;
pub mod content;
pub mod cosign;
pub mod cosign_attestations;
pub mod dsse;
pub mod keys;
pub mod model_signing;

pub use cosign::{CosignError, SignatureLayer, fetch_signatures, signature_tag, verify_signatures};
pub use keys::{NamedKey, TrustKeyError, TrustKeys};

/// Attestations are checked with the same configured keys as signatures; DSSE signatures from
/// securesystemslib and cosign are DER, and raw `r || s` is accepted too.
impl dsse::SignatureKeys for TrustKeys {
    fn verify(&self, message: &[u8], sig: &[u8]) -> Option<String> {
        self.verify_der(message, sig)
            .or_else(|| self.verify_raw(message, sig))
            .map(|k| k.key_id.clone())
    }
}
