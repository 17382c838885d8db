//! Rules a JSON Schema cannot state: the embedded schemas must compile (regexes, references),
//! artifact names are unique within a version, and the worker contract names each operation in
//! exactly one of its two spellings.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Fault;

/// The version-layer members that are themselves JSON Schemas.
const EMBEDDED_SCHEMAS: [&str; 2] = ["placement_schema", "config_schema"];

/// The worker contract's operations: (the guide's name, the project's earlier name).
const OPERATION_SPELLINGS: [(&str, &str); 2] = [
    ("root", "root_operation"),
    ("child_operation", "child_operations"),
];

/// Faults of a document that already satisfies the manifest schema.
pub(super) fn semantic_faults(document: &Value) -> Vec<Fault> {
    let mut faults = Vec::new();
    let contract = "/version/external_worker_contract";
    if let Some(contract_value) = document.pointer(contract) {
        for (guide, earlier) in OPERATION_SPELLINGS {
            match (contract_value.get(guide), contract_value.get(earlier)) {
                (Some(_), Some(_)) => faults.push(Fault::new(
                    format!("{contract}/{earlier}"),
                    "oneOf",
                    format!("give `{guide}` or `{earlier}`, not both (`{guide}` is canonical)"),
                )),
                (None, None) => faults.push(Fault::new(
                    format!("{contract}/{guide}"),
                    "required",
                    format!("`{guide}` (or its earlier spelling `{earlier}`) is required"),
                )),
                _ => {}
            }
        }
    }
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
