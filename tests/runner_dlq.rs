//! `rkc run` dead-lettering through the project's idempotent producer, against the real
//! broker and judged by librdkafka (confluent-kafka): poison messages (permanent, and
//! retryable until the attempts run out) land in `<topic>.dlq` once each with the original
//! key, value, headers and timestamp plus the provenance headers of the configured style;
//! everything else is processed; the group's committed offsets reach the log end. A missing
//! DLQ topic stalls its partition at the failing message (one `dlq_unavailable` event) until
//! the topic is created. Flaky messages (retryable once) succeed on their second attempt and
//! never reach the DLQ.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::{Duration, Instant},
};

use base64::Engine as _;
use serde_json::{Value, json};
use support::{
    RkcProcess, bootstrap, create_topic, group_offsets, librdkafka_consume, produce, unique,
};

/// The exec handler: exit 1 (permanent) for the (partition, offset) pairs in POISON, 75
/// (retryable) for those in FLAKY, every time, and for those in RECOVER on the first attempt
/// only (`RKC_ATTEMPT` 1); otherwise logs "partition offset" to LOG (and, for RECOVER,
/// "partition offset attempt" to LOG.attempts). Lists are space-separated "p:o" items.
const HANDLER: &str = r#"#!/bin/sh
exec >/dev/null
log="$1"; poison=" $2 "; flaky=" $3 "; recover=" $4 "
cat >/dev/null
me="$RKC_PARTITION:$RKC_OFFSET"
case "$poison" in *" $me "*) echo "first line" >&2; echo "rejected $me: not an order" >&2; exit 1;; esac
case "$flaky" in *" $me "*) echo "downstream busy at $me" >&2; exit 75;; esac
case "$recover" in *" $me "*)
  echo "$RKC_PARTITION $RKC_OFFSET $RKC_ATTEMPT" >> "$log.attempts"
  if [ "$RKC_ATTEMPT" = 1 ]; then echo "flaky at $me" >&2; exit 75; fi;;
esac
echo "$RKC_PARTITION $RKC_OFFSET" >> "$log"
"#;

struct Setup {
    dir: tempfile::TempDir,
    topic: String,
    group: String,
}

impl Setup {
    /// A topic of `partitions` partitions with `per_partition` varied records (`--rich`:
    /// null, binary and empty keys and values, duplicate, null and binary headers) each.
    fn new(prefix: &str, partitions: i32, per_partition: u32) -> Setup {
        let topic = unique(prefix);
        create_topic(&topic, partitions as u32);
        for p in 0..partitions {
            let start = (p as u32 * per_partition).to_string();
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
        std::fs::write(dir.path().join("handler.sh"), HANDLER).unwrap();
        Setup {
            dir,
            group: format!("{topic}-g"),
            topic,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn dlq(&self) -> String {
        format!("{}.dlq", self.topic)
    }

    /// Starts `rkc run` with the exec handler failing `poison` (permanent) and `flaky`
    /// (retryable) messages, 2 attempts with short backoffs, and `dlq` as the `[dlq]` section.
    fn run(&self, poison: &[(i32, i64)], flaky: &[(i32, i64)], dlq: &str) -> RkcProcess {
        self.run_recovering(poison, flaky, &[], dlq)
    }

    /// As [`Setup::run`], with `recover` messages failing (retryable) on their first attempt
    /// only.
    fn run_recovering(
        &self,
        poison: &[(i32, i64)],
        flaky: &[(i32, i64)],
        recover: &[(i32, i64)],
        dlq: &str,
    ) -> RkcProcess {
        let list = |l: &[(i32, i64)]| {
            l.iter()
                .map(|(p, o)| format!("{p}:{o}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let text = format!(
            r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = ["sh", "{handler}", "{log}", "{poison}", "{flaky}", "{recover}"]
[retry]
max_attempts = 2
initial_backoff = "50ms"
max_backoff = "200ms"
[dlq]
{dlq}
"#,
            bootstrap = bootstrap(),
            group = self.group,
            topic = self.topic,
            handler = self.path("handler.sh").display(),
            log = self.path("log").display(),
            poison = list(poison),
            flaky = list(flaky),
            recover = list(recover),
        );
        let config = self.path("run.toml");
        std::fs::write(&config, text).unwrap();
        RkcProcess::spawn(&["run", "--config", config.to_str().unwrap()])
    }

    /// (partition, offset) of every message the handler processed.
    fn processed(&self) -> Vec<(i32, i64)> {
        std::fs::read_to_string(self.path("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (p, o) = l.split_once(' ').unwrap();
                (p.parse().unwrap(), o.parse().unwrap())
            })
            .collect()
    }

    /// Waits until the group's committed offsets are `want`.
    fn wait_committed(&self, p: &mut RkcProcess, want: &BTreeMap<i32, i64>) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let got = group_offsets(&self.group, &self.topic);
            if &got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "committed {got:?}, want {want:?}\n{}",
                p.describe()
            );
            p.observe_for(Duration::from_millis(300));
        }
    }

    /// Stops `rkc run` with SIGTERM and checks it exits 0.
    fn stop(p: &mut RkcProcess) {
        p.signal("TERM");
        assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
    }
}

/// The header JSON the librdkafka peer prints: text, or base64 bytes.
fn hv(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => json!(s),
        Err(_) => json!({"b64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
    }
}

/// How a message failed in the handler above.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Exit 1 on the first attempt.
    Permanent,
    /// Exit 75 on both attempts.
    Exhausted,
}

impl Failure {
    fn class(self) -> &'static str {
        match self {
            Self::Permanent => "ExitStatus1",
            Self::Exhausted => "ExitStatus75",
        }
    }

    fn message(self, p: i32, o: i64) -> String {
        match self {
            Self::Permanent => format!("rejected {p}:{o}: not an order"),
            Self::Exhausted => format!("downstream busy at {p}:{o}"),
        }
    }

    fn attempts(self) -> u32 {
        match self {
            Self::Permanent => 1,
            Self::Exhausted => 2,
        }
    }
}

/// Takes the `dlq.failed.at` header out of `headers` and checks it is RFC 3339 UTC.
fn take_failed_at(headers: &mut Vec<Value>) {
    let at = headers
        .iter()
        .position(|h| h[0] == "dlq.failed.at")
        .expect("dlq.failed.at header");
    let value = headers.remove(at)[1].as_str().unwrap().to_owned();
    assert!(
        value.len() >= 20 && value.ends_with('Z') && value.as_bytes()[10] == b'T',
        "dlq.failed.at {value:?} is not RFC 3339 UTC"
    );
}

/// Checks the DLQ holds exactly the `failed` source messages (once each, on the source's
/// partition, in source order) with their key, value, headers and timestamp, plus the
/// provenance headers `style` writes; checks one `dead_lettered` event per record naming
/// where it landed.
fn check_dead_letters(
    s: &Setup,
    p: &RkcProcess,
    failed: &[((i32, i64), Failure)],
    style: &str,
) -> Vec<Value> {
    let (source, _) = librdkafka_consume(&s.topic, &[]);
    let (dead, events) = librdkafka_consume(&s.dlq(), &[]);
    assert!(
        events.iter().all(|e| e["event"] == "partition_eof"),
        "{events:?}"
    );
    assert_eq!(
        dead.len(),
        failed.len(),
        "one dead letter per poison message: {dead:#?}"
    );
    let find = |v: &[Value], p: i32, o: i64| {
        v.iter()
            .find(|m| m["partition"] == p && m["offset"] == o)
            .cloned()
            .unwrap_or_else(|| panic!("no record at {p}:{o}"))
    };
    let mut next_dlq_offset: BTreeMap<i32, i64> = BTreeMap::new();
    let mut ordered = failed.to_vec();
    ordered.sort_by_key(|(at, _)| *at);
    for &((partition, offset), failure) in &ordered {
        let dlq_offset = next_dlq_offset.entry(partition).or_insert(0);
        let mut got = find(&dead, partition, *dlq_offset);
        let original = find(&source, partition, offset);
        let mut want = original.clone();
        want["topic"] = json!(s.dlq());
        want["offset"] = json!(*dlq_offset);
        let mut headers = original["headers"].as_array().cloned().unwrap_or_default();
        let (class, message) = (failure.class(), failure.message(partition, offset));
        match style {
            "connect" => headers.extend([
                json!(["__connect.errors.topic", s.topic]),
                json!(["__connect.errors.partition", partition.to_string()]),
                json!(["__connect.errors.offset", offset.to_string()]),
                json!(["__connect.errors.exception.class.name", class]),
                json!(["__connect.errors.exception.message", message]),
            ]),
            "spring" => {
                let ts = original["timestamp"].as_i64().unwrap();
                headers.extend([
                    json!(["kafka_dlt-original-topic", s.topic]),
                    json!(["kafka_dlt-original-partition", hv(&partition.to_be_bytes())]),
                    json!(["kafka_dlt-original-offset", hv(&offset.to_be_bytes())]),
                    json!(["kafka_dlt-original-timestamp", hv(&ts.to_be_bytes())]),
                    json!(["kafka_dlt-original-timestamp-type", "CreateTime"]),
                    json!(["kafka_dlt-original-consumer-group", s.group]),
                    json!(["kafka_dlt-exception-fqcn", class]),
                    json!(["kafka_dlt-exception-message", message]),
                ])
            }
            "streams" => headers.extend([
                json!(["__streams.errors.exception", class]),
                json!(["__streams.errors.message", message]),
                json!(["__streams.errors.topic", s.topic]),
                json!(["__streams.errors.partition", partition.to_string()]),
                json!(["__streams.errors.offset", offset.to_string()]),
            ]),
            _ => unreachable!(),
        }
        headers.push(json!(["dlq.consumer.group", s.group]));
        headers.push(json!(["dlq.attempts", failure.attempts().to_string()]));
        want["headers"] = json!(headers);
        take_failed_at(got["headers"].as_array_mut().unwrap());
        assert_eq!(got, want, "the dead letter of {partition}:{offset}");

        let events: Vec<&Value> = p
            .events_of("dead_lettered")
            .into_iter()
            .filter(|e| e["partition"] == partition && e["offset"] == offset)
            .collect();
        assert_eq!(events.len(), 1, "{}", p.describe());
        let e = events[0];
        assert_eq!(
            (&e["dlq_topic"], &e["dlq_partition"], &e["dlq_offset"]),
            (&json!(s.dlq()), &json!(partition), &json!(*dlq_offset)),
            "{e}"
        );
        assert_eq!(e["attempts"], failure.attempts());
        assert_eq!(e["error"], message.as_str());
        *dlq_offset += 1;
    }
    dead
}

/// Every (partition, offset) of a topic with `partitions` × `per_partition` records, minus
/// `failed`.
fn expected_processed(
    partitions: i32,
    per_partition: i64,
    failed: &[((i32, i64), Failure)],
) -> BTreeSet<(i32, i64)> {
    let failed: BTreeSet<(i32, i64)> = failed.iter().map(|(at, _)| *at).collect();
    (0..partitions)
        .flat_map(|p| (0..per_partition).map(move |o| (p, o)))
        .filter(|at| !failed.contains(at))
        .collect()
}

/// A message's place in the source topic: (partition, offset).
type At = (i32, i64);

/// The (permanent, exhausted) failures of `failed`.
fn split(failed: &[(At, Failure)]) -> (Vec<At>, Vec<At>) {
    let of = |f: Failure| {
        failed
            .iter()
            .filter(|(_, g)| *g == f)
            .map(|(at, _)| *at)
            .collect()
    };
    (of(Failure::Permanent), of(Failure::Exhausted))
}

#[test]
fn poison_messages_land_in_the_dlq_once_with_connect_headers_and_commits_reach_the_end() {
    use Failure::{Exhausted, Permanent};
    let s = Setup::new("run-dlq", 2, 20);
    create_topic(&s.dlq(), 2);
    // Offsets ≡ 0 (null key and value), 3 (binary key), 4 (duplicate/null/binary headers)
    // mod 10 among them; the last offset of partition 1 too.
    let failed = [
        ((0, 4), Permanent),
        ((0, 7), Exhausted),
        ((0, 10), Permanent),
        ((0, 13), Permanent),
        ((1, 0), Permanent),
        ((1, 3), Exhausted),
        ((1, 14), Permanent),
        ((1, 19), Exhausted),
    ];
    let (poison, flaky) = split(&failed);
    let mut p = s.run(&poison, &flaky, "");
    s.wait_committed(&mut p, &BTreeMap::from([(0, 20), (1, 20)]));
    Setup::stop(&mut p);

    check_dead_letters(&s, &p, &failed, "connect");
    let processed = s.processed();
    assert_eq!(
        processed.iter().copied().collect::<BTreeSet<_>>(),
        expected_processed(2, 20, &failed)
    );
    // Each retryable failure was retried once before it was dead-lettered.
    for at in flaky {
        let retries = p
            .events_of("retry")
            .into_iter()
            .filter(|e| e["partition"] == at.0 && e["offset"] == at.1)
            .count();
        assert_eq!(retries, 1, "{at:?}\n{}", p.describe());
    }
    assert!(
        p.events_of("dlq_unavailable").is_empty(),
        "{}",
        p.describe()
    );
}

#[test]
fn spring_style_dead_letters_carry_spring_headers() {
    use Failure::{Exhausted, Permanent};
    let s = Setup::new("run-dlq-spring", 1, 8);
    create_topic(&s.dlq(), 1);
    let failed = [((0, 4), Permanent), ((0, 6), Exhausted)];
    let (poison, flaky) = split(&failed);
    let mut p = s.run(
        &poison,
        &flaky,
        "header_style = \"spring\"\ncompression = \"zstd\"",
    );
    s.wait_committed(&mut p, &BTreeMap::from([(0, 8)]));
    Setup::stop(&mut p);

    check_dead_letters(&s, &p, &failed, "spring");
    assert_eq!(
        s.processed().into_iter().collect::<BTreeSet<_>>(),
        expected_processed(1, 8, &failed)
    );
}

#[test]
fn streams_style_dead_letters_carry_kip_1034_headers() {
    use Failure::{Exhausted, Permanent};
    let s = Setup::new("run-dlq-streams", 2, 6);
    create_topic(&s.dlq(), 2);
    let failed = [
        ((0, 3), Permanent),
        ((1, 4), Exhausted),
        ((1, 5), Permanent),
    ];
    let (poison, flaky) = split(&failed);
    let mut p = s.run(&poison, &flaky, "header_style = \"streams\"");
    s.wait_committed(&mut p, &BTreeMap::from([(0, 6), (1, 6)]));
    Setup::stop(&mut p);

    check_dead_letters(&s, &p, &failed, "streams");
    assert_eq!(
        s.processed().into_iter().collect::<BTreeSet<_>>(),
        expected_processed(2, 6, &failed)
    );
}

#[test]
fn flaky_messages_succeed_on_a_later_attempt_and_commits_reach_the_end() {
    use Failure::Permanent;
    let s = Setup::new("run-dlq-flaky", 2, 10);
    create_topic(&s.dlq(), 2);
    let recover = [(0, 2), (0, 9), (1, 0), (1, 5)];
    let failed = [((1, 6), Permanent)];
    let (poison, flaky) = split(&failed);
    let mut p = s.run_recovering(&poison, &flaky, &recover, "");
    s.wait_committed(&mut p, &BTreeMap::from([(0, 10), (1, 10)]));
    Setup::stop(&mut p);

    // Each flaky message failed once (a retry event for attempt 1), then was processed on
    // attempt 2; none reached the DLQ.
    let processed = s.processed();
    assert_eq!(
        processed.iter().copied().collect::<BTreeSet<_>>(),
        expected_processed(2, 10, &failed)
    );
    let attempts: BTreeSet<(i32, i64, u32)> = std::fs::read_to_string(s.path("log.attempts"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(i32, i64, u32)> = recover
        .iter()
        .flat_map(|&(p, o)| [(p, o, 1), (p, o, 2)])
        .collect();
    assert_eq!(attempts, want);
    for (partition, offset) in recover {
        let retries: Vec<&Value> = p
            .events_of("retry")
            .into_iter()
            .filter(|e| e["partition"] == partition && e["offset"] == offset)
            .collect();
        assert_eq!(retries.len(), 1, "{}", p.describe());
        assert_eq!(retries[0]["attempt"], 1, "{}", retries[0]);
        assert_eq!(
            retries[0]["error"],
            format!("flaky at {partition}:{offset}")
        );
    }
    check_dead_letters(&s, &p, &failed, "connect");
    assert_eq!(
        processed.len(),
        expected_processed(2, 10, &failed).len(),
        "each message processed once: {processed:?}"
    );
}

#[test]
fn a_missing_dlq_topic_stalls_the_partition_at_the_message_until_the_topic_exists() {
    use Failure::Permanent;
    let s = Setup::new("run-dlq-missing", 1, 6);
    let failed = [((0, 2), Permanent)];
    let (poison, flaky) = split(&failed);
    let mut p = s.run(&poison, &flaky, "");
    p.wait_until(Duration::from_secs(60), "a dlq_unavailable event", |p| {
        !p.events_of("dlq_unavailable").is_empty()
    });
    // Offsets 0 and 1 are committed, nothing past the failing message.
    s.wait_committed(&mut p, &BTreeMap::from([(0, 2)]));
    // Several dead-letter attempts fail meanwhile (backoff up to 200 ms); still nothing past 2.
    p.observe_for(Duration::from_secs(2));
    assert_eq!(group_offsets(&s.group, &s.topic), BTreeMap::from([(0, 2)]));
    assert!(p.events_of("dead_lettered").is_empty(), "{}", p.describe());
    let unavailable = p.events_of("dlq_unavailable");
    assert_eq!(
        unavailable.len(),
        1,
        "one event per outage\n{}",
        p.describe()
    );
    let e = unavailable[0];
    assert_eq!(
        (&e["partition"], &e["offset"]),
        (&json!(0), &json!(2)),
        "{e}"
    );
    assert_eq!(e["retriable"], true, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("does not exist"),
        "{e}"
    );

    create_topic(&s.dlq(), 1);
    s.wait_committed(&mut p, &BTreeMap::from([(0, 6)]));
    Setup::stop(&mut p);
    check_dead_letters(&s, &p, &failed, "connect");
    assert_eq!(p.events_of("dlq_unavailable").len(), 1, "{}", p.describe());
    assert_eq!(
        s.processed().into_iter().collect::<BTreeSet<_>>(),
        expected_processed(1, 6, &failed)
    );
}
