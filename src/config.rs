//! Configuration: a TOML file, every key overridable by `GATEHOUSE_<SECTION>__<KEY>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::domain::{Channel, ChannelOrder, ProvenanceTrust, RepositoryPath};

/// The whole configuration; every field has a default so `gatehouse serve` runs with none.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// `sqlite://…` (embedded default) or `postgres://user@host/db`.
    pub database_url: String,
    /// Longest wait for a database connection before a request answers 503: short, so an
    /// outage fails requests fast instead of piling them up.
    pub database_acquire_timeout_ms: u64,
    /// Most connections the gateway opens to PostgreSQL (its pool, besides the audit sealer's
    /// own one); ignored by SQLite, whose single writer and small read pool are fixed.
    pub database_max_connections: u32,
    /// Directory of `*.cedar` policy files.
    pub policy_dir: PathBuf,
    /// The Cedar schema policies are validated against.
    pub schema_file: PathBuf,
    /// Seconds between checks of `policy_dir` for edits (a changed set is reloaded as on SIGHUP);
    /// 0 turns the watch off.
    pub policy_watch_seconds: u64,
    /// Seconds between checks for the policy set another instance activated in the shared
    /// database (adopted when it differs); 0 turns convergence off.
    pub policy_sync_seconds: u64,
    /// Channels on which every forbid only warns (dry run): a request to one of them that a
    /// forbid would deny is logged as "would deny" and allowed if the permits allow it.
    pub policy_dry_run_channels: Vec<Channel>,
    /// Channels in promotion order.
    pub channels: Vec<Channel>,
    /// The OCI registry the gateway fronts.
    pub registry: RegistryConfig,
    /// Token issuers and claim names.
    pub auth: AuthConfig,
    /// Trust material (used by signature verification).
    pub trust: TrustConfig,
    /// HTTP limits.
    pub http: HttpConfig,
    /// The internal artifact store that `artifact_store` sources live in.
    pub artifact_store: ArtifactStoreConfig,
    /// The platform release catalog.
    pub platform: PlatformConfig,
    /// Must be `true` for `serve` to accept an issuer with `dev_private_key_file` (a key that
    /// is typically committed to a repository); the gateway then warns at every start.
    pub dev_mode: bool,
    /// Log output.
    pub logging: LoggingConfig,
    /// TLS for the listener: `[tls]`.
    pub tls: crate::http::TlsConfig,
    /// The Kubernetes admission webhook: `[kubernetes]`.
    pub kubernetes: crate::k8s::KubernetesConfig,
    /// Signed verification summaries (SLSA VSA); off unless `key_file` is set.
    pub vsa: VsaConfig,
    /// The web console: `[console]` (sign-in with an OpenID Connect provider).
    pub console: crate::http::ConsoleConfig,
}

/// Log output: `[logging]`. `RUST_LOG` still chooses what is logged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `text` (default) or `json` (one JSON object per line, for log collectors).
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[vsa]`: the key verification summaries are signed with, and the verifier they name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VsaConfig {
    /// PEM P-256 private key; without it no summary is produced.
    pub key_file: Option<PathBuf>,
    /// The summary's `verifier.id`, an absolute URI; required with `key_file`.
    pub verifier_id: Option<String>,
}

/// The platform release catalog.
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
    pub keyless_identities: Vec<crate::trust::KeylessIdentity>,
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

/// Limits on HTTP requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Deadline for a whole request.
    pub request_timeout_seconds: u64,
    /// Most decisions the decision-log writer commits in one transaction.
    pub decision_batch_max: usize,
    /// Time a client has to send a complete request head, from its first byte (and, on a new
    /// connection, from the connect); a slower client is disconnected.
    pub header_read_timeout_seconds: u64,
    /// How long a keep-alive connection may sit between requests before it is closed.
    pub keep_alive_idle_timeout_seconds: u64,
    /// Open client connections at most; above it the listener stops accepting until one closes.
    pub max_connections: usize,
    /// Requests handled at once at most; one more answers 503 with `Retry-After` at once.
    /// `/healthz`, `/readyz` and `/metrics` are not counted and always answer.
    pub max_requests_in_flight: usize,
    /// Longest request target (path and query) accepted; longer ones answer 414.
    pub max_uri_bytes: usize,
    /// Largest request head (all header names and values) accepted; larger ones answer 431.
    pub max_header_bytes: usize,
    /// Most header fields accepted; more answer 431.
    pub max_headers: usize,
    /// Requests per second each authenticated principal may make on average; 0 turns the
    /// per-principal rate limit off (the default).
    pub rate_limit_per_second: u32,
    /// Requests a principal may make in a burst above the average (the token bucket's size);
    /// 0 means the same as `rate_limit_per_second`.
    pub rate_limit_burst: u32,
}

impl HttpConfig {
    /// The first server limit set to zero: a zero limit would refuse everything (or, for a
    /// timeout, disconnect every client), so it is a mistake rather than "off".
    fn zero_limit(&self) -> Option<&'static str> {
        [
            (
                "header_read_timeout_seconds",
                self.header_read_timeout_seconds == 0,
            ),
            (
                "keep_alive_idle_timeout_seconds",
                self.keep_alive_idle_timeout_seconds == 0,
            ),
            ("max_connections", self.max_connections == 0),
            ("max_requests_in_flight", self.max_requests_in_flight == 0),
            ("max_uri_bytes", self.max_uri_bytes == 0),
            ("max_header_bytes", self.max_header_bytes == 0),
            ("max_headers", self.max_headers == 0),
        ]
        .into_iter()
        .find_map(|(key, zero)| zero.then_some(key))
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

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://gatehouse-data/gatehouse.db".to_owned(),
            database_acquire_timeout_ms: 1000,
            database_max_connections: crate::store::DEFAULT_MAX_CONNECTIONS,
            policy_dir: PathBuf::from("policies"),
            schema_file: PathBuf::from("schemas/gatehouse.cedarschema"),
            policy_watch_seconds: 0,
            policy_sync_seconds: 5,
            policy_dry_run_channels: Vec::new(),
            channels: ChannelOrder::default().channels().to_vec(),
            registry: RegistryConfig::default(),
            auth: AuthConfig::default(),
            trust: TrustConfig::default(),
            http: HttpConfig::default(),
            artifact_store: ArtifactStoreConfig::default(),
            platform: PlatformConfig::default(),
            dev_mode: false,
            logging: LoggingConfig::default(),
            tls: crate::http::TlsConfig::default(),
            kubernetes: crate::k8s::KubernetesConfig::default(),
            vsa: VsaConfig::default(),
            console: crate::http::ConsoleConfig::default(),
        }
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

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_seconds: 30,
            decision_batch_max: 256,
            header_read_timeout_seconds: 10,
            keep_alive_idle_timeout_seconds: 60,
            max_connections: 512,
            max_requests_in_flight: 256,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
        }
    }
}

/// A configuration that cannot be used; the message names the key and the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{file}`: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file `{file}` is not valid TOML: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// Parser message.
        reason: String,
    },
    /// A key has a bad value or is unknown.
    #[error("config key `{key}` ({origin}): {reason}")]
    Key {
        /// Dotted key path.
        key: String,
        /// The file or `environment`.
        origin: String,
        /// Why.
        reason: String,
    },
    /// A `GATEHOUSE_…` environment variable that names no configuration key.
    #[error(
        "environment variable `{variable}` is not a configuration key (expected GATEHOUSE_<SECTION>__<KEY>); \
         unset it or fix its name (variables that are not configuration: {allowed})"
    )]
    UnknownVariable {
        /// The variable.
        variable: String,
        /// The documented allow-list.
        allowed: String,
    },
}

impl Config {
    /// Loads the file (if any), applies environment overrides and checks the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, &vars)
    }

    /// Like `load`, with the environment given explicitly (for tests).
    pub fn load_with_env(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let origin = file.map_or_else(|| "defaults".to_owned(), |f| format!("file `{}`", f.display()));
        let mut table = match file {
            Some(path) => read_table(path)?,
            None => toml::Table::new(),
        };
        let overrides = crate::config_env::apply(&mut table, env)?;
        let origin = if overrides.is_empty() {
            origin
        } else {
            format!("{origin} with environment overrides")
        };
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            // A bad value from the environment names its variable, not the file.
            let origin = crate::config_env::variable_for(&overrides, &key)
                .map_or_else(|| origin.clone(), |v| format!("environment variable `{v}`"));
            ConfigError::Key {
                key,
                origin,
                reason: e.inner().to_string(),
            }
        })?;
        config.check(&origin)?;
        Ok(config)
    }

    /// The configured channel order.
    pub fn channel_order(&self) -> Result<ChannelOrder, ConfigError> {
        ChannelOrder::new(self.channels.clone()).map_err(|e| ConfigError::Key {
            key: "channels".to_owned(),
            origin: "configuration".to_owned(),
            reason: e.to_string(),
        })
    }

    /// The issuers that carry a development private key, as `(index, issuer, key file)`.
    pub fn dev_issuers(&self) -> Vec<(usize, &str, &Path)> {
        self.auth
            .issuers
            .iter()
            .enumerate()
            .filter_map(|(i, issuer)| {
                let key = issuer.dev_private_key_file.as_deref()?;
                Some((i, issuer.issuer.as_str(), key))
            })
            .collect()
    }

    /// What `serve` refuses: an issuer with `dev_private_key_file` unless `dev_mode = true`,
    /// since anyone holding that (usually committed) key could mint any token. Token minting
    /// and the offline commands do not call this.
    pub fn check_serving_safety(&self) -> Result<(), ConfigError> {
        if self.dev_mode {
            return Ok(());
        }
        match self.dev_issuers().first() {
            None => Ok(()),
            Some((index, issuer, key)) => Err(ConfigError::Key {
                key: format!("auth.issuers[{index}].dev_private_key_file"),
                origin: "configuration".to_owned(),
                reason: format!(
                    "issuer `{issuer}` has the development private key `{}`: anyone with that file can \
                     mint tokens it accepts. `serve` refuses it unless `dev_mode = true` is set; remove \
                     the key (production) or set `dev_mode = true` (local development only)",
                    key.display()
                ),
            }),
        }
    }

    fn check(&self, origin: &str) -> Result<(), ConfigError> {
        self.channel_order().map_err(|e| match e {
            ConfigError::Key { key, reason, .. } => ConfigError::Key {
                key,
                origin: origin.to_owned(),
                reason,
            },
            other => other,
        })?;
        if let Some(unknown) = self
            .policy_dry_run_channels
            .iter()
            .find(|c| !self.channels.contains(c))
        {
            // A typo would silently enforce what the operator meant to shadow, or the reverse.
            return Err(ConfigError::Key {
                key: "policy_dry_run_channels".to_owned(),
                origin: origin.to_owned(),
                reason: format!("`{unknown}` is not one of the configured `channels`"),
            });
        }
        let db = &self.database_url;
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            // The URL may embed a password: name the key, never echo the value.
            return Err(ConfigError::Key {
                key: "database_url".to_owned(),
                origin: origin.to_owned(),
                reason: "must start with `sqlite:`, `postgres://` or `postgresql://`".to_owned(),
            });
        }
        for (key, list) in &self.trust.required {
            if let Some(bad) = list.iter().find(|t| !REQUIRABLE_EVIDENCE.contains(&t.as_str())) {
                return Err(ConfigError::Key {
                    key: format!("trust.required.{key}"),
                    origin: origin.to_owned(),
                    reason: format!(
                        "unknown evidence type `{bad}` (expected one of: {})",
                        REQUIRABLE_EVIDENCE.join(", ")
                    ),
                });
            }
        }
        self.trust.provenance.check().map_err(|e| ConfigError::Key {
            key: format!("trust.provenance.{}", e.key),
            origin: origin.to_owned(),
            reason: e.reason,
        })?;
        crate::trust::Identities::compile(&self.trust.keyless_identities).map_err(|e| ConfigError::Key {
            key: e.key,
            origin: origin.to_owned(),
            reason: e.reason,
        })?;
        if !self.trust.keyless_identities.is_empty() && self.trust.trusted_root_file.is_none() {
            return Err(ConfigError::Key {
                key: "trust.keyless_identities".to_owned(),
                origin: origin.to_owned(),
                reason: "needs `trust.trusted_root_file` (its Fulcio certificate authorities)".to_owned(),
            });
        }
        let r = &self.registry;
        if let Some(key) = overlapping_root(r) {
            return Err(ConfigError::Key {
                key: format!("registry.{key}"),
                origin: origin.to_owned(),
                reason: "the project, platform and tenant roots must not lie inside one another".to_owned(),
            });
        }
        if r.intent_ttl_default_seconds <= 0
            || r.intent_ttl_max_seconds < r.intent_ttl_default_seconds
            || r.token_ttl_seconds <= 0
        {
            return Err(ConfigError::Key {
                key: "registry".to_owned(),
                origin: origin.to_owned(),
                reason: "intent and token lifetimes must be positive, with the default within the maximum"
                    .to_owned(),
            });
        }
        if r.verifies_manifests() && r.url.is_none() {
            return Err(ConfigError::Key {
                key: "registry.verify_manifest_on_register".to_owned(),
                origin: origin.to_owned(),
                reason: "needs `registry.url` to reach the registry".to_owned(),
            });
        }
        if r.token_key_file.is_some() != r.token_cert_file.is_some() {
            return Err(ConfigError::Key {
                key: "registry.token_cert_file".to_owned(),
                origin: origin.to_owned(),
                reason: "`token_key_file` and `token_cert_file` are set together or not at all".to_owned(),
            });
        }
        if self.artifact_store.token_ttl_seconds <= 0 {
            return Err(ConfigError::Key {
                key: "artifact_store.token_ttl_seconds".to_owned(),
                origin: origin.to_owned(),
                reason: "must be positive".to_owned(),
            });
        }
        if self.http.body_limit_bytes == 0 || self.http.request_timeout_seconds == 0 {
            return Err(ConfigError::Key {
                key: "http".to_owned(),
                origin: origin.to_owned(),
                reason: "body_limit_bytes and request_timeout_seconds must be positive".to_owned(),
            });
        }
        if let Some(key) = self.http.zero_limit() {
            return Err(ConfigError::Key {
                key: format!("http.{key}"),
                origin: origin.to_owned(),
                reason: "must be positive".to_owned(),
            });
        }
        self.tls.check().map_err(|e| ConfigError::Key {
            key: format!("tls.{}", e.key),
            origin: origin.to_owned(),
            reason: e.reason,
        })?;
        self.kubernetes
            .check(&self.channels)
            .map_err(|(key, reason)| ConfigError::Key {
                key: format!("kubernetes.{key}"),
                origin: origin.to_owned(),
                reason,
            })?;
        if let Some(key) = vsa_problem(&self.vsa) {
            return Err(ConfigError::Key {
                key: key.0.to_owned(),
                origin: origin.to_owned(),
                reason: key.1.to_owned(),
            });
        }
        if self.database_acquire_timeout_ms == 0 {
            return Err(ConfigError::Key {
                key: "database_acquire_timeout_ms".to_owned(),
                origin: origin.to_owned(),
                reason: "must be positive".to_owned(),
            });
        }
        if self.database_max_connections == 0 {
            return Err(ConfigError::Key {
                key: "database_max_connections".to_owned(),
                origin: origin.to_owned(),
                reason: "must be positive".to_owned(),
            });
        }
        Ok(())
    }
}

/// A `[vsa]` section that would sign with no verifier named, or name one with nothing to sign.
fn vsa_problem(v: &VsaConfig) -> Option<(&'static str, &'static str)> {
    match (&v.key_file, &v.verifier_id) {
        (Some(_), None) => Some(("vsa.verifier_id", "is required with `vsa.key_file`")),
        (None, Some(_)) => Some((
            "vsa.key_file",
            "is required with `vsa.verifier_id` (summaries are signed with it)",
        )),
        _ => None,
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError::Syntax {
        file,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_run_on_embedded_sqlite() {
        let cfg = Config::load_with_env(None, &[]).unwrap();
        assert_eq!(cfg.database_url, "sqlite://gatehouse-data/gatehouse.db");
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.channel_order().unwrap().channels().len(), 4);
    }

    #[test]
    fn environment_overrides_keys_and_keeps_types() {
        let vars = env(&[
            ("GATEHOUSE_DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
            ("GATEHOUSE_REGISTRY__VERIFY_MANIFEST_ON_REGISTER", "true"),
            ("GATEHOUSE_REGISTRY__URL", "http://127.0.0.1:5000"),
            ("GATEHOUSE_CHANNELS", r#"["dev", "prod"]"#),
            ("GATEHOUSE_TEST_DATABASE_URL", "ignored: not a config key"),
        ]);
        let cfg = Config::load_with_env(None, &vars).unwrap();
        assert!(cfg.database_url.starts_with("postgres://"));
        assert_eq!(cfg.registry.verify_manifest_on_register, Some(true));
        assert_eq!(cfg.channels.len(), 2);
    }

    #[test]
    fn the_console_oidc_section_takes_environment_overrides_and_never_prints_its_secret() {
        let vars = env(&[
            ("GATEHOUSE_CONSOLE__OIDC__ISSUER", "https://login.example"),
            ("GATEHOUSE_CONSOLE__OIDC__CLIENT_ID", "console"),
            ("GATEHOUSE_CONSOLE__OIDC__CLIENT_SECRET", "s3cr3t-value"),
            (
                "GATEHOUSE_CONSOLE__OIDC__REDIRECT_URL",
                "https://g.example/ui/oidc/callback",
            ),
            ("GATEHOUSE_CONSOLE__OIDC__SESSION_TOKEN", "id_token"),
            ("GATEHOUSE_CONSOLE__OIDC__SCOPES", r#"["openid", "email"]"#),
        ]);
        let cfg = Config::load_with_env(None, &vars).unwrap();
        let oidc = cfg.console.oidc.as_ref().unwrap();
        assert_eq!(oidc.issuer, "https://login.example");
        assert_eq!(oidc.client_secret.as_deref(), Some("s3cr3t-value"));
        assert_eq!(oidc.session_token, crate::http::SessionToken::IdToken);
        assert_eq!(oidc.scopes, ["openid", "email"]);
        assert!(
            !format!("{cfg:?}").contains("s3cr3t-value"),
            "the secret stays out of Debug"
        );
        assert!(Config::load_with_env(None, &[]).unwrap().console.oidc.is_none());
    }

    #[test]
    fn the_vsa_section_loads_from_file_and_env_and_half_a_section_names_the_missing_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(
            &file,
            "[vsa]\nkey_file = \"keys/vsa.key\"\nverifier_id = \"https://gatehouse.example/verifier\"\n",
        )
        .unwrap();
        let cfg = Config::load_with_env(Some(&file), &[]).unwrap();
        assert_eq!(cfg.vsa.key_file.as_deref(), Some(Path::new("keys/vsa.key")));
        let vars = env(&[("GATEHOUSE_VSA__VERIFIER_ID", "https://other.example/v")]);
        let cfg = Config::load_with_env(Some(&file), &vars).unwrap();
        assert_eq!(cfg.vsa.verifier_id.as_deref(), Some("https://other.example/v"));

        std::fs::write(&file, "[vsa]\nkey_file = \"keys/vsa.key\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(err.contains("vsa.verifier_id"), "{err}");
        std::fs::write(&file, "[vsa]\nverifier_id = \"https://g.example/v\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(err.contains("vsa.key_file"), "{err}");
        std::fs::write(&file, "[vsa]\nkey = \"x\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(err.contains("vsa"), "{err}");
        // No section: no summaries, and that is valid.
        assert!(Config::load_with_env(None, &[]).unwrap().vsa.key_file.is_none());
    }

    #[test]
    fn bad_values_name_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(&file, "listen = \"nowhere\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(
            err.contains("`listen`") && err.contains("gatehouse.toml"),
            "{err}"
        );

        std::fs::write(&file, "[registry]\nroot = \"Bad Root\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(err.contains("registry.root"), "{err}");

        // The class of a path is read from its root, so roots may not nest.
        std::fs::write(&file, "[registry]\nplatform_root = \"gpuaas/apps/platform\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(err.contains("registry.platform_root"), "{err}");

        std::fs::write(&file, "colour = \"blue\"\n").unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");

        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_CHANNELS", r#"["dev","dev"]"#)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`channels`") && err.contains("twice"), "{err}");
    }

    #[test]
    fn provenance_trust_loads_and_a_value_no_provenance_could_match_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(
            &file,
            "[trust.provenance]\nbuilders = [\"https://builder.example\"]\n\
             [trust.provenance.projects.team-a]\nsource_repositories = [\"https://github.com/org/web\"]\n",
        )
        .unwrap();
        let cfg = Config::load_with_env(Some(&file), &[]).unwrap();
        let team = "team-a".parse().unwrap();
        assert_eq!(
            cfg.trust.provenance.builders_for(&team),
            ["https://builder.example"]
        );
        assert_eq!(
            cfg.trust.provenance.sources_for(&team),
            ["https://github.com/org/web"]
        );

        std::fs::write(
            &file,
            "[trust.provenance.projects.team-a]\nsource_repositories = [\"git+https://github.com/org/web\"]\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&file), &[]).unwrap_err().to_string();
        assert!(
            err.contains("`trust.provenance.projects.team-a.source_repositories[0]`")
                && err.contains("`https://github.com/org/web`"),
            "{err}"
        );
        let vars = env(&[(
            "GATEHOUSE_TRUST__PROVENANCE__BUILDERS",
            r#"["https://b.example"]"#,
        )]);
        let cfg = Config::load_with_env(None, &vars).unwrap();
        assert_eq!(cfg.trust.provenance.builders, ["https://b.example"]);
    }

    #[test]
    fn server_limits_load_from_env_and_a_zero_limit_names_its_key() {
        let vars = env(&[
            ("GATEHOUSE_HTTP__MAX_REQUESTS_IN_FLIGHT", "8"),
            ("GATEHOUSE_HTTP__RATE_LIMIT_PER_SECOND", "5"),
            ("GATEHOUSE_DATABASE_ACQUIRE_TIMEOUT_MS", "250"),
            ("GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES", "1024"),
        ]);
        let cfg = Config::load_with_env(None, &vars).unwrap();
        assert_eq!(cfg.http.max_requests_in_flight, 8);
        assert_eq!(cfg.http.rate_limit_per_second, 5);
        assert_eq!(cfg.database_acquire_timeout_ms, 250);
        assert_eq!(cfg.platform.download_max_bytes, 1024);
        let defaults = Config::load_with_env(None, &[]).unwrap();
        assert_eq!(defaults.database_acquire_timeout_ms, 1000);
        assert_eq!(
            defaults.http.rate_limit_per_second, 0,
            "the rate limit is off by default"
        );

        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_HTTP__MAX_CONNECTIONS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`http.max_connections`"), "{err}");
        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_DATABASE_ACQUIRE_TIMEOUT_MS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`database_acquire_timeout_ms`"), "{err}");
    }

    #[test]
    fn a_dev_issuer_needs_dev_mode_to_serve_naming_the_issuer_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        let issuer = "[[auth.issuers]]\nissuer = \"https://dev.test\"\naudience = \"g\"\n\
                      algorithms = [\"ES256\"]\npublic_key_file = \"dev.pub\"\n\
                      dev_private_key_file = \"keys/dev.key\"\n";
        std::fs::write(&file, issuer).unwrap();
        // Loading is fine (token minting reads the same file); serving is not.
        let cfg = Config::load_with_env(Some(&file), &[]).unwrap();
        assert!(!cfg.dev_mode);
        let err = cfg.check_serving_safety().unwrap_err().to_string();
        assert!(
            err.contains("auth.issuers[0].dev_private_key_file")
                && err.contains("`https://dev.test`")
                && err.contains("keys/dev.key")
                && err.contains("dev_mode = true"),
            "{err}"
        );

        std::fs::write(&file, format!("dev_mode = true\n{issuer}")).unwrap();
        let cfg = Config::load_with_env(Some(&file), &[]).unwrap();
        cfg.check_serving_safety().unwrap();
        assert_eq!(cfg.dev_issuers().len(), 1);

        // The environment can turn it on too, like any key.
        std::fs::write(&file, issuer).unwrap();
        let cfg = Config::load_with_env(Some(&file), &env(&[("GATEHOUSE_DEV_MODE", "true")])).unwrap();
        cfg.check_serving_safety().unwrap();
        // No dev issuer: nothing to refuse.
        Config::load_with_env(None, &[])
            .unwrap()
            .check_serving_safety()
            .unwrap();
    }

    #[test]
    fn an_unknown_gatehouse_variable_stops_loading_naming_it() {
        for name in [
            "GATEHOUSE_FOO",
            "GATEHOUSE_DATABSE_URL",
            "GATEHOUSE_HTTP_BODY_LIMIT_BYTES",
        ] {
            let err = Config::load_with_env(None, &env(&[(name, "1")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{name}`")), "{err}");
        }
        // A known section with an unknown key names the variable, not the file.
        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_HTTP__BODY_LIMIT", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`GATEHOUSE_HTTP__BODY_LIMIT`") && err.contains("body_limit"),
            "{err}"
        );
        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES`")
                && err.contains("platform.download_max_bytes"),
            "{err}"
        );
        // Variables that are not configuration by design are left alone.
        let vars = env(&[
            ("GATEHOUSE_TEST_DATABASE_URL", "postgres://x"),
            ("GATEHOUSE_TOKEN", "t"),
            ("GATEHOUSE_URL", "http://127.0.0.1:8080"),
            ("GATEHOUSE_BENCH_SECONDS", "5"),
            ("GATEHOUSE_LOAD_RATE", "10"),
            ("GATEHOUSE_CAPTURE_NOTIFICATIONS", "/tmp/x"),
        ]);
        Config::load_with_env(None, &vars).unwrap();
    }

    #[test]
    fn every_section_takes_overrides_including_logging() {
        let vars = env(&[
            ("GATEHOUSE_LOGGING__FORMAT", "json"),
            ("GATEHOUSE_ARTIFACT_STORE__AUDIENCE", "store-b"),
            ("GATEHOUSE_TRUST__CONTENT_FETCH__MAX_BYTES", "10"),
            ("GATEHOUSE_AUTH__CLAIMS__SUBJECT", "uid"),
        ]);
        let cfg = Config::load_with_env(None, &vars).unwrap();
        assert_eq!(cfg.logging.format, LogFormat::Json);
        assert_eq!(cfg.artifact_store.audience, "store-b");
        assert_eq!(cfg.trust.content_fetch.max_bytes, 10);
        assert_eq!(cfg.auth.claims.subject, "uid");
        assert_eq!(
            Config::load_with_env(None, &[]).unwrap().logging.format,
            LogFormat::Text
        );
        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_LOGGING__FORMAT", "xml")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("logging.format") && err.contains("GATEHOUSE_LOGGING__FORMAT"),
            "{err}"
        );
    }

    #[test]
    fn the_database_pool_size_loads_from_env_and_zero_names_its_key() {
        let cfg = Config::load_with_env(None, &env(&[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "32")])).unwrap();
        assert_eq!(cfg.database_max_connections, 32);
        let defaults = Config::load_with_env(None, &[]).unwrap();
        assert_eq!(
            defaults.database_max_connections,
            crate::store::DEFAULT_MAX_CONNECTIONS
        );
        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`database_max_connections`"), "{err}");
    }

    #[test]
    fn a_bad_database_url_is_named_but_not_echoed() {
        let vars = env(&[("GATEHOUSE_DATABASE_URL", "mysql://root:hunter2@db/x")]);
        let err = Config::load_with_env(None, &vars).unwrap_err().to_string();
        assert!(err.contains("database_url") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn keyless_identities_load_and_bad_ones_stop_start_up_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load_with_env(Some(&file), &[])
        };
        let root = "[trust]\ntrusted_root_file = \"trusted_root.json\"\n";
        let cfg = load(&format!(
            "{root}[[trust.keyless_identities]]\nissuer = \"https://issuer.test\"\nsubject_regex = \"^ci@.*$\"\n"
        ))
        .unwrap();
        assert_eq!(cfg.trust.keyless_identities.len(), 1);
        assert_eq!(cfg.trust.required_for("oci.image"), ["signature"]);
        let cases = [
            (
                "subject_regex = \"(\"",
                "trust.keyless_identities[0].subject_regex",
                "not a valid regex",
            ),
            ("", "trust.keyless_identities[0]", "`subject` or `subject_regex`"),
            (
                "subject = \"a\"\nsubject_regex = \"a\"",
                "trust.keyless_identities[0]",
                "not both",
            ),
            ("subjekt = \"a\"", "subjekt", "unknown field"),
        ];
        for (line, key, reason) in cases {
            let text =
                format!("{root}[[trust.keyless_identities]]\nissuer = \"https://issuer.test\"\n{line}\n");
            let err = load(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}")) || err.contains(key), "{err}");
            assert!(err.contains(reason), "{err}");
        }
        let err = load("[[trust.keyless_identities]]\nissuer = \"https://issuer.test\"\nsubject = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`trust.keyless_identities`") && err.contains("trusted_root_file"),
            "{err}"
        );
    }
}
