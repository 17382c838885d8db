//! Configuration: a TOML file, every key overridable by `GATEHOUSE_<SECTION>__<KEY>`. This file
//! only loads, overlays the environment (`config_env`) and reports; each section's struct and
//! its checks live in the module that owns it, re-exported here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::admission::PlatformConfig;
pub use crate::artifact_store::ArtifactStoreConfig;
use crate::auth::AuthConfig;
use crate::domain::{Channel, ChannelOrder};
pub use crate::http::HttpConfig;
pub use crate::logging::{LogFormat, LoggingConfig};
pub use crate::registry::RegistryConfig;
pub use crate::trust::{ContentFetchConfig, REQUIRABLE_EVIDENCE, TrustConfig};
pub use crate::vsa::VsaConfig;

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
    /// Verdicts of live decisions kept per policy set, keyed by the decision's whole recorded
    /// input (request and entity-slice JSON), so a repeated question skips Cedar; 0 turns the
    /// cache off. A reload starts an empty one.
    pub policy_decision_cache_entries: usize,
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
            policy_decision_cache_entries: crate::policy::DEFAULT_DECISION_CACHE_ENTRIES,
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
    /// A `GATEHOUSE_…` environment variable that cannot be applied (it names no configuration
    /// key, or sets a key below a value).
    #[error(transparent)]
    Environment(#[from] crate::config_env::EnvError),
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
        let overrides =
            crate::config_env::apply(&mut table, env, crate::config_env::top_level_keys::<Config>())?;
        let origin = if overrides.is_empty() {
            origin
        } else {
            format!("{origin} with environment overrides")
        };
        let config = Self::deserialize_overridden(table, &overrides).map_err(|e| {
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

    /// Deserializes the table; a key an environment variable set that refuses the value's TOML
    /// type (a numeric secret, say) is retried once with the variable's text.
    fn deserialize_overridden(
        mut table: toml::Table,
        overrides: &[crate::config_env::Override],
    ) -> Result<Config, serde_path_to_error::Error<toml::de::Error>> {
        let mut retried = std::collections::HashSet::new();
        loop {
            let err = match serde_path_to_error::deserialize(toml::Value::Table(table.clone())) {
                Ok(config) => return Ok(config),
                Err(err) => err,
            };
            let key = err.path().to_string();
            let retry = overrides
                .iter()
                .find(|o| o.key == key && !retried.contains(&o.key) && o.retry_as_text(&mut table));
            match retry {
                Some(o) => {
                    retried.insert(o.key.clone());
                }
                None => return Err(err),
            }
        }
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
        // Each section checks itself, in this order; the first problem names its key.
        let sections = [
            self.trust.check(),
            self.registry.check(),
            self.artifact_store.check(),
            self.http.check(),
            self.tls.check().map_err(|e| (format!("tls.{}", e.key), e.reason)),
            self.kubernetes
                .check(&self.channels)
                .map_err(|(key, reason)| (format!("kubernetes.{key}"), reason)),
            self.vsa.check(),
        ];
        if let Some(Err((key, reason))) = sections.into_iter().find(Result::is_err) {
            return Err(ConfigError::Key {
                key,
                origin: origin.to_owned(),
                reason,
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
        if self.policy_decision_cache_entries > MAX_DECISION_CACHE_ENTRIES {
            // Each entry may hold up to 4 KiB of text: past this the bound stops being one.
            return Err(ConfigError::Key {
                key: "policy_decision_cache_entries".to_owned(),
                origin: origin.to_owned(),
                reason: format!("must be at most {MAX_DECISION_CACHE_ENTRIES} (0 turns the cache off)"),
            });
        }
        Ok(())
    }
}

/// The most verdicts `policy_decision_cache_entries` may keep (about 4 GiB of text at most).
const MAX_DECISION_CACHE_ENTRIES: usize = 1_000_000;

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
    fn every_section_is_a_key_without_a_list_to_maintain() {
        let keys = crate::config_env::top_level_keys::<Config>();
        for key in [
            "listen", "dev_mode", "platform", "logging", "http", "auth", "trust",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
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
    fn a_text_key_set_from_the_environment_to_digits_or_true_keeps_the_text() {
        let vars = env(&[
            ("GATEHOUSE_CONSOLE__OIDC__ISSUER", "https://login.example"),
            ("GATEHOUSE_CONSOLE__OIDC__CLIENT_ID", "12345"),
            ("GATEHOUSE_CONSOLE__OIDC__CLIENT_SECRET", "true"),
            (
                "GATEHOUSE_CONSOLE__OIDC__REDIRECT_URL",
                "https://g.example/ui/oidc/callback",
            ),
        ]);
        let cfg = Config::load_with_env(None, &vars).unwrap();
        let oidc = cfg.console.oidc.as_ref().unwrap();
        assert_eq!(oidc.client_id, "12345");
        assert_eq!(oidc.client_secret.as_deref(), Some("true"));
        // A typed key still refuses text that is not its type, naming the variable.
        let err = Config::load_with_env(
            None,
            &env(&[("GATEHOUSE_REGISTRY__VERIFY_MANIFEST_ON_REGISTER", "yes")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("GATEHOUSE_REGISTRY__VERIFY_MANIFEST_ON_REGISTER"),
            "{err}"
        );
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
    fn the_decision_cache_size_loads_from_file_and_env_and_too_large_names_its_key() {
        let defaults = Config::load_with_env(None, &[]).unwrap();
        assert_eq!(defaults.policy_decision_cache_entries, 10_000);
        let cfg =
            Config::load_with_env(None, &env(&[("GATEHOUSE_POLICY_DECISION_CACHE_ENTRIES", "0")])).unwrap();
        assert_eq!(cfg.policy_decision_cache_entries, 0, "0 (off) is accepted");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gatehouse.toml");
        std::fs::write(&file, "policy_decision_cache_entries = 500\n").unwrap();
        let cfg = Config::load_with_env(Some(&file), &[]).unwrap();
        assert_eq!(cfg.policy_decision_cache_entries, 500);
        let err = Config::load_with_env(
            None,
            &env(&[("GATEHOUSE_POLICY_DECISION_CACHE_ENTRIES", "1000001")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`policy_decision_cache_entries`"), "{err}");
        let err = Config::load_with_env(None, &env(&[("GATEHOUSE_POLICY_DECISION_CACHE_ENTRIES", "-1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy_decision_cache_entries"), "{err}");
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
