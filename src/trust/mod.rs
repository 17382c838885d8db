//! Trust inputs: the configured keys and the verifiers that turn what the registry holds into
//! evidence. Verification is pure; fetching is separate so a caller can bound and retry it.

pub mod cosign;
pub mod keys;

pub use cosign::{CosignError, SignatureLayer, fetch_signatures, signature_tag, verify_signatures};
pub use keys::{NamedKey, TrustKeyError, TrustKeys};
