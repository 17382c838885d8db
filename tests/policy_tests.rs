#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The shipped policy set against its data-file tests, and the engine's load and decide rules.

use std::path::{Path, PathBuf};

use std::collections::{BTreeMap, BTreeSet};

use gatehouse::domain::{Actor, ActorType, Artifact, CiClaims, Principal, Role};
use gatehouse::policy::{
    Action, Caller, PolicyEngine, PolicyLoadError, PolicyProblem, PolicyRequest, RequestContext, Resource,
    run_policy_tests,
};

fn root() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
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

/// A policy directory holding `files`, loaded against the shipped schema.
fn load_dir(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<PolicyEngine, PolicyLoadError>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let loaded = PolicyEngine::load(&schema(), dir.path());
    (dir, loaded)
}

const GOOD: &str = "// viewers read\n@id(\"view\")\npermit (principal, action == Gatehouse::Action::\"read\", resource)\nwhen { resource in principal.viewer_of };\n";

fn problems(files: &[(&str, &str)]) -> Vec<PolicyProblem> {
    match load_dir(files).1 {
        Ok(_) => panic!("expected the set to be refused"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e.problems
        }
    }
}

#[test]
fn a_syntax_error_names_its_file_and_line() {
    let bad = "@id(\"a\")\npermit (principal, action, resource);\n\n@id(\"b\")\npermit (principal action, resource);\n";
    let found = problems(&[("a.cedar", GOOD), ("b.cedar", bad)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "b.cedar");
    assert_eq!(found[0].line, Some(5));
}

#[test]
fn an_unknown_attribute_fails_strict_validation_at_its_line() {
    let bad = "// first\n@id(\"ok\")\npermit (principal, action == Gatehouse::Action::\"read\", resource is Gatehouse::Artifact)\nwhen { resource.kind == \"oci\" };\n\n@id(\"typo\")\nforbid (principal, action == Gatehouse::Action::\"promote\", resource)\nwhen {\n  resource.trust_level == \"low\"\n};\n";
    let found = problems(&[("a.cedar", GOOD), ("z.cedar", bad)]);
    assert!(!found.is_empty());
    assert!(found.iter().all(|p| p.file == "z.cedar"), "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p.line == Some(9) && p.reason.contains("trust_level")),
        "{found:?}"
    );
    let shown = PolicyLoadError { problems: found }.to_string();
    assert!(shown.starts_with("z.cedar:9: "), "{shown}");
}

#[test]
fn a_policy_without_id_is_refused() {
    let bad = "@id(\"fine\")\npermit (principal, action, resource);\n\n// no id here\npermit (principal, action, resource);\n";
    let found = problems(&[("a.cedar", bad)]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].file.as_str(), found[0].line), ("a.cedar", Some(5)));
    assert!(found[0].reason.contains("@id"));
}

#[test]
fn duplicate_ids_across_files_are_refused() {
    let found = problems(&[("a.cedar", GOOD), ("b.cedar", &format!("\n\n{GOOD}"))]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].file.as_str(), found[0].line), ("b.cedar", Some(4)));
    assert!(
        found[0].reason.contains("`view`") && found[0].reason.contains("a.cedar:2"),
        "{found:?}"
    );
}

#[test]
fn an_empty_directory_is_refused() {
    let found = problems(&[("notes.txt", "not a policy")]);
    assert_eq!(found.len(), 1);
    assert!(found[0].reason.contains("no policies"), "{found:?}");
}

#[test]
fn a_missing_schema_names_the_file() {
    let err = PolicyEngine::load(Path::new("/nonexistent/x.cedarschema"), &root().join("policies"))
        .err()
        .unwrap();
    assert_eq!(err.problems[0].file, "/nonexistent/x.cedarschema");
    assert!(err.problems[0].reason.starts_with("cannot read schema"));
}

#[test]
fn the_hash_is_stable_and_follows_content() {
    let (_d1, a) = load_dir(&[("a.cedar", GOOD)]);
    let (_d2, b) = load_dir(&[("a.cedar", GOOD)]);
    let (_d3, c) = load_dir(&[("a.cedar", &format!("{GOOD}\n"))]);
    let (_d4, d) = load_dir(&[("b.cedar", GOOD)]);
    let (a, b, c, d) = (a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap());
    assert_eq!(a.hash(), b.hash());
    assert_eq!(a.hash().len(), 64);
    assert_ne!(a.hash(), c.hash());
    assert_ne!(a.hash(), d.hash());
    assert_eq!(a.files(), ["a.cedar".to_owned()]);
    assert_eq!(a.policy_ids(), vec!["view".to_owned()]);
}

fn principal(id: &str, project: &str, role: Role) -> Principal {
    Principal {
        actor: Actor {
            actor_type: ActorType::User,
            id: id.into(),
        },
        issuer: "https://issuer.test".into(),
        project_roles: BTreeMap::from([(project.parse().unwrap(), BTreeSet::from([role]))]),
        platform_roles: BTreeSet::new(),
        ci: CiClaims::default(),
    }
}

fn artifact(channels: &[&str]) -> Artifact {
    serde_json::from_value(serde_json::json!({
        "id": "01900000-0000-7000-8000-000000000001",
        "project": "team-a", "app": "web", "artifact_kind": "oci", "artifact_type": "oci.image",
        "repository": "gpuaas/apps/team-a/web",
        "digest": format!("sha256:{}", "a".repeat(64)),
        "tag": null, "media_type": null,
        "source": {"source_type": "oci_registry", "uri": "oci://x"},
        "lifecycle_state": "published", "trust_state": "verified",
        "channels": channels, "signature_verified": true, "attestations": ["https://slsa.dev/provenance/v1"],
        "created_by": {"type": "user", "id": "alice"},
        "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z", "version": 1
    }))
    .unwrap()
}

#[test]
fn the_entity_slice_holds_the_artifact_with_its_parents_and_replays() {
    let engine = shipped();
    let alice = principal("alice", "team-a", Role::Releaser);
    let art = artifact(&["dev"]);
    let req = PolicyRequest {
        caller: Caller::Principal(&alice),
        action: Action::Promote,
        resource: Resource::Artifact(&art),
        context: RequestContext {
            channel: Some("test".into()),
            previous_channel: Some("dev".into()),
            ..Default::default()
        },
    };
    let decision = engine.decide(&req);
    assert!(decision.allowed, "{decision:?}");
    assert_eq!(decision.policy_ids, vec!["role-releaser".to_owned()]);
    assert_eq!(decision.policy_hash, engine.hash());
    let request = decision.request.to_value();
    assert_eq!(request["principal"], r#"Gatehouse::User::"alice""#);
    assert_eq!(request["action"], r#"Gatehouse::Action::"promote""#);
    assert_eq!(
        request["resource"],
        r#"Gatehouse::Artifact::"01900000-0000-7000-8000-000000000001""#
    );
    assert_eq!(
        request["context"],
        serde_json::json!({"channel": "test", "previous_channel": "dev"})
    );

    let entities_json = decision.entities.to_value();
    let entities = entities_json.as_array().unwrap();
    let find = |ty: &str| {
        entities
            .iter()
            .find(|e| e["uid"]["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty}"))
    };
    let parents = &find("Gatehouse::Artifact")["parents"];
    assert_eq!(
        parents,
        &serde_json::json!([
            {"type": "Gatehouse::Repository", "id": "gpuaas/apps/team-a/web"},
            {"type": "Gatehouse::Project", "id": "team-a"}
        ])
    );
    assert_eq!(
        find("Gatehouse::Repository")["parents"],
        serde_json::json!([{"type": "Gatehouse::Project", "id": "team-a"}])
    );
    assert_eq!(find("Gatehouse::Project")["attrs"]["slug"], "team-a");
    assert_eq!(
        find("Gatehouse::User")["attrs"]["releaser_of"],
        serde_json::json!([{"__entity": {"type": "Gatehouse::Project", "id": "team-a"}}])
    );
    // One Project entity even though both the role set and the artifact reach it; no store dump.
    assert_eq!(entities.len(), 4);
    // The stored slice is valid Cedar entities-JSON for the schema, so it can be replayed.
    let schema_text = std::fs::read_to_string(schema()).unwrap();
    let (cedar_schema, _) = cedar_policy::Schema::from_cedarschema_str(&schema_text).unwrap();
    cedar_policy::Entities::from_json_str(decision.entities.get(), Some(&cedar_schema)).unwrap();
}

#[test]
fn a_forbid_that_errors_makes_the_decision_deny() {
    // Integer overflow passes strict validation but errors at evaluation; Cedar alone would
    // skip this forbid and allow.
    let overflow = "@id(\"overflow\")\n@reason(\"never\")\nforbid (principal, action == Gatehouse::Action::\"read\", resource)\nwhen { context has runtime_class && 9223372036854775807 + 1 > 0 };\n";
    let (_dir, engine) = load_dir(&[("a.cedar", GOOD), ("b.cedar", overflow)]);
    let engine = engine.unwrap();
    let vera = principal("vera", "team-a", Role::Viewer);
    let art = artifact(&[]);
    let mut req = PolicyRequest {
        caller: Caller::Principal(&vera),
        action: Action::Read,
        resource: Resource::Artifact(&art),
        context: RequestContext::default(),
    };
    assert!(
        engine.decide(&req).allowed,
        "without the erroring branch the permit decides"
    );
    req.context.runtime_class = Some("k8s-gpu".into());
    let decision = engine.decide(&req);
    assert!(!decision.allowed);
    assert_eq!(decision.policy_ids, vec!["overflow".to_owned()]);
    assert_eq!(decision.errors.len(), 1);
    assert!(
        decision.errors[0].starts_with("policy `overflow` errored: "),
        "{:?}",
        decision.errors
    );
}

#[test]
fn a_request_that_cannot_be_built_is_denied_not_panicked() {
    let engine = shipped();
    let art = artifact(&[]);
    // The schema gives the registry only `notify` on repositories.
    let req = PolicyRequest {
        caller: Caller::Registry { name: "registry" },
        action: Action::Read,
        resource: Resource::Artifact(&art),
        context: RequestContext::default(),
    };
    let decision = engine.decide(&req);
    assert!(!decision.allowed);
    assert!(!decision.errors.is_empty());
    assert_eq!(
        decision.request.to_value()["principal"],
        r#"Gatehouse::Registry::"registry""#
    );
}

#[test]
fn no_permit_means_deny_with_no_policy_ids() {
    let engine = shipped();
    let vera = principal("vera", "team-b", Role::Admin);
    let art = artifact(&[]);
    let req = PolicyRequest {
        caller: Caller::Principal(&vera),
        action: Action::Read,
        resource: Resource::Artifact(&art),
        context: RequestContext::default(),
    };
    let decision = engine.decide(&req);
    assert!(!decision.allowed && decision.policy_ids.is_empty() && decision.errors.is_empty());
    assert_eq!(
        decision.reasons,
        vec!["no policy permits `read` on this resource".to_owned()]
    );
}

#[test]
fn actions_round_trip_through_their_schema_names() {
    for name in [
        "request_pull_intent",
        "accept_source",
        "manage_policies",
        "notify",
    ] {
        assert_eq!(Action::parse(name).unwrap().as_str(), name);
    }
    assert_eq!(Action::parse("deploy"), None);
}
