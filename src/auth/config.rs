//! The `[auth]` configuration section and the errors that stop start-up when it is wrong.

use std::path::PathBuf;

use serde::Deserialize;

/// One trusted token issuer: `[[auth.issuers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` claim this issuer puts in its tokens.
    pub issuer: String,
    /// The `aud` claim tokens must carry to be accepted here.
    pub audience: String,
    /// Pinned signing algorithms, e.g. `["ES256"]`; anything else is refused.
    pub algorithms: Vec<String>,
    /// A PEM public key (SPKI, or PKCS#1 for RSA); exclusive with `jwks_url`.
    pub public_key_file: Option<PathBuf>,
    /// An http(s) URL serving the issuer's JWK set; exclusive with `public_key_file`.
    pub jwks_url: Option<String>,
    /// A PEM private key, only for `gatehouse token mint` against a local dev issuer.
    pub dev_private_key_file: Option<PathBuf>,
}

/// Names of the claims that carry the caller's identity and roles: `[auth.claims]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimNames {
    /// The actor id claim (default `sub`).
    pub subject: String,
    /// The actor type claim (default `act_type`).
    pub actor_type: String,
    /// The project → roles claim (default `projects`).
    pub projects: String,
    /// The platform roles claim (default `platform_roles`).
    pub platform_roles: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            subject: "sub".to_owned(),
            actor_type: "act_type".to_owned(),
            projects: "projects".to_owned(),
            platform_roles: "platform_roles".to_owned(),
        }
    }
}

/// The `[auth]` section: trusted issuers and claim names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Trusted issuers; with none, every token is refused (fail closed).
    pub issuers: Vec<IssuerConfig>,
    /// Claim names.
    pub claims: ClaimNames,
}

/// Why the `[auth]` section cannot be used; every message names the config key and the issuer.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// A required text value is empty.
    #[error("auth.issuers[{index}].{key}: must not be empty")]
    Empty {
        /// Position in `auth.issuers`.
        index: usize,
        /// The config key.
        key: &'static str,
    },
    /// Two issuers share one `issuer` value, so a token could not choose between them.
    #[error("auth.issuers[{index}].issuer `{issuer}`: configured more than once")]
    DuplicateIssuer {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
    },
    /// An issuer pins no algorithm.
    #[error("auth.issuers[{index}].algorithms (issuer `{issuer}`): list at least one algorithm")]
    NoAlgorithms {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
    },
    /// An algorithm name that is unknown, `none`, or a shared-secret (HS*) algorithm.
    #[error("auth.issuers[{index}].algorithms (issuer `{issuer}`): `{alg}` is refused: {reason}")]
    AlgorithmRefused {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
        /// The configured name.
        alg: String,
        /// Why.
        reason: &'static str,
    },
    /// Algorithms from different key families (e.g. ES256 and RS256) under one issuer.
    #[error(
        "auth.issuers[{index}].algorithms (issuer `{issuer}`): `{first}` and `{second}` need \
         different key types; configure one issuer entry per key type"
    )]
    MixedFamilies {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
        /// One algorithm.
        first: String,
        /// One that does not fit with it.
        second: String,
    },
    /// Neither `public_key_file` nor `jwks_url` is set.
    #[error("auth.issuers[{index}] (issuer `{issuer}`): set one of `public_key_file` or `jwks_url`")]
    NoKeySource {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
    },
    /// Both `public_key_file` and `jwks_url` are set.
    #[error("auth.issuers[{index}] (issuer `{issuer}`): set only one of `public_key_file` or `jwks_url`")]
    TwoKeySources {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
    },
    /// A key file cannot be read.
    #[error("auth.issuers[{index}].{key} `{path}` (issuer `{issuer}`): cannot be read: {source}")]
    KeyRead {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
        /// The config key.
        key: &'static str,
        /// The path as configured.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// A key file is not a PEM key of a supported type.
    #[error("auth.issuers[{index}].{key} `{path}` (issuer `{issuer}`): {reason}")]
    KeyParse {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
        /// The config key.
        key: &'static str,
        /// The path as configured.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `jwks_url` is not an http(s) URL.
    #[error("auth.issuers[{index}].jwks_url `{url}` (issuer `{issuer}`): must be an http(s) URL")]
    JwksUrl {
        /// Position in `auth.issuers`.
        index: usize,
        /// The issuer.
        issuer: String,
        /// The URL as configured.
        url: String,
    },
    /// The HTTP client for JWKS fetches cannot be built (TLS set-up).
    #[error("auth: cannot build the JWKS http client: {0}")]
    HttpClient(#[source] reqwest::Error),
}
