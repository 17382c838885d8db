//! Cedar entities of the slice's projects and repositories, built once per content.
//!
//! Building a Cedar `Entity` evaluates each attribute's expression; a project's or repository's
//! facts are the same for every artifact in it, so each is built once and then cloned. The key
//! is the uid and the comparison is of every fact the entity is built from (attributes and
//! parents), so a changed fact — a new trusted builder, another visibility — builds it afresh.
//! Artifacts and callers are built per decision: their facts change from one request to the next.

use std::collections::HashMap;
use std::sync::RwLock;

use cedar_policy::Entity;

use super::entities::{SliceEntity, Uid};

/// The entity types whose entities are kept.
const KEPT_TYPES: [&str; 2] = ["Project", "Repository"];

/// At most this many entities are kept; past it the map starts again (bounded memory).
const MAX_ENTRIES: usize = 4096;

/// Built entities by uid, each with the facts it was built from.
#[derive(Debug, Default)]
pub(crate) struct EntityCache {
    built: RwLock<HashMap<Uid, (SliceEntity, Entity), foldhash::fast::RandomState>>,
}

impl EntityCache {
    /// The entity `uid` with `facts`: a clone of the one built from the same facts, or
    /// `build()`'s (kept when it succeeds and `uid` is of a kept type).
    pub(crate) fn entity(
        &self,
        uid: &Uid,
        facts: &SliceEntity,
        build: impl FnOnce() -> Result<Entity, String>,
    ) -> Result<Entity, String> {
        if !KEPT_TYPES.contains(&uid.ty) {
            return build();
        }
        {
            // A poisoned lock only means another thread panicked between two map operations.
            let built = self.built.read().unwrap_or_else(|e| e.into_inner());
            if let Some((kept, entity)) = built.get(uid)
                && kept == facts
            {
                return Ok(entity.clone());
            }
        }
        let entity = build()?;
        let mut built = self.built.write().unwrap_or_else(|e| e.into_inner());
        if built.len() >= MAX_ENTRIES {
            built.clear();
        }
        built.insert(uid.clone(), (facts.clone(), entity.clone()));
        Ok(entity)
    }

    /// How many entities are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.built.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::{BTreeMap, BTreeSet};

    use crate::domain::{
        Actor, ActorType, CiClaims, Principal, ProjectSlug, ProvenanceTrust, RepositoryPath, Scope,
    };
    use crate::policy::{Action, Caller, PolicyEngine, PolicyRequest, RequestContext, Resource};

    const POLICIES: &str = "@id(\"trusts-b\")\npermit (principal, action == Gatehouse::Action::\"read\", \
                            resource is Gatehouse::Project)\nwhen { resource has trusted_builders && \
                            resource.trusted_builders.contains(\"b\") };\n\
                            @id(\"platform-repository\")\npermit (principal, \
                            action == Gatehouse::Action::\"request_publish_intent\", resource is \
                            Gatehouse::Repository)\nwhen { resource has visibility && resource.visibility == \"platform\" };\n";

    fn user() -> Principal {
        Principal {
            actor: Actor {
                actor_type: ActorType::User,
                id: "olivia".to_owned(),
            },
            issuer: "https://issuer.test".to_owned(),
            project_roles: BTreeMap::new(),
            platform_roles: BTreeSet::new(),
            ci: CiClaims::default(),
        }
    }

    fn ask(engine: &PolicyEngine, action: Action, resource: Resource<'_>, trust: &ProvenanceTrust) -> bool {
        let user = user();
        let request = PolicyRequest {
            caller: Caller::Principal(&user),
            action,
            resource,
            context: RequestContext::default(),
        };
        let (decision, _) = engine.decide_with(&request, trust);
        assert!(decision.errors.is_empty(), "{decision:?}");
        decision.allowed
    }

    /// The same project and repository with other facts are built afresh, on the same engine
    /// and its clones, and decided by the facts of the request.
    #[test]
    fn a_kept_entity_is_rebuilt_when_its_facts_change() {
        let engine = PolicyEngine::load_bundle(
            &crate::repo_path("schemas/gatehouse.cedarschema"),
            &crate::repo_path("policies"),
            vec![("kept.cedar".to_owned(), POLICIES.to_owned())],
        )
        .unwrap()
        .with_decision_cache(0);
        let project: ProjectSlug = "team-a".parse().unwrap();
        let trusting = |builders: &[&str]| ProvenanceTrust {
            builders: builders.iter().map(|b| (*b).to_owned()).collect(),
            projects: BTreeMap::new(),
        };
        let (b, c) = (trusting(&["b"]), trusting(&["c"]));
        for (trust, allowed) in [(&b, true), (&c, false), (&b, true), (&c, false)] {
            let engine = engine.clone();
            assert_eq!(
                ask(&engine, Action::Read, Resource::Project(&project), trust),
                allowed
            );
        }

        let path: RepositoryPath = "gpuaas/apps/team-a/trainer".parse().unwrap();
        let publish = |scope: &Scope| {
            let resource = Resource::Repository {
                project: &project,
                path: &path,
                scope,
            };
            ask(&engine, Action::RequestPublishIntent, resource, &b)
        };
        for (scope, allowed) in [
            (Scope::Platform, true),
            (Scope::Project, false),
            (Scope::Platform, true),
        ] {
            assert_eq!(publish(&scope), allowed, "{scope:?}");
        }
        // One project and one repository, each kept once whatever its facts were.
        assert_eq!(engine.entity_cache().len(), 2);
    }
}
