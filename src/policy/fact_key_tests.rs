//! The verdict cache keyed by the facts policies read: artifacts alike in those share a verdict,
//! anything a policy can tell apart keeps its own, and every decision equals an uncached one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::slice_props::{CHANNELS, Generated, PROJECTS, USERS, engine as generated_engine, generated};
use super::test_case::{CaseArtifact, build_artifact};
use super::{Action, CacheUse, Caller, Decision, PolicyEngine, PolicyRequest, RequestContext, Resource};
use crate::domain::{Actor, ActorType, Artifact, ArtifactId, CiClaims, Principal, ProjectSlug, Role};

/// A user operating `projects` (`u<user>`, the generated policies' principals).
fn operator(user: usize, projects: &[usize]) -> Principal {
    let roles = projects
        .iter()
        .map(|p| {
            (
                format!("p{p}").parse::<ProjectSlug>().unwrap(),
                BTreeSet::from([Role::Operator]),
            )
        })
        .collect();
    Principal {
        actor: Actor {
            actor_type: ActorType::User,
            id: format!("u{user}"),
        },
        issuer: "https://issuer.test".to_owned(),
        project_roles: roles,
        platform_roles: BTreeSet::new(),
        ci: CiClaims::default(),
    }
}

/// An artifact numbered `n` (its uid is what `slice_props::artifact(n)` names) with `digest`.
fn artifact(n: u128, project: usize, digest: u8, verified: bool, channels: &[&str]) -> Artifact {
    let case: CaseArtifact = serde_json::from_value(json!({
        "project": format!("p{project}"),
        "app": "web",
        "kind": "oci",
        "source_type": "oci_registry",
        "digest": format!("sha256:{}", format!("{digest:02x}").repeat(32)),
        "trust_state": if verified { "verified" } else { "unverified" },
        "lifecycle_state": "published",
        "channels": channels,
    }))
    .unwrap();
    Artifact {
        id: ArtifactId(Uuid::from_u128(n)),
        ..build_artifact(&case).unwrap()
    }
}

fn ask(
    engine: &PolicyEngine,
    who: &Principal,
    action: Action,
    what: &Artifact,
    channel: Option<&str>,
) -> (Decision, CacheUse) {
    engine.decide_noting_cache(&PolicyRequest {
        caller: Caller::Principal(who),
        action,
        resource: Resource::Artifact(what),
        context: RequestContext {
            channel: channel.map(str::to_owned),
            ..RequestContext::default()
        },
    })
}

/// The shipped policies plus `extra`, with and without a verdict cache.
fn engines(extra: &str) -> (PolicyEngine, PolicyEngine) {
    let schema = crate::repo_path("schemas/gatehouse.cedarschema");
    let dir = crate::repo_path("policies");
    let mut files = PolicyEngine::load(&schema, &dir).unwrap().sources().to_vec();
    files.push(("extra.cedar".to_owned(), extra.to_owned()));
    let uncached = PolicyEngine::load_bundle(&schema, &dir, files).unwrap();
    (uncached.clone().with_decision_cache(100), uncached)
}

fn json_of(decision: &Decision) -> Value {
    serde_json::to_value(decision).unwrap()
}

const NOTHING: &str = "";

#[test]
fn artifacts_alike_in_what_policies_read_share_one_verdict() {
    let (cached, uncached) = engines(NOTHING);
    let who = operator(0, &[1]);
    let first = artifact(1, 1, 0x11, true, &["dev"]);
    let second = artifact(2, 1, 0x22, true, &["dev"]);
    let (decision, used) = ask(&cached, &who, Action::Promote, &first, Some("test"));
    assert_eq!(used, CacheUse::Miss);
    assert!(decision.allowed, "{:?}", decision.reasons);
    let (decision, used) = ask(&cached, &who, Action::Promote, &second, Some("test"));
    assert_eq!(used, CacheUse::Hit, "another id and digest, the same facts read");
    // The record is still the second artifact's own.
    let (want, _) = ask(&uncached, &who, Action::Promote, &second, Some("test"));
    assert_eq!(json_of(&decision), json_of(&want));
    assert!(decision.request.get().contains(&second.id.to_string()));
    assert!(decision.entities.get().contains(second.digest.as_str()));

    // A fact policies read keeps its own verdict: unverified, then another channel.
    let unverified = artifact(3, 1, 0x11, false, &["dev"]);
    assert_eq!(
        ask(&cached, &who, Action::Promote, &unverified, Some("test")).1,
        CacheUse::Miss
    );
    assert_eq!(
        ask(&cached, &who, Action::Promote, &second, Some("staging")).1,
        CacheUse::Miss
    );
    // So does another caller, even one with the same roles.
    assert_eq!(
        ask(
            &cached,
            &operator(1, &[1]),
            Action::Promote,
            &second,
            Some("test")
        )
        .1,
        CacheUse::Miss
    );
}

/// A policy that reads the digest makes it part of the key: no artifact answers for another.
#[test]
fn a_policy_reading_an_unusual_attribute_keeps_artifacts_apart() {
    let digest = format!("sha256:{}", "11".repeat(32));
    let (cached, uncached) = engines(&format!(
        "@id(\"blocked-digest\")\nforbid (principal, action, resource is Gatehouse::Artifact) \
         when {{ resource.digest == \"{digest}\" }};\n"
    ));
    let who = operator(0, &[1]);
    let allowed = artifact(2, 1, 0x22, true, &["dev"]);
    let blocked = artifact(1, 1, 0x11, true, &["dev"]);
    let (decision, used) = ask(&cached, &who, Action::Promote, &allowed, Some("test"));
    assert!(decision.allowed && used == CacheUse::Miss);
    let (decision, used) = ask(&cached, &who, Action::Promote, &blocked, Some("test"));
    assert_eq!(used, CacheUse::Miss);
    assert!(!decision.allowed);
    assert_eq!(decision.policy_ids, ["blocked-digest"]);
    assert_eq!(
        json_of(&decision),
        json_of(&ask(&uncached, &who, Action::Promote, &blocked, Some("test")).0)
    );
}

/// A policy naming an artifact makes every artifact's identity part of its key.
#[test]
fn a_policy_naming_an_artifact_keeps_artifacts_apart() {
    let (cached, _) = engines(&format!(
        "@id(\"one-artifact\")\nforbid (principal, action, resource == Gatehouse::Artifact::\"{}\");\n",
        Uuid::from_u128(1)
    ));
    let who = operator(0, &[1]);
    let named = artifact(1, 1, 0x11, true, &["dev"]);
    let other = artifact(2, 1, 0x11, true, &["dev"]);
    assert!(
        ask(&cached, &who, Action::Promote, &other, Some("test"))
            .0
            .allowed
    );
    let (decision, used) = ask(&cached, &who, Action::Promote, &named, Some("test"));
    assert_eq!(used, CacheUse::Miss);
    assert_eq!(decision.policy_ids, ["one-artifact"]);
    // Keyed by their texts: each artifact is its own entry and hits only itself.
    assert_eq!(
        ask(&cached, &who, Action::Promote, &named, Some("test")).1,
        CacheUse::Hit
    );
}

/// An evaluation error's text may name the artifact: such a verdict is never shared.
#[test]
fn an_erroring_verdict_is_not_shared() {
    let (cached, uncached) = engines(
        "@id(\"errs\")\nforbid (principal, action, resource is Gatehouse::Artifact) \
         when { 9223372036854775807 + 1 > 0 };\n",
    );
    let who = operator(0, &[1]);
    for n in [1, 2, 1] {
        let what = artifact(n, 1, 0x11, true, &["dev"]);
        let (decision, used) = ask(&cached, &who, Action::Promote, &what, Some("test"));
        assert_eq!(used, CacheUse::Bypassed);
        assert!(!decision.allowed && !decision.errors.is_empty());
        assert_eq!(
            json_of(&decision),
            json_of(&ask(&uncached, &who, Action::Promote, &what, Some("test")).0)
        );
    }
}

/// One live request of the property: who asks what about which artifact.
#[derive(Debug, Clone)]
struct Live {
    user: usize,
    operator_of: Vec<usize>,
    action: usize,
    artifact: u128,
    project: usize,
    digest: u8,
    verified: bool,
    reached: Vec<bool>,
    channel: Option<usize>,
}

const LIVE_ACTIONS: [Action; 3] = [Action::Promote, Action::Read, Action::Verify];

fn live() -> impl Strategy<Value = Live> {
    (
        (
            0..USERS,
            prop::collection::vec(0..PROJECTS, 0..3),
            0..LIVE_ACTIONS.len(),
        ),
        (0..4_u128, 0..2_usize, 0..3_u8, any::<bool>()),
        (
            prop::collection::vec(any::<bool>(), CHANNELS.len()),
            prop::option::of(0..CHANNELS.len()),
        ),
    )
        .prop_map(
            |((user, operator_of, action), (artifact, project, digest, verified), (reached, channel))| Live {
                user,
                operator_of,
                action,
                artifact,
                project,
                digest,
                verified,
                reached,
                channel,
            },
        )
}

impl Live {
    fn decide(&self, engine: &PolicyEngine) -> (Decision, CacheUse) {
        let channels: Vec<&str> = CHANNELS
            .iter()
            .zip(&self.reached)
            .filter(|(_, reached)| **reached)
            .map(|(c, _)| *c)
            .collect();
        let what = artifact(self.artifact, self.project, self.digest, self.verified, &channels);
        let who = operator(self.user, &self.operator_of);
        ask(
            engine,
            &who,
            LIVE_ACTIONS[self.action],
            &what,
            self.channel.map(|c| CHANNELS[c]),
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any policy set (some name artifacts, some read the digest, some error), live
    /// decisions asked in any order through the verdict cache are each exactly the decision
    /// without it. The requests are a few sets of facts, each asked about several artifacts
    /// and digests, so that keys collide whenever the cache would let them.
    #[test]
    fn a_decision_through_the_fact_keyed_cache_is_the_uncached_decision(
        policies in prop::collection::vec(generated(), 0..16),
        per_project in prop::collection::vec(generated(), PROJECTS),
        digest_policy in prop::option::of(0..3_u8),
        bases in prop::collection::vec(live(), 3),
        requests in prop::collection::vec((0..3_usize, 0..4_u128, 0..3_u8), 1..32),
    ) {
        let extra = digest_policy.map(|d| Generated::digest_forbid(&format!("sha256:{}", format!("{d:02x}").repeat(32))));
        let Some(uncached) = generated_engine(&policies, &per_project, extra.as_deref()) else {
            return Err(TestCaseError::reject("the generated set does not validate"));
        };
        let cached = uncached.clone().with_decision_cache(1000);
        for (base, artifact, digest) in requests {
            let asked = Live { artifact, digest, ..bases[base].clone() };
            let (want, _) = asked.decide(&uncached);
            let (got, _) = asked.decide(&cached);
            prop_assert_eq!(json_of(&got), json_of(&want), "{:?}", asked);
        }
    }
}

/// The property's generator reaches sharing: with a set that reads nothing unusual, a second
/// artifact alike in facts is a hit.
#[test]
fn the_generated_requests_share_verdicts_across_artifacts() {
    let permit = Generated {
        permit: true,
        dry_run: false,
        principal: 0,
        principal_uid: 0,
        action: 0,
        resource: 0,
        resource_uid: 0,
        condition: 0,
        channel: 0,
    };
    let engine = generated_engine(&[permit], &[], None)
        .unwrap()
        .with_decision_cache(100);
    let ask_about = |artifact| Live {
        user: 0,
        operator_of: vec![0],
        action: 0,
        artifact,
        project: 0,
        digest: artifact as u8,
        verified: true,
        reached: vec![true, false, false],
        channel: Some(1),
    };
    assert_eq!(ask_about(0).decide(&engine).1, CacheUse::Miss);
    assert_eq!(ask_about(1).decide(&engine).1, CacheUse::Hit);
}
