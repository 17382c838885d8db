//! `[artifact_store]`: where the internal artifact store is and the object tokens it accepts.

use std::path::PathBuf;

use serde::Deserialize;

/// The internal artifact store.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArtifactStoreConfig {
    /// Base URL that `store://<key>` source URIs resolve against (`<url>/<key>`).
    pub url: Option<String>,
    /// The `aud` of object tokens (the store checks it is its own name).
    pub audience: String,
    /// Longest lifetime of an object token (a blob pull intent lives no longer).
    pub token_ttl_seconds: i64,
    /// PEM EC P-256 key that signs object tokens; default: `registry.token_key_file`.
    pub token_key_file: Option<PathBuf>,
}

impl Default for ArtifactStoreConfig {
    fn default() -> Self {
        Self {
            url: None,
            audience: "gatehouse-artifact-store".to_owned(),
            token_ttl_seconds: 300,
            token_key_file: None,
        }
    }
}

impl ArtifactStoreConfig {
    /// The first unusable value, as `(dotted key, reason)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.token_ttl_seconds <= 0 {
            return Err((
                "artifact_store.token_ttl_seconds".to_owned(),
                "must be positive".to_owned(),
            ));
        }
        Ok(())
    }
}
