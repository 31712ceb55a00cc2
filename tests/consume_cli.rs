//! `rkc consume` usage errors (exit code 2) and a topic that does not exist (exit code 1, a
//! clear message, within a bounded time, and the topic is not auto-created).

mod support;

use std::time::{Duration, Instant};

use support::{bootstrap, create_topic, rkc_run, topic_exists, unique};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn unknown_property_is_a_usage_error_with_exit_code_2() {
    let topic = unique("cli-prop");
    let out = rkc_run(
        &[
            "consume",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "-e",
            "-X",
            "no.such.property=1",
        ],
        LIMIT,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no.such.property"), "{}", out.stderr);
    assert!(out.messages.is_empty());
}

#[test]
fn invalid_property_values_are_usage_errors_with_exit_code_2() {
    let topic = unique("cli-value");
    create_topic(&topic, 1);
    for prop in [
        "isolation.level=sometimes",
        "auto.offset.reset=never",
        "enable.partition.eof=maybe",
        "fetch.wait.max.ms=soon",
        "fetch.min.bytes=lots",
        "max.partition.fetch.bytes=big",
        "missing-equals",
    ] {
        let out = rkc_run(
            &["consume", "-b", bootstrap(), "-t", &topic, "-e", "-X", prop],
            LIMIT,
        );
        assert_eq!(out.code, 2, "-X {prop}: {}", out.stderr);
        assert!(!out.stderr.trim().is_empty(), "-X {prop}: no message");
    }
}

#[test]
fn bad_offset_partition_or_count_is_a_usage_error_with_exit_code_2() {
    let topic = unique("cli-offset");
    create_topic(&topic, 1);
    for bad in [
        &["-o", "yesterday"][..],
        &["-o", "1.5"],
        &["-o", "12abc"],
        &["-o", ""],
        &["-p", "first"],
        &["-c", "many"],
    ] {
        let mut args = vec!["consume", "-b", bootstrap(), "-t", &topic, "-e"];
        args.extend_from_slice(bad);
        let out = rkc_run(&args, LIMIT);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.stderr);
        assert!(out.messages.is_empty());
    }
}

#[test]
fn missing_topic_option_is_a_usage_error_with_exit_code_2() {
    let out = rkc_run(&["consume", "-b", bootstrap(), "-e"], LIMIT);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn nonexistent_topic_fails_with_a_clear_error_and_is_not_created() {
    let topic = unique("cli-missing");
    let started = Instant::now();
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
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&topic),
        "names the topic: {}",
        out.stderr
    );
    assert!(out.messages.is_empty());
    // The broker auto-creates topics on request (auto.create.topics.enable=true): a consumer
    // must not ask for that.
    assert!(!topic_exists(&topic), "rkc consume created {topic}");
    assert!(started.elapsed() < LIMIT);
}
