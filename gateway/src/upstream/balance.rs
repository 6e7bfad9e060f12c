//! Which address of an upstream takes the next request: [`Balancer`], the
//! balancing (`round_robin`, `least_requests`) and the passive health of
//! each address.
//!
//! # Passive health
//!
//! A *failure* is a connection that could not be made (refused, reset,
//! connect timeout, TLS handshake) or that died before the response head;
//! a response, 5xx included, is a success, and so is a response head that
//! comes too late (a slow route is not a dead address). An address that
//! fails [`HealthPolicy::failures`] times in a row is *ejected*: skipped
//! for [`HealthPolicy::eject`], then tried again. Its failure count is not
//! reset by the ejection, so the first failure after it ejects it again at
//! once (half-open), while one success readmits it for good. When every
//! address left is ejected, the one ejected longest ago is tried rather than
//! none.
//!
//! With one address nothing is balanced: [`Balancer::pick`] returns it
//! without reading the clock or any counter, and a success costs one load.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_routing::{Balance, HealthPolicy};
use serde::Serialize;

/// The most addresses one upstream may have: the addresses a request tried
/// are a bit set in a `u64`.
pub(crate) const MAX_ADDRESSES: usize = 64;

/// The balancing and health state of one upstream's addresses, shared by its requests.
#[derive(Debug)]
pub(crate) struct Balancer {
    addresses: Vec<AddressState>,
    balance: Balance,
    health: HealthPolicy,
    /// Round-robin position.
    next: AtomicUsize,
    /// Instants are kept as nanoseconds since this one.
    epoch: Instant,
}

#[derive(Debug, Default)]
struct AddressState {
    /// Requests sent to the address whose response has not ended.
    in_flight: AtomicUsize,
    /// Failures in a row; a success resets it.
    failures: AtomicU32,
    /// Until when the address is skipped, in nanoseconds since the epoch; 0 when never ejected.
    ejected_until: AtomicU64,
    /// How many times the address was ejected.
    ejections: AtomicU64,
}

/// The addresses a request has tried, as a bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tried(u64);

impl Tried {
    /// Marks address `index` as tried.
    pub(crate) fn add(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    fn has(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
}

/// One address's health, for `/-/upstreams`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AddressHealth {
    /// `healthy` or `ejected`.
    pub state: &'static str,
    /// Failures in a row now.
    pub consecutive_failures: u32,
    /// Times the address was ejected since the upstream was configured.
    pub ejections: u64,
    /// Requests whose response has not ended.
    pub in_flight: usize,
    /// For an ejected address, the milliseconds until it is tried again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readmitted_in_ms: Option<u64>,
}

impl Balancer {
    /// The state of `count` addresses (1 to [`MAX_ADDRESSES`]), all healthy.
    pub(crate) fn new(count: usize, balance: Balance, health: HealthPolicy) -> Self {
        Self {
            addresses: (0..count.clamp(1, MAX_ADDRESSES))
                .map(|_| AddressState::default())
                .collect(),
            balance,
            health,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whether there is more than one address (else nothing is balanced or failed over).
    pub(crate) fn is_balanced(&self) -> bool {
        self.addresses.len() > 1
    }

    fn nanos(&self, at: Instant) -> u64 {
        // Never 0: 0 means "never ejected".
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn is_ejected(&self, state: &AddressState, now: Instant) -> bool {
        let until = state.ejected_until.load(Ordering::Relaxed);
        until != 0 && self.nanos(now) < until
    }

    /// The address for the next attempt of a request that already tried `tried`:
    /// a healthy untried one by the balancing rule, else the untried one
    /// ejected longest ago; `None` when every address was tried.
    pub(crate) fn pick(&self, tried: Tried, now: impl FnOnce() -> Instant) -> Option<usize> {
        let count = self.addresses.len();
        if count == 1 {
            return (!tried.has(0)).then_some(0);
        }
        let now = now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let candidates = (0..count)
            .map(|offset| (start + offset) % count)
            .filter(|&i| !tried.has(i));
        let healthy = candidates
            .clone()
            .filter(|&i| !self.is_ejected(&self.addresses[i], now));
        let chosen = match self.balance {
            Balance::RoundRobin => healthy.clone().next(),
            // `min_by_key` keeps the first of equals: ties go round robin.
            Balance::LeastRequests => {
                healthy.min_by_key(|&i| self.addresses[i].in_flight.load(Ordering::Relaxed))
            }
        };
        chosen.or_else(|| {
            candidates.min_by_key(|&i| self.addresses[i].ejected_until.load(Ordering::Relaxed))
        })
    }

    /// Counts a request in flight on `index` until the guard is dropped.
    pub(crate) fn start(self: &std::sync::Arc<Self>, index: usize) -> InFlight {
        if let Some(state) = self.addresses.get(index) {
            state.in_flight.fetch_add(1, Ordering::Relaxed);
        }
        InFlight {
            balancer: std::sync::Arc::clone(self),
            index,
        }
    }

    /// Records that `index` answered: its failures are forgotten and, if it
    /// was ejected, it is readmitted. Returns whether it was ejected.
    pub(crate) fn succeeded(&self, index: usize) -> bool {
        let Some(state) = self.addresses.get(index) else {
            return false;
        };
        if state.failures.load(Ordering::Relaxed) == 0 {
            return false;
        }
        state.failures.store(0, Ordering::Relaxed);
        state.ejected_until.swap(0, Ordering::Relaxed) != 0
    }

    /// Records a failure of `index` at `now`; returns the ejection's length
    /// when this failure ejected it.
    pub(crate) fn failed(&self, index: usize, now: Instant) -> Option<Duration> {
        let state = self.addresses.get(index)?;
        let failures = state
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if failures < self.health.failures || self.is_ejected(state, now) {
            return None;
        }
        let until = self.nanos(now + self.health.eject);
        state.ejected_until.store(until, Ordering::Relaxed);
        state.ejections.fetch_add(1, Ordering::Relaxed);
        Some(self.health.eject)
    }

    /// Each address's health at `now`, in the order of the upstream's `urls`.
    pub(crate) fn health(&self, now: Instant) -> Vec<AddressHealth> {
        self.addresses
            .iter()
            .map(|state| {
                let ejected = self.is_ejected(state, now);
                let until = state.ejected_until.load(Ordering::Relaxed);
                AddressHealth {
                    state: if ejected { "ejected" } else { "healthy" },
                    consecutive_failures: state.failures.load(Ordering::Relaxed),
                    ejections: state.ejections.load(Ordering::Relaxed),
                    in_flight: state.in_flight.load(Ordering::Relaxed),
                    readmitted_in_ms: ejected
                        .then(|| until.saturating_sub(self.nanos(now)) / 1_000_000),
                }
            })
            .collect()
    }
}

/// A request in flight on one address (for `least_requests`), until dropped.
#[derive(Debug)]
pub(crate) struct InFlight {
    balancer: std::sync::Arc<Balancer>,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(state) = self.balancer.addresses.get(self.index) {
            state.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn balancer(count: usize, balance: Balance) -> Arc<Balancer> {
        Arc::new(Balancer::new(
            count,
            balance,
            HealthPolicy {
                failures: 3,
                eject: Duration::from_secs(30),
            },
        ))
    }

    /// Fails `index` three times at `at`: enough to eject it.
    fn eject(balancer: &Balancer, index: usize, at: Instant) {
        for _ in 0..3 {
            balancer.failed(index, at);
        }
    }

    fn picks(balancer: &Balancer, n: usize, now: Instant) -> Vec<usize> {
        (0..n)
            .map(|_| balancer.pick(Tried::default(), || now).unwrap())
            .collect()
    }

    #[test]
    fn round_robin_takes_each_address_in_turn() {
        let balancer = balancer(3, Balance::RoundRobin);
        assert_eq!(picks(&balancer, 7, Instant::now()), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn one_address_is_picked_without_reading_the_clock() {
        let balancer = balancer(1, Balance::LeastRequests);
        assert_eq!(
            balancer.pick(Tried::default(), || unreachable!("no clock")),
            Some(0)
        );
        let mut tried = Tried::default();
        tried.add(0);
        assert_eq!(balancer.pick(tried, || unreachable!("no clock")), None);
    }

    #[test]
    fn least_requests_picks_the_fewest_in_flight() {
        let balancer = balancer(3, Balance::LeastRequests);
        let now = Instant::now();
        let _a = balancer.start(0);
        let _b = balancer.start(0);
        let c = balancer.start(2);
        assert_eq!(picks(&balancer, 3, now), [1, 1, 1]);
        let _d = balancer.start(1);
        let _e = balancer.start(1);
        // 0 and 1 have two each, 2 has one.
        assert_eq!(picks(&balancer, 2, now), [2, 2]);
        drop(c);
        let _f = balancer.start(2);
        let _g = balancer.start(2);
        // Two each: ties go round robin.
        let mut tied = picks(&balancer, 3, now);
        tied.sort_unstable();
        assert_eq!(tied, [0, 1, 2]);
    }

    #[test]
    fn an_address_is_ejected_after_n_failures_in_a_row() {
        let balancer = balancer(2, Balance::RoundRobin);
        let now = Instant::now();
        assert_eq!(balancer.failed(1, now), None);
        assert_eq!(balancer.failed(1, now), None);
        // A success in between starts the count again.
        assert!(!balancer.succeeded(1));
        assert_eq!(balancer.failed(1, now), None);
        assert_eq!(balancer.failed(1, now), None);
        assert_eq!(balancer.failed(1, now), Some(Duration::from_secs(30)));
        // Already ejected: more failures do not eject it again.
        assert_eq!(balancer.failed(1, now), None);
        assert_eq!(picks(&balancer, 4, now), [0, 0, 0, 0]);
        let health = balancer.health(now);
        assert_eq!(health[1].state, "ejected");
        assert_eq!(health[1].consecutive_failures, 4);
        assert_eq!(health[1].ejections, 1);
        assert_eq!(health[1].readmitted_in_ms, Some(30_000));
        assert_eq!(health[0].state, "healthy");
    }

    #[test]
    fn an_ejected_address_is_tried_again_after_the_ejection() {
        let balancer = balancer(2, Balance::RoundRobin);
        let now = Instant::now();
        eject(&balancer, 0, now);
        let later = now + Duration::from_secs(31);
        assert_eq!(picks(&balancer, 2, later), [0, 1]);
        // Half-open: one more failure ejects it again at once.
        assert_eq!(balancer.failed(0, later), Some(Duration::from_secs(30)));
        assert_eq!(balancer.health(later)[0].ejections, 2);
        // One success readmits it for good.
        let much_later = later + Duration::from_secs(31);
        assert!(balancer.succeeded(0));
        assert_eq!(balancer.health(much_later)[0].consecutive_failures, 0);
        assert_eq!(balancer.failed(0, much_later), None);
        assert_eq!(picks(&balancer, 2, much_later), [0, 1]);
    }

    #[test]
    fn when_all_are_ejected_the_one_ejected_longest_ago_is_tried() {
        let balancer = balancer(3, Balance::RoundRobin);
        let now = Instant::now();
        for (index, at) in [(1, 0), (2, 1), (0, 2)] {
            eject(&balancer, index, now + Duration::from_secs(at));
        }
        let then = now + Duration::from_secs(5);
        assert_eq!(picks(&balancer, 3, then), [1, 1, 1]);
        // A failover skips what it tried: next comes the next-oldest ejection.
        let mut tried = Tried::default();
        tried.add(1);
        assert_eq!(balancer.pick(tried, || then), Some(2));
        tried.add(2);
        tried.add(0);
        assert_eq!(balancer.pick(tried, || then), None);
    }

    #[test]
    fn a_failover_prefers_a_healthy_untried_address() {
        let balancer = balancer(3, Balance::LeastRequests);
        let now = Instant::now();
        eject(&balancer, 2, now);
        let mut tried = Tried::default();
        tried.add(0);
        assert_eq!(balancer.pick(tried, || now), Some(1));
        tried.add(1);
        assert_eq!(balancer.pick(tried, || now), Some(2));
    }
}
