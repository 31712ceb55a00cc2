//! A fetched record batch waiting in the buffer, decoded only when its records are handed out.
//!
//! Invariants:
//! - A [`FetchedBatch`] is a slice of its response (no copy: copying every batch out of each
//!   response measured worse, the copies and the response live side by side and fragment the
//!   allocator's arenas). What the consumer skips in that partition's data (control batches,
//!   aborted data, records before the position) stays pinned by the slices, so it is counted
//!   too: the last batch of a partition's data carries the skipped bytes
//!   ([`FetchedBatch::pin`]), and a delivery counts the partition's whole records blob.
//! - It is counted against the budget at what it holds ([`FetchedBatch::held_size`]: the
//!   stored, i.e. compressed, size); its records are decompressed and counted at their
//!   decoded size only when the application reaches them, one batch at a time, and never to
//!   more than the budget (the decompression limit).

use std::{collections::VecDeque, sync::Arc};

use crate::{
    error::Error,
    record::{HEADER_LEN, Record, RecordBatch, RecordSink},
    types::{Message, TimestampType, TopicPartition},
};

/// One data batch of a fetch, not yet decoded.
#[derive(Debug, Clone)]
pub(crate) struct FetchedBatch {
    batch: RecordBatch,
    /// Records before this offset were fetched before (the fetch started inside the batch).
    from: i64,
    /// Bytes of the response this batch keeps alive besides its own (see the module doc).
    pinned: usize,
}

impl FetchedBatch {
    /// `batch` of `tp`, keeping its records at or after `from`. Nothing is decoded here,
    /// whatever the codec: the fetch loop only walks batch headers (and checks CRCs), and the
    /// polling thread decodes the batch when it reaches it, so that fetching and decoding
    /// run side by side on two cores.
    pub(crate) fn new(batch: RecordBatch, from: i64) -> Self {
        Self {
            batch,
            from,
            pinned: 0,
        }
    }

    /// Counts `bytes` more of the response as held by this batch.
    pub(crate) fn pin(&mut self, bytes: usize) {
        self.pinned += bytes;
    }

    /// Records of the batch at or after the fetch position, from the header (for metrics: a
    /// compacted batch may hold fewer).
    pub(crate) fn record_count(&self) -> u64 {
        let h = &self.batch.header;
        let n = if self.from > h.base_offset {
            self.batch.header.last_offset() - self.from + 1
        } else {
            i64::from(h.record_count)
        };
        u64::try_from(n).unwrap_or(0)
    }

    /// Bytes of the batch as stored (header and records section).
    pub(crate) fn stored_size(&self) -> usize {
        HEADER_LEN + self.batch.records_len()
    }

    /// Bytes this batch holds while undecoded, plus the message structs its records become
    /// (so that the budget bounds the buffer's records, not only its bytes, as when they were
    /// decoded at fetch time).
    pub(crate) fn held_size(&self) -> usize {
        let records = usize::try_from(self.batch.header.record_count).unwrap_or(0);
        std::mem::size_of::<Self>()
            + HEADER_LEN
            + self.batch.records_len()
            + self.pinned
            + records * std::mem::size_of::<Message>()
    }

    /// Decompresses (at most `limit` bytes) and decodes the batch's records at or after its
    /// start offset into messages of `tp`, with their [`Message::buffered_size`] total; a
    /// batch that cannot be decoded is a [`Error::CorruptBatch`].
    pub(crate) fn decode(
        self,
        tp: &TopicPartition,
        limit: usize,
    ) -> Result<(VecDeque<Message>, usize), Error> {
        let header = &self.batch.header;
        let timestamp_type = header.timestamp_type();
        let leader_epoch =
            (header.partition_leader_epoch >= 0).then_some(header.partition_leader_epoch);
        // Straight into pre-sized storage: no intermediate records, no regrowth.
        let mut sink = MessageSink {
            // The batch's own copy of the topic name: its messages' reference counting never
            // shares a counter with another batch's (the decoding thread and the one dropping
            // messages would contend for it).
            topic: Arc::from(&*tp.topic),
            tp,
            from: self.from,
            timestamp_type,
            leader_epoch,
            messages: VecDeque::new(),
            size: 0,
        };
        self.batch
            .records_into(limit, &mut sink)
            .map_err(|e| Error::CorruptBatch {
                topic: tp.topic.to_string(),
                partition: tp.partition,
                offset: header.base_offset,
                reason: e.to_string(),
            })?;
        Ok((sink.messages, sink.size))
    }
}

/// Decoded records of one batch becoming messages of `tp` (those at or after `from`).
struct MessageSink<'a> {
    topic: Arc<str>,
    tp: &'a TopicPartition,
    from: i64,
    timestamp_type: TimestampType,
    leader_epoch: Option<i32>,
    messages: VecDeque<Message>,
    /// [`Message::buffered_size`] of all of `messages`.
    size: usize,
}

impl RecordSink for MessageSink<'_> {
    fn reserve(&mut self, count: usize) {
        self.messages.reserve_exact(count);
    }

    #[inline(always)]
    fn push(&mut self, r: Record) {
        if r.offset < self.from {
            return;
        }
        let message = Message {
            topic: Arc::clone(&self.topic),
            partition: self.tp.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            timestamp_type: self.timestamp_type,
            key: r.key,
            value: r.value,
            headers: r.headers,
            leader_epoch: self.leader_epoch,
        };
        self.size += message.buffered_size();
        self.messages.push_back(message);
    }
}
