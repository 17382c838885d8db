//! Publish and pull intents: short-lived, single-repository credentials, decided by Cedar and
//! audited like every other change.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::artifact_ref::{ArtifactRef, Blame};
use super::credentials::{Credential, new_password, password_sha256};
use super::decide::artifact_audit;
use super::pull_answers::{PullAnswer, PullIntentAnswer};
use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::NewAuditRecord;
use crate::catalog::Family;
use crate::domain::{
    AccessGrant, AppSlug, Artifact, ArtifactId, ArtifactKind, ArtifactType, Channel, Digest, IntentKind,
    Label, LifecycleState, Lookup, Principal, ProjectSlug, PublishIntent, PullIntent, RepositoryPath,
    SourceType, Tag, TenantSlug, TrustState, Visibility,
};
use crate::policy::{Action, RequestContext, Resource};

/// Body of `POST /v1/projects/{project}/publish-intents`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PublishIntentInput {
    /// App slug.
    pub app: AppSlug,
    /// `oci` or `blob`.
    pub artifact_kind: ArtifactKind,
    /// Catalog type.
    pub artifact_type: Option<ArtifactType>,
    /// Tag the pusher will use (a label only).
    pub tag: Option<Tag>,
    /// Only this digest may complete the intent.
    pub expected_digest: Option<Digest>,
    /// Requested lifetime (capped by configuration).
    pub ttl_seconds: Option<i64>,
    /// `project` (default), `tenant` or `platform`: picks the canonical repository.
    pub visibility: Option<Visibility>,
    /// The tenant of a `tenant` repository.
    pub tenant: Option<TenantSlug>,
}

/// The answer to a publish intent.
#[derive(Debug, Clone, Serialize)]
pub struct PublishIntentAnswer {
    /// Intent id.
    pub id: Uuid,
    /// Registry host clients push to.
    pub registry: Option<String>,
    /// The canonical repository.
    pub repository: RepositoryPath,
    /// The tag hint.
    pub tag_hint: Option<String>,
    /// Registration is always by digest.
    pub digest_required: bool,
    /// The expected digest, if any.
    pub expected_digest: Option<Digest>,
    /// The credential (the password is shown once, here).
    pub credential: Credential,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /v1/projects/{project}/pull-intents`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PullIntentInput {
    /// The artifact (or give `digest`); a non-canonical id names no artifact (404).
    #[schema(value_type = Option<String>)]
    pub artifact_id: Option<Lookup<ArtifactId>>,
    /// The digest (or give `artifact_id`).
    pub digest: Option<Digest>,
    /// The repository, when several hold the digest.
    pub repository: Option<RepositoryPath>,
    /// The channel the pull is for (policy may demand the artifact reached it).
    pub channel: Option<Channel>,
    /// The runtime asking (one line, at most 256 characters).
    pub runtime_class: Option<Label>,
}

impl Admission {
    pub(super) fn intent_ttl(&self, requested: Option<i64>) -> Result<Duration, AdmissionError> {
        let settings = &self.registry_setup.settings;
        let seconds = requested.unwrap_or(settings.intent_ttl_default_seconds);
        if seconds <= 0 {
            return Err(AdmissionError::invalid("ttl_seconds", "must be positive"));
        }
        // Longer requests are capped, not refused: the answer's `expires_at` says what was granted.
        Ok(Duration::seconds(seconds.min(settings.intent_ttl_max_seconds)))
    }

    /// Creates a publish intent for `<root>/<project>/<app>` with a one-time credential.
    pub async fn publish_intent(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        input: PublishIntentInput,
        meta: &RequestMeta,
    ) -> Result<PublishIntentAnswer, AdmissionError> {
        let project = project.clone();
        let app = input.app.clone();
        let kind = input.artifact_kind;
        let given_type = input.artifact_type.clone();
        let catalog = self.catalog().await;
        let artifact_type = ArtifactType::resolve(kind, given_type, |name| catalog.artifact_kind_of(name))
            .map_err(|e| AdmissionError::invalid("artifact_type", e))?;
        let expected_digest = input.expected_digest.clone();
        let ttl = self.intent_ttl(input.ttl_seconds)?;
        if kind == ArtifactKind::Blob {
            return Err(AdmissionError::invalid(
                "artifact_kind",
                "publish intents are for `oci` artifacts",
            ));
        }
        let signer = self.registry_setup.signer()?;
        let scope = super::register::parse_scope(input.visibility, input.tenant.clone())?;
        let repository = self.repository_roots().path(&scope, &project, &app);
        let context = RequestContext {
            artifact_kind: Some(kind.to_string()),
            ..RequestContext::default()
        };
        let resource = Resource::Repository {
            project: &project,
            path: &repository,
            scope: &scope,
        };
        let allowed = self
            .authorize(principal, Action::RequestPublishIntent, resource, context, meta)
            .await?;
        if let Err(refused) = self
            .require_publish_entries(
                &artifact_type,
                &project,
                &repository,
                expected_digest.as_ref(),
                principal,
                meta,
            )
            .await
        {
            // Allowed by policy but not acted on: the decision was still taken, so it is logged.
            self.log_decision(allowed.record).await?;
            return Err(refused);
        }

        let now = Utc::now();
        let id = Uuid::now_v7();
        let password = new_password()?;
        let intent = PublishIntent {
            id,
            project: project.clone(),
            app,
            repository: repository.clone(),
            artifact_kind: kind,
            artifact_type,
            tag_hint: input.tag.clone().map(Tag::into_string),
            expected_digest: expected_digest.clone(),
            actor: principal.actor.clone(),
            principal: principal.clone(),
            password_sha256: password_sha256(&password),
            created_at: now,
            expires_at: now + ttl,
            artifact_id: None,
            completed_at: None,
            correlation_id: meta.correlation_id.clone(),
        };
        let grant = vec![AccessGrant::repository(repository.to_string(), &["pull", "push"])];
        let username = super::credentials::publish_username(id);
        let token = self
            .issue_token(signer, &username, grant, intent.expires_at)
            .await?;
        let audit = NewAuditRecord {
            project: Some(project.to_string()),
            repository: Some(repository.to_string()),
            digest: expected_digest.as_ref().map(ToString::to_string),
            artifact_kind: Some(kind.to_string()),
            source_type: Some("oci_registry".to_owned()),
            decision: Some(allowed.audit_decision()),
            ..NewAuditRecord::new(
                principal.actor.clone(),
                "app_artifact.publish_intent",
                meta.correlation_id.clone(),
            )
        };
        self.audit_allowed(&audit).await?;
        self.store
            .create_publish_intent(&intent, audit, &allowed.record)
            .await?;
        self.record_token(&token, Some(id), IntentKind::Publish, &username)
            .await?;
        Ok(PublishIntentAnswer {
            id,
            registry: self.registry.registry.clone(),
            repository,
            tag_hint: input.tag.map(Tag::into_string),
            digest_required: true,
            expected_digest,
            credential: Credential {
                username,
                password,
                token: token.token.clone(),
                expires_at: intent.expires_at,
            },
            expires_at: intent.expires_at,
        })
    }

    /// Creates a pull intent for one artifact by id or digest, with a pull-only credential.
    pub async fn pull_intent(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        input: PullIntentInput,
        meta: &RequestMeta,
    ) -> Result<PullAnswer, AdmissionError> {
        let project = project.clone();
        let channel = input.channel.clone();
        if channel.as_ref().is_some_and(|c| !self.channels.contains(c)) {
            return Err(AdmissionError::invalid("channel", "is not a configured channel"));
        }
        let repository = input.repository.clone();
        let runtime_class = input.runtime_class.map(Label::into_string);
        let artifact =
            match ArtifactRef::exactly_one(input.artifact_id, input.digest.clone(), Blame::ArtifactId)? {
                ArtifactRef::Id(Lookup::Valid(id)) => {
                    Some(self.load_artifact(id).await?).filter(|a| a.project == project)
                }
                ArtifactRef::Id(Lookup::Unknown(id)) => {
                    return Err(AdmissionError::NotFound(format!("no artifact with id `{id}`")));
                }
                ArtifactRef::Digest(digest) => {
                    self.store
                        .find_artifact_by_digest(&project, &digest, repository.as_ref())
                        .await?
                }
            }
            .ok_or_else(|| AdmissionError::NotFound(format!("no such artifact in project `{project}`")))?;
        let context = RequestContext {
            artifact_kind: Some(artifact.artifact_kind.to_string()),
            source_type: Some(artifact.source.source_type.to_string()),
            channel: channel.as_ref().map(ToString::to_string),
            deploy_action: Some("pull".to_owned()),
            runtime_class: runtime_class.clone(),
            ..RequestContext::default()
        };
        let allowed = self
            .authorize(
                principal,
                Action::RequestPullIntent,
                Resource::Artifact(&artifact),
                context,
                meta,
            )
            .await?;
        if let Err(refused) = self
            .require_artifact_entries(
                &artifact,
                true,
                &principal.actor,
                "request_pull_intent",
                &meta.correlation_id,
            )
            .await
        {
            // Allowed by policy but not acted on: the decision was still taken, so it is logged.
            self.log_decision(allowed.record).await?;
            return Err(refused);
        }
        if artifact.trust_state == TrustState::Revoked || artifact.lifecycle_state == LifecycleState::Retired
        {
            return Err(AdmissionError::Rule(
                "a revoked or retired artifact gets no pull intent".to_owned(),
            ));
        }
        if artifact.artifact_kind == ArtifactKind::Blob {
            let answer = self
                .blob_pull_intent(principal, artifact, channel, runtime_class, allowed, meta)
                .await?;
            return Ok(PullAnswer::Blob(answer));
        }
        let signer = self.registry_setup.signer()?;
        let now = Utc::now();
        let id = Uuid::now_v7();
        let password = new_password()?;
        let intent = PullIntent {
            id,
            project: project.clone(),
            artifact_id: artifact.id,
            repository: artifact.repository.clone(),
            digest: artifact.digest.clone(),
            channel: channel.map(|c| c.to_string()),
            actor: principal.actor.clone(),
            password_sha256: password_sha256(&password),
            created_at: now,
            expires_at: now + self.intent_ttl(None)?,
            correlation_id: meta.correlation_id.clone(),
            runtime_class,
        };
        let grant = vec![AccessGrant::repository(
            artifact.repository.to_string(),
            &["pull"],
        )];
        let username = super::credentials::pull_username(id);
        let token = self
            .issue_token(signer, &username, grant, intent.expires_at)
            .await?;
        let audit = artifact_audit(
            &artifact,
            &principal.actor,
            "app_artifact.pull_intent",
            allowed.audit_decision(),
            &meta.correlation_id,
        );
        self.audit_allowed(&audit).await?;
        self.store
            .create_pull_intent(&intent, audit, &allowed.record)
            .await?;
        self.record_token(&token, Some(id), IntentKind::Pull, &username)
            .await?;
        let credential = Credential {
            username,
            password,
            token: token.token.clone(),
            expires_at: intent.expires_at,
        };
        Ok(PullAnswer::Oci(self.oci_answer(
            &intent,
            &artifact,
            Some(credential),
        )))
    }

    /// The OCI answer for `intent`, with the credential when it is being issued now.
    pub(super) fn oci_answer(
        &self,
        intent: &PullIntent,
        artifact: &Artifact,
        credential: Option<Credential>,
    ) -> PullIntentAnswer {
        let host = self.registry.registry.clone().unwrap_or_default();
        PullIntentAnswer {
            id: intent.id,
            artifact_kind: artifact.artifact_kind,
            reference: format!("{host}/{}@{}", artifact.repository, artifact.digest),
            registry: self.registry.registry.clone(),
            repository: artifact.repository.clone(),
            digest: artifact.digest.clone(),
            credential,
            expires_at: intent.expires_at,
        }
    }
}

impl Admission {
    /// A publish intent needs its artifact type and the registry's source type usable now; a
    /// refusal names the entry and is audited as `catalog.refuse`, like a registration's.
    async fn require_publish_entries(
        &self,
        artifact_type: &ArtifactType,
        project: &ProjectSlug,
        repository: &RepositoryPath,
        expected_digest: Option<&Digest>,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<(), AdmissionError> {
        let audit = NewAuditRecord {
            project: Some(project.to_string()),
            repository: Some(repository.to_string()),
            digest: expected_digest.map(ToString::to_string),
            artifact_kind: Some(ArtifactKind::Oci.to_string()),
            source_type: Some(SourceType::OciRegistry.to_string()),
            ..NewAuditRecord::new(
                principal.actor.clone(),
                "catalog.refuse",
                meta.correlation_id.clone(),
            )
        };
        let requested = Action::RequestPublishIntent.as_str();
        for (family, id) in [
            (Family::ArtifactTypes, artifact_type.as_str()),
            (Family::SourceTypes, SourceType::OciRegistry.as_str()),
        ] {
            self.require_catalog_audited(family, id, requested, &audit)
                .await?;
        }
        Ok(())
    }
}
