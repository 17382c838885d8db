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
}

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
