//! The notification worker: claims queued registry events and applies them — a manifest push with
//! an open publish intent registers the artifact through the same gate as the API; a push with
//! no intent is recorded as unregistered, never trusted; a signature, attestation or referrer
//! push re-queues its subject's verification (see `trust_inputs`); a delete marks registry
//! presence.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use super::credentials::parse_username;
use super::decide::{audit_decision, registration_audit};
use super::trust_inputs::{TrustInput, TrustInputOutcome};
use super::{Admission, AdmissionError, RequestMeta};
use crate::catalog::Family;
use crate::domain::{
    Artifact, ArtifactId, Digest, EventStatus, IntentKind, LifecycleState, PublishIntent, RegistryAction,
    RegistryEvent, Source, SourceType, TrustState, UnregisteredPush,
};
use crate::policy::{Action, RequestContext, Resource};
use crate::registry::{is_manifest_push, is_signature_or_attestation};
use crate::store::{Registered, RegistrationLinks, StoreError};

/// How long a claimed event stays with one worker before another may retry it.
const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Attempts before a verification that keeps meeting an outage is given up (and can be rerun).
const MAX_VERIFICATION_ATTEMPTS: i32 = 5;
/// Idle poll interval (a local intake wakes the worker at once).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The outcome of applying one event.
struct Applied {
    status: EventStatus,
    result: Value,
    unregistered: Option<UnregisteredPush>,
    presence: Option<(ArtifactId, &'static str)>,
}

impl Applied {
    fn ignored(reason: &str) -> Self {
        Self {
            status: EventStatus::Ignored,
            result: json!({ "reason": reason }),
            unregistered: None,
            presence: None,
        }
    }

    /// Not decidable yet: the event goes back to the queue, retried once its lease runs out.
    fn deferred(reason: &str) -> Self {
        Self {
            status: EventStatus::Pending,
            result: json!({ "deferred": reason }),
            unregistered: None,
            presence: None,
        }
    }
}

/// Runs until `stop` turns true, applying registry events and verification jobs as they arrive.
pub async fn run_worker(admission: Arc<Admission>, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let event = admission.apply_next_event().await;
        if let Err(error) = &event {
            tracing::warn!(?error, "notification worker: will retry");
        }
        let job = admission.run_next_verification().await;
        if let Err(error) = &job {
            tracing::warn!(?error, "verification worker: will retry");
        }
        if matches!(event, Ok(true)) || matches!(job, Ok(true)) {
            continue;
        }
        tokio::select! {
            () = admission.events_waiting.notified() => {}
            () = tokio::time::sleep(IDLE_POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

impl Admission {
    /// Claims and applies one queued event; answers whether there was one.
    pub async fn apply_next_event(&self) -> Result<bool, AdmissionError> {
        let Some(event) = self.store.claim_registry_event(Utc::now(), LEASE).await? else {
            return Ok(false);
        };
        match self.apply_event(&event).await {
            Ok(applied) if applied.status == EventStatus::Pending => {
                self.store
                    .release_registry_event(&event.id, &applied.result)
                    .await?;
            }
            Ok(applied) => {
                self.store
                    .finish_registry_event(
                        &event.id,
                        applied.status,
                        &applied.result,
                        applied.unregistered.as_ref(),
                        applied.presence.as_ref().map(|(id, state)| (*id, *state)),
                    )
                    .await?;
            }
            Err(AdmissionError::Unavailable) => {
                // A passing outage: leave it queued, retried once its lease runs out.
                self.store
                    .release_registry_event(&event.id, &json!({ "last_error": "dependency unavailable" }))
                    .await?;
            }
            Err(error) => {
                let result = json!({ "reason": error.to_string() });
                self.store
                    .finish_registry_event(&event.id, EventStatus::Failed, &result, None, None)
                    .await?;
            }
        }
        Ok(true)
    }

    async fn apply_event(&self, event: &RegistryEvent) -> Result<Applied, AdmissionError> {
        match event.action {
            RegistryAction::Push => self.apply_push(event).await,
            RegistryAction::Delete => self.apply_delete(event).await,
            RegistryAction::Pull | RegistryAction::Mount => {
                Ok(Applied::ignored("pulls and mounts change nothing"))
            }
        }
    }

    async fn apply_delete(&self, event: &RegistryEvent) -> Result<Applied, AdmissionError> {
        let (Some(digest), Some(project)) = (
            &event.digest,
            self.project_of_repository(event.repository.as_str()),
        ) else {
            return Ok(Applied::ignored("delete of something the gateway does not track"));
        };
        match self
            .store
            .find_artifact_by_digest(&project, digest, event.repository.path())
            .await?
        {
            Some(artifact) => Ok(Applied {
                status: EventStatus::Applied,
                result: json!({ "artifact_id": artifact.id, "registry_presence": "deleted" }),
                unregistered: None,
                presence: Some((artifact.id, "deleted")),
            }),
            None => Ok(Applied::ignored("no registered artifact has this digest")),
        }
    }

    async fn apply_push(&self, event: &RegistryEvent) -> Result<Applied, AdmissionError> {
        if !is_manifest_push(event) {
            return Ok(Applied::ignored("not a manifest push"));
        }
        let Some(digest) = event.digest.clone() else {
            return Ok(Applied::ignored("no canonical digest in the event"));
        };
        let unregistered = |reason: &str| Applied {
            status: EventStatus::Applied,
            result: json!({ "unregistered": true, "reason": reason }),
            unregistered: Some(UnregisteredPush {
                id: Uuid::now_v7(),
                event_id: event.id.clone(),
                project: self.project_of_repository(event.repository.as_str()),
                repository: event.repository.clone(),
                digest: digest.clone(),
                tag: event.tag.clone(),
                actor_name: event.actor_name.clone(),
                received_at: event.received_at,
            }),
            presence: None,
        };
        if let Some(input) = self.trust_input(event, &digest).await? {
            let outcome = self.apply_trust_input(event, &input).await?;
            return Ok(trust_input_applied(&input, outcome, &unregistered));
        }
        if is_signature_or_attestation(event) {
            // A sigstore media type, but no subject to tie it to.
            return Ok(Applied::ignored(
                "signature or attestation manifest: trust input, not an artifact",
            ));
        }
        let Some(intent) = self.intent_for_push(event).await? else {
            return Ok(unregistered("no open publish intent for this repository"));
        };
        let pushed_at = event.occurred_at.unwrap_or(event.received_at);
        if intent.completed_at.is_some() {
            return Ok(unregistered(
                "the publish intent was already completed: it may push only the signatures, \
                 attestations and referrers of the digest it registered",
            ));
        }
        if pushed_at > intent.expires_at {
            return Ok(unregistered("the publish intent had expired"));
        }
        if intent.expected_digest.as_ref().is_some_and(|d| d != &digest) {
            return Ok(unregistered(
                "the digest differs from the publish intent's expected digest",
            ));
        }
        self.register_from_push(event, &intent, digest.clone(), &unregistered)
            .await
    }

    /// The intent a push belongs to: the one named by the token subject, else the only open one.
    async fn intent_for_push(&self, event: &RegistryEvent) -> Result<Option<PublishIntent>, AdmissionError> {
        if let Some((IntentKind::Publish, id)) = event.actor_name.as_deref().and_then(parse_username) {
            let intent = self.store.get_publish_intent(id).await?;
            return Ok(intent.filter(|i| i.repository.as_str() == event.repository.as_str()));
        }
        let Some(repository) = event.repository.path() else {
            return Ok(None);
        };
        let mut open = self
            .store
            .open_publish_intents(repository, event.received_at)
            .await?;
        // More than one open intent would make the match a guess: leave it unregistered.
        Ok(if open.len() == 1 { open.pop() } else { None })
    }

    async fn register_from_push(
        &self,
        event: &RegistryEvent,
        intent: &PublishIntent,
        digest: Digest,
        unregistered: &(dyn Fn(&str) -> Applied + Sync),
    ) -> Result<Applied, AdmissionError> {
        let now = Utc::now();
        let host = self.registry.registry.clone().unwrap_or_default();
        let artifact = Artifact {
            id: ArtifactId::new(),
            project: intent.project.clone(),
            app: intent.app.clone(),
            artifact_kind: intent.artifact_kind,
            artifact_type: intent.artifact_type.clone(),
            repository: intent.repository.clone(),
            scope: self.repository_roots().scope_of(&intent.repository),
            digest: digest.clone(),
            tag: event.tag.clone().or_else(|| intent.tag_hint.clone()),
            media_type: event.media_type.clone(),
            source: Source {
                source_type: SourceType::OciRegistry,
                uri: format!("{host}/{}@{digest}", intent.repository),
                source_ref: None,
                size_bytes: event.size,
                content_encoding: None,
            },
            lifecycle_state: LifecycleState::Published,
            trust_state: TrustState::Unverified,
            channels: Vec::new(),
            signature_verified: false,
            attestations: Vec::new(),
            trust_facts: Default::default(),
            created_by: intent.actor.clone(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        let meta = RequestMeta::internal(format!("registry-event:{}", event.id));
        let context = RequestContext {
            artifact_kind: Some(artifact.artifact_kind.to_string()),
            source_type: Some(artifact.source.source_type.to_string()),
            via_registry_notification: Some(true),
            ..RequestContext::default()
        };
        let (decision, record) = self.evaluate(
            &intent.principal,
            Action::Register,
            Resource::Artifact(&artifact),
            context,
            &meta,
        );
        if !decision.allowed {
            self.log_decision(record).await?;
            return Ok(unregistered(&format!(
                "registration denied by policy: {}",
                decision.reasons.join("; ")
            )));
        }
        // The same catalog checks as a registration through the API.
        let catalog = self.catalog().await;
        let refused = catalog
            .check(Family::ArtifactTypes, artifact.artifact_type.as_str())
            .and_then(|_| catalog.check(Family::SourceTypes, artifact.source.source_type.as_str()));
        if let Err(refusal) = refused {
            return Ok(unregistered(&format!("registration refused: {refusal}")));
        }
        let audit = registration_audit(
            &artifact,
            &intent.actor,
            audit_decision(&decision),
            &meta.correlation_id,
        );
        let links = RegistrationLinks {
            publish_intent_id: Some(intent.id),
            event_id: Some(event.id.clone()),
            verification: self.verification_job(&artifact, &intent.principal),
            attachments: Vec::new(),
        };
        self.audit_allowed(&audit).await?;
        let stored = match self
            .store
            .register_artifact(&artifact, audit, &record, &links)
            .await
        {
            Ok(Registered::Created(a)) => (a, false),
            Ok(Registered::Existing(a)) => {
                self.log_decision(record).await?;
                (a, true)
            }
            Err(StoreError::Conflict) => {
                return Ok(unregistered("the publish intent was completed concurrently"));
            }
            Err(other) => return Err(other.into()),
        };
        let (artifact, already) = stored;
        Ok(Applied {
            status: EventStatus::Applied,
            result: json!({ "artifact_id": artifact.id, "publish_intent_id": intent.id, "already_registered": already }),
            unregistered: None,
            presence: Some((artifact.id, "present")),
        })
    }
}

/// The event outcome of a trust-input push.
fn trust_input_applied(
    input: &TrustInput,
    outcome: TrustInputOutcome,
    unregistered: &dyn Fn(&str) -> Applied,
) -> Applied {
    match outcome {
        TrustInputOutcome::Requeued {
            artifact,
            queued,
            note,
        } => Applied {
            status: EventStatus::Applied,
            result: TrustInputOutcome::requeue_result(input, artifact, queued, note),
            unregistered: None,
            presence: None,
        },
        TrustInputOutcome::Unregistered(reason) => unregistered(&reason),
        TrustInputOutcome::Ignored(reason) => Applied::ignored(reason),
        TrustInputOutcome::Deferred => {
            Applied::deferred("the publish intent has not registered the artifact this is about yet")
        }
    }
}

impl Admission {
    /// Claims and runs one queued verification, as the principal that registered the artifact;
    /// answers whether there was one. A run that commits finishes the job in the same
    /// transaction, so there is nothing left to do after it, even after a crash.
    pub async fn run_next_verification(&self) -> Result<bool, AdmissionError> {
        let Some(job) = self.store.claim_verification(Utc::now(), LEASE).await? else {
            return Ok(false);
        };
        let meta = RequestMeta::internal(format!("verification-job:{}", job.id));
        match self.verify_job(&job, &meta).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::info!(job = %job.id, "verification job was already committed by an earlier claim");
            }
            Err(AdmissionError::Conflict) => {
                // Lost every re-run to concurrent changes: a race is never a failure, so it
                // stays queued and runs again after the lease.
                self.store
                    .release_verification(job.id, &json!({ "last_error": "artifact changed concurrently" }))
                    .await?;
            }
            Err(AdmissionError::Unavailable) if job.attempts < MAX_VERIFICATION_ATTEMPTS => {
                // The registry or database is away: try again after the lease.
                self.store
                    .release_verification(job.id, &json!({ "last_error": "dependency unavailable" }))
                    .await?;
            }
            Err(error) => {
                let result = json!({ "reason": error.to_string() });
                self.store.finish_verification(job.id, false, &result).await?;
            }
        }
        Ok(true)
    }
}
