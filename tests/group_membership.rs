//! Consumer groups with the library's `Consumer` against the real broker: members joining,
//! leaving and crashing, slow handlers, max.poll.interval.ms, commits.

mod support;

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
    time::Duration,
};

use rskafka_consumer::{Consumer, ConsumerConfig, Event, TopicPartition};
use support::{bootstrap, create_topic, produce, unique};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(60);

async fn member(group: &str, extra: &[&str]) -> Consumer {
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config
        .apply_pairs(
            [
                format!("group.id={group}"),
                "auto.offset.reset=earliest".into(),
                "session.timeout.ms=6000".into(),
                "heartbeat.interval.ms=500".into(),
            ]
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied()),
        )
        .unwrap();
    Consumer::new(config).await.unwrap()
}

/// Polls every consumer until `done` holds over their assignments (polling keeps them
/// members), failing after `WAIT`.
async fn poll_until(
    consumers: &[&Consumer],
    what: &str,
    done: impl Fn(&[Vec<TopicPartition>]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        for c in consumers {
            while let Some(event) = c.poll_event(Duration::from_millis(20)).await {
                if let Err(e) = event {
                    eprintln!("event error: {e}");
                }
            }
        }
        let assignments: Vec<Vec<TopicPartition>> =
            consumers.iter().map(|c| c.assignment()).collect();
        if done(&assignments) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {assignments:?}"
        );
    }
}

/// Every one of `partitions` partitions of `topic` is assigned exactly once.
fn disjoint_and_complete(topic: &str, partitions: i32) -> impl Fn(&[Vec<TopicPartition>]) -> bool {
    let topic = topic.to_owned();
    move |assignments| {
        let mut seen = BTreeSet::new();
        for a in assignments {
            if a.is_empty() {
                return false; // everyone should have work with 6 partitions and ≤ 3 members
            }
            for tp in a {
                if *tp.topic != topic || !seen.insert(tp.partition) {
                    return false;
                }
            }
        }
        seen.len() == partitions as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_share_partitions_disjointly_and_completely_as_they_join_and_leave() {
    let topic = unique("grp-share");
    create_topic(&topic, 6);
    let group = unique("g-share");
    let a = member(&group, &[]).await;
    a.subscribe(&[&topic]).unwrap();
    poll_until(
        &[&a],
        "a alone owns all 6",
        disjoint_and_complete(&topic, 6),
    )
    .await;
    let b = member(&group, &[]).await;
    b.subscribe(&[&topic]).unwrap();
    poll_until(
        &[&a, &b],
        "a and b split 6",
        disjoint_and_complete(&topic, 6),
    )
    .await;
    let c = member(&group, &[]).await;
    c.subscribe(&[&topic]).unwrap();
    poll_until(
        &[&a, &b, &c],
        "a, b and c split 6",
        disjoint_and_complete(&topic, 6),
    )
    .await;
    c.close().await;
    poll_until(
        &[&a, &b],
        "a and b take c's partitions",
        disjoint_and_complete(&topic, 6),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_member_partitions_move_to_the_others_after_the_session_timeout() {
    let topic = unique("grp-crash");
    create_topic(&topic, 6);
    let group = unique("g-crash");
    let a = member(&group, &[]).await;
    a.subscribe(&[&topic]).unwrap();
    let b = member(&group, &[]).await;
    b.subscribe(&[&topic]).unwrap();
    poll_until(
        &[&a, &b],
        "a and b split 6",
        disjoint_and_complete(&topic, 6),
    )
    .await;
    // Dropping without close stops b's tasks: no LeaveGroup, no more heartbeats — a crash
    // as far as the coordinator can tell.
    drop(b);
    let started = Instant::now();
    poll_until(
        &[&a],
        "a owns all 6 again",
        disjoint_and_complete(&topic, 6),
    )
    .await;
    eprintln!("partitions moved {:?} after the crash", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_after_processing_loses_nothing_when_a_member_crashes() {
    let topic = unique("grp-alo");
    create_topic(&topic, 6);
    let group = unique("g-alo");
    let config = ["enable.auto.commit=false"];
    let a = Arc::new(member(&group, &config).await);
    a.subscribe(&[&topic]).unwrap();
    let b = member(&group, &config).await;
    b.subscribe(&[&topic]).unwrap();
    poll_until(
        &[&a, &b],
        "a and b split 6",
        disjoint_and_complete(&topic, 6),
    )
    .await;
    // Produced only now, so that waiting for the assignment above consumed none of it.
    for p in 0..6 {
        produce(
            &topic,
            &[
                "--partition",
                &p.to_string(),
                "--count",
                "50",
                "--start",
                &(p * 1000).to_string(),
            ],
        );
    }

    // b processes 20 messages, commits, processes 10 more without committing, then crashes.
    let mut processed: HashMap<String, u32> = HashMap::new();
    let mut b_count = 0;
    while b_count < 30 {
        if let Some(Ok(Event::Message(m))) = b.poll_event(WAIT).await {
            *processed
                .entry(String::from_utf8_lossy(m.value.as_deref().unwrap()).into_owned())
                .or_default() += 1;
            b_count += 1;
            if b_count == 20 {
                b.commit().await.unwrap();
            }
        }
    }
    drop(b);
    // a processes everything else, committing as it goes.
    let deadline = Instant::now() + WAIT;
    while processed.len() < 300 {
        assert!(
            Instant::now() < deadline,
            "only {} of 300 processed",
            processed.len()
        );
        match a.poll_event(Duration::from_millis(500)).await {
            Some(Ok(Event::Message(m))) => {
                *processed
                    .entry(String::from_utf8_lossy(m.value.as_deref().unwrap()).into_owned())
                    .or_default() += 1;
                a.commit().await.unwrap();
            }
            Some(Ok(_)) | None => {}
            Some(Err(e)) => eprintln!("event error: {e}"),
        }
    }
    assert_eq!(
        processed.len(),
        300,
        "every message processed at least once"
    );
    let duplicates: u32 = processed.values().map(|n| n - 1).sum();
    // Only the 10 messages b processed after its last commit may be processed twice.
    assert!(duplicates <= 10, "{duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_stays_in_the_group_past_the_session_timeout() {
    let topic = unique("grp-slow");
    create_topic(&topic, 2);
    let group = unique("g-slow");
    let a = member(&group, &["max.poll.interval.ms=60000"]).await;
    a.subscribe(&[&topic]).unwrap();
    poll_until(&[&a], "a owns both", disjoint_and_complete(&topic, 2)).await;
    let before = a.assignment();
    // Longer than session.timeout.ms (6 s) without polling: heartbeats come from the group
    // task, so the member must not be evicted.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let mut events = Vec::new();
    while let Some(event) = a.poll_event(Duration::from_millis(500)).await {
        events.push(event);
    }
    assert_eq!(a.assignment(), before);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Ok(Event::Revoked(_)) | Ok(Event::Lost(_)))),
        "no rebalance: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_leaves_the_group_and_rejoins_on_the_next_poll() {
    let topic = unique("grp-poll");
    create_topic(&topic, 2);
    let group = unique("g-poll");
    let a = member(&group, &["max.poll.interval.ms=3000"]).await;
    a.subscribe(&[&topic]).unwrap();
    poll_until(&[&a], "a owns both", disjoint_and_complete(&topic, 2)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        a.assignment().is_empty(),
        "left the group after max.poll.interval.ms"
    );
    let mut saw_lost = false;
    let mut saw_error = false;
    while let Some(event) = a.poll_event(Duration::from_millis(300)).await {
        match event {
            Ok(Event::Lost(tps)) => saw_lost = tps.len() == 2,
            Err(e) => saw_error |= e.to_string().contains("max.poll.interval.ms"),
            _ => {}
        }
    }
    assert!(saw_lost && saw_error);
    poll_until(
        &[&a],
        "a rejoined and owns both",
        disjoint_and_complete(&topic, 2),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_subscription_picks_up_topics_created_later() {
    let prefix = unique("grp-re");
    let first = format!("{prefix}-a");
    create_topic(&first, 2);
    let group = unique("g-re");
    // New matching topics are found on the periodic metadata refresh (librdkafka's rule).
    let a = member(&group, &["topic.metadata.refresh.interval.ms=1000"]).await;
    a.subscribe(&[&format!("^{}-.*", regex_escape(&prefix))])
        .unwrap();
    poll_until(&[&a], "the first topic's partitions", |asg| {
        asg[0].len() == 2
    })
    .await;
    let second = format!("{prefix}-b");
    create_topic(&second, 3);
    produce(&second, &["--partition", "2", "--count", "1"]);
    poll_until(&[&a], "both topics' partitions", |asg| {
        asg[0].len() == 5 && asg[0].iter().filter(|tp| *tp.topic == second).count() == 3
    })
    .await;
    // A topic that does not match stays out.
    let other = unique("grp-other");
    create_topic(&other, 1);
    tokio::time::sleep(Duration::from_secs(6)).await;
    poll_until(&[&a], "still the same 5", |asg| asg[0].len() == 5).await;
}

/// Escapes regex metacharacters in generated names (they only contain [a-z0-9-]).
fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// A member cut off from the coordinator (its proxy goes silent) for longer than
/// session.timeout.ms has, as far as the group knows, left: its partitions may already belong
/// to someone else. Like a process that was SIGSTOPped, it must not hand out the records it
/// buffered before the silence: the first poll afterwards reports the partitions lost, and no
/// record of them comes out until they are assigned again. Once the network is back it
/// rejoins, gets them back and reads them from the committed offsets (here: from the start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cut_off_past_the_session_timeout_drops_its_partitions_and_their_buffered_records()
{
    let topic = unique("grp-cutoff");
    create_topic(&topic, 2);
    let group = unique("g-cutoff");
    let proxy = support::proxy::Proxy::start(bootstrap());
    // earliest, session 6 s, heartbeat 0.5 s, no auto commit
    let config = support::fault::config(&proxy.address(), Some(&group), &[]);
    let a = Consumer::new(config).await.unwrap();
    a.subscribe(&[&topic]).unwrap();
    poll_until(&[&a], "a owns both", disjoint_and_complete(&topic, 2)).await;
    for p in ["0", "1"] {
        produce(&topic, &["--partition", p, "--count", "200"]);
    }
    // Let the fetcher buffer them, without handing any out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(a.buffered_bytes() > 0, "records were buffered");

    proxy.stall_all();
    tokio::time::sleep(Duration::from_millis(7500)).await; // > session.timeout.ms, no poll
    let mut before_lost = Vec::new();
    let mut lost = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while lost.is_none() && Instant::now() < deadline {
        match a.poll_event(Duration::from_millis(100)).await {
            Some(Ok(Event::Lost(tps))) => lost = Some(tps),
            Some(Ok(Event::Message(m))) => before_lost.push((m.partition, m.offset)),
            _ => {}
        }
    }
    assert!(
        before_lost.is_empty(),
        "{} buffered records handed out after the session expired, first {:?}",
        before_lost.len(),
        &before_lost[..before_lost.len().min(5)]
    );
    let lost = lost.expect("a Lost event while the coordinator is unreachable");
    assert_eq!(lost.len(), 2, "both partitions lost: {lost:?}");
    assert!(a.assignment().is_empty());
    // Still cut off: nothing of the lost partitions comes out.
    while let Some(event) = a.poll_event(Duration::from_millis(500)).await {
        assert!(
            !matches!(event, Ok(Event::Message(_))),
            "a record while no partition is assigned: {event:?}"
        );
    }

    proxy.resume();
    let mut offsets: HashMap<i32, BTreeSet<i64>> = HashMap::new();
    let deadline = Instant::now() + WAIT;
    while offsets.values().map(BTreeSet::len).sum::<usize>() < 400 {
        assert!(
            Instant::now() < deadline,
            "rejoined and read everything again: {:?} of each, assignment {:?}",
            offsets
                .iter()
                .map(|(p, o)| (p, o.len()))
                .collect::<Vec<_>>(),
            a.assignment()
        );
        if let Some(Ok(Event::Message(m))) = a.poll_event(Duration::from_millis(100)).await {
            offsets.entry(m.partition).or_default().insert(m.offset);
        }
    }
    assert!(disjoint_and_complete(&topic, 2)(&[a.assignment()]));
}

/// The assignor-mix rule holds however the config was built: strategies set through the public
/// field (bypassing `set`) are checked when subscribing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_rejects_a_mix_of_eager_and_cooperative_assignors_set_through_the_field() {
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config.set("group.id", &unique("g-mix")).unwrap();
    config.group.assignment_strategy = vec!["range".into(), "cooperative-sticky".into()];
    let consumer = Consumer::new(config).await.unwrap();
    let result = consumer.subscribe(&["any-topic"]);
    assert!(
        matches!(result, Err(rskafka_consumer::Error::Config(_))),
        "{result:?}"
    );
}
