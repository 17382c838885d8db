//! The Kubernetes validating admission webhook: every image of a workload must be pinned by
//! digest, registered in the project its namespace maps to, come from where that artifact was
//! registered, and be allowed by Cedar `admit` for the API server. Anything the webhook cannot
//! decide is refused (fail closed).

use std::collections::BTreeSet;

use chrono::Utc;
use uuid::Uuid;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::DecisionRecord;
use crate::domain::{Actor, ActorType, Artifact, ArtifactKind, Channel, RepositoryPath, SourceType};
use crate::k8s::{
    ImageReference, ImageUse, KubernetesConfig, NamespaceMapping, Operation, Review, Verdict, images_of,
};
use crate::policy::{Action, Caller, RequestContext, Resource};

/// The principal name of an API server that presented the bearer token.
pub const TOKEN_CALLER: &str = "kube-apiserver";

/// The webhook's start-up material: the `[kubernetes]` section and its token, read once.
#[derive(Default)]
pub struct KubernetesSetup {
    /// The bearer token the API server must present, if `token_file` is set.
    pub token: Option<SecretString>,
    /// The section.
    pub config: KubernetesConfig,
}

/// The authenticated API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesCaller {
    /// `kube-apiserver` for the token, else the certificate's matched name.
    pub name: String,
    /// `token` or `client_certificate`.
    pub issuer: &'static str,
}

impl Admission {
    /// The caller, if `presented` is the configured bearer token (compared in constant time).
    pub fn kubernetes_token_caller(&self, presented: &str) -> Option<KubernetesCaller> {
        let digest = |text: &str| Sha256::digest(text.as_bytes());
        let token = self.kubernetes.token.as_ref()?;
        bool::from(digest(token.expose_secret()).ct_eq(&digest(presented))).then(|| KubernetesCaller {
            name: TOKEN_CALLER.to_owned(),
            issuer: "token",
        })
    }

    /// The caller, if a verified client certificate names one of `client_cert_names`.
    pub fn kubernetes_certificate_caller(&self, names: &[String]) -> Option<KubernetesCaller> {
        let allowed = &self.kubernetes.config.client_cert_names;
        names
            .iter()
            .find(|name| allowed.contains(name))
            .map(|name| KubernetesCaller {
                name: name.clone(),
                issuer: "client_certificate",
            })
    }

    /// Decides a review; never an error: what cannot be decided is refused with the reason.
    pub async fn review_kubernetes(
        &self,
        caller: &KubernetesCaller,
        review: &Review,
        meta: &RequestMeta,
    ) -> Verdict {
        let verdict = match self.review_workload(caller, review, meta).await {
            Ok(verdict) => verdict,
            Err(error) => {
                tracing::warn!(%error, uid = %review.uid, "kubernetes review failed; refusing");
                let reason =
                    format!("Gatehouse could not decide this request ({error}); refusing it (fail closed)");
                (Verdict::deny(reason.clone()), Reviewed::Refused(reason, None))
            }
        };
        if let Reviewed::Refused(reason, project) = verdict.1 {
            let target = format!("admission_review:{}", review.uid);
            // Best effort: when the store is what failed, the refusal stands unlogged.
            let record = self.refusal_record(caller, project, target, &reason, meta);
            if let Err(error) = self.log_decision(record).await {
                tracing::warn!(%error, uid = %review.uid, "could not log the kubernetes refusal");
            }
        }
        verdict.0
    }

    async fn review_workload(
        &self,
        caller: &KubernetesCaller,
        review: &Review,
        meta: &RequestMeta,
    ) -> Result<(Verdict, Reviewed), AdmissionError> {
        match &review.operation {
            // Deleting starts nothing; refusing it could only keep a revoked image running.
            Operation::Delete => return Ok((Verdict::allow(), Reviewed::NotAsked)),
            Operation::Create | Operation::Update => {}
            Operation::Connect => return Ok(refused(unreviewed_operation("CONNECT"))),
            Operation::Other(other) => return Ok(refused(unreviewed_operation(other))),
        }
        let Some(namespace) = review.namespace.as_deref().filter(|n| !n.is_empty()) else {
            return Ok(refused(
                "the object has no namespace: Gatehouse admits namespaced workloads only".to_owned(),
            ));
        };
        let Some(mapping) = self.kubernetes.config.mapping(namespace) else {
            return Ok(refused(format!(
                "namespace `{namespace}` is not mapped to a project in Gatehouse (`[[kubernetes.namespaces]]`); nothing is admitted there"
            )));
        };
        let Some(object) = review.object.as_ref() else {
            return Ok(refused_in(
                mapping,
                "the review carries no object to check".to_owned(),
            ));
        };
        let images = match images_of(&review.kind, object) {
            Ok(images) => images,
            Err(error) => return Ok(refused_in(mapping, error.to_string())),
        };
        let mut refusals = Vec::new();
        let mut decided = BTreeSet::new();
        // One decision per distinct image: a sidecar repeated in every container is asked once.
        for image in images.iter().filter(|i| decided.insert(i.image.as_str())) {
            if let Some(reason) = self.refuse_image(caller, mapping, image, meta).await? {
                refusals.push(format!("image `{}` ({}) {reason}", image.image, image.field));
            }
        }
        // Each image was logged as its own decision (Cedar's, or the gateway's refusal).
        Ok((verdict(review.dry_run, mapping, refusals), Reviewed::NotAsked))
    }

    /// Why `image` may not run in `mapping`'s namespace, or `None` when it may.
    async fn refuse_image(
        &self,
        caller: &KubernetesCaller,
        mapping: &NamespaceMapping,
        image_use: &ImageUse,
        meta: &RequestMeta,
    ) -> Result<Option<String>, AdmissionError> {
        let image = image_use.image.as_str();
        let reference = match &image_use.reference {
            Ok(reference) => reference,
            Err(error) => {
                let reason = format!("is not a valid image reference: {error}");
                return self
                    .refuse_before_policy(caller, mapping, image, None, reason, meta)
                    .await;
            }
        };
        let Some(digest) = &reference.digest else {
            let reason = "is not referenced by digest: use `repository@sha256:…`, tags are never admitted";
            return self
                .refuse_before_policy(caller, mapping, image, None, reason.to_owned(), meta)
                .await;
        };
        let project = &mapping.project;
        // One digest may be registered in several of the project's repositories: the one the
        // image is pulled from (on the gateway's registry) first, else any (checked below).
        let mut artifact = None;
        if let Some(repository) = self.gateway_repository_of(reference) {
            artifact = self
                .store
                .find_artifact_by_digest(project, digest, Some(&repository))
                .await?;
        }
        if artifact.is_none() {
            artifact = self.store.find_artifact_by_digest(project, digest, None).await?;
        }
        let Some(artifact) = artifact else {
            let reason = format!("is not registered in project `{project}`");
            return self
                .refuse_before_policy(caller, mapping, image, None, reason, meta)
                .await;
        };
        if artifact.artifact_kind != ArtifactKind::Oci {
            let reason = format!("names artifact `{}`, which is a blob, not an image", artifact.id);
            return self
                .refuse_before_policy(caller, mapping, image, Some(&artifact), reason, meta)
                .await;
        }
        if let Some(mismatch) = self.repository_mismatch(reference, &artifact) {
            return self
                .refuse_before_policy(caller, mapping, image, Some(&artifact), mismatch, meta)
                .await;
        }
        let context = RequestContext {
            artifact_kind: Some(artifact.artifact_kind.to_string()),
            source_type: Some(artifact.source.source_type.to_string()),
            previous_channel: self.channels.previous(&mapping.channel).map(Channel::to_string),
            channel: Some(mapping.channel.to_string()),
            deploy_action: Some("deploy".to_owned()),
            runtime_class: mapping.runtime_class.clone(),
            ..RequestContext::default()
        };
        let actor = Actor {
            actor_type: ActorType::KubernetesApiServer,
            id: caller.name.clone(),
        };
        let principal = Caller::KubernetesApiServer {
            name: &caller.name,
            issuer: caller.issuer,
        };
        let (decision, record) = self.evaluate_as(
            principal,
            &actor,
            Action::Admit,
            Resource::Artifact(&artifact),
            context,
            meta,
        );
        self.log_decision(record).await?;
        if decision.allowed {
            return Ok(None);
        }
        let by = if decision.policy_ids.is_empty() {
            "no permit".to_owned()
        } else {
            decision
                .policy_ids
                .iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Ok(Some(format!(
            "(artifact `{}`) is denied by {by}: {}",
            artifact.id,
            decision.reasons.join("; ")
        )))
    }

    /// Logs an image the gateway refuses before asking any policy, and answers its refusal.
    async fn refuse_before_policy(
        &self,
        caller: &KubernetesCaller,
        mapping: &NamespaceMapping,
        image: &str,
        artifact: Option<&Artifact>,
        reason: String,
        meta: &RequestMeta,
    ) -> Result<Option<String>, AdmissionError> {
        let target = artifact.map_or_else(
            || format!("image:{image}"),
            |a| format!("Gatehouse::Artifact::\"{}\"", a.id),
        );
        let mut record =
            self.refusal_record(caller, Some(mapping.project.to_string()), target, &reason, meta);
        record.artifact_id = artifact.map(|a| a.id);
        record.request = serde_json::json!({
            "refused_before_policy": true,
            "image": image,
            "namespace": mapping.namespace,
        })
        .into();
        self.log_decision(record).await?;
        Ok(Some(reason))
    }

    /// A deny the gateway itself decided (no policy was asked), so the webhook's every refusal
    /// is in the decision log like any decision. Its request names no Cedar entities: a replay
    /// against any candidate set re-decides it as a deny, which it stays whatever the policies.
    fn refusal_record(
        &self,
        caller: &KubernetesCaller,
        project: Option<String>,
        target: String,
        reason: &str,
        meta: &RequestMeta,
    ) -> DecisionRecord {
        self.metrics.count_decision(Action::Admit.as_str(), "deny");
        crate::access::note_decision("deny");
        DecisionRecord {
            id: Uuid::now_v7(),
            decided_at: Utc::now(),
            correlation_id: meta.correlation_id.clone(),
            actor: Actor {
                actor_type: ActorType::KubernetesApiServer,
                id: caller.name.clone(),
            },
            action: Action::Admit.as_str().to_owned(),
            project,
            artifact_id: None,
            resource: target,
            effect: "deny".to_owned(),
            policy_ids: Vec::new(),
            reasons: vec![format!(
                "refused by the gateway before policy evaluation: {reason}"
            )],
            errors: Vec::new(),
            policy_hash: self.policy().hash().to_owned(),
            request: serde_json::json!({ "refused_before_policy": true }).into(),
            entities: serde_json::json!([]).into(),
        }
    }

    /// The repository path on the gateway's own registry, when the image is pulled from it.
    fn gateway_repository_of(&self, reference: &ImageReference) -> Option<RepositoryPath> {
        reference.path_on(&self.gateway_registry_host()?)
    }

    /// The gateway's registry host as image references are normalised (host names are
    /// case-insensitive; references arrive lower-cased), so `Registry.Example` matches.
    fn gateway_registry_host(&self) -> Option<String> {
        self.registry.registry.as_deref().map(str::to_ascii_lowercase)
    }

    /// Why the image's repository is not where the artifact lives: it must be the repository of
    /// the artifact's OCI source, or the artifact's repository on the gateway's registry.
    fn repository_mismatch(&self, reference: &ImageReference, artifact: &Artifact) -> Option<String> {
        let source = (artifact.source.source_type == SourceType::OciRegistry)
            .then(|| ImageReference::repository_of_source(&artifact.source.uri))
            .flatten();
        let gateway = self
            .gateway_registry_host()
            .map(|host| format!("{host}/{}", artifact.repository));
        let places: Vec<String> = source.into_iter().chain(gateway).collect();
        if places.contains(&reference.repository) {
            return None;
        }
        Some(format!(
            "(artifact `{}`) is pulled from `{}`, not from where the artifact was registered ({})",
            artifact.id,
            reference.repository,
            if places.is_empty() {
                "unknown".to_owned()
            } else {
                places
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            }
        ))
    }
}

/// What a review asked of policy, for the decision log.
enum Reviewed {
    /// Each image was decided (and logged) on its own, or nothing needed deciding (DELETE).
    NotAsked,
    /// The whole review was refused before any image reached policy (reason, mapped project).
    Refused(String, Option<String>),
}

fn refused(reason: String) -> (Verdict, Reviewed) {
    (Verdict::deny(reason.clone()), Reviewed::Refused(reason, None))
}

fn refused_in(mapping: &NamespaceMapping, reason: String) -> (Verdict, Reviewed) {
    let project = Some(mapping.project.to_string());
    (Verdict::deny(reason.clone()), Reviewed::Refused(reason, project))
}

fn unreviewed_operation(operation: &str) -> String {
    format!(
        "operation `{operation}` is not reviewed by Gatehouse: register the webhook for CREATE and UPDATE (DELETE is allowed)"
    )
}

/// The refusals as the API server's answer: a dry run is allowed with each refusal as a
/// warning; otherwise any refusal refuses the whole request.
fn verdict(dry_run: bool, mapping: &NamespaceMapping, refusals: Vec<String>) -> Verdict {
    if refusals.is_empty() {
        return Verdict::allow();
    }
    if dry_run {
        return Verdict {
            allowed: true,
            message: None,
            warnings: refusals
                .into_iter()
                .map(|r| format!("Gatehouse would deny (dry run): {r}"))
                .collect(),
        };
    }
    Verdict::deny(format!(
        "Gatehouse denied {} image(s) for namespace `{}` (project `{}`, channel `{}`): {}",
        refusals.len(),
        mapping.namespace,
        mapping.project,
        mapping.channel,
        refusals.join("; ")
    ))
}
