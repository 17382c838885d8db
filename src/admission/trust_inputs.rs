//! Trust inputs pushed to the registry — cosign's `.sig`/`.att`/`.sbom` tags, the referrers tag
//! schema's index and OCI 1.1 referrers. They never become artifacts. A push of one whose subject
//! is a registered artifact queues that artifact's verification again, so its trust state follows
//! the registry without anyone calling verify. With a publish intent's credential, only the trust
//! inputs of the digest that intent registered may be pushed.

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::credentials::parse_username;
use super::{Admission, AdmissionError};
use crate::domain::{
    AccessGrant, Artifact, ArtifactId, Digest, IntentKind, Principal, RegistryEvent, TrustState,
};
use crate::registry::{
    RegistryClientError, TrustInputKind, manifest_subject, may_have_subject, trust_tag_subject,
};

/// A pushed manifest that is about another one.
pub(super) struct TrustInput {
    /// The digest it is about.
    pub(super) subject: Digest,
    /// How it says so.
    pub(super) kind: TrustInputKind,
}

/// What a trust-input push did.
pub(super) enum TrustInputOutcome {
    /// Verification of the artifact was asked for again (`queued` false says why not in `note`).
    Requeued {
        /// The artifact the input is about.
        artifact: ArtifactId,
        /// Whether a new verification job was queued.
        queued: bool,
        /// Why not, when not.
        note: Option<&'static str>,
    },
    /// Pushed with a publish intent that may not push it: recorded as an unregistered push.
    Unregistered(String),
    /// About nothing the gateway tracks.
    Ignored(&'static str),
    /// Pushed with a publish intent whose own image is not registered yet: look again later.
    Deferred,
}

impl TrustInputOutcome {
    /// The event result of a requeue, naming the artifact, the input and what was done.
    pub(super) fn requeue_result(
        input: &TrustInput,
        artifact: ArtifactId,
        queued: bool,
        note: Option<&str>,
    ) -> Value {
        let mut result = json!({
            "trust_input_for": artifact,
            "subject": input.subject,
            "kind": input.kind.as_str(),
            "requeued": queued,
        });
        if let (Some(note), Some(map)) = (note, result.as_object_mut()) {
            map.insert("reason".to_owned(), json!(note));
        }
        result
    }
}

/// How long the token the worker reads a pushed manifest with lives.
const READ_TOKEN_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

impl Admission {
    /// What the pushed manifest is about, if it is a trust input: from its tag, else from the
    /// `subject` of the manifest as the registry holds it (notifications do not carry it).
    pub(super) async fn trust_input(
        &self,
        event: &RegistryEvent,
        digest: &Digest,
    ) -> Result<Option<TrustInput>, AdmissionError> {
        if let Some((subject, kind)) = event.tag.as_deref().and_then(trust_tag_subject) {
            return Ok(Some(TrustInput { subject, kind }));
        }
        if !may_have_subject(event) {
            return Ok(None);
        }
        let manifest = self
            .read_pushed_manifest(event.repository.as_str(), digest)
            .await?;
        Ok(manifest
            .as_deref()
            .and_then(manifest_subject)
            .map(|subject| TrustInput {
                subject,
                kind: TrustInputKind::Referrer,
            }))
    }

    /// The pushed manifest's bytes; `None` when there is no registry to ask or it no longer holds
    /// them. An outage is a retry, never a verdict; an unreadable manifest fails the event.
    async fn read_pushed_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>, AdmissionError> {
        let (Some(client), Some(signer)) = (&self.registry_setup.client, &self.registry_setup.signer) else {
            return Ok(None);
        };
        let grant = vec![AccessGrant::repository(repository.to_owned(), &["pull"])];
        let token = self
            .issue_token(signer, "gatehouse", grant, Utc::now() + READ_TOKEN_TTL)
            .await?;
        match client
            .get_manifest(repository, digest.as_str(), &token.token)
            .await
        {
            Ok(found) => Ok(found.map(|m| m.bytes)),
            // Not a name the registry could hold: there is no manifest to read.
            Err(RegistryClientError::BadRepository(_)) => Ok(None),
            Err(
                error @ (RegistryClientError::Unreachable(_)
                | RegistryClientError::Unauthorized(_)
                | RegistryClientError::Status(_)),
            ) => {
                tracing::warn!(error = %error, "cannot read a pushed manifest; will retry");
                Err(AdmissionError::Unavailable)
            }
            Err(error) => Err(AdmissionError::Rule(format!(
                "cannot read the pushed manifest to see what it is about: {error}"
            ))),
        }
    }

    /// Applies a trust-input push: by a publish intent, only for the digest it registered; by
    /// anyone else the registry let push, for any registered artifact of the repository.
    pub(super) async fn apply_trust_input(
        &self,
        event: &RegistryEvent,
        input: &TrustInput,
    ) -> Result<TrustInputOutcome, AdmissionError> {
        match event.actor_name.as_deref().and_then(parse_username) {
            Some((IntentKind::Publish, intent_id)) => self.intent_trust_input(event, intent_id, input).await,
            _ => self.other_trust_input(event, input).await,
        }
    }

    async fn intent_trust_input(
        &self,
        event: &RegistryEvent,
        intent_id: Uuid,
        input: &TrustInput,
    ) -> Result<TrustInputOutcome, AdmissionError> {
        use TrustInputOutcome::{Deferred, Unregistered};
        let intent = self.store.get_publish_intent(intent_id).await?;
        let Some(intent) = intent.filter(|i| i.repository.as_str() == event.repository.as_str()) else {
            return Ok(Unregistered(
                "the publish intent that pushed it does not cover this repository".to_owned(),
            ));
        };
        let pushed_at = event.occurred_at.unwrap_or(event.received_at);
        if pushed_at > intent.expires_at {
            return Ok(Unregistered("the publish intent had expired".to_owned()));
        }
        let Some(artifact_id) = intent.artifact_id else {
            // The image's own notification may not be applied yet: wait while the intent lives.
            return Ok(if Utc::now() < intent.expires_at {
                Deferred
            } else {
                Unregistered(format!(
                    "a trust input for `{}`, but the publish intent never registered an artifact",
                    input.subject
                ))
            });
        };
        let artifact = self.store.get_artifact(artifact_id).await?.ok_or_else(|| {
            tracing::error!(%intent_id, "a completed publish intent names an artifact that does not exist");
            AdmissionError::Internal
        })?;
        if artifact.digest != input.subject {
            return Ok(Unregistered(format!(
                "a trust input for `{}`; this publish intent registered `{}` and may push only its \
                 signatures, attestations and referrers",
                input.subject, artifact.digest
            )));
        }
        self.requeue_verification(&artifact, &intent.principal).await
    }

    async fn other_trust_input(
        &self,
        event: &RegistryEvent,
        input: &TrustInput,
    ) -> Result<TrustInputOutcome, AdmissionError> {
        use TrustInputOutcome::{Ignored, Requeued};
        let (Some(project), Some(repository)) = (
            self.project_of_repository(event.repository.as_str()),
            event.repository.path(),
        ) else {
            return Ok(Ignored("trust input outside the project repositories"));
        };
        let found = self
            .store
            .find_artifact_by_digest(&project, &input.subject, Some(repository))
            .await?;
        let Some(artifact) = found.filter(|a| &a.repository == repository) else {
            return Ok(Ignored("trust input for a digest the gateway does not track"));
        };
        // Verification is decided as the principal that registered the artifact, which only a
        // publish intent keeps.
        let intent = match self.store.artifact_links(artifact.id).await?.publish_intent_id {
            Some(id) => self.store.get_publish_intent(id).await?,
            None => None,
        };
        match intent {
            Some(intent) => self.requeue_verification(&artifact, &intent.principal).await,
            None => Ok(Requeued {
                artifact: artifact.id,
                queued: false,
                note: Some(
                    "registered without a publish intent, so there is no principal to verify it as: call verify",
                ),
            }),
        }
    }

    /// Queues verification of `artifact` as `principal`, unless one already waits to run.
    async fn requeue_verification(
        &self,
        artifact: &Artifact,
        principal: &Principal,
    ) -> Result<TrustInputOutcome, AdmissionError> {
        let not_queued = |note| TrustInputOutcome::Requeued {
            artifact: artifact.id,
            queued: false,
            note: Some(note),
        };
        if artifact.trust_state == TrustState::Revoked {
            return Ok(not_queued("revoked: never verified again"));
        }
        let Some(job) = self.verification_job(artifact, principal) else {
            return Ok(not_queued("`trust.verify_on_register` is off: call verify"));
        };
        if self.store.enqueue_verification_unless_waiting(&job).await? {
            Ok(TrustInputOutcome::Requeued {
                artifact: artifact.id,
                queued: true,
                note: None,
            })
        } else {
            Ok(not_queued("a verification of it is already waiting to run"))
        }
    }
}
