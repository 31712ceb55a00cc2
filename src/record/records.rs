//! The varint-encoded records inside a (decompressed) records section.
//!
//! Record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
//! key (varint length, -1 = null), value (same), header count varint, then each header's key
//! (varint length, UTF-8) and value (varint length, -1 = null). A record must fill exactly its
//! `length` bytes.
//!
//! Invariants: every length is checked against the bytes that remain before anything is
//! sliced or allocated; a record without headers allocates nothing (its header `Vec` is empty);
//! keys, values and header values are [`Bytes`] slices of the section. The hot path reads the
//! one- and two-byte varints a typical record is made of inline, and builds a [`DecodeError`] only on the
//! (cold) failure paths, with the same kind, field name and in-record position as the general
//! [`Decoder`](crate::wire::Decoder) would report.

use bytes::Bytes;

use super::{BatchHeader, Header, Record, RecordError, TimestampType};
use crate::wire::{DecodeError, varint};

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
    let stamp = match header.timestamp_type() {
        TimestampType::CreateTime => Stamp::Delta(header.base_timestamp),
        TimestampType::LogAppendTime => Stamp::Fixed(header.max_timestamp),
    };
    let mut s = Cursor::new(section);
    for _ in 0..count {
        let record = decode_one(base_offset, stamp, section, &mut s).map_err(malformed)?;
        sink.push(record);
    }
    if s.remaining() != 0 {
        return Err(RecordError::malformed(
            base_offset,
            "record batch",
            format!(
                "{} bytes left after the {count} records the header announces",
                s.remaining()
            ),
        ));
    }
    Ok(())
}

/// How a batch assigns record timestamps.
#[derive(Debug, Clone, Copy)]
enum Stamp {
    /// CreateTime: the base timestamp plus each record's delta.
    Delta(i64),
    /// LogAppendTime: the batch's max timestamp for every record.
    Fixed(i64),
}

/// Decodes one record at the cursor, consuming exactly its length. Keys, values and header
/// values are slices of `owner` (the section the cursor reads). Inlined into the loop, so that
/// the record's fields go straight to the sink (no intermediate copies of the struct).
#[inline(always)]
fn decode_one(
    base_offset: i64,
    stamp: Stamp,
    owner: &Bytes,
    s: &mut Cursor<'_>,
) -> Result<Record, DecodeError> {
    let at = s.pos;
    let length = s.varint("varint")?;
    let length =
        usize::try_from(length).map_err(|_| invalid_length("record", i64::from(length), at))?;
    // The record's fields are read by a cursor of their own: positions in errors are relative
    // to the record, and nothing can be read past its length.
    let mut r = s.split(length, "record")?;
    let _attributes = r.byte("int8")?;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint("varint")?;
    let key = r.nullable(owner, "record key")?;
    let value = r.nullable(owner, "record value")?;
    let header_count_at = r.pos;
    let header_count = r.varint("varint")?;
    let headers = if header_count == 0 {
        Vec::new()
    } else {
        let header_count = usize::try_from(header_count).map_err(|_| {
            invalid_length(
                "record header count",
                i64::from(header_count),
                header_count_at,
            )
        })?;
        let mut headers = Vec::with_capacity(header_count.min(r.remaining() / MIN_HEADER_LEN));
        for _ in 0..header_count {
            headers.push(decode_header(owner, &mut r)?);
        }
        headers
    };
    if r.remaining() != 0 {
        return Err(left_over(offset_delta, r.remaining()));
    }
    let offset = base_offset
        .checked_add(i64::from(offset_delta))
        .ok_or_else(|| overflow("record offset"))?;
    let timestamp = match stamp {
        Stamp::Delta(base) => base
            .checked_add(timestamp_delta)
            .ok_or_else(|| overflow("record timestamp"))?,
        Stamp::Fixed(max) => max,
    };
    Ok(Record {
        offset,
        timestamp,
        key,
        value,
        headers,
    })
}

fn decode_header(owner: &Bytes, r: &mut Cursor<'_>) -> Result<Header, DecodeError> {
    let at = r.pos;
    let key_len = r.varint("varint")?;
    let key_len = usize::try_from(key_len)
        .map_err(|_| invalid_length("header key", i64::from(key_len), at))?;
    let key_at = r.pos;
    let key = r.take(key_len, "header key")?;
    let key = std::str::from_utf8(key)
        .map_err(|_| DecodeError::InvalidUtf8 {
            what: "header key",
            at: key_at,
        })?
        .to_owned();
    let value = r.nullable(owner, "header value")?;
    Ok(Header { key, value })
}

/// A bounds-checked read position in a part of the section (`buf` starts at `base` in it).
#[derive(Debug)]
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    /// Where `buf` starts in the section (for slicing the section's [`Bytes`]).
    base: usize,
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            base: 0,
            pos: 0,
        }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes as a cursor of their own (positions restart at zero).
    #[inline]
    fn split(&mut self, n: usize, what: &'static str) -> Result<Cursor<'a>, DecodeError> {
        let start = self.pos;
        let buf = self.take(n, what)?;
        Ok(Cursor {
            buf,
            base: self.base + start,
            pos: 0,
        })
    }

    #[inline]
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        match self.buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(out) => {
                self.pos += n;
                Ok(out)
            }
            None => Err(truncated(what, n, self.remaining(), self.pos)),
        }
    }

    #[inline]
    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(truncated(what, 1, 0, self.pos)),
        }
    }

    /// An unsigned varint of at most 32 significant bits; one and two bytes inline (a record's
    /// length, a 100-byte value's length and offset deltas from 64 on take two).
    #[inline]
    pub(super) fn unsigned_varint(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        match (self.buf.get(self.pos), self.buf.get(self.pos + 1)) {
            // A record's last field (its header count) is a one-byte varint at the very end.
            (Some(&b0), _) if b0 < 0x80 => {
                self.pos += 1;
                Ok(u32::from(b0))
            }
            (Some(&b0), Some(&b1)) if b1 < 0x80 => {
                self.pos += 2;
                Ok(u32::from(b0 & 0x7f) | u32::from(b1) << 7)
            }
            _ => self.unsigned_varint_long(what),
        }
    }

    #[inline(never)]
    fn unsigned_varint_long(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        varint::unsigned_varint(self.buf, &mut self.pos, what)
    }

    /// A zig-zag encoded signed varint (int32).
    #[inline]
    pub(super) fn varint(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.unsigned_varint(what).map(varint::zigzag32)
    }

    /// A zig-zag encoded signed varlong (int64); one and two bytes inline.
    #[inline]
    pub(super) fn varlong(&mut self) -> Result<i64, DecodeError> {
        let raw = match (self.buf.get(self.pos), self.buf.get(self.pos + 1)) {
            (Some(&b0), _) if b0 < 0x80 => {
                self.pos += 1;
                u64::from(b0)
            }
            (Some(&b0), Some(&b1)) if b1 < 0x80 => {
                self.pos += 2;
                u64::from(b0 & 0x7f) | u64::from(b1) << 7
            }
            _ => self.unsigned_varlong_long()?,
        };
        Ok(varint::zigzag64(raw))
    }

    #[inline(never)]
    fn unsigned_varlong_long(&mut self) -> Result<u64, DecodeError> {
        varint::unsigned_varlong(self.buf, &mut self.pos, "varlong")
    }

    /// A varint length (-1 = null) and that many bytes as a slice of `owner` (no copy; an empty
    /// field takes no reference).
    #[inline]
    fn nullable(
        &mut self,
        owner: &Bytes,
        what: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let at = self.pos;
        match self.varint("varint")? {
            -1 => Ok(None),
            0 => Ok(Some(Bytes::new())),
            len => {
                let len =
                    usize::try_from(len).map_err(|_| invalid_length(what, i64::from(len), at))?;
                let start = self.base + self.pos;
                self.take(len, what)?;
                Ok(Some(owner.slice(start..start + len)))
            }
        }
    }
}

#[cold]
fn truncated(what: &'static str, needed: usize, remaining: usize, at: usize) -> DecodeError {
    DecodeError::Truncated {
        what,
        needed,
        remaining,
        at,
    }
}

#[cold]
fn invalid_length(what: &'static str, len: i64, at: usize) -> DecodeError {
    DecodeError::InvalidLength { what, len, at }
}

#[cold]
fn left_over(offset_delta: i32, remaining: usize) -> DecodeError {
    DecodeError::Malformed {
        what: "record",
        reason: format!("record at offset delta {offset_delta} has {remaining} bytes left over"),
    }
}

#[cold]
fn overflow(what: &'static str) -> DecodeError {
    DecodeError::Malformed {
        what,
        reason: "overflows int64".to_owned(),
    }
}
