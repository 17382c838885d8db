//! The active policy bundle shared by every instance on one database, for both backends.

/// Generates the policy bundle methods for one backend.
macro_rules! bundles_impl {
    ($store:ty, $db:ty) => {
        const _: () = {
            use chrono::Utc;
            use sqlx::types::Json;
            use $crate::store::StoreError;

            const UPSERT: &str = "insert into policy_bundles (hash, files, activated_at, activated_by) \
                 values ($1, $2, $3, $4) on conflict (hash) do update \
                 set activated_at = excluded.activated_at, activated_by = excluded.activated_by";
            const LATEST: &str = "select hash, files from policy_bundles order by activated_at desc limit 1";

            impl $store {
                async fn activate_bundle_impl(
                    &self,
                    hash: &str,
                    files: &[(String, String)],
                    activated_by: &str,
                ) -> Result<(), StoreError> {
                    sqlx::query(UPSERT)
                        .bind(hash)
                        .bind(Json(files))
                        .bind(Utc::now())
                        .bind(activated_by)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn active_bundle_impl(
                    &self,
                ) -> Result<Option<(String, Vec<(String, String)>)>, StoreError> {
                    let row: Option<(String, Json<Vec<(String, String)>>)> =
                        sqlx::query_as(LATEST).fetch_optional(&self.pool).await?;
                    Ok(row.map(|(hash, files)| (hash, files.0)))
                }
            }
        };
    };
}
pub(super) use bundles_impl;
