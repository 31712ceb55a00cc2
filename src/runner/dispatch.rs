//! The messages the runner holds for one partition, and which of them may start now.
//!
//! Invariants: under `ordering = "partition"` at most one message of a partition is started
//! (running, waiting for a retry, being dead-lettered or parked) at a time, and it is the
//! partition's oldest unfinished one; under `ordering = "key"` the same holds per key (a
//! null key is a key of its own), so different keys of one partition proceed concurrently.
//! A message is never started while an earlier message of its lane is unfinished.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use tokio::time::Instant;

use super::{HandlerError, acks::Acks, config::Ordering};
use crate::Message;

/// How far into a partition's held messages [`PartitionJobs::ready`] looks for startable
/// ones under key ordering (bounds the cost of one dispatch round).
const SCAN_LIMIT: usize = 1024;

/// Where one held message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    /// Waiting for its turn (its lane free) and a free in-flight slot.
    Queued,
    /// An attempt is running.
    Running,
    /// A retryable failure: the next attempt starts at `until`.
    Waiting { until: Instant },
    /// The dead-letter write is in flight.
    DeadLettering,
    /// The dead-letter write failed: it is tried again at `until`.
    DlqBackoff { until: Instant },
    /// It failed for good while the circuit is open: held until the circuit closes.
    Parked,
}

/// One held message.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) message: Message,
    /// Attempts started so far.
    pub(crate) attempts: u32,
    pub(crate) state: JobState,
    /// The last failure, for the dead letter.
    pub(crate) last_error: Option<HandlerError>,
    /// Bytes counted against the runner's budget.
    pub(crate) size: usize,
    /// Failed dead-letter writes in a row.
    pub(crate) dlq_failures: u32,
    /// Whether this is the half-open circuit's probe.
    pub(crate) probe: bool,
}

/// Which messages must stay in order with each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lane {
    Partition,
    Key(Option<Bytes>),
}

/// The messages held for one assigned partition.
#[derive(Debug)]
pub(crate) struct PartitionJobs {
    /// Changes each time the partition is (re)assigned; results of older incarnations are
    /// ignored.
    pub(crate) epoch: u64,
    pub(crate) jobs: BTreeMap<i64, Job>,
    pub(crate) acks: Acks,
    /// Bytes of the held messages.
    pub(crate) bytes: usize,
    ordering: Ordering,
    /// Being revoked: nothing new starts.
    pub(crate) revoking: bool,
    /// Whether the consumer was told to pause it.
    pub(crate) paused: bool,
    /// Whether a dead-letter outage was already reported (one loud error per outage).
    pub(crate) dlq_outage: bool,
}

impl PartitionJobs {
    pub(crate) fn new(epoch: u64, ordering: Ordering) -> Self {
        Self {
            epoch,
            jobs: BTreeMap::new(),
            acks: Acks::default(),
            bytes: 0,
            ordering,
            revoking: false,
            paused: false,
            dlq_outage: false,
        }
    }

    /// Holds `message`; false (and nothing held) if its offset was already received.
    pub(crate) fn push(&mut self, message: Message) -> bool {
        if !self.acks.received(message.offset) {
            return false;
        }
        let size = message.buffered_size();
        self.bytes += size;
        self.jobs.insert(
            message.offset,
            Job {
                message,
                attempts: 0,
                state: JobState::Queued,
                last_error: None,
                size,
                dlq_failures: 0,
                probe: false,
            },
        );
        true
    }

    /// The message at `offset` is finished: it is released and may be committed past.
    /// Returns its bytes.
    pub(crate) fn finish(&mut self, offset: i64) -> usize {
        self.acks.finished(offset);
        match self.jobs.remove(&offset) {
            Some(job) => {
                self.bytes -= job.size;
                job.size
            }
            None => 0,
        }
    }

    fn lane(&self, m: &Message) -> Lane {
        match self.ordering {
            Ordering::Partition => Lane::Partition,
            Ordering::Key => Lane::Key(m.key.clone()),
        }
    }

    /// Offsets of queued messages that may start now (their lane free), oldest first, at
    /// most `limit`.
    pub(crate) fn ready(&self, limit: usize) -> Vec<i64> {
        let mut out = Vec::new();
        if self.revoking || limit == 0 {
            return out;
        }
        let mut busy: HashSet<Lane> = HashSet::new();
        for (offset, job) in self.jobs.iter().take(SCAN_LIMIT) {
            let lane = self.lane(&job.message);
            if busy.contains(&lane) {
                continue;
            }
            if job.state == JobState::Queued {
                out.push(*offset);
                if out.len() >= limit {
                    break;
                }
            }
            if self.ordering == Ordering::Partition {
                break;
            }
            busy.insert(lane);
        }
        out
    }

    /// Messages with an attempt or a dead-letter write in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.jobs
            .values()
            .filter(|j| matches!(j.state, JobState::Running | JobState::DeadLettering))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::test_message;

    fn held(ordering: Ordering, keys: &[&str]) -> PartitionJobs {
        let mut p = PartitionJobs::new(1, ordering);
        for (i, k) in keys.iter().enumerate() {
            assert!(p.push(test_message("t", 0, i as i64, Some(k))));
        }
        p
    }

    #[test]
    fn partition_ordering_starts_only_the_oldest_message() {
        let mut p = held(Ordering::Partition, &["a", "b", "c"]);
        assert_eq!(p.ready(10), [0]);
        p.jobs.get_mut(&0).unwrap().state = JobState::Running;
        assert_eq!(p.ready(10), Vec::<i64>::new());
        p.finish(0);
        assert_eq!(p.ready(10), [1]);
    }

    #[test]
    fn key_ordering_starts_one_message_per_key() {
        let mut p = held(Ordering::Key, &["a", "b", "a", "c", "b"]);
        assert_eq!(p.ready(10), [0, 1, 3]);
        assert_eq!(p.ready(2), [0, 1]);
        // "a" waits for a retry: its later message (2) stays held, the others go on.
        p.jobs.get_mut(&0).unwrap().state = JobState::Waiting {
            until: Instant::now(),
        };
        p.jobs.get_mut(&1).unwrap().state = JobState::Running;
        p.jobs.get_mut(&3).unwrap().state = JobState::Running;
        assert_eq!(p.ready(10), Vec::<i64>::new());
        p.finish(1);
        assert_eq!(p.ready(10), [4]);
        assert_eq!(p.acks.committable(None), Some(0), "0 is unfinished");
    }

    #[test]
    fn refetched_offsets_are_not_held_twice() {
        let mut p = held(Ordering::Partition, &["a", "b"]);
        assert!(!p.push(test_message("t", 0, 1, Some("b"))));
        assert_eq!(p.jobs.len(), 2);
        let before = p.bytes;
        p.finish(0);
        assert!(p.bytes < before);
    }

    #[test]
    fn a_revoking_partition_starts_nothing() {
        let mut p = held(Ordering::Key, &["a", "b"]);
        p.revoking = true;
        assert!(p.ready(10).is_empty());
    }
}
