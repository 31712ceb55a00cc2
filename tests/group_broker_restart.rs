//! A group member rides out a broker that is down behind a proxy or load balancer (or is
//! starting or stopping): TCP connects succeed and the broker end hangs up before the first
//! response. For a cluster that has already answered this client, that is a connection
//! failure to retry, not a TLS port: the member keeps (or, past the session timeout, regains)
//! its partitions when the broker answers again, and never gives up its group membership.
//!
//! Seen in the 30-minute soak (seed 7): two members' group tasks ended on "closed the
//! plaintext connection during the first request (hint: the port probably expects TLS)"
//! while the coordinator's broker restarted, and the members, still running, consumed
//! nothing for 90 s (until the nemesis replaced them).

mod support;

use std::{collections::BTreeMap, time::Duration};

use rskafka_consumer::{Consumer, Event};
use support::{bootstrap, create_topic, fault, produce, proxy::Proxy, unique};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(60);

/// Polls `consumer` for `how_long`, returning the error events' texts.
async fn poll_for(consumer: &Consumer, how_long: Duration) -> Vec<String> {
    let mut errors = Vec::new();
    let until = Instant::now() + how_long;
    while Instant::now() < until {
        if let Some(Err(e)) = consumer.poll_event(Duration::from_millis(100)).await {
            errors.push(e.to_string());
        }
    }
    errors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_broker_hangs_up_every_connection_for_a_while_rejoins_and_consumes() {
    let topic = unique("grp-hangup");
    create_topic(&topic, 2);
    let group = unique("g-hangup");
    let proxy = Proxy::start(bootstrap());
    // earliest, session 6 s, heartbeat 0.5 s, no auto commit
    let consumer = Consumer::new(fault::config(&proxy.address(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut errors = Vec::new();
    while consumer.assignment().len() < 2 {
        assert!(Instant::now() < deadline, "never assigned: {errors:?}");
        errors.extend(poll_for(&consumer, Duration::from_millis(200)).await);
    }

    // Down for longer than the session timeout: the member's session ends on both sides.
    proxy.hang_up_all();
    errors.extend(poll_for(&consumer, Duration::from_secs(8)).await);
    let hung_up = proxy.stats().hung_up;
    proxy.answer_again();
    assert!(
        hung_up > 0,
        "the member did try to connect while the broker was down"
    );

    for p in ["0", "1"] {
        produce(&topic, &["--partition", p, "--count", "50"]);
    }
    let mut seen: BTreeMap<i32, usize> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while seen.values().sum::<usize>() < 100 || seen.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "after the broker answered again: records per partition {seen:?}, assignment {:?}, errors {errors:?}",
            consumer.assignment()
        );
        match consumer.poll_event(Duration::from_millis(100)).await {
            Some(Ok(Event::Message(m))) => *seen.entry(m.partition).or_default() += 1,
            Some(Err(e)) => errors.push(e.to_string()),
            _ => {}
        }
    }
    assert!(
        !errors.iter().any(|e| e.contains("expects TLS")),
        "a broker hanging up is not a TLS port: {errors:?}"
    );
    consumer.close().await;
}
