//! `rkc dlq replay` against the real broker, judged by librdkafka (confluent-kafka): poison
//! messages are dead-lettered by `rkc run` in each provenance header style, then replayed to
//! their original topic: each copy equals the original record (key, value, timestamp, headers
//! in order, same partition) with the provenance stripped and `dlq.replayed.from` added. The
//! replay group's committed progress makes a second replay re-produce nothing; `-c` stops
//! after N records; a dead letter without provenance stops the replay at that record with an
//! error naming it, until it is replayed with `--to`.

mod support;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{
    RkcOutput, RkcProcess, bootstrap, create_topic, group_offsets, librdkafka_consume, produce,
    rkc_run, unique, watermarks,
};

/// The exec handler: exit 1 (permanent) for the "partition:offset" items in `$1`.
const HANDLER: &str = r#"#!/bin/sh
cat >/dev/null
case " $1 " in *" $RKC_PARTITION:$RKC_OFFSET "*) echo "rejected $RKC_PARTITION:$RKC_OFFSET" >&2; exit 1;; esac
exit 0
"#;

/// A source topic whose poison messages `rkc run` dead-lettered to `<topic>.dlq`.
struct DeadLettered {
    dir: tempfile::TempDir,
    topic: String,
    partitions: i32,
    per_partition: i64,
    /// (partition, offset) of each poison message, in DLQ order per partition.
    poison: Vec<(i32, i64)>,
}

impl DeadLettered {
    /// Creates the topic (`--rich` records) and its DLQ (same partition count), and runs
    /// `rkc run` with `header_style = style` until its commits reach the log end.
    fn new(
        prefix: &str,
        style: &str,
        partitions: i32,
        per_partition: i64,
        poison: &[(i32, i64)],
    ) -> Self {
        let topic = unique(prefix);
        create_topic(&topic, partitions as u32);
        create_topic(&format!("{topic}.dlq"), partitions as u32);
        for p in 0..partitions {
            let start = (i64::from(p) * per_partition).to_string();
            produce(
                &topic,
                &[
                    "--partition",
                    &p.to_string(),
                    "--count",
                    &per_partition.to_string(),
                    "--start",
                    &start,
                    "--rich",
                ],
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let s = DeadLettered {
            dir,
            topic,
            partitions,
            per_partition,
            poison: poison.to_vec(),
        };
        s.dead_letter(style);
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn dlq(&self) -> String {
        format!("{}.dlq", self.topic)
    }

    fn dead_letter(&self, style: &str) {
        std::fs::write(self.path("handler.sh"), HANDLER).unwrap();
        let poison: Vec<String> = self
            .poison
            .iter()
            .map(|(p, o)| format!("{p}:{o}"))
            .collect();
        let group = format!("{}-g", self.topic);
        let config = format!(
            r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = ["sh", "{handler}", "{poison}"]
[retry]
max_attempts = 1
[dlq]
header_style = "{style}"
"#,
            bootstrap = bootstrap(),
            topic = self.topic,
            handler = self.path("handler.sh").display(),
            poison = poison.join(" "),
        );
        std::fs::write(self.path("run.toml"), config).unwrap();
        let mut run =
            RkcProcess::spawn(&["run", "--config", self.path("run.toml").to_str().unwrap()]);
        let end: BTreeMap<i32, i64> = (0..self.partitions)
            .map(|p| (p, self.per_partition))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(90);
        while group_offsets(&group, &self.topic) != end {
            assert!(
                Instant::now() < deadline,
                "rkc run did not finish\n{}",
                run.describe()
            );
            run.observe_for(Duration::from_millis(300));
        }
        run.signal("TERM");
        assert_eq!(
            run.wait_exit(Duration::from_secs(30)),
            0,
            "{}",
            run.describe()
        );
        assert_eq!(
            run.events_of("dead_lettered").len(),
            self.poison.len(),
            "{}",
            run.describe()
        );
    }

    /// `rkc dlq replay -b B --from <dlq> EXTRA…`; checks it printed one JSON summary line.
    fn replay(&self, extra: &[&str]) -> RkcOutput {
        let dlq = self.dlq();
        let mut args = vec!["dlq", "replay", "-b", bootstrap(), "--from", &dlq];
        args.extend_from_slice(extra);
        let out = rkc_run(&args, Duration::from_secs(90));
        assert_eq!(out.messages.len(), 1, "one summary line: {out:#?}");
        out
    }

    /// Checks that the source topic holds, after its own records, exactly one replayed copy
    /// of the first `n` poison messages of each partition (in DLQ order), equal to the
    /// original but for `dlq.replayed.from`; returns how many copies there are.
    fn check_replayed(&self, n: usize) -> usize {
        let (records, events) = librdkafka_consume(&self.topic, &[]);
        assert!(
            events.iter().all(|e| e["event"] == "partition_eof"),
            "{events:?}"
        );
        let (dead, _) = librdkafka_consume(&self.dlq(), &[]);
        let at = |v: &[Value], p: i32, o: i64| {
            v.iter()
                .find(|m| m["partition"] == p && m["offset"] == o)
                .cloned()
                .unwrap_or_else(|| panic!("no record at {p}:{o}"))
        };
        let mut copies = 0;
        for p in 0..self.partitions {
            let poison: Vec<i64> = self
                .poison
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, o)| *o)
                .collect();
            let replayed: Vec<&Value> = records
                .iter()
                .filter(|m| {
                    m["partition"] == p && m["offset"].as_i64().unwrap() >= self.per_partition
                })
                .collect();
            let want_count = poison.len().min(n);
            assert_eq!(
                replayed.len(),
                want_count,
                "copies in partition {p}: {replayed:#?}"
            );
            for (dlq_offset, (offset, got)) in poison.iter().zip(&replayed).enumerate() {
                let original = at(&records, p, *offset);
                // The dead letter itself is the original plus provenance.
                let dead_letter = at(&dead, p, dlq_offset as i64);
                assert_eq!(dead_letter["value"], original["value"]);
                let mut want = original.clone();
                want["offset"] = got["offset"].clone();
                let mut headers = original["headers"].as_array().cloned().unwrap_or_default();
                headers.push(json!([
                    "dlq.replayed.from",
                    format!("{}/{p}/{dlq_offset}", self.dlq())
                ]));
                want["headers"] = json!(headers);
                assert_eq!(*got, &want, "the replayed copy of {p}:{offset}");
            }
            copies += replayed.len();
        }
        copies
    }
}

fn summary(out: &RkcOutput) -> &Value {
    &out.messages[0]
}

fn replays_each_dead_letter_once(style: &str) {
    let s = DeadLettered::new(
        &format!("replay-{style}"),
        style,
        2,
        10,
        &[(0, 0), (0, 4), (1, 3), (1, 6)],
    );
    let out = s.replay(&[]);
    assert_eq!(out.code, 0, "{out:#?}");
    let line = summary(&out);
    assert_eq!(line["replayed"], 4, "{line}");
    assert_eq!(line["stopped"], "caught_up", "{line}");
    assert_eq!(line["group"], format!("rkc-dlq-replay-{}", s.dlq()));
    assert_eq!(line["topics"], json!({ s.topic.clone(): 4 }));
    assert_eq!(line["committed"], json!({"0": 2, "1": 2}));
    assert_eq!(s.check_replayed(usize::MAX), 4);
    assert_eq!(
        group_offsets(&format!("rkc-dlq-replay-{}", s.dlq()), &s.dlq()),
        BTreeMap::from([(0, 2), (1, 2)])
    );

    // The group's progress: a second replay finds nothing to do.
    let before = watermarks(&s.topic);
    let again = s.replay(&[]);
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(summary(&again)["replayed"], 0, "{again:#?}");
    assert_eq!(summary(&again)["stopped"], "caught_up");
    assert_eq!(watermarks(&s.topic), before);
}

#[test]
fn connect_style_dead_letters_are_replayed_once_to_their_original_topic() {
    replays_each_dead_letter_once("connect");
}

#[test]
fn spring_style_dead_letters_are_replayed_once_to_their_original_topic() {
    replays_each_dead_letter_once("spring");
}

#[test]
fn streams_style_dead_letters_are_replayed_once_to_their_original_topic() {
    replays_each_dead_letter_once("streams");
}

#[test]
fn count_stops_after_n_records_and_the_next_replay_goes_on_from_there() {
    let s = DeadLettered::new("replay-count", "connect", 1, 10, &[(0, 1), (0, 5), (0, 8)]);
    let group = unique("replay-count-g");
    let first = s.replay(&["-G", &group, "-c", "2"]);
    assert_eq!(first.code, 0, "{first:#?}");
    assert_eq!(summary(&first)["replayed"], 2, "{first:#?}");
    assert_eq!(summary(&first)["stopped"], "count");
    assert_eq!(group_offsets(&group, &s.dlq()), BTreeMap::from([(0, 2)]));
    assert_eq!(s.check_replayed(2), 2);

    let rest = s.replay(&["-G", &group]);
    assert_eq!(rest.code, 0, "{rest:#?}");
    assert_eq!(summary(&rest)["replayed"], 1, "{rest:#?}");
    assert_eq!(group_offsets(&group, &s.dlq()), BTreeMap::from([(0, 3)]));
    assert_eq!(s.check_replayed(usize::MAX), 3);
}

#[test]
fn a_record_without_provenance_stops_the_replay_at_it_until_given_a_destination() {
    let s = DeadLettered::new("replay-bare", "connect", 1, 6, &[(0, 2), (0, 3)]);
    // A record someone wrote to the DLQ by hand, after the two dead letters (DLQ offset 2).
    produce(&s.dlq(), &["--count", "1", "--prefix", "by-hand"]);

    let stuck = s.replay(&[]);
    assert_eq!(stuck.code, 1, "{stuck:#?}");
    let line = summary(&stuck);
    assert_eq!(line["replayed"], 2, "{line}");
    assert_eq!(line["stopped"], "error", "{line}");
    let named = format!("{} [0] offset 2 has no provenance headers", s.dlq());
    assert!(line["error"].as_str().unwrap().contains(&named), "{line}");
    assert!(stuck.stderr.contains(&named), "{}", stuck.stderr);
    let group = format!("rkc-dlq-replay-{}", s.dlq());
    assert_eq!(group_offsets(&group, &s.dlq()), BTreeMap::from([(0, 2)]));
    assert_eq!(s.check_replayed(usize::MAX), 2);

    // Stuck again at the same record, nothing re-produced.
    let again = s.replay(&[]);
    assert_eq!(
        (again.code, &summary(&again)["replayed"]),
        (1, &json!(0)),
        "{again:#?}"
    );

    // With --to it goes where it is told.
    let elsewhere = unique("replay-bare-to");
    create_topic(&elsewhere, 1);
    let to = s.replay(&["--to", &elsewhere]);
    assert_eq!(to.code, 0, "{to:#?}");
    assert_eq!(summary(&to)["replayed"], 1);
    assert_eq!(summary(&to)["topics"], json!({ elsewhere.clone(): 1 }));
    let (copied, _) = librdkafka_consume(&elsewhere, &[]);
    assert_eq!(copied.len(), 1, "{copied:#?}");
    assert_eq!(copied[0]["key"], "key-0");
    assert_eq!(copied[0]["value"], "by-hand-0");
    assert_eq!(
        copied[0]["headers"],
        json!([["dlq.replayed.from", format!("{}/0/2", s.dlq())]])
    );
    assert_eq!(group_offsets(&group, &s.dlq()), BTreeMap::from([(0, 3)]));
}

#[test]
fn a_missing_dlq_topic_is_an_error_not_a_wait() {
    let missing = unique("replay-missing");
    let out = rkc_run(
        &["dlq", "replay", "-b", bootstrap(), "--from", &missing],
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains(&format!("{missing} does not exist")),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_arguments_exit_2_before_anything_is_read() {
    let dlq = unique("replay-args");
    for extra in [
        vec!["--to", dlq.as_str()],
        vec!["-X", "enable.auto.commit=true"],
        vec!["-X", "acks=1"],
        vec!["-X", "no.such.property=1"],
    ] {
        let mut args = vec!["dlq", "replay", "-b", bootstrap(), "--from", &dlq];
        args.extend_from_slice(&extra);
        let out = rkc_run(&args, Duration::from_secs(30));
        assert_eq!(out.code, 2, "{extra:?}: {out:#?}");
        assert!(out.messages.is_empty(), "{extra:?}: {out:#?}");
    }
}
