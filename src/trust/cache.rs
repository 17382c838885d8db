//! A cache of verification results. A check's outcome is a pure function of the trust
//! configuration, the artifact's digest and the material checked (signature layers, an
//! envelope, a bundle), so the cache key is a hash of all three: new material or a different
//! configuration is a different key, never a stale hit. Everything is dropped on a policy
//! reload too, so an operator who reloads sees every check run afresh.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::domain::{Digest, Evidence};

/// Entries kept at most.
const CAPACITY: u64 = 100_000;
/// How long an entry lives: checks of a key or root that later expires are redone after this.
const TIME_TO_LIVE: Duration = Duration::from_secs(15 * 60);

/// Verification results by (trust configuration, digest, material).
pub struct VerificationCache {
    entries: moka::future::Cache<[u8; 32], Evidence>,
    trust_config_hash: [u8; 32],
    /// Bumped by every invalidation and part of every key, so a result remembered before it
    /// can never be found again (moka's own `invalidate_all` is lazy and clock-based).
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A hash over the parts of the trust configuration a check depends on (key ids, log ids,
/// roots, identities, flags), each length-prefixed so no two lists hash alike.
pub fn trust_config_hash<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

impl VerificationCache {
    /// An empty cache for results under the configuration hashed as `trust_config_hash`.
    pub fn new(trust_config_hash: [u8; 32]) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TIME_TO_LIVE)
                .build(),
            trust_config_hash,
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The result of `check` (a kind of check, e.g. `signature`) over `material` for `digest`:
    /// from the cache, or by running `verify` and remembering its result.
    pub async fn get_or_verify(
        &self,
        check: &str,
        digest: &Digest,
        material: &[u8],
        verify: impl FnOnce() -> Evidence,
    ) -> Evidence {
        let key = self.key(check, digest, material);
        if let Some(hit) = self.entries.get(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return hit;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let evidence = verify();
        self.entries.insert(key, evidence.clone()).await;
        evidence
    }

    /// Drops every result (on a policy reload).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// Results answered from the cache and computed, since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn key(&self, check: &str, digest: &Digest, material: &[u8]) -> [u8; 32] {
        let generation = self.generation.load(Ordering::SeqCst).to_be_bytes();
        trust_config_hash([
            &self.trust_config_hash[..],
            &generation[..],
            check.as_bytes(),
            digest.as_str().as_bytes(),
            material,
        ])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use chrono::Utc;
    use serde_json::Value;

    use super::*;
    use crate::domain::EvidenceResult;

    fn evidence(reason: &str) -> Evidence {
        Evidence {
            evidence_type: "signature".to_owned(),
            result: EvidenceResult::Pass,
            reason: reason.to_owned(),
            checked_at: Utc::now(),
            details: Value::Null,
        }
    }

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap()
    }

    #[tokio::test]
    async fn the_same_check_of_the_same_material_runs_once_and_anything_else_runs_again() {
        let cache = VerificationCache::new(trust_config_hash([b"key-a".as_slice()]));
        let runs = AtomicUsize::new(0);
        let run = |reason: &'static str| {
            runs.fetch_add(1, Ordering::Relaxed);
            evidence(reason)
        };
        let first = cache
            .get_or_verify("signature", &digest('a'), b"layers", || run("first"))
            .await;
        let again = cache
            .get_or_verify("signature", &digest('a'), b"layers", || run("second"))
            .await;
        assert_eq!((first.reason.as_str(), again.reason.as_str()), ("first", "first"));
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        // Other material, another digest or another kind of check is never a hit.
        cache
            .get_or_verify("signature", &digest('a'), b"new layers", || run("x"))
            .await;
        cache
            .get_or_verify("signature", &digest('b'), b"layers", || run("x"))
            .await;
        cache
            .get_or_verify("attestation", &digest('a'), b"layers", || run("x"))
            .await;
        assert_eq!(runs.load(Ordering::Relaxed), 4);
        assert_eq!(cache.counts(), (1, 4));
    }

    #[tokio::test]
    async fn another_configuration_or_an_invalidation_misses() {
        let a = VerificationCache::new(trust_config_hash([b"key-a".as_slice()]));
        let b = VerificationCache::new(trust_config_hash([b"key-b".as_slice()]));
        assert_ne!(
            a.key("signature", &digest('a'), b"m"),
            b.key("signature", &digest('a'), b"m")
        );
        a.get_or_verify("signature", &digest('a'), b"m", || evidence("old"))
            .await;
        a.invalidate_all();
        let fresh = a
            .get_or_verify("signature", &digest('a'), b"m", || evidence("new"))
            .await;
        assert_eq!(fresh.reason, "new");
    }

    #[test]
    fn length_prefixes_keep_list_boundaries_apart() {
        let split = trust_config_hash([b"ab".as_slice(), b"c".as_slice()]);
        let other = trust_config_hash([b"a".as_slice(), b"bc".as_slice()]);
        assert_ne!(split, other);
    }
}
