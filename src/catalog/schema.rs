//! Validating an entry against its family's JSON Schema (`schemas/catalog-entry.schema.json`).

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{EntryStatus, Family};

/// The schema document, compiled into the binary so the seed and its schema always travel
/// together with the code that relies on them.
pub const SCHEMA_JSON: &str = include_str!("../../schemas/catalog-entry.schema.json");

/// An entry that does not satisfy its family's schema: the JSON pointer of the first fault and
/// the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pointer}`: {reason}")]
pub struct InvalidEntry {
    /// JSON pointer into the entry (`/fields/kind`; empty for the entry itself).
    pub pointer: String,
    /// The rule broken.
    pub reason: String,
}

/// A validated entry as the seed or a contributor wrote it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntrySpec {
    /// Stable id.
    pub id: String,
    /// What it is.
    pub description: String,
    /// Owning product.
    pub owner_product: String,
    /// Initial enabled flag (default true).
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// `active` (default) or `retired` (a tombstone).
    #[serde(default)]
    status: Option<String>,
    /// Family-specific fields.
    pub fields: Value,
}

fn enabled_default() -> bool {
    true
}

impl EntrySpec {
    /// The status the seed asks for: active unless marked retired.
    pub fn status(&self) -> EntryStatus {
        match self.status.as_deref() {
            Some("retired") => EntryStatus::Retired,
            _ => EntryStatus::Active,
        }
    }
}

/// One compiled validator per family.
pub struct EntrySchemas {
    validators: HashMap<Family, jsonschema::Validator>,
}

impl std::fmt::Debug for EntrySchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntrySchemas").finish_non_exhaustive()
    }
}

impl EntrySchemas {
    /// Compiles the embedded schema document.
    pub fn embedded() -> Result<Self, String> {
        let doc: Value =
            serde_json::from_str(SCHEMA_JSON).map_err(|e| format!("catalog entry schema: {e}"))?;
        Self::from_document(&doc)
    }

    /// Compiles one validator per family: the shared `entry` with `fields` replaced by the
    /// family's own fields schema.
    pub fn from_document(doc: &Value) -> Result<Self, String> {
        let defs = doc
            .get("$defs")
            .ok_or_else(|| "catalog entry schema has no `$defs`".to_owned())?;
        let mut validators = HashMap::new();
        for family in Family::ALL {
            if defs.pointer(&format!("/fields/{family}")).is_none() {
                return Err(format!(
                    "catalog entry schema has no fields schema for `{family}`"
                ));
            }
            let schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$defs": defs,
                "allOf": [{ "$ref": "#/$defs/entry" }],
                "properties": { "fields": { "$ref": format!("#/$defs/fields/{family}") } },
            });
            let validator = jsonschema::validator_for(&schema)
                .map_err(|e| format!("catalog entry schema for `{family}`: {e}"))?;
            validators.insert(*family, validator);
        }
        Ok(Self { validators })
    }

    /// Checks `entry` against `family`'s schema and parses it.
    pub fn validate(&self, family: Family, entry: &Value) -> Result<EntrySpec, InvalidEntry> {
        let validator = self.validators.get(&family).ok_or_else(|| InvalidEntry {
            pointer: String::new(),
            reason: format!("no schema for family `{family}`"),
        })?;
        if let Some(error) = validator.iter_errors(entry).next() {
            return Err(InvalidEntry {
                pointer: error.instance_path().as_str().to_owned(),
                reason: error.to_string(),
            });
        }
        serde_json::from_value(entry.clone()).map_err(|e| InvalidEntry {
            pointer: String::new(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn checkpoint(fields: Value) -> Value {
        json!({
            "id": "blob.checkpoint", "description": "a checkpoint", "owner_product": "gpuaas",
            "fields": fields,
        })
    }

    #[test]
    fn valid_entry_parses_with_defaults() {
        let schemas = EntrySchemas::embedded().unwrap();
        let spec = schemas
            .validate(
                Family::ArtifactTypes,
                &checkpoint(json!({"kind": "blob", "trust_inputs": [], "promotable": false})),
            )
            .unwrap();
        assert!(spec.enabled);
        assert_eq!(spec.status(), EntryStatus::Active);
    }

    #[test]
    fn invalid_fields_name_the_pointer() {
        let schemas = EntrySchemas::embedded().unwrap();
        let err = schemas
            .validate(
                Family::ArtifactTypes,
                &checkpoint(json!({"kind": "zip", "trust_inputs": [], "promotable": false})),
            )
            .unwrap_err();
        assert_eq!(err.pointer, "/fields/kind");
        let err = schemas
            .validate(Family::Channels, &checkpoint(json!({"rank": -1})))
            .unwrap_err();
        assert_eq!(err.pointer, "/fields/rank");
        let mut bad_id = checkpoint(json!({"rank": 1}));
        bad_id["id"] = json!("Not An Id");
        let err = schemas.validate(Family::Channels, &bad_id).unwrap_err();
        assert_eq!(err.pointer, "/id");
    }
}
