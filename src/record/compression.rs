//! Decompression of a batch's records section, in pure Rust and bounded by a caller's limit.
//!
//! - gzip: `flate2` on miniz_oxide; concatenated members are accepted.
//! - snappy: a raw block, or the Java/xerial framing (`\x82SNAPPY\0`, int32 version, int32
//!   compatible version, then int32-length-prefixed raw blocks) that the Java client writes.
//! - lz4: the LZ4 frame format (`lz4_flex`), concatenated frames accepted.
//! - zstd: `ruzstd`, frame by frame (skippable frames skipped, checksums verified), with the
//!   declared window bounded so a tiny frame cannot make it allocate a huge buffer.
//!
//! No codec ever produces more than `limit` bytes: streams are read through `take(limit + 1)`,
//! and snappy's declared sizes are checked before its output buffer is allocated.

use std::io::{self, Read};

use bytes::Bytes;
use ruzstd::decoding::{
    BlockDecodingStrategy, FrameDecoder,
    errors::{FrameDecoderError, ReadFrameHeaderError},
};

use super::{Compression, RecordError};

/// Magic that starts a Java/xerial-framed snappy stream.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Magic plus version and compatible-version int32s.
const XERIAL_HEADER_LEN: usize = 16;
/// Window the zstd decoder accepts whatever the limit (libzstd's level 19 uses 8 MiB).
const ZSTD_MIN_WINDOW: u64 = 8 << 20;
/// Bytes of zstd output decoded between two checks of the limit.
const ZSTD_STEP: usize = 64 << 10;

/// Decompresses `data` with `codec`, producing at most `limit` bytes. `Compression::None`
/// returns `data` itself (no copy, no limit: nothing is inflated).
pub(crate) fn decompress(
    codec: Compression,
    data: &Bytes,
    limit: usize,
    base_offset: i64,
) -> Result<Bytes, RecordError> {
    let fail = |reason: String| RecordError::Compression {
        base_offset,
        codec: codec.name(),
        reason,
    };
    let too_large = || RecordError::DecompressedTooLarge { base_offset, limit };
    let out = match codec {
        Compression::None => return Ok(data.clone()),
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(&data[..]), limit),
        Compression::Lz4 => lz4(data, limit),
        Compression::Snappy => snappy(data, limit),
        Compression::Zstd => zstd(data, limit),
    };
    match out {
        Ok(mut out) => {
            // Growth by doubling leaves up to half the buffer unused; the Bytes would keep it.
            if out.capacity() - out.len() > out.len() / 8 {
                out.shrink_to_fit();
            }
            Ok(Bytes::from(out))
        }
        Err(Failure::TooLarge) => Err(too_large()),
        Err(Failure::Corrupt(reason)) => Err(fail(reason)),
    }
}

/// Why a codec gave up.
enum Failure {
    /// The output would exceed the limit.
    TooLarge,
    /// The input is not valid for the codec.
    Corrupt(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}

/// Reads `reader` to its end, failing once it yields more than `limit` bytes.
fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(Failure::TooLarge);
    }
    Ok(out)
}

/// LZ4 frames, one after the other (the decoder stops at each frame's end mark).
fn lz4(mut input: &[u8], limit: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let before = input.len();
        let cap = u64::try_from(limit - out.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        lz4_flex::frame::FrameDecoder::new(&mut input)
            .take(cap)
            .read_to_end(&mut out)?;
        if out.len() > limit {
            return Err(Failure::TooLarge);
        }
        if input.len() == before {
            return Err(Failure::Corrupt("LZ4 frame made no progress".to_owned()));
        }
    }
    Ok(out)
}

/// Raw snappy, or the xerial framing when the data starts with its magic.
fn snappy(data: &[u8], limit: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    let Some(mut rest) = data
        .strip_prefix(XERIAL_MAGIC)
        .and_then(|_| data.get(XERIAL_HEADER_LEN..))
    else {
        if data.starts_with(XERIAL_MAGIC) {
            return Err(Failure::Corrupt(
                "truncated xerial snappy header".to_owned(),
            ));
        }
        snappy_block(data, limit, &mut out)?;
        return Ok(out);
    };
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(Failure::Corrupt(format!(
                "truncated xerial chunk length ({} bytes left)",
                rest.len()
            )));
        };
        let len = i32::from_be_bytes(*len);
        let chunk = usize::try_from(len)
            .ok()
            .and_then(|len| tail.get(..len))
            .ok_or_else(|| {
                Failure::Corrupt(format!(
                    "xerial chunk length {len} with {} bytes left",
                    tail.len()
                ))
            })?;
        snappy_block(chunk, limit, &mut out)?;
        rest = &tail[chunk.len()..];
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its declared size against the limit first.
fn snappy_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), Failure> {
    let corrupt = |e: snap::Error| Failure::Corrupt(e.to_string());
    let len = snap::raw::decompress_len(block).map_err(corrupt)?;
    if len > limit.saturating_sub(out.len()) {
        return Err(Failure::TooLarge);
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(corrupt)?;
    out.truncate(start + written);
    Ok(())
}

/// Zstandard: every frame in turn, skippable frames skipped, output checked against the limit
/// as it is produced.
fn zstd(mut input: &[u8], limit: usize) -> Result<Vec<u8>, Failure> {
    let corrupt = |e: FrameDecoderError| Failure::Corrupt(e.to_string());
    let mut decoder = FrameDecoder::new();
    let window = u64::try_from(limit)
        .unwrap_or(u64::MAX)
        .max(ZSTD_MIN_WINDOW);
    decoder.set_max_window_size(window.min(ruzstd::decoding::DEFAULT_MAX_WINDOW_SIZE));
    let mut out = Vec::new();
    while !input.is_empty() {
        match decoder.init(&mut input) {
            Ok(()) => {}
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                length,
                ..
            })) => {
                input = usize::try_from(length)
                    .ok()
                    .and_then(|length| input.get(length..))
                    .ok_or_else(|| Failure::Corrupt("truncated skippable frame".to_owned()))?;
                continue;
            }
            Err(e) => return Err(corrupt(e)),
        }
        loop {
            let finished = decoder
                .decode_blocks(&mut input, BlockDecodingStrategy::UptoBytes(ZSTD_STEP))
                .map_err(corrupt)?;
            if decoder.can_collect() > limit.saturating_sub(out.len()) {
                return Err(Failure::TooLarge);
            }
            decoder.collect_to_writer(&mut out)?;
            if finished {
                break;
            }
        }
        if let (Some(stored), Some(computed)) = (
            decoder.get_checksum_from_data(),
            decoder.get_calculated_checksum(),
        ) && stored != computed
        {
            return Err(Failure::Corrupt(format!(
                "zstd content checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            )));
        }
    }
    Ok(out)
}
