//! Slicing the policy set by scope: only the policies whose scope can match a request are
//! evaluated, so one policy per project at 10,000 projects costs a decision no more than ten.
//!
//! A policy is indexed once, at load, under the most selective entity its scope names: the
//! resource's `==`/`in` uid, else the principal's, else the action's. At decision time the
//! candidates are the policies indexed under the request's resource, principal or action or
//! one of their ancestors in the parsed entity slice — the same entities Cedar evaluates `in`
//! over — plus every policy whose scope names no entity. A policy left out has a scope that
//! is false for the request, and Cedar never evaluates the condition of such a policy, so it
//! could neither decide nor error: the sliced answer is the full answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityUid, Policy, PolicySet, PrincipalConstraint, ResourceConstraint,
};

/// Which of a slice's policies a [`PolicySet`] is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Part {
    /// Every candidate, dry-run forbids included.
    All,
    /// Without the dry-run (`@mode("warn")`) forbids: what is enforced.
    Enforced,
    /// The permits alone.
    Permits,
}

/// One policy and the facts the parts are selected by.
#[derive(Debug, Clone)]
struct Entry {
    policy: Policy,
    dry_run: bool,
    permit: bool,
}

/// Where a policy's scope points it to.
enum Key {
    Resource(EntityUid),
    Principal(EntityUid),
    Actions(Vec<EntityUid>),
    Always,
}

/// The policy set indexed by scope, built once per loaded set.
#[derive(Debug, Clone)]
pub(crate) struct ScopeIndex {
    entries: Vec<Entry>,
    /// Positions of the policies whose scope names no entity: always candidates.
    always: Vec<usize>,
    by_resource: HashMap<EntityUid, Vec<usize>>,
    by_principal: HashMap<EntityUid, Vec<usize>>,
    by_action: HashMap<EntityUid, Vec<usize>>,
    /// Off when the set holds something the index does not understand (templates): then every
    /// request gets every policy.
    enabled: bool,
    /// The sets already built, by candidates and part: requests of one kind share their
    /// candidates, and building a `PolicySet` cost more than evaluating it.
    built: Arc<Mutex<BuiltSets>>,
}

/// Policy sets by the candidates and part they were built from.
type BuiltSets = HashMap<(Vec<usize>, Part), Arc<PolicySet>>;

/// How many built sets are kept; past it the memo starts again (bounded memory).
const MAX_BUILT_SETS: usize = 4096;

impl ScopeIndex {
    /// Indexes `policies`; `dry_run` says which ids are dry-run forbids.
    pub(crate) fn new(policies: &PolicySet, dry_run: &dyn Fn(&str) -> bool) -> Self {
        let mut index = Self {
            entries: Vec::new(),
            always: Vec::new(),
            by_resource: HashMap::new(),
            by_principal: HashMap::new(),
            by_action: HashMap::new(),
            // Templates and linked policies are not sliced: the index only reads static scopes.
            enabled: policies.templates().next().is_none(),
            built: Arc::default(),
        };
        for policy in policies.policies() {
            let position = index.entries.len();
            index.enabled &= policy.is_static();
            match key(policy) {
                Key::Resource(uid) => index.by_resource.entry(uid).or_default().push(position),
                Key::Principal(uid) => index.by_principal.entry(uid).or_default().push(position),
                Key::Actions(uids) => {
                    for uid in uids {
                        index.by_action.entry(uid).or_default().push(position);
                    }
                }
                Key::Always => index.always.push(position),
            }
            index.entries.push(Entry {
                policy: policy.clone(),
                dry_run: dry_run(policy.id().as_ref()),
                permit: policy.effect() == Effect::Permit,
            });
        }
        index
    }

    /// The positions of the policies whose scope can match a request, sorted.
    pub(crate) fn candidates(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
    ) -> Vec<usize> {
        if !self.enabled {
            return self.everything();
        }
        let mut found = self.always.clone();
        for (map, uid) in [
            (&self.by_resource, resource),
            (&self.by_principal, principal),
            (&self.by_action, action),
        ] {
            if map.is_empty() {
                continue;
            }
            // `x in y` holds when y is x or one of x's ancestors in the slice Cedar evaluates.
            let ancestors = entities.ancestors(uid).into_iter().flatten();
            for uid in std::iter::once(uid).chain(ancestors) {
                if let Some(positions) = map.get(uid) {
                    found.extend_from_slice(positions);
                }
            }
        }
        found.sort_unstable();
        // An action list may name both an action and its group.
        found.dedup();
        found
    }

    /// The policy set of `part` of the candidates, built once and then shared.
    pub(crate) fn shared_set(&self, candidates: &[usize], part: Part) -> Arc<PolicySet> {
        let key = (candidates.to_vec(), part);
        // A poisoned lock only means another thread panicked between two map operations.
        let lock = || self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = lock().get(&key) {
            return Arc::clone(set);
        }
        let set = Arc::new(self.set(candidates, part));
        let mut built = lock();
        if built.len() >= MAX_BUILT_SETS {
            built.clear();
        }
        built.insert(key, Arc::clone(&set));
        set
    }

    /// The policy set of `part` of the candidates: a few policies, whatever the set's size.
    pub(crate) fn set(&self, candidates: &[usize], part: Part) -> PolicySet {
        let mut set = PolicySet::new();
        for &position in candidates {
            let Some(entry) = self.entries.get(position) else {
                continue;
            };
            let wanted = match part {
                Part::All => true,
                Part::Enforced => !entry.dry_run,
                Part::Permits => entry.permit,
            };
            // Ids are unique in a loaded set, so adding one of its policies cannot clash.
            if wanted {
                let _ = set.add(entry.policy.clone());
            }
        }
        set
    }

    /// Every policy's position: the whole set.
    pub(crate) fn everything(&self) -> Vec<usize> {
        (0..self.entries.len()).collect()
    }
}

/// The most selective entity a policy's scope names; the resource first, since per-project
/// policies name their project there.
fn key(policy: &Policy) -> Key {
    match policy.resource_constraint() {
        ResourceConstraint::Eq(uid) | ResourceConstraint::In(uid) | ResourceConstraint::IsIn(_, uid) => {
            return Key::Resource(uid);
        }
        ResourceConstraint::Any | ResourceConstraint::Is(_) => {}
    }
    match policy.principal_constraint() {
        PrincipalConstraint::Eq(uid) | PrincipalConstraint::In(uid) | PrincipalConstraint::IsIn(_, uid) => {
            return Key::Principal(uid);
        }
        PrincipalConstraint::Any | PrincipalConstraint::Is(_) => {}
    }
    match policy.action_constraint() {
        ActionConstraint::Eq(uid) => Key::Actions(vec![uid]),
        // An empty list matches no action; indexing it nowhere would be right, but keep it
        // simple and conservative: always a candidate.
        ActionConstraint::In(uids) if !uids.is_empty() => Key::Actions(uids),
        ActionConstraint::In(_) | ActionConstraint::Any => Key::Always,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;

    const SET: &str = r#"
        @id("p1-only") permit (principal, action, resource in Gatehouse::Project::"p1");
        @id("p2-only") forbid (principal, action, resource in Gatehouse::Project::"p2");
        @id("artifact-a") forbid (principal, action, resource == Gatehouse::Artifact::"a");
        @id("user-u") permit (principal == Gatehouse::User::"u", action, resource);
        @id("reads") permit (principal, action == Gatehouse::Action::"read", resource);
        @id("everyone") permit (principal, action, resource) when { context has channel };
    "#;

    /// The set under its `@id`s, as the loader names policies.
    fn set() -> PolicySet {
        let mut set = PolicySet::new();
        for policy in PolicySet::from_str(SET).unwrap().policies() {
            let id = cedar_policy::PolicyId::new(policy.annotation("id").unwrap());
            set.add(policy.new_id(id)).unwrap();
        }
        set
    }

    fn ids(index: &ScopeIndex, principal: &str, action: &str, resource: &str) -> Vec<String> {
        let uid = |text: &str| EntityUid::from_str(text).unwrap();
        let entities = Entities::from_json_value(
            serde_json::json!([
                { "uid": { "type": "Gatehouse::Project", "id": "p1" }, "attrs": {}, "parents": [] },
                { "uid": { "type": "Gatehouse::Repository", "id": "r" }, "attrs": {},
                  "parents": [{ "type": "Gatehouse::Project", "id": "p1" }] },
                { "uid": { "type": "Gatehouse::Artifact", "id": "a" }, "attrs": {},
                  "parents": [{ "type": "Gatehouse::Repository", "id": "r" }] },
            ]),
            None,
        )
        .unwrap();
        let candidates = index.candidates(&uid(principal), &uid(action), &uid(resource), &entities);
        let mut ids: Vec<String> = index
            .set(&candidates, Part::All)
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_request_gets_the_policies_naming_its_resource_ancestors_principal_or_action() {
        let index = ScopeIndex::new(&set(), &|_| false);
        // The artifact's project is reached through its repository (the transitive ancestor).
        assert_eq!(
            ids(
                &index,
                r#"Gatehouse::User::"v""#,
                r#"Gatehouse::Action::"promote""#,
                r#"Gatehouse::Artifact::"a""#
            ),
            ["artifact-a", "everyone", "p1-only"]
        );
        assert_eq!(
            ids(
                &index,
                r#"Gatehouse::User::"u""#,
                r#"Gatehouse::Action::"read""#,
                r#"Gatehouse::Project::"p2""#
            ),
            ["everyone", "p2-only", "reads", "user-u"]
        );
    }

    #[test]
    fn the_parts_split_the_slice_into_enforced_and_permits() {
        let index = ScopeIndex::new(&set(), &|id| id == "artifact-a");
        let uid = |text: &str| EntityUid::from_str(text).unwrap();
        let candidates = index.candidates(
            &uid(r#"Gatehouse::User::"v""#),
            &uid(r#"Gatehouse::Action::"promote""#),
            &uid(r#"Gatehouse::Artifact::"a""#),
            &Entities::empty(),
        );
        let part = |part| {
            let mut ids: Vec<String> = index
                .set(&candidates, part)
                .policies()
                .map(|p| p.id().to_string())
                .collect();
            ids.sort();
            ids
        };
        // Without its parents in the slice, the artifact is in no project.
        assert_eq!(part(Part::All), ["artifact-a", "everyone"]);
        assert_eq!(part(Part::Enforced), ["everyone"]);
        assert_eq!(part(Part::Permits), ["everyone"]);
    }
}
