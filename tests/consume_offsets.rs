//! `rkc consume` start positions: absolute offsets inside a batch and inside compaction gaps,
//! `beginning`/`end`, the auto.offset.reset policies for offsets past the end and before the log
//! start (after DeleteRecords), `-p`, `-c`, several `-t`. Every expectation was first checked
//! with librdkafka's consumer (tests/peers/consume.py), which behaves the same way.

mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    RkcOutput, bootstrap, create_topic, create_topic_with_config, delete_records, eof_offsets,
    librdkafka_consume, offsets_of, produce, rkc_run, unique, watermarks,
};

const LIMIT: Duration = Duration::from_secs(45);

fn consume(topic: &str, extra: &[&str]) -> RkcOutput {
    let mut args = vec!["consume", "-b", bootstrap(), "-t", topic];
    args.extend_from_slice(extra);
    rkc_run(&args, LIMIT)
}

/// A 1-partition topic with 10 records (offsets 0-9).
fn ten_records() -> (String, Vec<Value>) {
    let topic = unique("off-ten");
    create_topic(&topic, 1);
    let produced = produce(&topic, &["--count", "10"]);
    (topic, produced)
}

/// A 1-partition topic with 100 records of which DeleteRecords removed 0-49.
fn log_start_at_fifty() -> (String, Vec<Value>) {
    let topic = unique("off-deleted");
    create_topic(&topic, 1);
    let produced = produce(&topic, &["--count", "100", "--flush-every", "25"]);
    assert_eq!(delete_records(&topic, 0, 50), 50);
    assert_eq!(watermarks(&topic)[&0], (50, 100));
    (topic, produced)
}

fn error_events(out: &RkcOutput) -> Vec<&Value> {
    out.events_of("error")
}

#[test]
fn starting_in_the_middle_of_a_batch_returns_exactly_the_records_from_that_offset() {
    for codec in ["none", "lz4"] {
        let topic = unique(&format!("off-mid-{codec}"));
        create_topic(&topic, 1);
        // One batch of 100 records (linger and batch limits far above what is produced).
        let produced = produce(
            &topic,
            &[
                "--count",
                "100",
                "--compression",
                codec,
                "--linger-ms",
                "1000",
                "--batch-num-messages",
                "1000",
                "--rich",
            ],
        );
        let out = consume(&topic, &["-o", "37", "-e"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(offsets_of(&out.messages, 0), (37..100).collect::<Vec<_>>());
        assert_eq!(out.messages, produced[37..].to_vec(), "{codec}");
        assert_eq!(eof_offsets(&out.events, &topic, 0), vec![100]);
    }
}

#[test]
fn compacted_topic_with_gaps_is_read_like_librdkafka_reads_it() {
    let topic = unique("off-compact");
    create_topic_with_config(
        &topic,
        1,
        &[
            "cleanup.policy=compact",
            "segment.ms=100",
            "min.cleanable.dirty.ratio=0.01",
        ],
    );
    // Every 4th record has a key of its own, the others overwrite 7 keys again and again;
    // pauses let segments roll, and a last record rolls the segment before it so that all
    // of the 200 become cleanable.
    let mut produced = produce(
        &topic,
        &[
            "--count",
            "200",
            "--key-mod",
            "7",
            "--flush-every",
            "50",
            "--pause-ms",
            "200",
        ],
    );
    produced.extend(produce(&topic, &["--count", "1", "--start", "1000"]));
    let mut last_by_key: BTreeMap<String, i64> = BTreeMap::new();
    for m in &produced {
        last_by_key.insert(m["key"].to_string(), m["offset"].as_i64().unwrap());
    }
    let mut survivors: Vec<i64> = last_by_key.into_values().collect();
    survivors.sort_unstable();
    assert!(survivors.len() < 100, "{survivors:?}");

    // Wait until librdkafka sees the fully compacted log.
    let deadline = Instant::now() + Duration::from_secs(40);
    let reference = loop {
        let (messages, _) = librdkafka_consume(&topic, &[]);
        if offsets_of(&messages, 0) == survivors {
            break messages;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted in time: {:?}",
            offsets_of(&messages, 0)
        );
        std::thread::sleep(Duration::from_millis(300));
    };

    let out = consume(&topic, &["-o", "beginning", "-e"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages, reference);
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![201]);

    // Starting at an offset compaction removed: the next surviving record comes first.
    let gap = (survivors[0]..).find(|o| !survivors.contains(o)).unwrap();
    let out = consume(&topic, &["-o", &gap.to_string(), "-e"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected: Vec<i64> = survivors.iter().copied().filter(|o| *o > gap).collect();
    assert_eq!(offsets_of(&out.messages, 0), expected);
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![201]);
}

#[test]
fn reset_earliest_moves_an_out_of_range_offset_to_the_log_start() {
    let (ten, ten_produced) = ten_records();
    let (fifty, fifty_produced) = log_start_at_fifty();
    for policy in ["earliest", "smallest", "beginning"] {
        let reset = format!("auto.offset.reset={policy}");
        let out = consume(&ten, &["-o", "1000", "-e", "-X", &reset]);
        assert_eq!(out.code, 0, "{policy}: {}", out.stderr);
        assert_eq!(out.messages, ten_produced, "{policy}: past the end");
        assert_eq!(eof_offsets(&out.events, &ten, 0), vec![10]);

        let out = consume(&fifty, &["-o", "10", "-e", "-X", &reset]);
        assert_eq!(out.code, 0, "{policy}: {}", out.stderr);
        assert_eq!(
            out.messages,
            fifty_produced[50..].to_vec(),
            "{policy}: before the log start"
        );
        assert_eq!(eof_offsets(&out.events, &fifty, 0), vec![100]);
        assert!(error_events(&out).is_empty(), "{:?}", out.events);
    }
}

#[test]
fn reset_latest_moves_an_out_of_range_offset_to_the_end_and_reads_nothing() {
    let (ten, _) = ten_records();
    let (fifty, _) = log_start_at_fifty();
    for policy in ["latest", "largest", "end"] {
        let reset = format!("auto.offset.reset={policy}");
        let out = consume(&ten, &["-o", "1000", "-e", "-X", &reset]);
        assert_eq!(out.code, 0, "{policy}: {}", out.stderr);
        assert!(out.messages.is_empty(), "{policy}: {:?}", out.messages);
        assert_eq!(eof_offsets(&out.events, &ten, 0), vec![10]);

        let out = consume(&fifty, &["-o", "10", "-e", "-X", &reset]);
        assert_eq!(out.code, 0, "{policy}: {}", out.stderr);
        assert!(out.messages.is_empty(), "{policy}: {:?}", out.messages);
        assert_eq!(eof_offsets(&out.events, &fifty, 0), vec![100]);
    }
}

#[test]
fn reset_error_reports_offset_out_of_range_with_the_requested_offset_and_exits_1() {
    let (ten, _) = ten_records();
    let (fifty, _) = log_start_at_fifty();
    for (topic, offset) in [(&ten, 1000), (&fifty, 10)] {
        let out = consume(
            topic,
            &[
                "-o",
                &offset.to_string(),
                "-e",
                "-X",
                "auto.offset.reset=error",
            ],
        );
        assert_eq!(out.code, 1, "{topic} -o {offset}: {}", out.stderr);
        assert!(out.messages.is_empty(), "{:?}", out.messages);
        let errors = error_events(&out);
        assert_eq!(errors.len(), 1, "{:?}", out.events);
        assert_eq!(errors[0]["kind"], "offset_out_of_range", "{}", errors[0]);
        assert_eq!(errors[0]["topic"], topic.as_str());
        assert_eq!(errors[0]["partition"], 0);
        assert_eq!(errors[0]["offset"], offset);
        assert!(!errors[0]["error"].as_str().unwrap_or("").is_empty());
        assert!(eof_offsets(&out.events, topic, 0).is_empty());
    }
}

#[test]
fn reset_error_fails_only_the_out_of_range_partition_and_exits_1_after_the_others_finish() {
    let topic = unique("off-error-two");
    create_topic(&topic, 2);
    produce(&topic, &["--count", "10", "--partition", "0"]);
    let p1 = produce(&topic, &["--count", "100", "--partition", "1"]);
    let out = consume(&topic, &["-o", "50", "-e", "-X", "auto.offset.reset=error"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.messages, p1[50..].to_vec());
    let errors = error_events(&out);
    assert_eq!(errors.len(), 1, "{:?}", out.events);
    assert_eq!(errors[0]["kind"], "offset_out_of_range");
    assert_eq!(errors[0]["partition"], 0);
    assert_eq!(errors[0]["offset"], 50);
    assert_eq!(eof_offsets(&out.events, &topic, 1), vec![100]);
    assert!(eof_offsets(&out.events, &topic, 0).is_empty());
}

#[test]
fn offset_end_reaches_eof_at_each_partition_end_without_messages() {
    let topic = unique("off-end");
    create_topic(&topic, 2);
    produce(&topic, &["--count", "10", "--partition", "0"]);
    produce(&topic, &["--count", "4", "--partition", "1"]);
    let out = consume(&topic, &["-o", "end", "-e"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![10]);
    assert_eq!(eof_offsets(&out.events, &topic, 1), vec![4]);
}

#[test]
fn without_an_offset_the_reset_policy_decides_and_defaults_to_latest() {
    let (topic, produced) = ten_records();
    let out = consume(&topic, &["-e"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.messages.is_empty(),
        "default is latest: {:?}",
        out.messages
    );
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![10]);

    let out = consume(&topic, &["-e", "-X", "auto.offset.reset=earliest"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages, produced);
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![10]);
}

#[test]
fn partition_option_restricts_reading_to_that_partition() {
    let topic = unique("off-p");
    create_topic(&topic, 3);
    produce(&topic, &["--count", "5", "--partition", "0"]);
    let p1 = produce(&topic, &["--count", "6", "--partition", "1"]);
    produce(&topic, &["--count", "7", "--partition", "2"]);
    let out = consume(&topic, &["-p", "1", "-o", "beginning", "-e"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages, p1);
    let eofs = out.events_of("partition_eof");
    assert_eq!(eofs.len(), 1, "{eofs:?}");
    assert_eq!(eof_offsets(&out.events, &topic, 1), vec![6]);
}

#[test]
fn count_stops_after_exactly_that_many_messages() {
    let (topic, produced) = ten_records();
    let out = consume(&topic, &["-o", "beginning", "-c", "7"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages, produced[..7].to_vec());

    let three = unique("off-c3");
    create_topic(&three, 3);
    for p in ["0", "1", "2"] {
        produce(&three, &["--count", "20", "--partition", p]);
    }
    let out = consume(&three, &["-o", "beginning", "-c", "25"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages.len(), 25);
    support::assert_offsets_increase(&out.messages);
}

#[test]
fn several_topics_are_read_together() {
    let (a, a_produced) = ten_records();
    let b = unique("off-second");
    create_topic(&b, 2);
    let b0 = produce(&b, &["--count", "3", "--partition", "0"]);
    let b1 = produce(&b, &["--count", "2", "--partition", "1"]);
    let out = consume(&a, &["-t", &b, "-o", "beginning", "-e"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let of = |t: &str, p: i64| -> Vec<Value> {
        out.messages
            .iter()
            .filter(|m| m["topic"] == t && m["partition"] == p)
            .cloned()
            .collect()
    };
    assert_eq!(of(&a, 0), a_produced);
    assert_eq!(of(&b, 0), b0);
    assert_eq!(of(&b, 1), b1);
    assert_eq!(out.messages.len(), 15);
    assert_eq!(eof_offsets(&out.events, &a, 0), vec![10]);
    assert_eq!(eof_offsets(&out.events, &b, 0), vec![3]);
    assert_eq!(eof_offsets(&out.events, &b, 1), vec![2]);
}
