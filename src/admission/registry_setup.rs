//! What the admission service needs to front a registry: the token signer, the registry client,
//! the webhook secret and the intent settings — all built once at start-up.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::AdmissionError;
use crate::artifact_store::{ObjectTokens, StoreLocation};
use crate::registry::{RegistryClient, TokenSigner};

/// Lifetimes and names from `[registry]`.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Intent lifetime when none is asked for.
    pub intent_ttl_default_seconds: i64,
    /// Longest intent lifetime.
    pub intent_ttl_max_seconds: i64,
    /// Registry token lifetime.
    pub token_ttl_seconds: i64,
    /// The `service` (token audience) the registry expects.
    pub service: String,
    /// Whether registering an OCI digest must find it in the registry.
    pub verify_manifests: bool,
    /// Largest platform release file the convenience download streams.
    pub download_max_bytes: u64,
}

/// The registry parts; each is optional so the gateway runs without a registry (those
/// endpoints then answer 503 with a clear reason).
pub struct RegistrySetup {
    /// Signs registry tokens.
    pub signer: Option<TokenSigner>,
    /// Reaches the registry API.
    pub client: Option<RegistryClient>,
    /// The webhook's shared secret.
    pub webhook_secret: Option<SecretString>,
    /// Lifetimes and names.
    pub settings: RegistrySettings,
    /// Where the internal artifact store's objects are (`artifact_store.url`).
    pub artifact_store: Option<StoreLocation>,
    /// Signs the object tokens that store accepts.
    pub object_tokens: Option<ObjectTokens>,
}

impl RegistrySetup {
    /// The signer, or a 503 naming the missing configuration.
    pub fn signer(&self) -> Result<&TokenSigner, AdmissionError> {
        self.signer.as_ref().ok_or_else(|| {
            AdmissionError::NotConfigured(
                "registry tokens are not configured (`registry.token_key_file`, `registry.token_cert_file`)"
                    .to_owned(),
            )
        })
    }

    /// The artifact store and its token signer, or a 503 naming the missing configuration.
    pub fn artifact_store(&self) -> Result<(&StoreLocation, &ObjectTokens), AdmissionError> {
        match (&self.artifact_store, &self.object_tokens) {
            (Some(location), Some(tokens)) => Ok((location, tokens)),
            _ => Err(AdmissionError::NotConfigured(
                "the artifact store is not configured (`artifact_store.url` and a token key: \
                 `artifact_store.token_key_file` or `registry.token_key_file`)"
                    .to_owned(),
            )),
        }
    }

    /// The registry client, or a 503 naming the missing configuration.
    pub fn client(&self) -> Result<&RegistryClient, AdmissionError> {
        self.client.as_ref().ok_or_else(|| {
            AdmissionError::NotConfigured("the registry is not configured (`registry.url`)".to_owned())
        })
    }

    /// Constant-time comparison with the configured secret; none configured matches nothing.
    pub fn webhook_secret_matches(&self, presented: &str) -> bool {
        // Hash both sides first so the comparison takes the same time whatever the lengths.
        let digest = |text: &str| Sha256::digest(text.as_bytes());
        self.webhook_secret
            .as_ref()
            .is_some_and(|secret| digest(secret.expose_secret()).ct_eq(&digest(presented)).into())
    }
}

/// `[platform]`: the platform release catalog (its convenience download is sequenced here).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlatformConfig {
    /// Largest artifact the convenience download streams; bigger ones are pulled from the registry.
    pub download_max_bytes: u64,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            download_max_bytes: 64 * 1024 * 1024,
        }
    }
}
