//! The artifact table's first statistics, taken by the store rather than left to autovacuum.
//!
//! PostgreSQL plans a table that has never been analyzed from its size alone. While it is a few
//! pages, every index that pins `project` looks as cheap as the one that pins the digest too,
//! so a lookup by digest may be planned as a walk of the project's range; a connection that
//! builds its generic plan then keeps that walk until the table is analyzed, by which time the
//! walk covers every artifact registered since (seen under the load script: 46 ms per
//! registration at 2,600 rows). Autovacuum analyzes a table on its next round (a minute by
//! default) after its first 50 changes, so a young installation's lookups could walk for that
//! long. The store analyzes the table itself as soon as it has rows and no statistics; from
//! then on autovacuum's analyses (after each 10 % of growth) keep them current, and every
//! analysis makes each connection plan its statements again.

use std::time::Duration;

use sqlx::PgPool;

/// How often the watcher looks while the table has no statistics.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Changes after which the table is worth analyzing (autovacuum's own default threshold).
const CHANGES_WORTH_ANALYZING: i64 = 50;

/// Whether `artifacts` has column statistics, and its rows changed since it was last analyzed.
const STATISTICS_STATE: &str = "select exists (select 1 from pg_stats s \
       join pg_namespace n on n.nspname = s.schemaname \
       join pg_class c on c.relnamespace = n.oid and c.relname = s.tablename \
       where c.oid = 'artifacts'::regclass) as has_statistics, \
     coalesce((select n_mod_since_analyze from pg_stat_user_tables \
       where relid = 'artifacts'::regclass), 0) as changes";

/// Starts the watcher on the current runtime. It ends once the table has statistics (at once on
/// an installation that has been running), or when it cannot ask (the pool closed, no rights):
/// autovacuum then remains, as before.
pub(super) fn watch_first_statistics(pool: PgPool) {
    tokio::spawn(async move {
        loop {
            let state: Result<(bool, i64), sqlx::Error> =
                sqlx::query_as(STATISTICS_STATE).fetch_one(&pool).await;
            match state {
                Ok((true, _)) => return,
                Ok((false, changes)) if changes >= CHANGES_WORTH_ANALYZING => {
                    match sqlx::query("analyze artifacts").execute(&pool).await {
                        Ok(_) => tracing::debug!(changes, "analyzed the young artifact table"),
                        // Not the table's owner: PostgreSQL skips it with a warning, or refuses.
                        Err(error) => tracing::debug!(%error, "could not analyze the artifact table"),
                    }
                    return;
                }
                Ok((false, _)) => {}
                Err(error) => {
                    tracing::debug!(%error, "stopped watching for the artifact table's statistics");
                    return;
                }
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}
