//! Documentation stays true: each `cedar` block of the policy guide, added to the shipped set,
//! passes strict validation, and the README's configuration example loads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use gatehouse::policy::PolicyEngine;

#[test]
fn policy_guide_examples_validate_against_the_schema() {
    let root = &PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
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

#[test]
fn readme_configuration_example_loads() {
    let root = &PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = readme
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, example).unwrap();
    let config = gatehouse::Config::load_with_env(Some(&file), &[]);
    assert!(
        config.is_ok(),
        "{}",
        config.err().map(|e| e.to_string()).unwrap_or_default()
    );
    let config = config.unwrap();
    assert_eq!(config.registry.root.as_str(), "gpuaas/apps");
    assert_eq!(config.auth.issuers.len(), 1);
}
