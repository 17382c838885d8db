//! Every hot statement the store runs (`gatehouse::store::hot_queries`, the real SQL) is planned
//! on a migrated SQLite file and a migrated PostgreSQL database, and its plan must reach each
//! table through an index that fits the statement's filter: no full table scan, and no walk of
//! an index whose leading columns the statement does not pin (the artifact lookup by digest
//! walking a whole project's range of the `(project, id)` index is the case this was written
//! for). PostgreSQL plans generic plans (independent of bound values) with sequential scans
//! priced out: on a young table of 1,000 artifacts once the store has taken its first
//! statistics, then on 20,000 artifacts before `analyze` (the artifact statements) and after it
//! (every statement).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use gatehouse::store::{PostgresStore, SqliteStore, Store, hot_queries};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, Row};

/// One acceptable way to reach a table.
#[derive(Debug, Clone, Copy)]
enum Way {
    /// Searched through an index whose leading columns are exactly these (in any order), each
    /// one constrained by the statement (SQLite `SEARCH … (col=? …)`, PostgreSQL `Index Cond`).
    Search(&'static [&'static str]),
    /// Walked in the order of an index whose leading columns are these, stopping at the page's
    /// `limit` (an unfiltered first page, the chain head, a queue kept in a partial index).
    Walk(&'static [&'static str]),
    /// As `Walk`, on PostgreSQL only: a listing whose filter matches a large share of the rows
    /// (1 in 20 projects here), where PostgreSQL reads the key's order and filters rather than
    /// sorting the matches. SQLite must search.
    PgPaged(&'static [&'static str]),
}

/// How a statement must reach its table: through one of `ways`, or, for a write that reads no
/// table, not at all (its primary-key and unique checks are the engine's own).
#[derive(Debug, Clone, Copy)]
enum Fit {
    Read(&'static str, &'static [Way]),
    Write,
}

/// What each hot statement must fit. A statement added to `hot_queries` without an entry here,
/// or an entry whose statement is gone, fails the test.
fn expected() -> BTreeMap<&'static str, Fit> {
    use Fit::{Read, Write};
    use Way::{PgPaged, Search, Walk};
    const PK: &[Way] = &[Search(&["id"])];
    BTreeMap::from([
        ("artifact_insert", Write),
        ("artifact_insert_returning", Write),
        ("artifact_by_id", Read("artifacts", PK)),
        // A point lookup either way: the unique key, or the digest within the project.
        (
            "artifact_by_key",
            Read(
                "artifacts",
                &[
                    Search(&["project", "repository", "digest"]),
                    Search(&["project", "digest"]),
                ],
            ),
        ),
        // The lookup of issue 12: never the project's whole range.
        (
            "artifact_by_digest",
            Read("artifacts", &[Search(&["project", "digest"])]),
        ),
        // PostgreSQL's coalesced review reads: the same point lookups, one per key.
        ("artifacts_by_ids_coalesced", Read("artifacts", PK)),
        (
            "artifacts_by_digests_coalesced",
            Read("artifacts", &[Search(&["project", "digest"])]),
        ),
        (
            "artifacts_by_digests_in_project_coalesced",
            Read("artifacts", &[Search(&["project", "digest"])]),
        ),
        ("artifact_update", Read("artifacts", PK)),
        ("artifact_exists", Read("artifacts", PK)),
        ("evidence_insert", Write),
        (
            "evidence_of_artifact",
            Read("artifact_evidence", &[Search(&["artifact_id"])]),
        ),
        ("promotion_insert", Write),
        (
            "promotions_of_artifact",
            Read("artifact_promotions", &[Search(&["artifact_id"])]),
        ),
        ("audit_chain_head", Read("audit_records", &[Walk(&["seq"])])),
        ("audit_insert", Write),
        ("audit_chain_page", Read("audit_records", &[Search(&["seq"])])),
        ("audit_unsealed_insert", Write),
        ("audit_unsealed_with_decision_insert", Write),
        ("audit_unsealed_with_two_decisions_insert", Write),
        // The sealer's queue is its own table, walked in append order; records moved by id.
        (
            "audit_unsealed_ids",
            Read("audit_pending", &[Walk(&["append_order"])]),
        ),
        ("audit_unsealed_by_ids", Read("audit_pending", PK)),
        ("audit_seal_pending", Read("audit_pending", PK)),
        // What an earlier release left unsealed in place: the partial index of such records.
        (
            "audit_queue_legacy_unsealed",
            Read("audit_records", &[Walk(&["append_order"])]),
        ),
        (
            "audit_unsealed_count",
            Read("audit_records", &[Walk(&["append_order"])]),
        ),
        ("audit_sealed_by_id", Read("audit_records", PK)),
        ("decision_insert", Write),
        ("decision_input_insert", Write),
        ("decision_insert_with_input_hash", Write),
        (
            "decision_input_by_hash",
            Read("decision_inputs", &[Search(&["hash"])]),
        ),
        ("publish_intent_insert", Write),
        ("publish_intent_by_id", Read("publish_intents", PK)),
        (
            "publish_intents_open",
            Read("publish_intents", &[Search(&["repository"])]),
        ),
        ("publish_intent_complete", Read("publish_intents", PK)),
        ("pull_intent_insert", Write),
        ("pull_intent_by_id", Read("pull_intents", PK)),
        ("token_insert", Write),
        (
            "tokens_of_intent",
            Read("registry_tokens", &[Search(&["intent_id"])]),
        ),
        ("event_insert", Write),
        ("event_by_id", Read("registry_events", PK)),
        (
            "event_claim_candidates",
            Read("registry_events", &[Search(&["status"])]),
        ),
        ("event_claim", Read("registry_events", PK)),
        ("event_finish", Read("registry_events", PK)),
        ("event_release", Read("registry_events", PK)),
        ("event_exists", Read("registry_events", PK)),
        ("events_pending", Read("registry_events", &[Search(&["status"])])),
        (
            "event_oldest_pending",
            Read("registry_events", &[Search(&["status"])]),
        ),
        ("push_insert", Write),
        ("links_insert", Write),
        ("presence_upsert", Write),
        (
            "links_of_artifact",
            Read("artifact_links", &[Search(&["artifact_id"])]),
        ),
        ("job_insert", Write),
        (
            "job_insert_unless_waiting",
            Read("verification_jobs", &[Search(&["artifact_id"])]),
        ),
        (
            "job_claim_candidates",
            Read("verification_jobs", &[Walk(&["enqueued_at", "id"])]),
        ),
        ("job_claim", Read("verification_jobs", PK)),
        ("job_finish", Read("verification_jobs", PK)),
        ("job_release", Read("verification_jobs", PK)),
        (
            "job_oldest_pending",
            Read("verification_jobs", &[Walk(&["enqueued_at", "id"])]),
        ),
        // Counts the pending jobs: either partial index holds exactly those.
        (
            "jobs_pending",
            Read(
                "verification_jobs",
                &[Walk(&["enqueued_at", "id"]), Walk(&["artifact_id"])],
            ),
        ),
        ("summary_insert", Write),
        (
            "summary_latest",
            Read("verification_summaries", &[Search(&["artifact_id"])]),
        ),
        ("attestation_insert", Write),
        (
            "attestations_of_artifact",
            Read("artifact_attestations", &[Search(&["artifact_id"])]),
        ),
        ("bundle_upsert", Write),
        (
            "bundle_latest",
            Read("policy_bundles", &[Walk(&["activated_at"])]),
        ),
        ("app_insert", Write),
        ("app_by_slug", Read("apps", &[Search(&["slug"])])),
        // `($1 is null or slug > $1)` pins nothing: the page walks the slugs in order.
        ("apps_page", Read("apps", &[Walk(&["slug"])])),
        ("app_version_insert", Write),
        (
            "app_version",
            Read("app_versions", &[Search(&["app", "version"])]),
        ),
        ("app_versions_of_app", Read("app_versions", &[Search(&["app"])])),
        ("app_version_link_insert", Write),
        (
            "app_version_links",
            Read("app_version_artifacts", &[Search(&["version_id"])]),
        ),
        ("app_version_publish", Read("app_versions", PK)),
        ("entitlement_insert", Write),
        (
            "entitlement",
            Read("entitlements", &[Search(&["project", "app"])]),
        ),
        (
            "entitlements_of_project",
            Read("entitlements", &[Search(&["project"])]),
        ),
        ("entitlements_of_app", Read("entitlements", &[Search(&["app"])])),
        ("artifacts_first_page", Read("artifacts", &[Walk(&["id"])])),
        ("artifacts_next_page", Read("artifacts", PK)),
        ("artifacts_of_project", Read("artifacts", &[Search(&["project"])])),
        (
            "artifacts_of_project_next_page",
            Read("artifacts", &[Search(&["project"])]),
        ),
        (
            "artifacts_of_project_in_state",
            Read("artifacts", &[Search(&["project"])]),
        ),
        (
            "artifacts_of_app",
            Read("artifacts", &[Search(&["project", "app"])]),
        ),
        (
            "artifacts_of_project_with_digest",
            Read("artifacts", &[Search(&["project", "digest"])]),
        ),
        ("artifacts_with_digest", Read("artifacts", &[Search(&["digest"])])),
        ("audit_first_page", Read("audit_records", &[Walk(&["seq"])])),
        ("audit_next_page", Read("audit_records", &[Search(&["seq"])])),
        (
            "audit_of_project",
            Read("audit_records", &[Search(&["project"]), PgPaged(&["seq"])]),
        ),
        (
            "audit_of_artifact",
            Read("audit_records", &[Search(&["artifact_id"])]),
        ),
        (
            "audit_of_actor",
            Read("audit_records", &[Search(&["actor_id"]), PgPaged(&["seq"])]),
        ),
        (
            "audit_of_action",
            Read("audit_records", &[Search(&["action"]), PgPaged(&["seq"])]),
        ),
        (
            "audit_in_window",
            Read("audit_records", &[Search(&["occurred_at"])]),
        ),
        (
            "audit_of_project_in_window",
            Read("audit_records", &[Search(&["project"]), Search(&["occurred_at"])]),
        ),
        ("decisions_first_page", Read("decisions", &[Walk(&["id"])])),
        ("decisions_next_page", Read("decisions", PK)),
        (
            "decisions_of_project",
            Read("decisions", &[Search(&["project"]), PgPaged(&["id"])]),
        ),
        (
            "decisions_of_artifact",
            Read("decisions", &[Search(&["artifact_id"])]),
        ),
        (
            "decisions_of_actor",
            Read("decisions", &[Search(&["actor_id"]), PgPaged(&["id"])]),
        ),
        (
            "decisions_in_window",
            Read("decisions", &[Search(&["decided_at"])]),
        ),
        (
            "decisions_of_project_in_window",
            Read("decisions", &[Search(&["project"]), Search(&["decided_at"])]),
        ),
        (
            "pushes_of_project",
            Read("unregistered_pushes", &[Search(&["project"])]),
        ),
    ])
}

/// One table access in a plan, whichever engine produced it.
#[derive(Debug)]
struct Access {
    table: String,
    /// `None` for a full table scan.
    index: Option<String>,
    /// The index's columns, in index order.
    index_columns: Vec<String>,
    /// The columns the engine constrains through the index (the search key).
    constrained: Vec<String>,
    /// Planned by PostgreSQL (else SQLite).
    postgres: bool,
}

/// Why `a` is not reached in `way`, or `None` when it is.
fn way_misfit(way: Way, a: &Access) -> Option<String> {
    let (columns, search) = match way {
        Way::Search(c) => (c, true),
        Way::Walk(c) => (c, false),
        Way::PgPaged(_) if !a.postgres => return Some("searched on SQLite, not paged".to_owned()),
        Way::PgPaged(c) => (c, false),
    };
    let mut leading: Vec<&str> = a
        .index_columns
        .iter()
        .take(columns.len())
        .map(String::as_str)
        .collect();
    leading.sort_unstable();
    let mut wanted = columns.to_vec();
    wanted.sort_unstable();
    let index = a.index.as_deref().unwrap_or_default();
    if leading != wanted {
        return Some(format!(
            "read through `{index}` on {:?}, whose leading columns are not {columns:?}",
            a.index_columns
        ));
    }
    if search && let Some(c) = columns.iter().find(|c| !a.constrained.iter().any(|k| k == *c)) {
        return Some(format!(
            "read through `{index}` without searching on `{c}` (searched on {:?})",
            a.constrained
        ));
    }
    None
}

/// Checks one statement's table accesses against its fit; `None` when it fits.
fn misfit(fit: Fit, accesses: &[Access]) -> Option<String> {
    if let Some(scan) = accesses.iter().find(|a| a.index.is_none()) {
        return Some(format!("full scan of `{}`", scan.table));
    }
    let Fit::Read(table, ways) = fit else {
        return None;
    };
    let on_table: Vec<&Access> = accesses.iter().filter(|a| a.table == table).collect();
    if on_table.is_empty() {
        return Some(format!("no access to `{table}` through an index"));
    }
    for a in on_table {
        let reasons: Vec<String> = ways.iter().filter_map(|w| way_misfit(*w, a)).collect();
        if reasons.len() == ways.len() {
            return Some(format!("`{table}` {}", reasons.join("; nor ")));
        }
    }
    None
}

/// Runs every hot statement through `plan` and fails listing every misfit with its plan.
/// Only the statements `only` selects are planned.
async fn check_all<F, Fut>(engine: &str, only: fn(&str) -> bool, mut plan: F)
where
    F: FnMut(&'static str, String) -> Fut,
    Fut: std::future::Future<Output = (Vec<Access>, String)>,
{
    let mut expected = expected();
    expected.retain(|name, _| only(name));
    let mut failures = Vec::new();
    for (name, sql) in hot_queries().into_iter().filter(|(name, _)| only(name)) {
        let Some(fit) = expected.remove(name) else {
            failures.push(format!("{name}: no expected fit in tests/query_plans.rs"));
            continue;
        };
        let (accesses, shown) = plan(name, sql).await;
        if let Some(why) = misfit(fit, &accesses) {
            failures.push(format!("{name}: {why}\n    plan: {shown}"));
        }
    }
    for name in expected.keys() {
        failures.push(format!(
            "{name}: expected a fit but `hot_queries` no longer has it"
        ));
    }
    assert!(
        failures.is_empty(),
        "{engine}: {} hot statements do not fit an index:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// SQLite: `EXPLAIN QUERY PLAN` lines such as `SEARCH artifacts USING INDEX i (project=? AND
// digest=?)`, `SCAN audit_records USING COVERING INDEX i` or a bare `SCAN decisions`.

/// Parses one plan line into a table access (`None` for lines that touch no table).
fn sqlite_access(detail: &str) -> Option<(String, Option<String>, Vec<String>)> {
    let mut words = detail.split_whitespace();
    let verb = words.next()?;
    if verb != "SEARCH" && verb != "SCAN" {
        return None;
    }
    let table = words.next()?.to_owned();
    if table == "CONSTANT" {
        return None;
    }
    let rest: Vec<&str> = words.collect();
    let index = if let Some(i) = rest.iter().position(|w| *w == "INDEX") {
        rest.get(i + 1).map(|s| (*s).to_owned())
    } else if rest.windows(3).any(|w| w == ["INTEGER", "PRIMARY", "KEY"]) {
        Some("rowid".to_owned())
    } else {
        None
    };
    let constrained = match (detail.find('('), detail.rfind(')')) {
        (Some(open), Some(close)) if open < close => detail[open + 1..close]
            .split(" AND ")
            .map(|term| {
                term.trim()
                    .trim_end_matches(|c: char| "=<>?".contains(c))
                    .to_owned()
            })
            .collect(),
        _ => Vec::new(),
    };
    Some((table, index, constrained))
}

#[tokio::test]
async fn hot_statements_use_fitting_indexes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let pool = store.pool().clone();
    check_all(
        "SQLite",
        // SQLite seals each audit record in its own transaction: it never has unsealed records
        // (its `seq` is not null), so the sealer's statements, and the unsealed inserts (which
        // defer their commit's flush with PostgreSQL's `set_config`), are PostgreSQL's alone,
        // as is the artifact insert with `returning` (see `INSERT_RETURNS_ARTIFACT`) and the
        // coalesced review reads (arrays: see `pg_reads`).
        |name| {
            !matches!(
                name,
                "artifact_insert_returning"
                    | "artifacts_by_ids_coalesced"
                    | "artifacts_by_digests_coalesced"
                    | "artifacts_by_digests_in_project_coalesced"
                    | "audit_unsealed_insert"
                    | "audit_unsealed_with_decision_insert"
                    | "audit_unsealed_with_two_decisions_insert"
                    | "audit_unsealed_ids"
                    | "audit_unsealed_by_ids"
                    | "audit_seal_pending"
                    | "audit_queue_legacy_unsealed"
                    | "audit_unsealed_count"
            )
        },
        |_name, sql| {
            let pool = pool.clone();
            async move {
                let rows = sqlx::query(AssertSqlSafe(format!("explain query plan {sql}")))
                    .fetch_all(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("cannot plan `{sql}`: {e}"));
                let details: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
                let mut accesses = Vec::new();
                for d in &details {
                    let Some((table, index, constrained)) = sqlite_access(d) else {
                        continue;
                    };
                    let index_columns = match index.as_deref() {
                        None => Vec::new(),
                        Some("rowid") => vec!["rowid".to_owned()],
                        Some(i) => {
                            sqlx::query_scalar("select name from pragma_index_info($1) order by seqno")
                                .bind(i)
                                .fetch_all(&pool)
                                .await
                                .unwrap()
                        }
                    };
                    accesses.push(Access {
                        table,
                        index,
                        index_columns,
                        constrained,
                        postgres: false,
                    });
                }
                (accesses, details.join(" | "))
            }
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: `EXPLAIN (FORMAT JSON) EXECUTE` of the prepared statement's generic plan.

/// How many `$N` parameters a statement takes (the highest N).
fn parameter_count(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|s| {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<usize>().ok()
        })
        .max()
        .unwrap_or(0)
}

/// Every scan node in a JSON plan, with its relation, index and index condition.
fn pg_nodes<'a>(plan: &'a Value, out: &mut Vec<&'a Value>) {
    if plan.get("Node Type").is_some() {
        out.push(plan);
    }
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for child in children {
            pg_nodes(child, out);
        }
    }
}

/// The columns an index condition such as `((project = $1) AND (digest = $2))` constrains.
fn pg_constrained(cond: &str, index_columns: &[String]) -> Vec<String> {
    index_columns
        .iter()
        .filter(|c| {
            cond.match_indices(c.as_str()).any(|(at, _)| {
                let before = cond[..at].chars().next_back();
                let after = cond[at + c.len()..].chars().next();
                let edge = |ch: Option<char>| ch.is_none_or(|ch| !(ch.is_alphanumeric() || ch == '_'));
                edge(before) && edge(after)
            })
        })
        .cloned()
        .collect()
}

/// Rows shaped like a busy installation (20 projects of 1,000 artifacts, a long audit trail and
/// decision log, registry events and verification jobs that are almost all finished, 500 apps
/// with 10 versions each, every project entitled to every app), planned
/// before and after `analyze`: PostgreSQL chooses among indexes by size and statistics, and on
/// empty tables it picks whichever is smallest (a one-page partial queue index for a primary-key
/// lookup), which says nothing.
const PG_ROWS: &[&str] = &[
    // Until the explicit `analyze`, the artifact table has no statistics (`PG_SMALL_ROWS`
    // turned autovacuum off for it): see the second check.
    "insert into artifacts (id, project, app, artifact_kind, artifact_type, repository, digest, \
     source_type, source_uri, lifecycle_state, trust_state, created_by_type, created_by_id, \
     created_at, updated_at, version) \
     select gen_random_uuid(), 'p' || (n % 20), 'app' || (n % 100), 'oci_image', 'container', \
     'repo/' || (n % 1000), 'sha256:' || md5(n::text) || md5((n + 1)::text), 'registry', 'oci://x', \
     'registered', 'unverified', 'user', 'u' || (n % 50), now(), now(), 1 \
     from generate_series(1, 20000) as n",
    "insert into audit_records (id, seq, occurred_at, actor_type, actor_id, action, project, \
     correlation_id, prev_hash, hash) \
     select gen_random_uuid(), n, now() - make_interval(secs => 20000 - n), 'user', 'u' || (n % 50), \
     'artifact.register', 'p' || (n % 20), 'c' || n, md5(n::text), md5((n + 1)::text) \
     from generate_series(1, 20000) as n",
    "insert into decisions (id, decided_at, correlation_id, actor_type, actor_id, action, project, \
     resource, effect, policy_ids, reasons, errors, policy_hash, request, entities) \
     select gen_random_uuid(), now() - make_interval(secs => 20000 - n), 'c' || n, 'user', \
     'u' || (n % 50), 'deploy', 'p' || (n % 20), 'r', 'allow', '[]', '[]', '[]', 'h', '{}', '[]' \
     from generate_series(1, 20000) as n",
    "insert into registry_events (id, source, action, repository, received_at, status) \
     select 'e' || n, 'registry', 'push', 'repo/' || (n % 1000), now(), \
     case when n % 100 = 0 then 'pending' else 'applied' end \
     from generate_series(1, 10000) as n",
    "insert into verification_jobs (id, artifact_id, principal, status, enqueued_at, result) \
     select gen_random_uuid(), id, '{}', case when row_number() over () % 100 = 0 then 'pending' \
     else 'done' end, now(), '{}' from artifacts limit 10000",
    "insert into publish_intents (id, project, app, repository, artifact_kind, artifact_type, \
     actor_type, actor_id, password_sha256, created_at, expires_at, correlation_id, principal, \
     completed_at) \
     select gen_random_uuid(), 'p' || (n % 20), 'app' || (n % 100), 'repo/' || (n % 1000), \
     'oci_image', 'container', 'user', 'u', 'x', now(), now(), 'c' || n, '{}', \
     case when n % 50 = 0 then null else now() end \
     from generate_series(1, 5000) as n",
    "insert into apps (slug, project, display_name, manifest, created_by_type, created_by_id, \
     created_at) \
     select 'app' || n, 'p' || (n % 20), 'App', '{}', 'user', 'u', now() \
     from generate_series(0, 499) as n",
    "insert into app_versions (id, app, version, status, manifest, manifest_digest, \
     created_by_type, created_by_id, created_at) \
     select gen_random_uuid(), 'app' || (n % 500), '1.' || n, 'published', '{}', md5(n::text), \
     'user', 'u', now() \
     from generate_series(1, 5000) as n",
    "insert into entitlements (project, app, granted_by_type, granted_by_id, granted_at) \
     select 'p' || p, 'app' || a, 'user', 'u', now() \
     from generate_series(0, 19) as p, generate_series(0, 499) as a",
];

/// A young installation: a thousand artifacts of two projects, planned before `PG_ROWS` adds
/// the rest. Never analyzed, such a table is priced by its size alone: at a hundred rows every
/// index that pins `project` costs the same as the point lookup, and at a thousand the
/// coalesced lookups by digest still walk the project through `(project, app, id)`. A
/// connection keeps such a plan as its generic plan until the table is analyzed (seen under
/// the load script: 46 ms per registration at 2,600 rows), so the store analyzes it first
/// (`store::pg_statistics`).
const PG_SMALL_ROWS: &[&str] = &[
    "alter table artifacts set (autovacuum_enabled = off)",
    "insert into artifacts (id, project, app, artifact_kind, artifact_type, repository, digest, \
     source_type, source_uri, lifecycle_state, trust_state, created_by_type, created_by_id, \
     created_at, updated_at, version) \
     select gen_random_uuid(), 'team-' || (n % 2), 'app' || (n % 10), 'oci_image', 'container', \
     'gpuaas/apps/app' || (n % 10), 'sha256:' || md5(n::text) || md5((n + 1)::text), 'registry', \
     'oci://x', 'registered', 'unverified', 'user', 'u', now(), now(), 1 \
     from generate_series(-1000, -1) as n",
];

/// Waits until the artifact table has column statistics (the store's watch takes them within
/// a second or two of the rows' commit); fails after a minute.
async fn wait_for_artifact_statistics(conn: &mut sqlx::PgConnection) {
    for _ in 0..600 {
        let analyzed: bool = sqlx::query_scalar(
            "select exists (select 1 from pg_stats where tablename = 'artifacts' \
             and schemaname = current_schema())",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if analyzed {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the store never analyzed the young artifact table");
}

/// The generic plan of `sql` on `conn`, as table accesses and a one-line rendering.
async fn pg_plan(conn: &mut sqlx::PgConnection, name: &str, sql: &str) -> (Vec<Access>, String) {
    let n = parameter_count(sql);
    // A parameter PostgreSQL cannot type from its first use (`$3 is null or …`) gets the
    // first of these its later uses accept, as the store's bind gives it one.
    const GUESSES: [&str; 4] = ["text", "uuid", "bigint", "timestamptz"];
    let mut types = vec!["unknown"; n];
    let mut guessing: Option<(usize, usize)> = None;
    loop {
        let declared = if n == 0 {
            String::new()
        } else {
            format!("({})", types.join(", "))
        };
        let Err(e) = sqlx::query(AssertSqlSafe(format!("prepare hot{declared} as {sql}")))
            .execute(&mut *conn)
            .await
        else {
            break;
        };
        let message = e.to_string();
        let untyped = message
            .split("could not determine data type of parameter $")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|k| (1..=n).contains(k) && types[k - 1] == "unknown");
        let (k, guess) = match (untyped, guessing) {
            (Some(k), _) => (k, 0),
            (None, Some((k, g))) if g + 1 < GUESSES.len() => (k, g + 1),
            _ => panic!("{name}: cannot prepare `{sql}`: {message}"),
        };
        types[k - 1] = GUESSES[guess];
        guessing = Some((k, guess));
    }
    let nulls = if n == 0 {
        String::new()
    } else {
        format!("({})", vec!["null"; n].join(", "))
    };
    let explained: Value =
        sqlx::query_scalar(AssertSqlSafe(format!("explain (format json) execute hot{nulls}")))
            .fetch_one(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{name}: cannot explain: {e}"));
    sqlx::query("deallocate hot").execute(&mut *conn).await.unwrap();
    let mut nodes = Vec::new();
    pg_nodes(&explained[0]["Plan"], &mut nodes);
    let mut accesses = Vec::new();
    let mut shown = Vec::new();
    for node in nodes {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        let index = node.get("Index Name").and_then(Value::as_str);
        let cond = node.get("Index Cond").and_then(Value::as_str).unwrap_or_default();
        shown.push(format!(
            "{kind}{}{}{}",
            node.get("Relation Name")
                .and_then(Value::as_str)
                .map(|r| format!(" on {r}"))
                .unwrap_or_default(),
            index.map(|i| format!(" using {i}")).unwrap_or_default(),
            if cond.is_empty() {
                String::new()
            } else {
                format!(" [{cond}]")
            }
        ));
        if kind == "Seq Scan" {
            accesses.push(Access {
                table: node["Relation Name"].as_str().unwrap_or_default().to_owned(),
                index: None,
                index_columns: Vec::new(),
                constrained: Vec::new(),
                postgres: true,
            });
            continue;
        }
        let Some(index) = index else {
            continue;
        };
        let row = sqlx::query(
            "select t.relname as table_name, array_agg(a.attname::text order by k.n) as columns \
             from pg_index x join pg_class i on i.oid = x.indexrelid \
             join pg_class t on t.oid = x.indrelid \
             cross join lateral unnest(x.indkey::int2[]) with ordinality as k(attnum, n) \
             join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum \
             where i.relname = $1 group by t.relname",
        )
        .bind(index)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let index_columns: Vec<String> = row.get("columns");
        accesses.push(Access {
            table: row.get("table_name"),
            index: Some(index.to_owned()),
            constrained: pg_constrained(cond, &index_columns),
            index_columns,
            postgres: true,
        });
    }
    (accesses, shown.join(" -> "))
}

#[tokio::test]
async fn hot_statements_use_fitting_indexes_on_postgres() {
    let Some(db) = common::pg::fresh_db().await else {
        return;
    };
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    // Migrating also starts the store's watch for the artifact table's first statistics; the
    // pool stays open until the young table's plans are checked.
    PostgresStore::from_pool(pool.clone()).migrate().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    // On tables without statistics, or left empty, a sequential scan is the cheapest plan; with
    // it priced out the planner shows which index it would take. Generic plans ignore the NULLs
    // `pg_plan` binds.
    sqlx::query("set enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("set plan_cache_mode = force_generic_plan")
        .execute(&mut conn)
        .await
        .unwrap();
    let conn = std::sync::Arc::new(tokio::sync::Mutex::new(conn));
    // A young installation (`PG_SMALL_ROWS`), with autovacuum off for the table: only the
    // store's watch can analyze it.
    for statement in PG_SMALL_ROWS {
        sqlx::query(*statement)
            .execute(&mut *conn.lock().await)
            .await
            .unwrap();
    }
    wait_for_artifact_statistics(&mut *conn.lock().await).await;
    pool.close().await;
    check_all(
        "PostgreSQL, a young table analyzed by the store",
        |name| name.starts_with("artifact"),
        |name, sql| {
            let conn = conn.clone();
            async move { pg_plan(&mut *conn.lock().await, name, &sql).await }
        },
    )
    .await;
    for statement in PG_ROWS {
        sqlx::query(*statement)
            .execute(&mut *conn.lock().await)
            .await
            .unwrap();
    }
    // Filled but not yet analyzed, as on a gateway whose artifacts arrived since the last
    // autovacuum (the load generator's case): the planner knows the table's size but not its
    // columns' distributions.
    check_all(
        "PostgreSQL without statistics",
        |name| name.starts_with("artifact"),
        |name, sql| {
            let conn = conn.clone();
            async move { pg_plan(&mut *conn.lock().await, name, &sql).await }
        },
    )
    .await;
    sqlx::query("analyze")
        .execute(&mut *conn.lock().await)
        .await
        .unwrap();
    check_all(
        "PostgreSQL with statistics",
        |_| true,
        |name, sql| {
            let conn = conn.clone();
            async move { pg_plan(&mut *conn.lock().await, name, &sql).await }
        },
    )
    .await;
    drop(db);
}
