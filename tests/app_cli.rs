//! `gatehouse app validate` as an app team's CI runs it (offline: exit 0 valid, 1 with one
//! `POINTER: RULE: why` line per fault) and `gatehouse app register` against a real gateway.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};

use common::{Db, TestApp, oci_registration, token};
use serde_json::json;

fn gatehouse(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .current_dir(common::repo_path(""))
        .env("RUST_LOG", "error")
        .env_remove("GATEHOUSE_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the binary off the runtime thread, so the gateway it talks to keeps serving.
async fn gatehouse_async(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        gatehouse(&args, &env)
    })
    .await
    .unwrap()
}

#[test]
fn validate_accepts_the_reference_manifests() {
    for file in [
        "fixtures/manifests/slurm-cluster.yaml",
        "fixtures/manifests/model-serving.json",
    ] {
        let out = gatehouse(&["app", "validate", file], &[]);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", stdout(&out));
        assert!(stdout(&out).contains("valid manifest"), "{}", stdout(&out));
    }
}

#[test]
fn validate_names_the_pointer_and_rule_of_each_fault() {
    for (file, line) in [
        ("invalid/missing-slug.json", "/app/slug: required: "),
        (
            "invalid/tag-only-artifact.yaml",
            "/version/artifacts/0/digest: required: ",
        ),
        (
            "invalid/bad-placement-schema.yaml",
            "/version/placement_schema/properties/gpu_class/type: ",
        ),
    ] {
        let path = format!("fixtures/manifests/{file}");
        let out = gatehouse(&["app", "validate", &path], &[]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", stdout(&out));
        assert!(stdout(&out).starts_with(line), "{file}: {}", stdout(&out));
    }
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "app: [").unwrap();
    let out = gatehouse(&["app", "validate", broken.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("syntax"), "{}", stdout(&out));
    let out = gatehouse(&["app", "validate", "fixtures/manifests/none.yaml"], &[]);
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn register_sends_the_manifest_to_the_gateway() {
    let app = TestApp::spawn(Db::sqlite()).await;
    let admin = token("ada", json!({ "hpc": ["admin"] }));
    let digest = "sha256:92df036bffe874a2b077c97354cc1f528b44cfff9831d4315f8e3fa03c8dae9c";
    let (status, body) = app
        .post(
            "/v1/projects/hpc/artifacts",
            &admin,
            oci_registration("slurm-cluster", digest),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let args = |file: &str| -> Vec<String> {
        ["app", "register", file, "--url", app.base.as_str()]
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let with_token = |t: &str| vec![("GATEHOUSE_TOKEN".to_owned(), t.to_owned())];

    let slurm = "fixtures/manifests/slurm-cluster.yaml";
    let out = gatehouse_async(
        args(slurm),
        with_token(&token("olivia", json!({ "hpc": ["operator"] }))),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let out = gatehouse_async(args(slurm), with_token(&admin)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("registered"), "{}", stdout(&out));
    let out = gatehouse_async(args(slurm), with_token(&admin)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("already registered"), "{}", stdout(&out));

    // An invalid manifest never leaves the machine.
    let out = gatehouse_async(
        args("fixtures/manifests/invalid/missing-slug.json"),
        with_token(&admin),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let (_, apps) = app.get("/v1/apps", &admin).await;
    assert_eq!(apps["items"].as_array().unwrap().len(), 1, "{apps}");
}
