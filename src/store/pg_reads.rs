//! PostgreSQL's artifact reads by id and by digest, coalesced: lookups that arrive while earlier
//! ones are being answered go to the server together, as one `= any($1)` statement (by digest:
//! `project = $1 and digest = any($2)` when they share a project, else `unnest`), the way the
//! decision log group-commits. Each statement costs the server a bind, an execute and a
//! wake-up, and the gateway a pooled connection and a round trip, whatever it reads; under load
//! a review's read shares them with the reviews queued beside it.
//!
//! Freshness is unchanged: a lookup's statement is sent after the lookup was queued, so it sees
//! every commit that finished before the caller asked. Nothing is kept between statements.

use std::collections::HashMap;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::rows::ArtifactRow;
use super::{StoreError, sql};

/// Most lookups one statement answers.
const MAX_LOOKUPS: usize = 64;

/// Statements in flight at once: while they run the next lookups queue and go together.
const READS_IN_FLIGHT: usize = 2;

/// What a lookup asks for: an artifact by id, or a project's first artifact (by id) with a digest
/// in any repository (`SELECT_ARTIFACT_BY_DIGEST` without a repository).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Id(Uuid),
    Digest { project: String, digest: String },
}

impl Key {
    fn of(row: &ArtifactRow, by_id: bool) -> Self {
        if by_id {
            Key::Id(row.id)
        } else {
            Key::Digest {
                project: row.project.clone(),
                digest: row.digest.clone(),
            }
        }
    }
}

/// One caller's answer: its row, `None` when there is none, or the statement's failure.
pub(super) type Answer = Result<Option<ArtifactRow>, StoreError>;

/// What the task tells a caller: its answer, or `None` to read on its own (see `answer`).
type Reply = Option<Answer>;

struct Lookup {
    key: Key,
    done: oneshot::Sender<Reply>,
}

/// Handle to the task that coalesces lookups; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct CoalescedReads {
    tx: mpsc::Sender<Lookup>,
}

impl CoalescedReads {
    /// Starts the task (on the current Tokio runtime); it stops once every handle is dropped.
    pub(super) fn spawn(pool: PgPool) -> Self {
        let (tx, rx) = mpsc::channel(MAX_LOOKUPS * 4);
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    /// Reads `key` with whatever lookups are queued beside it. `None` when the caller must read
    /// on its own: the task is gone (its runtime shut down), or a row of its batch did not decode.
    pub(super) async fn read(&self, key: Key) -> Option<Answer> {
        let (done, answer) = oneshot::channel();
        self.tx.send(Lookup { key, done }).await.ok()?;
        answer.await.ok().flatten()
    }
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Lookup>) {
    let mut reads = JoinSet::new();
    loop {
        if reads.len() >= READS_IN_FLIGHT {
            let _ = reads.join_next().await;
            continue;
        }
        let mut batch = Vec::with_capacity(MAX_LOOKUPS);
        let received = tokio::select! {
            Some(_) = reads.join_next(), if !reads.is_empty() => continue,
            received = rx.recv_many(&mut batch, MAX_LOOKUPS) => received,
        };
        if received == 0 {
            break;
        }
        reads.spawn(answer_batch(pool.clone(), batch));
    }
    while reads.join_next().await.is_some() {}
}

/// Answers one batch: its lookups by id with one statement, those by digest with another.
async fn answer_batch(pool: PgPool, batch: Vec<Lookup>) {
    let (by_id, by_digest): (Vec<Lookup>, Vec<Lookup>) =
        batch.into_iter().partition(|l| matches!(l.key, Key::Id(_)));
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(error) => {
            fail_all(by_id.into_iter().chain(by_digest), &error.into());
            return;
        }
    };
    if !by_id.is_empty() {
        let ids: Vec<Uuid> = distinct(&by_id)
            .into_iter()
            .filter_map(|k| match k {
                Key::Id(id) => Some(*id),
                Key::Digest { .. } => None,
            })
            .collect();
        let rows = sqlx::query_as(sql::PG_SELECT_ARTIFACTS_BY_IDS)
            .bind(ids)
            .fetch_all(&mut *conn)
            .await;
        answer(by_id, rows.map_err(StoreError::from), true);
    }
    if !by_digest.is_empty() {
        let (projects, digests): (Vec<&str>, Vec<&str>) = distinct(&by_digest)
            .into_iter()
            .filter_map(|k| match k {
                Key::Digest { project, digest } => Some((project.as_str(), digest.as_str())),
                Key::Id(_) => None,
            })
            .unzip();
        let rows = match one_project(&projects) {
            Some(project) => {
                sqlx::query_as(sql::PG_SELECT_ARTIFACTS_BY_DIGESTS_IN_PROJECT)
                    .bind(project)
                    .bind(digests)
                    .fetch_all(&mut *conn)
                    .await
            }
            None => {
                sqlx::query_as(sql::PG_SELECT_ARTIFACTS_BY_DIGESTS)
                    .bind(projects)
                    .bind(digests)
                    .fetch_all(&mut *conn)
                    .await
            }
        };
        answer(by_digest, rows.map_err(StoreError::from), false);
    }
}

/// The project every key names, when they all name the same one (the usual batch under load):
/// then the cheaper one-project statement answers them; otherwise the per-key one does.
fn one_project<'a>(projects: &[&'a str]) -> Option<&'a str> {
    let (first, rest) = projects.split_first()?;
    rest.iter().all(|p| p == first).then_some(*first)
}

/// Each key once, in the order first asked.
fn distinct(lookups: &[Lookup]) -> Vec<&Key> {
    let mut seen = std::collections::HashSet::with_capacity(lookups.len());
    lookups
        .iter()
        .map(|l| &l.key)
        .filter(|k| seen.insert(*k))
        .collect()
}

/// Gives each lookup its own row (a copy where several asked for the same one), `None` where the
/// statement found none, or the statement's failure. A row that does not decode fails the whole
/// statement, though it is one caller's artifact: then each caller reads on its own, so only the
/// one whose row it is sees the error.
fn answer(lookups: Vec<Lookup>, rows: Result<Vec<ArtifactRow>, StoreError>, by_id: bool) {
    let rows = match rows {
        Ok(rows) => rows,
        Err(StoreError::Database(sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))) => {
            for lookup in lookups {
                let _ = lookup.done.send(None);
            }
            return;
        }
        Err(error) => return fail_all(lookups, &error),
    };
    for (lookup, row) in distribute(lookups, rows, by_id) {
        // A caller that gave up no longer listens.
        let _ = lookup.done.send(Some(Ok(row)));
    }
}

/// Pairs each lookup with its row; the last lookup of a key takes the row, earlier ones a copy.
fn distribute(
    lookups: Vec<Lookup>,
    rows: Vec<ArtifactRow>,
    by_id: bool,
) -> Vec<(Lookup, Option<ArtifactRow>)> {
    let mut remaining: HashMap<Key, usize> = HashMap::with_capacity(lookups.len());
    for l in &lookups {
        *remaining.entry(l.key.clone()).or_default() += 1;
    }
    let mut found: HashMap<Key, ArtifactRow> =
        rows.into_iter().map(|row| (Key::of(&row, by_id), row)).collect();
    lookups
        .into_iter()
        .map(|lookup| {
            let left = remaining.get_mut(&lookup.key).map_or(0, |n| {
                *n -= 1;
                *n
            });
            let row = if left == 0 {
                found.remove(&lookup.key)
            } else {
                found.get(&lookup.key).cloned()
            };
            (lookup, row)
        })
        .collect()
}

/// Fails every lookup closed with the statement's failure (the database's error is logged once,
/// here; each caller gets a copy of what it says).
fn fail_all(lookups: impl IntoIterator<Item = Lookup>, error: &StoreError) {
    tracing::error!(error = ?error, "coalesced artifact read failed");
    for lookup in lookups {
        let _ = lookup.done.send(Some(Err(copy_of(error))));
    }
}

/// `StoreError` is not `Clone` (sqlx's errors are not): the pool's own conditions keep their
/// kind, anything else becomes an I/O error carrying its text.
fn copy_of(error: &StoreError) -> StoreError {
    StoreError::Database(match error {
        StoreError::Database(sqlx::Error::PoolTimedOut) => sqlx::Error::PoolTimedOut,
        StoreError::Database(sqlx::Error::PoolClosed) => sqlx::Error::PoolClosed,
        other => sqlx::Error::Io(std::io::Error::other(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: Uuid, project: &str, digest: &str) -> ArtifactRow {
        let text = |s: &str| s.to_owned();
        ArtifactRow {
            id,
            project: text(project),
            app: text("app"),
            artifact_kind: text("oci"),
            artifact_type: text("container"),
            repository: text("repo"),
            digest: text(digest),
            tag: None,
            media_type: None,
            source_type: text("registry"),
            source_uri: text("oci://x"),
            source_ref: None,
            size_bytes: None,
            content_encoding: None,
            lifecycle_state: text("registered"),
            trust_state: text("unverified"),
            channels: sqlx::types::Json(Vec::new()),
            signature_verified: false,
            attestations: sqlx::types::Json(Vec::new()),
            created_by_type: text("user"),
            created_by_id: text("u"),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            version: 1,
            visibility: text("project"),
            tenant: None,
            trust_facts: sqlx::types::Json(crate::domain::TrustFacts::default()),
        }
    }

    fn lookups(keys: &[Key]) -> (Vec<Lookup>, Vec<oneshot::Receiver<Reply>>) {
        keys.iter()
            .map(|key| {
                let (done, rx) = oneshot::channel();
                (
                    Lookup {
                        key: key.clone(),
                        done,
                    },
                    rx,
                )
            })
            .unzip()
    }

    #[test]
    fn each_lookup_gets_its_own_row_and_a_missing_one_none() {
        let (a, b, missing) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let keys = [Key::Id(a), Key::Id(missing), Key::Id(b), Key::Id(a), Key::Id(a)];
        let (batch, _rx) = lookups(&keys);
        let paired = distribute(batch, vec![row(b, "p", "d2"), row(a, "p", "d1")], true);
        let got: Vec<(Key, Option<Uuid>)> = paired
            .iter()
            .map(|(l, r)| (l.key.clone(), r.as_ref().map(|r| r.id)))
            .collect();
        assert_eq!(
            got,
            [
                (Key::Id(a), Some(a)),
                (Key::Id(missing), None),
                (Key::Id(b), Some(b)),
                (Key::Id(a), Some(a)),
                (Key::Id(a), Some(a)),
            ]
        );
    }

    #[test]
    fn digest_lookups_match_on_project_and_digest() {
        let key = |p: &str, d: &str| Key::Digest {
            project: p.to_owned(),
            digest: d.to_owned(),
        };
        let id = Uuid::now_v7();
        let (batch, _rx) = lookups(&[key("p", "d"), key("q", "d"), key("p", "e")]);
        let paired = distribute(batch, vec![row(id, "p", "d")], false);
        let ids: Vec<Option<Uuid>> = paired.iter().map(|(_, r)| r.as_ref().map(|r| r.id)).collect();
        assert_eq!(ids, [Some(id), None, None]);
    }

    #[test]
    fn only_a_batch_within_one_project_reads_by_project() {
        assert_eq!(one_project(&["p"]), Some("p"));
        assert_eq!(one_project(&["p", "p", "p"]), Some("p"));
        assert_eq!(one_project(&["p", "q"]), None);
        assert_eq!(one_project(&["p", "p", "q"]), None);
        assert_eq!(one_project(&[]), None);
    }

    #[test]
    fn distinct_keys_keep_first_order() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (batch, _rx) = lookups(&[Key::Id(b), Key::Id(a), Key::Id(b)]);
        assert_eq!(distinct(&batch), [&Key::Id(b), &Key::Id(a)]);
    }

    #[tokio::test]
    async fn a_failed_statement_fails_every_waiter_closed() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (batch, receivers) = lookups(&[Key::Id(a), Key::Id(b), Key::Id(a)]);
        answer(batch, Err(StoreError::Database(sqlx::Error::PoolTimedOut)), true);
        for rx in receivers {
            assert!(matches!(
                rx.await,
                Ok(Some(Err(StoreError::Database(sqlx::Error::PoolTimedOut))))
            ));
        }
    }

    #[tokio::test]
    async fn a_row_that_does_not_decode_sends_every_caller_to_read_alone() {
        let (batch, receivers) = lookups(&[Key::Id(Uuid::now_v7()), Key::Id(Uuid::now_v7())]);
        let undecodable = sqlx::Error::Decode("not a list of channels".into());
        answer(batch, Err(StoreError::Database(undecodable)), true);
        for rx in receivers {
            assert!(matches!(rx.await, Ok(None)));
        }
    }

    #[tokio::test]
    async fn every_waiter_hears_its_answer() {
        let (a, missing) = (Uuid::now_v7(), Uuid::now_v7());
        let (batch, receivers) = lookups(&[Key::Id(a), Key::Id(missing)]);
        answer(batch, Ok(vec![row(a, "p", "d")]), true);
        let mut got = Vec::new();
        for rx in receivers {
            got.push(rx.await.unwrap().unwrap().unwrap().map(|r| r.id));
        }
        assert_eq!(got, [Some(a), None]);
    }
}
