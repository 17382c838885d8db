//! The active policy bundle shared by every instance on one database, for both backends.

use async_trait::async_trait;

use super::StoreError;

/// The active policy set; a part of [`super::Store`]. (How an activation is announced to other
/// instances is each backend's own: [`super::PolicyChangeStore`].)
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Makes a policy set (hash and files) the active one for every instance on this database.
    async fn activate_policy_bundle(
        &self,
        hash: &str,
        files: &[(String, String)],
        activated_by: &str,
    ) -> Result<(), StoreError>;
    /// The most recently activated policy set, if any.
    async fn active_policy_bundle(&self) -> Result<Option<(String, Vec<(String, String)>)>, StoreError>;
}

/// Implements `PolicyStore` for one backend; the backend provides
/// `announce_policy_activation(&self, hash)`.
macro_rules! bundles_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::Utc;
            use sqlx::types::Json;
            use $crate::store::bundles::PolicyStore;
            use $crate::store::{StoreError, sql};

            #[async_trait::async_trait]
            impl PolicyStore for $store {
                async fn activate_policy_bundle(
                    &self,
                    hash: &str,
                    files: &[(String, String)],
                    activated_by: &str,
                ) -> Result<(), StoreError> {
                    sqlx::query(sql::UPSERT_BUNDLE)
                        .bind(hash)
                        .bind(Json(files))
                        .bind(Utc::now())
                        .bind(activated_by)
                        .execute(&self.pool)
                        .await?;
                    // Announced after the write is durable, so a woken instance reads it.
                    self.announce_policy_activation(hash).await
                }

                async fn active_policy_bundle(
                    &self,
                ) -> Result<Option<(String, Vec<(String, String)>)>, StoreError> {
                    let row: Option<(String, Json<Vec<(String, String)>>)> =
                        sqlx::query_as(sql::LATEST_BUNDLE)
                            .fetch_optional(self.reads())
                            .await?;
                    Ok(row.map(|(hash, files)| (hash, files.0)))
                }
            }
        };
    };
}
pub(super) use bundles_impl;
