//! `rkc run` as a process against the real broker: graceful shutdown on SIGTERM during a slow
//! exec handler, a second signal, SIGKILL and restart with the persistent idempotency store,
//! and configuration errors. confluent-kafka produces and reads committed offsets.

mod support;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use support::{
    RkcProcess, bootstrap, create_topic, describe_group, group_offsets, produce, rkc, unique,
};

/// The exec handler used here: logs "partition offset attempt key value" to LOG when done.
/// On offset SLOW, the first time (no MARK file yet), it creates MARK and sleeps SLEEP
/// seconds first; with DIE=1 it never logs that message (a killed attempt).
const HANDLER: &str = r#"#!/bin/sh
exec >/dev/null
log="$1"; mark="$2"; slow="$3"; sleep_s="$4"; die="$5"
value=$(cat)
if [ "$RKC_OFFSET" = "$slow" ] && [ ! -e "$mark" ]; then
  touch "$mark"
  sleep "$sleep_s"
  if [ "$die" = "1" ]; then exit 75; fi
fi
echo "$RKC_PARTITION $RKC_OFFSET $RKC_ATTEMPT ${RKC_KEY-null} $value" >> "$log"
"#;

struct Setup {
    dir: tempfile::TempDir,
    topic: String,
    group: String,
}

impl Setup {
    fn new(prefix: &str, count: u32) -> Setup {
        let topic = unique(prefix);
        create_topic(&topic, 1);
        produce(&topic, &["--count", &count.to_string()]);
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

    /// Writes a config for `group` whose exec handler is slow on `slow`; returns its path.
    fn config(&self, group: &str, slow: i64, sleep_s: u32, die: bool, extra: &str) -> PathBuf {
        let p = |n: &str| self.path(n).display().to_string();
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
command = ["sh", "{handler}", "{log}", "{mark}", "{slow}", "{sleep_s}", "{die}"]
{extra}
"#,
            bootstrap = bootstrap(),
            topic = self.topic,
            handler = p("handler.sh"),
            log = p("log"),
            mark = p("mark"),
            die = if die { 1 } else { 0 },
        );
        let path = self.path(&format!("{group}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// (offset, attempt, key, value) of each message the handler finished, in order.
    fn log(&self) -> Vec<(i64, u32, String, String)> {
        std::fs::read_to_string(self.path("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].to_owned(),
                    f[4].to_owned(),
                )
            })
            .collect()
    }

    fn wait_for(&self, p: &mut RkcProcess, what: &str, cond: impl Fn(&Setup) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what}\n{}",
                p.describe()
            );
            p.observe_for(Duration::from_millis(100));
        }
    }
}

fn run(config: &Path) -> RkcProcess {
    RkcProcess::spawn(&["run", "--config", config.to_str().unwrap()])
}

#[test]
fn sigterm_lets_the_slow_handler_finish_commits_it_leaves_the_group_and_exits_0() {
    let s = Setup::new("run-term", 6);
    let config = s.config(&s.group, 2, 3, false, "");
    let mut p = run(&config);
    s.wait_for(&mut p, "the slow handler started", |s| {
        s.path("mark").exists()
    });
    p.signal("TERM");
    let code = p.wait_exit(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", p.describe());

    let log = s.log();
    let offsets: Vec<i64> = log.iter().map(|l| l.0).collect();
    assert_eq!(
        offsets,
        [0, 1, 2],
        "the in-flight message finished, nothing new started"
    );
    // The exec environment: attempt 1-based, the key, the value on stdin.
    assert_eq!(log[2], (2, 1, "key-2".into(), "value-2".into()));
    assert_eq!(group_offsets(&s.group, &s.topic), BTreeMap::from([(0, 3)]));
    // The member left: the group is empty at once (not after the 6 s session timeout).
    let d = describe_group(&s.group);
    assert_eq!(d["state"], "EMPTY", "{d}");
    assert_eq!(p.events_of("stopped").len(), 1, "{}", p.describe());
}

#[test]
fn a_second_signal_exits_at_once_without_committing_the_unfinished_message() {
    let s = Setup::new("run-term2", 6);
    let config = s.config(&s.group, 2, 20, true, "");
    let mut p = run(&config);
    s.wait_for(&mut p, "the slow handler started", |s| {
        s.path("mark").exists()
    });
    p.signal("TERM");
    p.wait_until(Duration::from_secs(10), "the shutdown event", |p| {
        !p.events_of("shutdown").is_empty()
    });
    p.signal("TERM");
    let code = p.wait_exit(Duration::from_secs(10));
    assert_eq!(code, 128 + 15, "{}", p.describe());
    let committed = group_offsets(&s.group, &s.topic);
    assert!(
        committed.get(&0).is_none_or(|&c| c <= 2),
        "committed {committed:?} past the unfinished offset 2"
    );
}

#[test]
fn after_sigkill_a_restart_reprocesses_only_uncommitted_and_the_store_skips_what_it_recorded() {
    let s = Setup::new("run-kill", 20);
    let store = s.path("done.redb");
    let extra = format!(
        "[idempotency]\nstore = \"{}\"\nkey = \"offset\"",
        store.display()
    );
    // First run: killed while offset 10 is in its handler.
    let config = s.config(&s.group, 10, 30, true, &extra);
    let mut first = run(&config);
    s.wait_for(&mut first, "offset 10 in its handler", |s| {
        s.path("mark").exists()
    });
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));
    let at_kill = group_offsets(&s.group, &s.topic)
        .get(&0)
        .copied()
        .unwrap_or(0);
    assert!(
        at_kill <= 10,
        "committed {at_kill} past the unfinished offset 10"
    );

    // Restart: everything from the committed offset is delivered again; what the store
    // recorded (below 10) is skipped, the rest is processed.
    let mut second = run(&config);
    s.wait_for(&mut second, "offsets up to 19 processed", |s| {
        s.log().iter().any(|l| l.0 == 19)
    });
    second.signal("TERM");
    assert_eq!(
        second.wait_exit(Duration::from_secs(30)),
        0,
        "{}",
        second.describe()
    );
    let offsets: Vec<i64> = s.log().iter().map(|l| l.0).collect();
    assert_eq!(
        offsets,
        (0..20).collect::<Vec<_>>(),
        "each message processed once"
    );
    let skipped: Vec<i64> = second
        .events_of("skipped")
        .iter()
        .map(|e| e["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(
        skipped,
        (at_kill..10).collect::<Vec<_>>(),
        "{}",
        second.describe()
    );
    assert_eq!(group_offsets(&s.group, &s.topic), BTreeMap::from([(0, 20)]));

    // A new group reads everything again; the store knows all of it.
    let other = format!("{}-other", s.group);
    let config = s.config(&other, -1, 0, false, &extra);
    let mut third = run(&config);
    third.wait_until(Duration::from_secs(60), "20 skipped", |p| {
        p.events_of("skipped").len() == 20
    });
    third.signal("TERM");
    assert_eq!(
        third.wait_exit(Duration::from_secs(30)),
        0,
        "{}",
        third.describe()
    );
    assert_eq!(s.log().len(), 20, "nothing processed twice");
    assert_eq!(group_offsets(&other, &s.topic), BTreeMap::from([(0, 20)]));
}

#[test]
fn configuration_errors_exit_2_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[kafka]\n\"bootstrap.servers\" = \"127.0.0.1:1\"\n\"group.id\" = \"g\"\n\
                [source]\ntopics = [\"t\"]\n";
    for (extra, key) in [
        ("[retry]\nmax_atempts = 3\n", "max_atempts"),
        ("[handler]\ntimeout = \"soon\"\n", "`handler.timeout`"),
        ("[handler]\nkind = \"exec\"\n", "`handler.command`"),
        ("[dlq]\nheader_style = \"kafka\"\n", "`dlq.header_style`"),
        ("[idempotency]\nkey = \"value\"\n", "`idempotency.key`"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        let out = rkc(&["run", "--config", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra}: {stderr}");
        assert!(
            stderr.contains("bad.toml") && stderr.contains(key),
            "{extra}: {stderr}"
        );
    }
    let path = dir.path().join("auto.toml");
    std::fs::write(
        &path,
        base.replace(
            "\"group.id\" = \"g\"",
            "\"group.id\" = \"g\"\n\"enable.auto.commit\" = true",
        ),
    )
    .unwrap();
    let out = rkc(&["run", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("auto.toml") && stderr.contains("kafka.\"enable.auto.commit\""),
        "{stderr}"
    );
    let out = rkc(&["run", "--config", "/nonexistent/rkc.toml"]);
    assert_eq!(out.status.code(), Some(2));
}
