//! SQLite's WAL checkpoints, on a thread of their own instead of inside a commit.
//!
//! By default the connection whose commit takes the WAL past 1,000 pages checkpoints at once,
//! before that commit returns: it copies the WAL's pages into the database file and syncs the
//! file, and every caller waiting on that commit (a decision batch's reviews) waits for it too.
//! Paced at 2,000 reviews/s that was ~10 checkpoints a second, each a copy and a 3–20 ms sync
//! in the review's path (`h/pacedtail` in BENCHMARKS.md). Here the writers checkpoint
//! only as a backstop, far later, and this thread checkpoints (`PASSIVE`: beside the writers,
//! never blocking them) a few times a second. Durability is unchanged: a commit is durable once
//! its WAL frames are synced (`synchronous = FULL`); a checkpoint only moves committed pages.
//!
//! SQLite starts the WAL over only when a writer begins with all of it checkpointed, which under
//! steady writes happens right after a writer's own checkpoint: the WAL grows to the backstop
//! (~40 MB) before it is reset.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The WAL size (pages) at which a writer's own commit checkpoints: only if this thread falls
/// far behind or is gone (`wal_autocheckpoint` on every writing connection; SQLite's is 1,000).
pub(super) const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// How often the thread checkpoints: a few times a second keeps the WAL to a few MB under the
/// unpaced load, and a round with nothing new to copy costs a lock and a header read.
const INTERVAL: Duration = Duration::from_millis(250);

/// The checkpoint thread of one store; it stops when this is dropped.
#[derive(Debug)]
pub(super) struct WalCheckpointer {
    /// Dropped with the store: the thread sees the channel close and ends.
    _stop: mpsc::Sender<()>,
    /// The most WAL frames a round found copied into the database file (what tests wait for).
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the tests only"))]
    backfilled: Arc<AtomicU64>,
}

impl WalCheckpointer {
    /// Starts checkpointing the WAL of the database file at `path` (a file in WAL mode, already
    /// migrated: the thread opens its connection on its first round).
    pub(super) fn spawn(path: &Path) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let backfilled = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&backfilled);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("gatehouse-sqlite-checkpoint".to_owned())
            .spawn(move || {
                let mut conn: Option<Connection> = None;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    match checkpoint(&mut conn, &path) {
                        Ok(frames) => {
                            counter.fetch_max(frames, Ordering::Relaxed);
                        }
                        Err(error) => {
                            // The writers' backstop still checkpoints; try a fresh connection.
                            tracing::debug!(%error, "SQLite WAL checkpoint failed");
                            conn = None;
                        }
                    }
                }
            })?;
        Ok(Self {
            _stop: stop,
            backfilled,
        })
    }

    /// The most WAL frames a round found copied into the database file.
    #[cfg(test)]
    pub(super) fn frames_backfilled(&self) -> u64 {
        self.backfilled.load(Ordering::Relaxed)
    }
}

/// One passive checkpoint; answers how many of the WAL's frames stand in the database file.
fn checkpoint(conn: &mut Option<Connection>, path: &Path) -> rusqlite::Result<u64> {
    if conn.is_none() {
        *conn = Some(open(path)?);
    }
    let Some(conn) = conn.as_ref() else {
        return Ok(0);
    };
    // (busy, frames in the WAL, frames in the database file); busy: another checkpoint runs.
    let (_busy, _log, checkpointed): (i64, i64, i64) =
        conn.query_row("pragma wal_checkpoint(passive)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    Ok(u64::try_from(checkpointed).unwrap_or(0))
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    // A checkpoint syncs the database file as the writers' would (`synchronous = FULL`).
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Writes nothing, so never an automatic checkpoint of its own. (A passive checkpoint never
    // waits for a lock: a busy round copies what it can and the next one tries again.)
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the writer's own checkpoints off, the WAL's frames still reach the database file:
    /// this thread copies them.
    #[test]
    fn the_thread_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let writer = Connection::open(&path).unwrap();
        let mode: String = writer
            .query_row("pragma journal_mode = wal", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("create table t (v text); insert into t values (hex(randomblob(5000)));")
            .unwrap();

        let checkpointer = WalCheckpointer::spawn(&path).unwrap();
        // Waits for the thread's rounds; the bound only stops a broken build hanging.
        for _ in 0..600 {
            if checkpointer.frames_backfilled() > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            checkpointer.frames_backfilled() > 0,
            "no WAL frame was checkpointed"
        );
        // What it copied is what the writer committed.
        let reader = Connection::open(&path).unwrap();
        let n: i64 = reader
            .query_row("select count(*) from t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
