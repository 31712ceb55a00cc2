//! Backpressure: with a backlog of 1M messages and a handler far slower than the broker, the
//! runner pauses fetching instead of growing: `rkc run`'s peak RSS stays under its budget
//! (`queued.max.messages.kbytes` for the consumer's buffer plus the same for what the runner
//! holds, plus one fetch) and a stated constant for the process itself.

mod support;

use std::{process::Command, time::Duration};

use support::{RkcProcess, bootstrap, create_topic, repo_root, unique};

/// Budget: `queued.max.messages.kbytes` (KiB).
const QUEUED_KIB: u64 = 4096;
/// `fetch.max.bytes` and `max.partition.fetch.bytes`: one fetch may overshoot by this.
const FETCH_BYTES: u64 = 1 << 20;
/// The process without data: runtime, threads, allocator slack, binary (stated constant).
const CONSTANT_BYTES: u64 = 48 << 20;

fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

#[test]
fn a_million_message_backlog_with_a_slow_handler_keeps_peak_rss_under_the_budget() {
    let topic = unique("run-backlog");
    create_topic(&topic, 2);
    let out = Command::new(repo_root().join("testcontainers/kafka"))
        .args([
            "tool",
            "kafka-producer-perf-test",
            "--topic",
            &topic,
            "--num-records",
            "1000000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={}", bootstrap()),
            "linger.ms=20",
            "batch.size=262144",
        ])
        .output()
        .expect("run kafka-producer-perf-test");
    assert!(
        out.status.success(),
        "producer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            r#"[kafka]
"bootstrap.servers" = "{}"
"group.id" = "{topic}-g"
"auto.offset.reset" = "earliest"
"queued.max.messages.kbytes" = {QUEUED_KIB}
"fetch.max.bytes" = {FETCH_BYTES}
"max.partition.fetch.bytes" = {FETCH_BYTES}
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = ["true"]
max_in_flight = 4
"#,
            bootstrap()
        ),
    )
    .unwrap();
    let mut p = RkcProcess::spawn(&["run", "--config", config.to_str().unwrap()]);
    p.wait_until(Duration::from_secs(60), "partitions assigned", |p| {
        !p.events_of("assigned").is_empty()
    });
    // The broker could hand over the whole backlog many times over meanwhile.
    p.observe_for(Duration::from_secs(15));
    let peak = peak_rss_bytes(p.pid());
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(40)), 0, "{}", p.describe());
    let stopped = p.events_of("stopped");
    let processed = stopped[0]["processed"].as_u64().unwrap();
    assert!(processed > 0, "the handler ran: {}", p.describe());
    assert!(processed < 1_000_000, "the handler must be the bottleneck");
    let budget = 2 * QUEUED_KIB * 1024 + FETCH_BYTES + CONSTANT_BYTES;
    eprintln!(
        "peak RSS {} MiB (limit {} MiB), processed {processed}",
        peak >> 20,
        budget >> 20
    );
    assert!(
        peak < budget,
        "peak RSS {} MiB over the budget {} MiB",
        peak >> 20,
        budget >> 20
    );
}
