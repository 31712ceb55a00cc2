//! A fetched record batch waiting in the buffer, decoded only when its records are handed out.
//!
//! Invariants:
//! - A [`FetchedBatch`] owns its bytes (copied out of the response, see
//!   [`RecordBatch::detached`]): the response frame is freed once the fetch is applied, and
//!   nothing the consumer skips (control batches, aborted data, records before the position)
//!   stays pinned.
//! - It is counted against the budget at what it holds ([`FetchedBatch::held_size`]: the
//!   compressed size for compressed batches); its records are decompressed and counted at
//!   their decoded size only when the application reaches them, one batch at a time, and
//!   never to more than the budget (the decompression limit).

use std::{collections::VecDeque, sync::Arc};

use crate::{
    error::Error,
    record::RecordBatch,
    types::{Message, TopicPartition},
};

/// One data batch of a fetch, not yet decoded.
#[derive(Debug, Clone)]
pub(crate) struct FetchedBatch {
    batch: RecordBatch,
    /// Records before this offset were fetched before (the fetch started inside the batch).
    from: i64,
}

impl FetchedBatch {
    /// `batch`, detached from its response, keeping its records at or after `from`.
    pub(crate) fn new(batch: &RecordBatch, from: i64) -> Self {
        Self {
            batch: batch.detached(),
            from,
        }
    }

    /// Bytes this batch holds while undecoded.
    pub(crate) fn held_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.batch.records_len()
    }

    /// Decompresses (at most `limit` bytes) and decodes the batch's records at or after its
    /// start offset into messages of `tp`; a batch that cannot be decoded is a
    /// [`Error::CorruptBatch`].
    pub(crate) fn decode(
        &self,
        tp: &TopicPartition,
        limit: usize,
    ) -> Result<VecDeque<Message>, Error> {
        let header = &self.batch.header;
        let records = self.batch.records(limit).map_err(|e| Error::CorruptBatch {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            offset: header.base_offset,
            reason: e.to_string(),
        })?;
        let timestamp_type = header.timestamp_type();
        let leader_epoch =
            (header.partition_leader_epoch >= 0).then_some(header.partition_leader_epoch);
        let mut messages = VecDeque::with_capacity(records.len());
        messages.extend(
            records
                .into_iter()
                .filter(|r| r.offset >= self.from)
                .map(|r| Message {
                    topic: Arc::clone(&tp.topic),
                    partition: tp.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    timestamp_type,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                    leader_epoch,
                }),
        );
        Ok(messages)
    }
}
