//! The active policy bundle shared by every instance on one database, for both backends.

/// Generates the policy bundle methods for one backend.
macro_rules! bundles_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::Utc;
            use sqlx::types::Json;
            use $crate::store::{StoreError, sql};

            impl $store {
                async fn activate_bundle_impl(
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

                async fn active_bundle_impl(
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
