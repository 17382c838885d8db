//! The registry's token server: exchanges an intent credential (or a gateway bearer token) for a
//! registry JWT granting the intersection of what was asked and what is allowed — never more.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::credentials::{parse_username, password_matches};
use super::{Admission, AdmissionError, RequestMeta};
use crate::domain::{
    AccessGrant, IntentKind, IssuedToken, LifecycleState, Principal, ProjectSlug, TrustState,
};
use crate::policy::{Action, Resource};
use crate::registry::{
    RequestedScopes, RequestedService, SignedToken, TokenSigner, intersect, token_response,
};

/// How the caller of the token endpoint authenticated.
pub enum TokenCaller {
    /// HTTP Basic with an intent credential.
    Intent {
        /// `publish-<id>` or `pull-<id>`.
        username: String,
        /// The one-time password.
        password: String,
    },
    /// A verified gateway bearer token.
    Principal(Principal),
}

/// A token request as the registry's clients send it.
pub struct TokenRequest {
    /// The `service` query value (must be the configured service).
    pub service: Option<RequestedService>,
    /// Every `scope` query value, read.
    pub scopes: RequestedScopes,
    /// Who asks.
    pub caller: TokenCaller,
}

impl Admission {
    /// Signs a registry token for `subject` that lives no longer than `not_after`.
    pub(super) async fn issue_token(
        &self,
        signer: &TokenSigner,
        subject: &str,
        grant: Vec<AccessGrant>,
        not_after: DateTime<Utc>,
    ) -> Result<SignedToken, AdmissionError> {
        let configured = self.registry_setup.settings.token_ttl_seconds;
        let left = (not_after - Utc::now()).num_seconds().max(1);
        let ttl = std::time::Duration::from_secs(configured.min(left).unsigned_abs());
        signer.sign(subject, &grant, ttl).map_err(|e| {
            tracing::error!(error = %e, "cannot sign a registry token");
            AdmissionError::Internal
        })
    }

    /// Records an issued token's jti with its intent, so explain can follow intent → token → push.
    pub(super) async fn record_token(
        &self,
        token: &SignedToken,
        intent_id: Option<Uuid>,
        kind: IntentKind,
        subject: &str,
    ) -> Result<(), AdmissionError> {
        let access = token_access(&token.token);
        let issued = IssuedToken {
            jti: token.jti.clone(),
            intent_id,
            intent_kind: kind,
            subject: subject.to_owned(),
            access,
            issued_at: token.issued_at,
            expires_at: token.expires_at,
        };
        Ok(self.store.record_issued_token(&issued).await?)
    }

    /// Answers the Docker token endpoint.
    pub async fn registry_token(
        &self,
        request: TokenRequest,
        meta: &RequestMeta,
    ) -> Result<Value, AdmissionError> {
        let signer = self.registry_setup.signer()?;
        let service = &self.registry_setup.settings.service;
        if request.service.as_ref().is_some_and(|s| s.as_str() != service) {
            return Err(AdmissionError::invalid(
                "service",
                format!("this token server serves `{service}` only"),
            ));
        }
        let requested = request
            .scopes
            .checked()
            .map_err(|e| AdmissionError::invalid("scope", e.to_string()))?;
        let (subject, intent_id, kind, allowed, not_after) = match request.caller {
            TokenCaller::Intent { username, password } => self.intent_allowance(&username, &password).await?,
            TokenCaller::Principal(principal) => {
                let allowed = self.principal_allowance(&principal, &requested, meta).await?;
                let not_after =
                    Utc::now() + chrono::Duration::seconds(self.registry_setup.settings.token_ttl_seconds);
                (
                    principal.actor.id.clone(),
                    None,
                    IntentKind::Direct,
                    allowed,
                    not_after,
                )
            }
        };
        let grant = intersect(&requested, &allowed);
        let token = self.issue_token(signer, &subject, grant, not_after).await?;
        self.record_token(&token, intent_id, kind, &subject).await?;
        Ok(token_response(&token))
    }

    /// What an intent credential may still do: nothing once expired. A completed publish intent
    /// keeps push and pull on its one repository until then, so the CI job that pushed the image
    /// can push its signatures and attestations with the same credential; the registry cannot
    /// restrict tags, so the notification worker decides what such a push may be.
    async fn intent_allowance(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, Option<Uuid>, IntentKind, Vec<AccessGrant>, DateTime<Utc>), AdmissionError> {
        let refused = || AdmissionError::Unauthenticated("unknown intent credential".to_owned());
        let (kind, id) = parse_username(username).ok_or_else(refused)?;
        let now = Utc::now();
        let (stored_hash, repository, actions, live, expires_at) = match kind {
            IntentKind::Publish => {
                let intent = self.store.get_publish_intent(id).await?.ok_or_else(refused)?;
                let live = intent.expires_at > now;
                (
                    intent.password_sha256,
                    intent.repository,
                    vec!["pull", "push"],
                    live,
                    intent.expires_at,
                )
            }
            IntentKind::Pull => {
                let intent = self.store.get_pull_intent(id).await?.ok_or_else(refused)?;
                // Trust can be revoked after the intent was granted: check again at every exchange.
                let artifact = self.store.get_artifact(intent.artifact_id).await?;
                let usable = artifact.is_some_and(|a| {
                    a.trust_state != TrustState::Revoked && a.lifecycle_state != LifecycleState::Retired
                });
                (
                    intent.password_sha256,
                    intent.repository,
                    vec!["pull"],
                    usable && intent.expires_at > now,
                    intent.expires_at,
                )
            }
            IntentKind::Direct => return Err(refused()),
        };
        if !password_matches(password, &stored_hash) {
            return Err(refused());
        }
        let allowed = if live {
            vec![AccessGrant::repository(repository.to_string(), &actions)]
        } else {
            Vec::new()
        };
        Ok((username.to_owned(), Some(id), kind, allowed, expires_at))
    }

    /// A bearer caller may pull from repositories of projects it may read; pushing always goes
    /// through a publish intent.
    async fn principal_allowance(
        &self,
        principal: &Principal,
        requested: &[crate::registry::ScopeRequest],
        meta: &RequestMeta,
    ) -> Result<Vec<AccessGrant>, AdmissionError> {
        let mut allowed = Vec::new();
        for scope in requested.iter().filter(|s| s.resource_type == "repository") {
            let Some(project) = self.project_of_repository(&scope.name) else {
                continue;
            };
            let (decision, record) = self.evaluate(
                principal,
                Action::Read,
                Resource::Project(&project),
                crate::policy::RequestContext::default(),
                meta,
            );
            self.log_decision(record).await?;
            if decision.allowed {
                allowed.push(AccessGrant::repository(scope.name.clone(), &["pull"]));
            }
        }
        Ok(allowed)
    }

    /// The project a repository path belongs to: `<root>/<project>/…`.
    pub(super) fn project_of_repository(&self, repository: &str) -> Option<ProjectSlug> {
        self.registry.root.project_of(repository)
    }
}

/// The `access` claim of a token we just signed (read back rather than passed around, so the
/// record is exactly what was signed).
fn token_access(token: &str) -> Vec<AccessGrant> {
    use base64::Engine as _;
    token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|claims| serde_json::from_value(claims.get("access")?.clone()).ok())
        .unwrap_or_default()
}
