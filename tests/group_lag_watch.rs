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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_watch_redraws_in_place_on_a_terminal() {
    let topic = unique("lag-watch-tty");
    let group = unique("lag-watch-tty-g");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "3"]);
    let cluster = Cluster::connect(ClientConfig::new(bootstrap()).unwrap())
        .await
        .unwrap();
    admin::commit_offsets(
        &cluster,
        &group,
        &[(TopicPartition::new(topic.as_str(), 0), 1)],
    )
    .await
    .unwrap();
    // `script` gives rkc a pseudo-terminal as stdout and copies what it writes to ours.
    let command = format!(
        "{} group lag -b {} {group} --watch --interval 300ms",
        rkc_path().display(),
        bootstrap()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run script (util-linux)");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    const CLEAR: &str = "\x1b[H\x1b[2J";
    let mut out = String::new();
    while out.matches(CLEAR).count() < 3 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(bytes) => out.push_str(&String::from_utf8_lossy(&bytes)),
            Err(e) => panic!("no third redraw ({e}); so far: {out:?}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // Every refresh starts by clearing the screen, then shows one whole table.
    let frames: Vec<&str> = out.split(CLEAR).skip(1).collect();
    for frame in &frames[..2] {
        assert!(
            frame.starts_with("Every 300ms: rkc group lag "),
            "{frame:?}"
        );
        let rows: Vec<&str> = frame.lines().filter(|l| l.starts_with(&topic)).collect();
        assert_eq!(rows.len(), 1, "{frame:?}");
        let cells: Vec<&str> = rows[0].split_whitespace().collect();
        assert_eq!(cells[1..], ["0", "1", "3", "2", "-"], "{frame:?}");
    }
}
