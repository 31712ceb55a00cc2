//! When a failed message is tried again, and when it goes to the dead-letter topic instead.
//!
//! Invariants: attempt `n` (1-based) that failed retryably waits `initial_backoff × 2^(n-1)`,
//! capped at `max_backoff`, with jitter that never shortens the delay below half that value
//! and never lengthens it; a `Retry-After` the handler reported is a lower bound. A permanent
//! failure, or a retryable one on the last of `max_attempts`, is never retried.

use std::time::Duration;

use super::HandlerError;

/// `[retry]`: how often and how patiently a failing message is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The delay after the first failed attempt.
    pub initial_backoff: Duration,
    /// The longest delay between two attempts.
    pub max_backoff: Duration,
}

/// What happens to a message after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Give up: dead-letter it.
    DeadLetter,
}

impl RetryPolicy {
    /// The decision after `attempt` (1-based) failed with `error`; `unit` is a random number
    /// in `[0, 1)` that places the jitter.
    pub fn decide(&self, attempt: u32, error: &HandlerError, unit: f64) -> Decision {
        if !error.is_retryable() || attempt >= self.max_attempts {
            return Decision::DeadLetter;
        }
        let delay = self.jittered(attempt, unit);
        Decision::RetryAfter(error.retry_after().map_or(delay, |r| r.max(delay)))
    }

    /// The delay before attempt `attempt + 1` without jitter.
    pub fn computed(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.initial_backoff
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.max_backoff)
    }

    /// The delay before attempt `attempt + 1`: uniformly in `[computed / 2, computed]`.
    pub fn jittered(&self, attempt: u32, unit: f64) -> Duration {
        let full = self.computed(attempt);
        let half = full / 2;
        half + (full - half).mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_from_initial_up_to_max() {
        let p = policy();
        let ms: Vec<u128> = (1..=6).map(|a| p.computed(a).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.computed(200), Duration::from_secs(1));
    }

    #[test]
    fn permanent_failures_and_the_last_attempt_go_to_the_dlq() {
        let p = policy();
        assert_eq!(
            p.decide(1, &HandlerError::permanent("bad"), 0.5),
            Decision::DeadLetter
        );
        assert_eq!(
            p.decide(5, &HandlerError::retryable("busy"), 0.5),
            Decision::DeadLetter
        );
        assert!(matches!(
            p.decide(4, &HandlerError::retryable("busy"), 0.5),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn retry_after_is_a_lower_bound() {
        let p = policy();
        let e = HandlerError::retryable("busy").with_retry_after(Duration::from_secs(7));
        assert_eq!(
            p.decide(1, &e, 1.0),
            Decision::RetryAfter(Duration::from_secs(7))
        );
    }

    proptest! {
        #[test]
        fn jitter_stays_between_half_and_the_full_delay(attempt in 1u32..40, unit in 0.0f64..1.0) {
            let p = policy();
            let full = p.computed(attempt);
            let d = p.jittered(attempt, unit);
            prop_assert!(d >= full / 2 && d <= full, "{d:?} outside [{:?}, {full:?}]", full / 2);
        }
    }
}
