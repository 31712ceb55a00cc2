//! A group member's process fails: killed (SIGKILL) in the middle of a backlog, or stopped
//! (SIGSTOP) for longer than session.timeout.ms and then resumed. The victim is `rkc consume -G
//! --commit sync` (a real process to signal), the survivor our library consumer; the shared
//! test broker. Each test checks, against the librdkafka reference reader and the committed
//! offsets: nothing lost, nothing that is not in the log, duplicates only of records that were
//! not committed. The stopped member must, once resumed, find itself fenced (a `lost` event),
//! hand out nothing of the partitions it lost, commit nothing over the new owner, and rejoin.
//! Recovery times (signal → the survivor's first record of the victim's partitions), ours and
//! confluent-kafka's in the same situation, are printed with `eprintln!` (`--nocapture`).
//!
//! The tests are serialized: they time recoveries, and CI machines are small.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    GroupPeer, OurMember, RkcProcess, SteadyProducer, bootstrap, create_topic, group_offsets,
    now_secs, read_all_at, unique,
};

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

const WAIT: Duration = Duration::from_secs(40);
const PARTITIONS: [i32; 4] = [0, 1, 2, 3];
/// A steady producer writes one record to every partition this often, so the victim is
/// always in the middle of its partitions when the signal comes.
const PRODUCE_EVERY: Duration = Duration::from_millis(10);
/// rkc's stdout buffer: lines written before a SIGSTOP may reach the pipe only after SIGCONT.
const RKC_STDOUT_BUFFER: usize = 64 * 1024;

/// `rkc consume -G group` with commits after every batch, session 6 s.
fn rkc_member(group: &str, topic: &str) -> RkcProcess {
    RkcProcess::spawn(&[
        "consume",
        "-b",
        bootstrap(),
        "-G",
        group,
        "-t",
        topic,
        "-o",
        "beginning",
        "--commit",
        "sync",
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
    ])
}

/// Sends `signal` to a process id.
fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Resumes a stopped process however the test ends.
struct ContinueOnDrop(u32);

impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.0.to_string())
            .status();
    }
}

fn partitions_of(owned: &BTreeSet<(String, i32)>) -> BTreeSet<i32> {
    owned.iter().map(|(_, p)| *p).collect()
}

/// Takes in the victim's output and polls our member until `done`; fails after `WAIT`.
async fn until(
    victim: &mut RkcProcess,
    ours: &mut OurMember,
    what: &str,
    done: impl Fn(&RkcProcess, &OurMember) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(victim, ours) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nvictim:\n{}\nours:\n{}",
            victim.describe(),
            ours.describe()
        );
        victim.observe_for(Duration::from_millis(20));
        ours.pump().await;
    }
}

/// Every `(partition, offset)` the victim printed, with its value.
fn victim_records(victim: &RkcProcess) -> Vec<(i32, i64, String)> {
    victim
        .messages
        .iter()
        .map(|m| {
            (
                m["partition"].as_i64().unwrap() as i32,
                m["offset"].as_i64().unwrap(),
                m["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Against the reference reader: the victim's and our records together cover the log with the
/// same values and nothing else, every record delivered twice lies at or above
/// `committed_then` (it was not committed when the victim failed), and the group's committed
/// offsets are the log ends.
fn verify_union(
    topic: &str,
    group: &str,
    victim: &RkcProcess,
    ours: &OurMember,
    committed_then: &BTreeMap<i32, i64>,
) {
    let reference: BTreeMap<(i32, i64), String> = read_all_at(bootstrap(), topic)
        .iter()
        .map(|m| {
            (
                (
                    m["partition"].as_i64().unwrap() as i32,
                    m["offset"].as_i64().unwrap(),
                ),
                m["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut times: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (p, o, v) in victim_records(victim) {
        *times.entry((p, o)).or_default() += 1;
        if reference.get(&(p, o)).is_some_and(|r| *r != v) {
            wrong.push((p, o));
        }
    }
    for (p, o, _) in &ours.messages {
        *times.entry((*p, *o)).or_default() += 1;
    }
    let missing: Vec<&(i32, i64)> = reference
        .keys()
        .filter(|k| !times.contains_key(k))
        .collect();
    let phantom: Vec<&(i32, i64)> = times
        .keys()
        .filter(|k| !reference.contains_key(k))
        .collect();
    let bad_dups: Vec<(i32, i64)> = times
        .iter()
        .filter(|(k, n)| **n > 1 && k.1 < committed_then.get(&k.0).copied().unwrap_or(0))
        .map(|(k, _)| *k)
        .collect();
    let dups = times.values().filter(|n| **n > 1).count();
    eprintln!(
        "[{topic}] reference {} records; delivered {} distinct, {dups} twice; committed when the victim failed {committed_then:?}",
        reference.len(),
        times.len()
    );
    assert!(
        missing.is_empty() && phantom.is_empty() && wrong.is_empty(),
        "missing {} {:?}…, not in the log {phantom:?}, different value {wrong:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        bad_dups.is_empty(),
        "delivered again below the offsets committed when the victim failed: {:?}…",
        &bad_dups[..bad_dups.len().min(10)]
    );
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o) in reference.keys() {
        let e = ends.entry(*p).or_insert(0);
        *e = (*e).max(o + 1);
    }
    assert_eq!(
        group_offsets(group, topic),
        ends,
        "committed offsets vs log ends"
    );
}

/// Our member and the rkc victim in one group, two partitions each, a steady producer writing
/// to every partition, and the victim reading (it printed at least 200 records).
async fn victim_while_producing(
    name: &str,
) -> (String, String, RkcProcess, OurMember, SteadyProducer) {
    let topic = unique(&format!("proc-{name}"));
    create_topic(&topic, PARTITIONS.len() as u32);
    let group = unique(&format!("proc-{name}-g"));
    let mut ours = OurMember::start("survivor", &group, &[&topic], &[]).await;
    let mut victim = rkc_member(&group, &topic);
    until(&mut victim, &mut ours, "two partitions each", |v, o| {
        v.owned().len() == 2 && o.owned.len() == 2 && o.events_match_assignment()
    })
    .await;
    let producer = SteadyProducer::start(&topic, PARTITIONS.len() as i32, PRODUCE_EVERY);
    until(&mut victim, &mut ours, "the victim reading", |v, _| {
        v.messages.len() >= 200
    })
    .await;
    (topic, group, victim, ours, producer)
}

/// Stops the producer and waits until the victim's and our records together are everything
/// it wrote.
async fn read_everything(victim: &mut RkcProcess, ours: &mut OurMember, producer: SteadyProducer) {
    let next = tokio::task::spawn_blocking(move || producer.finish())
        .await
        .unwrap();
    let total: i64 = next.values().sum();
    until(victim, ours, "every record read", |v, o| {
        let mut all: BTreeSet<(i32, i64)> = o.messages.iter().map(|m| (m.0, m.1)).collect();
        all.extend(victim_records(v).iter().map(|m| (m.0, m.1)));
        all.len() as i64 >= total
    })
    .await;
}

/// The same failure for two confluent-kafka members (their own group): signal one in the
/// middle of its backlog; returns the survivor's time to the victim's first record.
fn librdkafka_recovery(name: &str, signal: &str) -> Option<f64> {
    let topic = unique(&format!("proc-ref-{name}"));
    create_topic(&topic, PARTITIONS.len() as u32);
    let group = unique(&format!("proc-ref-{name}-g"));
    let extra = ["--commit-every", "100"];
    let mut survivor = GroupPeer::spawn(&group, &topic, "range", &extra);
    survivor.wait_until(WAIT, "assigned", |p| p.owned.len() == 4);
    let mut victim = GroupPeer::spawn(&group, &topic, "range", &extra);
    let deadline = Instant::now() + WAIT;
    while !(victim.owned.len() == 2 && survivor.owned.len() == 2) {
        assert!(Instant::now() < deadline, "{}", victim.describe());
        victim.pump_for(Duration::from_millis(50));
        survivor.pump_for(Duration::from_millis(50));
    }
    let victims = partitions_of(&victim.owned);
    let producer = SteadyProducer::start(&topic, PARTITIONS.len() as i32, PRODUCE_EVERY);
    victim.wait_until(WAIT, "reading", |p| p.messages().len() >= 200);
    let pid = victim.process.pid();
    let _resume = ContinueOnDrop(pid);
    let at = now_secs();
    kill(signal, pid);
    let first = |s: &GroupPeer| {
        s.lines
            .iter()
            .filter(|l| l["event"] == "message" && l["ts"].as_f64().unwrap_or(0.0) >= at)
            .find(|l| victims.contains(&(l["partition"].as_i64().unwrap_or(-1) as i32)))
            .map(|l| l["ts"].as_f64().unwrap() - at)
    };
    let deadline = Instant::now() + WAIT;
    while first(&survivor).is_none() && Instant::now() < deadline {
        survivor.pump_for(Duration::from_millis(100));
    }
    producer.finish();
    first(&survivor)
}

/// The first record our member got after `since` from one of `partitions`.
fn first_of(ours: &OurMember, since: f64, partitions: &BTreeSet<i32>) -> Option<f64> {
    ours.messages
        .iter()
        .find(|(p, _, ts)| *ts >= since && partitions.contains(p))
        .map(|(_, _, ts)| ts - since)
}

fn show(t: Option<f64>) -> String {
    t.map_or_else(|| "no record".into(), |t| format!("{t:.2} s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_mid_backlog_hands_its_partitions_over_and_only_uncommitted_records_come_again()
 {
    let _serial = serial().await;
    let (topic, group, mut victim, mut ours, producer) = victim_while_producing("kill").await;
    let victims = partitions_of(&victim.owned());
    let printed = victim.messages.len();
    let killed = now_secs();
    victim.signal("KILL");
    // Nobody can commit the victim's partitions before the session times out (6 s).
    let committed_then = group_offsets(&group, &topic);
    until(
        &mut victim,
        &mut ours,
        "the survivor owns every partition",
        |_, o| o.owned.len() == 4,
    )
    .await;
    read_everything(&mut victim, &mut ours, producer).await;
    eprintln!(
        "RECOVERY member SIGKILLed (kill → the survivor's first record of its partitions {victims:?}): {} [victim printed {printed} records]",
        show(first_of(&ours, killed, &victims))
    );
    eprintln!(
        "RECOVERY-librdkafka member SIGKILLed: {}",
        show(librdkafka_recovery("kill", "KILL"))
    );
    ours.consumer.commit().await.unwrap();
    verify_union(&topic, &group, &victim, &ours, &committed_then);
    ours.consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_stopped_past_the_session_timeout_is_fenced_on_resume_hands_out_nothing_stale_and_rejoins()
 {
    let _serial = serial().await;
    let (topic, group, mut victim, mut ours, producer) = victim_while_producing("stop").await;
    let victims = partitions_of(&victim.owned());
    let stopped = now_secs();
    victim.signal("STOP");
    let _resume = ContinueOnDrop(victim.pid());
    // Nobody can commit the victim's partitions before the session times out (6 s).
    let committed_then = group_offsets(&group, &topic);
    until(
        &mut victim,
        &mut ours,
        "the survivor owns every partition",
        |_, o| o.owned.len() == 4,
    )
    .await;
    // Let the survivor read the victim's partitions for a while, then everything.
    until(
        &mut victim,
        &mut ours,
        "the survivor reading the victim's partitions",
        |_, o| {
            o.messages
                .iter()
                .filter(|m| m.2 >= stopped && victims.contains(&m.0))
                .count()
                >= 500
        },
    )
    .await;
    read_everything(&mut victim, &mut ours, producer).await;
    ours.consumer.commit().await.unwrap();
    let committed_before = group_offsets(&group, &topic);
    victim.observe_for(Duration::from_millis(200)); // the pipe holds nothing more
    let printed_before = victim.messages.len();
    let lost_before = victim.events_of("lost").len();

    let resumed = now_secs();
    victim.signal("CONT");
    until(
        &mut victim,
        &mut ours,
        "the victim lost its partitions and rejoined",
        |v, o| {
            let lost = v.events_of("lost").len() > lost_before;
            let after_lost = v
                .events
                .iter()
                .rposition(|e| e["event"] == "lost")
                .is_some_and(|i| v.events[i..].iter().any(|e| e["event"] == "assigned"));
            lost && after_lost && v.owned().len() == 2 && o.owned.len() == 2
        },
    )
    .await;
    let resumed_to_lost = now_secs() - resumed;

    // What the victim printed after SIGCONT from the partitions it had lost, below what the
    // survivor had committed: only lines still in rkc's stdout buffer from before the stop
    // may be there, never records handed out after it.
    let stale: Vec<&Value> = victim.messages[printed_before..]
        .iter()
        .filter(|m| {
            let p = m["partition"].as_i64().unwrap() as i32;
            victims.contains(&p)
                && m["offset"].as_i64().unwrap() < committed_before.get(&p).copied().unwrap_or(0)
        })
        .collect();
    // A record written after the stop cannot have been handed out before it (250 ms covers
    // the `kill` command's own latency): if it is stale, it was handed out after the resume.
    let written_after_stop: Vec<&&Value> = stale
        .iter()
        .filter(|m| m["timestamp"].as_f64().unwrap_or(0.0) / 1000.0 > stopped + 0.25)
        .collect();
    let stale_bytes: usize = stale.iter().map(|m| m.to_string().len() + 1).sum();
    eprintln!(
        "[stop] after SIGCONT the victim printed {} lines, {} of them older than the survivor's commits ({stale_bytes} bytes: its stdout buffer from before the stop); events {:?}",
        victim.messages.len() - printed_before,
        stale.len(),
        victim.events
    );
    assert!(
        written_after_stop.is_empty(),
        "the resumed member handed out {} records of partitions it had lost, written after it was stopped and already committed by the survivor; first {}",
        written_after_stop.len(),
        written_after_stop[0]
    );
    assert!(
        stale_bytes <= RKC_STDOUT_BUFFER,
        "the resumed member handed out {} records ({stale_bytes} bytes of output) of partitions it had lost, already committed by the survivor",
        stale.len()
    );
    let committed_after = group_offsets(&group, &topic);
    for (p, c) in &committed_before {
        assert!(
            committed_after.get(p).is_some_and(|a| a >= c),
            "partition {p}: committed offset went back from {c} to {:?} (the fenced member committed)",
            committed_after.get(p)
        );
    }
    eprintln!(
        "RECOVERY member SIGSTOPped past session.timeout (stop → the survivor's first record of its partitions {victims:?}): {} [SIGCONT → lost and rejoined: {resumed_to_lost:.2} s]",
        show(first_of(&ours, stopped, &victims))
    );
    eprintln!(
        "RECOVERY-librdkafka member SIGSTOPped past session.timeout: {}",
        show(librdkafka_recovery("stop", "STOP"))
    );

    // Both leave in order; everything is committed.
    victim.signal("TERM");
    assert_eq!(victim.wait_exit(WAIT), 0, "{}", victim.describe());
    until(
        &mut victim,
        &mut ours,
        "the survivor owns every partition again",
        |_, o| o.owned.len() == 4,
    )
    .await;
    ours.consumer.commit().await.unwrap();
    verify_union(&topic, &group, &victim, &ours, &committed_then);
    ours.consumer.close().await;
}
