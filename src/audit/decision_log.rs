//! The decision-log writer: one task that group-commits decisions, while each caller waits for
//! its own record to be durable.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::DecisionRecord;
use crate::store::Store;

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

type Pending = (DecisionRecord, oneshot::Sender<Result<(), DecisionLogError>>);

/// Handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct DecisionLogWriter {
    tx: mpsc::Sender<Pending>,
}

impl DecisionLogWriter {
    /// Starts the writer; it commits up to `max_batch` queued decisions per transaction and
    /// stops once every handle is dropped and the queue is drained.
    pub fn spawn(store: Arc<dyn Store>, max_batch: usize) -> (Self, JoinHandle<()>) {
        let max_batch = max_batch.max(1);
        // The queue bound gives back-pressure: callers wait rather than grow memory without limit.
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let handle = tokio::spawn(run(store, rx, max_batch));
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

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let records: Vec<DecisionRecord> = batch.iter().map(|(d, _)| d.clone()).collect();
        let outcome = store.append_decisions(&records).await.map_err(|error| {
            tracing::error!(error = %error, batch = records.len(), "decision log batch failed");
            DecisionLogError::WriteFailed
        });
        for (_, done) in batch.drain(..) {
            // A caller that gave up (timeout) no longer listens; that is fine.
            let _ = done.send(outcome.clone());
        }
    }
}
