//! The varint-encoded records inside a (decompressed) records section.
//!
//! Record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
//! key (varint length, -1 = null), value (same), header count varint, then each header's key
//! (varint length, UTF-8) and value (varint length, -1 = null). A record must fill exactly its
//! `length` bytes.

use bytes::Bytes;

use super::{BatchHeader, Header, Record, RecordError, TimestampType};
use crate::wire::{DecodeError, Decoder};

/// The smallest possible record: a one-byte varint for each of length, timestamp delta, offset
/// delta, key length, value length, header count, plus the attributes byte.
const MIN_RECORD_LEN: usize = 7;
/// The smallest possible header: a one-byte varint for each of key and value length.
const MIN_HEADER_LEN: usize = 2;

/// Decodes exactly `header.record_count` records filling all of `section`.
pub(crate) fn decode_all(
    header: &BatchHeader,
    section: &Bytes,
) -> Result<Vec<Record>, RecordError> {
    let mut out = Vec::new();
    decode_each(header, section, &mut out)?;
    Ok(out)
}

/// Where [`decode_each`] puts records: pre-sized storage fed in order.
pub(crate) trait RecordSink {
    /// At most this many records follow (the count, bounded by what the section can hold).
    fn reserve(&mut self, count: usize);
    /// The next record.
    fn push(&mut self, record: Record);
}

impl RecordSink for Vec<Record> {
    fn reserve(&mut self, count: usize) {
        self.reserve_exact(count);
    }

    fn push(&mut self, record: Record) {
        Vec::push(self, record);
    }
}

/// Decodes exactly `header.record_count` records filling all of `section` into `sink`, in
/// order.
pub(crate) fn decode_each(
    header: &BatchHeader,
    section: &Bytes,
    sink: &mut impl RecordSink,
) -> Result<(), RecordError> {
    let base_offset = header.base_offset;
    let malformed = |error| RecordError::Malformed { base_offset, error };
    let count = usize::try_from(header.record_count).map_err(|_| {
        RecordError::malformed(
            base_offset,
            "record batch",
            format!("negative record count {}", header.record_count),
        )
    })?;
    // Never trust the count for an allocation: each record takes at least MIN_RECORD_LEN bytes.
    sink.reserve(count.min(section.len() / MIN_RECORD_LEN));
    let mut d = Decoder::new(section);
    for _ in 0..count {
        sink.push(decode_one(header, &mut d).map_err(malformed)?);
    }
    if d.remaining() != 0 {
        return Err(RecordError::malformed(
            base_offset,
            "record batch",
            format!(
                "{} bytes left after the {count} records the header announces",
                d.remaining()
            ),
        ));
    }
    Ok(())
}

/// Decodes one record at the decoder's position, consuming exactly its length.
fn decode_one(header: &BatchHeader, d: &mut Decoder<'_>) -> Result<Record, DecodeError> {
    let at = d.position();
    let length = d.varint()?;
    let length = usize::try_from(length).map_err(|_| DecodeError::InvalidLength {
        what: "record",
        len: i64::from(length),
        at,
    })?;
    let mut r = d.split(length, "record")?;
    let _attributes = r.i8()?;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = nullable(&mut r, "record key")?;
    let value = nullable(&mut r, "record value")?;
    let header_count_at = r.position();
    let header_count = r.varint()?;
    let header_count = usize::try_from(header_count).map_err(|_| DecodeError::InvalidLength {
        what: "record header count",
        len: i64::from(header_count),
        at: header_count_at,
    })?;
    let mut headers = Vec::with_capacity(header_count.min(r.remaining() / MIN_HEADER_LEN));
    for _ in 0..header_count {
        headers.push(decode_header(&mut r)?);
    }
    if r.remaining() != 0 {
        return Err(DecodeError::Malformed {
            what: "record",
            reason: format!(
                "record at offset delta {offset_delta} has {} bytes left over",
                r.remaining()
            ),
        });
    }

    let offset = header
        .base_offset
        .checked_add(i64::from(offset_delta))
        .ok_or_else(|| overflow("record offset"))?;
    let timestamp = match header.timestamp_type() {
        TimestampType::CreateTime => header
            .base_timestamp
            .checked_add(timestamp_delta)
            .ok_or_else(|| overflow("record timestamp"))?,
        TimestampType::LogAppendTime => header.max_timestamp,
    };
    Ok(Record {
        offset,
        timestamp,
        key,
        value,
        headers,
    })
}

fn decode_header(r: &mut Decoder<'_>) -> Result<Header, DecodeError> {
    let at = r.position();
    let key_len = r.varint()?;
    let key_len = usize::try_from(key_len).map_err(|_| DecodeError::InvalidLength {
        what: "header key",
        len: i64::from(key_len),
        at,
    })?;
    let key_at = r.position();
    let key = r.take(key_len, "header key")?;
    let key = std::str::from_utf8(key)
        .map_err(|_| DecodeError::InvalidUtf8 {
            what: "header key",
            at: key_at,
        })?
        .to_owned();
    let value = nullable(r, "header value")?;
    Ok(Header { key, value })
}

/// Reads a varint length (-1 = null) and that many bytes as a shared slice.
fn nullable(r: &mut Decoder<'_>, what: &'static str) -> Result<Option<Bytes>, DecodeError> {
    let at = r.position();
    match r.varint()? {
        -1 => Ok(None),
        len => {
            let len = usize::try_from(len).map_err(|_| DecodeError::InvalidLength {
                what,
                len: i64::from(len),
                at,
            })?;
            r.take_bytes(len, what).map(Some)
        }
    }
}

fn overflow(what: &'static str) -> DecodeError {
    DecodeError::Malformed {
        what,
        reason: "overflows int64".to_owned(),
    }
}
