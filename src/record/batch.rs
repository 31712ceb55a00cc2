//! The v2 batch header, its CRC, and [`BatchReader`], which splits a Fetch response's records
//! blob into verified batches.

use bytes::Bytes;

use super::{
    Compression, ControlType, Record, RecordError, TimestampType, compression, control, records,
};
use crate::wire::{DecodeError, Decoder};

/// Bytes before the batch-length field's payload: baseOffset int64 + batchLength int32.
const LOG_OVERHEAD: usize = 12;
/// Offset of the magic byte from the start of a batch (same place in v0, v1 and v2).
const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC field; the CRC covers everything after it (attributes onwards).
const CRC_OFFSET: usize = 17;
/// Offset of the attributes field, where the CRC-covered bytes begin.
const CRC_START: usize = 21;
/// Size of the fixed v2 batch header, up to and including recordsCount.
pub(crate) const HEADER_LEN: usize = 61;

/// The fixed header of a v2 record batch, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record of the batch (records carry deltas from it).
    pub base_offset: i64,
    /// Bytes of the batch after this field (from partitionLeaderEpoch to the end).
    pub batch_length: i32,
    /// Epoch of the partition leader that appended the batch.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 here.
    pub magic: i8,
    /// CRC-32C of the batch from the attributes field to its end (verified by [`BatchReader`]).
    pub crc: u32,
    /// Codec (bits 0–2), timestamp type (bit 3), transactional (bit 4), control (bit 5).
    pub attributes: i16,
    /// Offset delta of the last record the batch was written with (kept by compaction).
    pub last_offset_delta: i32,
    /// Timestamp of the first record; record timestamps are deltas from it (CreateTime).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch; every record's timestamp under LogAppendTime.
    pub max_timestamp: i64,
    /// Producer id of an idempotent or transactional producer, else -1.
    pub producer_id: i64,
    /// Producer epoch, else -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, else -1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

impl BatchHeader {
    /// The codec of the records section; an unknown codec id is a [`RecordError::Compression`].
    pub fn compression(&self) -> Result<Compression, RecordError> {
        match self.attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(RecordError::Compression {
                base_offset: self.base_offset,
                codec: "unknown",
                reason: format!("unknown codec id {other} in batch attributes"),
            }),
        }
    }

    /// How record timestamps were assigned (attributes bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction (attributes bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Whether the batch holds control records (COMMIT/ABORT markers; attributes bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Offset of the last record the batch was written with: `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Where the next fetch must start: `last_offset() + 1`, even when the batch's records were
    /// all control records or compacted away.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Decodes the 61-byte header at the start of `batch` (length and magic already checked).
    fn decode(batch: &Bytes) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(batch);
        Ok(Self {
            base_offset: d.i64()?,
            batch_length: d.i32()?,
            partition_leader_epoch: d.i32()?,
            magic: d.i8()?,
            crc: d.u32()?,
            attributes: d.i16()?,
            last_offset_delta: d.i32()?,
            base_timestamp: d.i64()?,
            max_timestamp: d.i64()?,
            producer_id: d.i64()?,
            producer_epoch: d.i16()?,
            base_sequence: d.i32()?,
            record_count: d.i32()?,
        })
    }
}

/// One CRC-verified v2 record batch; its records are decoded on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// The batch header.
    pub header: BatchHeader,
    /// The records section after the header, possibly compressed.
    records: Bytes,
}

impl RecordBatch {
    /// Decompresses (at most `max_decompressed` bytes, else [`RecordError::DecompressedTooLarge`])
    /// and decodes all records.
    ///
    /// Offsets are `base_offset + offset_delta`; timestamps are `base_timestamp + delta` under
    /// CreateTime and `max_timestamp` for every record under LogAppendTime. The number of records
    /// must match the header's `record_count` (else [`RecordError::Malformed`]). A control
    /// batch yields its control records as they are; [`RecordBatch::control_type`] reads them.
    pub fn records(&self, max_decompressed: usize) -> Result<Vec<Record>, RecordError> {
        let codec = self.header.compression()?;
        if self.header.record_count == 0 && self.records.is_empty() {
            return Ok(Vec::new());
        }
        let section = compression::decompress(
            codec,
            &self.records,
            max_decompressed,
            self.header.base_offset,
        )?;
        records::decode_all(&self.header, &section)
    }

    /// [`RecordBatch::records`] into the caller's storage (see [`records::RecordSink`]),
    /// without an intermediate `Vec`.
    pub(crate) fn records_into(
        &self,
        max_decompressed: usize,
        sink: &mut impl records::RecordSink,
    ) -> Result<(), RecordError> {
        let codec = self.header.compression()?;
        if self.header.record_count == 0 && self.records.is_empty() {
            return Ok(());
        }
        let mut section = compression::decompress(
            codec,
            &self.records,
            max_decompressed,
            self.header.base_offset,
        )?;
        if codec == Compression::None {
            // The records' key and value slices count references on a handle of this batch
            // alone, not on the whole response's: the thread that drops the messages and the
            // one that decodes the next batches never touch the same counter.
            section = Bytes::from_owner(section);
        }
        records::decode_each(&self.header, &section, sink)
    }

    /// For control batches, the control type read from the first record's key (int16 version,
    /// int16 type: 0 = ABORT, 1 = COMMIT). `Ok(None)` if this is not a control batch, or if the
    /// control batch has no records (compaction leaves such batches behind).
    pub fn control_type(
        &self,
        max_decompressed: usize,
    ) -> Result<Option<ControlType>, RecordError> {
        if !self.header.is_control() {
            return Ok(None);
        }
        let records = self.records(max_decompressed)?;
        match records.first() {
            None => Ok(None),
            Some(record) => {
                control::parse_key(self.header.base_offset, record.key.as_ref()).map(Some)
            }
        }
    }

    /// Size of the records section as stored (compressed size for compressed batches).
    pub fn records_len(&self) -> usize {
        self.records.len()
    }
}

/// Iterates the batches in a Fetch response's records blob.
///
/// Each batch's CRC is verified before it is yielded. A partial batch at the end of the blob
/// (brokers cut responses at the fetch size) ends the iteration cleanly. After an error the
/// iterator is exhausted: nothing behind a corrupt batch is returned.
#[derive(Debug, Clone)]
pub struct BatchReader {
    data: Bytes,
    pos: usize,
    done: bool,
}

impl BatchReader {
    /// Reads the batches in `data`, a partition's records blob.
    pub fn new(data: Bytes) -> Self {
        Self {
            data,
            pos: 0,
            done: false,
        }
    }

    /// Bytes of the blob not yet consumed (includes a trailing partial batch).
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn next_batch(&mut self) -> Option<Result<RecordBatch, RecordError>> {
        let rest = self.data.get(self.pos..)?;
        if rest.len() < LOG_OVERHEAD {
            return None;
        }
        let base_offset = i64::from_be_bytes(rest[0..8].try_into().ok()?);
        let batch_length = i32::from_be_bytes(rest[8..12].try_into().ok()?);
        let malformed =
            |reason: String| RecordError::malformed(base_offset, "record batch", reason);
        let Ok(length) = usize::try_from(batch_length) else {
            return Some(Err(malformed(format!(
                "negative batch length {batch_length}"
            ))));
        };
        let Some(total) = length
            .checked_add(LOG_OVERHEAD)
            .filter(|&t| t <= rest.len())
        else {
            // A partial batch: the broker cut the response at its size limit.
            return None;
        };
        // The magic byte sits at the same place in every format; look at it before anything else.
        if total <= MAGIC_OFFSET {
            return Some(Err(malformed(format!(
                "batch length {batch_length} does not reach the magic byte"
            ))));
        }
        let magic = rest[MAGIC_OFFSET] as i8;
        if magic != 2 {
            return Some(Err(RecordError::UnsupportedMagic { base_offset, magic }));
        }
        if total < HEADER_LEN {
            return Some(Err(malformed(format!(
                "batch length {batch_length} is shorter than the v2 header ({} bytes)",
                HEADER_LEN - LOG_OVERHEAD
            ))));
        }
        let stored = u32::from_be_bytes(rest[CRC_OFFSET..CRC_START].try_into().ok()?);
        let computed = crc32c::crc32c(&rest[CRC_START..total]);
        if stored != computed {
            return Some(Err(RecordError::Crc {
                base_offset,
                expected: stored,
                computed,
            }));
        }
        let batch = self.data.slice(self.pos..self.pos + total);
        self.pos += total;
        let header = match BatchHeader::decode(&batch) {
            Ok(header) => header,
            Err(error) => return Some(Err(RecordError::Malformed { base_offset, error })),
        };
        if header.last_offset_delta < 0 {
            return Some(Err(malformed(format!(
                "negative last offset delta {}",
                header.last_offset_delta
            ))));
        }
        if header
            .base_offset
            .checked_add(i64::from(header.last_offset_delta))
            .and_then(|last| last.checked_add(1))
            .is_none()
        {
            return Some(Err(malformed("last offset overflows int64".to_owned())));
        }
        if header.record_count < 0 {
            return Some(Err(malformed(format!(
                "negative record count {}",
                header.record_count
            ))));
        }
        Some(Ok(RecordBatch {
            header,
            records: batch.slice(HEADER_LEN..),
        }))
    }
}

impl Iterator for BatchReader {
    type Item = Result<RecordBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_batch();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl std::iter::FusedIterator for BatchReader {}
