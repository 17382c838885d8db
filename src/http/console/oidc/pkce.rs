//! The pieces of one sign-in attempt: `state` (binds the callback to the browser that started
//! it), `nonce` (binds the ID token to this attempt) and the PKCE verifier with its S256
//! challenge (RFC 7636), kept server-side until the callback takes them, once.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moka::future::Cache;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

use super::super::session::random_token;

/// How long a started sign-in waits for its callback.
pub const ATTEMPT_SECONDS: u64 = 600;
/// Sign-ins pending at most; the oldest are dropped first beyond it.
const MAX_PENDING: u64 = 10_000;

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

/// Attempts by the SHA-256 of their `state`.
pub struct Attempts {
    table: Cache<[u8; 32], Arc<Attempt>>,
}

impl Default for Attempts {
    fn default() -> Self {
        Self {
            table: Cache::builder()
                .max_capacity(MAX_PENDING)
                .time_to_live(Duration::from_secs(ATTEMPT_SECONDS))
                .build(),
        }
    }
}

impl Attempts {
    /// Starts an attempt with fresh random `state`, `nonce` and verifier.
    pub async fn start(&self) -> Result<Started, getrandom::Error> {
        let state = random_token()?;
        let nonce = random_token()?;
        let verifier = random_token()?;
        let challenge = challenge(&verifier);
        let attempt = Attempt {
            nonce: nonce.clone(),
            verifier: SecretString::from(verifier),
        };
        self.table.insert(key(&state), Arc::new(attempt)).await;
        Ok(Started {
            state,
            nonce,
            challenge,
        })
    }

    /// Takes the attempt `state` names: a second callback with the same state finds nothing.
    pub async fn take(&self, state: &str) -> Option<Arc<Attempt>> {
        self.table.remove(&key(state)).await
    }
}

fn key(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
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
        let started = attempts.start().await.unwrap();
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
}
