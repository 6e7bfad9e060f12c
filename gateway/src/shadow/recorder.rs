//! The bounded write path from comparisons to the database.
//!
//! Mismatch records go through a bounded queue to one writer task; when the
//! queue is full a record is dropped and counted
//! (`gateway_shadow_records_dropped_total`), never waited on. Outcome counts
//! are summed in memory per route and minute bucket and added to the
//! database every second, so the stored counts lag by at most that much
//! ([`Recorder::pending_since`] has the rest).
//!
//! A bucket starts at the minute, or at the route's latest restart within it
//! (a reset, new comparison rules: [`Recorder::restart`]), so a window that
//! starts at a restart takes whole buckets only. Resets made on other
//! replicas are read back at every flush.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::store::{BucketCounts, BucketKey, MismatchRecord, OutcomeCounts, ShadowStore};

/// How the recorder keeps the tables bounded.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The most mismatch records kept (newest win).
    pub max_records: u64,
    /// Records older than this are deleted.
    pub max_age: Duration,
    /// Outcome counts in buckets older than this are deleted.
    pub counts_max_age: Duration,
}

/// Hands comparison results to the database without ever blocking a caller.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<MismatchRecord>,
    pending: Arc<Mutex<PendingCounts>>,
    /// Route → the latest instant its results restarted, as far as this replica knows.
    restarts: Arc<Mutex<foldhash::HashMap<String, DateTime<Utc>>>>,
    /// Held for writing while pending counts move to the database, and for
    /// reading by whoever reads both ([`Recorder::counts_guard`]): a reader
    /// sees each count exactly once, pending or stored.
    flushing: Arc<tokio::sync::RwLock<()>>,
    store: ShadowStore,
}

/// Counts not yet stored: route → bucket → outcome → count. Keyed by route
/// first, so that counting one more (every shadowed request does) allocates
/// nothing once its route and outcome have been seen in the bucket.
type PendingCounts = foldhash::HashMap<String, BTreeMap<DateTime<Utc>, OutcomeCounts>>;

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
            pending: Arc::new(Mutex::new(PendingCounts::default())),
            restarts: Arc::new(Mutex::new(foldhash::HashMap::default())),
            flushing: Arc::new(tokio::sync::RwLock::new(())),
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
                metrics::counter!(crate::metrics::SHADOW_RECORDS_DROPPED_TOTAL).increment(1);
                false
            }
        }
    }

    /// Counts one comparison outcome for `route`, in the bucket of now.
    pub fn count(&self, route: &str, outcome: &str) {
        let bucket = self.bucket_of(route, now());
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let add = |buckets: &mut BTreeMap<DateTime<Utc>, OutcomeCounts>| {
            let outcomes = buckets.entry(bucket).or_default();
            match outcomes.get_mut(outcome) {
                Some(n) => *n += 1,
                None => {
                    outcomes.insert(outcome.to_owned(), 1);
                }
            }
        };
        match pending.get_mut(route) {
            Some(buckets) => add(buckets),
            None => add(pending.entry(route.to_owned()).or_default()),
        }
    }

    /// The bucket a count for `route` at `at` belongs to: its minute, or the
    /// route's latest restart when that falls within the minute.
    fn bucket_of(&self, route: &str, at: DateTime<Utc>) -> DateTime<Utc> {
        let seconds = at.timestamp();
        let minute = DateTime::from_timestamp(seconds - seconds.rem_euclid(60), 0).unwrap_or(at);
        let restart = self
            .restarts
            .lock()
            .ok()
            .and_then(|r| r.get(route).copied());
        match restart {
            Some(restart) if restart > minute && restart <= at => restart,
            _ => minute,
        }
    }

    /// Notes that `route`'s results restart at `at` (a reset, new rules): later counts start a new bucket.
    pub fn restart(&self, route: &str, at: DateTime<Utc>) {
        if let Ok(mut restarts) = self.restarts.lock() {
            let latest = restarts.entry(route.to_owned()).or_insert(at);
            *latest = (*latest).max(at);
        }
    }

    /// `route`'s counts not yet written to the database, in buckets that start at or after `since`.
    pub fn pending_since(&self, route: &str, since: Option<DateTime<Utc>>) -> OutcomeCounts {
        let mut counts = OutcomeCounts::new();
        if let Ok(pending) = self.pending.lock()
            && let Some(buckets) = pending.get(route)
        {
            for (bucket, outcomes) in buckets {
                if since.is_none_or(|since| *bucket >= since) {
                    add_into(&mut counts, outcomes);
                }
            }
        }
        counts
    }

    /// `route`'s counts not yet written to the database, per bucket.
    pub fn pending_buckets(&self, route: &str) -> Vec<(DateTime<Utc>, OutcomeCounts)> {
        self.pending
            .lock()
            .map(|pending| {
                pending.get(route).map_or_else(Vec::new, |buckets| {
                    buckets
                        .iter()
                        .map(|(bucket, outcomes)| (*bucket, outcomes.clone()))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// The store the recorder writes to.
    pub fn store(&self) -> &ShadowStore {
        &self.store
    }

    /// Whether records' originals are sealed (a `shadow_records.seal_key` is set).
    pub fn seals(&self) -> bool {
        self.store.seals()
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

    /// Hold this while reading the stored counts and the pending ones
    /// together: no flush moves counts from one to the other meanwhile.
    pub async fn counts_guard(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.flushing.read().await
    }

    /// Writes the pending counts now; on failure they are kept for the next try.
    pub async fn flush_counts(&self) {
        let _flushing = self.flushing.write().await;
        let taken: BucketCounts = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending)
                .into_iter()
                .flat_map(|(route, buckets)| {
                    buckets.into_iter().map(move |(bucket, outcomes)| {
                        let route = route.clone();
                        (BucketKey { route, bucket }, outcomes)
                    })
                })
                .collect(),
            Err(_) => return,
        };
        if taken.is_empty() {
            return;
        }
        if let Err(err) = self.store.add_counts(&taken).await {
            tracing::warn!(error = %err, "could not store shadow outcome counts; keeping them for the next flush");
            if let Ok(mut pending) = self.pending.lock() {
                for (key, outcomes) in taken {
                    let buckets = pending.entry(key.route).or_default();
                    add_into(buckets.entry(key.bucket).or_default(), &outcomes);
                }
            }
        }
    }

    /// Learns the resets other replicas made.
    async fn refresh_restarts(&self) {
        match self.store.resets().await {
            Ok(resets) => {
                for (route, at) in resets {
                    self.restart(&route, at);
                }
            }
            Err(err) => tracing::debug!(error = %err, "could not read shadow result resets"),
        }
    }
}

/// Adds `more` into `counts`, outcome by outcome.
pub fn add_into(counts: &mut OutcomeCounts, more: &OutcomeCounts) {
    for (outcome, n) in more {
        *counts.entry(outcome.clone()).or_default() += n;
    }
}

/// Now, to the microsecond: what the database keeps, so instants read back compare equal.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
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
                    metrics::counter!(crate::metrics::SHADOW_RECORDS_DROPPED_TOTAL).increment(batch.len() as u64);
                    tracing::warn!(error = %err, records = batch.len(), "could not store shadow mismatch records");
                }
            }
            _ = flush.tick() => {
                recorder.flush_counts().await;
                recorder.refresh_restarts().await;
            }
            _ = retain.tick() => {
                if let Err(err) = recorder.store.apply_retention(retention.max_records, max_age).await {
                    tracing::warn!(error = %err, "could not apply shadow record retention");
                }
                let counts_max_age = chrono::Duration::from_std(retention.counts_max_age)
                    .unwrap_or(chrono::Duration::days(30));
                if let Err(err) = recorder.store.forget_counts_before(Utc::now() - counts_max_age).await {
                    tracing::warn!(error = %err, "could not apply shadow count retention");
                }
            }
        }
    }
    recorder.flush_counts().await;
}
