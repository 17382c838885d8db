//! Signed verification summaries: a SLSA Verification Summary Attestation (in-toto Statement
//! v1, predicate `https://slsa.dev/verification_summary/v1`) for each verification that ends
//! `verified` or `failed_verification`, signed as a DSSE envelope with the gateway's key
//! (config `[vsa]`), so a downstream system can check the verdict offline.

mod config;
mod signer;
mod statement;

pub use config::VsaConfig;
pub use signer::{VsaKeyError, VsaSigner};
pub use statement::{BuildLevel, InputAttestation, PREDICATE_TYPE, STATEMENT_TYPE, Summary, statement};
