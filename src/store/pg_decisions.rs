//! PostgreSQL's decision-log batch insert: one statement text with sixteen array parameters,
//! whatever the batch size, so every batch reuses one prepared statement and one generic plan.
//!
//! Over TLS a statement stays under `TLS_STATEMENT_BYTES`. sqlx does not set `TCP_NODELAY`, and
//! a message longer than one TLS record (16 KiB) goes out as two writes: the second waits until
//! the server acknowledges the first, which it delays by 40 ms (nothing to answer yet). Measured
//! on loopback (a client without `TCP_NODELAY`): a 17,000-byte query took 44 ms over TLS and
//! 0.12 ms in plaintext, where sizes up to 100 KB showed no stall. So a batch is split (several
//! statements in one transaction) only where the pool may speak TLS; a plaintext pool (a server
//! on this host, see `postgres::connect_options`) sends the batch as one statement.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::postgres::PgSslMode;
use sqlx::types::Json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::StoreError;
use super::decision_inputs::{InputMemory, Placement};
use super::rows::actor_type_str;
use super::sql;
use crate::audit::DecisionRecord;

/// Most bytes one insert carries where the connection may use TLS (its rows' JSON plus a margin
/// per row for the other columns and the framing): the message stays within one TLS record.
const TLS_STATEMENT_BYTES: usize = 12 * 1024;

/// Most bytes one insert carries in plaintext: no stall to avoid, only a bound on one message
/// (the decision log's largest batch, 256 review rows, is ~600 KB).
const PLAINTEXT_STATEMENT_BYTES: usize = 1024 * 1024;

/// Whether any PostgreSQL pool made in this process may negotiate TLS (its `sslmode` is not
/// `disable`). Batches are inserted through a bare connection, which does not tell, so the pools
/// say it when they are made (`note_pool_tls`); once one may, every batch keeps the TLS bound.
static A_POOL_MAY_USE_TLS: AtomicBool = AtomicBool::new(false);

/// Records that a pool with `mode` exists in this process.
pub(super) fn note_pool_tls(mode: PgSslMode) {
    if !matches!(mode, PgSslMode::Disable) {
        A_POOL_MAY_USE_TLS.store(true, Ordering::Relaxed);
    }
}

/// The statement bound for this process's pools.
fn statement_bytes() -> usize {
    if A_POOL_MAY_USE_TLS.load(Ordering::Relaxed) {
        TLS_STATEMENT_BYTES
    } else {
        PLAINTEXT_STATEMENT_BYTES
    }
}

/// A record's request and entity slice as text (written once, by the policy engine): their
/// length sizes the statement and the text is what is sent.
struct Serialized<'a> {
    record: &'a DecisionRecord,
    request: &'a str,
    entities: &'a str,
    /// The key the input is stored under, for a batch that stores inputs once.
    input_hash: Option<String>,
}

/// The decision inputs this store's decision log has committed (see `decision_inputs`); a
/// batch sends only those it places in `decision_inputs` for the first time.
#[derive(Debug, Default)]
pub(super) struct KnownInputs(Mutex<InputMemory>);

impl KnownInputs {
    fn place(&self, hash: &str) -> Placement {
        // A poisoned lock only ever held a set: every input goes inline, as before migration 0015.
        self.0
            .lock()
            .map_or(Placement::Inline, |memory| memory.place(hash))
    }

    fn committed(&self, placed: &[(String, Placement)]) {
        if let Ok(mut memory) = self.0.lock() {
            memory.committed(placed.iter().map(|(hash, placement)| (hash.as_str(), *placement)));
        }
    }
}

impl Serialized<'_> {
    /// What this row adds to a statement, roughly: its JSON and a margin for the rest.
    fn weight(&self) -> usize {
        let words = |v: &[String]| v.iter().map(|s| s.len() + 4).sum::<usize>();
        let r = self.record;
        self.request.len()
            + self.entities.len()
            + words(&r.policy_ids)
            + words(&r.reasons)
            + words(&r.errors)
            + 512
    }
}

fn serialize(record: &DecisionRecord) -> Serialized<'_> {
    Serialized {
        record,
        request: record.request.get(),
        entities: record.entities.get(),
        input_hash: None,
    }
}

fn serialize_by_input(record: &DecisionRecord) -> Serialized<'_> {
    Serialized {
        input_hash: Some(super::decision_inputs::input_hash(
            record.request.get(),
            record.entities.get(),
        )),
        ..serialize(record)
    }
}

/// Splits `items` into runs whose summed weights stay within `bound` (an item heavier than that
/// alone is a run of its own), in order, dropping none.
fn runs_within<T>(items: &[T], bound: usize, weight: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let w = weight(item);
        if i > start && bytes + w > bound {
            runs.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += w;
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

/// Inserts `decisions` in order, atomically: one statement when they fit in one (it commits on
/// its own when `conn` is outside a transaction), else several inside one transaction.
pub(super) async fn insert_decisions(
    conn: &mut PgConnection,
    decisions: &[DecisionRecord],
) -> Result<(), StoreError> {
    let rows = decisions.iter().map(serialize).collect::<Vec<_>>();
    let runs = runs_within(&rows, statement_bytes(), Serialized::weight);
    if let [only] = runs.as_slice() {
        return insert_run(conn, only).await;
    }
    let mut tx = conn.begin().await?;
    for run in runs {
        insert_run(&mut tx, run).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Inserts a decision-log batch as `insert_decisions` does, each decision naming its input and
/// each input stored once (migration 0015); the inputs `known` holds are not sent. Once the
/// batch commits, its inputs are remembered in `known`.
pub(super) async fn insert_decision_batch(
    conn: &mut PgConnection,
    decisions: &[DecisionRecord],
    known: &KnownInputs,
) -> Result<(), StoreError> {
    let rows = decisions.iter().map(serialize_by_input).collect::<Vec<_>>();
    let placed: Vec<(String, Placement)> = rows
        .iter()
        .map(|row| {
            let hash = row.input_hash.clone().unwrap_or_default();
            let placement = known.place(&hash);
            (hash, placement)
        })
        .collect();
    if placed
        .iter()
        .all(|(_, placement)| *placement == Placement::Inline)
    {
        // Nothing to store or name (inputs seen for the first time, as every one at 200,000
        // artifacts reviewed at random or in a mutation loop): the statement without the
        // inputs table, as before migration 0015.
        insert_decisions(conn, decisions).await?;
        known.committed(&placed);
        return Ok(());
    }
    let runs = runs_within(&rows, statement_bytes(), Serialized::weight);
    if let [only] = runs.as_slice() {
        insert_run_by_input(conn, only, &placed).await?;
    } else {
        let mut tx = conn.begin().await?;
        let mut start = 0;
        for run in runs {
            insert_run_by_input(&mut tx, run, &placed[start..start + run.len()]).await?;
            start += run.len();
        }
        tx.commit().await?;
    }
    known.committed(&placed);
    Ok(())
}

/// One statement of `insert_decision_batch`, each row placed as `placed` says (same order).
async fn insert_run_by_input(
    conn: &mut PgConnection,
    rows: &[Serialized<'_>],
    placed: &[(String, Placement)],
) -> Result<(), StoreError> {
    let n = rows.len();
    let (mut requests, mut entities, mut hashes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut stored_hashes, mut stored_requests, mut stored_entities) = (Vec::new(), Vec::new(), Vec::new());
    for (row, (hash, placement)) in rows.iter().zip(placed) {
        let inline = *placement == Placement::Inline;
        requests.push(inline.then_some(row.request));
        entities.push(inline.then_some(row.entities));
        hashes.push((!inline).then_some(hash.as_str()));
        if *placement == Placement::Store && !stored_hashes.contains(&hash.as_str()) {
            stored_hashes.push(hash.as_str());
            stored_requests.push(row.request);
            stored_entities.push(row.entities);
        }
    }
    decision_columns(sqlx::query(sql::PG_INSERT_DECISIONS_BY_INPUT_UNNEST), rows)
        .bind(requests)
        .bind(entities)
        .bind(hashes)
        .bind(stored_hashes)
        .bind(stored_requests)
        .bind(stored_entities)
        .execute(conn)
        .await?;
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds `$1` to `$14`: the columns of each decision but its request and entities.
fn decision_columns<'q>(query: PgQuery<'q>, rows: &[Serialized<'q>]) -> PgQuery<'q> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut decided_at = Vec::with_capacity(n);
    let mut correlation_ids = Vec::with_capacity(n);
    let mut actor_types = Vec::with_capacity(n);
    let mut actor_ids = Vec::with_capacity(n);
    let mut actions = Vec::with_capacity(n);
    let mut projects = Vec::with_capacity(n);
    let mut artifact_ids: Vec<Option<Uuid>> = Vec::with_capacity(n);
    let mut resources = Vec::with_capacity(n);
    let mut effects = Vec::with_capacity(n);
    let mut policy_ids = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut policy_hashes = Vec::with_capacity(n);
    for row in rows {
        let d = row.record;
        ids.push(d.id);
        decided_at.push(d.decided_at);
        correlation_ids.push(d.correlation_id.as_str());
        actor_types.push(actor_type_str(d.actor.actor_type));
        actor_ids.push(d.actor.id.as_str());
        actions.push(d.action.as_str());
        projects.push(d.project.as_deref());
        artifact_ids.push(d.artifact_id.map(|a| a.0));
        resources.push(d.resource.as_str());
        effects.push(d.effect.as_str());
        policy_ids.push(Json(&d.policy_ids));
        reasons.push(Json(&d.reasons));
        errors.push(Json(&d.errors));
        policy_hashes.push(d.policy_hash.as_str());
    }
    query
        .bind(ids)
        .bind(decided_at)
        .bind(correlation_ids)
        .bind(actor_types)
        .bind(actor_ids)
        .bind(actions)
        .bind(projects)
        .bind(artifact_ids)
        .bind(resources)
        .bind(effects)
        .bind(policy_ids)
        .bind(reasons)
        .bind(errors)
        .bind(policy_hashes)
}

async fn insert_run(conn: &mut PgConnection, rows: &[Serialized<'_>]) -> Result<(), StoreError> {
    let requests: Vec<&str> = rows.iter().map(|row| row.request).collect();
    let entities: Vec<&str> = rows.iter().map(|row| row.entities).collect();
    decision_columns(sqlx::query(sql::PG_INSERT_DECISIONS_UNNEST), rows)
        .bind(requests)
        .bind(entities)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(weights: &[usize]) -> Vec<usize> {
        runs_within(weights, TLS_STATEMENT_BYTES, |w| *w)
            .iter()
            .map(|run| run.len())
            .collect()
    }

    #[test]
    fn heavy_rows_split_into_statements_under_the_bound_and_none_is_dropped() {
        assert_eq!(lengths(&[1_000; 10]), [10]);
        assert_eq!(lengths(&[3_000; 10]), [4, 4, 2]);
        // A row over the bound alone still goes, on its own.
        assert_eq!(lengths(&[100_000, 1_000, 1_000]), [1, 2]);
        assert!(lengths(&[]).is_empty());
    }
}
