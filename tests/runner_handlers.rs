//! `rkc run`'s handler kinds against the real broker: exec exit statuses (75 retried with the
//! last stderr line as the error, others permanent), http statuses (503 + Retry-After retried,
//! 4xx permanent) and the metadata each handler receives.

mod support;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::PathBuf,
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use support::{RkcProcess, bootstrap, create_topic, group_offsets, produce, unique};

fn write_config(dir: &std::path::Path, topic: &str, group: &str, handler: &str) -> PathBuf {
    let text = format!(
        r#"[kafka]
"bootstrap.servers" = "{}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
[source]
topics = ["{topic}"]
[handler]
{handler}
[retry]
max_attempts = 5
initial_backoff = "10ms"
max_backoff = "50ms"
"#,
        bootstrap()
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const EXEC: &str = r#"#!/bin/sh
exec >/dev/null
log="$1"
value=$(cat)
if [ "$RKC_OFFSET" = "1" ] && [ "$RKC_ATTEMPT" -lt 3 ]; then
  echo "some noise" >&2
  echo "db busy (attempt $RKC_ATTEMPT)" >&2
  exit 75
fi
if [ "$RKC_OFFSET" = "3" ]; then
  echo "bad order $value" >&2
  exit 3
fi
echo "$RKC_TOPIC $RKC_PARTITION $RKC_OFFSET $RKC_ATTEMPT $RKC_KEY $RKC_HEADERS $value" >> "$log"
"#;

#[test]
fn exec_exit_75_is_retried_and_other_exits_are_permanent_with_the_last_stderr_line() {
    let topic = unique("run-exec");
    let group = format!("{topic}-g");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "6"]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("h.sh");
    let log = dir.path().join("log");
    std::fs::write(&script, EXEC).unwrap();
    let config = write_config(
        dir.path(),
        &topic,
        &group,
        &format!(
            "kind = \"exec\"\ncommand = [\"sh\", \"{}\", \"{}\"]",
            script.display(),
            log.display()
        ),
    );
    let mut p = RkcProcess::spawn(&["run", "--config", config.to_str().unwrap()]);
    // The DLQ topic does not exist: the permanent failure at offset 3 holds the partition.
    p.wait_until(Duration::from_secs(60), "offset 3 waits for the DLQ", |p| {
        !p.events_of("dlq_unavailable").is_empty()
    });
    let retries: Vec<(i64, i64, String, String)> = p
        .events_of("retry")
        .iter()
        .map(|e| {
            (
                e["offset"].as_i64().unwrap(),
                e["attempt"].as_i64().unwrap(),
                e["error"].as_str().unwrap().to_owned(),
                e["error_class"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        retries,
        [
            (1, 1, "db busy (attempt 1)".into(), "ExitStatus75".into()),
            (1, 2, "db busy (attempt 2)".into(), "ExitStatus75".into()),
        ],
        "{}",
        p.describe()
    );
    assert!(
        p.stderr.contains("bad order value-3"),
        "the permanent error is logged: {}",
        p.describe()
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
    let lines = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{topic} 0 0 1 key-0 [] value-0"),
            format!("{topic} 0 1 3 key-1 [] value-1"),
            format!("{topic} 0 2 1 key-2 [] value-2"),
        ],
        "processed in order, nothing past the held message"
    );
    assert_eq!(group_offsets(&group, &topic), BTreeMap::from([(0, 3)]));
}

/// One request the test server received: lower-cased headers and the body.
type Request = (BTreeMap<String, String>, Vec<u8>);

/// A tiny HTTP/1.1 server: answers offset 0 with 503 + `Retry-After: 1` the first time,
/// offset 2 with 400, everything else with 204.
fn serve(requests: Arc<Mutex<Vec<Request>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let requests = Arc::clone(&requests);
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = BTreeMap::new();
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        headers.insert(k.trim().to_lowercase(), v.trim().to_owned());
                    }
                    let len: usize = headers
                        .get("content-length")
                        .map_or(0, |l| l.parse().unwrap());
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    let offset = headers.get("x-rkc-offset").cloned().unwrap_or_default();
                    let seen_before = requests
                        .lock()
                        .unwrap()
                        .iter()
                        .any(|(h, _)| h.get("x-rkc-offset") == Some(&offset));
                    requests.lock().unwrap().push((headers, body));
                    let response = match (offset.as_str(), seen_before) {
                        ("0", false) => {
                            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\ncontent-length: 4\r\n\r\nbusy"
                        }
                        ("2", _) => {
                            "HTTP/1.1 400 Bad Request\r\ncontent-length: 9\r\n\r\nbad order"
                        }
                        _ => "HTTP/1.1 204 No Content\r\n\r\n",
                    };
                    if stream.write_all(response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/orders")
}

#[test]
fn http_posts_with_metadata_headers_honours_retry_after_and_treats_4xx_as_permanent() {
    let topic = unique("run-http");
    let group = format!("{topic}-g");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "4"]);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let url = serve(Arc::clone(&requests));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &topic,
        &group,
        &format!("kind = \"http\"\nurl = \"{url}\""),
    );
    let mut p = RkcProcess::spawn(&["run", "--config", config.to_str().unwrap()]);
    p.wait_until(Duration::from_secs(60), "offset 2 waits for the DLQ", |p| {
        !p.events_of("dlq_unavailable").is_empty()
    });
    let retry = p.events_of("retry");
    assert_eq!(retry.len(), 1, "{}", p.describe());
    assert_eq!(retry[0]["offset"], 0);
    assert_eq!(retry[0]["error_class"], "HttpStatus503");
    assert!(
        retry[0]["backoff_ms"].as_u64().unwrap() >= 1000,
        "Retry-After is a lower bound: {}",
        retry[0]
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());

    let requests = requests.lock().unwrap().clone();
    let seen: Vec<(String, String)> = requests
        .iter()
        .map(|(h, _)| (h["x-rkc-offset"].clone(), h["x-rkc-attempt"].clone()))
        .collect();
    let pair = |o: &str, a: &str| (o.to_owned(), a.to_owned());
    assert_eq!(
        seen,
        [
            pair("0", "1"),
            pair("0", "2"),
            pair("1", "1"),
            pair("2", "1")
        ]
    );
    let (h, body) = &requests[2];
    assert_eq!(h["x-rkc-topic"], topic);
    assert_eq!(h["x-rkc-partition"], "0");
    assert_eq!(h["x-rkc-key"], "key-1");
    assert_eq!(h["x-rkc-headers"], "[]");
    assert!(h.contains_key("x-rkc-timestamp"));
    assert_eq!(body, b"value-1");
    assert_eq!(group_offsets(&group, &topic), BTreeMap::from([(0, 2)]));
}
