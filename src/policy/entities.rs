//! Builds the Cedar entity slice for one request: the caller, the resource and their parents.
//!
//! The slice is produced as Cedar entities-JSON so that the exact same value is both parsed
//! (against the schema) for evaluation and stored with the decision for later replay.

use std::collections::BTreeMap;
use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use serde_json::{Map, Value, json};

use super::request::{Caller, Resource};
use crate::domain::{
    ActorType, AppFacts, AppVersionFacts, Artifact, Principal, ProjectSlug, ProvenanceTrust, RepositoryPath,
    Role, Scope, TrustState,
};

/// The namespace every Gatehouse entity type lives in.
const NAMESPACE: &str = "Gatehouse";

/// The id of the one `Platform` entity.
pub(crate) const PLATFORM_ID: &str = "platform";

/// A Gatehouse entity uid before it is handed to Cedar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Uid {
    /// Unqualified type name, e.g. `User`.
    pub(crate) ty: &'static str,
    /// The entity id.
    pub(crate) id: String,
}

impl Uid {
    pub(crate) fn new(ty: &'static str, id: impl Into<String>) -> Self {
        Self { ty, id: id.into() }
    }

    fn qualified_type(&self) -> String {
        format!("{NAMESPACE}::{}", self.ty)
    }

    /// The `{type, id}` form used in entities-JSON uids and parents.
    pub(crate) fn json(&self) -> Value {
        json!({ "type": self.qualified_type(), "id": self.id })
    }

    /// The escaped form used inside attribute values, so it can never be read as a record.
    fn entity_ref(&self) -> Value {
        json!({ "__entity": self.json() })
    }

    /// The Cedar uid; fails only if the type name were malformed, which would be our bug.
    pub(crate) fn to_cedar(&self) -> Result<EntityUid, String> {
        let ty = EntityTypeName::from_str(&self.qualified_type())
            .map_err(|e| format!("entity type `{}` is invalid: {e}", self.ty))?;
        Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(&self.id)))
    }
}

/// The caller and resource uids plus every entity the request may touch.
#[derive(Debug, Clone)]
pub(crate) struct EntitySlice<'a> {
    /// The principal of the request.
    pub(crate) principal: Uid,
    /// The resource of the request.
    pub(crate) resource: Uid,
    // Keyed by uid so a Project reached twice (role set and resource parent) appears once.
    entities: BTreeMap<Uid, Value>,
    /// Configured provenance trust: every Project entity carries its part.
    provenance: &'a ProvenanceTrust,
}

impl EntitySlice<'_> {
    /// The slice as a Cedar entities-JSON array, in a stable order.
    pub(crate) fn to_json(&self) -> Value {
        Value::Array(self.entities.values().cloned().collect())
    }

    fn add(&mut self, uid: Uid, attrs: Map<String, Value>, parents: &[Uid]) {
        let parents: Vec<Value> = parents.iter().map(Uid::json).collect();
        let entity = json!({ "uid": uid.json(), "attrs": attrs, "parents": parents });
        self.entities.insert(uid, entity);
    }

    /// A Project, always with the same attributes however it is reached (role set, parent).
    fn add_project(&mut self, slug: &ProjectSlug) -> Uid {
        let uid = project_uid(slug);
        let mut attrs = Map::new();
        attrs.insert("slug".into(), json!(slug.as_str()));
        attrs.insert(
            "trusted_builders".into(),
            json!(self.provenance.builders_for(slug)),
        );
        attrs.insert(
            "source_repositories".into(),
            json!(self.provenance.sources_for(slug)),
        );
        self.add(uid.clone(), attrs, &[]);
        uid
    }
}

fn project_uid(slug: &ProjectSlug) -> Uid {
    Uid::new("Project", slug.as_str())
}

/// Builds the slice for one caller and resource — never a whole store — with the configured
/// provenance trust on its projects.
pub(crate) fn build_slice<'a>(
    caller: &Caller<'_>,
    resource: &Resource<'_>,
    provenance: &'a ProvenanceTrust,
) -> EntitySlice<'a> {
    let (principal, resource_uid) = (caller_uid(caller), resource_uid(resource));
    let mut slice = EntitySlice {
        principal,
        resource: resource_uid,
        entities: BTreeMap::new(),
        provenance,
    };
    add_caller(&mut slice, caller);
    add_resource(&mut slice, resource);
    slice
}

fn caller_uid(caller: &Caller<'_>) -> Uid {
    match caller {
        Caller::Registry { name } => Uid::new("Registry", *name),
        Caller::Principal(p) => match p.actor.actor_type {
            ActorType::User => Uid::new("User", p.actor.id.as_str()),
            ActorType::ServiceAccount => Uid::new("ServiceAccount", p.actor.id.as_str()),
            ActorType::Registry => Uid::new("Registry", p.actor.id.as_str()),
        },
    }
}

fn resource_uid(resource: &Resource<'_>) -> Uid {
    match resource {
        Resource::Artifact(a) => Uid::new("Artifact", a.id.to_string()),
        Resource::Repository { path, .. } => Uid::new("Repository", path.as_str()),
        Resource::Project(slug) => project_uid(slug),
        Resource::Platform => Uid::new("Platform", PLATFORM_ID),
        Resource::CatalogEntry { id, .. } => Uid::new("CatalogEntry", *id),
        Resource::App(app) => app_uid(app),
        Resource::AppVersion { app, version } => app_version_uid(app, version),
    }
}

fn app_uid(app: &AppFacts) -> Uid {
    Uid::new("App", app.slug.as_str())
}

/// `<slug>@<version>`: unique, since versions are unique per app.
fn app_version_uid(app: &AppFacts, version: &AppVersionFacts) -> Uid {
    Uid::new("AppVersion", format!("{}@{}", app.slug, version.version))
}

fn add_caller(slice: &mut EntitySlice<'_>, caller: &Caller<'_>) {
    let uid = slice.principal.clone();
    let principal = match caller {
        Caller::Principal(p) if uid.ty != "Registry" => *p,
        // A registry carries only its name; it holds no project roles.
        _ => {
            let mut attrs = Map::new();
            attrs.insert("name".into(), json!(uid.id));
            slice.add(uid, attrs, &[]);
            return;
        }
    };
    let attrs = principal_attrs(slice, principal);
    slice.add(uid, attrs, &[]);
}

fn principal_attrs(slice: &mut EntitySlice<'_>, p: &Principal) -> Map<String, Value> {
    let mut attrs = Map::new();
    attrs.insert("issuer".into(), json!(p.issuer));
    for (attr, role) in [
        ("admin_of", Role::Admin),
        ("operator_of", Role::Operator),
        ("releaser_of", Role::Releaser),
        ("viewer_of", Role::Viewer),
    ] {
        let projects: Vec<Value> = p
            .projects_with(role)
            .map(|slug| slice.add_project(slug).entity_ref())
            .collect();
        attrs.insert(attr.into(), Value::Array(projects));
    }
    attrs.insert("platform_roles".into(), json!(p.platform_roles));
    // The CI facts exist only on service accounts, and only when the token carried them.
    if p.actor.actor_type == ActorType::ServiceAccount {
        for (attr, value) in [
            ("ci_repository", &p.ci.repository),
            ("ci_ref", &p.ci.git_ref),
            ("ci_workflow", &p.ci.workflow),
        ] {
            if let Some(v) = value {
                attrs.insert(attr.into(), json!(v));
            }
        }
    }
    attrs
}

fn add_resource(slice: &mut EntitySlice<'_>, resource: &Resource<'_>) {
    match resource {
        Resource::Artifact(a) => add_artifact(slice, a),
        Resource::Repository { project, path, scope } => {
            let parent = slice.add_project(project);
            let attrs = repository_attrs(path, scope);
            slice.add(Uid::new("Repository", path.as_str()), attrs, &[parent]);
        }
        Resource::Project(slug) => {
            slice.add_project(slug);
        }
        Resource::Platform => slice.add(Uid::new("Platform", PLATFORM_ID), Map::new(), &[]),
        Resource::CatalogEntry {
            id,
            family,
            owner_product,
            status,
        } => {
            let mut attrs = Map::new();
            attrs.insert("family".into(), json!(family));
            attrs.insert("owner_product".into(), json!(owner_product));
            attrs.insert("status".into(), json!(status));
            slice.add(Uid::new("CatalogEntry", *id), attrs, &[]);
        }
        Resource::App(app) => {
            add_app(slice, app);
        }
        Resource::AppVersion { app, version } => add_app_version(slice, app, version),
    }
}

/// A repository's path and visibility class; `tenant` only for the tenant class.
fn repository_attrs(path: &RepositoryPath, scope: &Scope) -> Map<String, Value> {
    let mut attrs = Map::new();
    attrs.insert("path".into(), json!(path.as_str()));
    attrs.insert("visibility".into(), json!(scope.visibility().as_str()));
    if let Some(tenant) = scope.tenant() {
        attrs.insert("tenant".into(), json!(tenant.as_str()));
    }
    attrs
}

fn add_app(slice: &mut EntitySlice<'_>, app: &AppFacts) -> Uid {
    let owner = slice.add_project(&app.owner_project);
    let entitled: Vec<Value> = app
        .entitled_projects
        .iter()
        .map(|p| slice.add_project(p).entity_ref())
        .collect();
    let uid = app_uid(app);
    let mut attrs = Map::new();
    attrs.insert("slug".into(), json!(app.slug.as_str()));
    attrs.insert("owner_project".into(), owner.entity_ref());
    attrs.insert("entitled_projects".into(), Value::Array(entitled));
    slice.add(uid.clone(), attrs, &[]);
    uid
}

fn add_app_version(slice: &mut EntitySlice<'_>, app: &AppFacts, version: &AppVersionFacts) {
    let parent = add_app(slice, app);
    let mut attrs = Map::new();
    attrs.insert("app".into(), parent.entity_ref());
    attrs.insert("version".into(), json!(version.version.as_str()));
    attrs.insert("status".into(), json!(version.status.as_str()));
    attrs.insert(
        "artifact_trust_states".into(),
        json!(version.artifact_trust_states),
    );
    attrs.insert(
        "artifact_lifecycle_states".into(),
        json!(version.artifact_lifecycle_states),
    );
    slice.add(app_version_uid(app, version), attrs, &[parent]);
}

fn add_artifact(slice: &mut EntitySlice<'_>, a: &Artifact) {
    let project = slice.add_project(&a.project);
    let repository = Uid::new("Repository", a.repository.as_str());
    let repo_attrs = repository_attrs(&a.repository, &a.scope);
    slice.add(repository.clone(), repo_attrs, std::slice::from_ref(&project));

    let channels: Vec<&str> = a.channels.iter().map(|c| c.as_str()).collect();
    let mut attrs = Map::new();
    attrs.insert("project".into(), project.entity_ref());
    attrs.insert("app".into(), json!(a.app.as_str()));
    attrs.insert("kind".into(), json!(a.artifact_kind.as_str()));
    attrs.insert("artifact_type".into(), json!(a.artifact_type.as_str()));
    attrs.insert("source_type".into(), json!(a.source.source_type.as_str()));
    attrs.insert("repository".into(), json!(a.repository.as_str()));
    attrs.insert("visibility".into(), json!(a.scope.visibility().as_str()));
    if let Some(tenant) = a.scope.tenant() {
        attrs.insert("tenant".into(), json!(tenant.as_str()));
    }
    attrs.insert("digest".into(), json!(a.digest.as_str()));
    attrs.insert("lifecycle_state".into(), json!(a.lifecycle_state.as_str()));
    attrs.insert("trust_state".into(), json!(a.trust_state.as_str()));
    attrs.insert("channels".into(), json!(channels));
    attrs.insert("signature_verified".into(), json!(a.signature_verified));
    attrs.insert("attestations".into(), json!(a.attestations));
    add_trust_facts(&mut attrs, a);
    slice.add(
        Uid::new("Artifact", a.id.to_string()),
        attrs,
        &[repository, project],
    );
}

/// Signers and provenance, only while the artifact is verified: a fact of an earlier verdict
/// must not outlive it, whatever the row holds (fail closed).
fn add_trust_facts(attrs: &mut Map<String, Value>, a: &Artifact) {
    let verified = a.trust_state == TrustState::Verified;
    let facts = &a.trust_facts;
    let (identities, key_ids) = if verified {
        (json!(facts.signer_identities), json!(facts.signer_key_ids))
    } else {
        (json!([]), json!([]))
    };
    attrs.insert("signer_identities".into(), identities);
    attrs.insert("signer_key_ids".into(), key_ids);
    if let Some(provenance) = facts.provenance.as_ref().filter(|_| verified) {
        attrs.insert("provenance".into(), json!(provenance));
    }
}
