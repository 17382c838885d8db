//! One verification of an artifact at a time in this process: a verify call and the queued job
//! of the same artifact take turns instead of racing to commit, each reading the version the
//! other left. Across processes the version check at commit (and a re-run) does the same job;
//! this only spares the wasted run.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::ArtifactId;

/// A lock per artifact, held only while someone holds or waits for it.
#[derive(Default)]
pub(super) struct ArtifactTurns {
    turns: Mutex<HashMap<ArtifactId, Arc<tokio::sync::Mutex<()>>>>,
}

impl ArtifactTurns {
    /// Runs `work` once no other work of `artifact` is running, in arrival order.
    pub(super) async fn serialize<F: Future>(&self, artifact: ArtifactId, work: F) -> F::Output {
        let entry = self.enter(artifact);
        let _turn = entry.lock.lock().await;
        work.await
    }

    /// The artifact's lock, created on first use; the entry leaves the map with its last user.
    fn enter(&self, artifact: ArtifactId) -> Entry<'_> {
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(turns.entry(artifact).or_default());
        Entry {
            turns: self,
            artifact,
            lock,
        }
    }

    /// Artifacts with work running or waiting (for tests: an idle map is empty).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.turns.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// One user's hold on an artifact's lock (running or waiting, even if cancelled while waiting).
struct Entry<'a> {
    turns: &'a ArtifactTurns,
    artifact: ArtifactId,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut turns = self.turns.turns.lock().unwrap_or_else(PoisonError::into_inner);
        // INVARIANT: every clone is made and counted under the map's lock, so two references
        // (the map's and ours) mean nobody else runs or waits.
        if Arc::strong_count(&self.lock) == 2 {
            turns.remove(&self.artifact);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_on_one_artifact_never_overlaps_and_leaves_nothing_behind() {
        let turns = Arc::new(ArtifactTurns::default());
        let artifact = ArtifactId::new();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (turns, running, most) = (turns.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    turns
                        .serialize(artifact, async {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert_eq!(turns.len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn different_artifacts_run_at_once() {
        let turns = ArtifactTurns::default();
        let (a, b) = (ArtifactId::new(), ArtifactId::new());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // `a` waits for `b`'s signal: if they were serialized this would never finish.
        let both = async {
            tokio::join!(
                turns.serialize(a, async { rx.await.unwrap() }),
                turns.serialize(b, async { tx.send(()).unwrap() }),
            )
        };
        tokio::time::timeout(Duration::from_secs(5), both).await.unwrap();
        assert_eq!(turns.len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_that_gives_up_leaves_nothing_behind() {
        let turns = ArtifactTurns::default();
        let artifact = ArtifactId::new();
        let (release, held) = tokio::sync::oneshot::channel::<()>();
        let holder = turns.serialize(artifact, async { held.await.unwrap() });
        let impatient = tokio::time::timeout(Duration::from_millis(20), turns.serialize(artifact, async {}));
        let (_, gave_up) = tokio::join!(holder, async {
            let gave_up = impatient.await;
            release.send(()).unwrap();
            gave_up
        });
        assert!(gave_up.is_err(), "the waiter timed out while the holder ran");
        assert_eq!(turns.len(), 0);
    }
}
