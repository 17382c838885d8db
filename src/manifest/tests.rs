use serde_json::json;

use super::*;

const SLURM: &str = include_str!("../../fixtures/manifests/slurm-cluster.yaml");
const SERVING: &str = include_str!("../../fixtures/manifests/model-serving.json");

fn faults(bytes: &str, format: Format) -> Vec<Fault> {
    match load(bytes.as_bytes(), format) {
        Err(ManifestError::Invalid(faults)) => faults,
        other => panic!("expected faults, got {other:?}"),
    }
}

fn serving() -> Value {
    serde_json::from_str(SERVING).unwrap()
}

#[test]
fn the_reference_manifests_validate() {
    let slurm = load(SLURM.as_bytes(), Format::Yaml).unwrap();
    assert_eq!(slurm.app.slug.as_str(), "slurm-cluster");
    assert_eq!(slurm.app.project.as_ref().map(|p| p.as_str()), Some("hpc"));
    assert_eq!(slurm.version.artifacts.len(), 1);
    let serving = load(SERVING.as_bytes(), Format::Json).unwrap();
    assert_eq!(serving.version.artifacts[0].source_type.as_str(), "huggingface");
}

#[test]
fn faults_name_the_pointer_and_the_rule() {
    let f = faults(
        include_str!("../../fixtures/manifests/invalid/missing-slug.json"),
        Format::Json,
    );
    assert_eq!(
        (f[0].pointer.as_str(), f[0].rule.as_str()),
        ("/app/slug", "required")
    );
    let f = faults(
        include_str!("../../fixtures/manifests/invalid/tag-only-artifact.yaml"),
        Format::Yaml,
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].pointer, "/version/artifacts/0/digest");
    assert_eq!(f[0].rule, "required");
    let f = faults(
        include_str!("../../fixtures/manifests/invalid/bad-placement-schema.yaml"),
        Format::Yaml,
    );
    assert!(
        f.iter()
            .all(|f| f.pointer.starts_with("/version/placement_schema")),
        "{f:?}"
    );
    assert_eq!(f[0].to_string().split(": ").next(), Some(f[0].pointer.as_str()));
}

#[test]
fn a_digest_must_be_lowercase_sha256() {
    let mut doc = serving();
    doc["version"]["artifacts"][0]["digest"] = json!(format!("sha256:{}", "A".repeat(64)));
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    assert_eq!(
        (f[0].pointer.as_str(), f[0].rule.as_str()),
        ("/version/artifacts/0/digest", "pattern")
    );
}

#[test]
fn embedded_schemas_must_compile_offline() {
    let mut doc = serving();
    doc["version"]["config_schema"] = json!({ "$ref": "https://example.invalid/schema.json" });
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    assert_eq!(
        (f[0].pointer.as_str(), f[0].rule.as_str()),
        ("/version/config_schema", "schema")
    );

    // Nor from the disk.
    let mut doc = serving();
    doc["version"]["placement_schema"] = json!({ "$ref": "file:///etc/passwd" });
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    assert_eq!(
        (f[0].pointer.as_str(), f[0].rule.as_str()),
        ("/version/placement_schema", "schema")
    );

    let mut doc = serving();
    doc["version"]["placement_schema"] = json!({ "type": "object", "minProperties": -1 });
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    assert!(f[0].pointer.starts_with("/version/placement_schema"), "{f:?}");
}

#[test]
fn artifact_names_are_unique() {
    let mut doc = serving();
    let first = doc["version"]["artifacts"][0].clone();
    doc["version"]["artifacts"].as_array_mut().unwrap().push(first);
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    assert_eq!(
        (f[0].pointer.as_str(), f[0].rule.as_str()),
        ("/version/artifacts/1/name", "unique")
    );
}

#[test]
fn syntax_errors_are_not_faults() {
    assert!(matches!(
        parse(b"{", Format::Json),
        Err(ManifestError::Syntax { .. })
    ));
    assert!(matches!(
        parse(b"app: [", Format::Yaml),
        Err(ManifestError::Syntax { .. })
    ));
    assert!(matches!(
        load(b"[]", Format::Json),
        Err(ManifestError::Invalid(_))
    ));
}

#[test]
fn the_canonical_digest_ignores_format_and_key_order() {
    let yaml = parse(SLURM.as_bytes(), Format::Yaml).unwrap();
    let json = serde_json::to_string(&yaml).unwrap();
    let reordered: Value = serde_json::from_str(&json).unwrap();
    let mut reversed = serde_json::Map::new();
    for (k, v) in reordered.as_object().unwrap().iter().rev() {
        reversed.insert(k.clone(), v.clone());
    }
    assert_eq!(
        canonical_digest(&yaml),
        canonical_digest(&Value::Object(reversed))
    );
    assert_ne!(canonical_digest(&yaml), canonical_digest(&serving()));
}

const GUIDE: &str = include_str!("../../fixtures/manifests/slurm-reference.yaml");

#[test]
fn the_guides_manifest_validates_as_written() {
    let guide = load(GUIDE.as_bytes(), Format::Yaml).unwrap();
    assert_eq!(guide.app.slug.as_str(), "slurm-reference");
    assert_eq!(guide.app.project, None);
    assert_eq!(guide.version.artifacts.len(), 2);
    let used: Vec<(crate::catalog::Family, &str, &str)> = guide
        .vocabulary
        .iter()
        .map(|u| (u.family, u.pointer.as_str(), u.value.as_str()))
        .collect();
    use crate::catalog::Family as F;
    for expected in [
        (
            F::OperatingModes,
            "/app/supported_modes/operating_modes/0",
            "tenant_dedicated",
        ),
        (
            F::ControlPlaneScopes,
            "/app/supported_modes/control_plane_scopes/1",
            "tenant",
        ),
        (F::RuntimeBackends, "/app/runtime_backend", "k8s-gpu"),
        (F::RuntimeBackends, "/version/runtime_backend", "k8s-gpu"),
        (
            F::CredentialClasses,
            "/version/runtime_requirements/bootstrap_access_credential",
            "bootstrap_token",
        ),
        (
            F::CredentialClasses,
            "/version/runtime_requirements/operator_identity",
            "workload_identity",
        ),
        (
            F::WorkerDeliveries,
            "/version/external_worker_contract/delivery",
            "queue",
        ),
        (F::SourceTypes, "/version/artifacts/1/source_type", "oci_registry"),
    ] {
        assert!(used.contains(&expected), "{expected:?} not in {used:?}");
    }
    // The earlier spelling still reads, with its list vocabularies.
    let slurm = load(SLURM.as_bytes(), Format::Yaml).unwrap();
    assert!(slurm.vocabulary.iter().any(|u| u.family == F::CredentialClasses
        && u.pointer == "/version/runtime_requirements/credential_classes/2"
        && u.value == "node_bootstrap"));
    assert!(
        slurm
            .vocabulary
            .iter()
            .any(|u| u.family == F::ArtifactTypes && u.value == "oci.image")
    );
}

#[test]
fn a_vocabulary_value_is_any_catalog_shaped_id_but_nothing_else() {
    let mut doc = parse(GUIDE.as_bytes(), Format::Yaml).unwrap();
    doc["app"]["supported_modes"]["operating_modes"] = json!(["edge_burst"]);
    doc["version"]["artifacts"][0]["source_type"] = json!("nfs_share");
    assert!(
        validate(&doc).is_ok(),
        "the catalog, not the schema, says which values exist"
    );
    doc["app"]["supported_modes"]["operating_modes"] = json!(["Tenant Dedicated"]);
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    assert_eq!(
        (f[0].pointer.as_str(), f[0].rule.as_str()),
        ("/app/supported_modes/operating_modes/0", "pattern")
    );
}

#[test]
fn the_worker_contract_takes_one_spelling_of_each_operation() {
    let mut doc = parse(GUIDE.as_bytes(), Format::Yaml).unwrap();
    let slurm = parse(SLURM.as_bytes(), Format::Yaml).unwrap();
    let contract = &mut doc["version"]["external_worker_contract"];
    contract["root_operation"] = slurm["version"]["external_worker_contract"]["root_operation"].clone();
    contract.as_object_mut().unwrap().remove("child_operation");
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    let found: Vec<(&str, &str)> = f.iter().map(|f| (f.pointer.as_str(), f.rule.as_str())).collect();
    assert_eq!(
        found,
        [
            ("/version/external_worker_contract/child_operation", "required"),
            ("/version/external_worker_contract/root_operation", "oneOf"),
        ]
    );
    // A guide-style root with unknown members is refused by the schema.
    let mut doc = parse(GUIDE.as_bytes(), Format::Yaml).unwrap();
    doc["version"]["external_worker_contract"]["root"]["phase"] = json!("x");
    let Err(ManifestError::Invalid(f)) = validate(&doc) else {
        panic!()
    };
    assert_eq!(f[0].pointer, "/version/external_worker_contract/root");
}
