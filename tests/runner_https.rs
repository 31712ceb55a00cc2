//! `rkc run`'s http handler over HTTPS (rustls with the pure-Rust graviola provider), against
//! a loopback HTTPS server with a throwaway test PKI (`tests/peers/https_sink.py`): messages
//! are POSTed over TLS when `[kafka] "https.ca.location"` trusts the server's CA (a 503 is
//! retried there like over plain HTTP), and a server certificate nobody trusts is a retryable
//! connection error that sends nothing and commits nothing.

mod support;

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde_json::Value;
use support::{PeerProcess, RkcProcess, bootstrap, create_topic, group_offsets, produce, unique};

/// Starts the HTTPS sink (its PKI in `dir`); returns it and its port.
fn https_sink(dir: &Path) -> (PeerProcess, u64) {
    let mut sink = PeerProcess::spawn("https_sink.py", &[dir.to_str().unwrap()]);
    let ready = sink.read_json(Duration::from_secs(30));
    let port = ready["ready"].as_u64().expect("ready line");
    (sink, port)
}

fn run(dir: &Path, topic: &str, url: &str, kafka_extra: &str) -> RkcProcess {
    let text = format!(
        r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{topic}-g"
"auto.offset.reset" = "earliest"
{kafka_extra}
[source]
topics = ["{topic}"]
[handler]
kind = "http"
url = "{url}"
[retry]
max_attempts = 5
initial_backoff = "10ms"
max_backoff = "50ms"
"#,
        bootstrap = bootstrap(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    RkcProcess::spawn(&["run", "--config", path.to_str().unwrap()])
}

#[test]
fn https_posts_every_message_over_tls_trusting_the_configured_ca() {
    let topic = unique("run-https");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "3"]);
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, port) = https_sink(dir.path());
    let ca = dir.path().join("ca.pem");
    let mut p = run(
        dir.path(),
        &topic,
        &format!("https://localhost:{port}/orders"),
        &format!("\"https.ca.location\" = \"{}\"", ca.display()),
    );
    p.wait_until(
        Duration::from_secs(60),
        "offsets committed to the end",
        |_| group_offsets(&format!("{topic}-g"), &topic) == BTreeMap::from([(0, 3)]),
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());

    let requests: Vec<Value> = (0..4)
        .map(|_| sink.read_json(Duration::from_secs(10)))
        .collect();
    let seen: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| {
            (
                r["offset"].as_str().unwrap(),
                r["attempt"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [("0", "1"), ("0", "2"), ("1", "1"), ("2", "1")]);
    assert_eq!(requests[2]["key"], "key-1");
    assert_eq!(requests[2]["body"], "value-1");
    let retry = p.events_of("retry");
    assert_eq!(retry.len(), 1, "{}", p.describe());
    assert_eq!(retry[0]["error_class"], "HttpStatus503");
}

#[test]
fn an_untrusted_server_certificate_is_a_retryable_error_that_sends_and_commits_nothing() {
    let topic = unique("run-https-untrusted");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let (mut sink, port) = https_sink(dir.path());
    // No https.ca.location: the system roots do not know the test CA.
    let mut p = run(
        dir.path(),
        &topic,
        &format!("https://127.0.0.1:{port}/orders"),
        "",
    );
    p.wait_until(Duration::from_secs(60), "two retries of offset 0", |p| {
        p.events_of("retry").len() >= 2
    });
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
    for e in p.events_of("retry") {
        assert_eq!(
            (&e["offset"], &e["error_class"]),
            (&0.into(), &"ConnectionError".into()),
            "{e}"
        );
        let error = e["error"].as_str().unwrap();
        assert!(
            error.contains("certificate"),
            "names the certificate problem: {error}"
        );
    }
    assert!(p.events_of("dead_lettered").is_empty(), "{}", p.describe());
    // Nothing past offset 0 (the shutdown may commit offset 0 itself: nothing consumed).
    let committed = group_offsets(&format!("{topic}-g"), &topic);
    assert!(committed.values().all(|o| *o == 0), "{committed:?}");
    assert_eq!(
        sink.try_json(Duration::ZERO),
        None,
        "no request reached the server"
    );
}
