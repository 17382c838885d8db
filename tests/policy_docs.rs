//! The worked examples in `policies/README.md` stay valid: each `cedar` block, added to the
//! shipped set, must pass strict validation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use gatehouse::policy::PolicyEngine;

#[test]
fn policy_guide_examples_validate_against_the_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("policies/README.md")).unwrap();
    let blocks: Vec<&str> = guide
        .split("```cedar\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 4, "the guide lost its examples");

    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root.join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join("guide_examples.cedar"), blocks.join("\n")).unwrap();
    let engine = PolicyEngine::load(&root.join("schemas/gatehouse.cedarschema"), dir.path());
    assert!(
        engine.is_ok(),
        "{}",
        engine.err().map(|e| e.to_string()).unwrap_or_default()
    );
}
