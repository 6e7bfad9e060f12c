//! The bounded write path from comparisons to the database.
//!
//! Mismatch records go through a bounded queue to one writer task; when the
//! queue is full a record is dropped and counted
//! (`gateway_shadow_records_dropped_total`), never waited on. Outcome counts
//! are summed in memory and added to the database every second, so the
//! stored counts lag by at most that much ([`Recorder::pending_counts`] has
//! the rest).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::store::{MismatchRecord, ShadowStore};

/// Route → outcome → count.
pub type Counts = BTreeMap<String, BTreeMap<String, u64>>;

/// How the recorder keeps the tables bounded.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The most mismatch records kept (newest win).
    pub max_records: u64,
    /// Records older than this are deleted.
    pub max_age: Duration,
}

/// Hands comparison results to the database without ever blocking a caller.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<MismatchRecord>,
    pending: Arc<Mutex<Counts>>,
    store: ShadowStore,
}

/// How often counts are flushed and retention is applied.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const RETENTION_EVERY: Duration = Duration::from_secs(60);
const BATCH: usize = 100;

impl Recorder {
    /// Starts the writer task; `capacity` bounds the queue of records not yet written.
    pub fn spawn(
        store: ShadowStore,
        capacity: usize,
        retention: Retention,
    ) -> (Self, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let recorder = Self {
            queue,
            pending: Arc::new(Mutex::new(Counts::new())),
            store,
        };
        let writer = tokio::spawn(write_loop(recorder.clone(), receiver, retention));
        (recorder, writer)
    }

    /// Queues a mismatch record; returns `false` (and counts it) when the queue is full.
    pub fn record(&self, record: MismatchRecord) -> bool {
        match self.queue.try_send(record) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("gateway_shadow_records_dropped_total").increment(1);
                false
            }
        }
    }

    /// Counts one comparison outcome for `route`.
    pub fn count(&self, route: &str, outcome: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending
                .entry(route.to_owned())
                .or_default()
                .entry(outcome.to_owned())
                .or_default() += 1;
        }
    }

    /// Counts not yet written to the database.
    pub fn pending_counts(&self) -> Counts {
        self.pending.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The store the recorder writes to.
    pub fn store(&self) -> &ShadowStore {
        &self.store
    }

    /// Waits (at most `limit`) until every queued record has been taken by the writer.
    pub async fn wait_idle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.queue.capacity() < self.queue.max_capacity()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The last batch taken may still be in flight to the database.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Writes the pending counts now; on failure they are kept for the next try.
    pub async fn flush_counts(&self) {
        let taken = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        if taken.is_empty() {
            return;
        }
        if let Err(err) = self.store.add_counts(&taken).await {
            tracing::warn!(error = %err, "could not store shadow outcome counts; keeping them for the next flush");
            if let Ok(mut pending) = self.pending.lock() {
                for (route, outcomes) in taken {
                    for (outcome, n) in outcomes {
                        *pending
                            .entry(route.clone())
                            .or_default()
                            .entry(outcome)
                            .or_default() += n;
                    }
                }
            }
        }
    }
}

async fn write_loop(
    recorder: Recorder,
    mut receiver: mpsc::Receiver<MismatchRecord>,
    retention: Retention,
) {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    let mut retain = tokio::time::interval(RETENTION_EVERY);
    let max_age =
        chrono::Duration::from_std(retention.max_age).unwrap_or(chrono::Duration::days(7));
    loop {
        tokio::select! {
            received = receiver.recv() => {
                let Some(first) = received else { break };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match receiver.try_recv() {
                        Ok(record) => batch.push(record),
                        Err(_) => break,
                    }
                }
                if let Err(err) = recorder.store.insert(&batch).await {
                    metrics::counter!("gateway_shadow_records_dropped_total").increment(batch.len() as u64);
                    tracing::warn!(error = %err, records = batch.len(), "could not store shadow mismatch records");
                }
            }
            _ = flush.tick() => recorder.flush_counts().await,
            _ = retain.tick() => {
                if let Err(err) = recorder.store.apply_retention(retention.max_records, max_age).await {
                    tracing::warn!(error = %err, "could not apply shadow record retention");
                }
            }
        }
    }
    recorder.flush_counts().await;
}
