//! An issuer's JWK set: fetched over http(s) with a deadline, parsed once, cached with moka.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use moka::future::Cache;

use super::AuthError;
use super::config::AuthConfigError;
use super::key_kind::{KeyKind, key_fits, key_kind};

/// How long a fetched JWK set is trusted before it is fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(5 * 60);

/// Deadline for one JWKS fetch (connect, headers and body).
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// An unknown `kid` forces a refetch at most this often, so garbage tokens cannot make the
/// gateway hammer the issuer.
pub const JWKS_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// A JWK set larger than this is refused rather than buffered.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One usable verification key from the set.
struct PublishedKey {
    kid: Option<String>,
    /// The key's declared `alg`, if it declared one.
    alg: Option<Algorithm>,
    kind: KeyKind,
    key: DecodingKey,
}

/// Numbers every fetched key set, so a cached verification can tell the set it was made with
/// from a newer one. Starts at 1: 0 is a static key's generation.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// One fetched JWK set.
struct KeySet {
    generation: u64,
    keys: Vec<PublishedKey>,
}

/// The keys of one JWKS issuer.
pub(crate) struct JwksKeys {
    issuer: String,
    url: reqwest::Url,
    family: AlgorithmFamily,
    http: reqwest::Client,
    cache: Cache<(), Arc<KeySet>>,
    last_forced_refetch: Mutex<Option<Instant>>,
}

/// Why a fetch failed; logged for operators, never shown to the client.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("answered status {0}")]
    Status(reqwest::StatusCode),
    #[error("body larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
    #[error("body is not a JWK set: {0}")]
    Json(#[from] serde_json::Error),
}

impl JwksKeys {
    /// Checks the URL; nothing is fetched until the first token arrives.
    pub(crate) fn new(
        index: usize,
        issuer: &str,
        url: &str,
        family: AlgorithmFamily,
        http: reqwest::Client,
    ) -> Result<Self, AuthConfigError> {
        let bad_url = || AuthConfigError::JwksUrl {
            index,
            issuer: issuer.to_owned(),
            url: url.to_owned(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|_| bad_url())?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad_url());
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            url: parsed,
            family,
            http,
            cache: Cache::builder().max_capacity(1).time_to_live(JWKS_TTL).build(),
            last_forced_refetch: Mutex::new(None),
        })
    }

    /// The keys that may have signed a token with this `kid` and `alg`, and the generation of
    /// the set they came from; refetches once (rate limited) when a `kid` is not in the cached
    /// set, since the issuer may have rotated.
    pub(crate) async fn candidates(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(u64, Vec<DecodingKey>), AuthError> {
        let set = self.current().await?;
        let found = select(&set.keys, kid, alg);
        if !found.is_empty() || kid.is_none() || !self.may_force_refetch() {
            return Ok((set.generation, found));
        }
        self.cache.invalidate(&()).await;
        let set = self.current().await?;
        Ok((set.generation, select(&set.keys, kid, alg)))
    }

    /// The generation of the current key set (fetching it if the cached one has expired).
    pub(crate) async fn generation(&self) -> Result<u64, AuthError> {
        Ok(self.current().await?.generation)
    }

    async fn current(&self) -> Result<Arc<KeySet>, AuthError> {
        // try_get_with coalesces concurrent misses into one fetch; errors are not cached.
        self.cache.try_get_with((), self.fetch()).await.map_err(|error| {
            tracing::warn!(issuer = %self.issuer, url = %self.url, %error, "jwks fetch failed");
            AuthError::KeyUnavailable
        })
    }

    fn may_force_refetch(&self) -> bool {
        // A poisoned lock only means another thread panicked mid-update of an Instant.
        let mut last = self.last_forced_refetch.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < JWKS_MIN_REFETCH_INTERVAL) {
            return false;
        }
        *last = Some(now);
        true
    }

    async fn fetch(&self) -> Result<Arc<KeySet>, FetchError> {
        let mut response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let set: RawJwkSet = serde_json::from_slice(&body)?;
        let keys: Vec<PublishedKey> = set.keys.into_iter().filter_map(|raw| self.usable(raw)).collect();
        tracing::debug!(issuer = %self.issuer, keys = keys.len(), "jwks fetched");
        Ok(Arc::new(KeySet {
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            keys,
        }))
    }

    /// Keeps a key only if it is a signing key of this issuer's family; each key is parsed on
    /// its own so one odd entry does not hide the others.
    fn usable(&self, raw: serde_json::Value) -> Option<PublishedKey> {
        let jwk: Jwk = serde_json::from_value(raw).ok()?;
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return None;
        }
        let alg = match jwk.common.key_algorithm {
            Some(declared) => Some(Algorithm::try_from(declared).ok()?),
            None => None,
        };
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        // An `oct` key would be an HMAC secret: never a verification key here.
        if key.family() != self.family || alg.is_some_and(|a| a.family() != self.family) {
            return None;
        }
        Some(PublishedKey {
            kid: jwk.common.key_id,
            alg,
            kind: key_kind(&key),
            key,
        })
    }
}

/// The client for JWKS fetches: bounded by a deadline so an unreachable issuer fails fast.
pub(crate) fn jwks_client() -> Result<reqwest::Client, AuthConfigError> {
    reqwest::Client::builder()
        .timeout(JWKS_FETCH_TIMEOUT)
        .connect_timeout(JWKS_FETCH_TIMEOUT)
        .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(AuthConfigError::HttpClient)
}

#[derive(serde::Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
}

fn select(keys: &[PublishedKey], kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
    keys.iter()
        .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
        .filter(|k| k.alg.is_none_or(|a| a == alg) && key_fits(&k.kind, alg))
        .map(|k| k.key.clone())
        .collect()
}
