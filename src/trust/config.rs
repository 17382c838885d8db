//! `[trust]`: the keys, identities and trusted root signatures are checked against, what
//! evidence each artifact type needs, content fetch, and provenance trust.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Identities, KeylessIdentity};
use crate::domain::ProvenanceTrust;

/// Signature trust material.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustConfig {
    /// Cosign public keys (PEM, P-256) that signatures and attestations must verify with.
    pub cosign_public_key_files: Vec<PathBuf>,
    /// Sigstore trusted root (`trusted_root.json`): the transparency logs, Fulcio CAs, CT logs
    /// and timestamp authorities the sigstore verifier checks every signature against.
    pub trusted_root_file: Option<PathBuf>,
    /// Identities (OIDC issuer and subject or subject regex) a keyless signature may have.
    pub keyless_identities: Vec<KeylessIdentity>,
    /// Whether a keyed signature (cosign `.sig`/`.att` layer or sigstore bundle) needs a valid
    /// transparency-log entry for exactly that signature; keyless ones always do.
    pub require_tlog: bool,
    /// Whether registration queues a verification job (run by the worker, off the request path).
    pub verify_on_register: bool,
    /// Evidence types that must pass, per artifact type (`oci.image`) or kind (`oci`); the most
    /// specific entry wins. Default: `signature` for `oci` when any cosign key or keyless identity
    /// is configured.
    pub required: std::collections::BTreeMap<String, Vec<String>>,
    /// Hashing blob content fetched from reachable sources: `[trust.content_fetch]`.
    pub content_fetch: ContentFetchConfig,
    /// Trusted builders and per-project source repositories: `[trust.provenance]`, read by
    /// policies as each `Project`'s `trusted_builders` and `source_repositories`.
    pub provenance: ProvenanceTrust,
}

/// Content fetch for `artifact_store` and allowlisted `https` sources (off by default: it
/// downloads whole blobs).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContentFetchConfig {
    /// Whether verification downloads reachable blobs and compares their hash.
    pub enabled: bool,
    /// Hosts (`host` or `host:port`) `https` sources may be fetched from; no other host is ever
    /// contacted for a registrant's URI.
    pub https_hosts: Vec<String>,
    /// Largest blob downloaded; a larger one fails the check.
    pub max_bytes: u64,
    /// Deadline for one download.
    pub timeout_seconds: u64,
}

impl Default for ContentFetchConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            https_hosts: Vec::new(),
            max_bytes: 1024 * 1024 * 1024,
            timeout_seconds: 300,
        }
    }
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            cosign_public_key_files: Vec::new(),
            trusted_root_file: None,
            keyless_identities: Vec::new(),
            require_tlog: true,
            verify_on_register: true,
            required: std::collections::BTreeMap::new(),
            content_fetch: ContentFetchConfig::default(),
            provenance: ProvenanceTrust::default(),
        }
    }
}

/// Evidence types a verification may require.
pub const REQUIRABLE_EVIDENCE: &[&str] = &["signature", "attestation", "blob_bundle", "blob_digest"];

impl TrustConfig {
    /// The evidence types that must pass for an artifact of `artifact_type` (e.g. `oci.image`).
    pub fn required_for(&self, artifact_type: &str) -> Vec<String> {
        let kind = artifact_type.split('.').next().unwrap_or_default();
        self.required_for_kind(artifact_type, kind)
    }

    /// Like `required_for`, with the artifact's kind given rather than read from the type's
    /// prefix (a contributed artifact type's kind comes from its catalog entry).
    pub fn required_for_kind(&self, artifact_type: &str, kind: &str) -> Vec<String> {
        if let Some(list) = self
            .required
            .get(artifact_type)
            .or_else(|| self.required.get(kind))
        {
            return list.clone();
        }
        // With keys or keyless identities configured, an OCI artifact is believed only once signed.
        if kind == "oci" && !(self.cosign_public_key_files.is_empty() && self.keyless_identities.is_empty()) {
            return vec!["signature".to_owned()];
        }
        Vec::new()
    }
}

impl TrustConfig {
    /// The first unusable value, as `(dotted key, reason)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        for (key, list) in &self.required {
            if let Some(bad) = list.iter().find(|t| !REQUIRABLE_EVIDENCE.contains(&t.as_str())) {
                return Err((
                    format!("trust.required.{key}"),
                    format!(
                        "unknown evidence type `{bad}` (expected one of: {})",
                        REQUIRABLE_EVIDENCE.join(", ")
                    ),
                ));
            }
        }
        self.provenance
            .check()
            .map_err(|e| (format!("trust.provenance.{}", e.key), e.reason))?;
        Identities::compile(&self.keyless_identities).map_err(|e| (e.key, e.reason))?;
        if !self.keyless_identities.is_empty() && self.trusted_root_file.is_none() {
            return Err((
                "trust.keyless_identities".to_owned(),
                "needs `trust.trusted_root_file` (its Fulcio certificate authorities)".to_owned(),
            ));
        }
        Ok(())
    }
}
