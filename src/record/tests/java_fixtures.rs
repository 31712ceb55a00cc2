//! Batches written by the Java client (kafka-clients 4.1.1 `MemoryRecordsBuilder`, with
//! snappy-java 1.1.10.7 (xerial framing), lz4-java 1.8.0, zstd-jni 1.5.6-10, JDK gzip), and its
//! COMMIT/ABORT markers (`MemoryRecords.withEndTransactionMarker`). Each data batch: base offset
//! 100, CreateTime, records
//! (1000, "k0", "value-0 " x6 trimmed, headers h="x", h=null), (1005, null, ""), (990, "k2", null).

use bytes::Bytes;

use super::*;
use crate::record::{Compression, ControlType, Header};

pub(super) const JAVA_NONE: &[&str] = &[
    "000000000000006400000080ffffffff02c620727000000000000200000000000003e800000000000003edffffffffff",
    "ffffffffffffffffff000000037c000000046b305e76616c75652d302076616c75652d302076616c75652d302076616c",
    "75652d302076616c75652d302076616c75652d3004026802780268010c000a0201000010001304046b320100",
];

pub(super) const JAVA_GZIP: &[&str] = &[
    "00000000000000640000006fffffffff0233cdccfb00010000000200000000000003e800000000000003edffffffffff",
    "ffffffffffffffffff000000031f8b08000000000000ffab61606060c936882b4bcc294dd5355020926661ca60aa60ca",
    "60e461e0626264601060106661c93662640000d25e8ba44f000000",
];

pub(super) const JAVA_SNAPPY: &[&str] = &[
    "000000000000006400000073ffffffff02ad65235f00020000000200000000000003e800000000000003edffffffffff",
    "ffffffffffffffffff0000000382534e415050590000000001000000010000002e4f3c7c000000046b305e76616c7565",
    "2d30209a08005c04026802780268010c000a0201000010001304046b320100",
];

pub(super) const JAVA_LZ4: &[&str] = &[
    "00000000000000640000006fffffffff020977c06500030000000200000000000003e800000000000003edffffffffff",
    "ffffffffffffffffff0000000304224d186040822f000000ff017c000000046b305e76616c75652d3020080014f00904",
    "026802780268010c000a0201000010001304046b32010000000000",
];

pub(super) const JAVA_ZSTD: &[&str] = &[
    "00000000000000640000006cffffffff02450a9a2300040000000200000000000003e800000000000003edffffffffff",
    "ffffffffffffffffff0000000328b52ffd00587c010084027c000000046b305e76616c75652d30200402680278026801",
    "0c000a0201000010001304046b3201000100ac2c4b010000",
];

pub(super) const JAVA_COMMIT: &[&str] = &[
    "00000000000000c80000004200000003024c5ddfe4003000000000000000000000138800000000000013880000000000",
    "00002a0001ffffffff000000012000000008000000010c00000000000700",
];

pub(super) const JAVA_ABORT: &[&str] = &[
    "00000000000000c9000000420000000302ebfe962f003000000000000000000000138900000000000013890000000000",
    "00002a0001ffffffff000000012000000008000000000c00000000000700",
];

pub(super) fn unhex(parts: &[&str]) -> Vec<u8> {
    let hex: String = parts.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn batches_written_by_the_java_client_decode_with_every_codec() {
    for (fixture, codec) in [
        (JAVA_NONE, Compression::None),
        (JAVA_GZIP, Compression::Gzip),
        (JAVA_SNAPPY, Compression::Snappy),
        (JAVA_LZ4, Compression::Lz4),
        (JAVA_ZSTD, Compression::Zstd),
    ] {
        let batch = single(unhex(fixture));
        assert_eq!(batch.header.compression().unwrap(), codec);
        assert_eq!(batch.header.next_offset(), 103);
        let records = batch
            .records(LIMIT)
            .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        let summary: Vec<_> = records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    100,
                    1000,
                    Some(Bytes::from_static(b"k0")),
                    Some(Bytes::from_static(
                        b"value-0 value-0 value-0 value-0 value-0 value-0"
                    ))
                ),
                (101, 1005, None, Some(Bytes::new())),
                (102, 990, Some(Bytes::from_static(b"k2")), None),
            ],
            "{codec:?}"
        );
        assert_eq!(
            records[0].headers,
            [
                Header {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"x"))
                },
                Header {
                    key: "h".into(),
                    value: None
                },
            ]
        );
    }
}

#[test]
fn the_java_clients_snappy_uses_the_xerial_framing() {
    let data = unhex(JAVA_SNAPPY);
    assert_eq!(&data[61..69], b"\x82SNAPPY\x00");
}

#[test]
fn markers_written_by_the_java_client_are_read_from_the_key() {
    for (fixture, expected, offset) in [
        (JAVA_COMMIT, ControlType::Commit, 200),
        (JAVA_ABORT, ControlType::Abort, 201),
    ] {
        let batch = single(unhex(fixture));
        assert!(batch.header.is_control() && batch.header.is_transactional());
        assert_eq!(batch.header.producer_id, 42);
        assert_eq!(batch.control_type(LIMIT).unwrap(), Some(expected));
        assert_eq!(batch.header.next_offset(), offset + 1);
    }
}
