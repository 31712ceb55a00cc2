//! Turns one partition's part of a Fetch response into messages and a new position.
//!
//! Pure logic: decode each batch (CRC checked by the record layer), drop what lies before the
//! fetch position, drop aborted transactions under read_committed, never surface control
//! records, and advance the position to the last batch's last offset + 1. A corrupt batch
//! stops the walk: nothing at or after it is returned, and the position stays at it.

use std::sync::Arc;

use crate::{
    config::IsolationLevel,
    error::Error,
    record::{BatchReader, ControlType, RecordError},
    types::{Message, TopicPartition},
    wire::fetch::FetchResponsePartition,
};

use super::txn_filter::AbortedFilter;

/// What one partition's data yielded.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) messages: Vec<Message>,
    /// The position after this data.
    pub(crate) next_offset: i64,
    /// A corrupt batch that stopped decoding.
    pub(crate) error: Option<Error>,
}

/// Decodes `data`, fetched from `fetch_offset`.
pub(crate) fn decode_partition(
    tp: &TopicPartition,
    fetch_offset: i64,
    isolation: IsolationLevel,
    max_decompressed: usize,
    data: &FetchResponsePartition,
) -> Decoded {
    let mut filter = (isolation == IsolationLevel::ReadCommitted)
        .then(|| AbortedFilter::new(data.aborted_transactions.as_deref()));
    let mut position = fetch_offset;
    let mut messages = Vec::new();
    let corrupt = |offset: i64, e: RecordError| Error::CorruptBatch {
        topic: tp.topic.to_string(),
        partition: tp.partition,
        offset,
        reason: e.to_string(),
    };
    for batch in BatchReader::new(data.records.clone()) {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                let offset = e.base_offset();
                return Decoded {
                    messages,
                    next_offset: position,
                    error: Some(corrupt(offset, e)),
                };
            }
        };
        let header = &batch.header;
        if header.next_offset() <= position {
            continue;
        }
        if header.is_control() {
            match batch.control_type(max_decompressed) {
                Ok(Some(ControlType::Abort)) => {
                    if let Some(f) = filter.as_mut() {
                        f.on_abort_marker(header);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    return Decoded {
                        messages,
                        next_offset: position,
                        error: Some(corrupt(header.base_offset, e)),
                    };
                }
            }
            position = header.next_offset();
            continue;
        }
        if filter.as_mut().is_some_and(|f| f.is_aborted(header)) {
            position = header.next_offset();
            continue;
        }
        let records = match batch.records(max_decompressed) {
            Ok(records) => records,
            Err(e) => {
                return Decoded {
                    messages,
                    next_offset: position,
                    error: Some(corrupt(header.base_offset, e)),
                };
            }
        };
        let timestamp_type = header.timestamp_type();
        let leader_epoch =
            (header.partition_leader_epoch >= 0).then_some(header.partition_leader_epoch);
        messages.extend(
            records
                .into_iter()
                .filter(|r| r.offset >= position)
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
        position = header.next_offset();
    }
    Decoded {
        messages,
        next_offset: position,
        error: None,
    }
}
