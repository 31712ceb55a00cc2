//! The fetcher's view of one assigned partition, and its state machine.
//!
//! Invariants: `fetch` is `Fetching(o)` only when `o` is a valid position to fetch from; it
//! always advances to the last fetched batch's last offset + 1 (also past control batches and
//! filtered batches). `generation` changes whenever the application moves the partition (seek,
//! pause, reassignment): results of fetches sent under an older generation are discarded.

use tokio::time::Instant;

use crate::consumer::Watermarks;

/// Where the partition's fetching stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchState {
    /// The position must be looked up with ListOffsets first.
    Resolve(ResolveTo),
    /// Fetching from this offset.
    Fetching(i64),
    /// Stopped after an error the application must act on (seek to restart).
    Failed,
}

/// Which end of the log a [`FetchState::Resolve`] looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResolveTo {
    /// The log start offset.
    Earliest,
    /// The end: the high watermark, or the last stable offset under read_committed.
    Latest,
}

/// The partition's leader as last seen in metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leader {
    pub(crate) node: i32,
    pub(crate) epoch: i32,
}

/// Everything the fetcher and the consumer track for one partition.
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub(crate) generation: u64,
    pub(crate) fetch: FetchState,
    pub(crate) leader: Option<Leader>,
    pub(crate) paused: bool,
    /// A Fetch covering this partition is in flight.
    pub(crate) in_flight: bool,
    /// A ListOffsets lookup for this partition is in flight. Independent of `in_flight`: a
    /// seek need not wait for a long-polling fetch, whose result the generation check drops.
    pub(crate) resolving: bool,
    /// No request for this partition before this instant (after an error).
    pub(crate) backoff_until: Option<Instant>,
    /// The offset of the next message the application will receive.
    pub(crate) consumer_position: Option<i64>,
    /// The offset the next commit stores for this partition: with
    /// `enable.auto.offset.store`, one past the last message handed to the application; else
    /// what the application stored. Never past a message the application was not given.
    pub(crate) stored_offset: Option<i64>,
    /// The group's committed offset, as last fetched or committed by this member.
    pub(crate) committed_offset: Option<i64>,
    pub(crate) watermarks: Option<Watermarks>,
    /// The position at which the last EOF event was sent. Another is due when the position
    /// reaches the end at a different offset (librdkafka's rule: new records, or skipped
    /// aborted data and markers, re-arm it).
    pub(crate) last_eof: Option<i64>,
}

impl PartitionState {
    /// A newly assigned partition starting at `fetch`.
    pub(crate) fn new(generation: u64, fetch: FetchState) -> Self {
        Self {
            generation,
            fetch,
            leader: None,
            paused: false,
            in_flight: false,
            resolving: false,
            backoff_until: None,
            consumer_position: match fetch {
                FetchState::Fetching(o) => Some(o),
                _ => None,
            },
            watermarks: None,
            stored_offset: None,
            committed_offset: None,
            last_eof: None,
        }
    }

    /// Moves the partition (seek): a new generation, so in-flight results and buffered
    /// messages from before are dropped.
    pub(crate) fn move_to(&mut self, generation: u64, fetch: FetchState) {
        self.generation = generation;
        self.fetch = fetch;
        self.backoff_until = None;
        self.last_eof = None;
        self.consumer_position = match fetch {
            FetchState::Fetching(o) => Some(o),
            _ => None,
        };
    }

    /// Whether an offset lookup may be sent for it now.
    pub(crate) fn ready_to_resolve(&self, now: Instant) -> bool {
        !self.paused && !self.resolving && self.backoff_until.is_none_or(|t| t <= now)
    }
}
