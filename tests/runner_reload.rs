//! Hot reload of the runner's configuration against the real broker: `rkc run` watching its
//! file and reloading on SIGHUP, and the library's `RunnerHandle::update_config`. Live
//! settings change without a rebalance (the member keeps its member id, no revoke/assign);
//! invalid edits are rejected and processing goes on; a `group.id` change moves the member
//! to the new group through a clean commit/leave/rejoin without losing or repeating a
//! message; restart-only settings are reported and ignored. confluent-kafka produces and
//! reads the groups from outside.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rskafka_consumer::{
    Message,
    runner::{
        Apply, HandlerError, MemorySink, ReloadError, Runner, RunnerConfig, RunnerEvent,
        config::KafkaValue, handler_fn,
    },
};
use serde_json::{Value, json};
use support::{
    RkcProcess, bootstrap, create_topic, describe_group, group_offsets, produce, unique,
};

/// Logs "partition offset attempt value" to LOG when done. A value starting with "poison"
/// fails retryably (exit 75) every time. On offset SLOW, the first time (no MARK yet), it
/// creates MARK and sleeps SLEEP seconds first.
const HANDLER: &str = r#"#!/bin/sh
exec >/dev/null
log="$1"; mark="$2"; slow="$3"; sleep_s="$4"
value=$(cat)
case "$value" in
  poison*) echo "poisoned at attempt $RKC_ATTEMPT" >&2; exit 75;;
esac
if [ "$RKC_OFFSET" = "$slow" ] && [ ! -e "$mark" ]; then
  touch "$mark"
  sleep "$sleep_s"
fi
echo "$RKC_PARTITION $RKC_OFFSET $RKC_ATTEMPT $value" >> "$log"
"#;

const WAIT: Duration = Duration::from_secs(60);

struct Setup {
    dir: tempfile::TempDir,
    topic: String,
    group: String,
    config: PathBuf,
}

impl Setup {
    fn new(prefix: &str) -> Setup {
        let topic = unique(prefix);
        create_topic(&topic, 1);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("handler.sh"), HANDLER).unwrap();
        Setup {
            config: dir.path().join("rkc.toml"),
            dir,
            group: format!("{topic}-g"),
            topic,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The configuration text for `group`, with `kafka` more `[kafka]` lines and `extra`
    /// more sections; the handler is slow (`sleep_s`) on offset `slow`.
    fn text(&self, group: &str, kafka: &str, slow: i64, sleep_s: u32, extra: &str) -> String {
        format!(
            r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
{kafka}
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = ["sh", "{handler}", "{log}", "{mark}", "{slow}", "{sleep_s}"]
{extra}
"#,
            bootstrap = bootstrap(),
            topic = self.topic,
            handler = self.path("handler.sh"),
            log = self.path("log"),
            mark = self.path("mark"),
        )
    }

    /// Replaces the configuration file in one step (as editors and config management do),
    /// so the watcher never sees half a file.
    fn write(&self, text: &str) {
        let tmp = self.dir.path().join("rkc.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    fn run(&self) -> RkcProcess {
        RkcProcess::spawn(&["run", "--config", self.config.to_str().unwrap()])
    }

    /// Offsets the handler finished, in order.
    fn processed(&self) -> Vec<i64> {
        std::fs::read_to_string(self.path("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
            .collect()
    }

    fn wait_processed(&self, p: &mut RkcProcess, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.processed().len() < count {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {count} processed (have {:?})\n{}",
                self.processed(),
                p.describe()
            );
            p.observe_for(Duration::from_millis(100));
        }
    }
}

/// The one member of `group` (its member id), as librdkafka's AdminClient sees it.
fn only_member(group: &str) -> String {
    let d = describe_group(group);
    assert_eq!(d["state"], "STABLE", "{d}");
    let members = d["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{d}");
    members[0]["member_id"].as_str().unwrap().to_owned()
}

fn change<'a>(event: &'a Value, key: &str) -> &'a Value {
    event["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no change of {key} in {event}"))
}

fn stop(p: &mut RkcProcess) {
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
}

#[test]
fn retry_and_dlq_edits_apply_to_the_next_failure_without_a_rebalance() {
    let s = Setup::new("reload-retry");
    let dead_topic = format!("{}.dead", s.topic);
    create_topic(&format!("{}.dlq", s.topic), 1);
    create_topic(&dead_topic, 1);
    produce(&s.topic, &["--count", "3"]);
    produce(&s.topic, &["--count", "1", "--value", "poison"]);
    produce(&s.topic, &["--count", "3", "--start", "4"]);
    let retry = |n: u32| {
        format!("[retry]\nmax_attempts = {n}\ninitial_backoff = \"100ms\"\nmax_backoff = \"200ms\"")
    };
    s.write(&s.text(&s.group, "", -1, 0, &retry(1000)));
    let mut p = s.run();
    p.wait_until(WAIT, "offset 3 retried twice", |p| {
        p.events_of("retry").len() >= 2
    });
    assert!(p.events_of("dead_lettered").is_empty());
    let member = only_member(&s.group);

    let dlq = format!("[dlq]\ntopic = \"{dead_topic}\"");
    s.write(&s.text(&s.group, "", -1, 0, &format!("{}\n{dlq}", retry(2))));
    p.wait_until(WAIT, "the reload", |p| {
        !p.events_of("config_reloaded").is_empty()
    });
    let reloaded = p.events_of("config_reloaded")[0].clone();
    assert_eq!(
        change(&reloaded, "retry.max_attempts"),
        &json!({"key": "retry.max_attempts", "old": 1000, "new": 2, "applied": "live"}),
    );
    assert_eq!(
        change(&reloaded, "dlq.topic"),
        &json!({"key": "dlq.topic", "old": null, "new": dead_topic, "applied": "live"}),
    );
    assert_eq!(
        reloaded["changes"].as_array().unwrap().len(),
        2,
        "{reloaded}"
    );
    assert!(reloaded.get("rejoined").is_none(), "{reloaded}");

    p.wait_until(WAIT, "offset 3 dead-lettered", |p| {
        !p.events_of("dead_lettered").is_empty()
    });
    // The next failure after the reload was the last: no retry was scheduled after it.
    let at_reload = p
        .events
        .iter()
        .position(|e| e["event"] == "config_reloaded")
        .unwrap();
    let retries_before: Vec<i64> = p.events[..at_reload]
        .iter()
        .filter(|e| e["event"] == "retry")
        .map(|e| e["attempt"].as_i64().unwrap())
        .collect();
    let retries_after = p.events[at_reload..]
        .iter()
        .filter(|e| e["event"] == "retry")
        .count();
    let dead = p.events_of("dead_lettered")[0].clone();
    assert_eq!(dead["offset"], 3);
    assert_eq!(dead["dlq_topic"], json!(dead_topic), "the new DLQ topic");
    assert_eq!(
        dead["attempts"].as_i64().unwrap(),
        retries_before.last().unwrap() + 1 + retries_after as i64,
        "{}",
        p.describe()
    );
    assert!(retries_after <= 1, "{}", p.describe());
    s.wait_processed(&mut p, 6);
    assert_eq!(s.processed(), [0, 1, 2, 4, 5, 6]);

    // Same member, no rebalance: the generation did not change (DescribeGroups does not
    // report a classic group's generation; a new one would have revoked and reassigned the
    // partitions of this eager-protocol member, and a rejoin after leaving gets a new id).
    assert_eq!(only_member(&s.group), member);
    assert_eq!(p.events_of("assigned").len(), 1, "{}", p.describe());
    assert!(p.events_of("revoked").is_empty(), "{}", p.describe());
    stop(&mut p);
    assert_eq!(group_offsets(&s.group, &s.topic), BTreeMap::from([(0, 7)]));
}

#[test]
fn an_invalid_edit_is_rejected_and_logged_and_processing_goes_on() {
    let s = Setup::new("reload-invalid");
    produce(&s.topic, &["--count", "3"]);
    s.write(&s.text(&s.group, "", -1, 0, ""));
    let mut p = s.run();
    s.wait_processed(&mut p, 3);

    s.write(&s.text(&s.group, "", -1, 0, "[retry]\nmax_attempts = 0\n"));
    p.wait_until(WAIT, "the rejection", |p| {
        !p.events_of("config_rejected").is_empty()
    });
    let rejected = p.events_of("config_rejected")[0].clone();
    let error = rejected["error"].as_str().unwrap();
    assert!(error.contains("`retry.max_attempts`"), "{rejected}");
    assert!(error.contains("rkc.toml"), "names the file: {rejected}");
    assert!(
        p.stderr.contains("configuration reload rejected"),
        "logged: {}",
        p.describe()
    );

    s.write("[kafka\nthis is not toml");
    p.wait_until(WAIT, "the second rejection", |p| {
        p.events_of("config_rejected").len() == 2
    });

    produce(&s.topic, &["--count", "3", "--start", "3"]);
    s.wait_processed(&mut p, 6);
    assert!(
        p.events_of("config_reloaded").is_empty(),
        "{}",
        p.describe()
    );

    // A valid edit after the bad ones still applies.
    s.write(&s.text(&s.group, "", -1, 0, "timeout = \"10s\"\n"));
    p.wait_until(WAIT, "the reload", |p| {
        !p.events_of("config_reloaded").is_empty()
    });
    let reloaded = p.events_of("config_reloaded")[0].clone();
    assert_eq!(change(&reloaded, "handler.timeout")["applied"], "live");
    assert_eq!(change(&reloaded, "handler.timeout")["old"], "30s");
    stop(&mut p);
    assert_eq!(s.processed(), [0, 1, 2, 3, 4, 5]);
    assert_eq!(group_offsets(&s.group, &s.topic), BTreeMap::from([(0, 6)]));
}

#[test]
fn sighup_reloads_the_file_even_when_unchanged() {
    let s = Setup::new("reload-hup");
    produce(&s.topic, &["--count", "2"]);
    s.write(&s.text(&s.group, "", -1, 0, ""));
    let mut p = s.run();
    s.wait_processed(&mut p, 2);
    // Polling reloads only a changed file: this reload can only come from the signal (whose
    // default action would end the process).
    p.signal("HUP");
    p.wait_until(WAIT, "the reload", |p| {
        !p.events_of("config_reloaded").is_empty()
    });
    assert_eq!(
        p.events_of("config_reloaded")[0]["changes"],
        json!([]),
        "{}",
        p.describe()
    );
    produce(&s.topic, &["--count", "2", "--start", "2"]);
    s.wait_processed(&mut p, 4);
    stop(&mut p);
}

#[test]
fn a_bootstrap_change_is_reported_as_needing_a_restart_and_ignored() {
    let s = Setup::new("reload-bootstrap");
    produce(&s.topic, &["--count", "2"]);
    let original = s.text(&s.group, "", -1, 0, "");
    s.write(&original);
    let mut p = s.run();
    s.wait_processed(&mut p, 2);
    let member = only_member(&s.group);

    s.write(
        &s.text(&s.group, "", -1, 0, "[shutdown]\ntimeout = \"20s\"\n")
            .replace(bootstrap(), "127.0.0.1:1"),
    );
    p.wait_until(WAIT, "the reload", |p| {
        !p.events_of("config_reloaded").is_empty()
    });
    let reloaded = p.events_of("config_reloaded")[0].clone();
    assert_eq!(
        change(&reloaded, "kafka.\"bootstrap.servers\""),
        &json!({"key": "kafka.\"bootstrap.servers\"", "old": bootstrap(),
                "new": "127.0.0.1:1", "applied": "restart_required"})
    );
    assert_eq!(
        reloaded["restart_required"],
        json!(["kafka.\"bootstrap.servers\""])
    );
    assert_eq!(change(&reloaded, "shutdown.timeout")["applied"], "live");

    // Still consuming from the running cluster, same membership.
    produce(&s.topic, &["--count", "2", "--start", "2"]);
    s.wait_processed(&mut p, 4);
    assert_eq!(only_member(&s.group), member);

    // Going back to the running value is no change to it any more.
    s.write(&original);
    p.wait_until(WAIT, "the second reload", |p| {
        p.events_of("config_reloaded").len() == 2
    });
    let back = p.events_of("config_reloaded")[1].clone();
    assert_eq!(
        back["changes"].as_array().unwrap().len(),
        1,
        "only shutdown.timeout: {back}"
    );
    stop(&mut p);
}

#[test]
fn a_group_id_edit_moves_the_member_to_the_new_group_losing_and_repeating_nothing() {
    let s = Setup::new("reload-group");
    produce(&s.topic, &["--count", "10"]);
    let new_group = format!("{}-moved", s.group);
    // Offset 5 is slow: it is still in its handler when the edit lands.
    s.write(&s.text(&s.group, "", 5, 4, ""));
    let mut p = s.run();
    let deadline = Instant::now() + WAIT;
    while !Path::new(&s.path("mark")).exists() {
        assert!(Instant::now() < deadline, "{}", p.describe());
        p.observe_for(Duration::from_millis(50));
    }
    s.write(&s.text(&new_group, "", 5, 4, ""));
    p.wait_until(WAIT, "the reload", |p| {
        !p.events_of("config_reloaded").is_empty()
    });
    let reloaded = p.events_of("config_reloaded")[0].clone();
    assert_eq!(
        change(&reloaded, "kafka.\"group.id\""),
        &json!({"key": "kafka.\"group.id\"", "old": s.group, "new": new_group,
                "applied": "rejoin"})
    );
    // The slow message finished before leaving: the old group committed through it, and
    // the new group starts right after.
    assert_eq!(
        reloaded["rejoined"],
        json!({"left_group": s.group, "joined_group": new_group,
               "carried_over": [{"topic": s.topic, "partition": 0, "offset": 6}],
               "carry_over_error": null}),
        "{}",
        p.describe()
    );
    assert_eq!(group_offsets(&s.group, &s.topic), BTreeMap::from([(0, 6)]));
    let old = describe_group(&s.group);
    assert_eq!(old["state"], "EMPTY", "{old}");
    assert_eq!(old["members"], json!([]), "{old}");

    s.wait_processed(&mut p, 10);
    produce(&s.topic, &["--count", "5", "--start", "10"]);
    s.wait_processed(&mut p, 15);
    let new_member = only_member(&new_group);
    assert!(!new_member.is_empty());
    // assigned (old group), revoked (the reload), assigned (new group).
    p.wait_until(WAIT, "the assignment in the new group", |p| {
        p.events_of("assigned").len() == 2
    });
    let rebalances: Vec<&str> = p
        .events
        .iter()
        .filter_map(|e| e["event"].as_str())
        .filter(|e| ["assigned", "revoked", "lost"].contains(e))
        .collect();
    assert_eq!(
        rebalances,
        ["assigned", "revoked", "assigned"],
        "{}",
        p.describe()
    );
    stop(&mut p);
    assert_eq!(
        s.processed(),
        (0..15).collect::<Vec<_>>(),
        "every message once, in order"
    );
    assert_eq!(group_offsets(&s.group, &s.topic), BTreeMap::from([(0, 6)]));
    assert_eq!(
        group_offsets(&new_group, &s.topic),
        BTreeMap::from([(0, 15)])
    );
}

fn library_config(topics: &[&str], group: &str, extra: &str) -> RunnerConfig {
    let text = format!(
        r#"
[kafka]
"bootstrap.servers" = "{}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
[source]
topics = {topics:?}
{extra}
"#,
        bootstrap()
    );
    RunnerConfig::from_toml(&text, Path::new("test.toml")).expect("test config")
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_config_applies_live_settings_rejects_invalid_ones_and_rejoins_for_new_topics() {
    let topic = unique("reload-lib");
    let second = unique("reload-lib2");
    let group = unique("reload-lib-g");
    create_topic(&topic, 1);
    create_topic(&second, 1);
    produce(&topic, &["--count", "5"]);
    produce(&second, &["--count", "3"]);
    let retry = "[retry]\nmax_attempts = 1000\ninitial_backoff = \"50ms\"\nmax_backoff = \"100ms\"";
    let config = library_config(&[&topic], &group, retry);

    let processed: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let events: Arc<Mutex<Vec<RunnerEvent>>> = Arc::default();
    let sink = Arc::new(MemorySink::new());
    let (p, e) = (Arc::clone(&processed), Arc::clone(&events));
    let poisoned = topic.clone();
    let runner = Runner::builder(config.clone())
        .handler(handler_fn(move |m: Message| {
            let p = Arc::clone(&p);
            let poisoned = *m.topic == *poisoned && m.offset == 2;
            async move {
                // Offset 2 of the first topic fails every time.
                if poisoned {
                    return Err(HandlerError::retryable("downstream says no"));
                }
                p.lock().unwrap().push((m.topic.to_string(), m.offset));
                Ok(())
            }
        }))
        .dead_letter_sink(Arc::clone(&sink) as _)
        .on_event(move |ev| e.lock().unwrap().push(ev.clone()))
        .build()
        .unwrap();
    let handle = runner.handle();
    let task = tokio::spawn(runner.run());
    let retries = || {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, RunnerEvent::Retry { .. }))
            .count()
    };
    wait_for("offset 2 retried", || retries() >= 2).await;

    // Invalid: a typed error naming the key, an event, and nothing changes.
    let mut bad = config.clone();
    bad.retry.max_attempts = 0;
    match handle.update_config(bad).await {
        Err(ReloadError::Invalid(e)) => assert_eq!(e.key, "retry.max_attempts"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        RunnerEvent::ConfigRejected { error } if error.contains("retry.max_attempts")
    )));
    let before = retries();
    wait_for("retries go on under the old policy", || {
        retries() >= before + 2
    })
    .await;
    assert!(sink.letters().is_empty());

    // Live: the next failure is the last one.
    // Live: the next failure is the last one; the fetch settings and the memory budget
    // change under the running consumer.
    let mut live = config.clone();
    live.retry.max_attempts = 1;
    for (k, v) in [
        ("fetch.wait.max.ms", "100"),
        ("queued.max.messages.kbytes", "64"),
    ] {
        live.kafka.insert(k.into(), KafkaValue(v.into()));
    }
    let report = handle.update_config(live.clone()).await.expect("reload");
    let keys: Vec<(&str, Apply)> = report
        .changes
        .iter()
        .map(|c| (c.key.as_str(), c.apply))
        .collect();
    assert_eq!(
        keys,
        [
            ("kafka.\"fetch.wait.max.ms\"", Apply::Live),
            ("kafka.\"queued.max.messages.kbytes\"", Apply::Live),
            ("retry.max_attempts", Apply::Live),
        ]
    );
    assert!(report.rejoined.is_none());
    wait_for("offset 2 dead-lettered", || sink.letters().len() == 1).await;
    assert_eq!(sink.letters()[0].message.offset, 2);
    wait_for("the first topic done", || {
        processed.lock().unwrap().len() == 4
    })
    .await;
    assert!(
        !events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, RunnerEvent::Revoked(_))),
        "a live change does not rebalance"
    );

    // New topics: commit, leave, rejoin in the same group.
    let mut moved = live.clone();
    moved.source.topics = vec![second.clone()];
    let report = handle.update_config(moved).await.expect("reload");
    assert_eq!(report.changes[0].key, "source.topics");
    assert_eq!(report.changes[0].apply, Apply::Rejoin);
    let rejoined = report.rejoined.expect("rejoined");
    assert_eq!(rejoined.left_group, group);
    assert_eq!(rejoined.joined_group, group);
    assert!(rejoined.carried_over.is_empty());
    wait_for("the second topic done", || {
        processed
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t == second)
            .count()
            == 3
    })
    .await;

    handle.shutdown();
    let summary = tokio::time::timeout(Duration::from_secs(40), task)
        .await
        .expect("stops")
        .expect("task")
        .expect("run");
    assert_eq!(summary.processed, 7);
    assert_eq!(summary.dead_lettered, 1);
    assert!(matches!(
        handle.update_config(live).await,
        Err(ReloadError::NotRunning)
    ));
    assert_eq!(group_offsets(&group, &topic), BTreeMap::from([(0, 5)]));
    assert_eq!(group_offsets(&group, &second), BTreeMap::from([(0, 3)]));
    let reloads = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, RunnerEvent::ConfigReloaded(_)))
        .count();
    assert_eq!(reloads, 2);
}
