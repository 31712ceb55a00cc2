//! A corrupt record batch (CRC mismatch), injected on the wire by the fault proxy
//! (tests/support/proxy.rs, proven in consume_proxy_selftest.rs with librdkafka): rkc reports
//! it for that partition, does not skip past it, keeps the other partitions going, and
//! delivers everything once the fault clears.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{
    RkcProcess, create_topic, eof_offsets, offsets_of, partition_leader, produce, proxy::Proxy,
    unique,
};

const LIMIT: Duration = Duration::from_secs(45);

fn corrupt_events_of(rkc: &RkcProcess) -> Vec<Value> {
    rkc.events
        .iter()
        .filter(|e| e["event"] == "error" && e["kind"] == "corrupt_batch")
        .cloned()
        .collect()
}

#[test]
fn corrupt_batch_is_reported_never_skipped_and_read_once_the_fault_clears() {
    let topic = unique("corrupt");
    create_topic(&topic, 2);
    let marker = format!("CORRUPT-ME-{}", unique("x"));
    // Partition 0: records 0-2, the marker record 3, records 4-6; one batch each (flushed).
    let mut p0 = produce(&topic, &["--count", "3", "--flush-every", "1"]);
    p0.extend(produce(&topic, &["--count", "1", "--value", &marker]));
    p0.extend(produce(
        &topic,
        &["--count", "3", "--start", "4", "--flush-every", "1"],
    ));
    assert_eq!(offsets_of(&p0, 0), (0..7).collect::<Vec<_>>());
    assert_eq!(p0[3]["value"], marker.as_str());
    let p1 = produce(&topic, &["--count", "5", "--partition", "1"]);

    let proxy = Proxy::start(&partition_leader(&topic, 0));
    proxy.corrupt_after(marker.as_bytes());
    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        &proxy.address(),
        "-t",
        &topic,
        "-o",
        "beginning",
        "-e",
    ]);

    rkc.wait_until(LIMIT, "a corrupt_batch error event", |r| {
        !corrupt_events_of(r).is_empty()
    });
    let first = &corrupt_events_of(&rkc)[0];
    assert_eq!(first["topic"], topic.as_str(), "{first}");
    assert_eq!(first["partition"], 0, "{first}");
    assert_eq!(
        first["offset"], 3,
        "the corrupt batch's base offset: {first}"
    );
    assert!(!first["error"].as_str().unwrap_or("").is_empty(), "{first}");

    // The consumer retries the same offset and reports again; partition 1 goes on.
    rkc.wait_until(LIMIT, "the corrupt batch reported again", |r| {
        corrupt_events_of(r).len() >= 2
    });
    // Events (stderr) and messages (stdout) come through different pipes: wait for both.
    rkc.wait_until(
        LIMIT,
        "partition 1 read to its EOF, partition 0 up to the batch",
        |r| {
            let count = |p: i64| r.messages.iter().filter(|m| m["partition"] == p).count();
            !r.eofs(&topic, 1).is_empty() && count(1) >= p1.len() && count(0) >= 3
        },
    );
    assert!(proxy.stats().corruptions >= 2, "{:?}", proxy.stats());
    for e in corrupt_events_of(&rkc) {
        assert_eq!(
            (&e["partition"], &e["offset"]),
            (&Value::from(0), &Value::from(3))
        );
    }
    let p0_before: Vec<Value> = rkc
        .messages
        .iter()
        .filter(|m| m["partition"] == 0)
        .cloned()
        .collect();
    assert_eq!(
        p0_before,
        p0[..3].to_vec(),
        "records before the corrupt batch"
    );
    let p1_got: Vec<Value> = rkc
        .messages
        .iter()
        .filter(|m| m["partition"] == 1)
        .cloned()
        .collect();
    assert_eq!(p1_got, p1);
    assert!(
        rkc.eofs(&topic, 0).is_empty(),
        "no EOF past a corrupt batch"
    );

    proxy.clear_faults();
    let code = rkc.wait_exit(LIMIT);
    assert_eq!(code, 0, "{}", rkc.describe());
    let p0_all: Vec<Value> = rkc
        .messages
        .iter()
        .filter(|m| m["partition"] == 0)
        .cloned()
        .collect();
    assert_eq!(
        p0_all, p0,
        "everything once the fault cleared, nothing twice"
    );
    assert_eq!(eof_offsets(&rkc.events, &topic, 0), vec![7]);
    assert_eq!(eof_offsets(&rkc.events, &topic, 1), vec![5]);
}
