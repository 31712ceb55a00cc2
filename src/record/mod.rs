//! Kafka record batches (magic v2): decoding the `records` blob of a Fetch response, and
//! encoding the batches a producer sends ([`encode`]).
//!
//! This module owns everything between the raw bytes a broker returns for one partition and
//! the [`Record`]s a consumer hands to its user:
//!
//! - [`BatchReader`] walks the batches of a blob, verifies each batch's CRC-32C before anything
//!   of it is returned, rejects the old v0/v1 message sets with a clear error, and ends cleanly
//!   at the partial batch a broker may leave at the end of a response.
//! - [`RecordBatch::records`] decompresses the batch (gzip, snappy raw or Java/xerial framed,
//!   LZ4 frame, zstd; all pure Rust and bounded by a caller-given limit) and decodes its records.
//! - [`RecordBatch::control_type`] reads the COMMIT/ABORT marker of a control batch from the
//!   control record's *key*, and treats an empty control batch as "no marker".
//!
//! Decoding is zero-copy: keys, values and header values are [`Bytes`] slices of the input
//! (or of the decompressed buffer). Every length is checked against the bytes that remain, so
//! hostile input yields a [`RecordError`], never a panic or an allocation it did not earn.

mod batch;
mod compression;
mod control;
pub mod encode;
mod records;

#[cfg(test)]
pub(crate) mod builder;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use thiserror::Error;

use crate::wire::DecodeError;

pub use crate::types::{Header, TimestampType};
pub(crate) use batch::HEADER_LEN;
pub use batch::{BatchHeader, BatchReader, RecordBatch};
pub use encode::{BatchParams, EncodeError, ProducerRecord, encode_batch};
pub(crate) use records::RecordSink;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset: the batch's base offset plus the record's offset delta.
    pub offset: i64,
    /// Milliseconds since the epoch, per the batch's [`TimestampType`].
    pub timestamp: i64,
    /// The key; `None` is a null key, distinct from an empty one.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone), distinct from an empty one.
    pub value: Option<Bytes>,
    /// The headers, in wire order.
    pub headers: Vec<Header>,
}

/// The codec of a batch's records section (attributes bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Uncompressed (0).
    None,
    /// gzip (1).
    Gzip,
    /// Snappy (2): a raw block or the Java/xerial framing.
    Snappy,
    /// LZ4 (3), frame format.
    Lz4,
    /// Zstandard (4).
    Zstd,
}

impl Compression {
    /// The codec's name, as Kafka's `compression.type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// The marker a control batch carries (the type field of its record's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    /// Type 0: the producer's transaction was aborted.
    Abort,
    /// Type 1: the producer's transaction was committed.
    Commit,
    /// Any other type (e.g. KRaft's leader-change records); consumers skip these.
    Other(i16),
}

/// A record batch could not be read. Every variant names the batch by its base offset.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The CRC-32C stored in the batch does not match its contents.
    #[error(
        "batch at offset {base_offset}: CRC mismatch (stored {expected:#010x}, computed {computed:#010x})"
    )]
    Crc {
        /// Base offset of the batch.
        base_offset: i64,
        /// The CRC stored in the batch header.
        expected: u32,
        /// The CRC computed over the batch.
        computed: u32,
    },
    /// The batch is not in the v2 format (v0/v1 message sets are not supported).
    #[error(
        "batch at offset {base_offset}: unsupported magic {magic} (only v2 record batches are supported)"
    )]
    UnsupportedMagic {
        /// Base offset of the batch.
        base_offset: i64,
        /// The magic byte found.
        magic: i8,
    },
    /// The records section could not be decompressed, or names an unknown codec.
    #[error("batch at offset {base_offset}: {codec} decompression failed: {reason}")]
    Compression {
        /// Base offset of the batch.
        base_offset: i64,
        /// The codec (`"gzip"`, `"snappy"`, `"lz4"`, `"zstd"`, or `"unknown"`).
        codec: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The records section decompresses to more than the caller's limit.
    #[error("batch at offset {base_offset}: decompressed records exceed {limit} bytes")]
    DecompressedTooLarge {
        /// Base offset of the batch.
        base_offset: i64,
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The batch or one of its records breaks the format.
    #[error("batch at offset {base_offset}: {error}")]
    Malformed {
        /// Base offset of the batch.
        base_offset: i64,
        /// What was wrong.
        error: DecodeError,
    },
}

impl RecordError {
    /// Base offset of the batch the error is about.
    pub fn base_offset(&self) -> i64 {
        match self {
            Self::Crc { base_offset, .. }
            | Self::UnsupportedMagic { base_offset, .. }
            | Self::Compression { base_offset, .. }
            | Self::DecompressedTooLarge { base_offset, .. }
            | Self::Malformed { base_offset, .. } => *base_offset,
        }
    }

    /// A [`RecordError::Malformed`] for a structural rule, described by `what` and `reason`.
    pub(crate) fn malformed(
        base_offset: i64,
        what: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self::Malformed {
            base_offset,
            error: DecodeError::Malformed {
                what,
                reason: reason.into(),
            },
        }
    }
}
