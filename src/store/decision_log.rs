//! The decision-log writer: one task that group-commits decisions, while each caller waits for
//! its own record to be durable. A store may take several batches committing at once
//! (`decision_batches_in_flight`), each answering only its own callers; both stores take one.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::Store;
use crate::audit::DecisionRecord;

/// The decision could not be made durable; the request must fail closed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DecisionLogError {
    /// The database refused or failed the batch.
    #[error("the decision log could not be written")]
    WriteFailed,
    /// The writer has shut down.
    #[error("the decision log writer has stopped")]
    Stopped,
}

type Pending = (DecisionRecord, Waiter);

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct DecisionLogWriter {
    tx: mpsc::Sender<Pending>,
}

impl DecisionLogWriter {
    /// Starts the writer; it commits up to `max_batch` queued decisions per transaction, with
    /// as many batches in flight at once as the store takes (`decision_batches_in_flight`), and
    /// stops once every handle is dropped and the queue is drained.
    pub fn spawn(store: Arc<dyn Store>, max_batch: usize) -> (Self, JoinHandle<()>) {
        let max_batch = max_batch.max(1);
        let in_flight = store.decision_batches_in_flight().max(1);
        // The queue bound gives back-pressure: callers wait rather than grow memory without limit.
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let handle = tokio::spawn(run(store, rx, max_batch, in_flight));
        (Self { tx }, handle)
    }

    /// Queues a decision and waits until it is committed.
    pub async fn record(&self, decision: DecisionRecord) -> Result<(), DecisionLogError> {
        let (done_tx, done_rx) = oneshot::channel();
        self.tx
            .send((decision, done_tx))
            .await
            .map_err(|_| DecisionLogError::Stopped)?;
        done_rx.await.map_err(|_| DecisionLogError::Stopped)?
    }
}

/// Gathers the next batch while earlier ones commit: with one batch in flight a review waits
/// for the batch ahead of it to finish before its own starts, and the writer's round trips to
/// the database, not the database, set the rate.
async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>, max_batch: usize, in_flight: usize) {
    let mut commits = JoinSet::new();
    loop {
        if commits.len() >= in_flight {
            // Every slot is busy: the queue fills meanwhile and becomes the next batch.
            let _ = commits.join_next().await;
            continue;
        }
        let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
        let received = tokio::select! {
            // A finished commit frees a slot but gathers nothing: go round again.
            Some(_) = commits.join_next(), if !commits.is_empty() => continue,
            received = rx.recv_many(&mut batch, max_batch) => received,
        };
        if received == 0 {
            break;
        }
        commits.spawn(commit_batch(Arc::clone(&store), batch));
    }
    // Every handle is gone and the queue is drained: let the last batches finish.
    while commits.join_next().await.is_some() {}
}

/// Commits one batch and answers each of its callers.
async fn commit_batch(store: Arc<dyn Store>, batch: Vec<Pending>) {
    // Records move out of the batch, never cloned.
    let (records, mut waiters): (Vec<DecisionRecord>, Vec<Waiter>) = batch.into_iter().unzip();
    match store.append_decisions(&records).await {
        Ok(()) => answer_all(&mut waiters, &Ok(())),
        Err(error) if records.len() > 1 && error.is_refusal() => {
            tracing::warn!(error = %error, batch = records.len(), "decision log batch refused; writing its records one by one");
            commit_one_by_one(store.as_ref(), &records, &mut waiters).await;
        }
        Err(error) => {
            tracing::error!(error = %error, batch = records.len(), "decision log batch failed");
            answer_all(&mut waiters, &Err(DecisionLogError::WriteFailed));
        }
    }
}

type Waiter = oneshot::Sender<Result<(), DecisionLogError>>;

fn answer_all(waiters: &mut Vec<Waiter>, outcome: &Result<(), DecisionLogError>) {
    for done in waiters.drain(..) {
        // A caller that gave up (timeout) no longer listens; that is fine.
        let _ = done.send(outcome.clone());
    }
}

/// The database refused the batch for what one of its records holds (e.g. a NUL byte that
/// PostgreSQL text cannot store): the batch rolled back whole, so each record is retried in its
/// own transaction. The refused one fails closed; the others are committed and answered, so one
/// caller's input never fails another's request.
async fn commit_one_by_one(store: &dyn Store, records: &[DecisionRecord], waiters: &mut Vec<Waiter>) {
    let mut database_failed = false;
    for (record, done) in records.iter().zip(waiters.drain(..)) {
        // Once the database itself fails (not a refusal), the rest would only wait to fail too.
        let outcome = if database_failed {
            Err(DecisionLogError::WriteFailed)
        } else {
            store
                .append_decisions(std::slice::from_ref(record))
                .await
                .map_err(|error| {
                    tracing::error!(error = %error, decision = %record.id, "decision log record refused");
                    database_failed = !error.is_refusal();
                    DecisionLogError::WriteFailed
                })
        };
        let _ = done.send(outcome);
    }
}
