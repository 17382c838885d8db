//! Read paths: artifacts, explanations, audit and decision logs, the serving policy set.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{AuditRecord, DecisionRecord};
use crate::domain::{
    AppSlug, Artifact, ArtifactId, ArtifactKind, CanonicalUuid, Channel, Cursor, Digest, Effect, Evidence,
    IssuedToken, Label, LifecycleState, Lookup, Principal, ProjectSlug, Promotion, PublishIntent,
    RegistryEvent, Timestamp, TrustState, UnregisteredPush,
};
use crate::policy::{Action, RequestContext, Resource};
use crate::store::{ArtifactChange, ArtifactFilter, ChainStatus, LogFilter, Page, PageRequest};

/// An artifact with its evidence and promotion history, as the API answers it.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactView {
    /// The artifact.
    #[serde(flatten)]
    pub artifact: Artifact,
    /// Trust checks, oldest first.
    pub evidence: Vec<Evidence>,
    /// Promotions, oldest first.
    pub promotions: Vec<Promotion>,
}

/// Why an artifact is in its states.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The artifact with evidence and promotions.
    #[serde(flatten)]
    pub view: ArtifactView,
    /// Every decision taken on it (allow and deny), oldest first.
    pub decisions: Vec<DecisionRecord>,
    /// Every state change, in chain order.
    pub audit: Vec<AuditRecord>,
    /// How it reached the gateway: publish intent → registry tokens → push event → registration.
    pub registry_trail: RegistryTrail,
}

/// The closed loop from intent to registration, for explain.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegistryTrail {
    /// The publish intent the registration completed, if any.
    pub publish_intent: Option<PublishIntent>,
    /// Registry tokens issued for that intent (jti, grant, times).
    pub tokens: Vec<IssuedToken>,
    /// The registry event that registered it, if a notification did.
    pub event: Option<RegistryEvent>,
    /// `present` or `deleted`, as the registry last reported.
    pub registry_presence: Option<String>,
}

/// The serving policy set.
#[derive(Debug, Clone, Serialize)]
pub struct PolicySetView {
    /// Content hash.
    pub hash: String,
    /// When it was loaded.
    pub loaded_at: DateTime<Utc>,
    /// Policy files.
    pub files: Vec<String>,
    /// Policy ids.
    pub policy_ids: Vec<String>,
    /// The last refused reload, if any.
    pub last_reload_error: Option<String>,
}

/// What `GET /v1/registry` tells clients about the registry the gateway fronts.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryInfo {
    /// Host clients use in references, where a registry is configured.
    pub registry: Option<String>,
    /// Repository root: repositories are `<root>/<project>/<app>`.
    pub root: crate::domain::RepositoryPath,
    /// Root of platform repositories: `<platform_root>/<name>`.
    pub platform_root: crate::domain::RepositoryPath,
    /// Root of tenant repositories: `<tenant_root>/<tenant>/<name>`.
    pub tenant_root: crate::domain::RepositoryPath,
    /// Path of the token endpoint (Docker registry token auth realm).
    pub token_realm: String,
    /// The `service` (token audience) the registry expects.
    pub token_service: String,
    /// `oci`, `blob`.
    pub supported_kinds: Vec<String>,
    /// Source types registration accepts now (the catalog's usable ones).
    pub source_types: Vec<String>,
    /// Channels in promotion order.
    pub channels: Vec<String>,
}

/// Query string of the artifact listing; each value is parsed at the edge and named on failure.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// App slug.
    #[param(value_type = Option<String>)]
    pub app: Option<AppSlug>,
    /// Kind.
    #[param(value_type = Option<String>)]
    pub artifact_kind: Option<ArtifactKind>,
    /// Lifecycle state.
    #[param(value_type = Option<String>)]
    pub lifecycle_state: Option<LifecycleState>,
    /// Trust state.
    #[param(value_type = Option<String>)]
    pub trust_state: Option<TrustState>,
    /// Channel reached.
    #[param(value_type = Option<String>)]
    pub channel: Option<Channel>,
    /// Digest.
    #[param(value_type = Option<String>)]
    pub digest: Option<Digest>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// Query string of the audit and decision listings.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Project (decides `read` on it; without, `read_platform`).
    #[param(value_type = Option<String>)]
    pub project: Option<ProjectSlug>,
    /// Artifact id (a canonical UUID).
    #[serde(default, deserialize_with = "crate::domain::optional_from_str")]
    #[param(value_type = Option<String>)]
    pub artifact_id: Option<ArtifactId>,
    /// Action.
    #[param(value_type = Option<String>)]
    pub action: Option<Label>,
    /// Actor id.
    #[param(value_type = Option<String>)]
    pub actor: Option<Label>,
    /// RFC 3339 lower bound.
    #[param(value_type = Option<String>)]
    pub since: Option<Timestamp>,
    /// RFC 3339 upper bound.
    #[param(value_type = Option<String>)]
    pub until: Option<Timestamp>,
    /// Decisions only: `allow` or `deny`.
    #[param(value_type = Option<String>)]
    pub decision: Option<Effect>,
    /// Page size.
    pub limit: Option<u32>,
    /// Cursor.
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

fn page(limit: Option<u32>, cursor: Option<Cursor>) -> Result<PageRequest, AdmissionError> {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AdmissionError::invalid("limit", "must be between 1 and 500"));
    }
    Ok(PageRequest {
        limit,
        cursor: cursor.map(Cursor::into_string),
    })
}

impl Admission {
    /// Loads an artifact by id: 404 when there is none.
    pub(super) async fn load_artifact(&self, id: ArtifactId) -> Result<Artifact, AdmissionError> {
        self.store
            .get_artifact(id)
            .await?
            .ok_or_else(|| AdmissionError::NotFound(format!("no artifact with id `{id}`")))
    }

    /// The view of an artifact its own transaction just created: nothing can have recorded
    /// evidence or a promotion of it before that commit, so there is nothing to read back.
    pub(super) fn new_view(mut artifact: Artifact) -> ArtifactView {
        artifact.source.uri = crate::artifact_store::redact_uri(&artifact.source.uri);
        ArtifactView {
            artifact,
            evidence: Vec::new(),
            promotions: Vec::new(),
        }
    }

    /// The artifact with its evidence and promotions.
    pub(super) async fn view(&self, artifact: Artifact) -> Result<ArtifactView, AdmissionError> {
        self.view_knowing(artifact, None, None).await
    }

    /// The view of `stored`, which `change` just committed: what the change wrote is the whole
    /// history where nothing came before it, so that part is not read back. Evidence and
    /// promotions are only ever written by a change, which moves the version: one read at
    /// version 0 (as registered) has none; and one with no channel has no promotion.
    pub(super) async fn committed_view(
        &self,
        change: &ArtifactChange,
        stored: Artifact,
    ) -> Result<ArtifactView, AdmissionError> {
        let (evidence, promotion) = self.store.written_history(change);
        let evidence = (change.artifact.version == 0).then_some(evidence);
        // The change added its channel to a list that was empty: its promotion is the only one.
        let promotions = promotion
            .filter(|_| change.artifact.channels.len() == 1)
            .map(|p| vec![p]);
        self.view_knowing(stored, evidence, promotions).await
    }

    /// `view`, reading only the parts not given.
    async fn view_knowing(
        &self,
        mut artifact: Artifact,
        evidence: Option<Vec<Evidence>>,
        promotions: Option<Vec<Promotion>>,
    ) -> Result<ArtifactView, AdmissionError> {
        // Answers never show a credential the registered URI embeds; the stored row keeps it.
        artifact.source.uri = crate::artifact_store::redact_uri(&artifact.source.uri);
        let evidence = match evidence {
            Some(known) => known,
            None => self.store.evidence(artifact.id).await?,
        };
        // A promotion is only ever written with its channel added to the artifact's list, and
        // channels are never removed: with none, there is no promotion to read.
        let promotions = match promotions {
            Some(known) => known,
            None if artifact.channels.is_empty() => Vec::new(),
            None => self.store.promotions(artifact.id).await?,
        };
        Ok(ArtifactView {
            artifact,
            evidence,
            promotions,
        })
    }

    /// One artifact, decided as `read` on it.
    pub async fn get_artifact(
        &self,
        principal: &Principal,
        id: ArtifactId,
        meta: &RequestMeta,
    ) -> Result<ArtifactView, AdmissionError> {
        let artifact = self.load_artifact(id).await?;
        self.authorize_tenant_read(principal, Resource::Artifact(&artifact), meta)
            .await?;
        self.view(artifact).await
    }

    /// A project's artifacts, decided as `read` on the project.
    pub async fn list_artifacts(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        query: ListQuery,
        meta: &RequestMeta,
    ) -> Result<Page<Artifact>, AdmissionError> {
        let filter = ArtifactFilter {
            project: Some(project.clone()),
            app: query.app.map(|app| app.as_str().to_owned()),
            artifact_kind: query.artifact_kind,
            lifecycle_state: query.lifecycle_state,
            trust_state: query.trust_state,
            channel: query.channel,
            digest: query.digest,
        };
        let page = page(query.limit, query.cursor)?;
        self.authorize_tenant_read(principal, Resource::Project(project), meta)
            .await?;
        let mut listed = self.store.list_artifacts(&filter, &page).await?;
        for artifact in &mut listed.items {
            artifact.source.uri = crate::artifact_store::redact_uri(&artifact.source.uri);
        }
        Ok(listed)
    }

    /// Evidence, promotions, decisions and audit records of one artifact.
    pub async fn explain(
        &self,
        principal: &Principal,
        id: ArtifactId,
        meta: &RequestMeta,
    ) -> Result<Explanation, AdmissionError> {
        let artifact = self.load_artifact(id).await?;
        self.authorize_tenant_read(principal, Resource::Artifact(&artifact), meta)
            .await?;
        let filter = LogFilter {
            artifact_id: Some(artifact.id),
            ..LogFilter::default()
        };
        let all = PageRequest {
            limit: 500,
            cursor: None,
        };
        let decisions = self.store.list_decisions(&filter, &all).await?.items;
        let audit = self.store.list_audit(&filter, &all).await?.items;
        let registry_trail = self.registry_trail(artifact.id).await?;
        Ok(Explanation {
            view: self.view(artifact).await?,
            decisions,
            audit,
            registry_trail,
        })
    }

    async fn registry_trail(&self, id: ArtifactId) -> Result<RegistryTrail, AdmissionError> {
        let links = self.store.artifact_links(id).await?;
        let publish_intent = match links.publish_intent_id {
            Some(intent) => self.store.get_publish_intent(intent).await?,
            None => None,
        };
        let tokens = match links.publish_intent_id {
            Some(intent) => self.store.tokens_for_intent(intent).await?,
            None => Vec::new(),
        };
        let event = match links.event_id.as_deref() {
            Some(event) => self.store.get_registry_event(event).await?,
            None => None,
        };
        Ok(RegistryTrail {
            publish_intent,
            tokens,
            event,
            registry_presence: links.registry_presence,
        })
    }

    /// Pushes the registry reported that no intent covered, decided as `read` on the project.
    pub async fn unregistered_pushes(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        query: ListQuery,
        meta: &RequestMeta,
    ) -> Result<Page<UnregisteredPush>, AdmissionError> {
        let page = page(query.limit, query.cursor)?;
        self.authorize_tenant_read(principal, Resource::Project(project), meta)
            .await?;
        Ok(self.store.list_unregistered_pushes(project, &page).await?)
    }

    /// Parses log filters and decides who may read them: `read` on the project when one is
    /// named, `read_platform` otherwise.
    async fn authorize_log(
        &self,
        principal: &Principal,
        query: LogQuery,
        meta: &RequestMeta,
    ) -> Result<(LogFilter, PageRequest), AdmissionError> {
        let project = query.project;
        let filter = LogFilter {
            project: project.as_ref().map(ToString::to_string),
            artifact_id: query.artifact_id,
            action: query.action.map(Label::into_string),
            actor: query.actor.map(Label::into_string),
            since: query.since.map(|t| t.0),
            until: query.until.map(|t| t.0),
            effect: query.decision.map(|e| e.as_str().to_owned()),
            decision_id: None,
        };
        let page = page(query.limit, query.cursor)?;
        match &project {
            Some(p) => {
                self.authorize_read(principal, Action::Read, Resource::Project(p), meta)
                    .await?
            }
            None => {
                self.authorize_read(principal, Action::ReadPlatform, Resource::Platform, meta)
                    .await?
            }
        };
        Ok((filter, page))
    }

    /// Audit records.
    pub async fn audit_log(
        &self,
        principal: &Principal,
        query: LogQuery,
        meta: &RequestMeta,
    ) -> Result<Page<AuditRecord>, AdmissionError> {
        let (filter, page) = self.authorize_log(principal, query, meta).await?;
        Ok(self.store.list_audit(&filter, &page).await?)
    }

    /// The audit chain's status, recomputed from the first record (as `gatehouse audit verify`
    /// does). The chain spans every project, so it is decided as `read_platform`.
    pub async fn audit_chain(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<ChainStatus, AdmissionError> {
        self.authorize_read(principal, Action::ReadPlatform, Resource::Platform, meta)
            .await?;
        Ok(crate::store::chain_status(self.store.as_ref()).await?)
    }

    /// Decision records.
    pub async fn decision_log(
        &self,
        principal: &Principal,
        query: LogQuery,
        meta: &RequestMeta,
    ) -> Result<Page<DecisionRecord>, AdmissionError> {
        let (filter, page) = self.authorize_log(principal, query, meta).await?;
        Ok(self.store.list_decisions(&filter, &page).await?)
    }

    /// One decision record, shown to whoever the decision log would show it: `read` on its
    /// project (`GET /v1/decisions?project=…`), or else `read_platform` (the platform-wide
    /// log). Only the deciding evaluation is recorded (a platform reader is not logged as
    /// denied on the project first). A decision the caller may not read is as unknown as a
    /// missing one (404), so ids of other projects' decisions reveal nothing; that refusal is
    /// recorded too.
    pub async fn decision(
        &self,
        principal: &Principal,
        id: &Lookup<CanonicalUuid>,
        meta: &RequestMeta,
    ) -> Result<DecisionRecord, AdmissionError> {
        let not_found = || AdmissionError::NotFound(format!("no decision with id `{id}`"));
        let Lookup::Valid(CanonicalUuid(uuid)) = id else {
            return Err(not_found());
        };
        let filter = LogFilter {
            decision_id: Some(*uuid),
            ..LogFilter::default()
        };
        let one = PageRequest {
            limit: 1,
            cursor: None,
        };
        let record = self
            .store
            .list_decisions(&filter, &one)
            .await?
            .items
            .into_iter()
            .next()
            .ok_or_else(not_found)?;
        // No project (or one that no longer parses as a slug): only the platform log shows it.
        let project = record.project_slug();
        let context = RequestContext::default;
        let on_project = project
            .as_ref()
            .map(|p| self.evaluate(principal, Action::Read, Resource::Project(p), context(), meta));
        if let Some((decision, log)) = &on_project
            && decision.allowed
        {
            self.decisions.record(log.clone()).await?;
            return Ok(record);
        }
        let (decision, log) = self.evaluate(
            principal,
            Action::ReadPlatform,
            Resource::Platform,
            context(),
            meta,
        );
        if decision.allowed {
            self.decisions.record(log).await?;
            return Ok(record);
        }
        let refusal = on_project.map_or(log, |(_, log)| log);
        self.decisions.record(refusal).await?;
        Err(not_found())
    }

    /// Registry facts, decided as `describe` on the platform.
    pub async fn describe_registry(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<RegistryInfo, AdmissionError> {
        self.authorize_read(principal, Action::Describe, Resource::Platform, meta)
            .await?;
        let mut info = self.registry.clone();
        // What registration accepts now: usable catalog entries, contributed ones included.
        info.source_types = self
            .catalog()
            .await
            .family(crate::catalog::Family::SourceTypes)
            .into_iter()
            .filter(|e| e.usable())
            .map(|e| e.id.clone())
            .collect();
        Ok(info)
    }

    /// The serving policy set, decided as `manage_policies` on the platform.
    pub async fn policy_set(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<PolicySetView, AdmissionError> {
        self.authorize_read(principal, Action::ManagePolicies, Resource::Platform, meta)
            .await?;
        // The status lock first: a reload swaps the set while holding it, so both agree.
        let status = self.policy_status.lock().await.clone();
        let engine = self.policy();
        Ok(PolicySetView {
            hash: engine.hash().to_owned(),
            loaded_at: status.loaded_at,
            files: engine.files().to_vec(),
            policy_ids: engine.policy_ids(),
            last_reload_error: status.last_reload_error,
        })
    }
}
