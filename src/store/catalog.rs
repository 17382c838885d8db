//! Catalog storage for both backends: the seed upsert, contributed entries, and status changes
//! that commit with their audit record and decision.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::audit::{DecisionRecord, NewAuditRecord};
use crate::catalog::{CatalogEntry, EntryStatus, Family, Seed, SeedError, SeedPlan, plan_seed};

pub(super) const SELECT_ENTRIES: &str = "select id, family, description, owner_product, enabled, \
     status, fields, created_by, created_at, updated_at from catalog_entries order by family, id";
pub(super) const INSERT_ENTRY: &str = "insert into catalog_entries (id, family, description, \
     owner_product, enabled, status, fields, created_by, created_at, updated_at) \
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (id) do nothing";
pub(super) const UPDATE_SEEDED: &str = "update catalog_entries set description = $2, \
     owner_product = $3, fields = $4, status = $5, updated_at = $6 where id = $1 and family = $7";
// Guarded by the state it was read in, so two admins acting at once cannot both win.
pub(super) const UPDATE_STATE: &str = "update catalog_entries set enabled = $2, status = $3, \
     updated_at = $4 where id = $1 and enabled = $5 and status = $6";

/// Catalog storage; every `Store` is one.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Every entry, by family then id.
    async fn catalog_entries(&self) -> Result<Vec<CatalogEntry>, StoreError>;
    /// Applies a seed plan in one transaction (an insert that lost a race to another instance
    /// seeding the same id is skipped).
    async fn apply_catalog_seed(&self, plan: &SeedPlan) -> Result<(), StoreError>;
    /// Stores a contributed entry with its audit record and decision; `Conflict` (nothing
    /// written) if the id is already taken, in any family, retired or not.
    async fn insert_catalog_entry(
        &self,
        entry: &CatalogEntry,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
    /// Sets an entry's `enabled` and `status` if it is still as `before`; `Conflict` otherwise.
    async fn update_catalog_entry(
        &self,
        before: &CatalogEntry,
        after: &CatalogEntry,
        audit: NewAuditRecord,
        decision: &DecisionRecord,
    ) -> Result<(), StoreError>;
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedCatalogError {
    /// The seed is invalid or incompatible with what is published.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates `seed` against what the database holds and upserts it; answers the plan applied.
pub async fn seed_catalog(store: &dyn Store, seed: &Seed) -> Result<SeedPlan, SeedCatalogError> {
    let existing = store.catalog_entries().await?;
    let plan = plan_seed(seed, &existing, Utc::now())?;
    if plan != SeedPlan::default() {
        store.apply_catalog_seed(&plan).await?;
    }
    Ok(plan)
}

/// A stored row, re-validated when read.
#[derive(sqlx::FromRow)]
pub(super) struct CatalogRow {
    id: String,
    family: String,
    description: String,
    owner_product: String,
    enabled: bool,
    status: String,
    fields: sqlx::types::Json<serde_json::Value>,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CatalogRow> for CatalogEntry {
    type Error = StoreError;
    fn try_from(r: CatalogRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("catalog entry `{}`: {what}", r.id));
        Ok(CatalogEntry {
            family: Family::parse(&r.family).ok_or_else(|| corrupt("unknown family"))?,
            status: EntryStatus::parse(&r.status).ok_or_else(|| corrupt("unknown status"))?,
            id: r.id,
            description: r.description,
            owner_product: r.owner_product,
            enabled: r.enabled,
            fields: r.fields.0,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Implements `CatalogStore` for one backend.
macro_rules! catalog_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use sqlx::types::Json;
            use $crate::audit::{DecisionRecord, NewAuditRecord};
            use $crate::catalog::{CatalogEntry, SeedPlan};
            use $crate::store::StoreError;
            use $crate::store::catalog::{
                CatalogRow, CatalogStore, INSERT_ENTRY, SELECT_ENTRIES, UPDATE_SEEDED, UPDATE_STATE,
            };

            type Conn = <$db as sqlx::Database>::Connection;

            async fn insert_in(conn: &mut Conn, e: &CatalogEntry) -> Result<bool, StoreError> {
                let done = sqlx::query(INSERT_ENTRY)
                    .bind(&e.id)
                    .bind(e.family.as_str())
                    .bind(&e.description)
                    .bind(&e.owner_product)
                    .bind(e.enabled)
                    .bind(e.status.as_str())
                    .bind(Json(&e.fields))
                    .bind(&e.created_by)
                    .bind(e.created_at)
                    .bind(e.updated_at)
                    .execute(&mut *conn)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            #[async_trait::async_trait]
            impl CatalogStore for $store {
                async fn catalog_entries(&self) -> Result<Vec<CatalogEntry>, StoreError> {
                    let rows: Vec<CatalogRow> = sqlx::query_as(SELECT_ENTRIES)
                        .fetch_all(self.reads())
                        .await?;
                    rows.into_iter().map(CatalogEntry::try_from).collect()
                }

                async fn apply_catalog_seed(&self, plan: &SeedPlan) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    for e in &plan.inserts {
                        insert_in(&mut *tx, e).await?;
                    }
                    for e in &plan.updates {
                        sqlx::query(UPDATE_SEEDED)
                            .bind(&e.id)
                            .bind(&e.description)
                            .bind(&e.owner_product)
                            .bind(Json(&e.fields))
                            .bind(e.status.as_str())
                            .bind(e.updated_at)
                            .bind(e.family.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn insert_catalog_entry(
                    &self,
                    entry: &CatalogEntry,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    if !insert_in(&mut *tx, entry).await? {
                        return Err(StoreError::Conflict);
                    }
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(())
                }

                async fn update_catalog_entry(
                    &self,
                    before: &CatalogEntry,
                    after: &CatalogEntry,
                    audit: NewAuditRecord,
                    decision: &DecisionRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await?;
                    let done = sqlx::query(UPDATE_STATE)
                        .bind(&after.id)
                        .bind(after.enabled)
                        .bind(after.status.as_str())
                        .bind(after.updated_at)
                        .bind(before.enabled)
                        .bind(before.status.as_str())
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict);
                    }
                    let appended = Self::append_audit_with_decision_in(&mut *tx, audit, decision).await?;
                    tx.commit().await?;
                    self.audit_sealed(appended).await?;
                    Ok(())
                }
            }
        };
    };
}
pub(super) use catalog_impl;
