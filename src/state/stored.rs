//! The table's intents for [`Offset::Stored`](crate::Offset): partitions waiting for the
//! group's committed offset, and what the OffsetFetch said.
//!
//! Invariant: a partition leaves [`FetchState::Committed`] only through
//! [`PartitionTable::apply_committed`] for its current generation (or a move): to the
//! committed offset, or, when the group has none, where `auto.offset.reset` says.

use tokio::time::Instant;

use crate::{error::Error, types::TopicPartition};

use super::{Committed, PartitionTable, buffer::Delivery, partition::FetchState};

/// One partition waiting for its committed offset, with its generation when asked.
pub(crate) type CommittedLookup = (TopicPartition, u64);

impl PartitionTable {
    /// The partitions waiting for their committed offset and not yet asked for (nor backing
    /// off), marked as being looked up.
    pub(crate) fn take_committed_lookups(&self, now: Instant) -> Vec<CommittedLookup> {
        let mut partitions = self.lock();
        let mut out = Vec::new();
        for (tp, state) in partitions.iter_mut() {
            if state.fetch == FetchState::Committed && state.ready_to_resolve(now) {
                state.resolving = true;
                out.push((tp.clone(), state.generation));
            }
        }
        out
    }

    /// Applies an OffsetFetch's answer to `lookups`: each partition still waiting in the same
    /// generation starts at its committed offset (`Some`; validated first when it carries its
    /// leader epoch, KIP-320), or by `auto.offset.reset` (`None`). A failed lookup is reported
    /// and retried after `backoff`.
    pub(crate) fn apply_committed(
        &self,
        lookups: &[CommittedLookup],
        answer: Result<Vec<Option<Committed>>, Error>,
        backoff: Instant,
    ) {
        let mut partitions = self.lock();
        let mut failure = answer.as_ref().err().map(ToString::to_string);
        for (i, (tp, generation)) in lookups.iter().enumerate() {
            let Some(state) = partitions.get_mut(tp) else {
                continue;
            };
            state.resolving = false;
            if state.generation != *generation || state.fetch != FetchState::Committed {
                continue;
            }
            match &answer {
                Ok(offsets) => match offsets.get(i).copied().flatten() {
                    Some(Committed {
                        offset,
                        leader_epoch,
                    }) => {
                        state.start_at(offset, leader_epoch);
                        state.committed_offset = Some(offset);
                    }
                    None => state.fetch = self.reset_state(tp, *generation),
                },
                Err(_) => {
                    state.backoff_until = Some(backoff);
                    // One error event per failed request, scoped to its first partition.
                    if let Some(reason) = failure.take() {
                        tracing::warn!(%tp, error = %reason, "committed offset lookup failed");
                        self.buffer.push(Delivery::Error {
                            tp: Some((tp.clone(), *generation)),
                            error: Error::Request {
                                broker: "group coordinator".into(),
                                api: "OffsetFetch",
                                reason,
                            },
                        });
                    }
                }
            }
        }
    }
}
