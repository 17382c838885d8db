//! Registration: parse the input into domain types, decide `register`, store idempotently.

use chrono::Utc;
use serde::Deserialize;

use super::decide::registration_audit;
use super::reregistration::{SentFields, differing_fields};
use super::{Admission, AdmissionError, ArtifactView, RequestMeta};
use crate::catalog::Snapshot;
use crate::domain::{
    AppSlug, Artifact, ArtifactId, ArtifactKind, ArtifactType, CanonicalUuid, ContentEncoding, Digest,
    LifecycleState, MediaTypeText, Principal, ProjectSlug, RepositoryPath, RepositoryRoots, Scope, Source,
    SourceLocation, SourceRevision, SourceType, Tag, TenantSlug, TrustState, Visibility, VisibilityError,
    check_location,
};
use crate::policy::{Action, RequestContext, Resource};
use crate::store::{Registered, RegistrationLinks};
use uuid::Uuid;

/// The registration body as sent; every field is checked and named on failure.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RegisterInput {
    /// App slug.
    pub app: AppSlug,
    /// `oci` or `blob`.
    pub artifact_kind: ArtifactKind,
    /// Catalog type id; defaults by kind.
    pub artifact_type: Option<ArtifactType>,
    /// Must equal the canonical repository if given.
    pub repository: Option<RepositoryPath>,
    /// `project` (default), `tenant` or `platform`: picks the canonical repository.
    pub visibility: Option<Visibility>,
    /// The tenant of a `tenant` repository.
    pub tenant: Option<TenantSlug>,
    /// Required: the truth.
    pub digest: Option<Digest>,
    /// Convenience label only.
    pub tag: Option<Tag>,
    /// OCI media type (1 to 255 characters on one line).
    pub media_type: Option<MediaTypeText>,
    /// Where the bytes live.
    pub source: Option<SourceInput>,
    /// Publish intent this registration completes (a canonical UUID).
    pub publish_intent_id: Option<CanonicalUuid>,
    /// DSSE envelopes about the digest, kept with the artifact for every verification.
    #[serde(default)]
    pub attestations: Vec<serde_json::Value>,
    /// A sigstore bundle over the digest (blobs), kept with the artifact likewise.
    pub sigstore_bundle: Option<serde_json::Value>,
}

/// The `source` object as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SourceInput {
    /// A built-in source type or an approved contributed one (a catalog id).
    pub source_type: SourceType,
    /// Location (1 to 2048 characters, no whitespace or control character); its type's grammar
    /// is checked once the catalog names it.
    #[schema(value_type = String)]
    pub uri: SourceLocation,
    /// Pinned revision (1 to 255 of `A-Z a-z 0-9 . _ - /`).
    #[schema(value_type = Option<String>)]
    pub source_ref: Option<SourceRevision>,
    /// Declared size.
    pub size_bytes: Option<i64>,
    /// Declared encoding (1 to 64 characters on one line).
    pub content_encoding: Option<ContentEncoding>,
}

/// The visibility class a request names (`project` when it names none), with its tenant.
pub(super) fn parse_scope(
    visibility: Option<Visibility>,
    tenant: Option<TenantSlug>,
) -> Result<Scope, AdmissionError> {
    Scope::new(visibility.unwrap_or_default(), tenant).map_err(|e| match e {
        VisibilityError::UnexpectedTenant => AdmissionError::invalid("tenant", e),
        _ => AdmissionError::invalid("visibility", e),
    })
}

impl RegisterInput {
    /// Checks every field in order and builds the artifact to register.
    fn parse(
        self,
        project: ProjectSlug,
        roots: &RepositoryRoots,
        principal: &Principal,
        catalog: &Snapshot,
    ) -> Result<(Artifact, Option<Uuid>, SentFields), AdmissionError> {
        let sent = SentFields {
            artifact_type: self.artifact_type.is_some(),
            tag: self.tag.is_some(),
            media_type: self.media_type.is_some(),
            source_ref: self.source.as_ref().is_some_and(|s| s.source_ref.is_some()),
            size_bytes: self.source.as_ref().is_some_and(|s| s.size_bytes.is_some()),
            content_encoding: self.source.as_ref().is_some_and(|s| s.content_encoding.is_some()),
        };
        let intent_id = self.publish_intent_id.map(|id| id.0);
        let app = self.app;
        let kind = self.artifact_kind;
        let given_type = self.artifact_type;
        let artifact_type = ArtifactType::resolve(kind, given_type, |name| catalog.artifact_kind_of(name))
            .map_err(|e| AdmissionError::invalid("artifact_type", e))?;
        let digest = match self.digest {
            Some(d) => d,
            None if self.tag.is_some() => {
                return Err(AdmissionError::invalid(
                    "digest",
                    "is required: a tag is a label, never a reference; register by digest",
                ));
            }
            None => return Err(AdmissionError::invalid("digest", "is required")),
        };
        let scope = parse_scope(self.visibility, self.tenant)?;
        let repository = roots.path(&scope, &project, &app);
        if let Some(given) = &self.repository
            && given != &repository
        {
            return Err(AdmissionError::invalid(
                "repository",
                format!("must be the canonical repository `{repository}` chosen by the gateway"),
            ));
        }
        let source = self
            .source
            .ok_or_else(|| AdmissionError::invalid("source", "is required"))?
            .parse(catalog)?;
        let now = Utc::now();
        let artifact = Artifact {
            id: ArtifactId::new(),
            project,
            app,
            artifact_kind: kind,
            artifact_type,
            repository,
            scope,
            digest,
            tag: self.tag.map(Tag::into_string),
            media_type: self.media_type.map(MediaTypeText::into_string),
            source,
            lifecycle_state: LifecycleState::Published,
            trust_state: TrustState::Unverified,
            channels: Vec::new(),
            signature_verified: false,
            attestations: Vec::new(),
            trust_facts: Default::default(),
            created_by: principal.actor.clone(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        Ok((artifact, intent_id, sent))
    }
}

impl SourceInput {
    /// A contributed source type's location is read with its catalog protocol's grammar; whether
    /// the type may be used at all is checked (and audited) after the policy decision.
    fn parse(self, catalog: &Snapshot) -> Result<Source, AdmissionError> {
        let source_type = self.source_type;
        let grammar = catalog
            .source_protocol(&source_type)
            .unwrap_or_else(|| source_type.clone());
        check_location(&grammar, &self.uri, self.source_ref.as_ref()).map_err(|refusal| {
            AdmissionError::invalid(format!("source.{}", refusal.field), refusal.reason)
        })?;
        if self.size_bytes.is_some_and(|s| s < 0) {
            return Err(AdmissionError::invalid(
                "source.size_bytes",
                "must not be negative",
            ));
        }
        Ok(Source {
            source_type,
            uri: self.uri.into_string(),
            source_ref: self.source_ref.map(SourceRevision::into_string),
            size_bytes: self.size_bytes,
            content_encoding: self.content_encoding.map(ContentEncoding::into_string),
        })
    }
}

/// Whether a registration created the artifact or found it already there.
pub enum RegisterOutcome {
    /// First registration (201).
    Created(ArtifactView),
    /// Idempotent repeat (200).
    Existing(ArtifactView),
}

impl Admission {
    /// Registers an artifact (idempotent on project, repository and digest).
    pub async fn register(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        input: RegisterInput,
        meta: &RequestMeta,
    ) -> Result<RegisterOutcome, AdmissionError> {
        let project = project.clone();
        let attachments =
            super::verify::checked_attachments(&input.attestations, input.sigstore_bundle.as_ref())?;
        let catalog = self.catalog().await;
        let (mut candidate, intent_id, sent) =
            input.parse(project, &self.repository_roots(), principal, &catalog)?;
        if let Some(id) = intent_id {
            self.check_intent_for(&candidate, id).await?;
        }
        if self.registry_setup.settings.verify_manifests && candidate.artifact_kind == ArtifactKind::Oci {
            self.check_manifest(&mut candidate).await?;
        }
        let links = RegistrationLinks {
            publish_intent_id: intent_id,
            event_id: None,
            verification: self.verification_job(&candidate, principal),
            attachments,
        };
        let existing = self
            .store
            .find_artifact_by_digest(&candidate.project, &candidate.digest, Some(&candidate.repository))
            .await?;
        // A repeat is decided on the stored artifact, so its answer reflects the real state.
        let subject = existing.as_ref().unwrap_or(&candidate);
        let context = RequestContext {
            artifact_kind: Some(subject.artifact_kind.to_string()),
            source_type: Some(subject.source.source_type.to_string()),
            ..RequestContext::default()
        };
        let allowed = self
            .authorize(
                principal,
                Action::Register,
                Resource::Artifact(subject),
                context,
                meta,
            )
            .await?;
        // Fail closed on the catalog: a disabled or unknown type or source is never registered.
        if let Err(refused) = self
            .require_artifact_entries(
                &candidate,
                false,
                &principal.actor,
                "register",
                &meta.correlation_id,
            )
            .await
        {
            // Allowed by policy but not acted on: the decision was still taken, so it is logged.
            self.log_decision(allowed.record).await?;
            return Err(refused);
        }
        if let Some(existing) = existing {
            self.log_decision(allowed.record).await?;
            return self.repeat(sent, &candidate, existing).await;
        }
        let audit = registration_audit(
            &candidate,
            &principal.actor,
            allowed.audit_decision(),
            &meta.correlation_id,
        );
        self.audit_allowed(&audit).await?;
        match self
            .store
            .register_artifact(&candidate, audit, &allowed.record, &links)
            .await?
        {
            Registered::Created(artifact) => {
                if links.verification.is_some() {
                    // The worker sleeps on the same signal for events and jobs: wake it so the
                    // queued verification runs now, not at the next idle poll.
                    self.events_waiting.notify_one();
                }
                Ok(RegisterOutcome::Created(Self::new_view(artifact)))
            }
            Registered::Existing(artifact) => {
                // Lost a race with another registration: answer like any repeat.
                self.log_decision(allowed.record).await?;
                self.repeat(sent, &candidate, artifact).await
            }
        }
    }

    /// A repeat registration: the stored artifact when the caller sent the same values, else a
    /// conflict naming what differs.
    async fn repeat(
        &self,
        sent: SentFields,
        candidate: &Artifact,
        existing: Artifact,
    ) -> Result<RegisterOutcome, AdmissionError> {
        let differing = differing_fields(sent, candidate, &existing);
        if !differing.is_empty() {
            return Err(AdmissionError::RegistrationConflict(
                differing.into_iter().map(str::to_owned).collect(),
            ));
        }
        Ok(RegisterOutcome::Existing(self.view(existing).await?))
    }
}

impl Admission {
    /// A registration naming a publish intent must match it: same repository, not expired (unless
    /// it was completed by this very digest), and the intent's expected digest if it has one.
    async fn check_intent_for(&self, candidate: &Artifact, id: Uuid) -> Result<(), AdmissionError> {
        let unknown =
            || AdmissionError::invalid("publish_intent_id", "no such publish intent in this project");
        let intent = self.store.get_publish_intent(id).await?.ok_or_else(unknown)?;
        if intent.project != candidate.project {
            return Err(unknown());
        }
        if intent.repository != candidate.repository {
            return Err(AdmissionError::invalid(
                "publish_intent_id",
                format!("the intent is for repository `{}`", intent.repository),
            ));
        }
        if let Some(expected) = &intent.expected_digest
            && expected != &candidate.digest
        {
            return Err(AdmissionError::invalid(
                "digest",
                format!("differs from the publish intent's expected digest `{expected}`"),
            ));
        }
        if intent.completed_at.is_none() && intent.expires_at <= Utc::now() {
            return Err(AdmissionError::invalid(
                "publish_intent_id",
                "the publish intent has expired",
            ));
        }
        Ok(())
    }

    /// The registry must hold a manifest with this digest; its media type and size are recorded.
    async fn check_manifest(&self, candidate: &mut Artifact) -> Result<(), AdmissionError> {
        // Both are needed here: a missing one is named in the 503.
        self.registry_setup.client()?;
        self.registry_setup.signer()?;
        let Some(reader) = self.registry_reader(candidate).await? else {
            return Err(AdmissionError::Internal);
        };
        let info = reader
            .client
            .manifest_info(candidate.repository.as_str(), &candidate.digest, &reader.token)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "registry unreachable while checking a manifest");
                AdmissionError::Unavailable
            })?;
        let Some(info) = info else {
            return Err(AdmissionError::invalid(
                "digest",
                format!(
                    "the registry has no manifest `{}` in `{}`",
                    candidate.digest, candidate.repository
                ),
            ));
        };
        if candidate
            .media_type
            .as_deref()
            .is_some_and(|m| m != info.media_type)
        {
            return Err(AdmissionError::invalid(
                "media_type",
                format!("the registry says this manifest is `{}`", info.media_type),
            ));
        }
        candidate.media_type = Some(info.media_type);
        candidate.source.size_bytes = candidate.source.size_bytes.or(i64::try_from(info.size).ok());
        Ok(())
    }
}
