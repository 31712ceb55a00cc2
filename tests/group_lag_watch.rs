//! `rkc group lag --watch` against the real broker: with stdout not a terminal, every refresh
//! appends a complete table (no ANSI control sequences) until the process is stopped.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use rskafka_consumer::{ClientConfig, Cluster, TopicPartition, group::admin};
use support::{bootstrap, create_topic, produce, rkc_path, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_watch_prints_a_fresh_table_per_refresh_when_not_on_a_terminal() {
    let topic = unique("lag-watch");
    let group = unique("lag-watch-g");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "10"]);
    let cluster = Cluster::connect(ClientConfig::new(bootstrap()).unwrap())
        .await
        .unwrap();
    admin::commit_offsets(
        &cluster,
        &group,
        &[(TopicPartition::new(topic.as_str(), 0), 4)],
    )
    .await
    .unwrap();

    let mut child = Command::new(rkc_path())
        .args([
            "group",
            "lag",
            "-b",
            bootstrap(),
            &group,
            "--watch",
            "--interval",
            "300ms",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rkc");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while lines
        .iter()
        .filter(|l: &&String| l.starts_with(&topic))
        .count()
        < 2
    {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => lines.push(line),
            Err(e) => panic!("no second table ({e}); so far: {lines:#?}"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let headers: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("Every 300ms: rkc group lag "))
        .collect();
    assert_eq!(headers.len(), 2, "{lines:#?}");
    assert!(headers.iter().all(|h| h.contains(&group)), "{lines:#?}");
    let tables: Vec<&String> = lines.iter().filter(|l| l.starts_with("TOPIC")).collect();
    assert_eq!(tables.len(), 2, "{lines:#?}");
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| l.starts_with(&topic))
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in &rows {
        assert_eq!(row[1..], ["0", "4", "10", "6", "-"], "{lines:#?}");
    }
    assert!(
        lines.iter().all(|l| !l.contains('\x1b')),
        "no terminal control sequences in a pipe: {lines:#?}"
    );
}
