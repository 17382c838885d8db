//! The pieces of one sign-in attempt: `state` (binds the callback to the browser that started
//! it), `nonce` (binds the ID token to this attempt) and the PKCE verifier with its S256
//! challenge (RFC 7636), kept server-side until the callback takes them, once.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moka::future::Cache;
use moka::policy::EvictionPolicy;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

use super::super::session::{random_token, table_key};
use crate::http::RateLimiter;

/// How long a started sign-in waits for its callback.
pub const ATTEMPT_SECONDS: u64 = 600;
/// Sign-ins pending at most; the oldest are dropped first beyond it.
const MAX_PENDING: u64 = 10_000;
/// Sign-ins one client may start at once, then one every ten seconds: within an attempt's
/// lifetime one client holds at most 10 + 60 of the `MAX_PENDING`, so filling the table (and
/// pushing out others' fresh attempts) takes well over a hundred clients.
const STARTS_BURST: u32 = 10;
const STARTS_PER_MINUTE: u32 = 6;

/// What the callback needs from the attempt it completes.
pub struct Attempt {
    /// Sent as `nonce`, expected back in the ID token.
    pub nonce: String,
    /// The PKCE `code_verifier`, sent only to the token endpoint.
    pub verifier: SecretString,
}

/// A freshly started attempt: the `state` (the cookie value and the URL parameter), and
/// what goes into the authorization request.
pub struct Started {
    /// The `state` parameter.
    pub state: String,
    /// The `nonce` parameter.
    pub nonce: String,
    /// The `code_challenge` parameter (S256 of the verifier).
    pub challenge: String,
}

/// Why no attempt was started.
#[derive(Debug)]
pub enum StartRefused {
    /// This client started too many lately; it may start one after this many seconds.
    RateLimited(u64),
    /// No randomness for the attempt's secrets.
    Random(getrandom::Error),
}

/// Attempts by the SHA-256 of their `state`, and how many each client may start.
pub struct Attempts {
    table: Cache<[u8; 32], Arc<Attempt>>,
    starts: RateLimiter,
}

impl Default for Attempts {
    fn default() -> Self {
        Self::with_capacity(MAX_PENDING)
    }
}

impl Attempts {
    /// At most `capacity` attempts pending. Beyond it the least recently started goes (LRU):
    /// moka's default policy may instead refuse a new entry, so a full table would turn every
    /// new sign-in away until the flood's attempts expire.
    fn with_capacity(capacity: u64) -> Self {
        Self {
            table: Cache::builder()
                .max_capacity(capacity)
                .eviction_policy(EvictionPolicy::lru())
                .time_to_live(Duration::from_secs(ATTEMPT_SECONDS))
                .build(),
            starts: RateLimiter::per_minute(STARTS_PER_MINUTE, STARTS_BURST),
        }
    }

    /// Starts an attempt for `client` (its address as `ClientAddr::limit_key` spells it) with fresh
    /// random `state`, `nonce` and verifier, unless that client has started too many lately.
    pub async fn start(&self, client: &str) -> Result<Started, StartRefused> {
        self.starts.admit(client).map_err(StartRefused::RateLimited)?;
        let random = || random_token().map_err(StartRefused::Random);
        let (state, nonce, verifier) = (random()?, random()?, random()?);
        let challenge = challenge(&verifier);
        let attempt = Attempt {
            nonce: nonce.clone(),
            verifier: SecretString::from(verifier),
        };
        self.table.insert(table_key(&state), Arc::new(attempt)).await;
        Ok(Started {
            state,
            nonce,
            challenge,
        })
    }

    /// Takes the attempt `state` names: a second callback with the same state finds nothing.
    pub async fn take(&self, state: &str) -> Option<Arc<Attempt>> {
        self.table.remove(&table_key(state)).await
    }
}

/// The S256 `code_challenge` of a verifier: `BASE64URL(SHA256(ASCII(verifier)))`.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[tokio::test]
    async fn an_attempt_is_taken_once_and_matches_its_challenge() {
        let attempts = Attempts::default();
        let started = attempts.start("client").await.unwrap();
        assert!(attempts.take("another state").await.is_none());
        let attempt = attempts.take(&started.state).await.unwrap();
        assert_eq!(attempt.nonce, started.nonce);
        // 32 random bytes: 43 characters, within RFC 7636's 43..=128.
        assert_eq!(attempt.verifier.expose_secret().len(), 43);
        assert_eq!(challenge(attempt.verifier.expose_secret()), started.challenge);
        assert!(
            attempts.take(&started.state).await.is_none(),
            "a replay finds nothing"
        );
    }

    #[tokio::test]
    async fn one_client_is_limited_and_others_still_start() {
        let attempts = Attempts::default();
        for _ in 0..STARTS_BURST {
            attempts.start("192.0.2.1").await.unwrap();
        }
        assert!(matches!(
            attempts.start("192.0.2.1").await,
            Err(StartRefused::RateLimited(seconds)) if seconds >= 1
        ));
        assert!(attempts.start("192.0.2.2").await.is_ok());
    }

    #[tokio::test]
    async fn a_full_table_drops_the_oldest_attempt_never_the_newest() {
        let attempts = Attempts::with_capacity(4);
        let mut states = Vec::new();
        for n in 0..8 {
            // Each from its own client, so only the table's bound is in play.
            states.push(attempts.start(&format!("client-{n}")).await.unwrap().state);
            attempts.table.run_pending_tasks().await;
        }
        let newest = states.pop().unwrap();
        assert!(
            attempts.take(&newest).await.is_some(),
            "the newest attempt is kept"
        );
        assert!(attempts.take(&states[0]).await.is_none(), "the oldest went first");
    }
}
