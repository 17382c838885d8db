//! Decision inputs stored once (migration 0015): a decision's request and entity slice are most
//! of its row and repeat across decisions (a deployer asks about the same artifact again and
//! again), so the decision log's writers keep an input that repeats once, under the SHA-256 of
//! its text, and the decision row names it. Listings put each input back into its decisions, so
//! a reader sees the same record whichever way it was stored.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use sqlx::types::Json;

use super::StoreError;
use super::rows::DecisionRow;
use crate::audit::JsonText;

/// The key of an input: SHA-256 over the request's length (8 bytes, little-endian), the request
/// and the entity slice, in lowercase hex. The length keeps the split between the two texts
/// part of what is hashed.
pub(super) fn input_hash(request: &str, entities: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update((request.len() as u64).to_le_bytes());
    hasher.update(request.as_bytes());
    hasher.update(entities.as_bytes());
    hex::encode(hasher.finalize())
}

/// How many hashes an [`InputMemory`] keeps in each of its sets before it starts that set again.
const REMEMBERED: usize = 16_384;

/// Where a decision's input goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placement {
    /// Into the decision's own row: the first time a writer sees this input. Most inputs that
    /// are never asked about again (a store of 200,000 artifacts reviewed at random) stay here,
    /// so they cost no second table and no write at a random place of its key.
    Inline,
    /// Into `decision_inputs` (kept once) and named by the decision: the input is seen again.
    Store,
    /// Named only: this writer committed the input before, and inputs are never deleted.
    Known,
}

/// What a decision-log writer remembers of the inputs it has committed, bounded: which it has
/// seen once (logged inline) and which it has stored. Forgetting is safe either way: a
/// forgotten input is logged inline again, or stored again and kept once by the conflict
/// clause. Per store: another database holds none of these.
#[derive(Debug, Default)]
pub(super) struct InputMemory {
    seen: HashSet<String>,
    stored: HashSet<String>,
}

impl InputMemory {
    /// Where the input with `hash` goes.
    pub(super) fn place(&self, hash: &str) -> Placement {
        if self.stored.contains(hash) {
            Placement::Known
        } else if self.seen.contains(hash) {
            Placement::Store
        } else {
            Placement::Inline
        }
    }

    /// Records a batch's placements once it has committed (never before: an input named by a
    /// decision must be stored).
    pub(super) fn committed<'a>(&mut self, placed: impl IntoIterator<Item = (&'a str, Placement)>) {
        for (hash, placement) in placed {
            let set = match placement {
                Placement::Inline => &mut self.seen,
                Placement::Store => &mut self.stored,
                Placement::Known => continue,
            };
            if set.len() >= REMEMBERED {
                set.clear();
            }
            set.insert(hash.to_owned());
        }
    }
}

/// One `decision_inputs` row.
#[derive(sqlx::FromRow)]
pub(super) struct DecisionInputRow {
    hash: String,
    request: Json<JsonText>,
    entities: Json<JsonText>,
}

/// The distinct input hashes a page of decisions names (none for rows that hold their input).
pub(super) fn named_inputs(rows: &[DecisionRow]) -> Vec<String> {
    let mut hashes: Vec<String> = rows
        .iter()
        .filter_map(|r| r.input_hash().map(str::to_owned))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Puts each named input back into its decisions. An input that is not stored (someone deleted
/// it around the gateway) is `Corrupt`: the record cannot be shown as it was decided.
pub(super) fn fill_inputs(rows: &mut [DecisionRow], inputs: Vec<DecisionInputRow>) -> Result<(), StoreError> {
    let inputs: HashMap<String, (Json<JsonText>, Json<JsonText>)> = inputs
        .into_iter()
        .map(|i| (i.hash, (i.request, i.entities)))
        .collect();
    for row in rows {
        let Some(hash) = row.input_hash() else { continue };
        let (request, entities) = inputs
            .get(hash)
            .ok_or_else(|| StoreError::Corrupt(format!("decision input {hash} is missing")))?;
        row.set_input(request.clone(), entities.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{InputMemory, Placement, input_hash};

    #[test]
    fn an_input_is_stored_once_it_is_seen_again_and_only_after_a_commit() {
        let mut memory = InputMemory::default();
        assert_eq!(memory.place("a"), Placement::Inline);
        memory.committed([("a", Placement::Inline)]);
        assert_eq!(memory.place("a"), Placement::Store);
        assert_eq!(memory.place("b"), Placement::Inline);
        memory.committed([("a", Placement::Store)]);
        assert_eq!(memory.place("a"), Placement::Known);
        memory.committed([("a", Placement::Known)]);
        assert_eq!(memory.place("a"), Placement::Known);
    }

    #[test]
    fn the_split_between_request_and_entities_is_part_of_the_key() {
        assert_ne!(input_hash("ab", "c"), input_hash("a", "bc"));
        assert_eq!(input_hash("ab", "c"), input_hash("ab", "c"));
        assert_eq!(input_hash("", "").len(), 64);
    }
}
