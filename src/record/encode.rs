//! Encoding of magic-v2 record batches, as a producer writes them.
//!
//! Invariants:
//! - A batch is self-contained: base offset 0 (the broker assigns offsets), offset deltas
//!   0..n, `last_offset_delta = n − 1`, the first record's timestamp as the base timestamp and
//!   the largest as the max timestamp, CreateTime, partition leader epoch −1.
//! - The CRC-32C covers everything from the attributes to the end, and is computed after the
//!   records section is compressed.
//! - Compression is pure Rust: gzip (`flate2`, miniz_oxide), snappy as one raw block (`snap`,
//!   what librdkafka writes; Java and librdkafka readers both accept it), LZ4 frame format with
//!   independent 64 KiB blocks (`lz4_flex`, as Kafka's Java client writes), zstd (`ruzstd`,
//!   its fastest level — the only one its encoder has).
//! - The encoder never fails on well-formed input except when a codec reports an error; size
//!   limits are the producer's business, it sees the encoded length.

use std::io::Write;

use bytes::Bytes;
use thiserror::Error;

use super::{Compression, Header};
use crate::wire::Encoder;

/// Length of the batch header fields before the records section, from the base offset on.
pub const BATCH_HEADER_LEN: usize = super::batch::HEADER_LEN;

/// One record to write into a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The key; `None` is a null key, distinct from an empty one.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone), distinct from an empty one.
    pub value: Option<Bytes>,
    /// Headers, written in this order (duplicate keys kept).
    pub headers: Vec<Header>,
    /// CreateTime in milliseconds since the epoch; `None` takes the time of sending.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with this key and value, no headers, stamped when sent.
    pub fn new(key: Option<impl Into<Bytes>>, value: Option<impl Into<Bytes>>) -> Self {
        Self {
            key: key.map(Into::into),
            value: value.map(Into::into),
            headers: Vec::new(),
            timestamp: None,
        }
    }
}

/// The batch-level fields a producer chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchParams {
    /// Producer id, −1 for a non-idempotent producer.
    pub producer_id: i64,
    /// Producer epoch, −1 for a non-idempotent producer.
    pub producer_epoch: i16,
    /// Sequence number of the first record, −1 for a non-idempotent producer.
    pub base_sequence: i32,
    /// Codec of the records section.
    pub compression: Compression,
    /// Timestamp given to records without one (milliseconds since the epoch).
    pub default_timestamp: i64,
}

/// A batch could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A batch must hold at least one record.
    #[error("a record batch needs at least one record")]
    Empty,
    /// A field does not fit the v2 format (more than i32::MAX records or bytes).
    #[error("{0} is too large for a record batch")]
    TooLarge(&'static str),
    /// The codec failed.
    #[error("{codec} compression failed: {reason}")]
    Compression {
        /// The codec's name.
        codec: &'static str,
        /// What it reported.
        reason: String,
    },
}

/// Encodes `records` as one v2 batch (base offset 0), compressed with `params.compression`.
pub fn encode_batch(
    params: &BatchParams,
    records: &[ProducerRecord],
) -> Result<Bytes, EncodeError> {
    let first = records.first().ok_or(EncodeError::Empty)?;
    let count = i32::try_from(records.len()).map_err(|_| EncodeError::TooLarge("record count"))?;
    let timestamp = |r: &ProducerRecord| r.timestamp.unwrap_or(params.default_timestamp);
    let base_timestamp = timestamp(first);
    let max_timestamp = records
        .iter()
        .map(timestamp)
        .max()
        .unwrap_or(base_timestamp);

    let mut raw = Vec::new();
    for (delta, r) in (0..count).zip(records) {
        write_record(
            &mut raw,
            timestamp(r).wrapping_sub(base_timestamp),
            delta,
            r.key.as_deref(),
            r.value.as_deref(),
            r.headers
                .iter()
                .map(|h| (h.key.as_bytes(), h.value.as_deref())),
        )?;
    }
    let section = compress(params.compression, &raw)?;

    let mut after_crc = Vec::with_capacity(40 + section.len());
    let mut e = Encoder::new(&mut after_crc);
    e.i16(codec_id(params.compression));
    e.i32(count - 1);
    e.i64(base_timestamp);
    e.i64(max_timestamp);
    e.i64(params.producer_id);
    e.i16(params.producer_epoch);
    e.i32(params.base_sequence);
    e.i32(count);
    after_crc.extend_from_slice(&section);
    frame_batch(0, -1, 2, &after_crc).map(Bytes::from)
}

/// Prepends the fields before the CRC (base offset, length, leader epoch, magic) and the CRC
/// itself to `after_crc` (attributes onwards).
pub(crate) fn frame_batch(
    base_offset: i64,
    partition_leader_epoch: i32,
    magic: i8,
    after_crc: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    let batch_length = i32::try_from(4 + 1 + 4 + after_crc.len())
        .map_err(|_| EncodeError::TooLarge("batch length"))?;
    let mut out = Vec::with_capacity(12 + batch_length as usize);
    let mut e = Encoder::new(&mut out);
    e.i64(base_offset);
    e.i32(batch_length);
    e.i32(partition_leader_epoch);
    e.i8(magic);
    out.extend_from_slice(&crc32c::crc32c(after_crc).to_be_bytes());
    out.extend_from_slice(after_crc);
    Ok(out)
}

/// The codec id of the attributes' bits 0–2.
pub(crate) fn codec_id(compression: Compression) -> i16 {
    match compression {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

/// Appends one record (length-prefixed) to `out`.
pub(crate) fn write_record<'a>(
    out: &mut Vec<u8>,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
) -> Result<(), EncodeError> {
    let mut body = Vec::new();
    body.push(0); // attributes: unused
    varlong(&mut body, timestamp_delta);
    Encoder::new(&mut body).varint(offset_delta);
    nullable_varint_bytes(&mut body, key)?;
    nullable_varint_bytes(&mut body, value)?;
    let header_count =
        i32::try_from(headers.len()).map_err(|_| EncodeError::TooLarge("header count"))?;
    Encoder::new(&mut body).varint(header_count);
    for (key, value) in headers {
        nullable_varint_bytes(&mut body, Some(key))?;
        nullable_varint_bytes(&mut body, value)?;
    }
    let len = i32::try_from(body.len()).map_err(|_| EncodeError::TooLarge("record"))?;
    Encoder::new(out).varint(len);
    out.extend_from_slice(&body);
    Ok(())
}

/// A varint length (−1 for null) followed by the bytes.
fn nullable_varint_bytes(out: &mut Vec<u8>, v: Option<&[u8]>) -> Result<(), EncodeError> {
    match v {
        None => Encoder::new(out).varint(-1),
        Some(b) => {
            let len = i32::try_from(b.len()).map_err(|_| EncodeError::TooLarge("field"))?;
            Encoder::new(out).varint(len);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Writes a zig-zag varlong.
pub(crate) fn varlong(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Compresses a records section with `compression` (`None` copies it).
pub(crate) fn compress(compression: Compression, raw: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let fail = |reason: String| EncodeError::Compression {
        codec: compression.name(),
        reason,
    };
    match compression {
        Compression::None => Ok(raw.to_vec()),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw.len() / 2),
                flate2::Compression::default(),
            );
            e.write_all(raw).map_err(|e| fail(e.to_string()))?;
            e.finish().map_err(|e| fail(e.to_string()))
        }
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(raw)
            .map_err(|e| fail(e.to_string())),
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(raw).map_err(|e| fail(e.to_string()))?;
            e.finish().map_err(|e| fail(e.to_string()))
        }
        Compression::Zstd => Ok(ruzstd::encoding::compress_to_vec(
            raw,
            ruzstd::encoding::CompressionLevel::Fastest,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BatchReader;

    fn params(compression: Compression) -> BatchParams {
        BatchParams {
            producer_id: 77,
            producer_epoch: 3,
            base_sequence: 12,
            compression,
            default_timestamp: 1_700_000_000_500,
        }
    }

    fn records() -> Vec<ProducerRecord> {
        vec![
            ProducerRecord {
                key: Some(Bytes::from_static(b"k1")),
                value: Some(Bytes::from_static(b"v1")),
                headers: vec![
                    Header {
                        key: "a".into(),
                        value: Some(Bytes::from_static(b"1")),
                    },
                    Header {
                        key: "a".into(),
                        value: None,
                    },
                ],
                timestamp: Some(1_700_000_000_000),
            },
            ProducerRecord::new(None::<Bytes>, None::<Bytes>),
            ProducerRecord {
                key: Some(Bytes::new()),
                value: Some(Bytes::from(vec![7u8; 100_000])),
                headers: Vec::new(),
                timestamp: Some(1_699_999_999_000),
            },
        ]
    }

    #[test]
    fn batches_of_every_codec_decode_back_to_the_same_records() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let input = records();
            let blob = encode_batch(&params(codec), &input).unwrap();
            let mut reader = BatchReader::new(blob);
            let batch = reader.next().expect("one batch").expect("valid batch");
            assert!(reader.next().is_none());
            let h = batch.header;
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (77, 3, 12),
                "{codec:?}"
            );
            assert_eq!(h.last_offset_delta, 2);
            assert_eq!(h.max_timestamp, 1_700_000_000_500);
            assert_eq!(h.compression().unwrap(), codec);
            let got = batch.records(1 << 20).unwrap();
            assert_eq!(got.len(), 3, "{codec:?}");
            for (i, (r, want)) in got.iter().zip(&input).enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.key, want.key, "{codec:?} {i}");
                assert_eq!(r.value, want.value, "{codec:?} {i}");
                assert_eq!(r.headers, want.headers, "{codec:?} {i}");
                assert_eq!(
                    r.timestamp,
                    want.timestamp.unwrap_or(1_700_000_000_500),
                    "{codec:?} {i}"
                );
            }
        }
    }

    #[test]
    fn an_empty_batch_is_refused() {
        assert_eq!(
            encode_batch(&params(Compression::None), &[]),
            Err(EncodeError::Empty)
        );
    }
}
