//! `rkc metadata` and `Cluster::metadata` against the real broker, judged by librdkafka's
//! AdminClient, plus bootstrap failover and the connect timeout.

mod support;

use std::time::{Duration, Instant};

use rskafka_consumer::{ClientConfig, Cluster};
use serde_json::Value;
use support::{StalledBroker, bootstrap, create_topic, peer, refused_address, rkc, unique};

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "rkc failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("rkc --json prints JSON")
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect()
}

#[test]
fn metadata_json_matches_what_librdkafka_admin_client_reports() {
    let topic = unique("md-compare");
    create_topic(&topic, 3);

    let ours = json_of(&rkc(&[
        "metadata",
        "-b",
        bootstrap(),
        "-t",
        &topic,
        "--json",
    ]));
    let theirs: Value =
        serde_json::from_slice(&peer("admin.py", &["describe", bootstrap(), &topic]).stdout)
            .expect("peer prints JSON");

    assert_eq!(ours["cluster_id"], theirs["cluster_id"]);
    assert_eq!(ours["controller_id"], theirs["controller_id"]);
    let brokers = |v: &Value| -> Vec<(i64, String, i64)> {
        v["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["id"].as_i64().unwrap(),
                    b["host"].as_str().unwrap().to_owned(),
                    b["port"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert!(!brokers(&ours).is_empty());
    assert_eq!(brokers(&ours), brokers(&theirs));

    let (t_ours, t_theirs) = (&ours["topics"][0], &theirs["topics"][0]);
    assert_eq!(ours["topics"].as_array().unwrap().len(), 1);
    assert_eq!(t_ours["topic"], topic.as_str());
    assert_eq!(t_ours["topic_id"], t_theirs["topic_id"]);
    assert_eq!(t_ours["internal"], false);
    assert_eq!(t_ours["error"], Value::Null);
    let parts_ours = t_ours["partitions"].as_array().unwrap();
    let parts_theirs = t_theirs["partitions"].as_array().unwrap();
    assert_eq!(parts_ours.len(), 3);
    assert_eq!(parts_ours.len(), parts_theirs.len());
    for (a, b) in parts_ours.iter().zip(parts_theirs) {
        assert_eq!(a["partition"], b["partition"]);
        assert_eq!(a["leader"], b["leader"]);
        assert_eq!(ids(&a["replicas"]), ids(&b["replicas"]));
        assert_eq!(ids(&a["isr"]), ids(&b["isr"]));
        assert!(a["leader_epoch"].as_i64().unwrap() >= 0);
    }
}

#[test]
fn text_listing_of_all_topics_shows_a_new_topic_with_its_partitions() {
    let topic = unique("md-text");
    create_topic(&topic, 2);
    let out = rkc(&["metadata", "-b", bootstrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("topic \"{topic}\" with 2 partitions")),
        "{text}"
    );
    assert!(text.contains("(controller)"), "{text}");
}

#[test]
fn unknown_topic_is_reported_with_its_error_and_not_created() {
    let topic = unique("md-missing");
    for _ in 0..2 {
        let ours = json_of(&rkc(&[
            "metadata",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "--json",
        ]));
        assert_eq!(ours["topics"][0]["topic"], topic.as_str());
        assert_eq!(
            ours["topics"][0]["error"], "UnknownTopicOrPartition (3)",
            "{ours}"
        );
    }
}

#[test]
fn bootstrap_failover_skips_a_refused_first_address() {
    let list = format!("{},{}", refused_address(), bootstrap());
    let ours = json_of(&rkc(&["metadata", "-b", &list, "--json"]));
    let answered = ours["originating_broker"].as_str().unwrap();
    assert!(bootstrap().split(',').any(|b| b == answered), "{answered}");
}

#[test]
fn bootstrap_failover_skips_a_stalled_first_address_after_the_connect_timeout() {
    let stalled = StalledBroker::start();
    let list = format!("{},{}", stalled.address(), bootstrap());
    let ours = json_of(&rkc(&[
        "metadata",
        "-b",
        &list,
        "--json",
        "-X",
        "socket.connection.setup.timeout.ms=1000",
    ]));
    assert!(!ours["brokers"].as_array().unwrap().is_empty());
}

#[test]
fn unreachable_cluster_fails_with_every_address_named_within_the_connect_timeout() {
    let stalled = StalledBroker::start();
    let refused = refused_address();
    let list = format!("{},{refused}", stalled.address());
    let started = Instant::now();
    let out = rkc(&[
        "metadata",
        "-b",
        &list,
        "-X",
        "socket.connection.setup.timeout.ms=1000",
    ]);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no bootstrap broker answered"), "{stderr}");
    assert!(
        stderr.contains(&format!("connecting to {} timed out", stalled.address())),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot connect to {refused}")),
        "{stderr}"
    );
    // One 1 s timeout for the stalled address, an instant refusal for the other: far below the
    // 30 s default, which is what this guards against (a generous bound, not a benchmark).
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn unknown_property_is_a_usage_error_with_exit_code_2() {
    let out = rkc(&["metadata", "-b", bootstrap(), "-X", "no.such.property=1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown configuration property `no.such.property`"),
        "{stderr}"
    );
}

#[test]
fn malformed_values_are_usage_errors_with_exit_code_2() {
    for args in [
        vec!["metadata", "-b", "no-port-here"],
        vec![
            "metadata",
            "-b",
            "127.0.0.1:9092",
            "-X",
            "socket.timeout.ms=soon",
        ],
        vec!["metadata", "-b", "127.0.0.1:9092", "-X", "missing-equals"],
    ] {
        let out = rkc(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[tokio::test]
async fn library_cluster_handle_describes_a_topic_and_is_reusable() {
    let topic = unique("md-lib");
    create_topic(&topic, 4);
    let cluster = Cluster::connect(ClientConfig::new(bootstrap()).unwrap())
        .await
        .unwrap();
    for _ in 0..3 {
        let md = cluster
            .metadata(Some(std::slice::from_ref(&topic)))
            .await
            .unwrap();
        let t = md.topic(&topic).expect("topic present");
        assert_eq!(t.partitions.len(), 4);
        assert!(
            t.partitions
                .iter()
                .all(|p| p.leader >= 0 && p.error.is_none())
        );
        assert!(md.brokers.iter().any(|b| b.id == t.partitions[0].leader));
    }
}

/// A loopback "broker" that answers every connection with bytes from a fixed pseudo-random
/// sequence, starting with a huge length prefix or a plausible one.
fn garbage_broker(first_len: u32) -> String {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            let mut bytes = first_len.to_be_bytes().to_vec();
            let mut x: u32 = 0x9e37_79b9;
            for _ in 0..4096 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                bytes.push(x as u8);
            }
            let _ = stream.write_all(&bytes);
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    addr
}

#[test]
fn a_broker_answering_garbage_is_a_clear_error_not_a_panic_or_a_huge_allocation() {
    // 0x7fff_ffff: a length prefix far above receive.message.max.bytes; 64: a short frame
    // whose content is noise.
    for first_len in [0x7fff_ffff, 64] {
        let garbage = garbage_broker(first_len);
        let started = Instant::now();
        let out = rkc(&[
            "metadata",
            "-b",
            &garbage,
            "-X",
            "socket.connection.setup.timeout.ms=2000",
        ]);
        assert_eq!(out.status.code(), Some(1), "len {first_len:#x}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&garbage), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
