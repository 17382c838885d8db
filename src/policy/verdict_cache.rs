//! A bounded cache of one engine's verdicts, keyed by two texts that with the engine determine
//! the verdict: a live decision's request and entity-slice JSON as the decision log stores them
//! (replay re-decides from exactly those), or its fact key, the same input with the resource's
//! identity and the facts no policy reads left out (`ReadFacts`, `EntitySlice::
//! to_json_text_and_fact_key`). A hit compares both texts in full — the hash only picks the
//! bucket, a collision can never answer another input's verdict.
//!
//! Sharded maps behind their own mutex; a shard that would pass its share of the entry or byte
//! bound is cleared whole (no per-entry bookkeeping on a hit: a lookup is a hash, one lock and a
//! comparison of the texts).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

// Seeded per process as std's `RandomState` is, and several times faster on the KB texts a key
// holds; a collision only shares a bucket, the texts are compared in full.
use foldhash::quality::RandomState;

/// Shards (fewer when the cache holds fewer entries than this).
const SHARDS: usize = 16;

/// The byte bound is this many bytes of text per entry the cache may hold.
pub(crate) const BYTES_PER_ENTRY: usize = 4096;

/// Entries a cache holds unless configured (config `policy_decision_cache_entries`).
pub const DEFAULT_ENTRIES: usize = 10_000;

/// Whether a decision's verdict came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// Served from the cache: Cedar did not run.
    Hit,
    /// Evaluated, and the verdict kept for the next identical input.
    Miss,
    /// The cache is off, or the decision could not use it (a deny from an input that could not be
    /// recorded or evaluated).
    Bypassed,
}

/// Verdicts (`V`) by (request text, entities text), at most `entries` of them and
/// `entries × BYTES_PER_ENTRY` bytes of text.
#[derive(Debug)]
pub(crate) struct VerdictCache<V> {
    entries: usize,
    shards: Box<[Mutex<Shard<V>>]>,
    per_shard_entries: usize,
    per_shard_bytes: usize,
    hasher: RandomState,
}

#[derive(Debug)]
struct Shard<V> {
    // Several inputs may share a hash: each is compared in full.
    buckets: HashMap<u64, Vec<Entry<V>>, foldhash::fast::RandomState>,
    entries: usize,
    bytes: usize,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Self {
            buckets: HashMap::default(),
            entries: 0,
            bytes: 0,
        }
    }
}

#[derive(Debug)]
struct Entry<V> {
    request: Box<str>,
    entities: Box<str>,
    verdict: V,
}

/// One input's hash, computed once for the lookup and the insert after a miss.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'a> {
    hash: u64,
    request: &'a str,
    entities: &'a str,
}

impl<V: Clone> VerdictCache<V> {
    /// A cache of at most `entries` verdicts; 0 is off (nothing is kept, every lookup misses).
    pub(crate) fn new(entries: usize) -> Self {
        let shards = SHARDS.min(entries);
        // Rounded down: the shards together never hold more than `entries`.
        let per_shard_entries = entries.checked_div(shards).unwrap_or(0);
        Self {
            entries,
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            per_shard_entries,
            per_shard_bytes: per_shard_entries.saturating_mul(BYTES_PER_ENTRY),
            hasher: RandomState::default(),
        }
    }

    /// The configured bound (0: off); a fresh cache for a changed engine takes the same.
    pub(crate) fn capacity(&self) -> usize {
        self.entries
    }

    /// Whether the cache keeps anything.
    pub(crate) fn is_on(&self) -> bool {
        !self.shards.is_empty()
    }

    pub(crate) fn key<'a>(&self, request: &'a str, entities: &'a str) -> Key<'a> {
        Key {
            hash: self.hasher.hash_one((request, entities)),
            request,
            entities,
        }
    }

    fn shard(&self, key: &Key<'_>) -> Option<&Mutex<Shard<V>>> {
        // The high bits pick the shard; the map hashes the whole value again.
        let count = self.shards.len() as u64;
        let index = usize::try_from((key.hash >> 32) % count.max(1)).ok()?;
        self.shards.get(index)
    }

    /// The verdict kept for exactly this input.
    pub(crate) fn get(&self, key: &Key<'_>) -> Option<V> {
        // A poisoned shard is treated as empty: the decision is then evaluated, never guessed.
        let shard = self.shard(key)?.lock().ok()?;
        shard
            .buckets
            .get(&key.hash)?
            .iter()
            .find(|e| *e.request == *key.request && *e.entities == *key.entities)
            .map(|e| e.verdict.clone())
    }

    /// Keeps `verdict` (`verdict_bytes` of text besides the key's) for this input; a full shard
    /// is emptied first, an input larger than a shard's byte share is not kept.
    pub(crate) fn insert(&self, key: &Key<'_>, verdict: &V, verdict_bytes: usize) {
        let weight = key.request.len() + key.entities.len() + verdict_bytes;
        if weight > self.per_shard_bytes {
            return;
        }
        let Some(Ok(mut shard)) = self.shard(key).map(Mutex::lock) else {
            return;
        };
        if shard.entries >= self.per_shard_entries || shard.bytes + weight > self.per_shard_bytes {
            *shard = Shard::default();
        }
        let bucket = shard.buckets.entry(key.hash).or_default();
        // Two threads may miss on the same input at once: the first one's entry stays.
        if bucket
            .iter()
            .any(|e| *e.request == *key.request && *e.entities == *key.entities)
        {
            return;
        }
        bucket.push(Entry {
            request: key.request.into(),
            entities: key.entities.into(),
            verdict: verdict.clone(),
        });
        shard.entries += 1;
        shard.bytes += weight;
    }

    /// Entries held now (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.entries))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn verdict(allowed: bool, id: &str) -> (bool, String) {
        (allowed, id.to_owned())
    }

    #[test]
    fn a_hit_needs_both_texts_equal_and_off_keeps_nothing() {
        let cache = VerdictCache::<(bool, String)>::new(8);
        cache.insert(&cache.key("r", "e"), &verdict(true, "p"), 1);
        assert_eq!(cache.get(&cache.key("r", "e")), Some(verdict(true, "p")));
        assert_eq!(cache.get(&cache.key("r", "e2")), None);
        assert_eq!(cache.get(&cache.key("r2", "e")), None);
        // The split between the texts is part of the input.
        assert_eq!(cache.get(&cache.key("re", "")), None);

        let off = VerdictCache::<(bool, String)>::new(0);
        assert!(!off.is_on());
        off.insert(&off.key("r", "e"), &verdict(true, "p"), 1);
        assert_eq!(off.get(&off.key("r", "e")), None);
        assert_eq!(off.len(), 0);
    }

    /// Same hash, other texts: the texts decide, never the hash alone.
    #[test]
    fn inputs_sharing_a_hash_keep_their_own_verdicts() {
        // Two entries a shard: both inputs fit the one shard their hash picks.
        let cache = VerdictCache::<(bool, String)>::new(32);
        let a = Key {
            hash: 7,
            request: "r",
            entities: "allow",
        };
        let b = Key {
            hash: 7,
            request: "r",
            entities: "deny",
        };
        cache.insert(&a, &verdict(true, "permit"), 6);
        assert_eq!(cache.get(&b), None, "another input with the same hash is a miss");
        cache.insert(&b, &verdict(false, "forbid"), 6);
        assert_eq!(cache.get(&a), Some(verdict(true, "permit")));
        assert_eq!(cache.get(&b), Some(verdict(false, "forbid")));
    }

    #[test]
    fn the_entry_and_byte_bounds_hold() {
        let cache = VerdictCache::<(bool, String)>::new(32);
        for i in 0..1000 {
            cache.insert(&cache.key(&format!("r{i}"), "e"), &verdict(true, "p"), 1);
            assert!(cache.len() <= 32, "{} entries", cache.len());
        }
        // One input bigger than a shard's byte share is not kept at all.
        let big = "x".repeat(2 * BYTES_PER_ENTRY + 1);
        cache.insert(&cache.key(&big, "e"), &verdict(true, "p"), 1);
        assert_eq!(cache.get(&cache.key(&big, "e")), None);
        // Bytes: two entries fit a shard (32 over 16), but not two of ~5 KB (8 KB a shard).
        let near = "y".repeat(5000);
        let key = |entities| Key {
            hash: 7,
            request: &near,
            entities,
        };
        let bytes = VerdictCache::<(bool, String)>::new(32);
        bytes.insert(&key("a"), &verdict(true, "p"), 1);
        assert_eq!(bytes.len(), 1);
        bytes.insert(&key("b"), &verdict(true, "p"), 1);
        assert_eq!(bytes.len(), 1, "the shard's byte share was full: it was emptied");
        assert!(bytes.get(&key("b")).is_some(), "the newest is kept");
    }
}
