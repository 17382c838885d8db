//! Pull intents for blobs: the source reference, the digest and size to verify, and — for the
//! internal artifact store — an object token good for that one object until the intent expires.
//! Sources the gateway cannot mint access for (`https`, `huggingface`, cloud buckets) get the
//! reference pinned to its revision and the digest, with no credential.

use chrono::{SubsecRound as _, Utc};
use uuid::Uuid;

use super::credentials::{new_password, password_sha256};
use super::decide::{Allowed, artifact_audit};
use super::pull_answers::{BlobPullAnswer, ObjectCredential, PullAnswer};
use super::{Admission, AdmissionError, RequestMeta};
use crate::artifact_store::{ObjectGrant, redact_uri, uri_has_credentials};
use crate::domain::{
    AccessGrant, Artifact, ArtifactKind, CanonicalUuid, Channel, IntentKind, IssuedToken, LifecycleState,
    Lookup, Principal, PullIntent, SourceType, TrustState,
};
use crate::policy::{Action, RequestContext, Resource};

impl Admission {
    /// The blob branch of `pull_intent`, once Cedar allowed it and the states permit it.
    pub(super) async fn blob_pull_intent(
        &self,
        principal: &Principal,
        artifact: Artifact,
        channel: Option<Channel>,
        runtime_class: Option<String>,
        allowed: Allowed,
        meta: &RequestMeta,
    ) -> Result<BlobPullAnswer, AdmissionError> {
        let now = Utc::now();
        let mut lifetime = self.intent_ttl(None)?;
        if artifact.source.source_type == SourceType::ArtifactStore {
            // No credential can be minted without the store and a key: refuse before recording.
            let (location, tokens) = self.registry_setup.artifact_store()?;
            if location.object(&artifact.source.uri).is_none() {
                return Err(AdmissionError::Rule(
                    "the artifact's source names no object inside the artifact store".to_owned(),
                ));
            }
            lifetime = lifetime.min(tokens.ttl());
        }
        let intent = PullIntent {
            id: Uuid::now_v7(),
            project: artifact.project.clone(),
            artifact_id: artifact.id,
            repository: artifact.repository.clone(),
            digest: artifact.digest.clone(),
            channel: channel.map(|c| c.to_string()),
            actor: principal.actor.clone(),
            // A hash of a password nobody is told: a blob intent is never a registry credential.
            password_sha256: password_sha256(&new_password()?),
            created_at: now,
            expires_at: (now + lifetime).trunc_subsecs(0),
            correlation_id: meta.correlation_id.clone(),
            runtime_class,
        };
        let credential = self.object_credential(&intent, &artifact)?;
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
        if let Some((_, issued)) = &credential {
            self.store.record_issued_token(issued).await?;
        }
        Ok(self.blob_answer(&intent, &artifact, credential.map(|(c, _)| c)))
    }

    /// An object token for the intent's artifact-store object, expiring with the intent, and the
    /// record of it; `None` for other sources.
    fn object_credential(
        &self,
        intent: &PullIntent,
        artifact: &Artifact,
    ) -> Result<Option<(ObjectCredential, IssuedToken)>, AdmissionError> {
        if artifact.source.source_type != SourceType::ArtifactStore {
            return Ok(None);
        }
        let (location, tokens) = self.registry_setup.artifact_store()?;
        let (key, _) = location.object(&artifact.source.uri).ok_or_else(|| {
            AdmissionError::Rule("the artifact's source names no object inside the artifact store".to_owned())
        })?;
        let grant = ObjectGrant {
            key: key.clone(),
            digest: artifact.digest.to_string(),
        };
        let signed = tokens
            .sign(&intent.actor.id, grant, Some(intent.id), intent.expires_at)
            .map_err(|e| {
                tracing::error!(error = %e, "cannot sign an object token");
                AdmissionError::Unavailable
            })?;
        let issued = IssuedToken {
            jti: signed.jti.clone(),
            intent_id: Some(intent.id),
            intent_kind: IntentKind::Pull,
            subject: intent.actor.id.clone(),
            access: vec![AccessGrant {
                resource_type: "object".to_owned(),
                name: key,
                actions: vec!["get".to_owned()],
            }],
            issued_at: signed.issued_at,
            expires_at: signed.expires_at,
        };
        let credential = ObjectCredential {
            scheme: "Bearer",
            token: signed.token,
            expires_at: signed.expires_at,
        };
        Ok(Some((credential, issued)))
    }

    fn blob_answer(
        &self,
        intent: &PullIntent,
        artifact: &Artifact,
        credential: Option<ObjectCredential>,
    ) -> BlobPullAnswer {
        let source = &artifact.source;
        let redacted = uri_has_credentials(&source.uri);
        let url = match source.source_type {
            SourceType::ArtifactStore => self
                .registry_setup
                .artifact_store
                .as_ref()
                .and_then(|store| store.object(&source.uri))
                .map(|(_, url)| url.to_string()),
            SourceType::Https if !redacted => Some(source.uri.clone()),
            _ => None,
        };
        BlobPullAnswer {
            id: intent.id,
            artifact_id: artifact.id,
            artifact_kind: artifact.artifact_kind,
            repository: artifact.repository.clone(),
            digest: artifact.digest.clone(),
            size_bytes: source.size_bytes,
            source_type: source.source_type.clone(),
            reference: redact_uri(&source.uri),
            source_ref: source.source_ref.clone(),
            reference_redacted: redacted,
            url,
            credential,
            expires_at: intent.expires_at,
        }
    }

    /// One pull intent, decided as `read` on its artifact. Only the actor who asked for it gets
    /// its object token again (same object, same expiry), and only while the intent is live, the
    /// artifact is neither revoked nor retired, and policy still allows the pull; anyone else —
    /// and every OCI intent, whose password is shown once — gets the record without credential.
    pub async fn get_pull_intent(
        &self,
        principal: &Principal,
        id: &Lookup<CanonicalUuid>,
        meta: &RequestMeta,
    ) -> Result<PullAnswer, AdmissionError> {
        let not_found = || AdmissionError::NotFound(format!("no pull intent with id `{id}`"));
        let Lookup::Valid(CanonicalUuid(uuid)) = id else {
            return Err(not_found());
        };
        let intent = self.store.get_pull_intent(*uuid).await?.ok_or_else(not_found)?;
        let artifact = self
            .store
            .get_artifact(intent.artifact_id)
            .await?
            .ok_or_else(not_found)?;
        self.authorize_tenant_read(principal, Resource::Artifact(&artifact), meta)
            .await?;
        if artifact.artifact_kind == ArtifactKind::Oci {
            return Ok(PullAnswer::Oci(self.oci_answer(&intent, &artifact, None)));
        }
        let live = intent.actor == principal.actor
            && Utc::now() < intent.expires_at
            && artifact.trust_state != TrustState::Revoked
            && artifact.lifecycle_state != LifecycleState::Retired
            && artifact.source.source_type == SourceType::ArtifactStore;
        let mut credential = None;
        if live {
            let context = RequestContext {
                artifact_kind: Some(artifact.artifact_kind.to_string()),
                source_type: Some(artifact.source.source_type.to_string()),
                channel: intent.channel.clone(),
                deploy_action: Some("pull".to_owned()),
                runtime_class: intent.runtime_class.clone(),
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
            self.decisions.record(allowed.record).await?;
            if let Some((object, issued)) = self.object_credential(&intent, &artifact)? {
                self.store.record_issued_token(&issued).await?;
                credential = Some(object);
            }
        }
        Ok(PullAnswer::Blob(self.blob_answer(&intent, &artifact, credential)))
    }
}
