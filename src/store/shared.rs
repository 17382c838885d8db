//! Which parts of `Store` both backends share: each part's trait is implemented once, in its own
//! file, by a macro over the backend (so each keeps its concrete pool and connection types:
//! generic sqlx code over two databases needs a bound per type per query, a macro says the same
//! thing once). What a backend does its own way is in its own file (`postgres.rs`, `sqlite.rs`,
//! `decision_batches.rs`, `policy_changes.rs`).

/// Implements every shared part of `Store` for `$store`, whose `sqlx::Database` is `$db`. The
/// backend provides a `pool` field, `reads()`, and the hooks each part's macro names.
macro_rules! store_impl {
    ($store:ty, $db:ty) => {
        $crate::store::audit_log::audit_log_impl!($store, $db);
        $crate::store::artifacts::artifacts_impl!($store, $db);
        $crate::store::intents::intents_impl!($store, $db);
        $crate::store::events::events_impl!($store, $db);
        $crate::store::verification::verification_impl!($store, $db);
        $crate::store::figures::figures_impl!($store, $db);
        $crate::store::bundles::bundles_impl!($store, $db);
        $crate::store::catalog::catalog_impl!($store, $db);
        $crate::store::apps::apps_impl!($store, $db);
        $crate::store::releases::releases_impl!($store, $db);
    };
}
pub(super) use store_impl;
