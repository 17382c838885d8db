//! Bearer-token authentication: JWTs from configured issuers, each with pinned algorithms and
//! its own keys (a PEM file or a JWKS URL), turned into a `domain::Principal`.
//!
//! Order of checks in [`Authenticator::authenticate`]: size and shape → header `alg` (no
//! `none`, no HS*) → issuer chosen by the *unverified* `iss` (only to pick the key) → `alg` in
//! that issuer's pinned list → signature → `iss`, `aud`, `exp`, `nbf` (all required; `exp` and
//! `nbf` with [`LEEWAY_SECONDS`] of skew) → claims. Signature checks are done by jsonwebtoken
//! (aws-lc); no secret is compared here, so there is nothing to compare in constant time.

mod claims;
mod config;
mod id_token;
mod issuer;
mod jwks;
mod key_kind;
mod mint;
mod token_cache;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Header, Validation};
use serde_json::{Map, Value};

pub use config::{AuthConfig, AuthConfigError, ClaimNames, IssuerConfig};
pub use issuer::LEEWAY_SECONDS;
pub use jwks::{JWKS_FETCH_TIMEOUT, JWKS_MIN_REFETCH_INTERVAL, JWKS_TTL};
pub use mint::{MAX_MINT_TTL_SECONDS, MintError, MintRequest, mint_dev_token};
pub use token_cache::TOKEN_CACHE_CAPACITY;

use crate::domain::Principal;
use issuer::{Issuer, KeySource};
use token_cache::{TokenCache, TokenHash};

/// Tokens longer than this are refused unparsed; real ones are a few KiB at most.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a bearer token was refused. The text is safe to show a client: it never contains the
/// token, its claims' values, or key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a compact JWS with a JSON header and payload.
    #[error("the bearer token is not a well-formed jwt")]
    Malformed,
    /// No configured issuer matches the token's `iss`.
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    /// `none`, HS*, or an algorithm the issuer does not pin.
    #[error("the token's signing algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// No key of the issuer verifies the signature.
    #[error("the token's signature is not valid")]
    InvalidSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `aud` does not name this service.
    #[error("the token is not meant for this service")]
    WrongAudience,
    /// A required claim is absent.
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong shape or value.
    #[error("the token's `{0}` claim is not valid")]
    InvalidClaim(&'static str),
    /// The issuer's JWKS could not be fetched: a dependency outage, not the caller's fault.
    #[error("the issuer's signing keys are unavailable; try again later")]
    KeyUnavailable,
}

impl AuthError {
    /// True when the failure is ours (JWKS unreachable): answer 503, not 401.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeyUnavailable)
    }
}

/// Verifies bearer tokens against the configured issuers; built once at start-up.
pub struct Authenticator {
    issuers: HashMap<String, Issuer>,
    claims: ClaimNames,
    /// Tokens that passed every check, until their `exp`.
    verified: TokenCache,
    /// Signature verifications run, for the cache's tests and metrics.
    signature_checks: AtomicU64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are left out on purpose: Debug output ends up in logs.
        f.debug_struct("Authenticator")
            .field("issuers", &self.issuers.keys())
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Checks every issuer and reads its key now, so a bad config stops start-up; relative
    /// paths resolve against `base_dir` (the config file's directory).
    pub fn from_config(cfg: &AuthConfig, base_dir: &Path) -> Result<Self, AuthConfigError> {
        // Built on the first JWKS issuer only: a PEM-only config needs no TLS set-up.
        let mut http = None;
        let mut issuers = HashMap::with_capacity(cfg.issuers.len());
        for (index, issuer_cfg) in cfg.issuers.iter().enumerate() {
            let issuer = Issuer::from_config(index, issuer_cfg, base_dir, &mut http)?;
            if issuers.contains_key(&issuer.name) {
                return Err(AuthConfigError::DuplicateIssuer {
                    index,
                    issuer: issuer.name,
                });
            }
            issuers.insert(issuer.name.clone(), issuer);
        }
        Ok(Self {
            issuers,
            claims: cfg.claims.clone(),
            verified: TokenCache::new(),
            signature_checks: AtomicU64::new(0),
        })
    }

    /// How many tokens this authenticator has run signature verification on (a token answered
    /// from the cache of verified tokens is not counted).
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// Verifies a bearer token (without the `Bearer ` prefix) and returns who it names; a token
    /// verified before is answered from the cache until its `exp`.
    pub async fn authenticate(&self, bearer_token: &str) -> Result<Principal, AuthError> {
        let token = bearer_token;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let hash = token_cache::token_hash(token);
        if let Some(principal) = self.cached(&hash).await? {
            return Ok(principal);
        }
        let header = parse_header(token)?;
        if header.alg.family() == AlgorithmFamily::Hmac {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        // RFC 7515: extensions marked critical must be understood; this verifier knows none.
        // Header-supplied keys (`jwk`, `jku`, `x5u`, `x5c`) are ignored: keys come from config.
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }
        let issuer = self
            .issuers
            .get(&unverified_issuer(token)?)
            .ok_or(AuthError::UnknownIssuer)?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(AuthError::AlgorithmNotAllowed);
        }
        let (key_generation, keys) = issuer.candidates(&header).await?;
        self.signature_checks.fetch_add(1, Ordering::Relaxed);
        let claims = verify(token, &keys, &issuer.validation)?;
        let principal = claims::principal_from_claims(&issuer.name, &claims, &self.claims)?;
        // Only now, with every check passed, is the token remembered.
        self.verified
            .remember(hash, &claims, &principal, &issuer.name, key_generation)
            .await;
        Ok(principal)
    }

    /// The principal of a token verified before, unless its issuer's key set changed since
    /// (then it is verified again against the current keys).
    async fn cached(&self, hash: &TokenHash) -> Result<Option<Principal>, AuthError> {
        let Some(verified) = self.verified.get(hash).await else {
            return Ok(None);
        };
        let current = match self.issuers.get(&verified.issuer).map(|issuer| &issuer.keys) {
            Some(KeySource::Static(_)) => STATIC_KEY_GENERATION,
            Some(KeySource::Jwks(jwks)) => jwks.generation().await?,
            None => return Ok(None),
        };
        Ok((current == verified.key_generation).then(|| verified.principal.clone()))
    }
}

/// A static key is read once at start-up and never changes while the authenticator lives.
const STATIC_KEY_GENERATION: u64 = 0;

impl Issuer {
    /// The keys that may have signed a token with this header, and their generation.
    /// (Borrowed for a static key: no copy on the verification path.)
    async fn candidates(&self, header: &Header) -> Result<(u64, Cow<'_, [DecodingKey]>), AuthError> {
        match &self.keys {
            KeySource::Static(key) => Ok((STATIC_KEY_GENERATION, Cow::Borrowed(std::slice::from_ref(key)))),
            KeySource::Jwks(jwks) => {
                let (generation, keys) = jwks.candidates(header.kid.as_deref(), header.alg).await?;
                Ok((generation, Cow::Owned(keys)))
            }
        }
    }
}

/// Parses the header; an `alg` jsonwebtoken does not know (such as `none`) is an algorithm
/// refusal, anything else unparsable is malformed.
fn parse_header(token: &str) -> Result<Header, AuthError> {
    let segments: Vec<&str> = token.split('.').collect();
    let [raw_header, _, _] = segments.as_slice() else {
        return Err(AuthError::Malformed);
    };
    match jsonwebtoken::decode_header(token) {
        Ok(header) => Ok(header),
        Err(_) => {
            let raw: Value = URL_SAFE_NO_PAD
                .decode(raw_header)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or(AuthError::Malformed)?;
            match raw.get("alg").and_then(Value::as_str) {
                Some(alg) if alg.parse::<Algorithm>().is_err() => Err(AuthError::AlgorithmNotAllowed),
                _ => Err(AuthError::Malformed),
            }
        }
    }
}

/// Reads `iss` from the payload WITHOUT verifying it: only used to choose which issuer's keys
/// and validation to apply, after which the signature and `iss` are verified for real.
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(default)]
        iss: Option<Value>,
    }
    let peek: Peek =
        jsonwebtoken::dangerous::insecure_decode_claims(token).map_err(|_| AuthError::Malformed)?;
    match peek.iss {
        None | Some(Value::Null) => Err(AuthError::MissingClaim("iss")),
        Some(Value::String(iss)) => Ok(iss),
        Some(_) => Err(AuthError::InvalidClaim("iss")),
    }
}

/// Tries each candidate key; a failure other than a bad signature means the signature was
/// good (or the token is broken for every key), so it is final.
fn verify(
    token: &str,
    keys: &[DecodingKey],
    validation: &Validation,
) -> Result<Map<String, Value>, AuthError> {
    for key in keys {
        match jsonwebtoken::decode::<Map<String, Value>>(token, key, validation) {
            Ok(data) => return Ok(data.claims),
            Err(error) => match map_jwt_error(error.kind()) {
                AuthError::InvalidSignature => continue,
                other => return Err(other),
            },
        }
    }
    Err(AuthError::InvalidSignature)
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            AuthError::Malformed
        }
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::UnknownIssuer,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
            AuthError::AlgorithmNotAllowed
        }
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(known_claim(claim)),
        ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim(known_claim(claim)),
        // Key-format and provider errors mean this key cannot verify this token: fail closed.
        _ => AuthError::InvalidSignature,
    }
}

/// The registered claim names jsonwebtoken reports, as static text for the error.
fn known_claim(name: &str) -> &'static str {
    match name {
        "iss" => "iss",
        "aud" => "aud",
        "exp" => "exp",
        "nbf" => "nbf",
        "sub" => "sub",
        _ => "registered",
    }
}
