//! How PostgreSQL hands back what it was given: `jsonb` reorders object keys, `timestamptz`
//! keeps microseconds. Used to answer a write's own rows without reading them back.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;

/// `at` as a `timestamptz` column stores it (sqlx sends whole microseconds, truncated).
pub(super) fn microseconds(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// Reorders every object in `value` as `jsonb` stores (and prints) it: shorter keys first, keys
/// of one length by their bytes.
pub(super) fn jsonb_key_order(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries
                .sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.as_bytes().cmp(b.as_bytes())));
            for (key, mut item) in entries {
                jsonb_key_order(&mut item);
                map.insert(key, item);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(jsonb_key_order),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_length_then_bytes_at_every_depth() {
        let mut value: Value = serde_json::from_str(
            r#"{"policy_hash":"h","b":[{"zz":1,"a":2}],"effect":"allow","a":{"yy":1,"x":2},"ab":null}"#,
        )
        .unwrap_or_default();
        jsonb_key_order(&mut value);
        assert_eq!(
            value.to_string(),
            r#"{"a":{"x":2,"yy":1},"b":[{"a":2,"zz":1}],"ab":null,"effect":"allow","policy_hash":"h"}"#
        );
    }
}
