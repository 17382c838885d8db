//! App onboarding: register an app and its versions from manifest packages, link versions to
//! registered artifacts by digest, publish (approve) versions. Each step is decided by Cedar and
//! stored with its audit record and decision in one transaction.

use chrono::Utc;
use serde::Serialize;

use super::decide::Allowed;
use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{NewAuditRecord, Transition};
use crate::domain::{
    App, AppSlug, AppVersion, AppVersionStatus, Lookup, Principal, ProjectSlug, VersionNumber,
};
use crate::manifest::{self, Fault, Manifest};
use crate::policy::{Action, RequestContext, Resource};
use crate::store::StoreError;

/// The answer to registering an app: the app and its first version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
        project: Some(project.to_string()),
        transition: Some(Transition {
            from: from.to_owned(),
            to: to.to_owned(),
            reason: Some(subject),
        }),
        decision: Some(allowed.audit_decision()),
        ..NewAuditRecord::new(principal.actor.clone(), action, meta.correlation_id.clone())
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
    /// The project that owns the app being registered: `app.project`, or else the one project
    /// every artifact's canonical repository (`<root>/<project>/<app>`) names, as the guide's
    /// manifests carry no project of their own.
    fn owning_project(&self, manifest: &Manifest) -> Option<ProjectSlug> {
        if let Some(project) = &manifest.app.project {
            return Some(project.clone());
        }
        let root = self.registry_root();
        let mut named = manifest.version.artifacts.iter().map(|a| {
            root.project_and_name_of(&a.repository)
                .filter(|(_, app)| *app == manifest.app.slug.as_str())
                .map(|(project, _)| project)
        });
        let first = named.next()??;
        named.all(|p| p.as_ref() == Some(&first)).then_some(first)
    }

    /// Registers an app and its first version (`POST /v1/apps`). The owning project is the
    /// manifest's `app.project`. Repeating an identical registration answers `Existing`.
    pub async fn register_app(
        &self,
        principal: &Principal,
        document: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<Outcome<AppRegistration>, AdmissionError> {
        let manifest = validated(document)?;
        let Some(project) = self.owning_project(&manifest) else {
            return Err(AdmissionError::Manifest(vec![Fault::new(
                "/app/project",
                "required",
                "the owning project is required to register an app: name it in `app.project`, or \
                 reference artifacts only in its canonical repositories",
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
        let version = match self.new_version(principal, &project, &manifest, meta).await {
            Ok(version) => version,
            Err(refused) => {
                // Allowed but not acted on: the decisions were still taken, so they are logged.
                self.log_decision(for_app.record).await?;
                self.log_decision(for_version.record).await?;
                return Err(refused);
            }
        };
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
        for audit in &audits {
            self.audit_allowed(audit).await?;
        }
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
        slug: &Lookup<AppSlug>,
        document: &serde_json::Value,
        meta: &RequestMeta,
    ) -> Result<Outcome<AppVersion>, AdmissionError> {
        let manifest = validated(document)?;
        if !matches!(slug, Lookup::Valid(s) if s == &manifest.app.slug) {
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
        let version = match self.new_version(principal, &app.project, &manifest, meta).await {
            Ok(version) => version,
            Err(refused) => {
                self.log_decision(allowed.record).await?;
                return Err(refused);
            }
        };
        let audit = app_audit(
            principal,
            "app_version.register",
            &app.project,
            subject(&app.slug, Some(&version.version)),
            ("none", AppVersionStatus::Draft.as_str()),
            &allowed,
            meta,
        );
        self.audit_allowed(&audit).await?;
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
        slug: &Lookup<AppSlug>,
        version: &Lookup<VersionNumber>,
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
        self.audit_allowed(&audit).await?;
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
}

fn immutable(version: &AppVersion) -> AdmissionError {
    AdmissionError::Rule(format!(
        "version `{}` of app `{}` is already registered with other content; versions are immutable: \
         register a new version",
        version.version, version.app
    ))
}
