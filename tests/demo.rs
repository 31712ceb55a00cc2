//! `bash scripts/demo`, the README's main demo, run against the test broker so it can never
//! rot: eight sample orders, `rkc run` with examples/order_handler.sh processing six and
//! dead-lettering the two poison ones, the group's lag at 0, and the dead letters as
//! `rkc consume -J` shows them, checked against what librdkafka (confluent-kafka) reads from
//! the DLQ topic.

mod support;

use std::{collections::BTreeSet, process::Command};

use serde_json::{Value, json};
use support::{bootstrap, librdkafka_consume, repo_root, rkc_path};

#[test]
fn the_demo_processes_the_good_orders_and_dead_letters_the_poison_with_headers() {
    let out = Command::new("timeout")
        .args(["120", "bash", "scripts/demo"])
        .current_dir(repo_root())
        .env("KAFKA_BOOTSTRAP", bootstrap())
        .env("RKC", rkc_path())
        .output()
        .expect("run scripts/demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = format!(
        "{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{context}");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();

    // Six orders processed, each once.
    let processed: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("processed "))
        .map(|l| l.split(' ').nth(2).unwrap().trim_start_matches("key="))
        .collect();
    let keys: BTreeSet<&str> = processed.iter().copied().collect();
    assert_eq!(processed.len(), 6, "{context}");
    assert_eq!(
        keys,
        BTreeSet::from([
            "order-1", "order-2", "order-4", "order-6", "order-7", "order-8"
        ]),
        "{context}"
    );

    // The runner's own account, and its commits at the log end.
    let events: Vec<Value> = lines
        .iter()
        .filter(|l| l.starts_with("{\"event\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stopped = events
        .iter()
        .find(|e| e["event"] == "stopped")
        .expect(&context);
    assert_eq!(
        (&stopped["processed"], &stopped["dead_lettered"]),
        (&json!(6), &json!(2))
    );
    let topic = events
        .iter()
        .find(|e| e["event"] == "dead_lettered")
        .expect(&context)["topic"]
        .as_str()
        .unwrap()
        .to_owned();
    let lag_rows: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first() == Some(&topic.as_str()))
        .collect();
    assert_eq!(lag_rows.len(), 2, "{context}");
    assert!(
        lag_rows.iter().all(|f| f[4] == "0" && f[2] == f[3]),
        "{context}"
    );

    // The dead letters as the demo shows them are what librdkafka reads from the DLQ.
    let dlq = format!("{topic}.dlq");
    let mut shown: Vec<Value> = lines
        .iter()
        .filter(|l| l.starts_with("{\"topic\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (mut judged, _) = librdkafka_consume(&dlq, &[]);
    let order = |v: &Value| (v["partition"].as_i64(), v["offset"].as_i64());
    shown.sort_by_key(order);
    judged.sort_by_key(order);
    assert_eq!(shown, judged, "{context}");
    let poison: BTreeSet<&str> = shown.iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(poison, BTreeSet::from(["order-3", "order-5"]));
    for m in &shown {
        let headers = m["headers"].as_array().unwrap();
        assert_eq!(headers[0], json!(["source", "web"]), "{m}");
        let get = |k: &str| headers.iter().find(|h| h[0] == k).map(|h| h[1].clone());
        assert_eq!(get("__connect.errors.topic"), Some(json!(topic)), "{m}");
        assert_eq!(
            get("__connect.errors.exception.class.name"),
            Some(json!("ExitStatus1"))
        );
        let message = get("__connect.errors.exception.message").unwrap();
        assert!(
            message.as_str().unwrap().starts_with("not a valid order"),
            "{m}"
        );
        assert_eq!(get("dlq.attempts"), Some(json!("1")), "{m}");
    }
}
