//! The immutable policy engine: one validated set, asked one question at a time.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet, Request, Response,
};
use serde_json::{Value, json};

use super::entities::{EntitySlice, SliceEntityCache, Uid, build_slice};
use super::loader::{LoadedSet, PolicyLoadError, load_set, load_sources};
use super::read_facts::ReadFacts;
use super::reasons::Reasons;
use super::request::{Action, Decision, PolicyRequest, RequestContext};
use super::request_check::{RequestShape, context_fields};
use super::slice::{Part, ScopeIndex};
use super::verdict_cache::{CacheUse, VerdictCache};
use crate::audit::{JsonText, push_json_string};
use crate::domain::ProvenanceTrust;

/// A validated schema and policy set, parsed once at load and never per request.
#[derive(Debug, Clone)]
pub struct PolicyEngine {
    set: LoadedSet,
    /// The set without its dry-run (`@mode("warn")`) forbids: what is enforced.
    enforced: PolicySet,
    /// Ids of the dry-run forbids.
    dry_run: HashSet<String>,
    /// Each policy's `@reason`, read once (Cedar parses the key on every lookup).
    reasons: Arc<Reasons>,
    /// The projects' and repositories' Cedar entities by their facts, shared by clones.
    entities: Arc<SliceEntityCache>,
    /// Channels on which every forbid is dry-run (config `policy_dry_run_channels`): not part
    /// of the set's hash, it is carried from one loaded set to the next.
    dry_run_channels: BTreeSet<String>,
    /// Configured provenance trust (config `[trust.provenance]`), put on every `Project` entity;
    /// configuration like the dry-run channels, carried from one loaded set to the next.
    provenance: Arc<ProvenanceTrust>,
    /// The set indexed by scope: each request is evaluated over the policies that can apply.
    index: ScopeIndex,
    /// Off only to check, in tests, that the slice decides as the whole set does.
    slicing: bool,
    /// The schema's action entities, built once, when it groups actions: every request's
    /// entities then start from them. Without groups `action in …` is equality: none needed.
    actions: Option<Entities>,
    authorizer: Authorizer,
    /// Verdicts of live decisions by their recorded input. It belongs to this engine: anything
    /// that changes what a verdict would be builds the result a fresh one; clones of one engine
    /// (identical, so their verdicts are too) share it.
    verdicts: Arc<VerdictCache<Verdict>>,
    /// The attributes and uid types the set can see: the verdict cache's fact keys.
    read_facts: Arc<ReadFacts>,
    // Kept so a reload reads the same files the running set came from.
    schema_file: PathBuf,
    policy_dir: PathBuf,
}

impl PolicyEngine {
    /// Loads and strictly validates `policy_dir/*.cedar` against `schema_file`.
    pub fn load(schema_file: &Path, policy_dir: &Path) -> Result<Self, PolicyLoadError> {
        Self::from_set(load_set(schema_file, policy_dir)?, schema_file, policy_dir)
    }

    /// Builds the engine from a stored bundle's files (another instance's reload); later reloads
    /// of this instance still read `policy_dir`.
    pub fn load_bundle(
        schema_file: &Path,
        policy_dir: &Path,
        files: Vec<(String, String)>,
    ) -> Result<Self, PolicyLoadError> {
        Self::from_set(
            load_sources(schema_file, files, policy_dir)?,
            schema_file,
            policy_dir,
        )
    }

    /// The validated schema.
    pub(crate) fn schema(&self) -> &cedar_policy::Schema {
        &self.set.schema
    }

    /// The whole set, dry-run forbids included.
    pub(crate) fn policies(&self) -> &PolicySet {
        &self.set.policies
    }

    /// The enforced set: without its dry-run forbids.
    pub(crate) fn enforced(&self) -> &PolicySet {
        &self.enforced
    }

    /// Every policy file's (name, text), sorted by name: the bundle other instances adopt.
    pub fn sources(&self) -> &[(String, String)] {
        &self.set.sources
    }

    fn from_set(set: LoadedSet, schema_file: &Path, policy_dir: &Path) -> Result<Self, PolicyLoadError> {
        let (enforced, dry_run) = split_dry_run(&set.policies)?;
        let index = ScopeIndex::new(&set.policies, &|id| dry_run.contains(id));
        let actions = Entities::from_entities([], Some(&set.schema)).map_err(|e| PolicyLoadError {
            problems: vec![super::loader::PolicyProblem {
                file: "schema".to_owned(),
                line: None,
                reason: format!("the schema's actions do not form entities: {e}"),
            }],
        })?;
        let grouped = actions.iter().any(|action| {
            actions
                .ancestors(&action.uid())
                .is_some_and(|mut a| a.next().is_some())
        });
        Ok(Self {
            actions: grouped.then_some(actions),
            reasons: Arc::new(Reasons::of(&set.policies)),
            read_facts: Arc::new(ReadFacts::of(&set.policies)),
            entities: Arc::default(),
            set,
            enforced,
            dry_run,
            dry_run_channels: BTreeSet::new(),
            provenance: Arc::default(),
            index,
            slicing: true,
            authorizer: Authorizer::new(),
            // Off until configured: the gateway turns it on (`with_decision_cache`), tools and
            // benchmarks that load a set evaluate every decision.
            verdicts: Arc::new(VerdictCache::new(0)),
            schema_file: schema_file.to_path_buf(),
            policy_dir: policy_dir.to_path_buf(),
        })
    }

    /// The same set with every forbid dry-run on `channels` (config `policy_dry_run_channels`).
    #[must_use]
    pub fn with_dry_run_channels(mut self, channels: impl IntoIterator<Item = String>) -> Self {
        self.dry_run_channels = channels.into_iter().collect();
        self.with_fresh_verdicts()
    }

    /// The same set with `trust` (config `[trust.provenance]`) on every `Project` entity.
    #[must_use]
    pub fn with_provenance_trust(mut self, trust: Arc<ProvenanceTrust>) -> Self {
        // The trust is on the Project entities, so in the cache's key too; a fresh cache anyway,
        // so no verdict outlives a configuration change.
        self.provenance = trust;
        self.with_fresh_verdicts()
    }

    /// The same set keeping at most `entries` verdicts of live decisions (config
    /// `policy_decision_cache_entries`; 0: none, every decision is evaluated).
    #[must_use]
    pub fn with_decision_cache(mut self, entries: usize) -> Self {
        self.verdicts = Arc::new(VerdictCache::new(entries));
        self
    }

    /// How many verdicts this engine keeps (0: the cache is off); a reload carries it over.
    pub fn decision_cache_entries(&self) -> usize {
        self.verdicts.capacity()
    }

    /// An empty cache of the same size, not shared with the engine this one was made from.
    fn with_fresh_verdicts(self) -> Self {
        let entries = self.verdicts.capacity();
        self.with_decision_cache(entries)
    }

    /// The provenance trust every `Project` entity carries.
    pub fn provenance_trust(&self) -> &Arc<ProvenanceTrust> {
        &self.provenance
    }

    /// The channels on which every forbid is dry-run.
    pub fn dry_run_channels(&self) -> impl Iterator<Item = &str> {
        self.dry_run_channels.iter().map(String::as_str)
    }

    /// The projects' and repositories' built entities (tests).
    #[cfg(test)]
    pub(crate) fn entity_cache(&self) -> &SliceEntityCache {
        &self.entities
    }

    /// The same set evaluated whole for every request, to check the slice against.
    #[cfg(test)]
    pub(crate) fn without_slicing(mut self) -> Self {
        self.slicing = false;
        self.with_fresh_verdicts()
    }

    /// The hash the schema and policy files on disk would load as now (no parsing), to notice
    /// edits cheaply.
    pub fn content_hash_on_disk(&self) -> Result<String, PolicyLoadError> {
        super::loader::content_hash(&self.schema_file, &self.policy_dir)
    }

    /// The schema file this set was validated against.
    pub fn schema_file(&self) -> &Path {
        &self.schema_file
    }

    /// The directory the policy files were read from.
    pub fn policy_dir(&self) -> &Path {
        &self.policy_dir
    }

    /// sha256 hex over the schema text and every (file name, content), sorted by name.
    pub fn hash(&self) -> &str {
        &self.set.hash
    }

    /// The policy file names, sorted.
    pub fn files(&self) -> &[String] {
        &self.set.files
    }

    /// The gated actions no `permit` in the set names (so none can be allowed), in schema order.
    pub fn uncovered_actions(&self) -> Vec<Action> {
        let actions = self.set.schema.action_entities().ok();
        super::coverage::uncovered_actions(&self.set.policies, actions.as_ref())
    }

    /// Warns once per action no permit can allow (start-up and every reload call it).
    pub fn warn_uncovered_actions(&self) {
        for action in self.uncovered_actions() {
            tracing::warn!(
                action = action.as_str(),
                policy_hash = self.hash(),
                "no permit in the policy set can allow action `{action}`: {}",
                super::coverage::uncovered_consequence(action)
            );
        }
    }

    /// Every policy id (the `@id` annotations), sorted.
    pub fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.set.policies.policies().map(|p| p.id().to_string()).collect();
        ids.sort();
        ids
    }

    /// Decides one request over its own entity slice; any failure is a deny, never a panic.
    pub fn decide(&self, req: &PolicyRequest<'_>) -> Decision {
        self.decide_with(req, &self.provenance).0
    }

    /// [`Self::decide`], saying whether the verdict came from the cache (for the metrics).
    pub fn decide_noting_cache(&self, req: &PolicyRequest<'_>) -> (Decision, CacheUse) {
        self.decide_with(req, &self.provenance)
    }

    /// Decides with `provenance` on the `Project` entities instead of the configured trust (a
    /// policy test case brings its own; it is on the recorded entities, so in the cache's key).
    pub(crate) fn decide_with(
        &self,
        req: &PolicyRequest<'_>,
        provenance: &ProvenanceTrust,
    ) -> (Decision, CacheUse) {
        let slice = build_slice(&req.caller, &req.resource, provenance);
        let action = Uid::new("Action", req.action.as_str());
        let uids = (
            slice.principal.to_cedar(),
            action.to_cedar(),
            slice.resource.to_cedar(),
        );
        let resource = uid_string(&slice.resource, &uids.2);
        // The record's JSON is written as text straight from the typed values (no `Value` tree).
        let request_principal = uid_string(&slice.principal, &uids.0);
        let request_action = uid_string(&action, &uids.1);
        let request = StoredRequest {
            principal: &request_principal,
            action: &request_action,
            resource: &resource,
            context: &req.context,
        }
        .to_json_text();
        let read_facts = self.verdicts.is_on().then_some(&*self.read_facts);
        let (entities, fact_entities) = slice.to_json_text_and_fact_key(read_facts);
        // The recorded texts determine the verdict, except where building the request or the
        // slice failed before them (a uid Cedar refuses, a fact that could not be typed and so
        // is missing from the text): those are never looked up, and only a verdict Cedar
        // reached is kept.
        let cacheable = self.verdicts.is_on()
            && slice.is_complete()
            && uids.0.is_ok()
            && uids.1.is_ok()
            && uids.2.is_ok();
        // Keyed by the facts the policies can see when that says all a verdict depends on
        // (`ReadFacts`): artifacts alike in those share one verdict. Otherwise by the texts.
        let fact_key = fact_entities.filter(|_| cacheable).map(|entities| {
            let request = fact_request(
                &request_principal,
                slice.principal == slice.resource,
                &request_action,
                &req.context,
            );
            (request, entities)
        });
        let (verdict, used) = if cacheable {
            let key = match &fact_key {
                Some((request, entities)) => self.verdicts.key(request, entities),
                None => self.verdicts.key(request.get(), entities.get()),
            };
            match self.verdicts.get(&key) {
                Some(verdict) => (Ok(verdict), CacheUse::Hit),
                None => {
                    match self
                        .evaluate(&slice, uids, req.action, &req.context)
                        .map(|e| self.verdict(&e, req.action))
                    {
                        // An error's text may name the resource: such a verdict is this
                        // artifact's own, never shared by facts.
                        Ok(verdict) if fact_key.is_some() && !verdict.errors.is_empty() => {
                            (Ok(verdict), CacheUse::Bypassed)
                        }
                        Ok(verdict) => {
                            self.verdicts.insert(&key, &verdict, verdict.text_len());
                            (Ok(verdict), CacheUse::Miss)
                        }
                        Err(error) => (Err(error), CacheUse::Bypassed),
                    }
                }
            }
        } else {
            (
                self.evaluate(&slice, uids, req.action, &req.context)
                    .map(|e| self.verdict(&e, req.action)),
                CacheUse::Bypassed,
            )
        };
        // Fail closed: a request we cannot even build is denied, with the cause recorded.
        let decision = Decision {
            resource,
            ..self.decision(verdict, "the request", request, entities)
        };
        (decision, used)
    }

    /// The decision from a verdict, or a deny carrying the error that kept `what` from being
    /// evaluated.
    fn decision(
        &self,
        verdict: Result<Verdict, String>,
        what: &str,
        request: JsonText,
        entities: JsonText,
    ) -> Decision {
        let verdict = verdict.unwrap_or_else(|error| Verdict {
            allowed: false,
            policy_ids: Vec::new(),
            reasons: vec![format!("{what} could not be evaluated: {error}")],
            errors: vec![error],
            would_deny: Vec::new(),
        });
        Decision {
            allowed: verdict.allowed,
            policy_ids: verdict.policy_ids,
            reasons: verdict.reasons,
            errors: verdict.errors,
            policy_hash: self.set.hash.clone(),
            request,
            entities,
            resource: String::new(),
            would_deny: verdict.would_deny,
        }
    }

    /// Evaluates a live request over its slice's typed entities: no JSON is parsed.
    fn evaluate(
        &self,
        slice: &EntitySlice<'_>,
        (principal, action, resource): (CedarUid, CedarUid, CedarUid),
        req_action: Action,
        context: &RequestContext,
    ) -> Result<Evaluated, String> {
        let schema = &self.set.schema;
        let (principal, action, resource) = (principal?, action?, resource?);
        let cedar_context = context.cedar_context();
        // With the schema, the context is checked against the action as `from_json_value` would
        // (once per request shape: the same shape always gets the same answer).
        let shape = RequestShape {
            principal: slice.principal.ty,
            action: req_action,
            resource: slice.resource.ty,
            fields: context_fields(context),
        };
        let request =
            self.set
                .request_checks
                .request(schema, shape, (principal, action, resource), cedar_context)?;
        let entities = slice.to_cedar(schema, self.actions.as_ref(), &self.entities)?;
        Ok(self.evaluate_request(&request, &entities, context.channel.as_deref()))
    }

    /// Evaluates a stored request and its entities-JSON, as recorded.
    fn evaluate_uids(
        &self,
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
        context: Value,
        entities: Value,
    ) -> Result<Evaluated, String> {
        let channel = context.get("channel").and_then(Value::as_str).map(str::to_owned);
        let (request, entities) = self.cedar_request(principal, action, resource, context, entities)?;
        Ok(self.evaluate_request(&request, &entities, channel.as_deref()))
    }

    fn evaluate_request(&self, request: &Request, entities: &Entities, channel: Option<&str>) -> Evaluated {
        // Per-channel dry-run: on a listed channel every forbid only warns.
        let channel_dry_run = channel.is_some_and(|channel| self.dry_run_channels.contains(channel));
        let candidates = self.candidates(request, entities);
        let set = |part| self.sliced(&candidates, part);
        let full = self.authorizer.is_authorized(request, &set(Part::All), entities);
        // A deny that only dry-run forbids decided is asked again without them: the answer
        // that counts is the enforced one, and the dry-run forbids are reported as "would deny".
        // Forbids are the only policies that decide a deny, so on a dry-run channel every
        // reason qualifies and the permits alone must allow (fail closed).
        let only_dry_run = full.decision() == CedarDecision::Deny
            && full.diagnostics().errors().next().is_none()
            && full.diagnostics().reason().next().is_some()
            && (channel_dry_run
                || full
                    .diagnostics()
                    .reason()
                    .all(|id| self.dry_run.contains(AsRef::<str>::as_ref(id))));
        if only_dry_run {
            let part = if channel_dry_run {
                Part::Permits
            } else {
                Part::Enforced
            };
            let enforced = self.authorizer.is_authorized(request, &set(part), entities);
            if enforced.decision() == CedarDecision::Allow {
                let mut would_deny: Vec<String> =
                    full.diagnostics().reason().map(ToString::to_string).collect();
                would_deny.sort();
                return Evaluated {
                    response: enforced,
                    would_deny,
                };
            }
        }
        Evaluated {
            response: full,
            would_deny: Vec::new(),
        }
    }

    /// The positions of the policies whose scope holds for `request` (`None`, meaning all of
    /// them as written, when slicing is off, the index is, or the request names no entity we
    /// can index by).
    fn candidates(&self, request: &Request, entities: &Entities) -> Option<Vec<usize>> {
        if !self.slicing {
            return None;
        }
        match (request.principal(), request.action(), request.resource()) {
            (Some(principal), Some(action), Some(resource)) => {
                self.index.candidates(principal, action, resource, entities)
            }
            _ => None,
        }
    }

    /// The policies of `part` among `candidates`, in their bare (scope-free) form (`None`: the
    /// whole set as written).
    fn sliced(&self, candidates: &Option<Vec<usize>>, part: Part) -> SetRef<'_> {
        match (candidates, part) {
            (Some(candidates), part) => SetRef::Shared(self.index.shared_set(candidates, part)),
            (None, Part::All) => SetRef::Borrowed(&self.set.policies),
            (None, Part::Enforced) => SetRef::Borrowed(&self.enforced),
            (None, Part::Permits) => SetRef::Shared(self.index.whole_set(Part::Permits)),
        }
    }

    /// Builds a schema-checked Cedar request and entity set.
    fn cedar_request(
        &self,
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
        context: Value,
        entities: Value,
    ) -> Result<(Request, Entities), String> {
        let schema = &self.set.schema;
        let context = Context::from_json_value(context, Some((schema, &action)))
            .map_err(|e| format!("invalid request context: {e}"))?;
        let request = Request::new(principal, action, resource, context, Some(schema))
            .map_err(|e| format!("invalid request: {e}"))?;
        let entities = Entities::from_json_value(entities, Some(schema))
            .map_err(|e| format!("invalid entity slice: {e}"))?;
        Ok((request, entities))
    }

    /// Whether the permits alone allow a decided request (its stored `request` and `entities`),
    /// with no policy erroring: what a break-glass override may restore, and nothing more.
    pub fn permits_allow(&self, request: &Value, entities: &Value) -> bool {
        let uid = |field: &str| {
            request
                .get(field)
                .and_then(Value::as_str)
                .and_then(|text| EntityUid::from_str(text).ok())
        };
        let (Some(principal), Some(action), Some(resource)) =
            (uid("principal"), uid("action"), uid("resource"))
        else {
            return false;
        };
        let context = request.get("context").cloned().unwrap_or_else(|| json!({}));
        let Ok((request, entities)) =
            self.cedar_request(principal, action, resource, context, entities.clone())
        else {
            return false;
        };
        let candidates = self.candidates(&request, &entities);
        let permits = self.sliced(&candidates, Part::Permits);
        let response = self.authorizer.is_authorized(&request, &permits, &entities);
        response.decision() == CedarDecision::Allow && response.diagnostics().errors().next().is_none()
    }

    /// Re-decides a stored decision's `request` and `entities` against this set. A record that no
    /// longer fits the schema is a deny carrying the error, as a live request would be.
    pub fn decide_stored(&self, request: &Value, entities: &Value) -> Decision {
        let verdict = self
            .evaluate_stored(request, entities)
            .map(|(e, action)| self.verdict(&e, action));
        Decision {
            resource: stored_resource(request),
            ..self.decision(verdict, "the stored request", request.into(), entities.into())
        }
    }

    /// Decides a `request` and `entities` given in the stored form (an offline question), or says
    /// why they could not be evaluated at all: unlike [`Self::decide_stored`] a request that does
    /// not fit the schema is an error, not a deny, so a caller can tell the two apart.
    pub fn try_decide_stored(&self, request: &Value, entities: &Value) -> Result<Decision, String> {
        let (evaluated, action) = self.evaluate_stored(request, entities)?;
        let verdict = self.verdict(&evaluated, action);
        Ok(Decision {
            resource: stored_resource(request),
            ..self.decision(Ok(verdict), "the request", request.into(), entities.into())
        })
    }

    fn evaluate_stored(&self, request: &Value, entities: &Value) -> Result<(Evaluated, Action), String> {
        let uid = |field: &str| -> Result<EntityUid, String> {
            let text = request
                .get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the stored request has no `{field}`"))?;
            EntityUid::from_str(text).map_err(|e| format!("`{field}` `{text}` is not an entity uid: {e}"))
        };
        let action_uid = uid("action")?;
        let name = action_uid.id().unescaped().to_owned();
        let action = Action::parse(&name).ok_or_else(|| format!("action `{name}` is not known"))?;
        let context = request.get("context").cloned().unwrap_or_else(|| json!({}));
        let response = self.evaluate_uids(
            uid("principal")?,
            action_uid,
            uid("resource")?,
            context,
            entities.clone(),
        )?;
        Ok((response, action))
    }

    fn verdict(&self, evaluated: &Evaluated, action: Action) -> Verdict {
        let response = &evaluated.response;
        let diagnostics = response.diagnostics();
        // Sorted: Cedar reports them as a set, and the log and replay compare them as lists.
        let mut determining: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        determining.sort();
        let mut errored: Vec<(String, String)> = diagnostics
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(err) => {
                    (err.policy_id().to_string(), err.inner().to_string())
                }
            })
            .collect();
        errored.sort();
        let reason_of = |id: &str| self.reasons.of_policy(id);
        let mut verdict = combine(
            response.decision() == CedarDecision::Allow,
            determining,
            errored,
            action,
            &reason_of,
        );
        if verdict.allowed && !evaluated.would_deny.is_empty() {
            verdict.reasons = evaluated
                .would_deny
                .iter()
                .map(|id| format!("would deny (dry run): {}", reason_of(id)))
                .collect();
            verdict.would_deny = evaluated.would_deny.clone();
        }
        verdict
    }
}

/// Splits out the forbids annotated `@mode("warn")`: they are evaluated and reported but never
/// deny. A permit cannot be dry-run (it would widen access), and `mode` is `warn` or `enforce`.
fn split_dry_run(policies: &PolicySet) -> Result<(PolicySet, HashSet<String>), PolicyLoadError> {
    let mut enforced = PolicySet::new();
    let mut dry_run = HashSet::new();
    let mut problems = Vec::new();
    for policy in policies.policies() {
        let id = policy.id().to_string();
        match policy.annotation("mode") {
            Some("warn") if policy.effect() == cedar_policy::Effect::Forbid => {
                dry_run.insert(id);
                continue;
            }
            Some("warn") => problems.push(format!(
                "policy `{id}`: only a `forbid` can be in `@mode(\"warn\")`"
            )),
            None | Some("enforce") => {}
            Some(other) => problems.push(format!(
                "policy `{id}`: unknown `@mode(\"{other}\")`; use `warn` or `enforce`"
            )),
        }
        if enforced.add(policy.clone()).is_err() {
            problems.push(format!("policy `{id}` could not be added to the enforced set"));
        }
    }
    if problems.is_empty() {
        Ok((enforced, dry_run))
    } else {
        Err(PolicyLoadError {
            problems: problems
                .into_iter()
                .map(|reason| super::loader::PolicyProblem {
                    file: "policy set".to_owned(),
                    line: None,
                    reason,
                })
                .collect(),
        })
    }
}

/// A stored request's `resource`, or empty.
fn stored_resource(request: &Value) -> String {
    request
        .get("resource")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A uid as the record stores it: Cedar's string form, e.g. `Gatehouse::User::"alice"`.
type CedarUid = Result<EntityUid, String>;

/// The Cedar string form of `uid` (already converted as `cedar`).
fn uid_string(uid: &Uid, cedar: &CedarUid) -> String {
    match cedar {
        // Cedar writes `<type>::"<id escaped as str::escape_debug>"`; an id of printable ASCII
        // without quotes or backslashes escapes to itself, so it is written here without
        // Cedar's formatter (a third of a cached review's request text cost).
        Ok(_) if uid.id.bytes().all(unescaped_in_uid) => {
            let mut text = String::with_capacity(uid.ty.len() + uid.id.len() + 15);
            for part in ["Gatehouse::", uid.ty, "::\"", &uid.id, "\""] {
                text.push_str(part);
            }
            text
        }
        Ok(cedar) => cedar.to_string(),
        Err(_) => format!("Gatehouse::{}::{:?}", uid.ty, uid.id),
    }
}

/// Whether `str::escape_debug` (Cedar's uid escaping) leaves this byte as it is.
fn unescaped_in_uid(byte: u8) -> bool {
    byte == b' ' || (byte.is_ascii_graphic() && !matches!(byte, b'"' | b'\\' | b'\''))
}

/// A live request as the decision log stores it: `{principal, action, resource, context}`, the
/// uids in Cedar's string form, the context without its unset fields.
#[cfg_attr(test, derive(serde::Serialize))]
struct StoredRequest<'a> {
    principal: &'a str,
    action: &'a str,
    resource: &'a str,
    context: &'a RequestContext,
}

/// Room for a review's request text (three uids and a few context words: ~300 bytes).
const REQUEST_TEXT_BYTES: usize = 512;

impl StoredRequest<'_> {
    /// Written by hand, every string through [`push_json_string`]: byte for byte what
    /// serde_json writes for this struct (its derived form, which the tests compare with).
    fn to_json_text(&self) -> JsonText {
        let mut out = String::with_capacity(REQUEST_TEXT_BYTES);
        for (key, value) in [
            ("{\"principal\":", self.principal),
            (",\"action\":", self.action),
            (",\"resource\":", self.resource),
        ] {
            out.push_str(key);
            push_json_string(&mut out, value);
        }
        out.push_str(",\"context\":");
        write_context(&mut out, self.context);
        out.push('}');
        JsonText::written(out)
    }
}

/// The context as a JSON object: its fields in declaration order, the unset ones left out (its
/// `skip_serializing_if`).
fn write_context(out: &mut String, context: &RequestContext) {
    out.push('{');
    let (strings, flags) = context.fields();
    let mut first = true;
    let mut separate = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    for (name, value) in strings {
        if let Some(value) = value {
            separate(out);
            push_json_string(out, name);
            out.push(':');
            push_json_string(out, value);
        }
    }
    for (name, value) in flags {
        if let Some(value) = value {
            separate(out);
            push_json_string(out, name);
            out.push_str(if value { ":true" } else { ":false" });
        }
    }
    out.push('}');
}

/// The request part of a fact key: `@`, then the principal and action uids and the context, each
/// after a NUL (which no uid string or JSON text holds); the resource is the slice's `@`, and
/// so is the principal if it were the resource. Never a recorded request text (those start `{`).
fn fact_request(
    principal: &str,
    principal_is_resource: bool,
    action: &str,
    context: &RequestContext,
) -> String {
    let mut out = String::with_capacity(REQUEST_TEXT_BYTES);
    out.push('@');
    out.push('\0');
    out.push_str(if principal_is_resource { "@" } else { principal });
    out.push('\0');
    out.push_str(action);
    out.push('\0');
    write_context(&mut out, context);
    out
}

/// The parts of a [`Decision`] that depend on evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) policy_ids: Vec<String>,
    pub(crate) reasons: Vec<String>,
    pub(crate) errors: Vec<String>,
    pub(crate) would_deny: Vec<String>,
}

impl Verdict {
    /// The bytes of text it holds (the verdict cache's weight).
    fn text_len(&self) -> usize {
        [&self.policy_ids, &self.reasons, &self.errors, &self.would_deny]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum()
    }
}

/// A policy set the engine holds or one the scope index built and shares.
enum SetRef<'a> {
    Borrowed(&'a PolicySet),
    Shared(Arc<PolicySet>),
}

impl std::ops::Deref for SetRef<'_> {
    type Target = PolicySet;

    fn deref(&self) -> &PolicySet {
        match self {
            Self::Borrowed(set) => set,
            Self::Shared(set) => set,
        }
    }
}

/// Cedar's answer, and the dry-run forbids it set aside.
struct Evaluated {
    response: Response,
    would_deny: Vec<String>,
}

/// Combines Cedar's answer with its errors. Cedar skips an erroring policy — for a forbid that
/// would turn a deny into an allow — so any error makes the decision a deny here.
pub(crate) fn combine(
    cedar_allowed: bool,
    determining: Vec<String>,
    errored: Vec<(String, String)>,
    action: Action,
    reason_of: &dyn Fn(&str) -> String,
) -> Verdict {
    if !errored.is_empty() {
        // On Cedar's allow the determining ids are permits, which did not decide this deny.
        let mut policy_ids = if cedar_allowed { Vec::new() } else { determining };
        let mut reasons: Vec<String> = policy_ids.iter().map(|id| reason_of(id)).collect();
        let mut errors = Vec::new();
        for (id, message) in errored {
            let text = format!("policy `{id}` errored: {message}");
            reasons.push(text.clone());
            errors.push(text);
            if !policy_ids.contains(&id) {
                policy_ids.push(id);
            }
        }
        return Verdict {
            allowed: false,
            policy_ids,
            reasons,
            errors,
            would_deny: Vec::new(),
        };
    }
    if cedar_allowed {
        return Verdict {
            allowed: true,
            policy_ids: determining,
            reasons: Vec::new(),
            errors: Vec::new(),
            would_deny: Vec::new(),
        };
    }
    let reasons = if determining.is_empty() {
        vec![format!("no policy permits `{action}` on this resource")]
    } else {
        determining.iter().map(|id| reason_of(id)).collect()
    };
    Verdict {
        allowed: false,
        policy_ids: determining,
        reasons,
        errors: Vec::new(),
        would_deny: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Any id at all, beside the fixed characters of `a_recorded_uid_is_written_as_cedar_writes_it`.
    proptest::proptest! {
        #[test]
        fn uid_text_is_what_cedar_displays_for_any_id(id in proptest::prelude::any::<String>()) {
            let uid = Uid::new("Repository", id);
            let cedar = uid.to_cedar().unwrap();
            proptest::prop_assert_eq!(uid_string(&uid, &Ok(cedar.clone())), cedar.to_string());
        }
    }

    // Any words at all in the request, each context field set or not.
    proptest::proptest! {
        #[test]
        fn request_text_is_what_serde_json_writes_for_any_words(
            words in proptest::collection::vec(proptest::option::of(proptest::prelude::any::<String>()), 10),
            flags in proptest::collection::vec(proptest::option::of(proptest::prelude::any::<bool>()), 2),
        ) {
            let word = |i: usize| words[i].clone();
            let context = RequestContext {
                artifact_kind: word(3),
                source_type: word(4),
                channel: word(5),
                target_environment: word(6),
                previous_channel: word(7),
                deploy_action: word(8),
                runtime_class: word(9),
                via_registry_notification: flags[0],
                break_glass: flags[1],
            };
            let uid = |i: usize| word(i).unwrap_or_default();
            let (principal, action, resource) = (uid(0), uid(1), uid(2));
            let request = StoredRequest { principal: &principal, action: &action, resource: &resource, context: &context };
            let expected = serde_json::to_string(&request).unwrap();
            let text = request.to_json_text();
            proptest::prop_assert_eq!(text.get(), expected.as_str());
        }
    }

    fn reason(id: &str) -> String {
        format!("forbidden by policy `{id}`")
    }

    /// The record's uid text is Cedar's own form for every type and every id character: the
    /// ones written without Cedar's formatter and the ones Cedar escapes.
    #[test]
    fn a_recorded_uid_is_written_as_cedar_writes_it() {
        let types = crate::policy::entities::ENTITY_TYPES;
        let mut ids: Vec<String> = (0..=0x7f_u8).map(|b| format!("a{}b", char::from(b))).collect();
        ids.extend(
            [
                "",
                "'",
                "\"",
                "\\",
                " ",
                "é",
                "\u{301}x",
                "x\u{301}",
                "sha256:0123abc",
                "acme/payments@x",
            ]
            .map(String::from),
        );
        for ty in types {
            for id in &ids {
                let uid = Uid::new(ty, id.clone());
                let cedar = uid.to_cedar();
                let expected = cedar.as_ref().expect("a known type").to_string();
                assert_eq!(uid_string(&uid, &cedar), expected, "type {ty}, id {id:?}");
            }
        }
    }

    #[test]
    fn an_error_turns_an_allow_into_a_deny_naming_the_erroring_policy() {
        let v = combine(
            true,
            vec!["permit-a".into()],
            vec![("forbid-x".into(), "overflow".into())],
            Action::Promote,
            &reason,
        );
        assert!(!v.allowed);
        assert_eq!(v.policy_ids, vec!["forbid-x".to_owned()]);
        assert_eq!(v.errors, vec!["policy `forbid-x` errored: overflow".to_owned()]);
    }

    #[test]
    fn a_deny_without_permits_says_so_and_names_no_policy() {
        let v = combine(false, Vec::new(), Vec::new(), Action::Admit, &reason);
        assert!(!v.allowed && v.policy_ids.is_empty());
        assert_eq!(
            v.reasons,
            vec!["no policy permits `admit` on this resource".to_owned()]
        );
    }

    #[test]
    fn a_forbid_deny_keeps_the_forbid_ids_and_their_reasons() {
        let v = combine(
            false,
            vec!["f".into()],
            vec![("g".into(), "bad".into())],
            Action::Read,
            &reason,
        );
        assert_eq!(v.policy_ids, vec!["f".to_owned(), "g".to_owned()]);
        assert_eq!(v.reasons.len(), 2);
        let ok = combine(true, vec!["p".into()], Vec::new(), Action::Read, &reason);
        assert!(ok.allowed && ok.reasons.is_empty());
    }

    #[test]
    fn the_shipped_policies_cover_every_action() {
        let engine = PolicyEngine::load(
            &crate::repo_path("schemas/gatehouse.cedarschema"),
            &crate::repo_path("policies"),
        )
        .unwrap();
        assert_eq!(engine.uncovered_actions(), Vec::<Action>::new());
    }
}

#[cfg(test)]
mod action_group_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::policy::{Caller, RequestContext, Resource};

    /// With action groups in the schema the request's entities carry the action entities, so
    /// `action in <group>` still matches the group's members (and only them).
    #[test]
    fn a_policy_on_an_action_group_matches_its_members_only() {
        let dir = tempfile::tempdir().unwrap();
        let schema = include_str!("../../schemas/gatehouse.cedarschema").replace(
            "action verify, promote, deprecate, retire, revoke, request_pull_intent appliesTo {",
            "action lifecycle;\n  action verify, promote, deprecate, retire, revoke, request_pull_intent \
             in [lifecycle] appliesTo {",
        );
        let schema_file = dir.path().join("grouped.cedarschema");
        std::fs::write(&schema_file, schema).unwrap();
        let policy =
            "@id(\"by-group\")\npermit (principal, action in Gatehouse::Action::\"lifecycle\", resource);\n";
        let engine = PolicyEngine::load_bundle(
            &schema_file,
            dir.path(),
            vec![("group.cedar".to_owned(), policy.to_owned())],
        )
        .unwrap();
        assert!(
            engine.actions.is_some(),
            "a grouped schema keeps its action entities"
        );
        let (user, artifact) = (
            super::verdict_cache_tests::user(),
            super::verdict_cache_tests::artifact(),
        );
        let ask = |action| {
            engine.decide(&PolicyRequest {
                caller: Caller::Principal(&user),
                action,
                resource: Resource::Artifact(&artifact),
                context: RequestContext::default(),
            })
        };
        let promote = ask(Action::Promote);
        assert!(promote.allowed && promote.errors.is_empty(), "{promote:?}");
        assert_eq!(promote.policy_ids, vec!["by-group".to_owned()]);
        assert!(!ask(Action::Read).allowed);
    }
}

#[cfg(test)]
mod verdict_cache_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::domain::{Actor, ActorType, Artifact, CiClaims, Principal};
    use crate::policy::{Caller, RequestContext, Resource};

    const PERMIT: &str = "@id(\"anyone\")\npermit (principal, action, resource);\n";
    const FORBID_PROD: &str = "@id(\"no-prod\")\n@reason(\"not to prod\")\nforbid (principal, action, resource) \
                               when { context has channel && context.channel == \"prod\" };\n";

    fn engine(files: &[(&str, &str)]) -> PolicyEngine {
        let dir = crate::repo_path("policies");
        PolicyEngine::load_bundle(
            &crate::repo_path("schemas/gatehouse.cedarschema"),
            &dir,
            files
                .iter()
                .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
                .collect(),
        )
        .unwrap()
        .with_decision_cache(100)
    }

    /// A user with no roles (fixture shared with the action-group tests).
    pub(super) fn user() -> Principal {
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

    /// A published, unverified image of `team-a` in `staging` (fixture shared as `user`).
    pub(super) fn artifact() -> Artifact {
        serde_json::from_value(json!({
            "id": "01900000-0000-7000-8000-000000000001",
            "project": "team-a",
            "app": "trainer",
            "artifact_kind": "oci",
            "artifact_type": "oci.image",
            "repository": "gpuaas/apps/team-a/trainer",
            "digest": format!("sha256:{}", "ab".repeat(32)),
            "tag": null,
            "media_type": null,
            "source": { "source_type": "oci_registry", "uri": "registry.local/x" },
            "lifecycle_state": "published",
            "trust_state": "unverified",
            "channels": ["staging"],
            "signature_verified": false,
            "attestations": [],
            "created_by": { "type": "user", "id": "olivia" },
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "version": 1,
        }))
        .unwrap()
    }

    /// A decision's recorded request and entities texts are pinned: the same bytes as the
    /// decision rows written before the Cedar entities were built as Cedar's own values
    /// (captured at `ad39a7e`), evaluated or from the cache.
    #[test]
    fn the_recorded_texts_are_unchanged() {
        let engine = engine(&[("forbid.cedar", FORBID_PROD)]);
        for cached in [CacheUse::Miss, CacheUse::Hit] {
            let (decision, used) = promote(&engine);
            assert_eq!(used, cached);
            assert_eq!(decision.request.get(), PINNED_REQUEST_TEXT);
            assert_eq!(decision.entities.get(), PINNED_ENTITIES_TEXT);
        }
    }

    const PINNED_REQUEST_TEXT: &str = "{\"principal\":\"Gatehouse::User::\\\"olivia\\\"\",\"action\":\"Gatehouse::Action::\\\"promote\\\"\",\"resource\":\"Gatehouse::Artifact::\\\"01900000-0000-7000-8000-000000000001\\\"\",\"context\":{\"channel\":\"prod\",\"previous_channel\":\"staging\"}}";
    const PINNED_ENTITIES_TEXT: &str = "[{\"uid\":{\"type\":\"Gatehouse::Artifact\",\"id\":\"01900000-0000-7000-8000-000000000001\"},\"attrs\":{\"project\":{\"__entity\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"}},\"app\":\"trainer\",\"kind\":\"oci\",\"artifact_type\":\"oci.image\",\"source_type\":\"oci_registry\",\"repository\":\"gpuaas/apps/team-a/trainer\",\"visibility\":\"project\",\"digest\":\"sha256:abababababababababababababababababababababababababababababababab\",\"lifecycle_state\":\"published\",\"trust_state\":\"unverified\",\"channels\":[\"staging\"],\"signature_verified\":false,\"attestations\":[],\"signer_identities\":[],\"signer_key_ids\":[]},\"parents\":[{\"type\":\"Gatehouse::Repository\",\"id\":\"gpuaas/apps/team-a/trainer\"},{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"}]},{\"uid\":{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"},\"attrs\":{\"slug\":\"team-a\",\"trusted_builders\":[],\"source_repositories\":[]},\"parents\":[]},{\"uid\":{\"type\":\"Gatehouse::Repository\",\"id\":\"gpuaas/apps/team-a/trainer\"},\"attrs\":{\"path\":\"gpuaas/apps/team-a/trainer\",\"visibility\":\"project\"},\"parents\":[{\"type\":\"Gatehouse::Project\",\"id\":\"team-a\"}]},{\"uid\":{\"type\":\"Gatehouse::User\",\"id\":\"olivia\"},\"attrs\":{\"issuer\":\"https://issuer.test\",\"admin_of\":[],\"operator_of\":[],\"releaser_of\":[],\"viewer_of\":[],\"platform_roles\":[]},\"parents\":[]}]";

    /// Promotes to prod; the same input every call.
    fn promote(engine: &PolicyEngine) -> (Decision, CacheUse) {
        let (user, artifact) = (user(), artifact());
        engine.decide_noting_cache(&PolicyRequest {
            caller: Caller::Principal(&user),
            action: Action::Promote,
            resource: Resource::Artifact(&artifact),
            context: RequestContext {
                channel: Some("prod".to_owned()),
                previous_channel: Some("staging".to_owned()),
                ..RequestContext::default()
            },
        })
    }

    fn fields(d: &Decision) -> Value {
        serde_json::to_value(d).unwrap()
    }

    #[test]
    fn the_same_request_twice_is_served_from_the_cache_with_the_same_decision() {
        let engine = engine(&[("p.cedar", PERMIT), ("f.cedar", FORBID_PROD)]);
        let (first, used) = promote(&engine);
        assert_eq!(used, CacheUse::Miss);
        assert!(!first.allowed && first.policy_ids == ["no-prod"], "{first:?}");
        let (second, used) = promote(&engine);
        assert_eq!(used, CacheUse::Hit);
        assert_eq!(fields(&second), fields(&first));
        // A clone is the same engine: it shares the verdicts.
        assert_eq!(promote(&engine.clone()).1, CacheUse::Hit);
    }

    #[test]
    fn a_cache_of_zero_entries_is_off() {
        let engine = engine(&[("p.cedar", PERMIT)]).with_decision_cache(0);
        assert_eq!(engine.decision_cache_entries(), 0);
        for _ in 0..3 {
            let (decision, used) = promote(&engine);
            assert!(decision.allowed);
            assert_eq!(used, CacheUse::Bypassed);
        }
    }

    /// A reload builds a new engine: the identical request is decided by the new set, and the
    /// cache size (configuration) is carried as `swap_policy` carries it.
    #[test]
    fn a_reloaded_set_decides_the_identical_request_afresh() {
        let old = engine(&[("p.cedar", PERMIT)]).with_decision_cache(50);
        assert!(promote(&old).0.allowed);
        assert_eq!(promote(&old).1, CacheUse::Hit);
        let new = engine(&[("p.cedar", PERMIT), ("f.cedar", FORBID_PROD)])
            .with_decision_cache(old.decision_cache_entries());
        assert_eq!(new.decision_cache_entries(), 50);
        let (decision, used) = promote(&new);
        assert_eq!(used, CacheUse::Miss);
        assert!(!decision.allowed, "{decision:?}");
    }

    /// Engines derived from a cached one (dry-run channels, provenance trust, no slicing) start
    /// empty: none answers with the verdict of the engine it was made from.
    #[test]
    fn a_derived_engine_does_not_share_the_verdicts_of_its_origin() {
        let origin = engine(&[("p.cedar", PERMIT), ("f.cedar", FORBID_PROD)]);
        assert!(!promote(&origin).0.allowed);
        assert_eq!(promote(&origin).1, CacheUse::Hit);

        let dry_run = origin.clone().with_dry_run_channels(["prod".to_owned()]);
        let (decision, used) = promote(&dry_run);
        assert_eq!(used, CacheUse::Miss);
        assert!(decision.allowed, "{decision:?}");
        assert_eq!(decision.would_deny, ["no-prod"]);
        assert_eq!(promote(&dry_run).1, CacheUse::Hit);
        // The origin still answers as before.
        assert!(!promote(&origin).0.allowed);

        let trust = origin
            .clone()
            .with_provenance_trust(Arc::new(ProvenanceTrust::default()));
        assert_eq!(promote(&trust).1, CacheUse::Miss);
        assert_eq!(promote(&origin.clone().without_slicing()).1, CacheUse::Miss);
        assert_eq!(trust.decision_cache_entries(), origin.decision_cache_entries());
    }
}

#[cfg(test)]
mod entity_cache_tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use crate::domain::{ProjectSlug, ProvenanceTrust, RepositoryPath, Scope};
    use crate::policy::{Action, Caller, PolicyEngine, PolicyRequest, RequestContext, Resource};

    const POLICIES: &str = "@id(\"trusts-b\")\npermit (principal, action == Gatehouse::Action::\"read\", \
                            resource is Gatehouse::Project)\nwhen { resource has trusted_builders && \
                            resource.trusted_builders.contains(\"b\") };\n\
                            @id(\"platform-repository\")\npermit (principal, \
                            action == Gatehouse::Action::\"request_publish_intent\", resource is \
                            Gatehouse::Repository)\nwhen { resource has visibility && resource.visibility == \"platform\" };\n";

    use super::verdict_cache_tests::user;

    /// The shipped set plus one file `name` holding `policy`, every decision evaluated.
    fn uncached_engine_with(name: &str, policy: &str) -> PolicyEngine {
        PolicyEngine::load_bundle(
            &crate::repo_path("schemas/gatehouse.cedarschema"),
            &crate::repo_path("policies"),
            vec![(name.to_owned(), policy.to_owned())],
        )
        .unwrap()
        .with_decision_cache(0)
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
        let engine = uncached_engine_with("kept.cedar", POLICIES);
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
        // The caller, one project and one repository, each kept once whatever its facts were.
        assert_eq!(engine.entity_cache().len(), 3);
    }

    /// A caller kept between decisions is built afresh when its token says something else.
    #[test]
    fn a_kept_caller_is_rebuilt_when_its_roles_change() {
        let policy = "@id(\"auditors-read\")\npermit (principal, action == Gatehouse::Action::\"read\", \
                      resource is Gatehouse::Project)\nwhen { principal.platform_roles.contains(\"auditor\") };\n";
        let engine = uncached_engine_with("caller.cedar", policy);
        let project: ProjectSlug = "team-a".parse().unwrap();
        let trust = ProvenanceTrust::default();
        let (plain, auditor) = (user(), {
            let mut user = user();
            user.platform_roles.insert("auditor".to_owned());
            user
        });
        for (caller, allowed) in [
            (&plain, false),
            (&auditor, true),
            (&plain, false),
            (&auditor, true),
        ] {
            let request = PolicyRequest {
                caller: Caller::Principal(caller),
                action: Action::Read,
                resource: Resource::Project(&project),
                context: RequestContext::default(),
            };
            let (decision, _) = engine.decide_with(&request, &trust);
            assert!(decision.errors.is_empty(), "{decision:?}");
            assert_eq!(decision.allowed, allowed, "{:?}", caller.platform_roles);
        }
    }
}
