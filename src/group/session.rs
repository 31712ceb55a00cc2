//! The member's own view of its session: how long the coordinator will certainly still count
//! it as alive.
//!
//! Invariants:
//! - A response that confirms the member (a heartbeat answered without error, or with
//!   REBALANCE_IN_PROGRESS; a JoinGroup or SyncGroup answered without error) extends the
//!   session to the request's *send* time plus `session.timeout.ms`: the coordinator restarted
//!   its timer no earlier than that, however long the answer then sat in a socket buffer (a
//!   SIGSTOPped process reads answers that are seconds old).
//! - Nothing pauses the clock, a join in flight included: during a rebalance the member keeps
//!   heartbeating on the prompt connection, so a coordinator that goes silent ends the
//!   session on time.
//! - The clock never moves backwards, and a confirmation whose deadline has already passed
//!   is ignored (it cannot make an expired session valid again).
//! - Once expired (or before the first confirmation) the clock is stopped: it expires once,
//!   and runs again from the next confirmation.

use std::sync::atomic::{AtomicU64, Ordering};

/// Stopped: no session to lose.
const STOPPED: u64 = u64::MAX;

/// Milliseconds (on the member's own monotonic scale) until which the session is valid.
#[derive(Debug)]
pub(crate) struct SessionClock {
    deadline_ms: AtomicU64,
    timeout_ms: u64,
}

impl SessionClock {
    /// A stopped clock for sessions of `timeout_ms`.
    pub(crate) fn new(timeout_ms: u64) -> Self {
        Self {
            deadline_ms: AtomicU64::new(STOPPED),
            timeout_ms,
        }
    }

    /// The coordinator confirmed the member in answer to a request sent at `sent_ms`; `now_ms`
    /// is the time of the answer. Returns whether the session is running and valid at
    /// `now_ms` afterwards: false when the answer is too old to prove anything and nothing
    /// else keeps the session alive (it lapsed meanwhile, or never started).
    pub(crate) fn confirm(&self, sent_ms: u64, now_ms: u64) -> bool {
        let deadline = sent_ms.saturating_add(self.timeout_ms);
        if deadline > now_ms {
            let _ = self
                .deadline_ms
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                    (d == STOPPED || d < deadline).then_some(deadline)
                });
        }
        let d = self.deadline_ms.load(Ordering::Acquire);
        d != STOPPED && d >= now_ms
    }

    /// Stops the clock (the member holds nothing a lapse could lose).
    pub(crate) fn stop(&self) {
        self.deadline_ms.store(STOPPED, Ordering::Release);
    }

    /// Whether the session lapsed at `now_ms`; true once per lapse (the clock then stops).
    pub(crate) fn expire_if_due(&self, now_ms: u64) -> bool {
        let deadline = self.deadline_ms.load(Ordering::Acquire);
        deadline != STOPPED
            && now_ms > deadline
            && self
                .deadline_ms
                .compare_exchange(deadline, STOPPED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_runs_from_the_send_time_of_the_confirming_request() {
        let clock = SessionClock::new(6000);
        assert!(
            !clock.expire_if_due(1_000_000),
            "stopped before a confirmation"
        );
        // A heartbeat sent at 1000 and answered at 1010: valid until 7000.
        clock.confirm(1000, 1010);
        assert!(!clock.expire_if_due(7000));
        assert!(clock.expire_if_due(7001));
        assert!(!clock.expire_if_due(7002), "expires once");
    }

    #[test]
    fn an_answer_read_after_a_process_pause_does_not_revive_the_session() {
        let clock = SessionClock::new(6000);
        clock.confirm(1000, 1010);
        // SIGSTOP from 2000 to 10_600: the answer to the heartbeat sent at 1900 is read at
        // 10_600. It proves nothing past 7900.
        assert!(
            !clock.confirm(1900, 10_600),
            "the session is not valid at 10_600"
        );
        assert!(clock.expire_if_due(10_601));
    }

    /// CI's soak saw it: a member SIGSTOPped with its SyncGroup answered read the answer
    /// after its session had lapsed (and Lost was reported); the answer must not count.
    #[test]
    fn a_stale_answer_after_a_lapse_reports_the_session_invalid() {
        let clock = SessionClock::new(6000);
        assert!(clock.confirm(1000, 1010));
        assert!(clock.expire_if_due(7001));
        assert!(!clock.confirm(1500, 9000), "sent at 1500, read at 9000");
        // A fresh answer starts it again.
        assert!(clock.confirm(9000, 9010));
    }

    /// A long SyncGroup (the leader is slow) is fine while heartbeats keep the session alive.
    #[test]
    fn an_old_answer_is_valid_while_heartbeats_kept_the_session_alive() {
        let clock = SessionClock::new(6000);
        assert!(clock.confirm(1000, 1010));
        assert!(clock.confirm(6000, 6010), "a heartbeat");
        assert!(clock.confirm(1000, 8000), "the SyncGroup sent at 1000");
    }

    #[test]
    fn a_join_in_flight_does_not_pause_the_clock_and_it_never_moves_back() {
        let clock = SessionClock::new(6000);
        clock.confirm(5000, 5001);
        // The answer to an older request (a JoinGroup sent at 1000, parked) arrives later.
        clock.confirm(1000, 5100);
        assert!(!clock.expire_if_due(11_000));
        assert!(clock.expire_if_due(11_001));
        // After a lapse, the next confirmation starts it again.
        clock.confirm(12_000, 12_001);
        assert!(!clock.expire_if_due(18_000));
        clock.stop();
        assert!(!clock.expire_if_due(100_000));
    }
}
