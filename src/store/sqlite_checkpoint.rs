//! SQLite's WAL checkpoints, run on a thread of their own instead of inside a commit.
//!
//! A checkpoint copies the pages committed to the WAL back into the database file. By default
//! the connection whose commit takes the WAL past 1,000 pages does it, inside that commit: under
//! load that is the decision writer, every few dozen batches, while every review waits for it.
//! And each of those checkpoints writes the same pages again: a batch rewrites the right edge of
//! the table and of most indexes, and `decisions_artifact` takes a different leaf per row (one
//! insertion point per artifact), so the fewer checkpoints, the fewer copies of each page.
//!
//! Here a thread checkpoints every `INTERVAL`, beside the writers: a passive checkpoint never
//! waits for a writer nor makes one wait. The writers' own automatic checkpoint stays, raised to
//! `BACKSTOP_PAGES`: it bounds the WAL if this thread falls behind or stops, and it is what lets
//! the WAL start over from its beginning (SQLite reuses the file only at a write that finds
//! every frame copied, which never happens beside a busy writer); by then this thread has copied
//! all but the last `INTERVAL`'s pages, so it stays short.
//!
//! Durability is unchanged: a commit is synced to the WAL before it is answered (`synchronous =
//! FULL`); a checkpoint only copies committed pages, and syncs the database file before any of
//! the WAL is reused.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often the thread checkpoints. At the review's peak the WAL grows by ~20,000 pages a
/// second, so each checkpoint copies a few thousand, every hot page once (BENCHMARKS.md,
/// `h/sqlitepages`: 100 ms copied a little more, 500 ms left more to the backstop).
const INTERVAL: Duration = Duration::from_millis(250);

/// The writers' automatic checkpoint (SQLite's `wal_autocheckpoint`, in pages; 1,000 by
/// default): a few intervals' worth at the peak, so this thread does nearly all the copying.
/// It is also how large the WAL file grows under sustained load (it is reused, not shrunk):
/// about 80 MB of 4 KiB pages.
pub(super) const BACKSTOP_PAGES: u32 = 20_000;

/// The checkpoint thread; it stops once this is dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    /// Never sent on: dropping it wakes the thread and stops it.
    _stop: Sender<()>,
    /// Checkpoints that found pages of the WAL copied (seen by the store's tests).
    #[cfg_attr(not(test), expect(dead_code, reason = "only the store's tests read it"))]
    copied: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Starts the thread for the database file at `path` (in WAL mode); it opens its connection
    /// at its first checkpoint.
    pub(super) fn spawn(path: &Path) -> std::io::Result<Self> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let copied = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&copied);
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("gatehouse-sqlite-checkpoint".to_owned())
            .spawn(move || {
                let mut conn: Option<Connection> = None;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    match checkpoint(&mut conn, &path) {
                        Ok(true) => {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(error) => {
                            // The writers' backstop checkpoints meanwhile; a fresh connection next time.
                            tracing::debug!(%error, "background SQLite checkpoint failed");
                            conn = None;
                        }
                    }
                }
            })?;
        Ok(Self { _stop: stop, copied })
    }

    /// How many checkpoints so far found pages of the WAL copied into the database file.
    #[cfg(test)]
    pub(super) fn checkpoints_that_copied(&self) -> u64 {
        self.copied.load(Ordering::Relaxed)
    }
}

/// One passive checkpoint: copies what it can without waiting for anyone. True when the WAL
/// held frames and some are copied.
fn checkpoint(conn: &mut Option<Connection>, path: &Path) -> rusqlite::Result<bool> {
    if conn.is_none() {
        *conn = Some(open(path)?);
    }
    let Some(conn) = conn.as_ref() else {
        return Err(rusqlite::Error::InvalidQuery);
    };
    // (busy, frames in the WAL, frames copied so far): SQLite answers -1 for both counts when
    // the database is not in WAL mode.
    let (_busy, frames, copied): (i64, i64, i64) =
        conn.query_row("pragma wal_checkpoint(passive)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    Ok(frames > 0 && copied > 0)
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    // Read-write (a checkpoint writes the database file), never creating it.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    // FULL: the database file is synced before the WAL may be reused (SQLite's default, stated).
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}
