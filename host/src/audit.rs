//! Data-plane audit events written off the request's hot path.
//!
//! With `QIMEM_AUDIT_DATA_PLANE=true` the component records every encrypt,
//! decrypt and rewrap. Those `append-audit` calls are answered at once and
//! the events queued; a background task writes them to the backend in
//! batches. Lifecycle events (create, rotate, ...) are still written
//! before the request is answered.
//!
//! The queue is bounded: when it is full the event is written directly,
//! so a slow store slows requests down rather than losing events.

use qimem_component::error::StoreError;
use qimem_component::model::AuditEvent;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use crate::store::Backend;

/// Most events waiting to be written.
const QUEUE: usize = 10_000;

/// Most events written in one batch.
const BATCH: usize = 256;

/// The actions that are queued rather than written at once.
pub fn is_data_plane(action: &str) -> bool {
    matches!(action, "encrypted" | "decrypted" | "rewrapped")
}

/// The sending side of the audit queue.
#[derive(Clone)]
pub struct AuditQueue {
    tx: mpsc::Sender<AuditEvent>,
    stop: Arc<Notify>,
}

impl AuditQueue {
    /// Start the writer task for `backend`. It ends after [`close`]
    /// once the queue is drained. Must run in a tokio runtime.
    ///
    /// [`close`]: AuditQueue::close
    pub fn start(backend: Backend) -> (AuditQueue, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<AuditEvent>(QUEUE);
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let n = tokio::select! {
                    n = rx.recv_many(&mut batch, BATCH) => n,
                    () = stopped.notified() => {
                        // Refuse new events (they are written directly)
                        // and drain what is queued.
                        rx.close();
                        rx.recv_many(&mut batch, BATCH).await
                    }
                };
                if n == 0 {
                    break;
                }
                write(&backend, &mut batch).await;
            }
        });
        (AuditQueue { tx, stop }, writer)
    }

    /// Stop queueing; the writer drains the queue and ends.
    pub fn close(&self) {
        self.stop.notify_one();
    }

    /// Queue `event`, or write it at once when the queue is full.
    pub async fn append(&self, event: AuditEvent, backend: &Backend) -> Result<(), StoreError> {
        match self.tx.try_send(event) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(event))
            | Err(mpsc::error::TrySendError::Closed(event)) => backend.append_audit(&event).await,
        }
    }
}

/// Write one batch, logging (never returning) what fails.
async fn write(backend: &Backend, batch: &mut Vec<AuditEvent>) {
    // TODO(issue 3): a multi-row insert for the PostgreSQL backend; today
    // each event is one append.
    for event in batch.drain(..) {
        if let Err(e) = backend.append_audit(&event).await {
            tracing::error!(
                action = event.action,
                error = ?e,
                "data-plane audit event not recorded"
            );
        }
    }
}
