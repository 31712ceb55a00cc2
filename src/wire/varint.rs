//! Kafka's variable-length integers (base 128, little-endian groups, zig-zag for the signed
//! ones) read from a byte slice: the one definition the protocol decoder ([`super::Decoder`])
//! and the record decoder share. The record decoder inlines the one- and two-byte forms in
//! front of these; everything longer comes here.
//!
//! Invariants: a read never goes past the slice (a varint cut off by its end is
//! [`DecodeError::Truncated`] at the missing byte), and a varint with more significant bits
//! than its type holds is [`DecodeError::VarintOverflow`] at its first byte. On an error
//! `pos` is left wherever the read stopped; callers give up on the input.

use super::DecodeError;

/// Reads an unsigned varint of at most 32 significant bits at `*pos`, moving `pos` past it.
pub(crate) fn unsigned_varint(
    buf: &[u8],
    pos: &mut usize,
    what: &'static str,
) -> Result<u32, DecodeError> {
    let at = *pos;
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        let byte = next(buf, pos, what)?;
        if shift == 28 && byte > 0x0f {
            return Err(DecodeError::VarintOverflow { at });
        }
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintOverflow { at })
}

/// Reads an unsigned varlong of at most 64 significant bits at `*pos`, moving `pos` past it.
pub(crate) fn unsigned_varlong(
    buf: &[u8],
    pos: &mut usize,
    what: &'static str,
) -> Result<u64, DecodeError> {
    let at = *pos;
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = next(buf, pos, what)?;
        if shift == 63 && byte > 0x01 {
            return Err(DecodeError::VarintOverflow { at });
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintOverflow { at })
}

/// The signed value of a zig-zag encoded varint.
#[inline]
pub(crate) fn zigzag32(raw: u32) -> i32 {
    ((raw >> 1) as i32) ^ -((raw & 1) as i32)
}

/// The signed value of a zig-zag encoded varlong.
#[inline]
pub(crate) fn zigzag64(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

#[inline]
fn next(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<u8, DecodeError> {
    let byte = *buf.get(*pos).ok_or(DecodeError::Truncated {
        what,
        needed: 1,
        remaining: 0,
        at: *pos,
    })?;
    *pos += 1;
    Ok(byte)
}
