//! `[registry]`: where the registry is, how repositories are named, and the lifetimes of the
//! intents and tokens the gateway grants for it.

use std::path::PathBuf;

use serde::Deserialize;

use crate::domain::RepositoryPath;

/// Where the registry is and how repositories are named.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// How the gateway reaches the registry API.
    pub url: Option<String>,
    /// The host clients use in references.
    pub public_host: Option<String>,
    /// Repositories are `<root>/<project>/<app>`.
    pub root: RepositoryPath,
    /// Platform-visibility repositories are `<platform_root>/<name>`.
    pub platform_root: RepositoryPath,
    /// Tenant-visibility repositories are `<tenant_root>/<tenant>/<name>`.
    pub tenant_root: RepositoryPath,
    /// The token `aud` the registry expects.
    pub service: String,
    /// `iss` of registry tokens.
    pub token_issuer: String,
    /// PEM private key that signs registry tokens.
    pub token_key_file: Option<PathBuf>,
    /// Its certificate (the registry's rootcertbundle).
    pub token_cert_file: Option<PathBuf>,
    /// Whether registering an OCI digest checks the registry has it (default: on when `url` is set).
    pub verify_manifest_on_register: Option<bool>,
    /// Shared secret of the webhook endpoint, expected as `Authorization: Bearer <secret>`.
    pub webhook_secret_file: Option<PathBuf>,
    /// Intent lifetime when the request names none.
    pub intent_ttl_default_seconds: i64,
    /// Longest intent lifetime granted; longer requests are capped.
    pub intent_ttl_max_seconds: i64,
    /// Lifetime of registry tokens (never beyond the intent's expiry).
    pub token_ttl_seconds: i64,
    /// Whether this instance applies queued registry notifications (an instance can ingest only).
    pub apply_notifications: bool,
}

impl RegistryConfig {
    /// Whether registration of an OCI digest must find it in the registry.
    pub fn verifies_manifests(&self) -> bool {
        self.verify_manifest_on_register.unwrap_or(self.url.is_some())
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            url: None,
            public_host: None,
            root: RepositoryPath::default_root(),
            platform_root: RepositoryPath::default_platform_root(),
            tenant_root: RepositoryPath::default_tenant_root(),
            service: "gatehouse-registry".to_owned(),
            token_issuer: "gatehouse".to_owned(),
            token_key_file: None,
            token_cert_file: None,
            verify_manifest_on_register: None,
            webhook_secret_file: None,
            intent_ttl_default_seconds: 900,
            intent_ttl_max_seconds: 3600,
            token_ttl_seconds: 300,
            apply_notifications: true,
        }
    }
}

impl RegistryConfig {
    /// The first unusable value, as `(dotted key, reason)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if let Some(key) = overlapping_root(self) {
            return Err((
                format!("registry.{key}"),
                "the project, platform and tenant roots must not lie inside one another".to_owned(),
            ));
        }
        if self.intent_ttl_default_seconds <= 0
            || self.intent_ttl_max_seconds < self.intent_ttl_default_seconds
            || self.token_ttl_seconds <= 0
        {
            return Err((
                "registry".to_owned(),
                "intent and token lifetimes must be positive, with the default within the maximum".to_owned(),
            ));
        }
        if self.verifies_manifests() && self.url.is_none() {
            return Err((
                "registry.verify_manifest_on_register".to_owned(),
                "needs `registry.url` to reach the registry".to_owned(),
            ));
        }
        if self.token_key_file.is_some() != self.token_cert_file.is_some() {
            return Err((
                "registry.token_cert_file".to_owned(),
                "`token_key_file` and `token_cert_file` are set together or not at all".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The first of the platform and tenant roots that equals or nests with another root: the
/// visibility class of a path is read from the root it lies under, so they must be disjoint.
fn overlapping_root(r: &RegistryConfig) -> Option<&'static str> {
    let nests = |a: &RepositoryPath, b: &RepositoryPath| {
        let (a, b) = (a.as_str(), b.as_str());
        a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
    };
    if nests(&r.platform_root, &r.root) || nests(&r.platform_root, &r.tenant_root) {
        return Some("platform_root");
    }
    nests(&r.tenant_root, &r.root).then_some("tenant_root")
}
