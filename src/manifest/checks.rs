//! Rules a JSON Schema cannot state: the embedded schemas must compile (regexes, references),
//! and artifact names are unique within a version.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Fault;

/// The version-layer members that are themselves JSON Schemas.
const EMBEDDED_SCHEMAS: [&str; 2] = ["placement_schema", "config_schema"];

/// Faults of a document that already satisfies the manifest schema.
pub(super) fn semantic_faults(document: &Value) -> Vec<Fault> {
    let mut faults = Vec::new();
    for member in EMBEDDED_SCHEMAS {
        if let Some(schema) = document.pointer(&format!("/version/{member}")) {
            // References are resolved offline only: a remote `$ref` fails to compile here.
            if let Err(e) = jsonschema::draft202012::new(schema) {
                faults.push(Fault::new(
                    format!("/version/{member}"),
                    "schema",
                    format!("is not a usable JSON Schema: {e}"),
                ));
            }
        }
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let artifacts = document
        .pointer("/version/artifacts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, artifact) in artifacts.iter().enumerate() {
        let Some(name) = artifact.get("name").and_then(Value::as_str) else {
            continue;
        };
        if let Some(first) = seen.insert(name, i) {
            faults.push(Fault::new(
                format!("/version/artifacts/{i}/name"),
                "unique",
                format!("artifact name `{name}` is already used by /version/artifacts/{first}"),
            ));
        }
    }
    faults
}
