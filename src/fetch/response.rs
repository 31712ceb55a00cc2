//! Turns one partition's part of a Fetch response into messages and a new position.
//!
//! Pure logic: walk the batches (CRC checked by the record layer), skip what lies before the
//! fetch position, drop aborted transactions under read_committed, never surface control
//! records, and advance the position to the last batch's last offset + 1. A corrupt batch
//! stops the walk: nothing at or after it is returned, and the position stays at it.
//!
//! Data batches are not decoded here: each is kept as it came (a slice of the response, still
//! compressed) for the buffer to decode when the application reaches it (see
//! `state::FetchedBatch`); the last one also counts the bytes skipped around them. Only
//! control batches (a marker each) are decoded.

use crate::{
    config::IsolationLevel,
    error::Error,
    record::{BatchReader, ControlType, RecordError},
    state::FetchedBatch,
    types::TopicPartition,
    wire::fetch::FetchResponsePartition,
};

use super::txn_filter::AbortedFilter;

/// What one partition's data yielded.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The data batches past the fetch position, undecoded.
    pub(crate) batches: Vec<FetchedBatch>,
    /// The position after this data.
    pub(crate) next_offset: i64,
    /// The leader epoch of the last batch passed (that of the record before `next_offset`),
    /// when the data passed one that has an epoch.
    pub(crate) last_epoch: Option<i32>,
    /// A corrupt batch that stopped decoding.
    pub(crate) error: Option<Error>,
    /// The partition's data was not empty, yet held no complete batch past the fetch offset.
    no_progress: bool,
}

impl Decoded {
    /// Whether the data made no progress: bytes came, but only an incomplete batch (bigger
    /// than the partition's size limit). Fetching again with the same limit cannot help.
    pub(crate) fn is_incomplete(&self) -> bool {
        self.no_progress
    }
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
    let mut last_epoch = None;
    let mut batches = Vec::new();
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
                    batches,
                    next_offset: position,
                    last_epoch,
                    error: Some(corrupt(offset, e)),
                    no_progress: false,
                };
            }
        };
        let header = batch.header;
        if header.next_offset() <= position {
            continue;
        }
        // Every batch passed below moves the position past it (or stops decoding first).
        let epoch = (header.partition_leader_epoch >= 0).then_some(header.partition_leader_epoch);
        if header.is_control() {
            match batch.control_type(max_decompressed) {
                Ok(Some(ControlType::Abort)) => {
                    if let Some(f) = filter.as_mut() {
                        f.on_abort_marker(&header);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    return Decoded {
                        batches,
                        next_offset: position,
                        last_epoch,
                        error: Some(corrupt(header.base_offset, e)),
                        no_progress: false,
                    };
                }
            }
            position = header.next_offset();
            last_epoch = epoch.or(last_epoch);
            continue;
        }
        if filter.as_mut().is_some_and(|f| f.is_aborted(&header)) {
            position = header.next_offset();
            last_epoch = epoch.or(last_epoch);
            continue;
        }
        if let Err(e) = header.compression() {
            return Decoded {
                batches,
                next_offset: position,
                last_epoch,
                error: Some(corrupt(header.base_offset, e)),
                no_progress: false,
            };
        }
        batches.push(FetchedBatch::new(batch, position));
        position = header.next_offset();
        last_epoch = epoch.or(last_epoch);
    }
    let kept: usize = batches.iter().map(FetchedBatch::stored_size).sum();
    if let Some(last) = batches.last_mut() {
        last.pin(data.records.len().saturating_sub(kept));
    }
    Decoded {
        no_progress: position == fetch_offset && !data.records.is_empty(),
        batches,
        next_offset: position,
        last_epoch,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::record::builder::{BatchBuilder, TestRecord};

    fn partition(records: Vec<u8>) -> FetchResponsePartition {
        FetchResponsePartition {
            partition: 0,
            error_code: 0,
            high_watermark: 100,
            last_stable_offset: 100,
            log_start_offset: 0,
            aborted_transactions: None,
            preferred_read_replica: -1,
            records: Bytes::from(records),
            current_leader: None,
            diverging_epoch: None,
        }
    }

    fn decode(offset: i64, records: Vec<u8>) -> Decoded {
        let tp = TopicPartition::new("t", 0);
        let data = partition(records);
        decode_partition(&tp, offset, IsolationLevel::ReadUncommitted, 1 << 20, &data)
    }

    #[test]
    fn data_holding_only_a_cut_first_batch_makes_no_progress() {
        let batch = BatchBuilder::new(10)
            .with((0..5).map(|i| TestRecord::kv(i, b"k", &[7; 100])))
            .build();
        let cut = decode(10, batch[..batch.len() / 2].to_vec());
        assert!(cut.batches.is_empty());
        assert_eq!(cut.next_offset, 10);
        assert!(cut.is_incomplete());
        let whole = decode(10, batch.clone());
        assert_eq!(whole.next_offset, 15);
        assert!(!whole.is_incomplete());
        let empty = decode(15, Vec::new());
        assert!(
            !empty.is_incomplete(),
            "nothing new at the end is not a stall"
        );
        let mut then_cut = batch.clone();
        then_cut.extend_from_slice(&batch[..30]);
        assert!(!decode(10, then_cut).is_incomplete());
    }

    #[test]
    fn the_epoch_of_the_last_batch_passed_is_reported_for_the_next_fetch() {
        let mut first = BatchBuilder::new(0).with((0..3).map(|i| TestRecord::kv(i, b"k", b"v")));
        first.partition_leader_epoch = 3;
        let mut marker = BatchBuilder::control_marker(3, 1);
        marker.partition_leader_epoch = 5;
        let mut records = first.build();
        assert_eq!(decode(0, records.clone()).last_epoch, Some(3));
        records.extend(marker.build());
        let decoded = decode(0, records);
        assert_eq!(
            (decoded.next_offset, decoded.last_epoch),
            (4, Some(5)),
            "a control batch moves the position, and its epoch is the last fetched one"
        );
        assert_eq!(decode(4, Vec::new()).last_epoch, None, "nothing passed");
    }

    #[test]
    fn data_batches_are_kept_undecoded() {
        use crate::record::builder::Codec;
        let batch = BatchBuilder::new(0)
            .with((0..100).map(|i| TestRecord::kv(i, b"k", &[0; 10 << 10])))
            .codec(Codec::Zstd)
            .build();
        let tp = TopicPartition::new("t", 0);
        let data = partition(batch.clone());
        // A limit far below the batch's 1 MiB of values: nothing is decompressed here.
        let decoded = decode_partition(&tp, 0, IsolationLevel::ReadUncommitted, 16, &data);
        assert!(decoded.error.is_none());
        assert_eq!(decoded.next_offset, 100);
        assert_eq!(decoded.batches.len(), 1);
        let counted = batch.len() + 100 * std::mem::size_of::<crate::types::Message>() + 256;
        assert!(decoded.batches[0].held_size() < counted);
        let fetched = decoded.batches.into_iter().next().unwrap();
        let (messages, _) = fetched.decode(&tp, 2 << 20).unwrap();
        assert_eq!(messages.len(), 100);
    }
}
