//! App onboarding: register an app and its versions from manifest packages, link versions to
//! registered artifacts by digest, publish (approve) versions. Each step is decided by Cedar and
//! stored with its audit record and decision in one transaction.

use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use super::decide::Allowed;
use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{NewAuditRecord, Transition};
use crate::domain::{
    App, AppFacts, AppSlug, AppVersion, AppVersionFacts, AppVersionStatus, LinkedArtifact, Principal,
    ProjectSlug, VersionNumber,
};
use crate::manifest::{self, Fault, Manifest};
use crate::policy::{Action, RequestContext, Resource};
use crate::store::StoreError;

/// The answer to registering an app: the app and its first version.
#[derive(Debug, Clone, Serialize)]
pub struct AppRegistration {
    /// The app.
    pub app: App,
    /// Its first version.
    pub version: AppVersion,
}

/// A write that may have been done before: `Created` (201) or `Existing` (200, nothing written).
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    /// Stored now.
    Created(T),
    /// Identical to what was already stored.
    Existing(T),
}

/// Audit record of an app action; the app (and version) are named in the transition's reason.
fn app_audit(
    principal: &Principal,
    action: &str,
    project: &ProjectSlug,
    subject: String,
    (from, to): (&str, &str),
    allowed: &Allowed,
    meta: &RequestMeta,
) -> NewAuditRecord {
    NewAuditRecord {
        actor: principal.actor.clone(),
        action: action.to_owned(),
        project: Some(project.to_string()),
        artifact_id: None,
        repository: None,
        digest: None,
        artifact_kind: None,
        source_type: None,
        transition: Some(Transition {
            from: from.to_owned(),
            to: to.to_owned(),
            reason: Some(subject),
        }),
        promotion: None,
        decision: Some(allowed.audit_decision()),
        correlation_id: meta.correlation_id.clone(),
    }
}

fn subject(app: &AppSlug, version: Option<&VersionNumber>) -> String {
    match version {
        Some(v) => format!("app `{app}` version `{v}`"),
        None => format!("app `{app}`"),
    }
}

fn validated(document: &serde_json::Value) -> Result<Manifest, AdmissionError> {
    manifest::validate(document).map_err(AdmissionError::from)
}

impl Admission {
    /// Registers an app and its first version (`POST /v1/apps`). The owning project is the
    /// manifest's `app.project`. Repeating an identical registration answers `Existing`.
    pub async fn register_app(
        &self,
        principal: &Principal,
        document: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<Outcome<AppRegistration>, AdmissionError> {
        let manifest = validated(document)?;
        let Some(project) = manifest.app.project.clone() else {
            return Err(AdmissionError::Manifest(vec![Fault::new(
                "/app/project",
                "required",
                "the owning project is required to register an app",
            )]));
        };
        let existing = self.store.get_app(&manifest.app.slug).await?;
        let owner = existing.as_ref().map_or(&project, |a| &a.project);
        let facts = self.app_facts(&manifest.app.slug, owner).await?;
        let for_app = self
            .authorize(
                principal,
                Action::RegisterApp,
                Resource::App(&facts),
                RequestContext::default(),
                meta,
            )
            .await?;
        let for_version = self
            .authorize(
                principal,
                Action::RegisterAppVersion,
                Resource::App(&facts),
                RequestContext::default(),
                meta,
            )
            .await?;
        if let Some(app) = existing {
            return self
                .repeat_registration(app, &manifest, &project, [for_app, for_version])
                .await;
        }
        let now = Utc::now();
        let app = App {
            slug: manifest.app.slug.clone(),
            project: project.clone(),
            display_name: manifest.app.display_name.clone(),
            manifest: manifest.app.document.clone(),
            created_by: principal.actor.clone(),
            created_at: now,
        };
        let version = self.new_version(principal, &project, &manifest).await?;
        let audits = vec![
            app_audit(
                principal,
                "app.register",
                &project,
                subject(&app.slug, None),
                ("none", "registered"),
                &for_app,
                meta,
            ),
            app_audit(
                principal,
                "app_version.register",
                &project,
                subject(&app.slug, Some(&version.version)),
                ("none", AppVersionStatus::Draft.as_str()),
                &for_version,
                meta,
            ),
        ];
        let decisions = [for_app.record, for_version.record];
        match self.store.create_app(&app, &version, audits, &decisions).await {
            Ok(()) => Ok(Outcome::Created(AppRegistration { app, version })),
            Err(StoreError::Conflict) => Err(AdmissionError::Rule(format!(
                "app `{}` was registered by another request; read it and retry",
                app.slug
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// An app registration for a slug that exists: identical app layer and first version
    /// answer `Existing`; anything else is a conflict.
    async fn repeat_registration(
        &self,
        app: App,
        manifest: &Manifest,
        project: &ProjectSlug,
        allowed: [Allowed; 2],
    ) -> Result<Outcome<AppRegistration>, AdmissionError> {
        for a in allowed {
            self.log_decision(a.record).await?;
        }
        let same_app = &app.project == project
            && manifest::canonical_digest(&app.manifest)
                == manifest::canonical_digest(&manifest.app.document);
        let version = self
            .store
            .get_app_version(&app.slug, &manifest.version.version)
            .await?;
        match version {
            Some(v)
                if same_app
                    && v.manifest_digest == manifest::canonical_digest(&manifest.version.document) =>
            {
                Ok(Outcome::Existing(AppRegistration { app, version: v }))
            }
            _ => Err(AdmissionError::Rule(format!(
                "app `{}` is already registered with other content; register new versions at \
                 `/v1/apps/{}/versions`",
                app.slug, app.slug
            ))),
        }
    }

    /// Registers a new version of an existing app (`POST /v1/apps/{slug}/versions`).
    pub async fn register_app_version(
        &self,
        principal: &Principal,
        slug: &str,
        document: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<Outcome<AppVersion>, AdmissionError> {
        let manifest = validated(document)?;
        if manifest.app.slug.as_str() != slug {
            return Err(AdmissionError::Manifest(vec![Fault::new(
                "/app/slug",
                "const",
                format!("must be `{slug}`, the app in the path"),
            )]));
        }
        let app = self.load_app(slug).await?;
        if manifest.app.project.as_ref().is_some_and(|p| p != &app.project) {
            return Err(AdmissionError::Manifest(vec![Fault::new(
                "/app/project",
                "const",
                format!("must be `{}`, the app's owning project", app.project),
            )]));
        }
        let facts = self.app_facts(&app.slug, &app.project).await?;
        let allowed = self
            .authorize(
                principal,
                Action::RegisterAppVersion,
                Resource::App(&facts),
                RequestContext::default(),
                meta,
            )
            .await?;
        let digest = manifest::canonical_digest(&manifest.version.document);
        if let Some(existing) = self
            .store
            .get_app_version(&app.slug, &manifest.version.version)
            .await?
        {
            self.log_decision(allowed.record).await?;
            if existing.manifest_digest == digest {
                return Ok(Outcome::Existing(existing));
            }
            return Err(immutable(&existing));
        }
        let version = self.new_version(principal, &app.project, &manifest).await?;
        let audit = app_audit(
            principal,
            "app_version.register",
            &app.project,
            subject(&app.slug, Some(&version.version)),
            ("none", AppVersionStatus::Draft.as_str()),
            &allowed,
            meta,
        );
        match self
            .store
            .create_app_version(&version, audit, &allowed.record)
            .await
        {
            Ok(()) => Ok(Outcome::Created(version)),
            Err(StoreError::Conflict) => Err(immutable(&version)),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes (approves) a draft version (`POST /v1/apps/{slug}/versions/{version}/publish`),
    /// decided by Cedar over the current states of every artifact it links.
    pub async fn publish_app_version(
        &self,
        principal: &Principal,
        slug: &str,
        version: &str,
        meta: &RequestMeta,
    ) -> Result<AppVersion, AdmissionError> {
        let app = self.load_app(slug).await?;
        let version = self.load_version(&app, version).await?;
        let facts = self.app_facts(&app.slug, &app.project).await?;
        let version_facts = self.version_facts(&version).await?;
        let allowed = self
            .authorize(
                principal,
                Action::PublishAppVersion,
                Resource::AppVersion {
                    app: &facts,
                    version: &version_facts,
                },
                RequestContext::default(),
                meta,
            )
            .await?;
        if version.status != AppVersionStatus::Draft {
            self.log_decision(allowed.record).await?;
            return Err(AdmissionError::Rule(format!(
                "version `{}` of app `{}` is already {}",
                version.version,
                app.slug,
                version.status.as_str()
            )));
        }
        let now = Utc::now();
        let audit = app_audit(
            principal,
            "app_version.publish",
            &app.project,
            subject(&app.slug, Some(&version.version)),
            (
                AppVersionStatus::Draft.as_str(),
                AppVersionStatus::Published.as_str(),
            ),
            &allowed,
            meta,
        );
        match self
            .store
            .publish_app_version(version.id, &principal.actor, now, audit, &allowed.record)
            .await
        {
            Ok(()) => Ok(AppVersion {
                status: AppVersionStatus::Published,
                published_by: Some(principal.actor.clone()),
                published_at: Some(now),
                ..version
            }),
            Err(StoreError::Conflict) => Err(AdmissionError::Rule(format!(
                "version `{}` of app `{}` was published by another request",
                version.version, app.slug
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Builds a draft version, resolving every artifact reference by digest in `project`.
    async fn new_version(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        manifest: &Manifest,
    ) -> Result<AppVersion, AdmissionError> {
        let mut links = Vec::new();
        let mut faults = Vec::new();
        for (i, r) in manifest.version.artifacts.iter().enumerate() {
            let at = |field: &str| format!("/version/artifacts/{i}/{field}");
            let found = self
                .store
                .find_artifact_by_digest(project, &r.digest, Some(&r.repository))
                .await?;
            let Some(artifact) = found else {
                faults.push(Fault::new(
                    at("digest"),
                    "registered",
                    format!(
                        "no artifact with digest `{}` is registered in project `{project}`, repository `{}`",
                        r.digest, r.repository
                    ),
                ));
                continue;
            };
            if artifact.artifact_kind != r.artifact_kind {
                faults.push(Fault::new(
                    at("artifact_kind"),
                    "registered",
                    format!("the registered artifact is of kind `{}`", artifact.artifact_kind),
                ));
            }
            if artifact.source.source_type != r.source_type {
                faults.push(Fault::new(
                    at("source_type"),
                    "registered",
                    format!(
                        "the registered artifact's source type is `{}`",
                        artifact.source.source_type
                    ),
                ));
            }
            links.push(LinkedArtifact {
                name: r.name.clone(),
                artifact_id: artifact.id,
                digest: artifact.digest.clone(),
            });
        }
        if !faults.is_empty() {
            return Err(AdmissionError::Manifest(faults));
        }
        Ok(AppVersion {
            id: Uuid::now_v7(),
            app: manifest.app.slug.clone(),
            version: manifest.version.version.clone(),
            status: AppVersionStatus::Draft,
            manifest: manifest.version.document.clone(),
            manifest_digest: manifest::canonical_digest(&manifest.version.document),
            artifacts: links,
            created_by: principal.actor.clone(),
            created_at: Utc::now(),
            published_by: None,
            published_at: None,
        })
    }

    /// An app by slug, or 404.
    pub(super) async fn load_app(&self, slug: &str) -> Result<App, AdmissionError> {
        let not_found = || AdmissionError::NotFound(format!("no app `{slug}`"));
        let slug: AppSlug = slug.parse().map_err(|_| not_found())?;
        self.store.get_app(&slug).await?.ok_or_else(not_found)
    }

    /// A version of `app`, or 404.
    pub(super) async fn load_version(&self, app: &App, version: &str) -> Result<AppVersion, AdmissionError> {
        let not_found = || AdmissionError::NotFound(format!("app `{}` has no version `{version}`", app.slug));
        let number: VersionNumber = version.parse().map_err(|_| not_found())?;
        self.store
            .get_app_version(&app.slug, &number)
            .await?
            .ok_or_else(not_found)
    }

    /// The Cedar facts of an app: its owner and the projects entitled to it.
    pub(super) async fn app_facts(
        &self,
        slug: &AppSlug,
        owner: &ProjectSlug,
    ) -> Result<AppFacts, AdmissionError> {
        Ok(AppFacts {
            slug: slug.clone(),
            owner_project: owner.clone(),
            entitled_projects: self.store.entitled_projects(slug).await?.into_iter().collect(),
        })
    }

    /// The Cedar facts of a version, with the current states of the artifacts it links.
    pub(super) async fn version_facts(
        &self,
        version: &AppVersion,
    ) -> Result<AppVersionFacts, AdmissionError> {
        let mut facts = AppVersionFacts {
            version: version.version.clone(),
            status: version.status,
            artifact_trust_states: Default::default(),
            artifact_lifecycle_states: Default::default(),
        };
        for link in &version.artifacts {
            // INVARIANT: links reference artifacts by foreign key, and artifacts are never deleted.
            let Some(artifact) = self.store.get_artifact(link.artifact_id).await? else {
                tracing::error!(artifact = %link.artifact_id, "an app version links a missing artifact");
                return Err(AdmissionError::Internal);
            };
            facts
                .artifact_trust_states
                .insert(artifact.trust_state.to_string());
            facts
                .artifact_lifecycle_states
                .insert(artifact.lifecycle_state.to_string());
        }
        Ok(facts)
    }
}

fn immutable(version: &AppVersion) -> AdmissionError {
    AdmissionError::Rule(format!(
        "version `{}` of app `{}` is already registered with other content; versions are immutable: \
         register a new version",
        version.version, version.app
    ))
}
