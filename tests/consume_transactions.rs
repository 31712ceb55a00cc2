//! `rkc consume` and transactions: read_committed filters aborted data and stops at the last
//! stable offset, read_uncommitted shows all data, control records never surface. Data comes
//! from librdkafka transactional producers (tests/peers/transactions.py, open_transaction.py);
//! the expectations were checked against librdkafka's own consumer (tests/peers/consume.py).

mod support;

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use support::{
    PeerProcess, RkcProcess, assert_offsets_increase, bootstrap, create_topic, eof_offsets,
    json_lines, offsets_of, peer, position, produce, rkc_run, unique, watermarks,
};

const LIMIT: Duration = Duration::from_secs(45);

type Triple = (i64, i64, String);

fn triple(v: &Value) -> Triple {
    let (p, o) = position(v);
    (p, o, v["value"].as_str().expect("text value").to_owned())
}

/// A 3-partition topic written by 3 transactional producers (interleaved, transaction i
/// aborted when i % 3 == 1) and a plain producer; returns the topic and the peer's records.
fn interleaved_transactions() -> (String, Vec<Value>) {
    let topic = unique("txn");
    create_topic(&topic, 3);
    let records = json_lines(
        &peer(
            "transactions.py",
            &[
                bootstrap(),
                &topic,
                "--producers",
                "3",
                "--partitions",
                "3",
                "--rounds",
                "3",
                "--per-txn",
                "3",
            ],
        )
        .stdout,
    );
    // The data is what the tests need: every partition mixes committed, aborted and plain.
    for p in 0..3 {
        let of = |pred: &dyn Fn(&Value) -> bool| {
            records
                .iter()
                .filter(|r| r["partition"] == p && pred(r))
                .count()
        };
        assert!(of(&|r| r["committed"] == false) > 0, "partition {p}");
        assert!(of(&|r| r["committed"] == true && r["transactional"] == true) > 0);
        assert!(of(&|r| r["transactional"] == false) > 0);
    }
    (topic, records)
}

fn assert_one_eof_per_partition_at_the_end(topic: &str, events: &[Value]) {
    let ends = watermarks(topic);
    for (p, (_, high)) in ends {
        assert_eq!(
            eof_offsets(events, topic, p.into()),
            vec![high],
            "partition {p}: {events:?}"
        );
    }
}

#[test]
fn read_committed_returns_exactly_the_committed_records_of_interleaved_transactions() {
    let (topic, records) = interleaved_transactions();
    let committed: BTreeSet<Triple> = records
        .iter()
        .filter(|r| r["committed"] == true)
        .map(triple)
        .collect();
    let b = bootstrap();
    for extra in [&[][..], &["-X", "isolation.level=read_committed"][..]] {
        let mut args = vec!["consume", "-b", b, "-t", &topic, "-o", "beginning", "-e"];
        args.extend_from_slice(extra);
        let out = rkc_run(&args, LIMIT);
        assert_eq!(out.code, 0, "{extra:?}: {}", out.stderr);
        assert!(out.messages.iter().all(|m| m["topic"] == topic.as_str()));
        assert_offsets_increase(&out.messages);
        let got: BTreeSet<Triple> = out.messages.iter().map(triple).collect();
        assert_eq!(got.len(), out.messages.len(), "a record printed twice");
        assert_eq!(got, committed, "{extra:?}");
        assert_one_eof_per_partition_at_the_end(&topic, &out.events);
    }
}

#[test]
fn read_uncommitted_returns_aborted_records_too_but_never_a_control_record() {
    let (topic, records) = interleaved_transactions();
    let all: BTreeSet<Triple> = records.iter().map(triple).collect();
    let produced: BTreeSet<(i64, i64)> = records.iter().map(position).collect();
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
            "-X",
            "isolation.level=read_uncommitted",
        ],
        LIMIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for m in &out.messages {
        assert!(
            produced.contains(&position(m)),
            "printed a record no producer wrote (a control record?): {m}"
        );
    }
    assert_offsets_increase(&out.messages);
    assert_eq!(out.messages.len(), records.len());
    let got: BTreeSet<Triple> = out.messages.iter().map(triple).collect();
    assert_eq!(got, all);
    assert_one_eof_per_partition_at_the_end(&topic, &out.events);
}

/// A 1-partition topic with 5 plain records (offsets 0-4) and then an open transaction of 4
/// records (5-8); returns the topic, the plain records and the peer holding the transaction.
fn open_transaction_after_five_records() -> (String, Vec<Value>, Vec<Value>, PeerProcess) {
    let topic = unique("txn-open");
    create_topic(&topic, 1);
    let plain = produce(&topic, &["--count", "5"]);
    let mut txn = PeerProcess::spawn(
        "open_transaction.py",
        &[bootstrap(), &topic, "--count", "4"],
    );
    let open = txn.read_json(Duration::from_secs(30));
    assert_eq!(open["state"], "open");
    let open_records = open["records"].as_array().unwrap().clone();
    assert_eq!(open_records.len(), 4);
    assert_eq!(open_records[0]["offset"], 5);
    (topic, plain, open_records, txn)
}

#[test]
fn read_committed_eof_waits_at_the_last_stable_offset_of_an_open_transaction_until_it_commits() {
    let (topic, plain, open_records, mut txn) = open_transaction_after_five_records();
    let lso = open_records[0]["offset"].as_i64().unwrap();

    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        bootstrap(),
        "-t",
        &topic,
        "-o",
        "beginning",
        "-X",
        "enable.partition.eof=true",
        "-X",
        "fetch.wait.max.ms=100",
    ]);
    // Events (stderr) and messages (stdout) come through different pipes: wait for both.
    rkc.wait_until(LIMIT, "the records before the LSO and an EOF", |r| {
        !r.eofs(&topic, 0).is_empty() && r.messages.len() >= plain.len()
    });
    assert_eq!(rkc.eofs(&topic, 0), vec![lso], "EOF is at the LSO");
    assert_eq!(
        rkc.messages, plain,
        "exactly the records before the open transaction"
    );
    // Many fetches later: still nothing of the open transaction, and no repeated EOF.
    rkc.observe_for(Duration::from_millis(1500));
    assert_eq!(rkc.messages, plain);
    assert_eq!(rkc.eofs(&topic, 0), vec![lso]);

    txn.send_line("commit");
    assert_eq!(txn.read_json(Duration::from_secs(30))["state"], "committed");
    txn.wait_success(Duration::from_secs(30));
    let end = watermarks(&topic)[&0].1;
    assert_eq!(end, 10, "4 records and the COMMIT marker after offset 5");

    rkc.wait_until(LIMIT, "the committed records and a new EOF", |r| {
        r.messages.len() >= 9 && r.eofs(&topic, 0).len() >= 2
    });
    assert_eq!(rkc.eofs(&topic, 0), vec![lso, end]);
    let got: Vec<Triple> = rkc.messages.iter().map(triple).collect();
    let expected: Vec<Triple> = plain.iter().chain(&open_records).map(triple).collect();
    assert_eq!(got, expected);
    rkc.observe_for(Duration::from_millis(500));
    assert_eq!(rkc.messages.len(), 9, "no control record, no repeats");
    assert_eq!(rkc.eofs(&topic, 0), vec![lso, end]);
}

#[test]
fn read_committed_skips_an_aborted_open_transaction_with_a_new_eof_and_reads_on_after_it() {
    let (topic, plain, open_records, mut txn) = open_transaction_after_five_records();
    let lso = open_records[0]["offset"].as_i64().unwrap();
    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        bootstrap(),
        "-t",
        &topic,
        "-o",
        "beginning",
        "-X",
        "enable.partition.eof=true",
        "-X",
        "fetch.wait.max.ms=100",
    ]);
    rkc.wait_until(LIMIT, "the records before the LSO and an EOF", |r| {
        !r.eofs(&topic, 0).is_empty() && r.messages.len() >= plain.len()
    });
    assert_eq!(rkc.eofs(&topic, 0), vec![lso]);
    assert_eq!(rkc.messages, plain);

    txn.send_line("abort");
    assert_eq!(txn.read_json(Duration::from_secs(30))["state"], "aborted");
    txn.wait_success(Duration::from_secs(30));
    let end = watermarks(&topic)[&0].1;
    assert_eq!(
        end, 10,
        "4 aborted records and the ABORT marker after offset 5"
    );
    // The position moves past the aborted data and the marker without a message: EOF again.
    rkc.wait_until(LIMIT, "a new EOF past the aborted transaction", |r| {
        r.eofs(&topic, 0).len() >= 2
    });
    assert_eq!(rkc.eofs(&topic, 0), vec![lso, end]);
    rkc.observe_for(Duration::from_millis(500));
    assert_eq!(rkc.messages, plain, "nothing of the aborted transaction");

    let later = produce(&topic, &["--count", "2", "--start", "100"]);
    assert_eq!(offsets_of(&later, 0), vec![end, end + 1]);
    rkc.wait_until(LIMIT, "the records after the aborted transaction", |r| {
        r.eofs(&topic, 0).len() >= 3 && r.messages.len() >= plain.len() + later.len()
    });
    assert_eq!(rkc.eofs(&topic, 0), vec![lso, end, end + 2]);
    let expected: Vec<Value> = plain.iter().chain(&later).cloned().collect();
    assert_eq!(rkc.messages, expected);
}

#[test]
fn read_uncommitted_eof_is_at_the_high_watermark_past_an_open_transaction() {
    let (topic, plain, open_records, mut txn) = open_transaction_after_five_records();
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
            "-X",
            "isolation.level=read_uncommitted",
        ],
        LIMIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: Vec<Triple> = out.messages.iter().map(triple).collect();
    let expected: Vec<Triple> = plain.iter().chain(&open_records).map(triple).collect();
    assert_eq!(got, expected);
    assert_eq!(eof_offsets(&out.events, &topic, 0), vec![9]);
    txn.send_line("abort");
    txn.wait_success(Duration::from_secs(30));
}

/// A 2-partition topic where each partition ends with transaction markers (one producer,
/// transactions committed and aborted).
fn topic_ending_in_markers() -> String {
    let topic = unique("txn-end");
    create_topic(&topic, 2);
    peer(
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
    );
    topic
}

#[tokio::test]
async fn the_position_moves_past_trailing_markers_and_aborted_data_to_the_last_stable_offset() {
    use rskafka_consumer::{Consumer, ConsumerConfig, Event, Offset, TopicPartition};
    let topic = topic_ending_in_markers();
    let ends = watermarks(&topic);
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config.apply_pairs(["enable.partition.eof=true"]).unwrap();
    let c = Consumer::new(config).await.unwrap();
    let tps: Vec<TopicPartition> = (0..2)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    c.assign(tps.iter().map(|tp| (tp.clone(), Offset::Beginning)))
        .unwrap();
    let mut eofs = 0;
    while eofs < 2 {
        match c.poll_event(LIMIT).await.expect("EOF on both partitions") {
            Ok(Event::PartitionEof { .. }) => eofs += 1,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    for tp in &tps {
        let lso = c.watermarks(tp).unwrap().last_stable_offset;
        assert_eq!(lso, ends[&tp.partition].1, "every transaction ended");
        assert_eq!(c.position(tp), Some(lso), "{tp}: position at the LSO");
        assert_eq!(c.lag(tp), Some(0), "{tp}");
    }
    c.close().await;
}

#[test]
fn a_group_consumer_commits_past_trailing_markers_as_librdkafka_does() {
    let topic = topic_ending_in_markers();
    let ours = unique("txn-end-rkc");
    let out = rkc_run(
        &[
            "consume",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "-G",
            &ours,
            "--commit",
            "sync",
            "-e",
            "-X",
            "auto.offset.reset=earliest",
        ],
        LIMIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The judge: librdkafka's consumer, assigned from the beginning, committing on close.
    let judge = unique("txn-end-librdkafka");
    let reference = peer(
        "consume.py",
        &[
            bootstrap(),
            &topic,
            "-X",
            &format!("group.id={judge}"),
            "-X",
            "enable.auto.commit=true",
        ],
    );
    assert!(reference.status.success());
    let expected = support::group_offsets(&judge, &topic);
    assert_eq!(expected.len(), 2, "librdkafka committed both partitions");
    assert_eq!(support::group_offsets(&ours, &topic), expected);
    let ends = watermarks(&topic);
    for (p, o) in &expected {
        assert_eq!(*o, ends[p].1, "librdkafka commits the log end");
    }
}
