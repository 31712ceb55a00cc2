//! Bounds-checked primitives of the Kafka wire format, for the messages this crate owns.
//!
//! [`Decoder`] reads from a shared [`Bytes`] buffer and checks every length prefix against the
//! bytes that actually remain, so a corrupt or hostile response can never trigger a large
//! allocation or a panic: it yields a [`DecodeError`] instead. Large fields (record batches) can
//! be taken as [`Bytes`] slices of the response without copying. [`Encoder`] appends to a
//! `Vec<u8>`.
//!
//! Both know the two encodings Kafka uses for strings, bytes and arrays: the classic one
//! (int16/int32 length prefixes) and the *flexible* one of KIP-482 (unsigned-varint length + 1,
//! followed by tagged fields at the end of every structure).

use bytes::Bytes;
use thiserror::Error;

use super::varint;

/// A response or record could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before a field was complete.
    #[error("truncated input: {what} needs {needed} bytes at offset {at}, only {remaining} remain")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
        /// Offset of the field in the input.
        at: usize,
    },
    /// A length prefix was negative where null is not allowed, or larger than the input.
    #[error("invalid length {len} for {what} at offset {at}")]
    InvalidLength {
        /// The field being read.
        what: &'static str,
        /// The length that was read.
        len: i64,
        /// Offset of the field in the input.
        at: usize,
    },
    /// A varint ran longer than its type allows.
    #[error("varint too long at offset {at}")]
    VarintOverflow {
        /// Offset of the varint in the input.
        at: usize,
    },
    /// A string was not valid UTF-8.
    #[error("invalid UTF-8 in {what} at offset {at}")]
    InvalidUtf8 {
        /// The field being read.
        what: &'static str,
        /// Offset of the field in the input.
        at: usize,
    },
    /// A structural rule of the message was broken.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The structure being read.
        what: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

/// Reads Kafka primitives from a byte buffer, never past its end.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    owner: &'a Bytes,
    /// Where `buf` starts in `owner` (non-zero for a [`Decoder::split`] part).
    base: usize,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a Bytes) -> Self {
        Self {
            owner: buf,
            base: 0,
            buf: buf.as_ref(),
            pos: 0,
        }
    }

    /// Takes the next `n` bytes as a decoder of their own (positions start at zero there), whose
    /// shared slices still come from the same buffer: no reference count is taken for the part.
    pub fn split(&mut self, n: usize, what: &'static str) -> Result<Decoder<'a>, DecodeError> {
        let start = self.pos;
        let buf = self.take(n, what)?;
        Ok(Decoder {
            owner: self.owner,
            base: self.base + start,
            buf,
            pos: 0,
        })
    }

    /// Takes the next `n` bytes as a shared slice of the underlying buffer (no copy).
    pub fn take_bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.base + self.pos;
        self.take(n, what)?;
        Ok(self.owner.slice(start..start + n))
    }

    /// Reads nullable bytes (compact when `flexible`) as a shared slice (no copy).
    pub fn nullable_shared_bytes(&mut self, flexible: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.length(flexible, false, "bytes")? {
            None => Ok(None),
            Some(len) => self.take_bytes(len, "bytes").map(Some),
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                what,
                needed: n,
                remaining: self.remaining(),
                at: self.pos,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads an int8.
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array("int8")?))
    }

    /// Reads a boolean (any non-zero byte is true).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    /// Reads a big-endian int16.
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array("int16")?))
    }

    /// Reads a big-endian int32.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array("int32")?))
    }

    /// Reads a big-endian uint32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array("uint32")?))
    }

    /// Reads a big-endian int64.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array("int64")?))
    }

    /// Reads a 16-byte UUID (topic ids).
    pub fn uuid(&mut self) -> Result<[u8; 16], DecodeError> {
        self.array("uuid")
    }

    /// Reads an unsigned varint of at most 32 significant bits.
    pub fn unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        varint::unsigned_varint(self.buf, &mut self.pos, "varint")
    }

    /// Reads a zig-zag encoded signed varint (int32).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        self.unsigned_varint().map(varint::zigzag32)
    }

    /// Reads a zig-zag encoded signed varlong (int64).
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        varint::unsigned_varlong(self.buf, &mut self.pos, "varlong").map(varint::zigzag64)
    }

    /// Reads a length prefix: int16 (`classic_i16`), int32, or a flexible unsigned varint (N+1).
    /// `None` is the null marker. Lengths beyond the remaining input are rejected here.
    fn length(
        &mut self,
        flexible: bool,
        classic_i16: bool,
        what: &'static str,
    ) -> Result<Option<usize>, DecodeError> {
        let at = self.pos;
        let len: i64 = if flexible {
            i64::from(self.unsigned_varint()?) - 1
        } else if classic_i16 {
            i64::from(self.i16()?)
        } else {
            i64::from(self.i32()?)
        };
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len > self.remaining() as i64 {
            return Err(DecodeError::InvalidLength { what, len, at });
        }
        Ok(Some(len as usize))
    }

    /// Reads a nullable string (compact when `flexible`).
    pub fn nullable_string(&mut self, flexible: bool) -> Result<Option<&'a str>, DecodeError> {
        let Some(len) = self.length(flexible, true, "string")? else {
            return Ok(None);
        };
        let at = self.pos;
        let bytes = self.take(len, "string")?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| DecodeError::InvalidUtf8 { what: "string", at })
    }

    /// Reads a non-nullable string (compact when `flexible`).
    pub fn string(&mut self, flexible: bool) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        self.nullable_string(flexible)?
            .ok_or(DecodeError::InvalidLength {
                what: "string",
                len: -1,
                at,
            })
    }

    /// Reads nullable bytes (compact when `flexible`).
    pub fn nullable_bytes(&mut self, flexible: bool) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.length(flexible, false, "bytes")? {
            None => Ok(None),
            Some(len) => self.take(len, "bytes").map(Some),
        }
    }

    /// Reads an array length (compact when `flexible`); `None` is a null array. The length is
    /// checked against the remaining input assuming each element takes at least one byte.
    pub fn array_len(&mut self, flexible: bool) -> Result<Option<usize>, DecodeError> {
        self.length(flexible, false, "array")
    }

    /// Reads an array of elements with `element`; a null array reads as empty.
    pub fn array_of<T>(
        &mut self,
        flexible: bool,
        mut element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let len = self.array_len(flexible)?.unwrap_or(0);
        let mut out = Vec::with_capacity(initial_capacity::<T>(len, self.remaining()));
        for _ in 0..len {
            out.push(element(self)?);
        }
        Ok(out)
    }

    /// Skips the tagged-field section that ends every flexible structure (no-op otherwise).
    pub fn tagged_fields(&mut self, flexible: bool) -> Result<(), DecodeError> {
        if !flexible {
            return Ok(());
        }
        let count = self.unsigned_varint()?;
        for _ in 0..count {
            let _tag = self.unsigned_varint()?;
            let size = self.unsigned_varint()? as usize;
            self.take(size, "tagged field")?;
        }
        Ok(())
    }
}

/// How many elements of `T` to reserve for an array announcing `len` elements, with
/// `remaining` input bytes left: never more than those bytes could pay for, so the reservation
/// is bounded by the input's size whatever `T`'s. (Each element takes at least one input byte,
/// so the vector still grows to hold every element that really decodes.)
pub(crate) fn initial_capacity<T>(len: usize, remaining: usize) -> usize {
    match size_of::<T>() {
        0 => len,
        size => len.min(remaining / size),
    }
}

/// Appends Kafka primitives to a byte vector.
#[derive(Debug)]
pub struct Encoder<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Encoder<'a> {
    /// Appends to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Self { buf }
    }

    /// Writes an int8.
    pub fn i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a boolean.
    pub fn bool(&mut self, v: bool) {
        self.i8(i8::from(v));
    }

    /// Writes a big-endian int16.
    pub fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian int32.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian int64.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a 16-byte UUID.
    pub fn uuid(&mut self, v: &[u8; 16]) {
        self.buf.extend_from_slice(v);
    }

    /// Writes an unsigned varint.
    pub fn unsigned_varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// Writes a zig-zag encoded signed varint.
    pub fn varint(&mut self, v: i32) {
        self.unsigned_varint(((v << 1) ^ (v >> 31)) as u32);
    }

    fn length(&mut self, flexible: bool, classic_i16: bool, len: Option<usize>) {
        match (flexible, len) {
            (true, None) => self.unsigned_varint(0),
            (true, Some(n)) => self.unsigned_varint(n as u32 + 1),
            (false, None) if classic_i16 => self.i16(-1),
            (false, None) => self.i32(-1),
            (false, Some(n)) if classic_i16 => self.i16(n as i16),
            (false, Some(n)) => self.i32(n as i32),
        }
    }

    /// Writes a nullable string (compact when `flexible`).
    pub fn nullable_string(&mut self, flexible: bool, v: Option<&str>) {
        self.length(flexible, true, v.map(str::len));
        if let Some(s) = v {
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    /// Writes a string (compact when `flexible`).
    pub fn string(&mut self, flexible: bool, v: &str) {
        self.nullable_string(flexible, Some(v));
    }

    /// Writes nullable bytes (compact when `flexible`).
    pub fn nullable_bytes(&mut self, flexible: bool, v: Option<&[u8]>) {
        self.length(flexible, false, v.map(<[u8]>::len));
        if let Some(b) = v {
            self.buf.extend_from_slice(b);
        }
    }

    /// Writes an array length (compact when `flexible`); `None` writes a null array.
    pub fn array_len(&mut self, flexible: bool, len: Option<usize>) {
        self.length(flexible, false, len);
    }

    /// Writes an empty tagged-field section when `flexible` (no-op otherwise).
    pub fn tagged_fields(&mut self, flexible: bool) {
        if flexible {
            self.unsigned_varint(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut buf = Vec::new();
            Encoder::new(&mut buf).varint(v);
            let buf = Bytes::from(buf);
            let mut d = Decoder::new(&buf);
            assert_eq!(d.varint().unwrap(), v);
            assert_eq!(d.remaining(), 0);
        }
    }

    #[test]
    fn varlong_decodes_extremes() {
        // zig-zag of i64::MIN is u64::MAX: ten bytes, the last one 0x01.
        let buf = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(Decoder::new(&buf).varlong().unwrap(), i64::MIN);
        let too_long = Bytes::from_static(&[0xff; 11]);
        assert!(matches!(
            Decoder::new(&too_long).varlong(),
            Err(DecodeError::VarintOverflow { .. })
        ));
    }

    #[test]
    fn lengths_larger_than_the_input_are_rejected_without_allocating() {
        let buf = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0x00]);
        let err = Decoder::new(&buf).array_len(false).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::InvalidLength {
                len: 2147483647,
                ..
            }
        ));
        let err = Decoder::new(&buf).nullable_bytes(false).unwrap_err();
        assert!(matches!(err, DecodeError::InvalidLength { .. }));
    }

    #[test]
    fn an_array_length_reserves_no_more_memory_than_the_input_holds() {
        // A hostile broker announces as many elements as bytes remain (1 MiB): each element
        // of a large type must not turn one input byte into ~150 reserved bytes.
        type Big = [u8; 150];
        let remaining = 1 << 20;
        let reserved = initial_capacity::<Big>(remaining, remaining) * size_of::<Big>();
        assert!(
            reserved <= remaining,
            "{reserved} bytes reserved for {remaining} of input"
        );
        assert_eq!(
            initial_capacity::<u8>(10, 100),
            10,
            "honest lengths are reserved whole"
        );
        assert_eq!(
            initial_capacity::<()>(10, 0),
            10,
            "zero-sized elements cost nothing"
        );
    }

    #[test]
    fn compact_and_classic_strings_round_trip_including_null() {
        for flexible in [false, true] {
            let mut buf = Vec::new();
            let mut e = Encoder::new(&mut buf);
            e.string(flexible, "topic");
            e.nullable_string(flexible, None);
            let buf = Bytes::from(buf);
            let mut d = Decoder::new(&buf);
            assert_eq!(d.string(flexible).unwrap(), "topic");
            assert_eq!(d.nullable_string(flexible).unwrap(), None);
            assert_eq!(d.remaining(), 0);
        }
    }

    #[test]
    fn tagged_fields_are_skipped() {
        let buf = Bytes::from_static(&[2, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc, 7]);
        let mut d = Decoder::new(&buf);
        d.tagged_fields(true).unwrap();
        assert_eq!(d.i8().unwrap(), 7);
    }
}
