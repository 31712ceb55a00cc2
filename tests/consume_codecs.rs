//! `rkc consume` decodes record batches of every codec exactly: keys, values, headers
//! (duplicates, null values, binary values), null/empty/binary keys and values, timestamps.
//! The records come from librdkafka (tests/peers/produce.py --rich, several records per batch);
//! librdkafka's own consumer (tests/peers/consume.py) reads back the identical JSON.

mod support;

use std::time::Duration;

use support::{bootstrap, create_topic, eof_offsets, produce, rkc_run, unique};

const LIMIT: Duration = Duration::from_secs(45);

/// 250 varied records in batches of 50 with `codec`; rkc must print exactly what was produced.
fn batches_of(codec: &str) {
    let topic = unique(&format!("codec-{codec}"));
    create_topic(&topic, 1);
    let produced = produce(
        &topic,
        &[
            "--count",
            "250",
            "--rich",
            "--timestamps",
            "--compression",
            codec,
            "--batch-num-messages",
            "50",
            "--linger-ms",
            "100",
        ],
    );
    assert_eq!(produced.len(), 250);
    // The data covers what it should: binary values, null keys, duplicate headers.
    assert!(produced.iter().any(|m| m.get("value_b64").is_some()));
    assert!(produced.iter().any(|m| m.get("key_b64").is_some()));
    assert!(produced.iter().any(|m| m["value"].is_null()));

    let out = rkc_run(
        &[
            "consume",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
        ],
        LIMIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages.len(), produced.len());
    for (got, want) in out.messages.iter().zip(&produced) {
        assert_eq!(got, want, "offset {}", want["offset"]);
    }
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![250]);
}

#[test]
fn uncompressed_batches_are_returned_exactly_as_produced() {
    batches_of("none");
}

#[test]
fn gzip_batches_are_returned_exactly_as_produced() {
    batches_of("gzip");
}

#[test]
fn snappy_batches_are_returned_exactly_as_produced() {
    batches_of("snappy");
}

#[test]
fn lz4_batches_are_returned_exactly_as_produced() {
    batches_of("lz4");
}

#[test]
fn zstd_batches_are_returned_exactly_as_produced() {
    batches_of("zstd");
}

#[test]
fn batches_of_different_codecs_in_one_partition_are_read_in_order() {
    let topic = unique("codec-mix");
    create_topic(&topic, 1);
    let mut produced = Vec::new();
    for (i, codec) in ["gzip", "lz4", "zstd", "snappy", "none"].iter().enumerate() {
        let start = (i * 60).to_string();
        produced.extend(produce(
            &topic,
            &[
                "--count",
                "60",
                "--start",
                &start,
                "--rich",
                "--timestamps",
                "--compression",
                codec,
                "--batch-num-messages",
                "30",
                "--linger-ms",
                "100",
            ],
        ));
    }
    let out = rkc_run(
        &[
            "consume",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
        ],
        LIMIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages, produced);
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![300]);
}

#[test]
fn batches_larger_than_max_partition_fetch_bytes_are_still_read_whole() {
    // Two uncompressed batches of 40 records × 300 bytes (~12 kB each) against a 1 kB limit:
    // the broker returns one whole batch per fetch anyway, and the consumer must progress.
    let topic = unique("codec-big");
    create_topic(&topic, 1);
    let mut produced = produce(
        &topic,
        &[
            "--count",
            "40",
            "--value",
            &"x".repeat(300),
            "--linger-ms",
            "200",
        ],
    );
    produced.extend(produce(
        &topic,
        &[
            "--count",
            "40",
            "--start",
            "40",
            "--value",
            &"y".repeat(300),
            "--linger-ms",
            "200",
        ],
    ));
    let out = rkc_run(
        &[
            "consume",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-X",
            "max.partition.fetch.bytes=1024",
        ],
        LIMIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages, produced);
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![80]);
}
