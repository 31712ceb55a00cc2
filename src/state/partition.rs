//! One assigned partition's state (what the fetcher, the consumer and the group track for
//! it), and its state machine. Only [`PartitionTable`](super::PartitionTable) reaches it.
//!
//! Invariants: `fetch` is `Fetching(o)` only when `o` is a valid position to fetch from; it
//! always advances to the last fetched batch's last offset + 1 (also past control batches and
//! filtered batches). `generation` changes whenever the application moves the partition (seek,
//! pause, reassignment): results of fetches sent under an older generation are discarded.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::types::Watermarks;

/// Where the partition's fetching stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchState {
    /// The position must be looked up with ListOffsets first.
    Resolve(ResolveTo),
    /// The position is the group's committed offset ([`Offset::Stored`](crate::Offset) with
    /// a `group.id`), being looked up with OffsetFetch; without one, `auto.offset.reset`.
    Committed,
    /// Fetching from this offset.
    Fetching(i64),
    /// The position (this offset, with [`PartitionState::fetch_epoch`]) must be checked
    /// against the leader's log with OffsetForLeaderEpoch before fetching from it (KIP-320:
    /// the leader changed since the position was last confirmed, or the position came with
    /// a committed leader epoch); on log truncation it moves back (see `validation`).
    Validating(i64),
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

/// A generation no partition ever has: the partition was unassigned.
const RETIRED: u64 = u64::MAX;

/// What the application has been given from one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Mirrors [`PartitionState::generation`] ([`RETIRED`] once unassigned): a delivery from
    /// another generation is stale.
    pub(crate) generation: u64,
    /// The offset of the next message the application will receive.
    pub(crate) position: Option<i64>,
    /// The offset the next commit stores for this partition: with
    /// `enable.auto.offset.store`, one past the last message handed to the application; else
    /// what the application stored. Never past a message the application was not given.
    pub(crate) stored: Option<i64>,
    /// The leader epoch of the message before `position` (the last one handed out), when
    /// known: what a position validation (KIP-320) checks the leader's log against.
    pub(crate) epoch: Option<i32>,
    /// The leader epoch of the message before `stored`, when known: committed with it.
    pub(crate) stored_epoch: Option<i32>,
}

impl Progress {
    /// Records that the message at `offset`, fetched under `generation`, goes to the
    /// application; `false` (and nothing recorded) if the delivery is stale.
    pub(crate) fn hand_out(
        &mut self,
        generation: u64,
        offset: i64,
        epoch: Option<i32>,
        store: bool,
    ) -> bool {
        if self.generation != generation {
            return false;
        }
        self.position = Some(offset + 1);
        self.epoch = epoch;
        if store {
            self.stored = Some(offset + 1);
            self.stored_epoch = epoch;
        }
        true
    }
}

impl Progress {
    /// Moves the position to `offset` (past markers and aborted data the application never
    /// sees), and the stored offset too when `store`; `false` if stale. Never backwards.
    pub(crate) fn advance(&mut self, generation: u64, offset: i64, store: bool) -> bool {
        if self.generation != generation || self.position.is_some_and(|p| p >= offset) {
            return false;
        }
        self.position = Some(offset);
        if store {
            self.stored = Some(offset);
            self.stored_epoch = self.epoch;
        }
        true
    }
}

fn start_position(fetch: FetchState) -> Option<i64> {
    match fetch {
        FetchState::Fetching(o) | FetchState::Validating(o) => Some(o),
        _ => None,
    }
}

/// Everything the fetcher, the consumer and the group track for one partition.
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub(crate) generation: u64,
    pub(crate) fetch: FetchState,
    pub(crate) leader: Option<Leader>,
    /// The leader epoch of the record before the fetch position (KIP-320's last fetched
    /// epoch), when known: from the last fetched batch, a committed leader epoch, or the
    /// application's position when it was moved back to it.
    pub(crate) fetch_epoch: Option<i32>,
    /// The leader epoch under which the fetch position was last confirmed (fetched from, or
    /// validated); a leader with another epoch makes the position be validated first.
    pub(crate) confirmed_under: Option<i32>,
    pub(crate) paused: bool,
    /// A Fetch covering this partition is in flight.
    pub(crate) in_flight: bool,
    /// A ListOffsets lookup for this partition is in flight. Independent of `in_flight`: a
    /// seek need not wait for a long-polling fetch, whose result the generation check drops.
    pub(crate) resolving: bool,
    /// No request for this partition before this instant (after an error).
    pub(crate) backoff_until: Option<Instant>,
    /// The partition's missing leader (or missing topic) was reported to the application;
    /// cleared when metadata shows a leader again, so each outage is reported once.
    pub(crate) outage_reported: bool,
    /// What the application has been given, shared with the buffered deliveries so `poll`
    /// can check and advance it without the partitions lock.
    pub(crate) progress: Arc<Mutex<Progress>>,
    /// The group's committed offset, as last fetched or committed by this member.
    pub(crate) committed_offset: Option<i64>,
    pub(crate) watermarks: Option<Watermarks>,
    /// The partition's fetch size limit, grown past `max.partition.fetch.bytes` after a
    /// fetch that made no progress (an incomplete first batch); `None` when not grown. Back to
    /// `None` on progress and on every move.
    pub(crate) grown_max_bytes: Option<i32>,
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
            fetch_epoch: None,
            confirmed_under: None,
            paused: false,
            in_flight: false,
            resolving: false,
            backoff_until: None,
            outage_reported: false,
            progress: Arc::new(Mutex::new(Progress {
                generation,
                position: start_position(fetch),
                stored: None,
                epoch: None,
                stored_epoch: None,
            })),
            watermarks: None,
            committed_offset: None,
            grown_max_bytes: None,
            last_eof: None,
        }
    }

    /// Moves the partition (seek): a new generation, so in-flight results and buffered
    /// messages from before are dropped.
    pub(crate) fn move_to(&mut self, generation: u64, fetch: FetchState) {
        self.generation = generation;
        self.fetch = fetch;
        self.backoff_until = None;
        self.grown_max_bytes = None;
        self.last_eof = None;
        self.fetch_epoch = None;
        self.confirmed_under = None;
        let mut progress = self.progress.lock().expect("progress lock");
        progress.generation = generation;
        progress.position = start_position(fetch);
        progress.epoch = None;
    }

    /// Starts fetching at `offset`, whose preceding record has leader epoch `epoch` when
    /// known: with an epoch, the position is validated first (KIP-320), as Java does for a
    /// committed offset that carries its leader epoch.
    pub(crate) fn start_at(&mut self, offset: i64, epoch: Option<i32>) {
        self.fetch_epoch = epoch;
        self.confirmed_under = None;
        self.fetch = match epoch {
            Some(_) => FetchState::Validating(offset),
            None => FetchState::Fetching(offset),
        };
        let mut progress = self.progress.lock().expect("progress lock");
        progress.position = Some(offset);
        progress.epoch = epoch;
    }

    /// Whether the fetch position must be validated before the next fetch: it has a known
    /// epoch and the leader's epoch is not the one it was confirmed under (Java's
    /// `maybeValidatePositionForCurrentLeader`). Moves it to [`FetchState::Validating`] then.
    pub(crate) fn validate_if_leader_changed(&mut self) -> bool {
        let (FetchState::Fetching(offset), Some(_), Some(leader)) =
            (self.fetch, self.fetch_epoch, self.leader)
        else {
            return false;
        };
        if leader.epoch < 0 || self.confirmed_under == Some(leader.epoch) {
            return false;
        }
        self.fetch = FetchState::Validating(offset);
        true
    }

    /// The epoch of the record before the consumer's position (see [`Progress::epoch`]).
    pub(crate) fn consumer_epoch(&self) -> Option<i32> {
        self.progress.lock().expect("progress lock").epoch
    }

    /// Marks the partition unassigned: anything still buffered or being handed out for it
    /// is stale from now on. Returns the final progress.
    pub(crate) fn retire(&self) -> Progress {
        let mut progress = self.progress.lock().expect("progress lock");
        progress.generation = RETIRED;
        *progress
    }

    /// The offset of the next message the application will receive.
    pub(crate) fn consumer_position(&self) -> Option<i64> {
        self.progress.lock().expect("progress lock").position
    }

    /// Sets the consumer position and its epoch (a lookup resolved where fetching starts).
    pub(crate) fn set_consumer_position(&self, position: i64, epoch: Option<i32>) {
        let mut progress = self.progress.lock().expect("progress lock");
        progress.position = Some(position);
        progress.epoch = epoch;
    }

    /// The offset the next commit stores (see [`Progress::stored`]).
    pub(crate) fn stored_offset(&self) -> Option<i64> {
        self.progress.lock().expect("progress lock").stored
    }

    /// `stored` if it is ahead of the committed offset: what a commit should send.
    pub(crate) fn uncommitted(&self, stored: Option<i64>) -> Option<i64> {
        stored.filter(|s| *s > self.committed_offset.unwrap_or(-1))
    }

    /// After the application moved the partition (seek): the committed offset no longer
    /// bounds what a commit sends, so a lower offset is committed too (Java commits the
    /// position, wherever a seek put it). With `store` (`enable.auto.offset.store`), the
    /// stored offset follows the move: the new position when known, else nothing until a
    /// message is handed out.
    pub(crate) fn moved_by_application(&mut self, store: bool) {
        self.committed_offset = None;
        if store {
            let mut progress = self.progress.lock().expect("progress lock");
            progress.stored = progress.position;
            progress.stored_epoch = progress.epoch;
        }
    }

    /// Stores `offset` for the next commit (its leader epoch unknown).
    pub(crate) fn set_stored_offset(&self, offset: i64) {
        let mut progress = self.progress.lock().expect("progress lock");
        progress.stored = Some(offset);
        progress.stored_epoch = None;
    }

    /// The leader epoch to commit with `offset`: known when it is the stored offset.
    pub(crate) fn epoch_of_stored(&self, offset: i64) -> Option<i32> {
        let progress = self.progress.lock().expect("progress lock");
        progress
            .stored_epoch
            .filter(|_| progress.stored == Some(offset))
    }

    /// Whether an offset lookup may be sent for it now.
    pub(crate) fn ready_to_resolve(&self, now: Instant) -> bool {
        !self.paused && !self.resolving && self.backoff_until.is_none_or(|t| t <= now)
    }
}
