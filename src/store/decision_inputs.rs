//! Decision inputs stored once (migration 0015): a decision's request and entity slice are most
//! of its row and repeat across decisions (a deployer asks about the same artifact again and
//! again), so the SQLite decision writer keeps each distinct input once, under the SHA-256 of its
//! text, and the decision row names it. Listings put each input back into its decisions, so a
//! reader sees the same record whichever way it was stored.

use std::collections::HashMap;

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
    use super::input_hash;

    #[test]
    fn the_split_between_request_and_entities_is_part_of_the_key() {
        assert_ne!(input_hash("ab", "c"), input_hash("a", "bc"));
        assert_eq!(input_hash("ab", "c"), input_hash("ab", "c"));
        assert_eq!(input_hash("", "").len(), 64);
    }
}
