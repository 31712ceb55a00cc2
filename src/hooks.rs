//! Hooks: one observer trait the data path reports to, in the style of franz-go's `kgo`
//! hooks. Metrics, statistics and logs are implementations of [`Hooks`] (see
//! `rskafka_consumer::observe`); the fetcher, the group member, commits and the runner only
//! call it.
//!
//! Invariants:
//! - Hooks are called per fetch response, per rebalance, per commit and per runner outcome,
//!   never per record inside the fetcher: with no hooks installed ([`NoHooks`], the default)
//!   a call is one virtual call to an empty body, with nothing allocated and no lock taken.
//! - Hook calls never hold a lock of the caller (the partition table's, the buffer's) and
//!   never `.await`: an implementation must be quick and must not block (count, don't log).
//! - Values that exist per partition (position, committed offset, watermarks, lag, paused)
//!   are not pushed: an observer reads them when it needs them through the
//!   [`PartitionSource`] it received in [`Hooks::on_start`], so partitions no longer
//!   assigned simply stop being reported (bounded cardinality).
//!
//! This module sits low in the layering (beside `types`): it names only vocabulary types, so
//! `fetch`, `group` and the runner can call it without importing anything above them.

use std::{
    fmt,
    sync::{Arc, Weak},
    time::Duration,
};

use crate::types::TopicPartition;

/// What one fetch response brought, reported once per response.
#[derive(Debug, Clone, Copy)]
pub struct FetchReport<'a> {
    /// The broker (node id) that answered.
    pub broker: i32,
    /// From sending the request to having its response.
    pub latency: Duration,
    /// Record-batch bytes the response carried for partitions still wanted.
    pub bytes: u64,
    /// Per topic: (topic, records, bytes) of data batches past the fetch position. Records
    /// are counted from the batch headers (before aborted-transaction filtering).
    pub topics: &'a [(Arc<str>, u64, u64)],
}

/// A finished rebalance: the member synced into a generation.
#[derive(Debug, Clone, Copy)]
pub struct RebalanceReport<'a> {
    /// The group id.
    pub group: &'a str,
    /// The generation the member synced into.
    pub generation: i32,
    /// The member id the coordinator gave this member.
    pub member_id: &'a str,
    /// From the start of the rebalance (the first JoinGroup sent) to the sync answer.
    pub duration: Duration,
    /// Partitions the member owns in this generation.
    pub assigned: usize,
}

/// One OffsetCommit round (with its retries), reported when it ends.
#[derive(Debug, Clone, Copy)]
pub struct CommitReport<'a> {
    /// The group id.
    pub group: &'a str,
    /// From the call to its result.
    pub latency: Duration,
    /// Partitions in the commit.
    pub partitions: usize,
    /// Whether the commit succeeded.
    pub ok: bool,
}

/// How one handler attempt ended (the runner's outcome kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HandlerOutcome {
    /// The handler finished the message.
    Processed,
    /// The handler failed with a retryable error.
    Retryable,
    /// The handler failed with a permanent error.
    Permanent,
    /// No result within `[handler] timeout`.
    Timeout,
    /// The handler panicked.
    Panic,
}

impl HandlerOutcome {
    /// The label value: `processed`, `retryable`, `permanent`, `timeout`, `panic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Retryable => "retryable",
            Self::Permanent => "permanent",
            Self::Timeout => "timeout",
            Self::Panic => "panic",
        }
    }
}

/// The runner's circuit breaker state, as hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Processing and dead-lettering normally.
    Closed,
    /// Tripped: dead-lettering stopped, partitions paused, nothing committed.
    Open,
    /// One message tests recovery.
    HalfOpen,
}

impl CircuitState {
    /// The label value: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Where an error reported through [`Hooks::on_error`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A request to a broker or a connection failed.
    Connection,
    /// An offset commit failed.
    Commit,
    /// A handler attempt failed (error, timeout or panic).
    Handler,
    /// Writing to the dead-letter topic failed.
    DeadLetter,
}

impl ErrorKind {
    /// The label value: `connection`, `commit`, `handler`, `dead_letter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Commit => "commit",
            Self::Handler => "handler",
            Self::DeadLetter => "dead_letter",
        }
    }
}

/// One error, reported when it happens (rare by nature: never per healthy record).
#[derive(Clone, Copy)]
pub struct ErrorReport<'a> {
    /// Where it happened.
    pub kind: ErrorKind,
    /// The partition concerned, if one is.
    pub partition: Option<&'a TopicPartition>,
    /// The offset of the message concerned, if one is.
    pub offset: Option<i64>,
    /// The broker concerned, if one is.
    pub broker: Option<i32>,
    /// The error's text (`Display`; never carries secrets).
    pub message: &'a dyn fmt::Display,
}

impl fmt::Debug for ErrorReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorReport")
            .field("kind", &self.kind)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("broker", &self.broker)
            .field("message", &format_args!("{}", self.message))
            .finish()
    }
}

/// One assigned partition as of now, read from the partition table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionStats {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// The offset of the next message the application will receive, once known.
    pub position: Option<i64>,
    /// The group's committed offset, as last fetched or committed by this member.
    pub committed: Option<i64>,
    /// The high watermark, as of the last fetch.
    pub high_watermark: Option<i64>,
    /// The last stable offset, as of the last fetch.
    pub last_stable_offset: Option<i64>,
    /// The end lag is measured against: the LSO under read_committed, the HW otherwise.
    pub end: Option<i64>,
    /// `end − position` (never negative).
    pub lag: Option<i64>,
    /// `end − committed` (never negative).
    pub committed_lag: Option<i64>,
    /// Whether the partition is paused.
    pub paused: bool,
}

/// What an observer reads on demand from a running consumer (implemented by its shared
/// state; held weakly, so an observer never keeps a closed consumer alive).
pub trait PartitionSource: Send + Sync {
    /// Every assigned partition, sorted by topic and partition.
    fn partitions(&self) -> Vec<PartitionStats>;
    /// Bytes of fetched data buffered ahead of the application.
    fn buffered_bytes(&self) -> usize;
    /// The buffer's budget (`queued.max.messages.kbytes` × 1024).
    fn buffer_budget(&self) -> usize;
    /// The group id, if the consumer has one.
    fn group_id(&self) -> Option<&str>;
    /// Whether the consumer is open and its background tasks run.
    fn running(&self) -> bool {
        true
    }
}

impl fmt::Debug for dyn PartitionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartitionSource")
    }
}

/// The observer the consumer and the runner report to. Every method has an empty default
/// body: implement only those you need. Called from the consumer's tasks: keep each call
/// quick and never block.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use rskafka_consumer::hooks::{FetchReport, Hooks};
///
/// #[derive(Default)]
/// struct FetchedBytes(AtomicU64);
///
/// impl Hooks for FetchedBytes {
///     fn on_fetch(&self, fetch: &FetchReport<'_>) {
///         self.0.fetch_add(fetch.bytes, Ordering::Relaxed);
///     }
/// }
///
/// # fn demo() -> Result<(), rskafka_consumer::ConfigError> {
/// let mut config = rskafka_consumer::ConsumerConfig::new("127.0.0.1:9092")?;
/// config.hooks = Arc::new(FetchedBytes::default()).into();
/// # Ok(()) }
/// ```
pub trait Hooks: Send + Sync + 'static {
    /// A consumer started; `source` reads its partitions on demand.
    fn on_start(&self, source: Weak<dyn PartitionSource>) {
        let _ = source;
    }
    /// A fetch response arrived.
    fn on_fetch(&self, fetch: &FetchReport<'_>) {
        let _ = fetch;
    }
    /// A fetch from `broker` failed as a whole: no connection, a send or request timeout, a
    /// broken response, or an error code for the whole response.
    fn on_broker_error(&self, broker: i32) {
        let _ = broker;
    }
    /// The member of `group` started a rebalance (joining, or rejoining): until
    /// [`Hooks::on_rebalance_finished`] it has no stable assignment.
    fn on_rebalance_started(&self, group: &str) {
        let _ = group;
    }
    /// The member synced into a generation.
    fn on_rebalance_finished(&self, rebalance: &RebalanceReport<'_>) {
        let _ = rebalance;
    }
    /// An offset commit ended.
    fn on_commit(&self, commit: &CommitReport<'_>) {
        let _ = commit;
    }
    /// The runner's handler finished one attempt on a message of `tp` after `elapsed`.
    fn on_handler(&self, tp: &TopicPartition, elapsed: Duration, outcome: HandlerOutcome) {
        let _ = (tp, elapsed, outcome);
    }
    /// The runner scheduled another attempt for a message of `tp`.
    fn on_retry(&self, tp: &TopicPartition) {
        let _ = tp;
    }
    /// The runner skipped a message of `tp` the idempotency store knew.
    fn on_idempotent_skip(&self, tp: &TopicPartition) {
        let _ = tp;
    }
    /// A message of `tp` was written to the dead-letter topic (`latency`: the DLQ produce).
    fn on_dead_lettered(&self, tp: &TopicPartition, latency: Duration) {
        let _ = (tp, latency);
    }
    /// Writing a message of `tp` to the dead-letter topic failed (it is retried).
    fn on_dead_letter_failed(&self, tp: &TopicPartition) {
        let _ = tp;
    }
    /// The runner's circuit breaker moved to `state`.
    fn on_circuit(&self, state: CircuitState) {
        let _ = state;
    }
    /// An error happened (a failed request, commit, handler attempt or dead-letter write),
    /// in addition to the counting hook of its kind. The message is formatted only by
    /// implementations that keep it.
    fn on_error(&self, error: &ErrorReport<'_>) {
        let _ = error;
    }
}

/// Hooks that do nothing: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// The hooks a configuration carries: shared, cheap to clone; [`NoHooks`] by default. Two
/// values are equal when they are the same hooks object.
#[derive(Clone)]
pub struct HookSet {
    hooks: Arc<dyn Hooks>,
    installed: bool,
}

impl HookSet {
    /// The hooks to call.
    pub fn get(&self) -> &dyn Hooks {
        &*self.hooks
    }

    /// Whether these are the default [`NoHooks`] (nothing installed).
    pub fn is_default(&self) -> bool {
        !self.installed
    }
}

impl Default for HookSet {
    fn default() -> Self {
        Self {
            hooks: Arc::new(NoHooks),
            installed: false,
        }
    }
}

impl<H: Hooks> From<Arc<H>> for HookSet {
    fn from(hooks: Arc<H>) -> Self {
        Self {
            hooks,
            installed: true,
        }
    }
}

impl From<Arc<dyn Hooks>> for HookSet {
    fn from(hooks: Arc<dyn Hooks>) -> Self {
        Self {
            hooks,
            installed: true,
        }
    }
}

impl fmt::Debug for HookSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_default() {
            "HookSet(none)"
        } else {
            "HookSet(..)"
        })
    }
}

impl PartialEq for HookSet {
    fn eq(&self, other: &Self) -> bool {
        self.installed == other.installed
            && (!self.installed || Arc::ptr_eq(&self.hooks, &other.hooks))
    }
}

impl Eq for HookSet {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_hook_set_is_none_and_sets_compare_by_identity() {
        let none = HookSet::default();
        assert!(none.is_default());
        assert_eq!(none, HookSet::default());
        let hooks = Arc::new(NoHooks);
        let a = HookSet::from(Arc::clone(&hooks));
        assert!(
            !a.is_default(),
            "installed hooks count even when they do nothing"
        );
        assert_eq!(a, a.clone());
        assert_ne!(a, HookSet::from(Arc::new(NoHooks)));
        assert_ne!(a, none);
        assert_eq!(format!("{none:?} {a:?}"), "HookSet(none) HookSet(..)");
    }
}
