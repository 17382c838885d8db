//! Builds the Cedar entity slice for one request: the caller, the resource and their parents.
//!
//! Each entity is built once as typed values ([`Attr`]) that give both forms of the slice: the
//! Cedar entities evaluated (no JSON round trip, which cost most of a decision) and the
//! entities-JSON stored with the decision for later replay. The two can only differ if this
//! module's conversions do, and a test checks they parse to the same entities (attributes and
//! ancestors, not only uids).
//!
//! The Cedar entities are built as Cedar's own values (`cedar_policy_core`), not as expressions
//! Cedar then evaluates one attribute at a time, and a slice whose ancestry is already closed
//! (every slice built here) skips Cedar's transitive-closure pass: together those were half of
//! an uncached decision.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use cedar_policy::{Entities, EntityId, EntityTypeName, EntityUid, Schema};
use cedar_policy_core::ast::{self as cedar_ast, PartialValue, Value as CedarValue, ValueKind};
use cedar_policy_core::entities::{Entities as CoreEntities, NoEntitiesSchema, TCComputation};
use cedar_policy_core::extensions::Extensions;
use serde_json::Value;
#[cfg(test)]
use serde_json::{Map, json};

use super::entity_cache::EntityCache;
use super::read_facts::ReadFacts;
use super::request::{Caller, Resource};
use crate::audit::{JsonText, push_json_string};
use crate::domain::{
    ActorType, AppFacts, AppVersionFacts, Artifact, Principal, ProjectSlug, ProvenanceTrust, RepositoryPath,
    Role, Scope, TrustState,
};

/// The namespace every Gatehouse entity type lives in.
const NAMESPACE: &str = "Gatehouse";

/// The id of the one `Platform` entity.
pub(crate) const PLATFORM_ID: &str = "platform";

/// Every entity type a slice or request names, unqualified.
pub(crate) const ENTITY_TYPES: [&str; 12] = [
    "User",
    "ServiceAccount",
    "Registry",
    "KubernetesApiServer",
    "Project",
    "Repository",
    "Artifact",
    "Platform",
    "App",
    "AppVersion",
    "CatalogEntry",
    "Action",
];

/// [`ENTITY_TYPES`] qualified, in the same order: the slice's JSON writes these as they are
/// (formatting `Gatehouse::<type>` per uid was a share of the slice's text).
const QUALIFIED_TYPES: [&str; 12] = [
    "Gatehouse::User",
    "Gatehouse::ServiceAccount",
    "Gatehouse::Registry",
    "Gatehouse::KubernetesApiServer",
    "Gatehouse::Project",
    "Gatehouse::Repository",
    "Gatehouse::Artifact",
    "Gatehouse::Platform",
    "Gatehouse::App",
    "Gatehouse::AppVersion",
    "Gatehouse::CatalogEntry",
    "Gatehouse::Action",
];

/// Every entity type the slice builds, parsed once: parsing a type name runs Cedar's parser.
static TYPE_NAMES: LazyLock<HashMap<&'static str, EntityTypeName>> = LazyLock::new(|| {
    ENTITY_TYPES
        .into_iter()
        .filter_map(|ty| {
            EntityTypeName::from_str(&format!("{NAMESPACE}::{ty}"))
                .ok()
                .map(|name| (ty, name))
        })
        .collect()
});

/// A Gatehouse entity uid before it is handed to Cedar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    /// `Gatehouse::<type>` from [`QUALIFIED_TYPES`], or `None` for a type not listed there.
    fn static_qualified_type(&self) -> Option<&'static str> {
        let index = ENTITY_TYPES.iter().position(|ty| *ty == self.ty)?;
        QUALIFIED_TYPES.get(index).copied()
    }

    /// The `{type, id}` form used in entities-JSON uids and parents (the tests' reference form
    /// of the text [`EntitySlice::to_json_text`] writes).
    #[cfg(test)]
    pub(crate) fn json(&self) -> Value {
        json!({ "type": self.qualified_type(), "id": self.id })
    }

    /// The escaped form used inside attribute values, so it can never be read as a record.
    #[cfg(test)]
    fn entity_ref(&self) -> Value {
        json!({ "__entity": self.json() })
    }

    /// The Cedar uid; fails only if the type name were malformed, which would be our bug.
    pub(crate) fn to_cedar(&self) -> Result<EntityUid, String> {
        let ty = match TYPE_NAMES.get(self.ty) {
            Some(ty) => ty.clone(),
            None => EntityTypeName::from_str(&self.qualified_type())
                .map_err(|e| format!("entity type `{}` is invalid: {e}", self.ty))?,
        };
        Ok(EntityUid::from_type_name_and_id(ty, EntityId::new(&self.id)))
    }
}

/// An attribute value as the schema types it; only the shapes the schema uses.
#[derive(Debug, Clone, PartialEq)]
enum Attr {
    Str(String),
    Bool(bool),
    Set(Vec<Attr>),
    Record(Vec<(String, Attr)>),
    Entity(Uid),
}

impl Attr {
    fn str(value: impl Into<String>) -> Self {
        Self::Str(value.into())
    }

    fn strings<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Self {
        Self::Set(values.into_iter().map(|v| Self::str(v.as_ref())).collect())
    }

    /// A serialised fact (a JSON object of strings): a record with the same fields.
    fn from_json(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) => Ok(Self::Str(s.clone())),
            Value::Bool(b) => Ok(Self::Bool(*b)),
            Value::Array(items) => items
                .iter()
                .map(Self::from_json)
                .collect::<Result<_, _>>()
                .map(Self::Set),
            Value::Object(fields) => fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), Self::from_json(v)?)))
                .collect::<Result<_, String>>()
                .map(Self::Record),
            other => Err(format!("a fact of unexpected shape: {other}")),
        }
    }

    #[cfg(test)]
    fn json(&self) -> Value {
        match self {
            Self::Str(s) => Value::String(s.clone()),
            Self::Bool(b) => Value::Bool(*b),
            Self::Set(items) => Value::Array(items.iter().map(Self::json).collect()),
            Self::Record(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.clone(), v.json())).collect())
            }
            Self::Entity(uid) => uid.entity_ref(),
        }
    }

    /// Whether `uid` is this value or inside it.
    fn mentions(&self, uid: &Uid) -> bool {
        match self {
            Self::Str(_) | Self::Bool(_) => false,
            Self::Set(items) => items.iter().any(|item| item.mentions(uid)),
            Self::Record(fields) => fields.iter().any(|(_, value)| value.mentions(uid)),
            Self::Entity(entity) => entity == uid,
        }
    }

    /// Whether [`Self::to_value`] succeeds: no record repeats a key, every uid converts.
    fn builds(&self) -> bool {
        match self {
            Self::Str(_) | Self::Bool(_) => true,
            Self::Set(items) => items.iter().all(Self::builds),
            Self::Record(fields) => {
                let keys: HashSet<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
                keys.len() == fields.len() && fields.iter().all(|(_, v)| v.builds())
            }
            Self::Entity(uid) => uid.to_cedar().is_ok(),
        }
    }

    /// The Cedar value, built directly: what Cedar's evaluator makes of the same literal
    /// expression (a test compares the two), without evaluating one.
    fn to_value(&self) -> Result<CedarValue, String> {
        Ok(match self {
            Self::Str(s) => CedarValue::from(s.as_str()),
            Self::Bool(b) => CedarValue::from(*b),
            Self::Set(items) => CedarValue::set(
                items.iter().map(Self::to_value).collect::<Result<Vec<_>, _>>()?,
                None,
            ),
            Self::Record(fields) => {
                let pairs = fields
                    .iter()
                    .map(|(k, v)| Ok((k.as_str(), v.to_value()?)))
                    .collect::<Result<Vec<_>, String>>()?;
                let record = CedarValue::record(pairs, None);
                // Cedar refuses a record literal with a repeated key; so does this.
                match &record.value {
                    ValueKind::Record(kept) if kept.len() == fields.len() => record,
                    _ => return Err("invalid record attribute: a key is repeated".to_owned()),
                }
            }
            Self::Entity(uid) => CedarValue::from(cedar_ast::EntityUID::from(uid.to_cedar()?)),
        })
    }

    /// The same value as an expression Cedar evaluates (the tests' reference form).
    #[cfg(test)]
    fn to_expression(&self) -> Result<cedar_policy::RestrictedExpression, String> {
        use cedar_policy::RestrictedExpression;
        Ok(match self {
            Self::Str(s) => RestrictedExpression::new_string(s.clone()),
            Self::Bool(b) => RestrictedExpression::new_bool(*b),
            Self::Set(items) => RestrictedExpression::new_set(
                items
                    .iter()
                    .map(Self::to_expression)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Self::Record(fields) => RestrictedExpression::new_record(
                fields
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.to_expression()?)))
                    .collect::<Result<Vec<_>, String>>()?,
            )
            .map_err(|e| format!("invalid record attribute: {e}"))?,
            Self::Entity(uid) => RestrictedExpression::new_entity_uid(uid.to_cedar()?),
        })
    }
}

/// The Cedar entities of the types kept between decisions ([`KEPT_TYPES`]), by uid and facts.
pub(crate) type SliceEntityCache = EntityCache<Uid, SliceEntity>;

/// The types whose entities are kept: a project's or repository's facts are the same for every
/// artifact in it, and a caller's for each of its requests (they come from its token).
/// Artifacts, apps and catalog entries are built per decision.
const KEPT_TYPES: [&str; 6] = [
    "Project",
    "Repository",
    "User",
    "ServiceAccount",
    "Registry",
    "KubernetesApiServer",
];

/// One entity of the slice: every fact its Cedar entity is built from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SliceEntity {
    attrs: Vec<(&'static str, Attr)>,
    parents: Vec<Uid>,
}

impl SliceEntity {
    /// The Cedar entity `uid` with these facts: its parents as they are, no indirect ancestors
    /// (a closed slice has none; see [`EntitySlice::ancestry_is_closed`]).
    fn to_cedar(&self, uid: &Uid) -> Result<cedar_ast::Entity, String> {
        let attrs = self
            .attrs
            .iter()
            .map(|(k, v)| Ok(((*k).into(), PartialValue::Value(v.to_value()?))))
            .collect::<Result<Vec<_>, String>>()?;
        let parents = self
            .parents
            .iter()
            .map(|parent| parent.to_cedar().map(cedar_ast::EntityUID::from))
            .collect::<Result<HashSet<_>, _>>()?;
        Ok(cedar_ast::Entity::new_with_attr_partial_value(
            uid.to_cedar()?.into(),
            attrs,
            HashSet::new(),
            parents,
            [],
        ))
    }

    /// The same entity through Cedar's public constructor, which evaluates each attribute's
    /// expression (the tests' reference form).
    #[cfg(test)]
    fn to_cedar_evaluated(&self, uid: &Uid) -> Result<cedar_policy::Entity, String> {
        let attrs = self
            .attrs
            .iter()
            .map(|(k, v)| Ok(((*k).to_owned(), v.to_expression()?)))
            .collect::<Result<Vec<_>, String>>()?;
        let parents = self
            .parents
            .iter()
            .map(Uid::to_cedar)
            .collect::<Result<Vec<_>, _>>()?;
        cedar_policy::Entity::new_with_tags(uid.to_cedar()?, attrs, parents, [])
            .map_err(|e| format!("invalid entity `{}`: {e}", uid.id))
    }
}

/// The Cedar entities of a slice, with `actions` (the schema's). A `closed` slice (see
/// [`EntitySlice::ancestry_is_closed`]) is already what Cedar's closure pass would make of it;
/// any other is closed by Cedar, as every slice was before.
fn assemble(
    entities: Vec<Arc<cedar_ast::Entity>>,
    closed: bool,
    actions: Option<&Entities>,
) -> Result<Entities, String> {
    let closure = if closed {
        TCComputation::AssumeAlreadyComputed
    } else {
        TCComputation::ComputeNow
    };
    // The schema's action entities are closed already, and no slice entity is an action's
    // ancestor or (in a closed slice) has one as its own.
    let base = actions.map_or_else(CoreEntities::new, |actions| actions.as_ref().clone());
    base.add_entities(
        entities,
        None::<&NoEntitiesSchema>,
        closure,
        Extensions::all_available(),
    )
    .map(Entities::from)
    .map_err(|e| format!("invalid entity slice: {e}"))
}

/// The caller and resource uids plus every entity the request may touch.
#[derive(Debug, Clone)]
pub(crate) struct EntitySlice<'a> {
    /// The principal of the request.
    pub(crate) principal: Uid,
    /// The resource of the request.
    pub(crate) resource: Uid,
    // Keyed by uid so a Project reached twice (role set and resource parent) appears once.
    entities: BTreeMap<Uid, SliceEntity>,
    /// Configured provenance trust: every Project entity carries its part.
    provenance: &'a ProvenanceTrust,
    /// A fact that could not be typed; the decision is then a deny carrying it (fail closed).
    problem: Option<String>,
}

impl EntitySlice<'_> {
    /// Whether every fact was typed: a slice with a problem is denied, and its text lacks the
    /// fact that failed, so the text alone does not say what the slice is.
    pub(crate) fn is_complete(&self) -> bool {
        self.problem.is_none()
    }

    /// The slice as Cedar entities-JSON text, in a stable order: the form stored for replay.
    /// Written straight from the typed entities, byte for byte what [`Self::to_json`] serialises
    /// to (a test checks it), without building that `Value` tree. (The tests' form: a decision
    /// takes it with its fact key, [`Self::to_json_text_and_fact_key`].)
    #[cfg(test)]
    pub(crate) fn to_json_text(&self) -> JsonText {
        self.to_json_text_and_fact_key(None).0
    }

    /// The slice's recorded text (see [`Self::to_json_text`]) and the verdict cache's fact key
    /// for it, when it has one: the same text with the resource's entity written with its id as
    /// `@` and only the attributes `read` says some policy reads (see [`ReadFacts`] for why two
    /// slices with equal keys get equal verdicts). No key when that does not hold: some policy
    /// names a uid of the resource's type, another entity mentions the resource (its id would
    /// have to change there too), or an attribute left out could not be built (building it
    /// would fail the decision; a key without it would hide that).
    pub(crate) fn to_json_text_and_fact_key(&self, read: Option<&ReadFacts>) -> (JsonText, Option<String>) {
        let (text, resource) = write_slice_marking_resource(self);
        let key = read
            .zip(resource)
            .and_then(|(read, range)| self.fact_key(read, &text, range));
        (JsonText::written(text), key)
    }

    fn fact_key(&self, read: &ReadFacts, text: &str, range: Range<usize>) -> Option<String> {
        let ty = self.resource.static_qualified_type()?;
        let entity = self.entities.get(&self.resource)?;
        if read.names_type(ty) || self.problem.is_some() {
            return None;
        }
        let mentioned_elsewhere = self.entities.iter().any(|(uid, other)| {
            *uid != self.resource
                && (other.parents.contains(&self.resource)
                    || other
                        .attrs
                        .iter()
                        .any(|(_, value)| value.mentions(&self.resource)))
        });
        let left_out_build = entity
            .attrs
            .iter()
            .all(|(key, value)| read.reads(key) || value.builds());
        if mentioned_elsewhere || !left_out_build {
            return None;
        }
        let (before, after) = (text.get(..range.start)?, text.get(range.end..)?);
        let mut key = String::with_capacity(text.len());
        key.push_str(before);
        let view = FactView {
            resource: &self.resource,
            read,
        };
        write_entity(&mut key, &self.resource, entity, Some(view));
        key.push_str(after);
        Some(key)
    }

    /// The slice as a Cedar entities-JSON array (the tests' reference form).
    #[cfg(test)]
    pub(crate) fn to_json(&self) -> Value {
        Value::Array(
            self.entities
                .iter()
                .map(|(uid, entity)| {
                    let attrs: Map<String, Value> = entity
                        .attrs
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.json()))
                        .collect();
                    let parents: Vec<Value> = entity.parents.iter().map(Uid::json).collect();
                    json!({ "uid": uid.json(), "attrs": attrs, "parents": parents })
                })
                .collect(),
        )
    }

    /// The slice as Cedar entities, with `actions` (the schema's action entities, or `None`
    /// when none has a parent: then `action in …` is equality and needs no entity).
    ///
    /// Not checked against the schema per request: that check cost a sixth of a decision, and
    /// the slice is built here, from typed domain values, never from input. The tests prove it
    /// conforms — every decision a debug build (the test suite) makes checks its slice, and a
    /// unit test checks the typed entities equal their JSON parsed with the schema — and a
    /// slice that did not would still fail closed: an attribute of the wrong type or missing
    /// makes the policy that reads it error, and an error denies.
    ///
    /// The projects' and repositories' entities come from `cache` when their facts are unchanged.
    pub(crate) fn to_cedar(
        &self,
        schema: &Schema,
        actions: Option<&Entities>,
        cache: &SliceEntityCache,
    ) -> Result<Entities, String> {
        if let Some(problem) = &self.problem {
            return Err(problem.clone());
        }
        let entities = self
            .entities
            .iter()
            .map(|(uid, entity)| {
                if KEPT_TYPES.contains(&uid.ty) {
                    cache.entity(uid, entity, || entity.to_cedar(uid))
                } else {
                    entity.to_cedar(uid).map(Arc::new)
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        if cfg!(debug_assertions) {
            Entities::from_entities(
                entities.iter().map(|e| cedar_policy::Entity::from((**e).clone())),
                Some(schema),
            )
            .map_err(|e| format!("invalid entity slice: {e}"))?;
        }
        assemble(entities, self.ancestry_is_closed(), actions)
    }

    /// Whether each entity's parents already hold all its ancestors, with no entity its own:
    /// every parent's parents are among the entity's own, and no parent is an action (whose
    /// ancestors are the schema's). Such a slice is transitively closed and acyclic, so Cedar's
    /// closure pass would add nothing (it costs more than the rest of building the slice).
    fn ancestry_is_closed(&self) -> bool {
        self.entities.iter().all(|(uid, entity)| {
            entity.parents.iter().all(|parent| {
                parent != uid
                    && parent.ty != "Action"
                    && self.entities.get(parent).is_none_or(|above| {
                        above
                            .parents
                            .iter()
                            .all(|ancestor| entity.parents.contains(ancestor))
                    })
            })
        })
    }

    /// The slice checked against `schema` as its JSON form would be parsed (tests), after
    /// checking that what [`Self::to_cedar`] builds is, attribute for attribute and ancestor for
    /// ancestor, what Cedar's public constructors make of the same facts (each attribute
    /// evaluated as an expression, the closure computed).
    #[cfg(test)]
    fn to_cedar_checked(&self, schema: &Schema) -> Result<Entities, String> {
        let evaluated = self
            .entities
            .iter()
            .map(|(uid, entity)| entity.to_cedar_evaluated(uid))
            .collect::<Result<Vec<_>, String>>()?;
        let checked = Entities::from_entities(evaluated.iter().cloned(), Some(schema))
            .map_err(|e| format!("invalid entity slice: {e}"))?;
        let without_actions =
            Entities::from_entities(evaluated, None).map_err(|e| format!("invalid entity slice: {e}"))?;
        let actions = Entities::from_entities([], Some(schema)).map_err(|e| e.to_string())?;
        let built = self.to_cedar(schema, None, &SliceEntityCache::default())?;
        let with_actions = self.to_cedar(schema, Some(&actions), &SliceEntityCache::default())?;
        assert!(
            built.as_ref().deep_eq(without_actions.as_ref()),
            "built directly: {built:?}\nevaluated by Cedar: {without_actions:?}"
        );
        assert!(
            with_actions.as_ref().deep_eq(checked.as_ref()),
            "the slice with the schema's actions is the checked one"
        );
        Ok(checked)
    }

    fn add(&mut self, uid: Uid, attrs: Vec<(&'static str, Attr)>, parents: &[Uid]) {
        let parents = parents.to_vec();
        self.entities.insert(uid, SliceEntity { attrs, parents });
    }

    /// A Project, always with the same attributes however it is reached (role set, parent).
    fn add_project(&mut self, slug: &ProjectSlug) -> Uid {
        let uid = project_uid(slug);
        let attrs = vec![
            ("slug", Attr::str(slug.as_str())),
            (
                "trusted_builders",
                Attr::strings(self.provenance.builders_for(slug)),
            ),
            (
                "source_repositories",
                Attr::strings(self.provenance.sources_for(slug)),
            ),
        ];
        self.add(uid.clone(), attrs, &[]);
        uid
    }
}

/// The slice's entities-JSON text: an array of `{"uid", "attrs", "parents"}` in uid order,
/// written by hand with every string through [`push_json_string`] (serde_json's byte-by-byte
/// escaping was most of this text's cost). Byte for byte what serde_json writes for the same
/// values: `assert_forms_agree` compares it with [`EntitySlice::to_json`] serialised. Returned
/// with where in the text the resource's own entity is.
fn write_slice_marking_resource(slice: &EntitySlice<'_>) -> (String, Option<Range<usize>>) {
    let mut out = String::with_capacity(SLICE_TEXT_BYTES);
    let mut resource = None;
    out.push('[');
    for (i, (uid, entity)) in slice.entities.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let start = out.len();
        write_entity(&mut out, uid, entity, None);
        if *uid == slice.resource {
            resource = Some(start..out.len());
        }
    }
    out.push(']');
    (out, resource)
}

/// How the verdict cache's fact key writes the resource's entity: its id is the marker `@` (no
/// JSON string can be), and only the attributes some policy reads are written.
#[derive(Clone, Copy)]
struct FactView<'a> {
    resource: &'a Uid,
    read: &'a ReadFacts,
}

fn write_entity(out: &mut String, uid: &Uid, entity: &SliceEntity, view: Option<FactView<'_>>) {
    out.push_str("{\"uid\":");
    write_uid(out, uid, view);
    out.push_str(",\"attrs\":{");
    let mut first = true;
    for (key, value) in &entity.attrs {
        if view.is_some_and(|view| !view.read.reads(key)) {
            continue;
        }
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        push_json_string(out, key);
        out.push(':');
        write_attr(out, value, view);
    }
    out.push_str("},\"parents\":[");
    for (j, parent) in entity.parents.iter().enumerate() {
        if j > 0 {
            out.push(',');
        }
        write_uid(out, parent, view);
    }
    out.push_str("]}");
}

/// Room for a review's slice text (a caller, its projects and an artifact: ~1–2 KB).
const SLICE_TEXT_BYTES: usize = 2048;

/// `{"type":"Gatehouse::<type>","id":<id>}`; the id is `@` for the resource in a fact key.
fn write_uid(out: &mut String, uid: &Uid, view: Option<FactView<'_>>) {
    out.push_str("{\"type\":");
    match uid.static_qualified_type() {
        Some(ty) => push_json_string(out, ty),
        None => push_json_string(out, &uid.qualified_type()),
    }
    out.push_str(",\"id\":");
    if view.is_some_and(|view| view.resource == uid) {
        out.push('@');
    } else {
        push_json_string(out, &uid.id);
    }
    out.push('}');
}

fn write_attr(out: &mut String, attr: &Attr, view: Option<FactView<'_>>) {
    match attr {
        Attr::Str(s) => push_json_string(out, s),
        Attr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Attr::Set(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_attr(out, item, view);
            }
            out.push(']');
        }
        // A record is written whole: a policy that reads the attribute may compare all of it.
        Attr::Record(fields) => {
            out.push('{');
            for (i, (key, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, key);
                out.push(':');
                write_attr(out, value, view);
            }
            out.push('}');
        }
        // Escaped as `__entity`, so it can never be read as a record.
        Attr::Entity(uid) => {
            out.push_str("{\"__entity\":");
            write_uid(out, uid, view);
            out.push('}');
        }
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
        problem: None,
    };
    add_caller(&mut slice, caller);
    add_resource(&mut slice, resource);
    slice
}

fn caller_uid(caller: &Caller<'_>) -> Uid {
    match caller {
        Caller::Registry { name } => Uid::new("Registry", *name),
        Caller::KubernetesApiServer { name, .. } => Uid::new("KubernetesApiServer", *name),
        Caller::Principal(p) => match p.actor.actor_type {
            ActorType::User => Uid::new("User", p.actor.id.as_str()),
            ActorType::ServiceAccount => Uid::new("ServiceAccount", p.actor.id.as_str()),
            ActorType::Registry => Uid::new("Registry", p.actor.id.as_str()),
            ActorType::KubernetesApiServer => Uid::new("KubernetesApiServer", p.actor.id.as_str()),
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
        Caller::KubernetesApiServer { issuer, .. } => {
            let attrs = kubernetes_attrs(&uid, issuer);
            slice.add(uid, attrs, &[]);
            return;
        }
        Caller::Principal(p) if uid.ty == "KubernetesApiServer" => {
            let attrs = kubernetes_attrs(&uid, &p.issuer);
            slice.add(uid, attrs, &[]);
            return;
        }
        Caller::Principal(p) if uid.ty != "Registry" => *p,
        // A registry carries only its name; it holds no project roles.
        _ => {
            let attrs = vec![("name", Attr::str(uid.id.as_str()))];
            slice.add(uid, attrs, &[]);
            return;
        }
    };
    let attrs = principal_attrs(slice, principal);
    slice.add(uid, attrs, &[]);
}

/// The API server holds no roles: its role sets are empty, and exist so that policies written
/// for users and service accounts on `admit` stay valid with it as a principal.
fn kubernetes_attrs(uid: &Uid, issuer: &str) -> Vec<(&'static str, Attr)> {
    let mut attrs = vec![
        ("name", Attr::str(uid.id.as_str())),
        ("issuer", Attr::str(issuer)),
    ];
    for attr in [
        "admin_of",
        "operator_of",
        "releaser_of",
        "viewer_of",
        "platform_roles",
    ] {
        attrs.push((attr, Attr::Set(Vec::new())));
    }
    attrs
}

fn principal_attrs(slice: &mut EntitySlice<'_>, p: &Principal) -> Vec<(&'static str, Attr)> {
    let mut attrs = vec![("issuer", Attr::str(p.issuer.as_str()))];
    for (attr, role) in [
        ("admin_of", Role::Admin),
        ("operator_of", Role::Operator),
        ("releaser_of", Role::Releaser),
        ("viewer_of", Role::Viewer),
    ] {
        let projects: Vec<Attr> = p
            .projects_with(role)
            .map(|slug| Attr::Entity(slice.add_project(slug)))
            .collect();
        attrs.push((attr, Attr::Set(projects)));
    }
    attrs.push(("platform_roles", Attr::strings(&p.platform_roles)));
    // The CI facts exist only on service accounts, and only when the token carried them.
    if p.actor.actor_type == ActorType::ServiceAccount {
        for (attr, value) in [
            ("ci_repository", &p.ci.repository),
            ("ci_ref", &p.ci.git_ref),
            ("ci_workflow", &p.ci.workflow),
        ] {
            if let Some(v) = value {
                attrs.push((attr, Attr::str(v.as_str())));
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
        Resource::Platform => slice.add(Uid::new("Platform", PLATFORM_ID), Vec::new(), &[]),
        Resource::CatalogEntry {
            id,
            family,
            owner_product,
            status,
        } => {
            let attrs = vec![
                ("family", Attr::str(*family)),
                ("owner_product", Attr::str(*owner_product)),
                ("status", Attr::str(*status)),
            ];
            slice.add(Uid::new("CatalogEntry", *id), attrs, &[]);
        }
        Resource::App(app) => {
            add_app(slice, app);
        }
        Resource::AppVersion { app, version } => add_app_version(slice, app, version),
    }
}

/// A repository's path and visibility class; `tenant` only for the tenant class.
fn repository_attrs(path: &RepositoryPath, scope: &Scope) -> Vec<(&'static str, Attr)> {
    let mut attrs = vec![
        ("path", Attr::str(path.as_str())),
        ("visibility", Attr::str(scope.visibility().as_str())),
    ];
    if let Some(tenant) = scope.tenant() {
        attrs.push(("tenant", Attr::str(tenant.as_str())));
    }
    attrs
}

fn add_app(slice: &mut EntitySlice<'_>, app: &AppFacts) -> Uid {
    let owner = slice.add_project(&app.owner_project);
    let entitled: Vec<Attr> = app
        .entitled_projects
        .iter()
        .map(|p| Attr::Entity(slice.add_project(p)))
        .collect();
    let uid = app_uid(app);
    let attrs = vec![
        ("slug", Attr::str(app.slug.as_str())),
        ("owner_project", Attr::Entity(owner)),
        ("entitled_projects", Attr::Set(entitled)),
    ];
    slice.add(uid.clone(), attrs, &[]);
    uid
}

fn add_app_version(slice: &mut EntitySlice<'_>, app: &AppFacts, version: &AppVersionFacts) {
    let parent = add_app(slice, app);
    let attrs = vec![
        ("app", Attr::Entity(parent.clone())),
        ("version", Attr::str(version.version.as_str())),
        ("status", Attr::str(version.status.as_str())),
        (
            "artifact_trust_states",
            Attr::strings(&version.artifact_trust_states),
        ),
        (
            "artifact_lifecycle_states",
            Attr::strings(&version.artifact_lifecycle_states),
        ),
    ];
    slice.add(app_version_uid(app, version), attrs, &[parent]);
}

fn add_artifact(slice: &mut EntitySlice<'_>, a: &Artifact) {
    let project = slice.add_project(&a.project);
    let repository = Uid::new("Repository", a.repository.as_str());
    let repo_attrs = repository_attrs(&a.repository, &a.scope);
    slice.add(repository.clone(), repo_attrs, std::slice::from_ref(&project));

    let mut attrs = vec![
        ("project", Attr::Entity(project.clone())),
        ("app", Attr::str(a.app.as_str())),
        ("kind", Attr::str(a.artifact_kind.as_str())),
        ("artifact_type", Attr::str(a.artifact_type.as_str())),
        ("source_type", Attr::str(a.source.source_type.as_str())),
        ("repository", Attr::str(a.repository.as_str())),
        ("visibility", Attr::str(a.scope.visibility().as_str())),
    ];
    if let Some(tenant) = a.scope.tenant() {
        attrs.push(("tenant", Attr::str(tenant.as_str())));
    }
    attrs.extend([
        ("digest", Attr::str(a.digest.as_str())),
        ("lifecycle_state", Attr::str(a.lifecycle_state.as_str())),
        ("trust_state", Attr::str(a.trust_state.as_str())),
        ("channels", Attr::strings(a.channels.iter().map(|c| c.as_str()))),
        ("signature_verified", Attr::Bool(a.signature_verified)),
        ("attestations", Attr::strings(&a.attestations)),
    ]);
    if let Err(problem) = add_trust_facts(&mut attrs, a) {
        slice.problem = Some(problem);
    }
    slice.add(
        Uid::new("Artifact", a.id.to_string()),
        attrs,
        &[repository, project],
    );
}

/// Signers and provenance, only while the artifact is verified: a fact of an earlier verdict
/// must not outlive it, whatever the row holds (fail closed).
fn add_trust_facts(attrs: &mut Vec<(&'static str, Attr)>, a: &Artifact) -> Result<(), String> {
    let verified = a.trust_state == TrustState::Verified;
    let facts = &a.trust_facts;
    let (identities, key_ids) = if verified {
        let identities = facts
            .signer_identities
            .iter()
            .map(|identity| {
                Attr::Record(vec![
                    ("issuer".to_owned(), Attr::str(identity.issuer.as_str())),
                    ("subject".to_owned(), Attr::str(identity.subject.as_str())),
                ])
            })
            .collect();
        (Attr::Set(identities), Attr::strings(&facts.signer_key_ids))
    } else {
        (Attr::Set(Vec::new()), Attr::Set(Vec::new()))
    };
    attrs.push(("signer_identities", identities));
    attrs.push(("signer_key_ids", key_ids));
    if let Some(provenance) = facts.provenance.as_ref().filter(|_| verified) {
        // Through serde so every field the record holds is carried, whatever fields it gains.
        let value = serde_json::to_value(provenance).map_err(|e| format!("provenance: {e}"))?;
        attrs.push(("provenance", Attr::from_json(&value)?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::{BTreeMap, BTreeSet};

    use cedar_policy::{Entities, Schema};
    use serde_json::json;

    use super::*;
    use crate::domain::{Actor, CiClaims};

    fn schema() -> Schema {
        Schema::from_cedarschema_str(include_str!("../../schemas/gatehouse.cedarschema"))
            .unwrap()
            .0
    }

    fn principal(actor_type: ActorType, ci: CiClaims) -> Principal {
        fn roles(slugs: &[&'static str], role: Role) -> Vec<(ProjectSlug, BTreeSet<Role>)> {
            slugs
                .iter()
                .map(|s| (s.parse().unwrap(), BTreeSet::from([role])))
                .collect()
        }
        Principal {
            actor: Actor {
                actor_type,
                id: "olivia".to_owned(),
            },
            issuer: "https://issuer.test".to_owned(),
            project_roles: roles(&["team-a", "team-b"], Role::Operator)
                .into_iter()
                .chain(roles(&["team-c"], Role::Admin))
                .collect::<BTreeMap<_, _>>(),
            platform_roles: BTreeSet::from(["security_admin".to_owned()]),
            ci,
        }
    }

    /// A verified tenant artifact carrying every trust fact.
    /// A configured trusted builder and a CI caller's claims: the facts both slice tests carry.
    fn builder_trust_and_ci() -> (ProvenanceTrust, CiClaims) {
        let trust = ProvenanceTrust {
            builders: vec!["https://builder.test".to_owned()],
            ..ProvenanceTrust::default()
        };
        let ci = CiClaims {
            repository: Some("org/x".to_owned()),
            git_ref: Some("refs/heads/main".to_owned()),
            workflow: None,
        };
        (trust, ci)
    }

    fn artifact(trust_state: &str) -> Artifact {
        serde_json::from_value(json!({
            "id": "01900000-0000-7000-8000-000000000001",
            "project": "team-a",
            "app": "trainer",
            "artifact_kind": "oci",
            "artifact_type": "oci.image",
            "repository": "gpuaas/tenants/acme/team-a/trainer",
            "visibility": "tenant",
            "tenant": "acme",
            "digest": format!("sha256:{}", "ab".repeat(32)),
            "tag": "v1",
            "media_type": null,
            "source": { "source_type": "oci_registry", "uri": "registry.local/x" },
            "lifecycle_state": "promoted",
            "trust_state": trust_state,
            "channels": ["dev", "test"],
            "signature_verified": true,
            "attestations": ["https://slsa.dev/provenance/v1"],
            "signer_identities": [{ "issuer": "https://token.actions", "subject": "repo:org/x" }],
            "signer_key_ids": ["release-key"],
            "provenance": { "builder_id": "https://builder.test", "source_repository": "https://github.com/org/x" },
            "created_by": { "type": "user", "id": "olivia" },
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "version": 4,
        }))
        .unwrap()
    }

    /// The fact key is the recorded text with the artifact's entity alone rewritten: its id `@`,
    /// its unread facts (here all but its trust state) left out; and no key where that would not
    /// say all a verdict depends on.
    #[test]
    fn the_fact_key_is_the_recorded_text_with_the_resource_anonymous_and_unread_facts_left_out() {
        use std::str::FromStr;
        let read_of = |text: &str| ReadFacts::of(&cedar_policy::PolicySet::from_str(text).unwrap());
        let read =
            read_of(r#"permit (principal, action, resource) when { resource.trust_state == "verified" };"#);
        let (trust, ci) = builder_trust_and_ci();
        let principal = principal(ActorType::User, ci);
        let artifact = artifact("verified");
        let (caller, resource) = (Caller::Principal(&principal), Resource::Artifact(&artifact));
        let slice = build_slice(&caller, &resource, &trust);
        let (text, key) = slice.to_json_text_and_fact_key(Some(&read));
        let (text, key) = (text.get(), key.unwrap());
        let entity = format!(
            r#"{{"uid":{{"type":"Gatehouse::Artifact","id":"{}"}},"attrs":{{"#,
            artifact.id
        );
        let start = text.find(&entity).unwrap();
        let end = start + text[start..].find("]}").unwrap() + 2;
        let anonymous = r#"{"uid":{"type":"Gatehouse::Artifact","id":@},"attrs":{"trust_state":"verified"},"parents":[{"type":"Gatehouse::Repository","id":"gpuaas/tenants/acme/team-a/trainer"},{"type":"Gatehouse::Project","id":"team-a"}]}"#;
        assert_eq!(key, format!("{}{anonymous}{}", &text[..start], &text[end..]));
        assert!(!key.contains(artifact.digest.as_str()) && !key.contains(&artifact.id.to_string()));

        // No key: without a cache, when a policy names an artifact, when another entity
        // mentions the resource, when a fact left out would not build.
        assert!(slice.to_json_text_and_fact_key(None).1.is_none());
        let naming = read_of(r#"forbid (principal, action, resource == Gatehouse::Artifact::"x");"#);
        assert!(slice.to_json_text_and_fact_key(Some(&naming)).1.is_none());
        let mut mentioned = build_slice(&caller, &resource, &trust);
        let latest = vec![(
            "latest",
            Attr::Set(vec![Attr::Entity(mentioned.resource.clone())]),
        )];
        mentioned.add(Uid::new("Registry", "r"), latest, &[]);
        assert!(mentioned.to_json_text_and_fact_key(Some(&read)).1.is_none());
        let mut unbuildable = build_slice(&caller, &resource, &trust);
        let twice = Attr::Record(vec![
            ("k".to_owned(), Attr::Bool(true)),
            ("k".to_owned(), Attr::Bool(false)),
        ]);
        unbuildable
            .entities
            .get_mut(&unbuildable.resource.clone())
            .unwrap()
            .attrs
            .push(("unread", twice));
        assert!(unbuildable.to_json_text_and_fact_key(Some(&read)).1.is_none());
        // The recorded text is the same with or without a key.
        assert_eq!(slice.to_json_text_and_fact_key(None).0.get(), text);
    }

    /// The typed entities are exactly what the stored JSON parses to against the schema.
    fn assert_forms_agree(caller: &Caller<'_>, resource: &Resource<'_>, trust: &ProvenanceTrust) {
        let schema = schema();
        let slice = build_slice(caller, resource, trust);
        // Every slice built here takes the path without Cedar's closure pass.
        assert!(slice.ancestry_is_closed(), "{resource:?}");
        let typed = slice.to_cedar_checked(&schema).unwrap();
        let parsed = Entities::from_json_value(slice.to_json(), Some(&schema)).unwrap();
        // `Entities`' own `==` compares uids only; `deep_eq` compares attributes and ancestors.
        assert!(typed.as_ref().deep_eq(parsed.as_ref()), "{resource:?}");
        // The stored text is byte for byte what the `Value` form serialises to: rows written
        // before it was written directly read and replay the same.
        let text = slice.to_json_text();
        assert_eq!(
            text.get(),
            serde_json::to_string(&slice.to_json()).unwrap(),
            "{resource:?}"
        );
        let reparsed = Entities::from_json_str(text.get(), Some(&schema)).unwrap();
        assert!(reparsed.as_ref().deep_eq(typed.as_ref()), "{resource:?}");
        assert!(typed.iter().count() > 1, "the slice holds entities");
    }

    #[test]
    fn typed_entities_match_their_json_form_for_every_resource() {
        let (trust, ci) = builder_trust_and_ci();
        let (user, robot) = (
            principal(ActorType::User, CiClaims::default()),
            principal(ActorType::ServiceAccount, ci),
        );
        let (verified, revoked) = (artifact("verified"), artifact("revoked"));
        let slug: ProjectSlug = "team-a".parse().unwrap();
        let app = AppFacts {
            slug: "trainer".parse().unwrap(),
            owner_project: slug.clone(),
            entitled_projects: BTreeSet::from(["team-b".parse().unwrap()]),
        };
        let version = AppVersionFacts {
            version: "1.0.0".parse().unwrap(),
            status: serde_json::from_value(json!("draft")).unwrap(),
            artifact_trust_states: BTreeSet::from(["verified".to_owned()]),
            artifact_lifecycle_states: BTreeSet::from(["promoted".to_owned(), "published".to_owned()]),
        };
        let resources = [
            Resource::Artifact(&verified),
            Resource::Artifact(&revoked),
            Resource::Repository {
                project: &verified.project,
                path: &verified.repository,
                scope: &verified.scope,
            },
            Resource::Project(&slug),
            Resource::Platform,
            Resource::CatalogEntry {
                id: "oci.image",
                family: "artifact_types",
                owner_product: "gatehouse",
                status: "active",
            },
            Resource::App(&app),
            Resource::AppVersion {
                app: &app,
                version: &version,
            },
        ];
        for resource in &resources {
            for caller in [
                Caller::Principal(&user),
                Caller::Principal(&robot),
                Caller::Registry { name: "zot" },
                // Text that JSON escapes.
                Caller::Registry {
                    name: "z\u{f6}t \"q\"\\\n\u{1}",
                },
            ] {
                assert_forms_agree(&caller, resource, &trust);
            }
        }
    }

    // Any caller name at all (quotes, backslashes, control characters, non-ASCII), beside the
    // fixed ones of `typed_entities_match_their_json_form_for_every_resource`.
    proptest::proptest! {
        #[test]
        fn the_slice_text_is_what_serde_json_writes_for_any_name(name in proptest::prelude::any::<String>()) {
            let (trust, artifact) = (ProvenanceTrust::default(), artifact("verified"));
            let slice = build_slice(&Caller::Registry { name: &name }, &Resource::Artifact(&artifact), &trust);
            let expected = serde_json::to_string(&slice.to_json()).unwrap();
            let text = slice.to_json_text();
            proptest::prop_assert_eq!(text.get(), expected.as_str());
        }
    }

    /// The recorded entities text is pinned: the same bytes as the decision rows written before
    /// the Cedar entities were built as Cedar's own values (captured at `ad39a7e`).
    #[test]
    fn the_recorded_slice_text_is_unchanged() {
        let (trust, ci) = builder_trust_and_ci();
        let robot = principal(ActorType::ServiceAccount, ci);
        let verified = artifact("verified");
        let slice = build_slice(&Caller::Principal(&robot), &Resource::Artifact(&verified), &trust);
        assert_eq!(slice.to_json_text().get(), PINNED_SLICE_TEXT);
    }

    const PINNED_SLICE_TEXT: &str = "[{\"uid\":{\"type\":\"Gatehouse::Artifact\",\"id\":\"01900000-0000-7000-8000-000000000001\"},\"attrs\":{\"project\":{\"__entity\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"}},\"app\":\"trainer\",\"kind\":\"oci\",\"artifact_type\":\"oci.image\",\"source_type\":\"oci_registry\",\"repository\":\"gpuaas/tenants/acme/team-a/trainer\",\"visibility\":\"tenant\",\"tenant\":\"acme\",\"digest\":\"sha256:abababababababababababababababababababababababababababababababab\",\"lifecycle_state\":\"promoted\",\"trust_state\":\"verified\",\"channels\":[\"dev\",\"test\"],\"signature_verified\":true,\"attestations\":[\"https://slsa.dev/provenance/v1\"],\"signer_identities\":[{\"issuer\":\"https://token.actions\",\"subject\":\"repo:org/x\"}],\"signer_key_ids\":[\"release-key\"],\"provenance\":{\"builder_id\":\"https://builder.test\",\"source_repository\":\"https://github.com/org/x\"}},\"parents\":[{\"type\":\"Gatehouse::Repository\",\"id\":\"gpuaas/tenants/acme/team-a/trainer\"},{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"}]},{\"uid\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"},\"attrs\":{\"slug\":\"team-a\",\"trusted_builders\":[\"https://builder.test\"],\"source_repositories\":[]},\"parents\":[]},{\"uid\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-b\"},\"attrs\":{\"slug\":\"team-b\",\"trusted_builders\":[\"https://builder.test\"],\"source_repositories\":[]},\"parents\":[]},{\"uid\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-c\"},\"attrs\":{\"slug\":\"team-c\",\"trusted_builders\":[\"https://builder.test\"],\"source_repositories\":[]},\"parents\":[]},{\"uid\":{\"type\":\"Gatehouse::Repository\",\"id\":\"gpuaas/tenants/acme/team-a/trainer\"},\"attrs\":{\"path\":\"gpuaas/tenants/acme/team-a/trainer\",\"visibility\":\"tenant\",\"tenant\":\"acme\"},\"parents\":[{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"}]},{\"uid\":{\"type\":\"Gatehouse::ServiceAccount\",\"id\":\"olivia\"},\"attrs\":{\"issuer\":\"https://issuer.test\",\"admin_of\":[{\"__entity\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-c\"}}],\"operator_of\":[{\"__entity\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"}},{\"__entity\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-b\"}}],\"releaser_of\":[],\"viewer_of\":[],\"platform_roles\":[\"security_admin\"],\"ci_repository\":\"org/x\",\"ci_ref\":\"refs/heads/main\"},\"parents\":[]}]";

    /// A slice whose parents do not hold every ancestor (none built here is such) is closed by
    /// Cedar, and one naming itself is refused; a closed one is taken as it is.
    #[test]
    fn only_a_closed_slice_skips_the_closure() {
        let trust = ProvenanceTrust::default();
        let (artifact, repository, project) = (
            Uid::new("Artifact", "a"),
            Uid::new("Repository", "r"),
            Uid::new("Project", "p"),
        );
        let entity = |parents: &[&Uid]| SliceEntity {
            attrs: Vec::new(),
            parents: parents.iter().map(|p| (*p).clone()).collect(),
        };
        let slice = |artifact_parents: &[&Uid], project_parents: &[&Uid]| EntitySlice {
            principal: Uid::new("Registry", "zot"),
            resource: artifact.clone(),
            entities: BTreeMap::from([
                (artifact.clone(), entity(artifact_parents)),
                (repository.clone(), entity(&[&project])),
                (project.clone(), entity(project_parents)),
            ]),
            provenance: &trust,
            problem: None,
        };
        let cedar = |slice: &EntitySlice<'_>| {
            let entities = slice
                .entities
                .iter()
                .map(|(uid, e)| e.to_cedar(uid).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()?;
            assemble(entities, slice.ancestry_is_closed(), None)
        };
        let (a, p) = (artifact.to_cedar().unwrap(), project.to_cedar().unwrap());

        let closed = slice(&[&repository, &project], &[]);
        assert!(closed.ancestry_is_closed());
        assert!(cedar(&closed).unwrap().is_ancestor_of(&p, &a));

        // The project only through the repository: Cedar adds it.
        let open = slice(&[&repository], &[]);
        assert!(!open.ancestry_is_closed());
        let closed_by_cedar = cedar(&open).unwrap();
        assert!(closed_by_cedar.is_ancestor_of(&p, &a));
        assert!(closed_by_cedar.as_ref().deep_eq(cedar(&closed).unwrap().as_ref()));

        // A cycle (the project under the artifact) is never taken as closed, and Cedar refuses it.
        let cyclic = slice(&[&repository, &project], &[&artifact]);
        assert!(!cyclic.ancestry_is_closed());
        assert!(cedar(&cyclic).is_err());
        let own_parent = slice(&[&artifact, &repository, &project], &[]);
        assert!(!own_parent.ancestry_is_closed());
    }

    /// A record attribute is built as Cedar evaluates its literal, and one repeating a key is
    /// refused as Cedar refuses it.
    #[test]
    fn records_are_built_as_cedar_evaluates_them() {
        let record = Attr::Record(vec![
            ("b".to_owned(), Attr::str("x")),
            (
                "a".to_owned(),
                Attr::Set(vec![Attr::Bool(true), Attr::Entity(Uid::new("Project", "p"))]),
            ),
        ]);
        let uid = Uid::new("Registry", "zot");
        let facts = SliceEntity {
            attrs: vec![("r", record)],
            parents: Vec::new(),
        };
        let built = facts.to_cedar(&uid).unwrap();
        let evaluated = facts.to_cedar_evaluated(&uid).unwrap();
        assert!(built.deep_eq(evaluated.as_ref()));

        let repeated = Attr::Record(vec![
            ("a".to_owned(), Attr::str("x")),
            ("a".to_owned(), Attr::str("y")),
        ]);
        assert!(repeated.to_value().is_err());
        assert!(repeated.to_expression().is_err());
    }

    /// The table the slice's JSON writes type names from says what formatting them would.
    #[test]
    fn every_entity_type_has_its_qualified_name() {
        for ty in ENTITY_TYPES {
            let uid = Uid::new(ty, "x");
            assert_eq!(uid.static_qualified_type(), Some(uid.qualified_type().as_str()));
        }
        assert_eq!(Uid::new("Unlisted", "x").static_qualified_type(), None);
        let mut text = String::new();
        write_uid(&mut text, &Uid::new("Unlisted", "x"), None);
        assert_eq!(text, r#"{"type":"Gatehouse::Unlisted","id":"x"}"#);
    }

    #[test]
    fn facts_of_an_earlier_verdict_are_left_out_of_both_forms() {
        let (revoked, trust) = (artifact("revoked"), ProvenanceTrust::default());
        let slice = build_slice(
            &Caller::Registry { name: "zot" },
            &Resource::Artifact(&revoked),
            &trust,
        );
        let json = slice.to_json();
        let artifact = json
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["uid"]["type"] == "Gatehouse::Artifact")
            .unwrap();
        assert_eq!(artifact["attrs"]["signer_key_ids"], json!([]));
        assert!(artifact["attrs"].get("provenance").is_none());
    }
}
