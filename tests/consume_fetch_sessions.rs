//! Incremental fetch sessions (KIP-227): once caught up, a consumer of many partitions sends
//! small incremental Fetch requests instead of listing every partition each time. Measured on
//! the wire with the loopback proxy.

mod support;

use std::time::Duration;

use support::{RkcProcess, create_topic, partition_leader, proxy::Proxy, unique};

#[test]
fn idle_fetches_of_many_partitions_are_incremental_once_the_session_exists() {
    let topic = unique("sessions");
    let partitions: i64 = 60;
    create_topic(&topic, partitions as u32);
    let proxy = Proxy::start(&partition_leader(&topic, 0));
    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        &proxy.address(),
        "-t",
        &topic,
        "-o",
        "beginning",
        "-X",
        "enable.partition.eof=true",
        "-X",
        "fetch.wait.max.ms=200",
    ]);
    rkc.wait_until(Duration::from_secs(45), "EOF on every partition", |r| {
        (0..partitions).all(|p| !r.eofs(&topic, p).is_empty())
    });
    // Now idle: every request long-polls for 200 ms. A full request lists all 60 partitions
    // (≈ 35 bytes each, > 2 KB per request); an incremental one lists none (< 150 bytes).
    let before = proxy.stats().bytes_to_broker;
    std::thread::sleep(Duration::from_secs(3));
    let sent = proxy.stats().bytes_to_broker - before;
    // ~15 requests in 3 s: full ones would be > 30 KB.
    assert!(sent > 0, "the consumer kept fetching");
    assert!(
        sent < 6_000,
        "idle fetching sent {sent} bytes in 3 s: requests are not incremental"
    );
    assert!(rkc.messages.is_empty());
}

/// The next EOF event of `tp` (messages skipped), or `None` after `within`.
async fn next_eof(
    c: &rskafka_consumer::Consumer,
    tp: &rskafka_consumer::TopicPartition,
    within: Duration,
) -> Option<i64> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.poll_event(left).await? {
            Ok(rskafka_consumer::Event::PartitionEof {
                partition, offset, ..
            }) if partition == tp.partition => return Some(offset),
            Ok(_) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

#[tokio::test]
async fn eof_is_reported_again_after_a_seek_to_the_end_under_an_incremental_session() {
    use rskafka_consumer::{Consumer, ConsumerConfig, Offset, TopicPartition};
    let topic = unique("session-eof");
    create_topic(&topic, 2);
    support::produce(&topic, &["--count", "3", "--partition", "0"]);
    let mut config = ConsumerConfig::new(support::bootstrap()).unwrap();
    config
        .apply_pairs(["enable.partition.eof=true", "fetch.wait.max.ms=100"])
        .unwrap();
    let c = Consumer::new(config).await.unwrap();
    let (tp, other) = (
        TopicPartition::new(topic.as_str(), 0),
        TopicPartition::new(topic.as_str(), 1),
    );
    c.assign([(tp.clone(), Offset::Beginning), (other, Offset::Beginning)])
        .unwrap();
    assert_eq!(next_eof(&c, &tp, Duration::from_secs(30)).await, Some(3));
    // Idle long enough for the broker's session to hold the partition at offset 3.
    assert_eq!(next_eof(&c, &tp, Duration::from_secs(1)).await, None);
    for (what, offset) in [("End", Offset::End), ("At(3)", Offset::At(3))] {
        c.seek(&tp, offset).unwrap();
        assert_eq!(
            next_eof(&c, &tp, Duration::from_secs(10)).await,
            Some(3),
            "EOF after a seek to {what}"
        );
    }
    c.pause(std::slice::from_ref(&tp)).unwrap();
    c.resume(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(
        next_eof(&c, &tp, Duration::from_secs(10)).await,
        Some(3),
        "EOF after pause and resume at the end"
    );
    c.close().await;
}
