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
//!
//! The candidates are then narrowed to the policies whose scope holds for the request, checked
//! here the way Cedar evaluates it (`==`, `in` over the same entities' ancestors, `is`), and
//! each is evaluated in a *bare* form: the same id, effect, annotations and conditions with the
//! scope `principal, action, resource`. A scope that holds is a `true` conjunct ahead of the
//! conditions, so removing it changes neither the decision, the determining policies nor the
//! errors; a policy whose scope fails was never going to decide or error, so leaving it out is
//! what slicing already does. What it saves is Cedar building and evaluating the scope per
//! policy per request (an `action in [...]` literal builds two sets each time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityTypeName, EntityUid, Policy, PolicySet, PrincipalConstraint,
    ResourceConstraint,
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
    /// The policy with the scope `principal, action, resource` (see the module comment), or
    /// the policy itself when it has no JSON form to rewrite.
    bare: Policy,
    /// The policy's scope, read once: the public accessors convert it on every call.
    scope: Scope,
    dry_run: bool,
    permit: bool,
}

/// A policy's scope constraints.
#[derive(Debug, Clone)]
struct Scope {
    principal: PrincipalConstraint,
    action: ActionConstraint,
    resource: ResourceConstraint,
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

/// Policy sets by the candidates and part they were built from, and whether of the bare
/// policies (`true`) or the policies as written.
type BuiltSets = HashMap<(Vec<usize>, Part, bool), Arc<PolicySet>>;

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
                bare: bare(policy).unwrap_or_else(|| policy.clone()),
                scope: Scope {
                    principal: policy.principal_constraint(),
                    action: policy.action_constraint(),
                    resource: policy.resource_constraint(),
                },
                policy: policy.clone(),
                dry_run: dry_run(policy.id().as_ref()),
                permit: policy.effect() == Effect::Permit,
            });
        }
        index
    }

    /// The positions of the policies whose scope holds for a request, sorted; `None` when the
    /// index is off (then every policy, as written, applies).
    pub(crate) fn candidates(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
    ) -> Option<Vec<usize>> {
        if !self.enabled {
            return None;
        }
        // Each uid with its ancestors in the slice Cedar evaluates, looked up once per request.
        let (principal, action, resource) = (
            Lineage::of(principal, entities),
            Lineage::of(action, entities),
            Lineage::of(resource, entities),
        );
        let mut found = self.always.clone();
        for (map, lineage) in [
            (&self.by_resource, &resource),
            (&self.by_principal, &principal),
            (&self.by_action, &action),
        ] {
            // `x in y` holds when y is x or one of x's ancestors.
            for uid in &lineage.0 {
                if let Some(positions) = map.get(*uid) {
                    found.extend_from_slice(positions);
                }
            }
        }
        found.sort_unstable();
        // An action list may name both an action and its group.
        found.dedup();
        // Only the policies whose scope holds: the sets built from these are of bare policies.
        found.retain(|&position| {
            self.entries
                .get(position)
                .is_some_and(|entry| entry.scope.holds(&principal, &action, &resource))
        });
        Some(found)
    }

    /// The policy set of `part` of `candidates` (from [`Self::candidates`]: their scopes hold),
    /// of their bare forms, built once and then shared.
    pub(crate) fn shared_set(&self, candidates: &[usize], part: Part) -> Arc<PolicySet> {
        self.memo((candidates.to_vec(), part, true))
    }

    /// The policy set of `part` of every policy, as written, built once and then shared.
    pub(crate) fn whole_set(&self, part: Part) -> Arc<PolicySet> {
        self.memo((self.everything(), part, false))
    }

    fn memo(&self, key: (Vec<usize>, Part, bool)) -> Arc<PolicySet> {
        // A poisoned lock only means another thread panicked between two map operations.
        let lock = || self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = lock().get(&key) {
            return Arc::clone(set);
        }
        let set = Arc::new(self.set(&key.0, key.1, key.2));
        let mut built = lock();
        if built.len() >= MAX_BUILT_SETS {
            built.clear();
        }
        built.insert(key, Arc::clone(&set));
        set
    }

    /// The policy set of `part` of `positions`: a few policies, whatever the set's size; their
    /// bare forms when `bare` (only for positions whose scope holds for the request).
    fn set(&self, positions: &[usize], part: Part, bare: bool) -> PolicySet {
        let mut set = PolicySet::new();
        for &position in positions {
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
                let _ = set.add(if bare { &entry.bare } else { &entry.policy }.clone());
            }
        }
        set
    }

    /// Every policy's position: the whole set.
    fn everything(&self) -> Vec<usize> {
        (0..self.entries.len()).collect()
    }
}

/// A request's uid followed by its ancestors in the request's entities (parents and the
/// transitive rest, as Cedar's `in` reads them); just the uid when it is not an entity there.
struct Lineage<'e>(Vec<&'e EntityUid>);

impl<'e> Lineage<'e> {
    fn of(uid: &'e EntityUid, entities: &'e Entities) -> Self {
        Self(
            std::iter::once(uid)
                .chain(entities.ancestors(uid).into_iter().flatten())
                .collect(),
        )
    }

    fn uid(&self) -> Option<&EntityUid> {
        self.0.first().copied()
    }

    /// Cedar's `uid in of`: `of` is the uid or one of its ancestors.
    fn within(&self, of: &EntityUid) -> bool {
        self.0.contains(&of)
    }

    fn is(&self, ty: &EntityTypeName) -> bool {
        self.uid().is_some_and(|uid| uid.type_name() == ty)
    }

    fn equals(&self, other: &EntityUid) -> bool {
        self.uid().is_some_and(|uid| uid == other)
    }
}

impl Scope {
    /// Whether the scope holds for the request, as Cedar evaluates it over the same entities.
    fn holds(&self, principal: &Lineage<'_>, action: &Lineage<'_>, resource: &Lineage<'_>) -> bool {
        let principal_holds = match &self.principal {
            PrincipalConstraint::Any => true,
            PrincipalConstraint::Eq(uid) => principal.equals(uid),
            PrincipalConstraint::In(uid) => principal.within(uid),
            PrincipalConstraint::Is(ty) => principal.is(ty),
            PrincipalConstraint::IsIn(ty, uid) => principal.is(ty) && principal.within(uid),
        };
        let action_holds = || match &self.action {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => action.equals(uid),
            ActionConstraint::In(uids) => uids.iter().any(|uid| action.within(uid)),
        };
        let resource_holds = || match &self.resource {
            ResourceConstraint::Any => true,
            ResourceConstraint::Eq(uid) => resource.equals(uid),
            ResourceConstraint::In(uid) => resource.within(uid),
            ResourceConstraint::Is(ty) => resource.is(ty),
            ResourceConstraint::IsIn(ty, uid) => resource.is(ty) && resource.within(uid),
        };
        principal_holds && action_holds() && resource_holds()
    }
}

/// `policy` with the scope `principal, action, resource`, through its JSON (EST) form: the same
/// id, effect, annotations and conditions. `None` if that form cannot be written or read back.
fn bare(policy: &Policy) -> Option<Policy> {
    let mut json = policy.to_json().ok()?;
    let fields = json.as_object_mut()?;
    for part in ["principal", "action", "resource"] {
        let constraint = fields.get_mut(part)?;
        *constraint = serde_json::json!({ "op": "All" });
    }
    Policy::from_json(Some(policy.id().clone()), json).ok()
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
        let candidates = index
            .candidates(&uid(principal), &uid(action), &uid(resource), &entities)
            .unwrap();
        let mut ids: Vec<String> = index
            .shared_set(&candidates, Part::All)
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
        let candidates = index
            .candidates(
                &uid(r#"Gatehouse::User::"v""#),
                &uid(r#"Gatehouse::Action::"promote""#),
                &uid(r#"Gatehouse::Artifact::"a""#),
                &Entities::empty(),
            )
            .unwrap();
        let part = |part| {
            let mut ids: Vec<String> = index
                .shared_set(&candidates, part)
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

    /// Policies with every kind of scope and no condition: Cedar allows each exactly when its
    /// scope holds.
    const SCOPES: &str = r#"
        @id("s0") permit (principal, action, resource);
        @id("s1") permit (principal == Gatehouse::User::"u", action, resource);
        @id("s2") permit (principal in Gatehouse::Group::"g", action, resource);
        @id("s3") permit (principal is Gatehouse::User, action, resource);
        @id("s4") permit (principal is Gatehouse::User in Gatehouse::Group::"g", action, resource);
        @id("s5") permit (principal, action == Gatehouse::Action::"promote", resource);
        @id("s6") permit (principal, action in [Gatehouse::Action::"read", Gatehouse::Action::"promote"], resource);
        @id("s7") permit (principal, action in Gatehouse::Action::"writes", resource);
        @id("s8") permit (principal, action in [], resource);
        @id("s9") permit (principal, action, resource == Gatehouse::Artifact::"a");
        @id("s10") permit (principal, action, resource in Gatehouse::Project::"p1");
        @id("s11") permit (principal, action, resource is Gatehouse::Project);
        @id("s12") permit (principal, action, resource is Gatehouse::Artifact in Gatehouse::Project::"p1");
        @id("s13") @reason("kept") permit (
            principal in Gatehouse::User::"u",
            action in [Gatehouse::Action::"writes", Gatehouse::Action::"read"],
            resource in Gatehouse::Repository::"r"
        );
        @id("s14") permit (principal, action in Gatehouse::Action::"admit", resource is Gatehouse::Artifact);
    "#;

    /// Entities with a group, a project tree and an action group (`writes` over `promote`
    /// and `verify`); `w`, `b` and `admit` are left out on purpose.
    fn scope_entities() -> Entities {
        let e = |ty: &str, id: &str, parents: &[(&str, &str)]| {
            let parents: Vec<_> = parents
                .iter()
                .map(|(ty, id)| serde_json::json!({ "type": format!("Gatehouse::{ty}"), "id": id }))
                .collect();
            serde_json::json!({
                "uid": { "type": format!("Gatehouse::{ty}"), "id": id }, "attrs": {}, "parents": parents,
            })
        };
        Entities::from_json_value(
            serde_json::json!([
                e("Group", "g", &[]),
                e("User", "u", &[("Group", "g")]),
                e("User", "v", &[]),
                e("Project", "p1", &[]),
                e("Project", "p2", &[]),
                e("Repository", "r", &[("Project", "p1")]),
                e("Artifact", "a", &[("Repository", "r")]),
                e("Action", "writes", &[]),
                e("Action", "promote", &[("Action", "writes")]),
                e("Action", "verify", &[("Action", "writes")]),
                e("Action", "read", &[]),
            ]),
            None,
        )
        .unwrap()
    }

    /// Every (principal, action, resource) over [`scope_entities`], present or not.
    fn scope_requests() -> Vec<(EntityUid, EntityUid, EntityUid)> {
        let uid = |ty: &str, id: &str| EntityUid::from_str(&format!("Gatehouse::{ty}::\"{id}\"")).unwrap();
        let principals = [
            uid("User", "u"),
            uid("User", "v"),
            uid("User", "w"),
            uid("Group", "g"),
        ];
        let actions = ["promote", "read", "verify", "writes", "admit"].map(|a| uid("Action", a));
        let resources = [
            uid("Artifact", "a"),
            uid("Artifact", "b"),
            uid("Repository", "r"),
            uid("Project", "p1"),
            uid("Project", "p2"),
        ];
        let mut requests = Vec::new();
        for p in &principals {
            for a in &actions {
                for r in &resources {
                    requests.push((p.clone(), a.clone(), r.clone()));
                }
            }
        }
        requests
    }

    fn scope_set() -> PolicySet {
        let mut set = PolicySet::new();
        for policy in PolicySet::from_str(SCOPES).unwrap().policies() {
            let id = cedar_policy::PolicyId::new(policy.annotation("id").unwrap());
            set.add(policy.new_id(id)).unwrap();
        }
        set
    }

    #[test]
    fn the_candidates_are_exactly_the_policies_cedar_finds_in_scope() {
        let set = scope_set();
        let index = ScopeIndex::new(&set, &|_| false);
        let entities = scope_entities();
        let authorizer = cedar_policy::Authorizer::new();
        for (principal, action, resource) in scope_requests() {
            let request = cedar_policy::Request::new(
                principal.clone(),
                action.clone(),
                resource.clone(),
                cedar_policy::Context::empty(),
                None,
            )
            .unwrap();
            let response = authorizer.is_authorized(&request, &set, &entities);
            let mut cedar: Vec<String> = response.diagnostics().reason().map(ToString::to_string).collect();
            cedar.sort();
            let candidates = index
                .candidates(&principal, &action, &resource, &entities)
                .unwrap();
            let mut ours: Vec<String> = candidates
                .iter()
                .map(|&position| index.entries[position].policy.id().to_string())
                .collect();
            ours.sort();
            assert_eq!(ours, cedar, "{principal} {action} {resource}");
            // Over the bare forms of the candidates Cedar decides the same, by the same ids.
            let bare = index.shared_set(&candidates, Part::All);
            let again = authorizer.is_authorized(&request, &bare, &entities);
            let mut ids: Vec<String> = again.diagnostics().reason().map(ToString::to_string).collect();
            ids.sort();
            assert_eq!(ids, cedar, "{principal} {action} {resource}");
            assert_eq!(again.decision(), response.decision());
        }
    }

    #[test]
    fn a_bare_policy_keeps_its_id_effect_annotations_and_condition_without_its_scope() {
        let set = PolicySet::from_str(
            r#"
            @id("f") @reason("no") @mode("warn")
            forbid (principal in Gatehouse::User::"u", action in [Gatehouse::Action::"read"], resource is Gatehouse::Artifact)
            when { context has channel } unless { context.channel == "dev" };
            "#,
        )
        .unwrap();
        let policy = set.policies().next().unwrap();
        let bare = bare(policy).unwrap();
        assert_eq!(bare.id(), policy.id());
        assert_eq!(bare.effect(), Effect::Forbid);
        assert_eq!(bare.principal_constraint(), PrincipalConstraint::Any);
        assert_eq!(bare.action_constraint(), ActionConstraint::Any);
        assert_eq!(bare.resource_constraint(), ResourceConstraint::Any);
        let annotations = |p: &Policy| {
            p.annotations()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(annotations(&bare), annotations(policy));
        let conditions = |p: &Policy| {
            let mut json = p.to_json().unwrap();
            json.as_object_mut().unwrap().remove("conditions").unwrap()
        };
        assert_eq!(conditions(&bare), conditions(policy));
    }
}
