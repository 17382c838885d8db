//! Property: for any policy set and any request, the decision over the scope slice is the
//! decision over the whole set — effect, deciding policy ids, reasons, errors and would-deny.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::PolicyEngine;
use super::test_case::shipped_cases;

pub(super) const PROJECTS: usize = 6;
pub(super) const USERS: usize = 3;
pub(super) const CHANNELS: &[&str] = &["dev", "test", "prod"];
const ACTIONS: &[&str] = &["promote", "read", "verify", "admit"];

fn project(i: usize) -> String {
    format!("Gatehouse::Project::\"p{i}\"")
}

fn repository(i: usize) -> String {
    format!("Gatehouse::Repository::\"gpuaas/apps/p{i}/web\"")
}

/// In the form a live artifact's id takes (`fact_key_tests` asks about such artifacts).
fn artifact(i: usize) -> String {
    format!("Gatehouse::Artifact::\"{}\"", uuid::Uuid::from_u128(i as u128))
}

fn user(i: usize) -> String {
    format!("Gatehouse::User::\"u{i}\"")
}

/// One generated policy, rendered with a unique id.
#[derive(Debug, Clone)]
pub(super) struct Generated {
    pub(super) permit: bool,
    pub(super) dry_run: bool,
    pub(super) principal: u8,
    pub(super) principal_uid: usize,
    pub(super) action: u8,
    pub(super) resource: u8,
    pub(super) resource_uid: usize,
    pub(super) condition: u8,
    pub(super) channel: usize,
}

impl Generated {
    /// A forbid of the artifact with `digest`: a policy that reads an attribute no shipped one
    /// does.
    pub(super) fn digest_forbid(digest: &str) -> String {
        format!(
            "@id(\"digest\")\nforbid (principal, action, resource is Gatehouse::Artifact) \
             when {{ resource.digest == \"{digest}\" }};\n"
        )
    }

    fn render(&self, id: usize) -> String {
        let principal = match self.principal % 4 {
            0 => "principal".to_owned(),
            1 => format!("principal == {}", user(self.principal_uid % USERS)),
            2 => "principal is Gatehouse::User".to_owned(),
            _ => format!("principal in {}", user(self.principal_uid % USERS)),
        };
        let project_only = self.resource % 5 == 4 && self.condition % 5 < 2;
        let action = match self.action % 4 {
            // Only `read` applies to a project itself; the validator refuses a scope nothing fits.
            1 if project_only => "action == Gatehouse::Action::\"read\"".to_owned(),
            0 => "action".to_owned(),
            1 => "action == Gatehouse::Action::\"promote\"".to_owned(),
            2 => "action in [Gatehouse::Action::\"promote\", Gatehouse::Action::\"read\"]".to_owned(),
            _ => "action == Gatehouse::Action::\"read\"".to_owned(),
        };
        let n = self.resource_uid % PROJECTS;
        // Conditions on artifact attributes need the resource known to be an artifact.
        let needs_artifact = self.condition % 5 >= 2;
        let resource = match (self.resource % 5, needs_artifact) {
            (0, false) => "resource".to_owned(),
            (0, true) => "resource is Gatehouse::Artifact".to_owned(),
            (1, false) => format!("resource in {}", project(n)),
            (1, true) | (4, true) => format!("resource is Gatehouse::Artifact in {}", project(n)),
            (2, _) => format!("resource == {}", artifact(n)),
            (3, false) => format!("resource in {}", repository(n)),
            (3, true) => format!("resource is Gatehouse::Artifact in {}", repository(n)),
            _ => format!("resource == {}", project(n)),
        };
        let channel = CHANNELS[self.channel % CHANNELS.len()];
        let condition = match self.condition % 5 {
            0 => String::new(),
            1 => format!("when {{ context has channel && context.channel == \"{channel}\" }}"),
            2 => "when { resource.trust_state == \"verified\" }".to_owned(),
            3 => format!("unless {{ resource.channels.contains(\"{channel}\") }}"),
            // Errors when the artifact's project is not in the slice.
            _ => format!("when {{ resource.project.slug == \"p{n}\" }}"),
        };
        let effect = if self.permit { "permit" } else { "forbid" };
        let mode = if self.dry_run && !self.permit {
            "@mode(\"warn\")\n"
        } else {
            ""
        };
        format!("@id(\"g{id}\")\n{mode}{effect} ({principal}, {action}, {resource})\n{condition};\n")
    }
}

pub(super) fn generated() -> impl Strategy<Value = Generated> {
    (
        any::<bool>(),
        prop::bool::weighted(0.3),
        any::<u8>(),
        0..USERS,
        any::<u8>(),
        any::<u8>(),
        0..PROJECTS,
        any::<u8>(),
        0..CHANNELS.len(),
    )
        .prop_map(
            |(
                permit,
                dry_run,
                principal,
                principal_uid,
                action,
                resource,
                resource_uid,
                condition,
                channel,
            )| {
                Generated {
                    permit,
                    dry_run,
                    principal,
                    principal_uid,
                    action,
                    resource,
                    resource_uid,
                    condition,
                    channel,
                }
            },
        )
}

/// A request and the entity slice it is decided over.
#[derive(Debug, Clone)]
struct Asked {
    user: usize,
    action: usize,
    /// `None`: the request is about the project itself (only `read` allows that).
    artifact: Option<usize>,
    project: usize,
    project_in_slice: bool,
    trust_verified: bool,
    reached: Vec<bool>,
    channel: Option<usize>,
    operator_of: Vec<usize>,
}

impl Asked {
    fn stored(&self) -> (Value, Value) {
        let p = self.project % PROJECTS;
        let uid = |text: &str| {
            let (ty, id) = text.rsplit_once("::").unwrap();
            json!({ "type": ty, "id": id.trim_matches('"') })
        };
        let mut entities = vec![json!({
            "uid": uid(&user(self.user)),
            "attrs": {
                "issuer": "https://issuer.test",
                "admin_of": [],
                "operator_of": self.operator_of.iter().map(|i| json!({ "__entity": uid(&project(*i)) })).collect::<Vec<_>>(),
                "releaser_of": [],
                "viewer_of": [],
                "platform_roles": [],
            },
            "parents": [],
        })];
        if self.project_in_slice {
            entities.push(
                json!({ "uid": uid(&project(p)), "attrs": { "slug": format!("p{p}") }, "parents": [] }),
            );
        }
        let mut action = ACTIONS[self.action % ACTIONS.len()];
        let resource = match self.artifact {
            Some(a) => {
                entities.push(json!({
                    "uid": uid(&repository(p)),
                    "attrs": { "path": format!("gpuaas/apps/p{p}/web") },
                    "parents": [uid(&project(p))],
                }));
                let channels: Vec<&str> = CHANNELS
                    .iter()
                    .zip(&self.reached)
                    .filter(|(_, r)| **r)
                    .map(|(c, _)| *c)
                    .collect();
                entities.push(json!({
                    "uid": uid(&artifact(a)),
                    "attrs": {
                        "project": { "__entity": uid(&project(p)) },
                        "app": "web", "kind": "oci", "artifact_type": "oci.image",
                        "source_type": "oci_registry", "repository": format!("gpuaas/apps/p{p}/web"),
                        "digest": "sha256:00", "lifecycle_state": "promoted",
                        "trust_state": if self.trust_verified { "verified" } else { "unverified" },
                        "channels": channels, "signature_verified": false, "attestations": [],
                    },
                    "parents": [uid(&repository(p)), uid(&project(p))],
                }));
                artifact(a)
            }
            None => {
                action = "read";
                project(p)
            }
        };
        let context = match self.channel {
            Some(c) => json!({ "channel": CHANNELS[c] }),
            None => json!({}),
        };
        let request = json!({
            "principal": user(self.user),
            "action": format!("Gatehouse::Action::\"{action}\""),
            "resource": resource,
            "context": context,
        });
        (request, Value::Array(entities))
    }
}

fn asked() -> impl Strategy<Value = Asked> {
    (
        0..USERS,
        0..ACTIONS.len(),
        prop::option::weighted(0.85, 0..PROJECTS),
        0..PROJECTS,
        prop::bool::weighted(0.8),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), CHANNELS.len()),
        prop::option::of(0..CHANNELS.len()),
        prop::collection::vec(0..PROJECTS, 0..3),
    )
        .prop_map(
            |(
                user,
                action,
                artifact,
                project,
                project_in_slice,
                trust_verified,
                reached,
                channel,
                operator_of,
            )| {
                Asked {
                    user,
                    action,
                    artifact,
                    project,
                    project_in_slice,
                    trust_verified,
                    reached,
                    channel,
                    operator_of,
                }
            },
        )
}

/// The shipped policies with `policies`, one of `per_project` per project and `extra`.
pub(super) fn engine(
    policies: &[Generated],
    per_project: &[Generated],
    extra: Option<&str>,
) -> Option<PolicyEngine> {
    let mut text = extra.unwrap_or_default().to_owned();
    for (i, policy) in policies.iter().enumerate() {
        text.push_str(&policy.render(i));
    }
    // One policy per project, the shape slicing is for.
    for (i, policy) in per_project.iter().enumerate() {
        let scoped = Generated {
            resource: 1,
            resource_uid: i,
            ..policy.clone()
        };
        text.push_str(&scoped.render(1000 + i));
    }
    let schema = crate::repo_path("schemas/gatehouse.cedarschema");
    let dir = crate::repo_path("policies");
    // A generated policy the strict validator refuses is not a case; the rest must load.
    PolicyEngine::load_bundle(&schema, &dir, vec![("generated.cedar".to_owned(), text)]).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_sliced_decision_is_the_full_decision(
        policies in prop::collection::vec(generated(), 0..24),
        per_project in prop::collection::vec(generated(), PROJECTS),
        requests in prop::collection::vec(asked(), 1..12),
        dry_run_channel in prop::option::of(0..CHANNELS.len()),
    ) {
        let Some(sliced) = engine(&policies, &per_project, None) else {
            return Err(TestCaseError::reject("the generated set does not validate"));
        };
        let sliced = sliced.with_dry_run_channels(dry_run_channel.map(|c| CHANNELS[c].to_owned()));
        let full = sliced.clone().without_slicing();
        for asked in &requests {
            let (request, entities) = asked.stored();
            let a = serde_json::to_value(sliced.decide_stored(&request, &entities)).unwrap();
            let b = serde_json::to_value(full.decide_stored(&request, &entities)).unwrap();
            prop_assert_eq!(&a, &b, "request {} over {}", request, entities);
            prop_assert_eq!(
                sliced.permits_allow(&request, &entities),
                full.permits_allow(&request, &entities)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// For any policy set (dry-run forbids and channels, erroring conditions included), a live
    /// decision through the verdict cache — kept, then served — is the decision without it.
    #[test]
    fn the_cached_decision_is_the_uncached_decision(
        policies in prop::collection::vec(generated(), 0..24),
        per_project in prop::collection::vec(generated(), PROJECTS),
        dry_run_channel in prop::option::of(0..CHANNELS.len()),
        every in 1_usize..4,
    ) {
        use super::testing::decide_case_noting_cache;
        use super::verdict_cache::CacheUse;
        let Some(uncached) = engine(&policies, &per_project, None) else {
            return Err(TestCaseError::reject("the generated set does not validate"));
        };
        let uncached = uncached.with_dry_run_channels(dry_run_channel.map(|c| CHANNELS[c].to_owned()));
        let cached = uncached.clone().with_decision_cache(1000);
        for case in shipped_cases().iter().step_by(every) {
            let (want, _) = decide_case_noting_cache(&uncached, case).unwrap();
            let want = serde_json::to_value(want).unwrap();
            for _ in 0..2 {
                let (got, _) = decide_case_noting_cache(&cached, case).unwrap();
                prop_assert_eq!(&serde_json::to_value(got).unwrap(), &want, "{}", case.name);
            }
            let (_, used) = decide_case_noting_cache(&cached, case).unwrap();
            prop_assert_eq!(used, CacheUse::Hit, "{}", case.name);
        }
    }
}

/// The generator reaches what the property is about: allows, denies, errors, would-deny and
/// a slice smaller than the set.
#[test]
fn the_generated_cases_cover_allow_deny_error_and_would_deny() {
    let policy = |permit, dry_run, resource, condition| Generated {
        permit,
        dry_run,
        principal: 0,
        principal_uid: 0,
        action: 1,
        resource,
        resource_uid: 0,
        condition,
        channel: 0,
    };
    let engine = engine(
        &[
            policy(true, false, 1, 0),
            policy(false, true, 1, 1),
            policy(false, false, 1, 4),
        ],
        &[],
        None,
    )
    .unwrap();
    let mut asked = Asked {
        user: 0,
        action: 0,
        artifact: Some(0),
        project: 0,
        project_in_slice: true,
        trust_verified: true,
        reached: vec![true, false, false],
        channel: Some(1),
        operator_of: Vec::new(),
    };
    let decide = |asked: &Asked| {
        let (request, entities) = asked.stored();
        engine.decide_stored(&request, &entities)
    };
    // g2 forbids artifacts whose project slug is p0: it matches.
    let denied = decide(&asked);
    assert!(!denied.allowed && denied.policy_ids == ["g2"], "{denied:?}");
    asked.project_in_slice = false;
    let errored = decide(&asked);
    assert!(!errored.allowed && !errored.errors.is_empty(), "{errored:?}");
    assert_eq!(errored.policy_ids, ["g2"]);
    let engine = self::engine(&[policy(true, false, 1, 0), policy(false, true, 1, 1)], &[], None).unwrap();
    asked.channel = Some(0);
    let (request, entities) = asked.stored();
    let warned = engine.decide_stored(&request, &entities);
    assert!(warned.allowed && warned.would_deny == ["g1"], "{warned:?}");
}

/// The shipped policies over their own test corpus decide the same sliced (bare policies, see
/// `slice.rs`) as over the whole set as written — effect, ids, reasons, errors, would-deny —
/// for each case's action and every other action asked of the same caller and resource, with
/// and without a dry-run channel.
#[test]
fn the_shipped_corpus_decides_the_same_sliced_and_whole() {
    use super::request::Action;
    use super::testing::decide_case;

    let shipped = PolicyEngine::load(
        &crate::repo_path("schemas/gatehouse.cedarschema"),
        &crate::repo_path("policies"),
    )
    .unwrap();
    let engines = [
        shipped.clone(),
        shipped.with_dry_run_channels(["prod".to_owned(), "staging".to_owned()]),
    ];
    let (mut decided, mut allowed, mut errored) = (0, 0, 0);
    for mut case in shipped_cases() {
        let actions = std::iter::once(case.action.clone())
            .chain(Action::ALL.iter().map(|a| a.as_str().to_owned()))
            .collect::<Vec<_>>();
        for action in actions {
            case.action = action;
            for sliced in &engines {
                let full = sliced.clone().without_slicing();
                let (Ok(a), Ok(b)) = (decide_case(sliced, &case), decide_case(&full, &case)) else {
                    panic!("case `{}` is unusable", case.name);
                };
                decided += 1;
                allowed += usize::from(a.allowed);
                errored += usize::from(!a.errors.is_empty());
                assert_eq!(
                    serde_json::to_value(&a).unwrap(),
                    serde_json::to_value(&b).unwrap(),
                    "case `{}` as `{}`",
                    case.name,
                    case.action
                );
            }
        }
    }
    // The corpus reaches allows and denies (errors too if any policy can error on it).
    assert!(
        decided > 1000 && allowed > 100 && allowed < decided,
        "{decided} {allowed} {errored}"
    );
}
