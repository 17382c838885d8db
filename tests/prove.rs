//! `gatehouse policy prove` with the cvc5 SMT solver: the shipped set proves, and a candidate
//! that adds a broad permit is reported as not only restricting it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "common/skip.rs"]
mod skip;

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .current_dir(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// Whether cvc5 can be run; under CI a missing solver fails the test, elsewhere it is skipped.
fn solver_available() -> bool {
    let solver = std::env::var("CVC5").unwrap_or_else(|_| "cvc5".into());
    if Command::new(&solver).arg("--version").output().is_ok() {
        return true;
    }
    skip::missing("cvc5 not found (set CVC5 or put cvc5 on PATH)", "the proofs");
    false
}

#[test]
fn shipped_policies_prove_and_a_broadening_candidate_is_disproved() {
    if !solver_available() {
        return;
    }
    let out = gatehouse(&["policy", "prove", "policies"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no policy can error: proved"), "{stdout}");
    assert!(
        stdout.contains("nothing reaches prod unless trust is verified: proved"),
        "{stdout}"
    );

    let candidate = tempfile::tempdir().unwrap();
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("policies");
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, candidate.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        candidate.path().join("broad.cedar"),
        "@id(\"broad-permit\")\npermit (principal, action, resource);\n",
    )
    .unwrap();
    let out = gatehouse(&[
        "policy",
        "prove",
        "policies",
        "--candidate",
        candidate.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the candidate only restricts the current set: DISPROVED (counterexample"),
        "{stdout}"
    );
}
