//! What app registration and publishing read: a version's artifact references resolved by
//! digest in the owning project, and the Cedar facts of apps and versions.

use chrono::Utc;
use uuid::Uuid;

use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::NewAuditRecord;
use crate::domain::{
    App, AppFacts, AppSlug, AppVersion, AppVersionFacts, AppVersionStatus, LinkedArtifact, Lookup, Principal,
    ProjectSlug, VersionNumber,
};
use crate::manifest::{self, Fault, Manifest};

impl Admission {
    /// Builds a draft version, resolving every artifact reference by digest in `project`.
    pub(super) async fn new_version(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        manifest: &Manifest,
        meta: &RequestMeta,
    ) -> Result<AppVersion, AdmissionError> {
        self.check_vocabulary(principal, project, manifest, meta).await?;
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
            if artifact.source.source_type.as_str() != r.source_type {
                faults.push(Fault::new(
                    at("source_type"),
                    "registered",
                    format!(
                        "the registered artifact's source type is `{}`",
                        artifact.source.source_type
                    ),
                ));
            }
            if let Some(t) = r.artifact_type.as_deref()
                && artifact.artifact_type.as_str() != t
            {
                faults.push(Fault::new(
                    at("artifact_type"),
                    "registered",
                    format!("the registered artifact's type is `{}`", artifact.artifact_type),
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

    /// Refuses a manifest any of whose vocabulary values is not an active, enabled entry of its
    /// catalog family: a 422 whose faults name each value's pointer and entry, recorded in the
    /// audit trail as `catalog.refuse`.
    async fn check_vocabulary(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        manifest: &Manifest,
        meta: &RequestMeta,
    ) -> Result<(), AdmissionError> {
        let catalog = self.catalog().await;
        let faults: Vec<Fault> = manifest
            .vocabulary
            .iter()
            .filter_map(|used| {
                let refusal = catalog.check(used.family, &used.value).err()?;
                Some(Fault::new(used.pointer.clone(), "catalog", refusal.to_string()))
            })
            .collect();
        if faults.is_empty() {
            return Ok(());
        }
        let audit = NewAuditRecord {
            project: Some(project.to_string()),
            ..NewAuditRecord::new(
                principal.actor.clone(),
                "catalog.refuse",
                meta.correlation_id.clone(),
            )
        };
        let subject = format!(
            "app `{}` version `{}`",
            manifest.app.slug, manifest.version.version
        );
        let reasons: Vec<String> = faults.iter().map(|f| format!("{subject}: {f}")).collect();
        self.record_catalog_refusal(audit, "register_app_version", &reasons)
            .await;
        Err(AdmissionError::Manifest(faults))
    }

    /// An app by slug, or 404 (a slug that does not parse names no app).
    pub(super) async fn load_app(&self, slug: &Lookup<AppSlug>) -> Result<App, AdmissionError> {
        let not_found = || AdmissionError::NotFound(format!("no app `{slug}`"));
        let Lookup::Valid(slug) = slug else {
            return Err(not_found());
        };
        self.store.get_app(slug).await?.ok_or_else(not_found)
    }

    /// A version of `app`, or 404 (a number that does not parse names no version).
    pub(super) async fn load_version(
        &self,
        app: &App,
        version: &Lookup<VersionNumber>,
    ) -> Result<AppVersion, AdmissionError> {
        let not_found = || AdmissionError::NotFound(format!("app `{}` has no version `{version}`", app.slug));
        let Lookup::Valid(number) = version else {
            return Err(not_found());
        };
        self.store
            .get_app_version(&app.slug, number)
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
