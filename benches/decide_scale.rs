//! Decision latency as the policy set grows to one policy per project: the shipped set plus N
//! per-project policies (N = 10, 1,000, 10,000), decided over the scope slice. Each per-project
//! policy is a permit or a forbid naming its project in the scope, as a security team writes
//! per-project exceptions. Two requests per set: an artifact of a project no extra policy
//! names (team-a), and one of a project that has its own policy (so the slice holds it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gatehouse::domain::{Actor, ActorType, Artifact, CiClaims, Principal, Role};
use gatehouse::policy::{Action, Caller, PolicyEngine, PolicyRequest, RequestContext, Resource};
use serde_json::json;

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn project_slug(i: usize) -> String {
    format!("proj-{i:05}")
}

/// An operator of `projects`.
fn operator(projects: &[String]) -> Principal {
    Principal {
        actor: Actor {
            actor_type: ActorType::User,
            id: "olivia".to_owned(),
        },
        issuer: "https://es.issuer.test".to_owned(),
        project_roles: projects
            .iter()
            .map(|p| (p.parse().unwrap(), BTreeSet::from([Role::Operator])))
            .collect::<BTreeMap<_, _>>(),
        platform_roles: BTreeSet::new(),
        ci: CiClaims::default(),
    }
}

/// A verified image of `project` that has reached dev and test.
fn artifact(project: &str) -> Artifact {
    serde_json::from_value(json!({
        "id": "01900000-0000-7000-8000-000000000001",
        "project": project,
        "app": "trainer",
        "artifact_kind": "oci",
        "artifact_type": "oci.image",
        "repository": format!("gpuaas/apps/{project}/trainer"),
        "digest": format!("sha256:{}", "ab".repeat(32)),
        "tag": "v1",
        "media_type": null,
        "source": { "source_type": "oci_registry", "uri": format!("registry.local/gpuaas/apps/{project}/trainer") },
        "lifecycle_state": "promoted",
        "trust_state": "verified",
        "channels": ["dev", "test"],
        "signature_verified": false,
        "attestations": [],
        "created_by": { "type": "user", "id": "olivia" },
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "version": 3,
    }))
    .unwrap()
}

fn promote<'a>(who: &'a Principal, artifact: &'a Artifact) -> PolicyRequest<'a> {
    PolicyRequest {
        caller: Caller::Principal(who),
        action: Action::Promote,
        resource: Resource::Artifact(artifact),
        context: RequestContext {
            channel: Some("staging".to_owned()),
            previous_channel: Some("test".to_owned()),
            ..RequestContext::default()
        },
    }
}

/// The shipped policies plus `n` per-project policies: even projects get a permit for their
/// release bot, odd ones a forbid freezing staging for unverified artifacts.
fn policy_dir(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut text = String::new();
    for i in 0..n {
        let project = project_slug(i);
        if i % 2 == 0 {
            text.push_str(&format!(
                "@id(\"{project}-release-bot\")\npermit (principal == Gatehouse::ServiceAccount::\"{project}-bot\", \
                 action == Gatehouse::Action::\"promote\", resource in Gatehouse::Project::\"{project}\");\n\n"
            ));
        } else {
            text.push_str(&format!(
                "@id(\"{project}-staging-freeze\")\n@reason(\"{project} is frozen\")\nforbid (principal, \
                 action == Gatehouse::Action::\"promote\", resource in Gatehouse::Project::\"{project}\")\n\
                 when {{ context has channel && context.channel == \"staging\" && resource.trust_state != \"verified\" }};\n\n"
            ));
        }
    }
    std::fs::write(dir.path().join("zz-per-project.cedar"), text).unwrap();
    dir
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_scale");
    for n in [0_usize, 10, 1_000, 10_000] {
        let dir = policy_dir(n);
        let engine = PolicyEngine::load(&repo_path("schemas/gatehouse.cedarschema"), dir.path())
            .unwrap_or_else(|e| panic!("policy set did not load:\n{e}"));
        assert!(engine.policy_ids().len() >= n);
        // A project with its own policy (the last odd one, a forbid that does not match a
        // verified artifact) and one without.
        let named = if n == 0 {
            "team-a".to_owned()
        } else {
            project_slug(n - 1)
        };
        let who = operator(&["team-a".to_owned(), named.clone()]);
        let (unnamed, named) = (artifact("team-a"), artifact(&named));
        for (case, artifact) in [("unnamed_project", &unnamed), ("named_project", &named)] {
            let request = promote(&who, artifact);
            let decision = engine.decide(&request);
            assert!(
                decision.allowed && decision.errors.is_empty(),
                "{n} {case}: {:?}",
                decision.reasons
            );
            group.bench_with_input(BenchmarkId::new(case, n), &request, |b, r| {
                b.iter(|| engine.decide(black_box(r)));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
