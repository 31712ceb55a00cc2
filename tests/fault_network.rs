//! Network faults between the consumer and the SHARED test broker (`support::bootstrap()`),
//! injected by the loopback proxy (`tests/support/proxy.rs`): every connection dropped (three
//! times, while records are produced), the broker silent for longer than `socket.timeout.ms`,
//! silent for longer than `session.timeout.ms` (the broker expires the member: partitions lost,
//! rejoin, resume from the committed offsets), slow responses, and responses cut off halfway.
//! Corrupted bytes are `consume_corruption.rs`'s subject.
//!
//! Our consumer (a group member) and a confluent-kafka group member (the reference) each go
//! through their own fresh proxy; once both have read the first records, each fault is applied
//! to both proxies at once. Records are produced straight to the broker. Each scenario checks
//! our consumer's output against the librdkafka reference reader and the group's committed
//! offsets: every record delivered, nothing that is not in the log, no duplicate below a
//! committed offset, committed offsets == log ends. Recovery times (fault cleared or injected →
//! first record produced after it) are printed with `eprintln!` (`--nocapture`), ours and
//! librdkafka's.
//!
//! The tests are serialized (each runs two clients and several Python peers; CI machines are
//! small).

mod support;

use std::time::Duration;

use rskafka_consumer::Consumer;
use support::{
    bootstrap, create_topic,
    fault::{Reference, Run, config, produce_each, secs},
    now_secs,
    proxy::Proxy,
    unique,
};
use tokio::time::Instant;

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

const WAIT: Duration = Duration::from_secs(40);
const PARTITIONS: &[i32] = &[0, 1, 2];
/// Records per partition produced before any fault.
const FIRST: u32 = 30;

/// One scenario's setup: a topic of three partitions with [`FIRST`] records each, read and
/// committed by our group member through `proxy`; the reference reads through `ref_proxy`.
struct Net {
    topic: String,
    group: String,
    proxy: Proxy,
    ref_proxy: Proxy,
    run: Run,
    reference: Reference,
}

impl Net {
    async fn start(name: &'static str, extra: &[&str], ref_extra: &[&str]) -> Net {
        let topic = unique(&format!("net-{name}"));
        create_topic(&topic, PARTITIONS.len() as u32);
        produce_each(bootstrap(), &topic, PARTITIONS, 0, FIRST);
        let group = unique(&format!("net-{name}-g"));
        let proxy = Proxy::start(bootstrap());
        let ref_proxy = Proxy::start(bootstrap());
        let consumer = Consumer::new(config(&proxy.address(), Some(&group), extra))
            .await
            .unwrap();
        consumer.subscribe(&[&topic]).unwrap();
        let mut run = Run::new(name, consumer);
        let mut reference = Reference::spawn(&ref_proxy.address(), &topic, ref_extra);
        let first = FIRST as usize * PARTITIONS.len();
        run.until("the first records", WAIT, |r| r.distinct(&topic) >= first)
            .await;
        run.commit().await;
        // Both clients are up and reading before any fault: recovery times do not include
        // the reference's start.
        let read = reference.wait_for(first);
        assert_eq!(
            read,
            first,
            "[{name}] the reference did not read the first records: {}",
            reference.process.stderr_so_far()
        );
        Net {
            topic,
            group,
            proxy,
            ref_proxy,
            run,
            reference,
        }
    }

    /// The same fault on both proxies.
    fn both(&self, fault: impl Fn(&Proxy)) {
        fault(&self.proxy);
        fault(&self.ref_proxy);
    }

    /// Produces `count` records to every partition, from record index `start`, while polling.
    async fn produce(&mut self, start: u32, count: u32) {
        let topic = self.topic.clone();
        self.run
            .during(move || produce_each(bootstrap(), &topic, PARTITIONS, start, count))
            .await;
    }

    /// Polls until every record of the topic up to `per_partition` per partition was read.
    async fn read_all(&mut self, what: &str, per_partition: u32) {
        let topic = self.topic.clone();
        let total = per_partition as usize * PARTITIONS.len();
        self.run
            .until(what, WAIT, |r| r.distinct(&topic) >= total)
            .await;
    }

    /// A final commit, then the verdict.
    async fn verify(mut self) {
        self.run.commit().await;
        self.run.verify(bootstrap(), &self.topic, Some(&self.group));
    }
}

fn error_events_since(run: &Run, since: Instant) -> usize {
    run.errors.iter().filter(|e| e.0 >= since).count()
}

/// Deliveries before `until` of records at or above `offset` (produced during a stall).
fn early(run: &Run, until: Instant, offset: i64) -> usize {
    run.deliveries
        .iter()
        .filter(|d| d.0 < until && d.3 >= offset)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dropped_three_times_while_producing_lose_nothing() {
    let _serial = serial().await;
    let mut net = Net::start("drops", &[], &[]).await;
    let connections_before = net.proxy.stats().connections;
    let from = Instant::now();

    // Three rounds, a second apart: every connection closed, then 20 records per partition.
    let mut drops = Vec::new();
    let mut last_wall = 0.0;
    for round in 0..3u32 {
        net.both(Proxy::drop_all);
        let dropped = Instant::now();
        last_wall = now_secs();
        let start = FIRST + round * 20;
        net.produce(start, 20).await;
        let left = Duration::from_secs(1).saturating_sub(dropped.elapsed());
        net.run.pump_for(left).await;
        drops.push((dropped, i64::from(start)));
    }
    let end = FIRST + 60;
    net.read_all("every record produced around the drops", end)
        .await;
    let per_drop: Vec<String> = drops
        .iter()
        .map(|(at, start)| {
            let first = net
                .run
                .first_delivery_after(*at, |_, _, o| o >= *start)
                .expect("a record produced after the drop");
            secs(first - *at)
        })
        .collect();
    let errors = error_events_since(&net.run, from);
    let reconnects = net.proxy.stats().connections - connections_before;
    eprintln!(
        "RECOVERY connection drops (last of 3 drops 1 s apart → first new record): {} [each drop: {per_drop:?}; {reconnects} new connections, {errors} error events, events {:?}]",
        per_drop.last().unwrap(),
        net.run.events
    );
    let last_start = i64::from(FIRST + 40);
    net.reference.report(
        "connection drops",
        end as usize * PARTITIONS.len(),
        last_wall,
        |_, o| o >= last_start,
    );
    assert!(
        reconnects >= 3,
        "[drops] our consumer made only {reconnects} new connections after 3 drops: the proxy did not cut it off"
    );
    assert!(
        errors <= 100,
        "[drops] {errors} error events around 3 connection drops: a hot loop"
    );
    net.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_longer_than_the_request_timeout_then_every_record_produced_meanwhile_is_read() {
    let _serial = serial().await;
    let mut net = Net::start(
        "stall",
        &["socket.timeout.ms=3000"],
        &["-X", "socket.timeout.ms=3000"],
    )
    .await;

    net.both(Proxy::stall_all);
    let stalled = Instant::now();
    net.produce(FIRST, 20).await;
    let left = Duration::from_secs(5).saturating_sub(stalled.elapsed());
    net.run.pump_for(left).await;
    let stall_errors = error_events_since(&net.run, stalled);
    net.both(Proxy::resume);
    let back = Instant::now();
    let back_wall = now_secs();
    let end = FIRST + 20;
    net.read_all("the records produced during the stall", end)
        .await;
    let first = net
        .run
        .first_delivery_after(back, |_, _, o| o >= i64::from(FIRST))
        .expect("a record produced during the stall");
    eprintln!(
        "RECOVERY stall 5 s > socket.timeout.ms 3 s (resumed → first record produced during the stall): {} [{stall_errors} error events during the stall, {} in all, events {:?}]",
        secs(first - back),
        net.run.errors.len(),
        net.run.events
    );
    net.reference.report(
        "stall 5 s > socket.timeout.ms 3 s",
        end as usize * PARTITIONS.len(),
        back_wall,
        |_, o| o >= i64::from(FIRST),
    );
    assert_eq!(
        early(&net.run, back, i64::from(FIRST)),
        0,
        "[stall] records produced during the stall were delivered before it ended: the proxy did not stall"
    );
    assert!(
        stall_errors <= 100,
        "[stall] {stall_errors} error events during a 5 s stall: a hot loop"
    );
    net.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_longer_than_the_session_timeout_loses_the_partitions_then_rejoins_at_the_committed_offsets()
 {
    let _serial = serial().await;
    let mut net = Net::start("fenced", &[], &[]).await;
    // Read, but not committed: after the rejoin these come again, from the committed offsets.
    net.produce(FIRST, 10).await;
    net.read_all("the uncommitted records", FIRST + 10).await;
    let committed = net.run.committed.clone();
    assert_eq!(committed.len(), PARTITIONS.len(), "{}", net.run.describe());

    // Only our paths go silent; the broker lives and expires the member after 6 s.
    net.both(Proxy::stall_all);
    let stalled = Instant::now();
    net.produce(FIRST + 10, 10).await;
    let left = Duration::from_secs(9).saturating_sub(stalled.elapsed());
    net.run.pump_for(left).await;
    let stall_errors = error_events_since(&net.run, stalled);
    let events_in_stall = net.run.events.len();
    net.both(Proxy::resume);
    let back = Instant::now();
    let back_wall = now_secs();
    let end = FIRST + 20;
    net.read_all("the records produced during the stall", end)
        .await;
    // The redelivered uncommitted records, too: read from the committed offsets again.
    let topic = net.topic.clone();
    net.run
        .until(
            "the rejoined member reading from the committed offsets",
            WAIT,
            |r| {
                PARTITIONS.iter().all(|p| {
                    r.deliveries
                        .iter()
                        .any(|d| d.0 >= back && d.1 == topic && d.2 == *p)
                })
            },
        )
        .await;
    let first = net
        .run
        .first_delivery_after(back, |_, _, _| true)
        .expect("a record after the stall");
    eprintln!(
        "RECOVERY stall 9 s > session.timeout.ms 6 s (resumed → first record, from the committed offsets): {} [{stall_errors} error events during the stall, events {:?}]",
        secs(first - back),
        net.run.events
    );
    net.reference.report(
        "stall 9 s > session.timeout.ms 6 s",
        end as usize * PARTITIONS.len(),
        back_wall,
        |_, _| true,
    );

    let lost = net.run.events.iter().position(|e| e.starts_with("lost"));
    let reassigned = lost.and_then(|l| {
        net.run.events[l + 1..]
            .iter()
            .position(|e| e.starts_with("assigned"))
    });
    assert!(
        lost.is_some() && reassigned.is_some(),
        "[fenced] no heartbeat for 9 s > session.timeout.ms: the partitions must be reported lost, then assigned again (events during the stall: {:?})\n{}",
        &net.run.events[..events_in_stall],
        net.run.describe()
    );
    // Resumed from the committed offsets: the first delivery of each partition after the
    // stall is its committed offset (the records read but not committed come again).
    for p in PARTITIONS {
        let first = net
            .run
            .deliveries
            .iter()
            .find(|d| d.0 >= back && d.1 == net.topic && d.2 == *p)
            .map(|d| d.3);
        let committed = committed.get(&(net.topic.clone(), *p)).copied();
        assert_eq!(
            first,
            committed,
            "[fenced] partition {p}: first offset after the rejoin vs the committed offset\n{}",
            net.run.describe()
        );
    }
    assert_eq!(
        early(&net.run, back, i64::from(FIRST + 10)),
        0,
        "[fenced] records produced during the stall were delivered before it ended: the proxy did not stall"
    );
    assert!(
        stall_errors <= 100,
        "[fenced] {stall_errors} error events during a 9 s stall: a hot loop"
    );
    net.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responses_delay_but_lose_nothing() {
    let _serial = serial().await;
    let mut net = Net::start("slow", &[], &[]).await;

    const DELAY: Duration = Duration::from_millis(300);
    net.both(|p| p.delay_responses(DELAY));
    let slowed = Instant::now();
    let slowed_wall = now_secs();
    net.produce(FIRST, 20).await;
    let left = Duration::from_secs(5).saturating_sub(slowed.elapsed());
    net.run.pump_for(left).await;
    let slow_errors = error_events_since(&net.run, slowed);
    let delayed = net.proxy.stats().delayed;
    net.read_all("the records produced while responses were slow", FIRST + 20)
        .await;
    let first = net
        .run
        .first_delivery_after(slowed, |_, _, o| o >= i64::from(FIRST))
        .expect("a record produced while responses were slow");
    eprintln!(
        "RECOVERY slow responses 300 ms (delay on → first record produced under it): {} [{delayed} responses delayed, {slow_errors} error events, events {:?}]",
        secs(first - slowed),
        net.run.events
    );
    net.reference.report(
        "slow responses 300 ms",
        (FIRST as usize + 20) * PARTITIONS.len(),
        slowed_wall,
        |_, o| o >= i64::from(FIRST),
    );
    assert!(
        delayed > 10,
        "[slow] only {delayed} responses went through the delay"
    );

    // Back to normal speed.
    net.both(Proxy::clear_faults);
    net.produce(FIRST + 20, 10).await;
    net.read_all(
        "the records produced after the delay was cleared",
        FIRST + 30,
    )
    .await;
    assert!(
        slow_errors <= 100,
        "[slow] {slow_errors} error events while responses were 300 ms slow: a hot loop"
    );
    net.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_cut_off_halfway_reconnect_and_lose_nothing() {
    let _serial = serial().await;
    let mut net = Net::start("cut", &[], &[]).await;
    let from = Instant::now();

    // Three rounds: the next 3 responses on each path are cut off (whatever they are: fetches,
    // heartbeats, metadata, the handshake of a new connection), while 20 records per partition
    // are produced.
    let mut last = (Instant::now(), 0.0);
    for round in 0..3u32 {
        net.both(|p| p.cut_next_responses(3));
        last = (Instant::now(), now_secs());
        net.produce(FIRST + round * 20, 20).await;
        let want = u64::from(3 * (round + 1));
        // Only our client must go on talking: the reference is timed, not judged (librdkafka
        // has been seen to stop fetching for good after a cut handshake).
        let (proxy, ref_proxy) = (&net.proxy, &net.ref_proxy);
        let deadline = Instant::now() + WAIT;
        while proxy.stats().cuts < want {
            assert!(
                Instant::now() < deadline,
                "[cut] round {round}: cuts ours {:?}, reference {:?}: the clients stopped talking\n{}",
                proxy.stats(),
                ref_proxy.stats(),
                net.run.describe()
            );
            net.run.pump_for(Duration::from_millis(50)).await;
        }
    }
    let end = FIRST + 60;
    net.read_all("every record produced around the cuts", end)
        .await;
    let last_start = i64::from(FIRST + 40);
    let first = net
        .run
        .first_delivery_after(last.0, |_, _, o| o >= last_start)
        .expect("a record produced after the last cuts");
    let errors = error_events_since(&net.run, from);
    eprintln!(
        "RECOVERY responses cut off (last 3 cuts asked → first record produced after): {} [{} cuts, {} connections, {errors} error events, events {:?}]",
        secs(first - last.0),
        net.proxy.stats().cuts,
        net.proxy.stats().connections,
        net.run.events
    );
    net.reference.report(
        "responses cut off",
        end as usize * PARTITIONS.len(),
        last.1,
        |_, o| o >= last_start,
    );
    assert!(
        errors <= 100,
        "[cut] {errors} error events around 9 cut responses: a hot loop"
    );
    net.verify().await;
}
