#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The shipped policy set against its data-file tests, and the engine's load and decide rules.

use std::path::{Path, PathBuf};

use gatehouse::policy::{PolicyEngine, run_policy_tests};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> PathBuf {
    root().join("schemas/gatehouse.cedarschema")
}

fn shipped() -> PolicyEngine {
    match PolicyEngine::load(&schema(), &root().join("policies")) {
        Ok(engine) => engine,
        Err(e) => panic!("shipped policies do not load:\n{e}"),
    }
}

#[test]
fn shipped_policies_pass_their_data_tests() {
    let engine = shipped();
    let report = run_policy_tests(&engine, Path::new(&root().join("policies/tests"))).unwrap();
    assert!(report.total > 0, "no policy test cases found");
    assert!(report.failures.is_empty(), "{report}");
}
