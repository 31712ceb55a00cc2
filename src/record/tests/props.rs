//! Property tests: no input makes the decoder panic, and generated records round-trip.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::record::builder::{Codec, fix_crc};

/// Limit small enough that hostile sections fail fast.
const SMALL_LIMIT: usize = 1 << 20;

fn exercise(data: Vec<u8>) {
    for batch in BatchReader::new(Bytes::from(data)).flatten() {
        let _ = batch.records(SMALL_LIMIT);
        let _ = batch.control_type(SMALL_LIMIT);
    }
}

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![
        Just(Codec::None),
        Just(Codec::Gzip),
        Just(Codec::SnappyRaw),
        (1usize..300).prop_map(Codec::SnappyXerial),
        Just(Codec::Lz4),
        Just(Codec::Zstd),
    ]
}

fn record() -> impl Strategy<Value = TestRecord> {
    let bytes = || proptest::option::of(vec(any::<u8>(), 0..64));
    let header = (
        "[a-z\u{e9}\u{1F600}]{0,6}".prop_map(String::into_bytes),
        bytes(),
    );
    (
        0i32..100_000,
        -1_000_000_000i64..1_000_000_000,
        bytes(),
        bytes(),
        vec(header, 0..4),
    )
        .prop_map(
            |(offset_delta, timestamp_delta, key, value, headers)| TestRecord {
                offset_delta,
                timestamp_delta,
                key,
                value,
                headers,
            },
        )
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_reader(data in vec(any::<u8>(), 0..512)) {
        exercise(data);
    }

    #[test]
    fn arbitrary_sections_behind_a_valid_header_and_crc_never_panic(
        section in vec(any::<u8>(), 0..512),
        attributes in 0i16..64,
        record_count in prop_oneof![0i32..8, any::<i32>()],
    ) {
        let mut b = BatchBuilder::new(1);
        b.extra_attributes = attributes;
        b.record_count = Some(record_count);
        b.section = Some(section);
        exercise(b.build());
    }

    #[test]
    fn arbitrary_payloads_for_every_codec_never_panic(
        codec in codec(),
        payload in vec(any::<u8>(), 0..512),
    ) {
        let mut b = BatchBuilder::new(1).codec(codec).with([TestRecord::default()]);
        b.section = Some(match codec {
            // Give the framed decoders a valid start so the fuzzing reaches their bodies.
            Codec::SnappyXerial(_) => [&b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01"[..], &payload].concat(),
            Codec::Zstd => [&[0x28, 0xb5, 0x2f, 0xfd][..], &payload].concat(),
            Codec::Lz4 => [&[0x04, 0x22, 0x4d, 0x18][..], &payload].concat(),
            Codec::Gzip => [&[0x1f, 0x8b, 0x08, 0x00][..], &payload].concat(),
            _ => payload,
        });
        exercise(b.build());
    }

    #[test]
    fn a_valid_batch_with_one_byte_changed_and_crc_resealed_never_panics(
        records in vec(record(), 1..5),
        codec in codec(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut data = BatchBuilder::new(5).with(records).codec(codec).build();
        let i = 21 + at.index(data.len() - 21);
        data[i] ^= xor;
        fix_crc(&mut data);
        exercise(data);
    }

    #[test]
    fn generated_records_round_trip_through_every_codec(
        records in vec(record(), 0..20),
        codec in codec(),
        base_offset in 0i64..1 << 50,
        log_append_time in any::<bool>(),
    ) {
        let mut b = BatchBuilder::new(base_offset).with(records.clone()).codec(codec);
        b.log_append_time = log_append_time;
        b.last_offset_delta = Some(records.iter().map(|r| r.offset_delta).max().unwrap_or(0));
        let batch = single(b.build());
        prop_assert_eq!(batch.header.base_offset, base_offset);
        let decoded = batch.records(LIMIT).unwrap();
        if log_append_time {
            let max = batch.header.max_timestamp;
            prop_assert!(decoded.iter().all(|r| r.timestamp == max));
            let shifted: Vec<TestRecord> = records
                .iter()
                .map(|r| TestRecord { timestamp_delta: max - b.base_timestamp, ..r.clone() })
                .collect();
            assert_same(&decoded, &shifted, base_offset, b.base_timestamp);
        } else {
            assert_same(&decoded, &records, base_offset, b.base_timestamp);
        }
    }
}
