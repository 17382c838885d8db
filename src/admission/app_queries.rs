//! Reading the app catalog, and entitlements. Listings show only what Cedar lets the caller
//! `read`: each app (and each version) is decided on its own, so an entitled project's members
//! see the app and its published versions, the owning project's members see drafts too.

use chrono::Utc;
use serde::Deserialize;

use super::{Admission, AdmissionError, RequestMeta};
use crate::audit::{NewAuditRecord, Transition};
use crate::domain::{
    App, AppSlug, AppVersion, AppVersionStatus, Cursor, Entitlement, Lookup, Principal, ProjectSlug,
};
use crate::policy::{Action, RequestContext, Resource};
use crate::store::{Page, PageRequest};

/// Query of `GET /v1/apps` and `GET /v1/projects/{project}/entitlements`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppListQuery {
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// Query of `GET /v1/apps/{slug}/versions`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionListQuery {
    /// `draft` or `published`.
    #[param(value_type = Option<String>)]
    pub status: Option<AppVersionStatus>,
    /// Page size (default 50, at most 500).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    #[param(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// Body of `POST /v1/projects/{project}/entitlements`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EntitlementInput {
    /// The app's slug.
    pub app: AppSlug,
}

fn page(limit: Option<u32>, cursor: Option<Cursor>) -> PageRequest {
    PageRequest {
        limit: limit.unwrap_or(50),
        cursor: cursor.map(Cursor::into_string),
    }
}

impl Admission {
    /// One app, decided as `read` on it.
    pub async fn get_app(
        &self,
        principal: &Principal,
        slug: &Lookup<AppSlug>,
        meta: &RequestMeta,
    ) -> Result<App, AdmissionError> {
        let app = self.load_app(slug).await?;
        let facts = self.app_facts(&app.slug, &app.project).await?;
        self.authorize_read(principal, Action::Read, Resource::App(&facts), meta)
            .await?;
        Ok(app)
    }

    /// The apps the caller may read, by slug. A page may hold fewer items than `limit`: the
    /// cursor walks every app, and each is shown only where Cedar allows `read`.
    pub async fn list_apps(
        &self,
        principal: &Principal,
        query: AppListQuery,
        meta: &RequestMeta,
    ) -> Result<Page<App>, AdmissionError> {
        let page = self.store.list_apps(&page(query.limit, query.cursor)).await?;
        let mut items = Vec::with_capacity(page.items.len());
        for app in page.items {
            let facts = self.app_facts(&app.slug, &app.project).await?;
            // A filter: hidden items are not the request's decision.
            let (decision, _) = crate::access::unnoted(|| {
                self.evaluate(
                    principal,
                    Action::Read,
                    Resource::App(&facts),
                    RequestContext::default(),
                    meta,
                )
            });
            if decision.allowed {
                items.push(app);
            }
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// An app's versions: `read` on the app decides whether the caller may list at all (403),
    /// then each version is shown only where `read` on it is allowed (drafts to the owning
    /// project and platform admins, published versions to entitled projects as well).
    pub async fn list_app_versions(
        &self,
        principal: &Principal,
        slug: &Lookup<AppSlug>,
        query: VersionListQuery,
        meta: &RequestMeta,
    ) -> Result<Page<AppVersion>, AdmissionError> {
        let status = query.status;
        let app = self.load_app(slug).await?;
        let facts = self.app_facts(&app.slug, &app.project).await?;
        self.authorize_read(principal, Action::Read, Resource::App(&facts), meta)
            .await?;
        let page = self
            .store
            .list_app_versions(&app.slug, status, &page(query.limit, query.cursor))
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for version in page.items {
            let version_facts = self.version_facts(&version).await?;
            let resource = Resource::AppVersion {
                app: &facts,
                version: &version_facts,
            };
            let (decision, _) = crate::access::unnoted(|| {
                self.evaluate(principal, Action::Read, resource, RequestContext::default(), meta)
            });
            if decision.allowed {
                items.push(version);
            }
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// Grants `project` an entitlement to a published app, decided as `grant_entitlement` on the
    /// project. `Ok(true)` when granted now, `Ok(false)` when the project already held it.
    pub async fn grant_entitlement(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        input: EntitlementInput,
        meta: &RequestMeta,
    ) -> Result<(Entitlement, bool), AdmissionError> {
        let slug = input.app;
        let allowed = self
            .authorize(
                principal,
                Action::GrantEntitlement,
                Resource::Project(project),
                RequestContext::default(),
                meta,
            )
            .await?;
        let app = self.load_app(&Lookup::Valid(slug.clone())).await?;
        let published = self
            .store
            .list_app_versions(
                &app.slug,
                Some(AppVersionStatus::Published),
                &PageRequest {
                    limit: 1,
                    cursor: None,
                },
            )
            .await?;
        if published.items.is_empty() {
            self.log_decision(allowed.record).await?;
            return Err(AdmissionError::Rule(format!(
                "app `{slug}` has no published version; only published apps can be granted"
            )));
        }
        let entitlement = Entitlement {
            project: project.clone(),
            app: slug.clone(),
            granted_by: principal.actor.clone(),
            granted_at: Utc::now(),
        };
        let audit = NewAuditRecord {
            project: Some(project.to_string()),
            transition: Some(Transition {
                from: "none".to_owned(),
                to: "entitled".to_owned(),
                reason: Some(format!("app `{slug}`")),
            }),
            decision: Some(allowed.audit_decision()),
            ..NewAuditRecord::new(
                principal.actor.clone(),
                "entitlement.grant",
                meta.correlation_id.clone(),
            )
        };
        self.audit_allowed(&audit).await?;
        let (entitlement, created) = self
            .store
            .grant_entitlement(&entitlement, audit, &allowed.record)
            .await?;
        if !created {
            // Nothing was written: the decision is still one taken, so it is logged.
            self.log_decision(allowed.record).await?;
        }
        Ok((entitlement, created))
    }

    /// A project's entitlements, decided as `read` on the project.
    pub async fn list_entitlements(
        &self,
        principal: &Principal,
        project: &ProjectSlug,
        query: AppListQuery,
        meta: &RequestMeta,
    ) -> Result<Page<Entitlement>, AdmissionError> {
        self.authorize_read(principal, Action::Read, Resource::Project(project), meta)
            .await?;
        Ok(self
            .store
            .list_entitlements(project, &page(query.limit, query.cursor))
            .await?)
    }
}
