//! The artifact reads of a review on SQLite, run on the calling thread.
//!
//! Through sqlx every SQLite statement is a hand-off to the connection's worker thread and back:
//! two context switches and two wake-ups for a lookup that SQLite answers from its page cache in
//! a few microseconds. Under load those switches were most of the review's kernel time. Here a
//! few read-only connections (rusqlite, on the same bundled SQLite as sqlx) each sit behind a
//! plain mutex; a lookup takes a free one and runs its prepared statement where it is, as the
//! Cedar evaluation beside it already does.
//!
//! Coherence is unchanged: each lookup is its own autocommit read and sees the last commit when
//! it starts (WAL). Nothing is cached across lookups (another process may revoke an artifact).
//!
//! Never a wait on the async thread: when every connection is in use, or SQLite answers busy
//! past a short timeout, or anything else fails, the caller is told `None` and reads through
//! sqlx as before (which reports any real error the usual way).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use sqlx::types::Json;
use uuid::Uuid;

use super::decision_inputs::{InputMemory, Placement};
use super::rows::ArtifactRow;
use super::sql;

/// A busy database (a checkpoint or recovery holding the WAL index) is waited for this long at
/// most on the calling thread; past it the read goes the slower way.
const BUSY_WAIT: Duration = Duration::from_millis(20);

/// Read-only connections used inline; `None` in a slot until first used (or after a failure).
#[derive(Debug)]
pub(super) struct InlineReads {
    path: PathBuf,
    /// Seen by the store's tests, which hold every connection to show a busy set hands reads back.
    pub(super) slots: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
}

impl InlineReads {
    /// `count` connections on the database file at `path`, opened on first use.
    pub(super) fn new(path: &Path, count: usize) -> Self {
        Self {
            path: path.to_owned(),
            slots: (0..count.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The artifact with this id, or `None` when the read must go through sqlx instead.
    pub(super) fn artifact_by_id(&self, id: Uuid) -> Option<Option<ArtifactRow>> {
        self.read(sql::SELECT_ARTIFACT_BY_ID, |conn| {
            let mut statement = conn.prepare_cached(sql::SELECT_ARTIFACT_BY_ID)?;
            statement.query_row([id], artifact_row).optional()
        })
    }

    /// The artifact of `project` with `digest` (in `repository`, when given), as
    /// `SELECT_ARTIFACT_BY_DIGEST` picks it; `None` when the read must go through sqlx.
    pub(super) fn artifact_by_digest(
        &self,
        project: &str,
        digest: &str,
        repository: Option<&str>,
    ) -> Option<Option<ArtifactRow>> {
        self.read(sql::SELECT_ARTIFACT_BY_DIGEST, |conn| {
            let mut statement = conn.prepare_cached(sql::SELECT_ARTIFACT_BY_DIGEST)?;
            statement
                .query_row(rusqlite::params![project, digest, repository], artifact_row)
                .optional()
        })
    }

    /// Runs `read` on a free connection without waiting for one.
    fn read<T>(&self, what: &str, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.slots.len();
        let mut slot = (0..count).find_map(|i| self.slots[(start + i) % count].try_lock().ok())?;
        if slot.is_none() {
            *slot = open(&self.path)
                .map_err(|error| tracing::debug!(%error, "cannot open an inline SQLite reader"))
                .ok();
        }
        let conn = slot.as_ref()?;
        match read(conn) {
            Ok(found) => Some(found),
            Err(error) => {
                // A fresh connection next time; this read goes the pooled way.
                tracing::debug!(%error, statement = what, "inline SQLite read failed; reading through the pool");
                *slot = None;
                None
            }
        }
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_WAIT)?;
    Ok(conn)
}

/// Decodes one row of `artifact_cols!()` as sqlx stores it: UUIDs as 16-byte blobs, times as
/// RFC 3339 text, JSON as text, booleans as integers.
fn artifact_row(row: &Row<'_>) -> rusqlite::Result<ArtifactRow> {
    Ok(ArtifactRow {
        id: row.get(0)?,
        project: row.get(1)?,
        app: row.get(2)?,
        artifact_kind: row.get(3)?,
        artifact_type: row.get(4)?,
        repository: row.get(5)?,
        digest: row.get(6)?,
        tag: row.get(7)?,
        media_type: row.get(8)?,
        source_type: row.get(9)?,
        source_uri: row.get(10)?,
        source_ref: row.get(11)?,
        size_bytes: row.get(12)?,
        content_encoding: row.get(13)?,
        lifecycle_state: row.get(14)?,
        trust_state: row.get(15)?,
        channels: Json(json(row, 16)?),
        signature_verified: row.get(17)?,
        attestations: Json(json(row, 18)?),
        created_by_type: row.get(19)?,
        created_by_id: row.get(20)?,
        created_at: time(row, 21)?,
        updated_at: time(row, 22)?,
        version: row.get(23)?,
        visibility: row.get(24)?,
        tenant: row.get(25)?,
        trust_facts: Json(json(row, 26)?),
    })
}

/// A time as sqlx writes it (RFC 3339 text), read without rusqlite's format-string parser (a
/// sixth of the row's decoding); any other text is read the way rusqlite reads it.
fn time(row: &Row<'_>, index: usize) -> rusqlite::Result<DateTime<Utc>> {
    if let Ok(text) = row.get_ref(index)?.as_str()
        && let Ok(time) = DateTime::parse_from_rfc3339(text)
    {
        return Ok(time.with_timezone(&Utc));
    }
    row.get(index)
}

fn json<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text = row.get_ref(index)?.as_str()?;
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// One decision row as the writer thread binds it: every value already encoded as sqlx encodes
/// it (UUIDs as blobs, times as RFC 3339 text, JSON as text), so rows from either path read back
/// the same.
#[derive(Debug)]
pub(super) struct DecisionRow {
    id: Uuid,
    decided_at: String,
    correlation_id: String,
    actor_type: &'static str,
    actor_id: String,
    action: String,
    project: Option<String>,
    artifact_id: Option<Uuid>,
    resource: String,
    effect: String,
    policy_ids: String,
    reasons: String,
    errors: String,
    policy_hash: String,
    request: String,
    entities: String,
    /// Where the request and entities are stored once (`decision_inputs`).
    input_hash: String,
}

impl DecisionRow {
    /// The record's columns, each JSON value serialised once, here, and its input's hash.
    pub(super) fn encode(d: &crate::audit::DecisionRecord) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: d.id,
            decided_at: crate::domain::time_text::rfc3339_offset(&d.decided_at),
            correlation_id: d.correlation_id.clone(),
            actor_type: super::rows::actor_type_str(d.actor.actor_type),
            actor_id: d.actor.id.clone(),
            action: d.action.clone(),
            project: d.project.clone(),
            artifact_id: d.artifact_id.map(|a| a.0),
            resource: d.resource.clone(),
            effect: d.effect.clone(),
            policy_ids: serde_json::to_string(&d.policy_ids)?,
            reasons: serde_json::to_string(&d.reasons)?,
            errors: serde_json::to_string(&d.errors)?,
            policy_hash: d.policy_hash.clone(),
            // Already text: the policy engine wrote it once.
            request: d.request.get().to_owned(),
            entities: d.entities.get().to_owned(),
            input_hash: super::decision_inputs::input_hash(d.request.get(), d.entities.get()),
        })
    }
}

type WriteJob = (
    Vec<DecisionRow>,
    tokio::sync::oneshot::Sender<rusqlite::Result<()>>,
);

/// The decision-log batches on SQLite, written by one thread of their own through its own
/// connection: a batch is one hand-off to it and back, where through sqlx each statement of the
/// batch (`BEGIN`, each insert, `COMMIT`) was a hand-off to the connection's thread and back.
///
/// The caller holds sqlx's single writer connection for the whole batch, so the two writers
/// never overlap: no sqlx transaction can have read a snapshot this commit would make stale
/// (SQLite would fail its write with `SQLITE_BUSY_SNAPSHOT`). Commits are as durable as the
/// writer's: WAL, `synchronous = FULL`, synced before the batch is answered. Any failure here
/// is answered as an error and the caller writes the batch through sqlx instead, which reports
/// real errors the usual way.
#[derive(Debug)]
pub(super) struct InlineWriter {
    jobs: std::sync::mpsc::Sender<WriteJob>,
}

impl InlineWriter {
    /// Starts the writer thread for the database file at `path`; it opens its connection on
    /// the first batch (after migrations) and stops once the writer is dropped.
    pub(super) fn spawn(path: &Path) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<WriteJob>();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("gatehouse-sqlite-decisions".to_owned())
            .spawn(move || {
                let mut conn: Option<Connection> = None;
                let mut inputs = InputMemory::default();
                for (rows, done) in queue {
                    let outcome = write_batch(&mut conn, &path, &rows, &mut inputs);
                    if let Err(error) = &outcome {
                        tracing::debug!(%error, "inline SQLite decision batch failed; writing it through the pool");
                        // A fresh connection next time.
                        conn = None;
                    }
                    let _ = done.send(outcome);
                }
            })?;
        Ok(Self { jobs })
    }

    /// Commits `rows` in one transaction on the writer thread. The caller must hold the sqlx
    /// writer connection until this answers.
    pub(super) async fn write(&self, rows: Vec<DecisionRow>) -> rusqlite::Result<()> {
        let (done, answer) = tokio::sync::oneshot::channel();
        if self.jobs.send((rows, done)).is_err() {
            return Err(rusqlite::Error::InvalidQuery);
        }
        answer.await.unwrap_or(Err(rusqlite::Error::InvalidQuery))
    }
}

/// Each decision with its input inline the first time this writer sees the input, else naming
/// it in `decision_inputs` (stored there, kept once, the second time); one row per step of each
/// prepared statement: on this thread a step costs no hand-off, so multi-row statements would
/// save nothing.
fn write_batch(
    conn: &mut Option<Connection>,
    path: &Path,
    rows: &[DecisionRow],
    inputs: &mut InputMemory,
) -> rusqlite::Result<()> {
    if conn.is_none() {
        *conn = Some(open_writer(path)?);
    }
    let Some(conn) = conn.as_mut() else {
        return Err(rusqlite::Error::InvalidQuery);
    };
    // Immediate: the write lock is taken (or waited for, another process holding it) at the
    // start, never half-way.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let placements: Vec<Placement> = rows.iter().map(|r| inputs.place(&r.input_hash)).collect();
    {
        let mut insert_input = tx.prepare_cached(sql::INSERT_DECISION_INPUT)?;
        let mut insert = tx.prepare_cached(sql::INSERT_DECISION_WITH_INPUT_HASH)?;
        for (r, placement) in rows.iter().zip(&placements) {
            if *placement == Placement::Store {
                insert_input.execute(rusqlite::params![r.input_hash, r.request, r.entities])?;
            }
            let (request, entities, input_hash) = match placement {
                Placement::Inline => (r.request.as_str(), r.entities.as_str(), None),
                Placement::Store | Placement::Known => ("null", "null", Some(r.input_hash.as_str())),
            };
            insert.execute(rusqlite::params![
                r.id,
                r.decided_at,
                r.correlation_id,
                r.actor_type,
                r.actor_id,
                r.action,
                r.project,
                r.artifact_id,
                r.resource,
                r.effect,
                r.policy_ids,
                r.reasons,
                r.errors,
                r.policy_hash,
                request,
                entities,
                input_hash,
            ])?;
        }
    }
    tx.commit()?;
    inputs.committed(rows.iter().map(|r| r.input_hash.as_str()).zip(placements));
    Ok(())
}

fn open_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    // As the sqlx writer (`SqliteStore::connect_with`): a decision is answered only once its
    // commit is synced; the journal mode is the file's (WAL) already.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each form a time column may hold reads as rusqlite reads it: sqlx's RFC 3339 (any
    /// offset, with or without a fraction) and SQLite's own `CURRENT_TIMESTAMP` text.
    #[test]
    fn a_stored_time_reads_as_rusqlite_reads_it() {
        let db = Connection::open_in_memory().unwrap();
        let texts = [
            "2025-01-01T00:00:00.123456+00:00",
            "2025-01-02T03:04:05Z",
            "2025-01-02T03:04:05.5+02:00",
            "2025-01-01 00:00:00",
            "2025-01-01 00:00:00.250",
        ];
        for text in texts {
            let (ours, theirs) = db
                .query_row("select ?1, ?1", [text], |row| {
                    Ok((time(row, 0)?, row.get::<_, DateTime<Utc>>(1)?))
                })
                .unwrap();
            assert_eq!(ours, theirs, "{text}");
        }
        let not_a_time = db.query_row("select 'soon'", [], |row| time(row, 0));
        assert!(not_a_time.is_err());
    }
}
