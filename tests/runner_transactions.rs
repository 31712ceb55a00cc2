//! The runner over transactional data against the real broker: it is handed only committed
//! records (read_committed), and its commits reach the log end when a partition ends in
//! transaction markers or aborted data, as librdkafka's do (the runner soak,
//! `tests/soak_runner.rs`, found every partition committed one short of its end).

mod support;

use std::{
    collections::BTreeSet,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rskafka_consumer::{
    Message,
    runner::{Runner, RunnerConfig, handler_fn},
};
use support::{bootstrap, create_topic, group_offsets, json_lines, peer, unique, watermarks};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_reach_the_log_end_past_trailing_transaction_markers_and_aborted_data() {
    let topic = unique("runner-txn-end");
    let group = unique("runner-txn-end-g");
    create_topic(&topic, 2);
    // Interleaved committed and aborted transactions (every 3rd aborted) and plain records;
    // the peer returns once every marker is written (LSO == high watermark).
    let written = json_lines(
        &peer(
            "transactions.py",
            &[
                bootstrap(),
                &topic,
                "--producers",
                "2",
                "--partitions",
                "2",
                "--rounds",
                "2",
                "--per-txn",
                "2",
            ],
        )
        .stdout,
    );
    let visible: BTreeSet<(i32, i64)> = written
        .iter()
        .filter(|r| r["committed"] == true)
        .map(|r| {
            (
                r["partition"].as_i64().unwrap() as i32,
                r["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    let ends: std::collections::BTreeMap<i32, i64> = watermarks(&topic)
        .into_iter()
        .map(|(p, (_, high))| (p, high))
        .collect();
    for (p, end) in &ends {
        let last = visible
            .iter()
            .filter(|(q, _)| q == p)
            .map(|(_, o)| *o)
            .max();
        assert!(
            last.is_some_and(|l| l + 1 < *end),
            "partition {p} ends in markers or aborted data (last visible {last:?}, end {end})"
        );
    }

    let text = format!(
        r#"
[kafka]
"bootstrap.servers" = "{}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"isolation.level" = "read_committed"
[source]
topics = ["{topic}"]
"#,
        bootstrap()
    );
    let config = RunnerConfig::from_toml(&text, Path::new("test.toml")).unwrap();
    let handed = Arc::new(Mutex::new(Vec::new()));
    let h = Arc::clone(&handed);
    let runner = Runner::builder(config)
        .handler(handler_fn(move |m: Message| {
            let h = Arc::clone(&h);
            async move {
                h.lock().unwrap().push((m.partition, m.offset));
                Ok(())
            }
        }))
        .build()
        .unwrap();
    let handle = runner.handle();
    let task = tokio::spawn(async move { runner.run().await.expect("run") });
    let deadline = Instant::now() + Duration::from_secs(60);
    while handed.lock().unwrap().len() < visible.len() {
        assert!(
            Instant::now() < deadline,
            "not every committed record was handled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The running commits (not only the one at shutdown) reach the end.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let committed = group_offsets(&group, &topic);
        if committed == ends {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "while running: committed {committed:?}, log ends {ends:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    handle.shutdown();
    let summary = tokio::time::timeout(Duration::from_secs(40), task)
        .await
        .expect("the runner stops after shutdown")
        .expect("runner task");
    let handed: Vec<(i32, i64)> = handed.lock().unwrap().clone();
    assert_eq!(
        handed.iter().copied().collect::<BTreeSet<_>>(),
        visible,
        "exactly the committed records, no aborted one"
    );
    assert_eq!(handed.len(), visible.len(), "each once");
    assert_eq!(summary.processed as usize, visible.len());
    assert_eq!(group_offsets(&group, &topic), ends, "after shutdown");
}
