//! Outcome counts as they happen: one atomic addition per count.
//!
//! Every request of a shadowed route ends in a counted outcome, most of
//! them `dropped_overloaded` at saturation, so counting one is on the
//! request's path. The [`super::recorder`] buckets counts by minute and
//! route before they go to the database; doing that for every count (the
//! wall clock, two locks, three map lookups) cost about 400 instructions,
//! as much as the rest of a refused mirror's bookkeeping together. A count
//! goes to its route's [`Tally`] instead, found under a read lock and added
//! to without one; the recorder moves tallies into its buckets when it
//! flushes, reads or restarts a route, so a count falls in the bucket of the
//! moment it is moved — at most one flush (a second) after it was made.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use shadow_diff::Outcome;

/// The count that is not an outcome: a comparison that found noise.
const WITH_NOISE: &str = "with_noise";
/// What a count may be of: every outcome (in [`Outcome::ALL`]'s order), then
/// [`WITH_NOISE`]. Any other label is counted the slow way, by the recorder.
const SLOTS: usize = Outcome::ALL.len() + 1;

/// The slot of `label` in a [`Tally`], if it has one.
fn slot(label: &str) -> Option<usize> {
    Outcome::ALL
        .iter()
        .position(|outcome| outcome.label() == label)
        .or_else(|| (label == WITH_NOISE).then_some(Outcome::ALL.len()))
}

/// The label of `slot`.
fn label(slot: usize) -> &'static str {
    Outcome::ALL.get(slot).map_or(WITH_NOISE, Outcome::label)
}

/// One route's counts not yet moved to the recorder, by slot.
#[derive(Debug, Default)]
struct Tally([AtomicU64; SLOTS]);

/// Every route's tally.
#[derive(Debug, Default)]
pub struct Tallies(RwLock<foldhash::HashMap<String, Arc<Tally>>>);

impl Tallies {
    /// Counts one `label` for `route`; `false` when `label` has no slot (nothing counted).
    pub fn add(&self, route: &str, label: &str) -> bool {
        let Some(slot) = slot(label) else {
            return false;
        };
        if let Some(tally) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            tally.0[slot].fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let mut routes = self.0.write().unwrap_or_else(PoisonError::into_inner);
        routes.entry(route.to_owned()).or_default().0[slot].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Takes every route's counts, leaving zeros: routes with none are left out.
    pub fn take_all(&self) -> Vec<(String, BTreeMap<String, u64>)> {
        let routes = self.0.read().unwrap_or_else(PoisonError::into_inner);
        routes
            .iter()
            .filter_map(|(route, tally)| {
                let counts = tally.take();
                (!counts.is_empty()).then(|| (route.clone(), counts))
            })
            .collect()
    }

    /// Takes `route`'s counts, leaving zeros.
    pub fn take(&self, route: &str) -> BTreeMap<String, u64> {
        let routes = self.0.read().unwrap_or_else(PoisonError::into_inner);
        routes.get(route).map(|t| t.take()).unwrap_or_default()
    }

    /// `route`'s counts, left in place.
    pub fn peek(&self, route: &str) -> BTreeMap<String, u64> {
        let routes = self.0.read().unwrap_or_else(PoisonError::into_inner);
        routes.get(route).map(|t| t.peek()).unwrap_or_default()
    }
}

impl Tally {
    fn take(&self) -> BTreeMap<String, u64> {
        self.collect(|n| n.swap(0, Ordering::Relaxed))
    }

    fn peek(&self) -> BTreeMap<String, u64> {
        self.collect(|n| n.load(Ordering::Relaxed))
    }

    fn collect(&self, read: impl Fn(&AtomicU64) -> u64) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(slot, n)| {
                let n = read(n);
                (n > 0).then(|| (label(slot).to_owned(), n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_and_with_noise_have_a_slot_of_their_own() {
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(slot(outcome.label()), Some(i));
        }
        assert_eq!(slot("with_noise"), Some(Outcome::ALL.len()));
        assert_eq!(slot("something_else"), None);
        for i in 0..SLOTS {
            assert_eq!(slot(label(i)), Some(i), "{}", label(i));
        }
    }

    #[test]
    fn counts_are_taken_once_per_route_and_label() {
        let tallies = Tallies::default();
        assert!(tallies.add("a", "match"));
        assert!(tallies.add("a", "match"));
        assert!(tallies.add("a", "dropped_overloaded"));
        assert!(tallies.add("b", "with_noise"));
        assert!(
            !tallies.add("b", "not_a_label"),
            "no slot: not counted here"
        );
        let expected = BTreeMap::from([
            ("dropped_overloaded".to_owned(), 1),
            ("match".to_owned(), 2),
        ]);
        assert_eq!(tallies.peek("a"), expected);
        assert_eq!(tallies.peek("a"), expected, "peeking leaves them");
        assert_eq!(tallies.take("a"), expected);
        assert!(tallies.take("a").is_empty(), "taken once");
        assert_eq!(
            tallies.take_all(),
            vec![(
                "b".to_owned(),
                BTreeMap::from([("with_noise".to_owned(), 1)])
            )]
        );
        assert!(tallies.take_all().is_empty());
        assert!(tallies.peek("unknown").is_empty());
    }

    #[test]
    fn concurrent_counts_are_all_taken_exactly_once() {
        let tallies = Arc::new(Tallies::default());
        let taken = Arc::new(AtomicU64::new(0));
        let counters: Vec<_> = (0..4)
            .map(|_| {
                let tallies = tallies.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        tallies.add("r", "match");
                    }
                })
            })
            .collect();
        let taker = {
            let (tallies, taken) = (tallies.clone(), taken.clone());
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    let n = tallies.take("r").get("match").copied().unwrap_or(0);
                    taken.fetch_add(n, Ordering::Relaxed);
                }
            })
        };
        for counter in counters {
            counter.join().expect("counts");
        }
        taker.join().expect("takes");
        let rest = tallies.take("r").get("match").copied().unwrap_or(0);
        assert_eq!(taken.load(Ordering::Relaxed) + rest, 40_000);
    }
}
