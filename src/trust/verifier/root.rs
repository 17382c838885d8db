//! The sigstore trusted root (`trusted_root.json`), read and checked by `sigstore-trust-root` and
//! `sigstore-verify` once at start-up; with none configured, an empty root (no logs, no
//! authorities) under which only managed keys without a required log can verify.

use std::path::Path;

use sha2::Digest as _;
use sigstore_verify::trust_root::TrustedRoot;

/// A root with nothing in it.
const EMPTY_ROOT: &str = r#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[],"certificateAuthorities":[],"ctlogs":[],"timestampAuthorities":[]}"#;

/// A loaded trusted root and the hash of its bytes (part of the verification cache's key).
pub struct LoadedRoot {
    /// The root as the crate parsed it.
    pub root: TrustedRoot,
    /// sha256 of the file as read; zero for the empty root.
    pub content_hash: [u8; 32],
}

/// Why the trusted root cannot be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TrustedRootError {
    /// The file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a trusted root the verifier accepts.
    #[error("`{path}` is not a usable sigstore trusted root: {reason}")]
    Refused {
        /// The file.
        path: String,
        /// What the verifier refused.
        reason: String,
    },
}

impl LoadedRoot {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, TrustedRootError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrustedRootError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let root = TrustedRoot::from_json(&text).map_err(|e| TrustedRootError::Refused {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            root,
            content_hash: sha2::Sha256::digest(text.as_bytes()).into(),
        })
    }

    /// The root with no logs and no authorities.
    pub fn empty() -> Result<Self, TrustedRootError> {
        let root = TrustedRoot::from_json(EMPTY_ROOT).map_err(|e| TrustedRootError::Refused {
            path: "(built-in empty root)".to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            root,
            content_hash: [0; 32],
        })
    }

    /// Whether the root lists a Fulcio certificate authority (needed for keyless signatures).
    pub fn has_certificate_authorities(&self) -> bool {
        !self.root.certificate_authorities.is_empty()
    }
}
