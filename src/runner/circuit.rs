//! The dead-letter circuit breaker: many failures at once are an outage downstream, not
//! poison, and must not dead-letter the whole topic.
//!
//! Invariants: in a window of `window`, once at least `min_failures` messages failed for good
//! and failures are at least `max_failure_ratio` of the messages that ended, the circuit opens:
//! nothing is dead-lettered, dispatched or committed while it is open. After `cooldown` it is
//! half-open: exactly one message is let through; its success closes the circuit, its failure
//! opens it again for another `cooldown`. Time is always passed in, so tests drive the clock.
//! Outcomes are counted in [`BUCKETS`] buckets per window (constant memory and time per
//! message at any rate), so the window's edge is exact to `window / BUCKETS`.

use std::{collections::VecDeque, time::Duration};

use tokio::time::Instant;

/// `[dlq]` breaker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircuitPolicy {
    /// Failures / messages ended in the window at or above which the circuit opens.
    pub max_failure_ratio: f64,
    /// How far back outcomes count.
    pub window: Duration,
    /// Fewer failures than this in the window never open the circuit.
    pub min_failures: u32,
    /// How long the circuit stays open before one message tests recovery.
    pub cooldown: Duration,
}

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Normal operation.
    Closed,
    /// Stopped until the instant; then half-open.
    Open {
        /// When the cooldown ends.
        until: Instant,
    },
    /// One probe message may go (`probing` once it went).
    HalfOpen {
        /// Whether the probe is out.
        probing: bool,
    },
}

/// The breaker opened: what tripped it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tripped {
    /// Failures in the window.
    pub failures: u32,
    /// Messages that ended in the window.
    pub total: u32,
}

/// Buckets per window.
pub const BUCKETS: u32 = 32;

/// Messages that ended in one slice of the window.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: Instant,
    total: u32,
    failures: u32,
}

/// The dead-letter circuit breaker.
#[derive(Debug)]
pub struct CircuitBreaker {
    policy: CircuitPolicy,
    state: CircuitState,
    /// Outcomes per slice of the window, oldest first.
    buckets: VecDeque<Bucket>,
    /// Sums over `buckets`.
    total: u32,
    failures: u32,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(policy: CircuitPolicy) -> Self {
        Self {
            policy,
            state: CircuitState::Closed,
            buckets: VecDeque::new(),
            total: 0,
            failures: 0,
        }
    }

    /// Takes a new policy (a configuration reload): the state and the outcomes counted so far
    /// stay; the new thresholds apply from the next outcome, an open circuit keeps its
    /// cooldown.
    pub fn set_policy(&mut self, policy: CircuitPolicy) {
        self.policy = policy;
    }

    /// The current state (after [`CircuitBreaker::tick`]).
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// Whether messages may be dispatched and dead-lettered.
    pub fn is_closed(&self) -> bool {
        self.state == CircuitState::Closed
    }

    /// Records a message that ended while closed (`failed`: it would go to the DLQ). Returns
    /// what tripped the breaker when this outcome opened it.
    pub fn record(&mut self, now: Instant, failed: bool) -> Option<Tripped> {
        if self.state != CircuitState::Closed {
            return None;
        }
        self.expire(now);
        let width = self.width();
        match self.buckets.back_mut() {
            Some(b) if now < b.start + width => {
                b.total += 1;
                b.failures += u32::from(failed);
            }
            _ => self.buckets.push_back(Bucket {
                start: now,
                total: 1,
                failures: u32::from(failed),
            }),
        }
        self.total += 1;
        self.failures += u32::from(failed);
        let (total, failures) = (self.total, self.failures);
        if failed
            && failures >= self.policy.min_failures
            && f64::from(failures) >= self.policy.max_failure_ratio * f64::from(total)
        {
            self.open(now);
            return Some(Tripped { failures, total });
        }
        None
    }

    /// Moves an open breaker whose cooldown passed to half-open; returns whether a probe may
    /// be sent now (then call [`CircuitBreaker::probe_sent`]).
    pub fn tick(&mut self, now: Instant) -> bool {
        if let CircuitState::Open { until } = self.state
            && now >= until
        {
            self.state = CircuitState::HalfOpen { probing: false };
        }
        self.state == CircuitState::HalfOpen { probing: false }
    }

    /// The probe message went out.
    pub fn probe_sent(&mut self) {
        if let CircuitState::HalfOpen { .. } = self.state {
            self.state = CircuitState::HalfOpen { probing: true };
        }
    }

    /// The probe ended: success closes the breaker (with a fresh window), failure opens it
    /// for another cooldown.
    pub fn probe_ended(&mut self, now: Instant, succeeded: bool) {
        if succeeded {
            self.state = CircuitState::Closed;
            self.buckets.clear();
            self.total = 0;
            self.failures = 0;
        } else {
            self.open(now);
        }
    }

    /// When the cooldown ends, while open.
    pub fn reopens_at(&self) -> Option<Instant> {
        match self.state {
            CircuitState::Open { until } => Some(until),
            _ => None,
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = CircuitState::Open {
            until: now + self.policy.cooldown,
        };
    }

    fn width(&self) -> Duration {
        (self.policy.window / BUCKETS).max(Duration::from_millis(1))
    }

    /// Drops the buckets that lie wholly before the window ending at `now`.
    fn expire(&mut self, now: Instant) {
        let width = self.width();
        while let Some(b) = self.buckets.front() {
            if now.saturating_duration_since(b.start + width) > self.policy.window {
                self.total -= b.total;
                self.failures -= b.failures;
                self.buckets.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(CircuitPolicy {
            max_failure_ratio: 0.5,
            window: Duration::from_secs(10),
            min_failures: 3,
            cooldown: Duration::from_secs(30),
        })
    }

    #[test]
    fn isolated_poison_never_opens_the_circuit() {
        let mut b = breaker();
        let t0 = Instant::now();
        // One failure in ten, over and over: below the ratio.
        for i in 0..100u64 {
            let failed = i % 10 == 0;
            assert_eq!(b.record(t0 + Duration::from_millis(i * 50), failed), None);
        }
        assert!(b.is_closed());
    }

    #[test]
    fn failures_below_the_minimum_never_open_it() {
        let mut b = breaker();
        let t0 = Instant::now();
        assert_eq!(b.record(t0, true), None);
        assert_eq!(b.record(t0, true), None);
        assert!(b.is_closed());
        // Old failures leave the window.
        assert_eq!(b.record(t0 + Duration::from_secs(11), true), None);
        assert!(b.is_closed());
    }

    #[test]
    fn a_burst_of_failures_opens_it_once_then_half_open_lets_one_probe_through() {
        let mut b = breaker();
        let t0 = Instant::now();
        b.record(t0, false);
        b.record(t0, true);
        b.record(t0, true);
        let tripped = b.record(t0 + Duration::from_secs(1), true).expect("opens");
        assert_eq!(
            tripped,
            Tripped {
                failures: 3,
                total: 4
            }
        );
        // While open: nothing more is recorded, no probe before the cooldown.
        assert_eq!(b.record(t0 + Duration::from_secs(2), true), None);
        assert!(!b.tick(t0 + Duration::from_secs(30)));
        assert!(!b.is_closed());
        assert!(b.tick(t0 + Duration::from_secs(31)));
        b.probe_sent();
        assert!(!b.tick(t0 + Duration::from_secs(32)), "one probe at a time");
        // A failed probe opens it for another cooldown.
        b.probe_ended(t0 + Duration::from_secs(33), false);
        assert_eq!(b.reopens_at(), Some(t0 + Duration::from_secs(63)));
        assert!(b.tick(t0 + Duration::from_secs(63)));
        b.probe_sent();
        b.probe_ended(t0 + Duration::from_secs(64), true);
        assert!(b.is_closed());
        // A fresh window: two failures do not reopen it.
        assert_eq!(b.record(t0 + Duration::from_secs(65), true), None);
        assert_eq!(b.record(t0 + Duration::from_secs(65), true), None);
        assert!(b.is_closed());
    }

    #[test]
    fn memory_stays_constant_at_any_rate() {
        let mut b = breaker();
        let t0 = Instant::now();
        for i in 0..200_000u64 {
            b.record(t0 + Duration::from_micros(i * 100), false);
        }
        assert!(
            b.buckets.len() <= BUCKETS as usize + 1,
            "{}",
            b.buckets.len()
        );
        assert!(b.total <= 200_000);
    }
}
