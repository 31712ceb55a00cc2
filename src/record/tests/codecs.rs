//! Codecs: round trips, interop fixtures, corrupt input, and the decompression limit.

use std::io::Write;

use super::*;
use crate::record::builder::Codec;

const CODECS: [Codec; 7] = [
    Codec::None,
    Codec::Gzip,
    Codec::SnappyRaw,
    Codec::SnappyXerial(32 << 10),
    Codec::SnappyXerial(7),
    Codec::Lz4,
    Codec::Zstd,
];

/// Enough records, with repetition, that every codec actually compresses.
fn many_records() -> Vec<TestRecord> {
    let mut records = sample_records();
    for i in 3..300 {
        let mut r = TestRecord::kv(i, format!("key-{i}").as_bytes(), &[b'x'; 200]);
        r.headers
            .push((b"trace".to_vec(), Some(i.to_be_bytes().to_vec())));
        records.push(r);
    }
    records
}

#[test]
fn every_codec_round_trips_keys_values_headers_offsets_and_timestamps() {
    for codec in CODECS {
        let b = BatchBuilder::new(9_000).with(many_records()).codec(codec);
        let records = decode(&b).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_same(&records, &many_records(), 9_000, b.base_timestamp);
    }
}

#[test]
fn every_codec_round_trips_under_log_append_time() {
    for codec in CODECS {
        let mut b = BatchBuilder::new(0).with(sample_records()).codec(codec);
        b.log_append_time = true;
        b.max_timestamp = Some(77);
        let records = decode(&b).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert!(records.iter().all(|r| r.timestamp == 77), "{codec:?}");
    }
}

#[test]
fn compressed_values_are_slices_of_one_decompressed_buffer() {
    let b = BatchBuilder::new(0).with(many_records()).codec(Codec::Lz4);
    let records = decode(&b).unwrap();
    let first = records[0].value.as_ref().unwrap().as_ptr() as usize;
    let last = records.last().unwrap().value.as_ref().unwrap().as_ptr() as usize;
    // Consecutive records sit in one buffer, a few hundred bytes apart per record.
    assert!(last > first && last - first < 300 * 300);
}

/// Records of the zstd fixture below (generated with the reference `zstd` CLI 1.5:
/// `zstd -19 --check -c < section.bin`, i.e. streaming, no content size, 8 MiB window, XXH64
/// checksum, as the Java client's zstd-jni stream produces).
fn fixture_records() -> Vec<TestRecord> {
    (0..3)
        .map(|i| TestRecord {
            offset_delta: i,
            timestamp_delta: i64::from(i) * 10,
            key: Some(format!("k{i}").into_bytes()),
            value: Some(format!("value-{i} ").repeat(20).into_bytes()),
            headers: vec![(b"h".to_vec(), Some(b"hv".to_vec()))],
        })
        .collect()
}

const LIBZSTD_FIXTURE: &[u8] = &[
    0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0x0d, 0x02, 0x00, 0xf2, 0x02, 0x0b, 0x13, 0xd0, 0xe7, 0xb0,
    0x0a, 0x80, 0x03, 0xf7, 0xab, 0x50, 0x15, 0x90, 0xf6, 0xe0, 0xf7, 0x08, 0x93, 0x52, 0x4b, 0x01,
    0x79, 0x3f, 0xdb, 0x4a, 0xc1, 0x3f, 0x18, 0x21, 0x78, 0x83, 0x7a, 0xe5, 0xfd, 0x6c, 0x1b, 0xe2,
    0x24, 0x64, 0xd2, 0x6a, 0xe0, 0xdb, 0x7a, 0x05, 0x06, 0x00, 0x15, 0x97, 0x62, 0x40, 0x14, 0x6c,
    0x81, 0xe2, 0x28, 0x36, 0x7b, 0x84, 0x52, 0x49, 0xdd, 0x30, 0x0c, 0xbd, 0xe0, 0xb0,
];

fn fixture_batch(section: Vec<u8>, records: usize) -> BatchBuilder {
    let mut b = BatchBuilder::new(0)
        .with(fixture_records().into_iter().cycle().take(records))
        .codec(Codec::Zstd);
    b.section = Some(section);
    b
}

#[test]
fn a_libzstd_frame_decodes() {
    let records = decode(&fixture_batch(LIBZSTD_FIXTURE.to_vec(), 3)).unwrap();
    assert_same(
        &records,
        &fixture_records(),
        0,
        BatchBuilder::new(0).base_timestamp,
    );
}

#[test]
fn a_zstd_checksum_mismatch_is_a_compression_error() {
    let mut section = LIBZSTD_FIXTURE.to_vec();
    *section.last_mut().unwrap() ^= 0x01;
    assert!(matches!(
        decode(&fixture_batch(section, 3)),
        Err(RecordError::Compression { codec: "zstd", .. })
    ));
}

#[test]
fn concatenated_zstd_frames_and_skippable_frames_decode() {
    let mut section = LIBZSTD_FIXTURE.to_vec();
    // A skippable frame: magic 0x184D2A5?, little-endian length, payload.
    section.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
    section.extend_from_slice(LIBZSTD_FIXTURE);
    let records = decode(&fixture_batch(section, 6)).unwrap();
    assert_eq!(records.len(), 6);
    assert_eq!(records[5].key.as_deref(), Some(&b"k2"[..]));
}

#[test]
fn concatenated_gzip_members_and_lz4_frames_decode() {
    let mut one = Vec::new();
    for r in fixture_records() {
        r.encode(&mut one);
    }
    for codec in [Codec::Gzip, Codec::Lz4] {
        let half = codec.compress(&one);
        let mut b = BatchBuilder::new(0)
            .with(fixture_records().into_iter().cycle().take(6))
            .codec(codec);
        b.section = Some([half.clone(), half].concat());
        assert_eq!(decode(&b).unwrap().len(), 6, "{codec:?}");
    }
}

#[test]
fn corrupt_compressed_sections_are_compression_errors_naming_the_codec() {
    for (codec, name) in [
        (Codec::Gzip, "gzip"),
        (Codec::SnappyRaw, "snappy"),
        (Codec::SnappyXerial(64), "snappy"),
        (Codec::Lz4, "lz4"),
        (Codec::Zstd, "zstd"),
    ] {
        let mut b = BatchBuilder::new(31).with(many_records()).codec(codec);
        let mut section = codec.compress(&{
            let mut raw = Vec::new();
            for r in many_records() {
                r.encode(&mut raw);
            }
            raw
        });
        // Truncate the stream: every codec must notice.
        section.truncate(section.len() * 2 / 3);
        b.section = Some(section);
        match decode(&b) {
            Err(RecordError::Compression {
                base_offset: 31,
                codec,
                ..
            }) => {
                assert_eq!(codec, name)
            }
            other => panic!("{name}: {other:?}"),
        }
        // Garbage is not a valid stream either.
        b.section = Some(vec![0xa5; 64]);
        assert!(
            matches!(decode(&b), Err(RecordError::Compression { .. })),
            "{name}"
        );
    }
}

#[test]
fn a_truncated_xerial_header_or_chunk_length_is_a_compression_error() {
    for section in [
        b"\x82SNAPPY\x00\x00\x00".to_vec(),
        [&b"\x82SNAPPY\x00"[..], &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0]].concat(),
        [
            &b"\x82SNAPPY\x00"[..],
            &[0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0, 0, 0, 1],
        ]
        .concat(),
        [
            &b"\x82SNAPPY\x00"[..],
            &[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff],
        ]
        .concat(),
    ] {
        let mut b = BatchBuilder::new(0)
            .with([TestRecord::kv(0, b"k", b"v")])
            .codec(Codec::SnappyRaw);
        b.section = Some(section);
        assert!(matches!(
            decode(&b),
            Err(RecordError::Compression {
                codec: "snappy",
                ..
            })
        ));
    }
}

/// One record whose value is `size` zero bytes: the best case for a decompression bomb.
fn bomb(codec: Codec, size: usize) -> (BatchBuilder, usize) {
    let b = BatchBuilder::new(66)
        .with([TestRecord::kv(0, b"", &vec![0; size])])
        .codec(codec);
    let mut raw = Vec::new();
    b.records[0].encode(&mut raw);
    (b, raw.len())
}

#[test]
fn decompression_stops_at_the_limit_for_every_codec() {
    for codec in [
        Codec::Gzip,
        Codec::SnappyRaw,
        Codec::SnappyXerial(32 << 10),
        Codec::Lz4,
        Codec::Zstd,
    ] {
        let (b, raw_len) = bomb(codec, 4 << 20);
        let batch = single(b.build());
        assert!(batch.records_len() < raw_len / 10, "{codec:?} compresses");
        for limit in [0, 1 << 10, 1 << 20, raw_len - 1] {
            assert_eq!(
                batch.records(limit),
                Err(RecordError::DecompressedTooLarge {
                    base_offset: 66,
                    limit
                }),
                "{codec:?} limit {limit}"
            );
        }
        assert_eq!(batch.records(raw_len).unwrap().len(), 1, "{codec:?}");
    }
}

#[test]
fn uncompressed_batches_ignore_the_limit() {
    let (b, _) = bomb(Codec::None, 1 << 10);
    assert_eq!(single(b.build()).records(0).unwrap().len(), 1);
}

#[test]
fn a_zstd_frame_declaring_a_huge_window_is_refused_before_allocating_it() {
    // Frame header: no content size, window descriptor 2^26 (64 MiB); one RLE block of 1 byte.
    let frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x80, 0x0b, 0x00, 0x00, 0x00];
    let mut b = BatchBuilder::new(0)
        .with([TestRecord::default()])
        .codec(Codec::Zstd);
    b.section = Some(frame.clone());
    assert!(matches!(
        single(b.build()).records(1 << 20),
        Err(RecordError::Compression { codec: "zstd", .. })
    ));
    // With a limit that large the window is accepted: the frame decodes (to one zero byte,
    // which is not a valid record).
    assert!(matches!(
        single(b.build()).records(128 << 20),
        Err(RecordError::Malformed { .. })
    ));
}

#[test]
fn a_gzip_bomb_of_many_members_is_bounded_too() {
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&[0; 1 << 20]).unwrap();
    let member = member.finish().unwrap();
    let mut b = BatchBuilder::new(3)
        .with([TestRecord::default()])
        .codec(Codec::Gzip);
    b.section = Some(member.repeat(16));
    assert!(matches!(
        single(b.build()).records(4 << 20),
        Err(RecordError::DecompressedTooLarge { limit: 4194304, .. })
    ));
}
