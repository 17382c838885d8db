//! Verified bearer tokens, remembered until their `exp` so a token's signature is checked once
//! rather than on every request (an ES256 check is about 100 µs).
//!
//! Keyed by the SHA-256 of the whole token: a token that differs in any byte (another signature
//! over the same claims) is another key, and a lookup compares hashes, never secrets. Only a
//! token that passed every check is remembered; an entry ends at the token's `exp` (never
//! later: the verification leeway is not extended to cached tokens) and is ignored once the
//! issuer's key set has changed (a JWKS refetch), so a rotated-out key stops counting.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use moka::future::Cache;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::Principal;

/// How many verified tokens are remembered; the least used go first.
pub const TOKEN_CACHE_CAPACITY: u64 = 10_000;

/// The cache key: the SHA-256 of the token.
pub(crate) type TokenHash = [u8; 32];

/// The hash a token is remembered under.
pub(crate) fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// What one verification established.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) principal: Principal,
    /// The issuer whose key verified it.
    pub(crate) issuer: String,
    /// That issuer's key-set generation at the time (see `KeyGeneration`).
    pub(crate) key_generation: u64,
    /// The token's `exp`, in seconds since the epoch.
    expires_at: u64,
}

/// Seconds since the epoch; a clock before 1970 reads as 0, which only shortens entries.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Each entry lives until its token's `exp`, by the same clock the lookups check.
struct UntilExp {
    now: fn() -> u64,
}

impl Expiry<TokenHash, Arc<Verified>> for UntilExp {
    fn expire_after_create(&self, _: &TokenHash, value: &Arc<Verified>, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(value.expires_at.saturating_sub((self.now)())))
    }
}

/// The bounded cache of verified tokens.
pub(crate) struct TokenCache {
    entries: Cache<TokenHash, Arc<Verified>>,
    now: fn() -> u64,
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        Self::with_clock(unix_now)
    }

    fn with_clock(now: fn() -> u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(TOKEN_CACHE_CAPACITY)
                .expire_after(UntilExp { now })
                .build(),
            now,
        }
    }

    /// The verified facts of a token seen before, while its `exp` has not passed.
    pub(crate) async fn get(&self, hash: &TokenHash) -> Option<Arc<Verified>> {
        let verified = self.entries.get(hash).await?;
        // moka expires lazily and by its own clock: the `exp` check here is the one that counts.
        if (self.now)() >= verified.expires_at {
            self.entries.invalidate(hash).await;
            return None;
        }
        Some(verified)
    }

    /// Remembers a token that passed every check; one without a usable `exp`, or whose `exp`
    /// has passed (accepted within the leeway), is not remembered.
    pub(crate) async fn remember(
        &self,
        hash: TokenHash,
        claims: &Map<String, Value>,
        principal: &Principal,
        issuer: &str,
        key_generation: u64,
    ) {
        let Some(expires_at) = claims.get("exp").and_then(Value::as_u64) else {
            return;
        };
        if expires_at <= (self.now)() {
            return;
        }
        let verified = Verified {
            principal: principal.clone(),
            issuer: issuer.to_owned(),
            key_generation,
            expires_at,
        };
        self.entries.insert(hash, Arc::new(verified)).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::atomic::{AtomicU64, Ordering};

    use serde_json::json;

    use super::*;
    use crate::domain::{Actor, ActorType, CiClaims};

    static CLOCK: AtomicU64 = AtomicU64::new(1_000);

    fn test_clock() -> u64 {
        CLOCK.load(Ordering::SeqCst)
    }

    fn principal() -> Principal {
        Principal {
            actor: Actor {
                actor_type: ActorType::User,
                id: "olivia".to_owned(),
            },
            issuer: "https://issuer.test".to_owned(),
            project_roles: Default::default(),
            platform_roles: Default::default(),
            ci: CiClaims::default(),
        }
    }

    fn claims(exp: Value) -> Map<String, Value> {
        json!({ "exp": exp }).as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn an_entry_ends_at_exp_by_the_lookup_clock() {
        let cache = TokenCache::with_clock(test_clock);
        let hash = token_hash("header.payload.signature");
        CLOCK.store(1_000, Ordering::SeqCst);
        cache
            .remember(
                hash,
                &claims(json!(1_010)),
                &principal(),
                "https://issuer.test",
                0,
            )
            .await;
        CLOCK.store(1_009, Ordering::SeqCst);
        let hit = cache.get(&hash).await.unwrap();
        assert_eq!(hit.principal.actor.id, "olivia");
        CLOCK.store(1_010, Ordering::SeqCst);
        assert!(cache.get(&hash).await.is_none(), "served at exp");
        CLOCK.store(1_009, Ordering::SeqCst);
        assert!(
            cache.get(&hash).await.is_none(),
            "an expired entry is dropped, not kept"
        );
    }

    #[tokio::test]
    async fn tokens_past_exp_or_without_a_numeric_exp_are_not_remembered() {
        let cache = TokenCache::new();
        let now = unix_now();
        for (token, exp) in [
            ("a", json!(now - 5)),
            ("b", json!(now)),
            ("c", json!("4102444800")),
            ("d", json!(-1)),
            ("e", json!(null)),
        ] {
            let hash = token_hash(token);
            cache
                .remember(hash, &claims(exp.clone()), &principal(), "i", 0)
                .await;
            assert!(cache.get(&hash).await.is_none(), "remembered with exp {exp}");
        }
        let hash = token_hash("f");
        cache
            .remember(hash, &claims(json!(now + 60)), &principal(), "i", 0)
            .await;
        assert!(cache.get(&hash).await.is_some());
    }

    #[test]
    fn tokens_differing_in_one_byte_have_different_keys() {
        assert_ne!(token_hash("h.p.sig1"), token_hash("h.p.sig2"));
        assert_eq!(token_hash("h.p.sig1"), token_hash("h.p.sig1"));
    }
}
