//! `PolicyEngine::decide` for a promote request: the shipped policy set (allow, forbid-deny and
//! no-permit-deny), then the same request against sets grown by N extra per-project permits.
//! Each measured call builds the entity slice, parses it against the schema and evaluates it;
//! policies are loaded and validated once, outside the measured loop, without the verdict cache
//! (`decide_promote_cached` is the same requests served from it). A last group times the
//! Cedar steps inside one `decide` on their own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet, Request, Schema,
};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use gatehouse::domain::{Actor, ActorType, Artifact, CiClaims, Principal, Role};
use gatehouse::policy::{
    Action, CacheUse, Caller, DEFAULT_DECISION_CACHE_ENTRIES, PolicyEngine, PolicyRequest, RequestContext,
    Resource,
};
use serde_json::json;

fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn user(id: &str, project: &str, role: Role) -> Principal {
    Principal {
        actor: Actor {
            actor_type: ActorType::User,
            id: id.to_owned(),
        },
        issuer: "https://es.issuer.test".to_owned(),
        project_roles: BTreeMap::from([(project.parse().unwrap(), BTreeSet::from([role]))]),
        platform_roles: BTreeSet::new(),
        ci: CiClaims::default(),
    }
}

/// A verified team-a image that has reached dev, test and staging.
fn artifact() -> Artifact {
    serde_json::from_value(json!({
        "id": "01900000-0000-7000-8000-000000000001",
        "project": "team-a",
        "app": "trainer",
        "artifact_kind": "oci",
        "artifact_type": "oci.image",
        "repository": "gpuaas/apps/team-a/trainer",
        "digest": format!("sha256:{}", "ab".repeat(32)),
        "tag": "v1",
        "media_type": null,
        "source": { "source_type": "oci_registry", "uri": "registry.local/gpuaas/apps/team-a/trainer" },
        "lifecycle_state": "promoted",
        "trust_state": "verified",
        "channels": ["dev", "test", "staging"],
        "signature_verified": false,
        "attestations": [],
        "created_by": { "type": "user", "id": "olivia" },
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "version": 4,
    }))
    .unwrap()
}

fn promote<'a>(
    who: &'a Principal,
    artifact: &'a Artifact,
    channel: &str,
    previous: &str,
) -> PolicyRequest<'a> {
    PolicyRequest {
        caller: Caller::Principal(who),
        action: Action::Promote,
        resource: Resource::Artifact(artifact),
        context: RequestContext {
            channel: Some(channel.to_owned()),
            previous_channel: Some(previous.to_owned()),
            ..RequestContext::default()
        },
    }
}

/// A copy of the shipped `policies/*.cedar` plus `extra` per-project permits that never match
/// team-a, so decisions stay the same while the set grows.
fn grown_policy_dir(extra: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut text = String::new();
    for i in 0..extra {
        text.push_str(&format!(
            "@id(\"bench-project-p{i}\")\npermit (principal, action == Gatehouse::Action::\"promote\", \
             resource in Gatehouse::Project::\"p{i}\");\n\n"
        ));
    }
    std::fs::write(dir.path().join("zz-bench-extra.cedar"), text).unwrap();
    dir
}

/// Loaded without a verdict cache (a loaded set keeps none until configured; explicit here): every
/// measured call is evaluated, the cost of a decision the cache has not seen.
fn load(policy_dir: &Path) -> PolicyEngine {
    PolicyEngine::load(&repo_path("schemas/gatehouse.cedarschema"), policy_dir)
        .unwrap_or_else(|e| panic!("policy set did not load:\n{e}"))
        .with_decision_cache(0)
}

fn shipped(c: &mut Criterion) {
    let engine = load(&repo_path("policies"));
    promotions(c, "decide_promote", &engine, |name, request, allowed| {
        let decision = engine.decide(request);
        assert_eq!(decision.allowed, allowed, "{name}: {:?}", decision.reasons);
        assert!(decision.errors.is_empty(), "{name}: {:?}", decision.errors);
    });
}

/// The same three requests with the gateway's verdict cache (`policy_decision_cache_entries`,
/// default 10,000): after the first call each is a hit, so this is a repeated question's cost —
/// building the slice and writing its JSON, looking it up, no Cedar. `decide_promote` above is
/// the uncached cost.
fn shipped_cached(c: &mut Criterion) {
    let engine = load(&repo_path("policies")).with_decision_cache(DEFAULT_DECISION_CACHE_ENTRIES);
    promotions(c, "decide_promote_cached", &engine, |name, request, _| {
        let (_, first) = engine.decide_noting_cache(request);
        let (_, again) = engine.decide_noting_cache(request);
        assert_eq!((first, again), (CacheUse::Miss, CacheUse::Hit), "{name}");
    });
}

/// Benchmarks `engine` over the three promotions (an allow, a forbid's deny, no permit's deny)
/// as `group`, after `check(name, request, allowed)` saw each answer as expected.
fn promotions(
    c: &mut Criterion,
    group: &str,
    engine: &PolicyEngine,
    check: impl Fn(&str, &PolicyRequest<'_>, bool),
) {
    let (operator, outsider) = (
        user("olivia", "team-a", Role::Operator),
        user("mallory", "team-b", Role::Admin),
    );
    let artifact = artifact();
    let cases = [
        (
            "allow_operator_to_staging",
            promote(&operator, &artifact, "staging", "test"),
            true,
        ),
        (
            "deny_forbid_operator_to_prod",
            promote(&operator, &artifact, "prod", "staging"),
            false,
        ),
        (
            "deny_no_permit_outsider",
            promote(&outsider, &artifact, "staging", "test"),
            false,
        ),
    ];
    let mut group = c.benchmark_group(group);
    for (name, request, allowed) in &cases {
        check(name, request, *allowed);
        group.bench_function(*name, |b| b.iter(|| engine.decide(black_box(request))));
    }
    group.finish();
}

fn scaled(c: &mut Criterion) {
    let operator = user("olivia", "team-a", Role::Operator);
    let artifact = artifact();
    let allow = promote(&operator, &artifact, "staging", "test");
    let deny = promote(&operator, &artifact, "prod", "staging");
    let mut group = c.benchmark_group("decide_promote_extra_policies");
    for extra in [10_usize, 100, 1000] {
        let dir = grown_policy_dir(extra);
        let engine = load(dir.path());
        assert!(engine.decide(&allow).allowed && !engine.decide(&deny).allowed);
        group.bench_with_input(BenchmarkId::new("allow", extra), &allow, |b, r| {
            b.iter(|| engine.decide(black_box(r)));
        });
        group.bench_with_input(BenchmarkId::new("deny", extra), &deny, |b, r| {
            b.iter(|| engine.decide(black_box(r)));
        });
    }
    group.finish();
}

/// Where the time of one `decide` goes: the Cedar steps it runs, repeated here on the same
/// inputs (the request and entity slice the engine recorded for the allow case).
fn breakdown(c: &mut Criterion) {
    let engine = load(&repo_path("policies"));
    let operator = user("olivia", "team-a", Role::Operator);
    let artifact = artifact();
    let decision = engine.decide(&promote(&operator, &artifact, "staging", "test"));
    let schema_text = std::fs::read_to_string(repo_path("schemas/gatehouse.cedarschema")).unwrap();
    let (schema, _) = Schema::from_cedarschema_str(&schema_text).unwrap();
    let mut policy_text = String::new();
    for entry in std::fs::read_dir(repo_path("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            policy_text.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    let policies = PolicySet::from_str(&policy_text).unwrap();
    let (request_json, entities_json) = (decision.request.to_value(), decision.entities.to_value());
    let uid = |key: &str| EntityUid::from_str(request_json[key].as_str().unwrap()).unwrap();
    let (principal, action, resource) = (uid("principal"), uid("action"), uid("resource"));
    let context_json = request_json["context"].clone();
    let make_request = || {
        let context = Context::from_json_value(context_json.clone(), Some((&schema, &action))).unwrap();
        Request::new(
            principal.clone(),
            action.clone(),
            resource.clone(),
            context,
            Some(&schema),
        )
        .unwrap()
    };
    let entities = Entities::from_json_value(entities_json.clone(), Some(&schema)).unwrap();
    let (request, authorizer) = (make_request(), Authorizer::new());
    assert_eq!(
        authorizer
            .is_authorized(&request, &policies, &entities)
            .decision(),
        CedarDecision::Allow
    );

    let mut group = c.benchmark_group("decide_breakdown");
    group.bench_function("entities_from_json_with_schema", |b| {
        b.iter_batched(
            || entities_json.clone(),
            |json| Entities::from_json_value(json, Some(&schema)).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("entities_from_json_without_schema", |b| {
        b.iter_batched(
            || entities_json.clone(),
            |json| Entities::from_json_value(json, None).unwrap(),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("context_and_request_with_schema", |b| b.iter(make_request));
    group.bench_function("is_authorized", |b| {
        b.iter(|| authorizer.is_authorized(black_box(&request), &policies, &entities));
    });
    group.finish();
}

criterion_group!(benches, shipped, shipped_cached, scaled, breakdown);
criterion_main!(benches);
