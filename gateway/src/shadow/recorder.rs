//! The bounded write path from comparisons to the database.
//!
//! Mismatch records go through a bounded queue to one writer task; when the
//! queue is full a record is dropped and counted
//! (`gateway_shadow_records_dropped_total`), never waited on. Outcome counts
//! are added up per route as they happen ([`super::tally`]), moved into
//! minute buckets and added to the database every second, so the stored
//! counts lag by at most that much ([`Recorder::pending_since`] has the
//! rest).
//!
//! A bucket starts at the minute, or at the route's latest restart within it
//! (a reset, new comparison rules: [`Recorder::restart`]), so a window that
//! starts at a restart takes whole buckets only. Resets made on other
//! replicas are read back at every flush.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::store::{BucketCounts, BucketKey, MismatchRecord, OutcomeCounts, ShadowStore};
use super::tally::Tallies;

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
    /// Counts as they happen, not yet in a bucket: moved into `pending`
    /// under its lock, so that a reader holding it sees each count once.
    tallies: Arc<Tallies>,
    pending: Arc<Mutex<Pending>>,
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

/// The counts not yet stored, and the minute counted in last.
#[derive(Default)]
struct Pending {
    counts: PendingCounts,
    /// The start of the minute counted in last, in Unix seconds and as an
    /// instant: turning seconds into a date is calendar arithmetic, done
    /// once a minute rather than for every count.
    minute: Option<(i64, DateTime<Utc>)>,
}

impl Pending {
    /// Adds `n` of `outcome` for `route`, in the bucket of `at` (Unix microseconds).
    fn add(&mut self, route: &str, outcome: &str, n: u64, at: i64, restart: Option<DateTime<Utc>>) {
        let bucket = self.bucket_of(at, restart);
        let add = |buckets: &mut BTreeMap<DateTime<Utc>, OutcomeCounts>| {
            let outcomes = buckets.entry(bucket).or_default();
            match outcomes.get_mut(outcome) {
                Some(count) => *count += n,
                None => {
                    outcomes.insert(outcome.to_owned(), n);
                }
            }
        };
        match self.counts.get_mut(route) {
            Some(buckets) => add(buckets),
            None => add(self.counts.entry(route.to_owned()).or_default()),
        }
    }

    /// The bucket of a count at `at` (Unix microseconds): its minute, or
    /// `restart` (the route's latest) when that falls within the minute.
    fn bucket_of(&mut self, at: i64, restart: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let seconds = at.div_euclid(1_000_000);
        let start = seconds - seconds.rem_euclid(60);
        let minute = match self.minute {
            Some((cached, minute)) if cached == start => minute,
            _ => {
                let minute = DateTime::from_timestamp(start, 0).unwrap_or_default();
                self.minute = Some((start, minute));
                minute
            }
        };
        match restart {
            Some(restart) if (start * 1_000_000 + 1..=at).contains(&restart.timestamp_micros()) => {
                restart
            }
            _ => minute,
        }
    }
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
            tallies: Arc::new(Tallies::default()),
            pending: Arc::new(Mutex::new(Pending::default())),
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

    /// Counts one comparison outcome for `route`: added to its tally, in
    /// the bucket of the moment the tally is next moved (a flush, a read,
    /// a restart of the route).
    pub fn count(&self, route: &str, outcome: &str) {
        if !self.tallies.add(route, outcome) {
            self.count_at(route, outcome, 1, unix_micros(SystemTime::now()));
        }
    }

    /// Counts `n` of `outcome` for `route` at `at`, in Unix microseconds.
    fn count_at(&self, route: &str, outcome: &str, n: u64, at: i64) {
        let restart = self.latest_restart(route);
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        pending.add(route, outcome, n, at, restart);
    }

    fn latest_restart(&self, route: &str) -> Option<DateTime<Utc>> {
        self.restarts
            .lock()
            .ok()
            .and_then(|r| r.get(route).copied())
    }

    /// Moves the tallies of `routes` (`None`: every route's) into their
    /// buckets of now; `pending` is the recorder's, locked by the caller.
    fn settle(&self, pending: &mut Pending, routes: Option<&str>) {
        let tallies = match routes {
            Some(route) => vec![(route.to_owned(), self.tallies.take(route))],
            None => self.tallies.take_all(),
        };
        let at = unix_micros(SystemTime::now());
        for (route, counts) in tallies {
            let restart = self.latest_restart(&route);
            for (outcome, n) in counts {
                pending.add(&route, &outcome, n, at, restart);
            }
        }
    }

    /// Notes that `route`'s results restart at `at` (a reset, new rules): later counts start a new bucket.
    pub fn restart(&self, route: &str, at: DateTime<Utc>) {
        // Counts made before the restart stay in the buckets before it.
        if let Ok(mut pending) = self.pending.lock() {
            self.settle(&mut pending, Some(route));
        }
        if let Ok(mut restarts) = self.restarts.lock() {
            let latest = restarts.entry(route.to_owned()).or_insert(at);
            *latest = (*latest).max(at);
        }
    }

    /// `route`'s counts not yet written to the database, in buckets that start at or after `since`.
    pub fn pending_since(&self, route: &str, since: Option<DateTime<Utc>>) -> OutcomeCounts {
        let mut counts = OutcomeCounts::new();
        if let Ok(mut pending) = self.pending.lock() {
            self.settle(&mut pending, Some(route));
            if let Some(buckets) = pending.counts.get(route) {
                for (bucket, outcomes) in buckets {
                    if since.is_none_or(|since| *bucket >= since) {
                        add_into(&mut counts, outcomes);
                    }
                }
            }
        }
        counts
    }

    /// `route`'s counts not yet written to the database, per bucket.
    pub fn pending_buckets(&self, route: &str) -> Vec<(DateTime<Utc>, OutcomeCounts)> {
        self.pending
            .lock()
            .map(|mut pending| {
                self.settle(&mut pending, Some(route));
                pending.counts.get(route).map_or_else(Vec::new, |buckets| {
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
            Ok(mut pending) => {
                self.settle(&mut pending, None);
                std::mem::take(&mut pending.counts)
                    .into_iter()
                    .flat_map(|(route, buckets)| {
                        buckets.into_iter().map(move |(bucket, outcomes)| {
                            let route = route.clone();
                            (BucketKey { route, bucket }, outcomes)
                        })
                    })
                    .collect()
            }
            Err(_) => return,
        };
        if taken.is_empty() {
            return;
        }
        if let Err(err) = self.store.add_counts(&taken).await {
            tracing::warn!(error = %err, "could not store shadow outcome counts; keeping them for the next flush");
            if let Ok(mut pending) = self.pending.lock() {
                for (key, outcomes) in taken {
                    let buckets = pending.counts.entry(key.route).or_default();
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

/// `at` in microseconds since the Unix epoch (negative before it).
fn unix_micros(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |us| -us),
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn instant(micros: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(micros).expect("in range")
    }

    #[test]
    fn a_count_falls_in_its_minute_or_in_the_latest_restart_within_it() {
        let mut pending = Pending::default();
        // 2026-12-02 10:00:00 UTC, and 42.5 s into that minute.
        let minute = 1_796_205_600 * SECOND;
        let at = minute + 42 * SECOND + SECOND / 2;
        assert_eq!(pending.bucket_of(at, None), instant(minute));
        // The cached minute serves the same minute, and a new one replaces it.
        assert_eq!(pending.bucket_of(minute, None), instant(minute));
        let next = minute + 60 * SECOND;
        assert_eq!(pending.bucket_of(next + 1, None), instant(next));
        assert_eq!(pending.bucket_of(at, None), instant(minute), "back again");
        // A restart within the minute, at or before the count, starts its bucket.
        let restart = instant(minute + 10 * SECOND + 7);
        assert_eq!(pending.bucket_of(at, Some(restart)), restart);
        assert_eq!(
            pending.bucket_of(minute + 10 * SECOND + 7, Some(restart)),
            restart,
            "a count at the restart's instant"
        );
        // Not a restart after the count, nor one at the minute's start or before.
        assert_eq!(
            pending.bucket_of(minute + 5 * SECOND, Some(restart)),
            instant(minute)
        );
        assert_eq!(
            pending.bucket_of(at, Some(instant(minute))),
            instant(minute)
        );
        assert_eq!(
            pending.bucket_of(at, Some(instant(minute - SECOND))),
            instant(minute)
        );
    }

    #[test]
    fn unix_microseconds_match_chrono() {
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_796_205_642, 123_456_789);
        let expected = DateTime::<Utc>::from(at).timestamp_micros();
        assert_eq!(unix_micros(at), expected);
        assert_eq!(
            unix_micros(SystemTime::UNIX_EPOCH - Duration::from_micros(5)),
            -5
        );
    }
}
