//! The vocabulary values a manifest uses and the catalog family each must belong to. The schema
//! only checks their shape: which values exist is the catalog's to say (contributed, approved,
//! disabled like any entry), so a new operating mode needs no schema or code change.

use serde_json::Value;

use crate::catalog::Family;

/// One vocabulary value in a manifest: where it is, which family it must be in, and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VocabularyUse {
    /// JSON pointer of the value.
    pub pointer: String,
    /// The catalog family it must be an active, enabled entry of.
    pub family: Family,
    /// The value as written (a catalog id).
    pub value: String,
}

/// Single values: (pointer, family).
const SINGLE: [(&str, Family); 5] = [
    ("/app/runtime_backend", Family::RuntimeBackends),
    ("/version/runtime_backend", Family::RuntimeBackends),
    (
        "/version/runtime_requirements/bootstrap_access_credential",
        Family::CredentialClasses,
    ),
    (
        "/version/runtime_requirements/operator_identity",
        Family::CredentialClasses,
    ),
    (
        "/version/external_worker_contract/delivery",
        Family::WorkerDeliveries,
    ),
];

/// Lists of values: (pointer of the array, family).
const LISTS: [(&str, Family); 3] = [
    ("/app/supported_modes/operating_modes", Family::OperatingModes),
    (
        "/app/supported_modes/control_plane_scopes",
        Family::ControlPlaneScopes,
    ),
    (
        "/version/runtime_requirements/credential_classes",
        Family::CredentialClasses,
    ),
];

/// Every vocabulary value of a document that passed the schema, in document order.
pub(super) fn uses(document: &Value) -> Vec<VocabularyUse> {
    let mut found = Vec::new();
    let mut push = |pointer: String, family: Family, value: Option<&Value>| {
        if let Some(value) = value.and_then(Value::as_str) {
            found.push(VocabularyUse {
                pointer,
                family,
                value: value.to_owned(),
            });
        }
    };
    for (pointer, family) in SINGLE {
        push(pointer.to_owned(), family, document.pointer(pointer));
    }
    for (pointer, family) in LISTS {
        let items = document.pointer(pointer).and_then(Value::as_array);
        for (i, item) in items.into_iter().flatten().enumerate() {
            push(format!("{pointer}/{i}"), family, Some(item));
        }
    }
    let artifacts = document.pointer("/version/artifacts").and_then(Value::as_array);
    for (i, artifact) in artifacts.into_iter().flatten().enumerate() {
        for (member, family) in [
            ("source_type", Family::SourceTypes),
            ("artifact_type", Family::ArtifactTypes),
        ] {
            push(
                format!("/version/artifacts/{i}/{member}"),
                family,
                artifact.get(member),
            );
        }
    }
    found
}
