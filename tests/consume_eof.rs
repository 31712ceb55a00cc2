//! Partition EOF events of `rkc consume` (librdkafka's `enable.partition.eof` semantics, checked
//! with librdkafka's consumer): one event per partition each time its position reaches the end,
//! empty partitions included (at offset 0), re-armed only by new records.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{
    RkcProcess, bootstrap, create_topic, eof_offsets, offsets_of, produce, rkc_run, unique,
};

const LIMIT: Duration = Duration::from_secs(45);

/// 4 partitions: 5 records in 0, 3 in 2, partitions 1 and 3 empty.
fn sparse_topic() -> (String, Vec<Value>) {
    let topic = unique("eof");
    create_topic(&topic, 4);
    let mut produced = produce(&topic, &["--count", "5", "--partition", "0"]);
    produced.extend(produce(&topic, &["--count", "3", "--partition", "2"]));
    (topic, produced)
}

#[test]
fn eof_fires_exactly_once_per_partition_including_empty_partitions() {
    let (topic, produced) = sparse_topic();
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
    for m in &produced {
        assert!(out.messages.contains(m), "missing {m}");
    }
    for (p, end) in [(0, 5), (1, 0), (2, 3), (3, 0)] {
        assert_eq!(
            eof_offsets(&out.events, &topic, p),
            vec![end],
            "partition {p}"
        );
    }
    assert_eq!(out.events_of("partition_eof").len(), 4);
}

#[test]
fn new_records_rearm_eof_only_for_their_partition_and_only_once() {
    let (topic, produced) = sparse_topic();
    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        bootstrap(),
        "-t",
        &topic,
        "-o",
        "beginning",
        "-X",
        "enable.partition.eof=true",
        "-X",
        "fetch.wait.max.ms=100",
    ]);
    // Events (stderr) and messages (stdout) come through different pipes: wait for both.
    rkc.wait_until(
        LIMIT,
        "all records and an EOF for each of the 4 partitions",
        |r| (0..4).all(|p| !r.eofs(&topic, p).is_empty()) && r.messages.len() >= produced.len(),
    );
    // Many empty fetches later, still one EOF each.
    rkc.observe_for(Duration::from_millis(1500));
    for (p, end) in [(0, 5), (1, 0), (2, 3), (3, 0)] {
        assert_eq!(rkc.eofs(&topic, p), vec![end], "partition {p}");
    }
    assert_eq!(rkc.messages.len(), produced.len());

    let more = produce(&topic, &["--count", "2", "--partition", "1"]);
    rkc.wait_until(
        LIMIT,
        "the new records and a second EOF for partition 1",
        |r| r.eofs(&topic, 1).len() >= 2 && r.messages.len() >= produced.len() + more.len(),
    );
    rkc.observe_for(Duration::from_millis(1500));
    assert_eq!(rkc.eofs(&topic, 1), vec![0, 2]);
    for (p, end) in [(0, 5), (2, 3), (3, 0)] {
        assert_eq!(rkc.eofs(&topic, p), vec![end], "partition {p}");
    }
    assert_eq!(offsets_of(&rkc.messages, 1), vec![0, 1]);
    assert_eq!(rkc.messages[produced.len()..], more[..]);
}

#[test]
fn without_eof_reporting_no_eof_event_is_printed() {
    let (topic, produced) = sparse_topic();
    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        bootstrap(),
        "-t",
        &topic,
        "-o",
        "beginning",
        "-X",
        "fetch.wait.max.ms=100",
    ]);
    rkc.wait_until(LIMIT, "all records", |r| r.messages.len() >= produced.len());
    rkc.observe_for(Duration::from_millis(1500));
    assert_eq!(rkc.messages.len(), produced.len());
    assert!(
        rkc.events_of("partition_eof").is_empty(),
        "{}",
        rkc.describe()
    );
}
