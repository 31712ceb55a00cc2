//! `rkc consume` speaks kcat's output options: for the same partition, `-f FORMAT`, `-K`/`-D`
//! and `-Z` print byte for byte what Debian's `kcat -C … -e` prints (null keys and values, empty
//! ones, binary values and keys, headers with null, empty, binary and duplicate entries); JSON
//! stays the default and `-J` names it; bad formats are usage errors (exit code 2).
//!
//! Needs `kcat` on the PATH (`apt-get install -y kcat`; `.ci/run` installs it).

mod support;

use std::process::Command;

use support::{bootstrap, create_topic, produce, rkc, unique};

/// A one-partition topic holding every kind of record `produce.py --rich` writes (twice over).
fn rich_topic(prefix: &str) -> String {
    let topic = unique(prefix);
    create_topic(&topic, 1);
    let expected = produce(&topic, &["--rich", "--count", "20", "--timestamps"]);
    assert_eq!(expected.len(), 20);
    topic
}

/// `kcat -C -t TOPIC -p 0 -o beginning -e -q ARGS…`: its stdout.
fn kcat(topic: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new("timeout")
        .args([
            "60",
            "kcat",
            "-b",
            bootstrap(),
            "-C",
            "-t",
            topic,
            "-p",
            "0",
        ])
        .args(["-o", "beginning", "-e", "-q"])
        .args(args)
        .output()
        .expect("cannot run `timeout kcat`");
    assert!(
        out.status.success(),
        "kcat {args:?} failed ({}); is kcat installed (apt-get install -y kcat)? {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `rkc consume -t TOPIC -p 0 -o beginning -e ARGS…`: its stdout.
fn rkc_consume(topic: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["consume", "-b", bootstrap(), "-t", topic, "-p", "0"];
    all.extend_from_slice(&["-o", "beginning", "-e"]);
    all.extend_from_slice(args);
    let out = rkc(&all);
    assert!(
        out.status.success(),
        "rkc {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn assert_same_as_kcat(topic: &str, args: &[&str]) {
    let theirs = kcat(topic, args);
    let ours = rkc_consume(topic, args);
    assert!(!theirs.is_empty(), "kcat {args:?} printed nothing");
    if ours != theirs {
        let at = ours
            .iter()
            .zip(&theirs)
            .position(|(a, b)| a != b)
            .unwrap_or(ours.len().min(theirs.len()));
        let from = at.saturating_sub(40);
        panic!(
            "{args:?}: rkc and kcat differ at byte {at} (rkc {} bytes, kcat {} bytes)\n\
             rkc:  {:?}\nkcat: {:?}",
            ours.len(),
            theirs.len(),
            String::from_utf8_lossy(&ours[from..(at + 40).min(ours.len())]),
            String::from_utf8_lossy(&theirs[from..(at + 40).min(theirs.len())]),
        );
    }
}

#[test]
fn format_tokens_print_the_same_bytes_as_kcat() {
    let topic = rich_topic("kcat-fmt");
    for format in [
        r"Topic %t [%p] at offset %o: key %k (%K) value %s (%S) at %T headers {%h} 100%%\n",
        r"%k|%s|%h\n",
        r"%R%s",
        r"%o\t%p\r\n",
        r"\x41%o\065\0101 \q\\%T\n",
        "no newline %o,",
    ] {
        assert_same_as_kcat(&topic, &["-f", format]);
    }
}

#[test]
fn null_string_and_delimiters_print_the_same_bytes_as_kcat() {
    let topic = rich_topic("kcat-delim");
    for args in [
        &["-Z", "-f", r"[%k][%s]\n"][..],
        &["-K", r"\t"],
        &["-K", "::", "-D", r"\n--\n"],
        &["-D", ";"],
        &["-D", r"\x1e", "-K", r"\x1f"],
        &["-Z", "-K", "="],
    ] {
        assert_same_as_kcat(&topic, args);
    }
}

#[test]
fn json_is_the_default_and_minus_j_names_it() {
    let topic = rich_topic("kcat-json");
    let default = rkc_consume(&topic, &[]);
    assert_eq!(rkc_consume(&topic, &["-J"]), default);
    assert_eq!(default.iter().filter(|&&b| b == b'\n').count(), 20);
    for line in default.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("a JSON line");
        assert!(v["headers"].is_array(), "{v}");
    }
    // -D replaces the newline after each JSON object (-K does not apply to JSON).
    let with_delimiter = rkc_consume(&topic, &["-J", "-D", r"\x1e", "-K", "::"]);
    let newline_free: Vec<u8> = default
        .iter()
        .map(|&b| if b == b'\n' { 0x1e } else { b })
        .collect();
    assert_eq!(with_delimiter, newline_free);
}

#[test]
fn bad_formats_and_delimiters_are_usage_errors_with_exit_code_2() {
    let topic = unique("kcat-bad");
    create_topic(&topic, 1);
    for bad in [
        &["-f", "%x"][..],
        &["-f", "trailing %"],
        &["-D", r"\xzz"],
        &["-K", r"\x"],
        &["-f", "%s", "-J"],
    ] {
        let mut args = vec!["consume", "-b", bootstrap(), "-t", &topic, "-e"];
        args.extend_from_slice(bad);
        let out = rkc(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
        assert!(!stderr.trim().is_empty(), "{bad:?}: no message");
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
}
