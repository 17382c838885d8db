//! Apps, app versions, their linked artifacts and entitlements, for both backends. Every write
//! commits its audit record(s) and decision(s) in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Page, PageRequest, StoreError};
use crate::audit::{DecisionRecord, NewAuditRecord};
use crate::domain::{
    Actor, App, AppSlug, AppVersion, AppVersionStatus, Entitlement, ProjectSlug, VersionNumber,
};

/// Storage of apps; a part of [`super::Store`].
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Stores a new app with its first version, with their audit and decision records.
    /// `Conflict`, and nothing written, if the slug or the version is taken.
    async fn create_app(
        &self,
        app: &App,
        version: &AppVersion,
        audits: Vec<NewAuditRecord>,
        decisions: &[DecisionRecord],
    ) -> Result<(), StoreError>;
    /// Stores a new version of an existing app; `Conflict` if the version is taken.
    async fn create_app_version(
        &self,
        version: &AppVersion,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
    /// One app by slug.
    async fn get_app(&self, slug: &AppSlug) -> Result<Option<App>, StoreError>;
    /// Apps by slug.
    async fn list_apps(&self, page: &PageRequest) -> Result<Page<App>, StoreError>;
    /// One version with its linked artifacts.
    async fn get_app_version(
        &self,
        app: &AppSlug,
        version: &VersionNumber,
    ) -> Result<Option<AppVersion>, StoreError>;
    /// An app's versions in registration order, optionally of one status.
    async fn list_app_versions(
        &self,
        app: &AppSlug,
        status: Option<AppVersionStatus>,
        page: &PageRequest,
    ) -> Result<Page<AppVersion>, StoreError>;
    /// Marks a draft version published; `Conflict`, and nothing written, if it is not a draft.
    async fn publish_app_version(
        &self,
        version_id: Uuid,
        by: &Actor,
        at: DateTime<Utc>,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
    /// Grants an entitlement: answers it and `true`, or the one the project already holds and
    /// `false` with nothing written.
    async fn grant_entitlement(
        &self,
        entitlement: &Entitlement,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(Entitlement, bool), StoreError>;
    /// A project's entitlements by app slug.
    async fn list_entitlements(
        &self,
        project: &ProjectSlug,
        page: &PageRequest,
    ) -> Result<Page<Entitlement>, StoreError>;
    /// The projects entitled to an app.
    async fn entitled_projects(&self, app: &AppSlug) -> Result<Vec<ProjectSlug>, StoreError>;
}

pub(super) const INSERT_APP: &str = "insert into apps (slug, project, display_name, manifest, created_by_type, \
     created_by_id, created_at) values ($1, $2, $3, $4, $5, $6, $7) on conflict (slug) do nothing";

/// App columns, in the order `AppRow` reads them.
macro_rules! app_select {
    () => {
        "select slug, project, display_name, manifest, created_by_type, created_by_id, created_at \
         from apps"
    };
}

pub(super) const INSERT_VERSION: &str = "insert into app_versions (id, app, version, status, manifest, \
     manifest_digest, created_by_type, created_by_id, created_at) values ($1, $2, $3, $4, $5, $6, \
     $7, $8, $9) on conflict (app, version) do nothing";

/// Version columns, in the order `VersionRow` reads them.
macro_rules! version_select {
    () => {
        "select id, app, version, status, manifest, manifest_digest, created_by_type, \
         created_by_id, created_at, published_by_type, published_by_id, published_at \
         from app_versions"
    };
}

pub(super) const INSERT_LINK: &str = "insert into app_version_artifacts (version_id, position, name, \
     artifact_id, digest) values ($1, $2, $3, $4, $5)";

pub(super) const SELECT_LINKS: &str = "select name, artifact_id, digest from app_version_artifacts \
     where version_id = $1 order by position";

// Only a draft moves; a second publish touches no row and is answered as a conflict.
pub(super) const PUBLISH_VERSION: &str = "update app_versions set status = 'published', published_by_type = $2, \
     published_by_id = $3, published_at = $4 where id = $1 and status = 'draft'";

pub(super) const INSERT_ENTITLEMENT: &str = "insert into entitlements (project, app, granted_by_type, \
     granted_by_id, granted_at) values ($1, $2, $3, $4, $5) on conflict (project, app) do nothing";

/// Entitlement columns, in the order `EntitlementRow` reads them.
macro_rules! entitlement_select {
    () => {
        "select project, app, granted_by_type, granted_by_id, granted_at from entitlements"
    };
}

pub(super) const SELECT_APP: &str = concat!(app_select!(), " where slug = $1");
pub(super) const LIST_APPS: &str = concat!(
    app_select!(),
    " where ($1 is null or slug > $1) order by slug limit $2"
);
pub(super) const SELECT_VERSION: &str = concat!(version_select!(), " where app = $1 and version = $2");
pub(super) const LIST_VERSIONS: &str = concat!(
    version_select!(),
    " where app = $1 and ($2 is null or status = $2) and ($3 is null or id > $3) order by id limit $4"
);
pub(super) const LIST_ENTITLEMENTS: &str = concat!(
    entitlement_select!(),
    " where project = $1 and ($2 is null or app > $2) order by app limit $3"
);
pub(super) const SELECT_ENTITLEMENT: &str =
    concat!(entitlement_select!(), " where project = $1 and app = $2");
pub(super) const APP_ENTITLEMENTS: &str = concat!(entitlement_select!(), " where app = $1 order by project");

/// Generates `AppStore` for one backend.
macro_rules! apps_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};
            use sqlx::types::Json;
            use uuid::Uuid;
            use $crate::audit::{DecisionRecord, NewAuditRecord};
            use $crate::domain::{
                Actor, App, AppSlug, AppVersion, AppVersionStatus, Entitlement, ProjectSlug, VersionNumber,
            };
            use $crate::store::app_rows::{AppRow, EntitlementRow, LinkRow, VersionRow};
            use $crate::store::apps::*;
            use $crate::store::listing::{clamp, decode_key, paginate, uuid_after};
            use $crate::store::rows::{actor_type_str, convert};
            use $crate::store::{Page, PageRequest, StoreError};

            type Conn = <$db as sqlx::Database>::Connection;

            impl $store {
                async fn insert_version_in(conn: &mut Conn, v: &AppVersion) -> Result<(), StoreError> {
                    let inserted = sqlx::query(INSERT_VERSION)
                        .bind(v.id)
                        .bind(v.app.as_str())
                        .bind(v.version.as_str())
                        .bind(v.status.as_str())
                        .bind(Json(&v.manifest))
                        .bind(&v.manifest_digest)
                        .bind(actor_type_str(v.created_by.actor_type))
                        .bind(&v.created_by.id)
                        .bind(v.created_at)
                        .execute(&mut *conn)
                        .await?;
                    if inserted.rows_affected() == 0 {
                        return Err(StoreError::Conflict);
                    }
                    for (position, link) in v.artifacts.iter().enumerate() {
                        sqlx::query(INSERT_LINK)
                            .bind(v.id)
                            .bind(i64::try_from(position).unwrap_or(i64::MAX))
                            .bind(&link.name)
                            .bind(link.artifact_id.0)
                            .bind(link.digest.as_str())
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                }

                async fn with_links(&self, row: VersionRow) -> Result<AppVersion, StoreError> {
                    let links: Vec<LinkRow> = sqlx::query_as(SELECT_LINKS)
                        .bind(row.id)
                        .fetch_all(self.reads())
                        .await?;
                    row.into_version(convert(links)?)
                }
            }

            #[async_trait::async_trait]
            impl AppStore for $store {
                async fn create_app(
                    &self,
                    app: &App,
                    version: &AppVersion,
                    audits: Vec<NewAuditRecord>,
                    decisions: &[DecisionRecord],
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let inserted = sqlx::query(INSERT_APP)
                        .bind(app.slug.as_str())
                        .bind(app.project.as_str())
                        .bind(&app.display_name)
                        .bind(Json(&app.manifest))
                        .bind(actor_type_str(app.created_by.actor_type))
                        .bind(&app.created_by.id)
                        .bind(app.created_at)
                        .execute(&mut *tx)
                        .await?;
                    if inserted.rows_affected() == 0 {
                        return Err(StoreError::Conflict);
                    }
                    Self::insert_version_in(&mut *tx, version).await?;
                    let mut appended = Vec::with_capacity(audits.len());
                    for audit in audits {
                        appended.push(Self::append_audit_in(&mut *tx, audit).await?);
                    }
                    Self::insert_decisions_in(&mut *tx, decisions).await?;
                    tx.commit().await?;
                    for record in appended {
                        self.audit_sealed(record).await?;
                    }
                    Ok(())
                }

                async fn create_app_version(
                    &self,
                    version: &AppVersion,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    Self::insert_version_in(&mut *tx, version).await?;
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(())
                }

                async fn get_app(&self, slug: &AppSlug) -> Result<Option<App>, StoreError> {
                    let row: Option<AppRow> = sqlx::query_as(SELECT_APP)
                        .bind(slug.as_str())
                        .fetch_optional(self.reads())
                        .await?;
                    row.map(App::try_from).transpose()
                }

                async fn list_apps(&self, page: &PageRequest) -> Result<Page<App>, StoreError> {
                    let limit = clamp(page.limit);
                    let after = page.cursor.as_deref().map(decode_key).transpose()?;
                    let rows: Vec<AppRow> = sqlx::query_as(LIST_APPS)
                        .bind(after)
                        .bind(i64::from(limit) + 1)
                        .fetch_all(self.reads())
                        .await?;
                    Ok(paginate(convert(rows)?, limit, |a: &App| {
                        a.slug.to_string()
                    }))
                }

                async fn get_app_version(
                    &self,
                    app: &AppSlug,
                    version: &VersionNumber,
                ) -> Result<Option<AppVersion>, StoreError> {
                    let row: Option<VersionRow> = sqlx::query_as(SELECT_VERSION)
                        .bind(app.as_str())
                        .bind(version.as_str())
                        .fetch_optional(self.reads())
                        .await?;
                    match row {
                        Some(row) => Ok(Some(self.with_links(row).await?)),
                        None => Ok(None),
                    }
                }

                async fn list_app_versions(
                    &self,
                    app: &AppSlug,
                    status: Option<AppVersionStatus>,
                    page: &PageRequest,
                ) -> Result<Page<AppVersion>, StoreError> {
                    let limit = clamp(page.limit);
                    let after = page.cursor.as_deref().map(uuid_after).transpose()?;
                    let rows: Vec<VersionRow> = sqlx::query_as(LIST_VERSIONS)
                        .bind(app.as_str())
                        .bind(status.map(|s| s.as_str()))
                        .bind(after)
                        .bind(i64::from(limit) + 1)
                        .fetch_all(self.reads())
                        .await?;
                    let mut versions = Vec::with_capacity(rows.len());
                    for row in rows {
                        versions.push(self.with_links(row).await?);
                    }
                    Ok(paginate(versions, limit, |v: &AppVersion| v.id.to_string()))
                }

                async fn publish_app_version(
                    &self,
                    version_id: Uuid,
                    by: &Actor,
                    at: DateTime<Utc>,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let updated = sqlx::query(PUBLISH_VERSION)
                        .bind(version_id)
                        .bind(actor_type_str(by.actor_type))
                        .bind(&by.id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    if updated.rows_affected() == 0 {
                        return Err(StoreError::Conflict);
                    }
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(())
                }

                async fn grant_entitlement(
                    &self,
                    e: &Entitlement,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(Entitlement, bool), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let inserted = sqlx::query(INSERT_ENTITLEMENT)
                        .bind(e.project.as_str())
                        .bind(e.app.as_str())
                        .bind(actor_type_str(e.granted_by.actor_type))
                        .bind(&e.granted_by.id)
                        .bind(e.granted_at)
                        .execute(&mut *tx)
                        .await?;
                    if inserted.rows_affected() == 0 {
                        let held: EntitlementRow = sqlx::query_as(SELECT_ENTITLEMENT)
                            .bind(e.project.as_str())
                            .bind(e.app.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                        return Ok((Entitlement::try_from(held)?, false));
                    }
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok((e.clone(), true))
                }

                async fn list_entitlements(
                    &self,
                    project: &ProjectSlug,
                    page: &PageRequest,
                ) -> Result<Page<Entitlement>, StoreError> {
                    let limit = clamp(page.limit);
                    let after = page.cursor.as_deref().map(decode_key).transpose()?;
                    let rows: Vec<EntitlementRow> = sqlx::query_as(LIST_ENTITLEMENTS)
                        .bind(project.as_str())
                        .bind(after)
                        .bind(i64::from(limit) + 1)
                        .fetch_all(self.reads())
                        .await?;
                    Ok(paginate(convert(rows)?, limit, |e: &Entitlement| {
                        e.app.to_string()
                    }))
                }

                async fn entitled_projects(&self, app: &AppSlug) -> Result<Vec<ProjectSlug>, StoreError> {
                    let rows: Vec<EntitlementRow> = sqlx::query_as(APP_ENTITLEMENTS)
                        .bind(app.as_str())
                        .fetch_all(self.reads())
                        .await?;
                    let entitlements: Vec<Entitlement> = convert(rows)?;
                    Ok(entitlements.into_iter().map(|e| e.project).collect())
                }
            }
        };
    };
}
pub(super) use apps_impl;
