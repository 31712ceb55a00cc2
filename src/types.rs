//! The crate's vocabulary: what the application receives (messages, events) and the names of
//! partitions, offsets and watermarks.
//!
//! This module sits at the bottom of the layering (with `config` and `error`): every other
//! module may use these types, and they depend on nothing above them. They are re-exported at
//! the crate root and from `consumer`.

use std::{fmt, sync::Arc};

use bytes::Bytes;

/// How the timestamps of a batch were assigned (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    /// Set by the producer; each record carries its own timestamp.
    CreateTime,
    /// Set by the broker when it appended the batch; every record has the batch's max timestamp.
    LogAppendTime,
}

/// One record header. Keys may repeat; order is preserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header key (Kafka requires UTF-8; anything else is a decoding error).
    pub key: String,
    /// The header value; `None` is a null value, distinct from an empty one.
    pub value: Option<Bytes>,
}

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic` / `partition`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.topic, self.partition)
    }
}

/// Where to start (or move) a partition's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The log start offset.
    Beginning,
    /// The end of the log (the last stable offset under read_committed).
    End,
    /// This exact offset; positions outside the log follow `auto.offset.reset`.
    At(i64),
    /// The committed offset of the consumer's group: with a `group.id` configured (subscribed
    /// or not), it is read from the group coordinator with OffsetFetch; where the group has
    /// committed nothing, `auto.offset.reset` decides. Without a `group.id` the same as
    /// [`Offset::Default`].
    Stored,
    /// Wherever `auto.offset.reset` says.
    Default,
}

/// One record, as handed to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: i64,
    /// Whether the producer or the broker set the timestamp.
    pub timestamp_type: TimestampType,
    /// Key, when present (a slice of the fetched data, not a copy).
    pub key: Option<Bytes>,
    /// Value, when present (a slice of the fetched data, not a copy).
    pub value: Option<Bytes>,
    /// Headers in the order the producer wrote them; duplicate keys are kept.
    pub headers: Vec<Header>,
    /// Leader epoch of the batch, when the broker recorded one.
    pub leader_epoch: Option<i32>,
}

impl Message {
    /// The message's topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: Arc::clone(&self.topic),
            partition: self.partition,
        }
    }

    /// Bytes this message holds in memory, as counted against `queued.max.messages.kbytes`.
    pub(crate) fn buffered_size(&self) -> usize {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + len(&h.value))
            .sum();
        std::mem::size_of::<Message>()
            + self.headers.len() * std::mem::size_of::<Header>()
            + len(&self.key)
            + len(&self.value)
            + headers
    }
}

/// What a consumer's stream yields besides errors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message.
    Message(Message),
    /// The partition's position reached its end (the last stable offset under
    /// read_committed, the high watermark otherwise). Sent when `enable.partition.eof=true`,
    /// once each time the end is reached; new records re-arm it.
    PartitionEof {
        /// Topic.
        topic: Arc<str>,
        /// Partition.
        partition: i32,
        /// The position at the end.
        offset: i64,
    },
    /// The group assigned these partitions to this member (only the added ones under
    /// cooperative-sticky).
    Assigned(Vec<TopicPartition>),
    /// These partitions are being taken away in a rebalance. From this event on they are no
    /// longer fetched or handed out; until the application's next poll it may finish what it
    /// holds of them and commit it (`store_offset`, `commit`, `commit_offsets` are accepted
    /// for them). The next poll acknowledges the revocation (at the latest after
    /// `max.poll.interval.ms`): then their stored offsets are committed (with
    /// `enable.auto.commit`) and they move to their new owner. On `close`/`unsubscribe` the
    /// offsets are committed before the event.
    Revoked(Vec<TopicPartition>),
    /// These partitions were lost (the member was fenced or timed out): nothing was committed
    /// for them, and another member may already own them.
    Lost(Vec<TopicPartition>),
}

/// The offsets bounding a partition, as of the last fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// The log start offset.
    pub log_start_offset: i64,
    /// The high watermark: one past the last replicated record.
    pub high_watermark: i64,
    /// The last stable offset: the end for read_committed consumers.
    pub last_stable_offset: i64,
}

impl Watermarks {
    /// Where the log ends for a consumer with `isolation`: the last stable offset under
    /// read_committed (when the broker reports one), the high watermark otherwise.
    pub(crate) fn end(&self, isolation: crate::config::IsolationLevel) -> i64 {
        match isolation {
            crate::config::IsolationLevel::ReadCommitted if self.last_stable_offset >= 0 => {
                self.last_stable_offset
            }
            _ => self.high_watermark,
        }
    }
}
