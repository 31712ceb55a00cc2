//! Broker-level faults against a PRIVATE cluster per test (own `RKC_KAFKA_STATE_DIR` under
//! `target/fault-kafka/`, own ports; never the shared `support::bootstrap()` broker): broker
//! restart, all brokers gone past session.timeout.ms, partitions added, topic deleted, leader
//! (and coordinator) failover on 3 brokers, a rolling restart of 3 brokers while a producer
//! writes. Each checks our consumer's output against the
//! librdkafka reference reader and the group's committed offsets: nothing lost, nothing that is
//! not in the log, and duplicates only of records not yet committed. Recovery times (fault
//! cleared or injected → first record after it) are printed with `eprintln!` (`--nocapture`).
//!
//! The tests are serialized (each starts JVMs; CI machines are small).

mod support;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use rskafka_consumer::{Consumer, Offset, TopicPartition};
use support::{
    PrivateCluster,
    fault::{Reference, Run, config, produce_each, secs, show},
    unique,
};
use tokio::time::Instant;

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_restart_resumes_from_committed_offsets() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 29700));
    let topic = unique("fault-restart");
    cluster.create_topic(&topic, 3, 1, &[]);
    produce_each(cluster.bootstrap(), &topic, &[0, 1, 2], 0, 50);
    let group = unique("fault-restart-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("restart", consumer);
    let mut reference = Reference::spawn(cluster.bootstrap(), &topic, &[]);
    run.until("the first 150 records", WAIT, |r| r.distinct(&topic) >= 150)
        .await;
    run.commit().await;
    // 150 more, consumed but not committed: these may come again after the restart
    produce_each(cluster.bootstrap(), &topic, &[0, 1, 2], 50, 50);
    run.until("300 records", WAIT, |r| r.distinct(&topic) >= 300)
        .await;

    let c = Arc::clone(&cluster);
    let back = run.during(move || c.restart()).await;
    let back_wall = support::now_secs();
    run.produce(cluster.bootstrap(), &topic, &[0, 1, 2], 100, 50)
        .await;
    run.until("all 450 records after the restart", WAIT, |r| {
        r.distinct(&topic) >= 450
    })
    .await;
    let first = run
        .first_delivery_after(back, |_, _, o| o >= 100)
        .expect("a new record");
    eprintln!(
        "RECOVERY single-node restart (cluster answering again → first new record): {} [{} error events, events {:?}]",
        secs(first - back),
        run.errors.len(),
        run.events
    );
    reference.report("single-node restart", 450, back_wall, |_, o| o >= 100);
    run.commit().await;
    run.verify(cluster.bootstrap(), &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_brokers_gone_longer_than_session_timeout_then_back() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 29710));
    let topic = unique("fault-gone");
    cluster.create_topic(&topic, 2, 1, &[]);
    produce_each(cluster.bootstrap(), &topic, &[0, 1], 0, 30);
    let group = unique("fault-gone-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("gone", consumer);
    let mut reference = Reference::spawn(cluster.bootstrap(), &topic, &[]);
    run.until("the first 60 records", WAIT, |r| r.distinct(&topic) >= 60)
        .await;
    run.commit().await;

    let c = Arc::clone(&cluster);
    let down = run.during(move || c.stop_node(1)).await;
    let errors_before = run.errors.len();
    run.pump_for(Duration::from_secs(8)).await; // > session.timeout.ms
    let outage_errors = run.errors.len() - errors_before;
    let c = Arc::clone(&cluster);
    let back = run.during(move || c.start_node(1)).await;
    let back_wall = support::now_secs();
    eprintln!(
        "[gone] broker down {} ; {outage_errors} error events during the outage",
        secs(back - down)
    );
    assert!(
        outage_errors <= 100,
        "[gone] {outage_errors} error events while the broker was down: a hot loop"
    );
    assert!(
        !run.errors.is_empty(),
        "[gone] the outage must be reported (an error event), not only retried silently"
    );
    run.produce(cluster.bootstrap(), &topic, &[0, 1], 30, 30)
        .await;
    run.until(
        "the 60 records produced after the broker returned",
        WAIT,
        |r| r.distinct(&topic) >= 120,
    )
    .await;
    let first = run
        .first_delivery_after(back, |_, _, o| o >= 30)
        .expect("a new record");
    eprintln!(
        "RECOVERY all brokers gone 8 s (broker answering again → first new record): {} [events {:?}]",
        secs(first - back),
        run.events
    );
    assert!(
        run.events.iter().any(|e| e.starts_with("lost")),
        "[gone] no heartbeat for longer than session.timeout.ms: the partitions must be reported lost\n{}",
        run.describe()
    );
    reference.report("all brokers gone 8 s", 120, back_wall, |_, o| o >= 30);
    run.commit().await;
    run.verify(cluster.bootstrap(), &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_while_subscribed_are_picked_up() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 29720));
    let topic = unique("fault-grow");
    cluster.create_topic(&topic, 2, 1, &[]);
    produce_each(cluster.bootstrap(), &topic, &[0, 1], 0, 20);
    let group = unique("fault-grow-g");
    let consumer = Consumer::new(config(
        cluster.bootstrap(),
        Some(&group),
        &["topic.metadata.refresh.interval.ms=1000"],
    ))
    .await
    .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("grow", consumer);
    let mut reference = Reference::spawn(
        cluster.bootstrap(),
        &topic,
        &["-X", "topic.metadata.refresh.interval.ms=1000"],
    );
    run.until("the first 40 records", WAIT, |r| r.distinct(&topic) >= 40)
        .await;

    let (c, t) = (Arc::clone(&cluster), topic.clone());
    let grown = run
        .during(move || {
            c.admin("create-partitions", &[&t, "4"]);
        })
        .await;
    let grown_wall = support::now_secs();
    run.produce(cluster.bootstrap(), &topic, &[2, 3], 0, 20)
        .await;
    run.until("records of the added partitions", WAIT, |r| {
        r.distinct(&topic) >= 80
    })
    .await;
    let first = run
        .first_delivery_after(grown, |_, p, _| p >= 2)
        .expect("a record of a new partition");
    eprintln!(
        "RECOVERY partitions added (create_partitions done → first record of a new partition): {} [events {:?}]",
        secs(first - grown),
        run.events
    );
    let assigned: BTreeSet<i32> = run
        .consumer
        .assignment()
        .iter()
        .map(|tp| tp.partition)
        .collect();
    reference.report("partitions added", 80, grown_wall, |p, _| p >= 2);
    assert_eq!(assigned, BTreeSet::from([0, 1, 2, 3]), "{}", run.describe());
    run.commit().await;
    run.verify(cluster.bootstrap(), &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_deleted_while_assigned_errors_without_hot_loop() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 29730));
    let doomed = unique("fault-doomed");
    let kept = unique("fault-kept");
    cluster.create_topic(&doomed, 1, 1, &[]);
    cluster.create_topic(&kept, 1, 1, &[]);
    produce_each(cluster.bootstrap(), &doomed, &[0], 0, 10);
    produce_each(cluster.bootstrap(), &kept, &[0], 0, 10);

    // explicit assignment (no group, through a counting proxy) and a group member, side by side
    let proxy = support::proxy::Proxy::start(cluster.bootstrap());
    let assigned = Consumer::new(config(&proxy.address(), None, &[]))
        .await
        .unwrap();
    assigned
        .assign([
            (TopicPartition::new(doomed.as_str(), 0), Offset::Beginning),
            (TopicPartition::new(kept.as_str(), 0), Offset::Beginning),
        ])
        .unwrap();
    let group = unique("fault-doomed-g");
    let member = Consumer::new(config(
        cluster.bootstrap(),
        Some(&group),
        &["topic.metadata.refresh.interval.ms=1000"],
    ))
    .await
    .unwrap();
    member.subscribe(&[&doomed, &kept]).unwrap();
    let mut a = Run::new("deleted/assign", assigned);
    let mut g = Run::new("deleted/group", member);
    for run in [&mut a, &mut g] {
        run.until("both topics' records", WAIT, |r| {
            r.distinct(&doomed) >= 10 && r.distinct(&kept) >= 10
        })
        .await;
    }

    // idle traffic of the assigned consumer (long-poll fetches) over 2 s, for comparison
    let idle_from = proxy.stats().bytes_to_broker;
    a.pump_for(Duration::from_secs(2)).await;
    let idle_bytes = proxy.stats().bytes_to_broker - idle_from;

    let (c, t) = (Arc::clone(&cluster), doomed.clone());
    let deleted = tokio::task::spawn_blocking(move || {
        c.admin("delete-topic", &[&t]);
    });
    // poll both while the deletion runs
    while !deleted.is_finished() {
        a.pump_for(Duration::from_millis(25)).await;
        g.pump_for(Duration::from_millis(25)).await;
    }
    deleted.await.unwrap();
    let gone = Instant::now();
    let (ea, eg) = (a.errors.len(), g.errors.len());
    let after_from = proxy.stats().bytes_to_broker;
    produce_each(cluster.bootstrap(), &kept, &[0], 10, 10);
    let window = Instant::now() + Duration::from_secs(5);
    while Instant::now() < window {
        a.pump_for(Duration::from_millis(25)).await;
        g.pump_for(Duration::from_millis(25)).await;
    }
    let after_bytes = proxy.stats().bytes_to_broker - after_from;
    eprintln!(
        "[deleted/assign] requests to the broker: {idle_bytes} bytes in 2 s idle before, {after_bytes} bytes in the 5 s (+ one produce) after the deletion"
    );
    let mut failures = Vec::new();
    if after_bytes > 1_000_000 {
        failures.push(format!(
            "[deleted/assign] {after_bytes} bytes of requests in 5 s after the deletion: a hot loop"
        ));
    }
    for (run, before) in [(&a, ea), (&g, eg)] {
        let in_window = run.errors.iter().filter(|e| e.0 >= gone).count();
        let first = run.first_delivery_after(gone, |t, _, o| t == kept && o >= 10);
        eprintln!(
            "[{}] errors: {before} before the deletion finished, {in_window} in the 5 s after; first texts: {:?}; kept topic resumed after {:?}; events {:?}; assignment {}",
            run.name,
            run.errors.iter().take(3).map(|e| &e.1).collect::<Vec<_>>(),
            first.map(|f| secs(f - gone)),
            run.events,
            show(&run.consumer.assignment())
        );
        // both must say so: the assigned consumer through its fetches, the group member
        // ("subscribed topic not available", as librdkafka) besides revoking it
        if run.errors.is_empty() {
            failures.push(format!(
                "[{}] no error event for the deleted topic\n{}",
                run.name,
                run.describe()
            ));
        }
        if in_window > 60 {
            failures.push(format!(
                "[{}] {in_window} error events in 5 s: a hot loop\n{}",
                run.name,
                run.describe()
            ));
        }
        if run.distinct(&kept) < 20 {
            failures.push(format!(
                "[{}] the other topic stopped\n{}",
                run.name,
                run.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    a.verify(cluster.bootstrap(), &kept, None);
    g.verify(cluster.bootstrap(), &kept, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_leader_failover() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(3, 29740));
    let topic = unique("fault-failover");
    cluster.create_topic(&topic, 3, 3, &["min.insync.replicas=2"]);
    produce_each(cluster.bootstrap(), &topic, &[0, 1, 2], 0, 50);
    let group = unique("fault-failover-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("failover", consumer);
    let mut reference = Reference::spawn(cluster.bootstrap(), &topic, &[]);
    run.until("the first 150 records", WAIT, |r| r.distinct(&topic) >= 150)
        .await;
    run.commit().await;

    // 1. the leader of partition 0
    let leaders = cluster.leaders(&topic);
    let leader = leaders[&0] as u32;
    eprintln!("[failover] leaders before: {leaders:?}; stopping node {leader}");
    let c = Arc::clone(&cluster);
    let stopped = run.during(move || c.stop_node(leader)).await;
    let stopped_wall = support::now_secs();
    run.produce(cluster.bootstrap(), &topic, &[0, 1, 2], 50, 50)
        .await;
    run.until(
        "the 150 records produced after the leader stopped",
        WAIT,
        |r| r.distinct(&topic) >= 300,
    )
    .await;
    eprintln!("[failover] leaders after: {:?}", cluster.leaders(&topic));
    let first = run
        .first_delivery_after(stopped, |_, p, o| p == 0 && o >= 50)
        .expect("a new record of partition 0");
    eprintln!(
        "RECOVERY leader stopped (stop-node returned → first new record of its partition): {} [{} errors, events {:?}]",
        secs(first - stopped),
        run.errors.len(),
        run.events
    );
    reference.report("leader stopped", 300, stopped_wall, |p, o| {
        p == 0 && o >= 50
    });
    run.commit().await;
    run.verify(cluster.bootstrap(), &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_coordinator_failover() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(3, 29750));
    let topic = unique("fault-coord");
    cluster.create_topic(&topic, 3, 3, &["min.insync.replicas=2"]);
    produce_each(cluster.bootstrap(), &topic, &[0, 1, 2], 0, 100);
    let group = unique("fault-coord-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("coordinator", consumer);
    let mut reference = Reference::spawn(cluster.bootstrap(), &topic, &[]);
    run.until("the first 300 records", WAIT, |r| r.distinct(&topic) >= 300)
        .await;
    run.commit().await;

    // 2. the group coordinator
    let coordinator: serde_json::Value =
        serde_json::from_slice(&cluster.admin("coordinator", &[&group])).unwrap();
    let coordinator = coordinator["id"].as_i64().unwrap() as u32;
    eprintln!(
        "[coordinator] stopping the coordinator, node {coordinator}; leaders {:?}",
        cluster.leaders(&topic)
    );
    let c = Arc::clone(&cluster);
    let stopped = run.during(move || c.stop_node(coordinator)).await;
    let stopped_wall = support::now_secs();
    run.produce(cluster.bootstrap(), &topic, &[0, 1, 2], 100, 50)
        .await;
    run.until(
        "the 150 records produced after the coordinator stopped",
        WAIT,
        |r| r.distinct(&topic) >= 450,
    )
    .await;
    let first = run
        .first_delivery_after(stopped, |_, _, o| o >= 100)
        .expect("a new record");
    eprintln!(
        "RECOVERY coordinator stopped (→ first new record): {} [{} errors]",
        secs(first - stopped),
        run.errors.len()
    );
    let committing = Instant::now();
    run.commit().await;
    eprintln!(
        "RECOVERY coordinator stopped (→ first successful commit, asked at {}): {}",
        secs(committing - stopped),
        secs(Instant::now() - stopped)
    );
    reference.report(
        "coordinator's node stopped (its own group: coordinator may differ)",
        450,
        stopped_wall,
        |_, o| o >= 100,
    );
    run.verify(cluster.bootstrap(), &topic, Some(&group));
}

/// The longest pause between consecutive deliveries in `times` (seconds, sorted) that falls
/// inside `[from, to]`.
fn longest_pause(times: &[f64], from: f64, to: f64) -> f64 {
    let inside: Vec<f64> = times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= to)
        .collect();
    let mut longest = inside.first().map_or(to - from, |first| first - from);
    for pair in inside.windows(2) {
        longest = longest.max(pair[1] - pair[0]);
    }
    longest.max(inside.last().map_or(0.0, |last| to - last))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_rolling_restart_while_a_producer_writes() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(3, 29760));
    let topic = unique("fault-rolling");
    cluster.create_topic(&topic, 3, 3, &["min.insync.replicas=2"]);
    let group = unique("fault-rolling-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("rolling", consumer);
    let mut reference = Reference::spawn(cluster.bootstrap(), &topic, &[]);
    let producer = support::SteadyProducer::start_at(
        cluster.bootstrap(),
        &topic,
        3,
        Duration::from_millis(20),
    );
    run.until("the first 150 records", WAIT, |r| r.distinct(&topic) >= 150)
        .await;
    run.commit().await;

    // One node at a time: stop it, let the others take over for a while, start it again and
    // give it time to catch up (rejoin the ISR) before the next one goes.
    let rolling_wall = support::now_secs();
    for node in 1..=cluster.brokers() {
        let c = Arc::clone(&cluster);
        run.during(move || c.stop_node(node)).await;
        run.pump_for(Duration::from_secs(2)).await;
        let c = Arc::clone(&cluster);
        run.during(move || c.start_node(node)).await;
        run.pump_for(Duration::from_secs(3)).await;
        run.commit().await;
    }
    let rolled_wall = support::now_secs();
    // The last deliveries may wait for the restarted node to rejoin the ISRs: keep polling.
    let finished = Arc::new(std::sync::Mutex::new(None));
    let slot = Arc::clone(&finished);
    run.during(move || *slot.lock().unwrap() = Some(producer.finish()))
        .await;
    let next = finished
        .lock()
        .unwrap()
        .take()
        .expect("the producer finished");
    let total: i64 = next.values().sum();
    eprintln!(
        "[rolling] rolled 3 nodes in {:.1} s; the producer wrote {total} records ({next:?})",
        rolled_wall - rolling_wall
    );
    run.until("every record written during the roll", WAIT, |r| {
        r.distinct(&topic) as i64 >= total
    })
    .await;

    // A steady producer writes every 20 ms: the longest gap in deliveries during the roll is
    // the recovery time of the worst failover.
    let started = Instant::now();
    let wall_of = |t: Instant| support::now_secs() - (started - t).as_secs_f64();
    let ours: Vec<f64> = run.deliveries.iter().map(|d| wall_of(d.0)).collect();
    eprintln!(
        "RECOVERY rolling restart of 3 brokers (longest pause in deliveries while rolling): {:.2} s [{} errors, events {:?}]",
        longest_pause(&ours, rolling_wall, rolled_wall),
        run.errors.len(),
        run.events
    );
    let read = reference.wait_for(total as usize);
    let theirs: Vec<f64> = reference.messages.iter().map(|m| m.0).collect();
    eprintln!(
        "RECOVERY-librdkafka rolling restart of 3 brokers (longest pause in deliveries while rolling): {:.2} s [{read} of {total} records read, {} error events]",
        longest_pause(&theirs, rolling_wall, rolled_wall),
        reference.errors
    );
    run.commit().await;
    run.verify(cluster.bootstrap(), &topic, Some(&group));
}
