//! Per-partition sequence numbers of the idempotent producer, and the one in-flight slot.
//!
//! Invariants:
//! - At most one batch per partition is in flight: a send holds the partition's slot (a
//!   one-permit semaphore) from encoding until its outcome is known, so sequence numbers reach
//!   the broker in order and a retry can re-send the same bytes with the same sequence.
//! - A batch's sequence is the partition's next one under the current producer identity; a
//!   partition whose state was for an older identity starts again at 0.
//! - A send whose outcome is unknown (cancelled, timed out, connection lost for good) leaves
//!   the partition [`SequenceState::Uncertain`]: its batch may be in the log with that
//!   sequence. Reusing the sequence for different records would make the broker drop them as
//!   duplicates, so the next send first takes a new producer identity.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A producer id and epoch, as InitProducerId returned them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ProducerIdentity {
    /// Producer id.
    pub(crate) id: i64,
    /// Producer epoch.
    pub(crate) epoch: i16,
}

/// Where a partition's sequence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceState {
    /// No batch in flight; the next batch under `identity` gets sequence `next`.
    Idle {
        /// The identity the sequence belongs to.
        identity: ProducerIdentity,
        /// The next sequence number.
        next: i32,
    },
    /// A batch was sent (or is being sent) and its outcome is not known yet.
    Uncertain {
        /// The identity it was sent under.
        identity: ProducerIdentity,
    },
}

/// One partition's slot and sequence.
#[derive(Debug)]
pub(crate) struct PartitionSequence {
    slot: Arc<Semaphore>,
    state: Mutex<Option<SequenceState>>,
}

impl Default for PartitionSequence {
    fn default() -> Self {
        Self {
            slot: Arc::new(Semaphore::new(1)),
            state: Mutex::new(None),
        }
    }
}

/// What a send should do before encoding its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextSequence {
    /// Encode with this sequence.
    Use(i32),
    /// The previous send under this identity ended uncertain: take a new identity first.
    Reinitialise(ProducerIdentity),
}

impl PartitionSequence {
    /// Waits for the partition's in-flight slot. Cancel safe: dropping the wait takes nothing.
    pub(crate) async fn acquire(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.slot)
            .acquire_owned()
            .await
            .expect("the slot semaphore is never closed")
    }

    /// The sequence for a batch under `identity`, marking the partition uncertain until
    /// [`PartitionSequence::delivered`] or [`PartitionSequence::rejected`].
    pub(crate) fn begin(&self, identity: ProducerIdentity) -> NextSequence {
        let mut state = self.state.lock().expect("sequence lock");
        let next = match *state {
            Some(SequenceState::Idle { identity: i, next }) if i == identity => next,
            Some(SequenceState::Uncertain { identity: i }) if i == identity => {
                return NextSequence::Reinitialise(identity);
            }
            _ => 0,
        };
        *state = Some(SequenceState::Uncertain { identity });
        NextSequence::Use(next)
    }

    /// The batch `(identity, sequence, count)` is in the log (or was a duplicate of one that is).
    pub(crate) fn delivered(&self, identity: ProducerIdentity, sequence: i32, count: i32) {
        *self.state.lock().expect("sequence lock") = Some(SequenceState::Idle {
            identity,
            next: next_sequence(sequence, count),
        });
    }

    /// The broker refused the batch `(identity, sequence)` for good: nothing was written, so
    /// the sequence is free again.
    pub(crate) fn rejected(&self, identity: ProducerIdentity, sequence: i32) {
        *self.state.lock().expect("sequence lock") = Some(SequenceState::Idle {
            identity,
            next: sequence,
        });
    }

    /// The current state (for tests and logs).
    #[cfg(test)]
    pub(crate) fn state(&self) -> Option<SequenceState> {
        *self.state.lock().expect("sequence lock")
    }
}

/// Sequence numbers wrap from `i32::MAX` to 0, as the broker expects.
fn next_sequence(sequence: i32, count: i32) -> i32 {
    ((i64::from(sequence) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ProducerIdentity = ProducerIdentity { id: 1, epoch: 0 };
    const B: ProducerIdentity = ProducerIdentity { id: 2, epoch: 0 };

    #[test]
    fn sequences_advance_by_the_record_count_and_restart_under_a_new_identity() {
        let p = PartitionSequence::default();
        assert_eq!(p.begin(A), NextSequence::Use(0));
        p.delivered(A, 0, 3);
        assert_eq!(p.begin(A), NextSequence::Use(3));
        p.delivered(A, 3, 1);
        assert_eq!(p.begin(B), NextSequence::Use(0));
    }

    #[test]
    fn an_uncertain_send_forces_a_new_identity_before_the_sequence_is_reused() {
        let p = PartitionSequence::default();
        assert_eq!(p.begin(A), NextSequence::Use(0));
        // No outcome recorded: cancelled or timed out.
        assert_eq!(p.begin(A), NextSequence::Reinitialise(A));
        assert_eq!(p.state(), Some(SequenceState::Uncertain { identity: A }));
        assert_eq!(p.begin(B), NextSequence::Use(0));
    }

    #[test]
    fn a_rejected_batch_frees_its_sequence() {
        let p = PartitionSequence::default();
        assert_eq!(p.begin(A), NextSequence::Use(0));
        p.delivered(A, 0, 2);
        assert_eq!(p.begin(A), NextSequence::Use(2));
        p.rejected(A, 2);
        assert_eq!(p.begin(A), NextSequence::Use(2));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 1, 3), 1);
    }
}
