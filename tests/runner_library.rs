//! The runner as a library against the real broker: retries, ordering, commits of the
//! contiguous finished prefix, the dead-letter path (through an in-memory sink), the circuit
//! breaker. confluent-kafka produces and reads the group's committed offsets.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rskafka_consumer::{
    Message,
    runner::{
        HandlerError, MemorySink, RunSummary, Runner, RunnerConfig, RunnerEvent, RunnerHandle,
        current_attempt, handler_fn,
    },
};
use support::{bootstrap, create_topic, group_offsets, produce, unique, watermarks};

fn config(topic: &str, group: &str, extra: &str) -> RunnerConfig {
    config_with(topic, group, "", extra)
}

/// [`config`] with more `[kafka]` properties.
fn config_with(topic: &str, group: &str, kafka: &str, extra: &str) -> RunnerConfig {
    let text = format!(
        r#"
[kafka]
"bootstrap.servers" = "{}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
{kafka}
[source]
topics = ["{topic}"]
{extra}
"#,
        bootstrap()
    );
    RunnerConfig::from_toml(&text, Path::new("test.toml")).expect("test config")
}

/// One call of the handler: (partition, offset, key, attempt, succeeded).
type Call = (i32, i64, Option<String>, u32, bool);

#[derive(Default)]
struct Record {
    calls: Mutex<Vec<Call>>,
    events: Mutex<Vec<RunnerEvent>>,
}

impl Record {
    fn call(&self, m: &Message, ok: bool) {
        let key = m
            .key
            .as_ref()
            .map(|k| String::from_utf8_lossy(k).into_owned());
        self.calls
            .lock()
            .unwrap()
            .push((m.partition, m.offset, key, current_attempt(), ok));
    }
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
    fn succeeded(&self) -> BTreeSet<(i32, i64)> {
        self.calls()
            .into_iter()
            .filter(|c| c.4)
            .map(|c| (c.0, c.1))
            .collect()
    }
    fn events(&self) -> Vec<RunnerEvent> {
        self.events.lock().unwrap().clone()
    }
    /// Records the call and turns `ok` into the handler's result (`fail` when not ok).
    fn outcome(
        &self,
        m: &Message,
        ok: bool,
        fail: impl FnOnce() -> HandlerError,
    ) -> Result<(), HandlerError> {
        self.call(m, ok);
        if ok { Ok(()) } else { Err(fail()) }
    }
    /// How many recorded events match.
    fn count(&self, matches: impl Fn(&RunnerEvent) -> bool) -> usize {
        self.events().iter().filter(|e| matches(e)).count()
    }
}

async fn wait_for(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stop(handle: RunnerHandle, task: tokio::task::JoinHandle<RunSummary>) -> RunSummary {
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(40), task)
        .await
        .expect("the runner stops after shutdown")
        .expect("runner task")
}

/// A new topic of `partitions` partitions and a new group id, both named after `name`.
fn fresh(name: &str, partitions: u32) -> (String, String) {
    let topic = unique(name);
    create_topic(&topic, partitions);
    (topic, unique(&format!("{name}-g")))
}

/// `count` records into each of `partitions` of `topic`.
fn produce_each(topic: &str, partitions: &[&str], count: &str) {
    for p in partitions {
        produce(topic, &["--partition", p, "--count", count]);
    }
}

/// Runs `runner` in a task; its handle stops it.
fn spawn(runner: Runner) -> (RunnerHandle, tokio::task::JoinHandle<RunSummary>) {
    let handle = runner.handle();
    let task = tokio::spawn(async move { runner.run().await.expect("run") });
    (handle, task)
}

/// The group's committed offsets now, read off the runtime's threads.
async fn committed_now(group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let (g, t) = (group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || group_offsets(&g, &t))
        .await
        .unwrap()
}

/// The group committed every partition of `topic` up to its log end.
fn assert_committed_to_the_log_end(group: &str, topic: &str) {
    let log_ends: BTreeMap<i32, i64> = watermarks(topic)
        .into_iter()
        .map(|(p, (_, high))| (p, high))
        .collect();
    assert_eq!(group_offsets(group, topic), log_ends);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flaky_messages_succeed_on_a_later_attempt_and_commits_reach_the_log_end() {
    let (topic, group) = fresh("runner-flaky", 2);
    produce_each(&topic, &["0", "1"], "10");
    let record = Arc::new(Record::default());
    let r = Arc::clone(&record);
    let e = Arc::clone(&record);
    let runner = Runner::builder(config(
        &topic,
        &group,
        "[retry]\nmax_attempts = 5\ninitial_backoff = \"10ms\"\nmax_backoff = \"50ms\"",
    ))
    .handler(handler_fn(move |m: Message| {
        let r = Arc::clone(&r);
        async move {
            // Every third message fails twice, then succeeds.
            let ok = m.offset % 3 != 0 || current_attempt() >= 3;
            r.outcome(&m, ok, || HandlerError::retryable("flaky"))
        }
    }))
    .on_event(move |ev| e.events.lock().unwrap().push(ev.clone()))
    .build()
    .unwrap();
    let (handle, task) = spawn(runner);
    wait_for("all 20 messages processed", Duration::from_secs(60), || {
        record.succeeded().len() == 20
    })
    .await;
    let summary = stop(handle, task).await;

    let calls = record.calls();
    for (p, o) in (0..2).flat_map(|p| (0..10).map(move |o| (p, o))) {
        let attempts: Vec<u32> = calls
            .iter()
            .filter(|c| c.0 == p && c.1 == o)
            .map(|c| c.3)
            .collect();
        let want: Vec<u32> = if o % 3 == 0 { vec![1, 2, 3] } else { vec![1] };
        assert_eq!(attempts, want, "attempts of {p}/{o}");
    }
    let retries = record.count(|e| matches!(e, RunnerEvent::Retry { .. }));
    assert_eq!(retries, 2 * 8, "two retry events per flaky message");
    assert_eq!(summary.processed, 20);
    assert_eq!(summary.unfinished, 0);
    assert_committed_to_the_log_end(&group, &topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrying_message_holds_only_its_partition() {
    let (topic, group) = fresh("runner-hold", 2);
    produce_each(&topic, &["0", "1"], "10");
    let record = Arc::new(Record::default());
    let r = Arc::clone(&record);
    let runner = Runner::builder(config(
        &topic,
        &group,
        "[retry]\nmax_attempts = 1000\ninitial_backoff = \"20ms\"\nmax_backoff = \"100ms\"",
    ))
    .handler(handler_fn(move |m: Message| {
        let r = Arc::clone(&r);
        async move {
            // 0/0 fails until every message of partition 1 was processed: it can only
            // succeed if partition 1 went on while it waited.
            let others_done = r.succeeded().iter().filter(|(p, _)| *p == 1).count() == 10;
            let ok = !(m.partition == 0 && m.offset == 0) || others_done;
            r.outcome(&m, ok, || HandlerError::retryable("downstream busy"))
        }
    }))
    .build()
    .unwrap();
    let (handle, task) = spawn(runner);
    wait_for("all 20 messages processed", Duration::from_secs(60), || {
        record.succeeded().len() == 20
    })
    .await;
    stop(handle, task).await;

    let calls = record.calls();
    let held_until = calls
        .iter()
        .position(|c| c.0 == 0 && c.1 == 0 && c.4)
        .expect("0/0 succeeded");
    assert!(calls[held_until].3 > 1, "0/0 was retried");
    // Partition 0 waited behind its retrying message: nothing after it ran before.
    assert!(
        calls[..held_until].iter().all(|c| c.0 == 1 || c.1 == 0),
        "partition 0 went past its retrying message: {calls:?}"
    );
    // Partition 1 went on meanwhile: all of it ran before 0/0 succeeded.
    assert_eq!(
        calls[..held_until]
            .iter()
            .filter(|c| c.0 == 1 && c.4)
            .count(),
        10
    );
    assert_committed_to_the_log_end(&group, &topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_ordering_keeps_per_key_order_and_commits_never_pass_an_unfinished_message() {
    let (topic, group) = fresh("runner-keys", 1);
    // Keys k0, k1, k2 again and again (and a unique key every fourth record).
    produce(&topic, &["--count", "40", "--key-mod", "3"]);
    let record = Arc::new(Record::default());
    let release = Arc::new(AtomicBool::new(false));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, rel, run, mo) = (
        Arc::clone(&record),
        Arc::clone(&release),
        Arc::clone(&running),
        Arc::clone(&most),
    );
    let runner = Runner::builder(config(
        &topic,
        &group,
        "[handler]\nordering = \"key\"\nmax_in_flight = 8\n\
         [retry]\nmax_attempts = 1000\ninitial_backoff = \"20ms\"\nmax_backoff = \"100ms\"",
    ))
    .handler(handler_fn(move |m: Message| {
        let (r, rel, run, mo) = (
            Arc::clone(&r),
            Arc::clone(&rel),
            Arc::clone(&run),
            Arc::clone(&mo),
        );
        async move {
            let now = run.fetch_add(1, Ordering::SeqCst) + 1;
            mo.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Offset 1 (key k1) is held until the test releases it.
            let ok = m.offset != 1 || rel.load(Ordering::SeqCst);
            run.fetch_sub(1, Ordering::SeqCst);
            r.outcome(&m, ok, || HandlerError::retryable("held"))
        }
    }))
    .build()
    .unwrap();
    let (handle, task) = spawn(runner);
    let key_of = |c: &Call| c.2.clone().unwrap_or_default();
    wait_for(
        "every message of other keys processed",
        Duration::from_secs(60),
        || {
            let calls = record.calls();
            let done = calls.iter().filter(|c| c.4 && key_of(c) != "k1").count();
            let others = (0..40).filter(|i| !(i % 4 != 0 && i % 3 == 1)).count();
            done == others
        },
    )
    .await;
    // Whatever the runner committed meanwhile stops at the held message.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let committed = committed_now(&group, &topic).await;
    assert!(
        committed.get(&0).is_none_or(|&c| c <= 1),
        "committed {committed:?} past the unfinished offset 1"
    );
    assert!(
        !record.calls().iter().any(|c| key_of(c) == "k1" && c.1 > 1),
        "a later k1 message ran before the held one finished"
    );
    release.store(true, Ordering::SeqCst);
    wait_for("all 40 processed", Duration::from_secs(60), || {
        record.succeeded().len() == 40
    })
    .await;
    stop(handle, task).await;

    let calls = record.calls();
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    for c in &calls {
        if let Some(prev) = last.insert(key_of(c), c.1) {
            assert!(c.1 >= prev, "key {} ran {} after {prev}", key_of(c), c.1);
        }
    }
    assert!(
        most.load(Ordering::SeqCst) > 1,
        "different keys of one partition ran concurrently"
    );
    assert_committed_to_the_log_end(&group, &topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_dlq_stalls_the_partition_until_the_letter_lands() {
    let (topic, group) = fresh("runner-dlq-down", 1);
    produce(&topic, &["--count", "10"]);
    let record = Arc::new(Record::default());
    let sink = Arc::new(MemorySink::new());
    sink.set_failing(true);
    let (r, e) = (Arc::clone(&record), Arc::clone(&record));
    let runner = Runner::builder(config(
        &topic,
        &group,
        "[retry]\nmax_attempts = 2\ninitial_backoff = \"10ms\"\nmax_backoff = \"200ms\"",
    ))
    .handler(handler_fn(move |m: Message| {
        let r = Arc::clone(&r);
        async move {
            let ok = m.offset != 3;
            r.outcome(&m, ok, || {
                HandlerError::permanent("poison").with_class("BadOrder")
            })
        }
    }))
    .dead_letter_sink(sink.clone())
    .on_event(move |ev| e.events.lock().unwrap().push(ev.clone()))
    .build()
    .unwrap();
    let (handle, task) = spawn(runner);
    wait_for(
        "the DLQ outage is reported",
        Duration::from_secs(60),
        || {
            record
                .events()
                .iter()
                .any(|e| matches!(e, RunnerEvent::DlqUnavailable { .. }))
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let committed = committed_now(&group, &topic).await;
    assert!(
        committed.get(&0).is_none_or(|&c| c <= 3),
        "committed {committed:?} past the message waiting for the DLQ"
    );
    assert!(
        record.calls().iter().all(|c| c.1 <= 3),
        "the partition went past the message waiting for the DLQ"
    );
    let outages = record.count(|e| matches!(e, RunnerEvent::DlqUnavailable { .. }));
    assert_eq!(outages, 1, "one report per outage");
    sink.set_failing(false);
    wait_for("the rest processed", Duration::from_secs(60), || {
        record.succeeded().len() == 9
    })
    .await;
    let summary = stop(handle, task).await;
    let letters = sink.letters();
    assert_eq!(letters.len(), 1, "dead-lettered exactly once");
    assert_eq!(letters[0].message.offset, 3);
    assert_eq!(letters[0].error_class, "BadOrder");
    assert_eq!(letters[0].attempts, 1, "a permanent failure is not retried");
    assert_eq!(summary.dead_lettered, 1);
    assert_committed_to_the_log_end(&group, &topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downstream_outage_opens_the_circuit_instead_of_dead_lettering_the_topic() {
    let (topic, group) = fresh("runner-circuit", 2);
    produce_each(&topic, &["0", "1"], "20");
    let record = Arc::new(Record::default());
    let sink = Arc::new(MemorySink::new());
    let down = Arc::new(AtomicBool::new(true));
    let (r, e, d) = (Arc::clone(&record), Arc::clone(&record), Arc::clone(&down));
    let runner = Runner::builder(config(
        &topic,
        &group,
        "[retry]\nmax_attempts = 1\n\
         [dlq]\nmax_failure_ratio = 0.5\nwindow = \"60s\"\nmin_failures = 3\ncooldown = \"300ms\"",
    ))
    .handler(handler_fn(move |m: Message| {
        let (r, d) = (Arc::clone(&r), Arc::clone(&d));
        async move {
            let ok = !d.load(Ordering::SeqCst);
            r.outcome(&m, ok, || HandlerError::permanent("downstream 503"))
        }
    }))
    .dead_letter_sink(sink.clone())
    .on_event(move |ev| e.events.lock().unwrap().push(ev.clone()))
    .build()
    .unwrap();
    let (handle, task) = spawn(runner);
    // Open, then at least two failed half-open probes.
    wait_for(
        "the circuit opens and probes fail",
        Duration::from_secs(60),
        || {
            record
                .events()
                .iter()
                .any(|e| matches!(e, RunnerEvent::CircuitOpen { .. }))
                && record.calls().len() >= 6
        },
    )
    .await;
    assert!(
        sink.letters().len() < 3,
        "dead-lettered {} messages during the outage",
        sink.letters().len()
    );
    down.store(false, Ordering::SeqCst);
    wait_for(
        "everything ended after recovery",
        Duration::from_secs(60),
        || record.succeeded().len() + sink.letters().len() == 40,
    )
    .await;
    let summary = stop(handle, task).await;
    let events = record.events();
    let opened = record.count(|e| matches!(e, RunnerEvent::CircuitOpen { .. }));
    assert_eq!(opened, 1, "one circuit_open event per opening");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunnerEvent::CircuitClosed))
    );
    // Nothing lost: every message was processed or is in the DLQ.
    let mut ended = record.succeeded();
    ended.extend(
        sink.letters()
            .iter()
            .map(|l| (l.message.partition, l.message.offset)),
    );
    assert_eq!(ended.len(), 40);
    assert_eq!(summary.unfinished, 0);
    assert_committed_to_the_log_end(&group, &topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_hands_partitions_over_and_every_message_is_processed() {
    let (topic, group) = fresh("runner-rebalance", 4);
    produce_each(&topic, &["0", "1", "2", "3"], "25");
    let record = Arc::new(Record::default());
    let events = Arc::new(Mutex::new(Vec::<(usize, RunnerEvent)>::new()));
    // Member 0 cannot get past offset 5 of any partition before member 1 has partitions, so
    // there is always work left to hand over.
    let second_assigned = Arc::new(AtomicBool::new(false));
    let start = |member: usize| {
        let r = Arc::clone(&record);
        let ev = Arc::clone(&events);
        let gate = Arc::clone(&second_assigned);
        let gate_ev = Arc::clone(&second_assigned);
        let runner = Runner::builder(config(&topic, &group, "[handler]\nmax_in_flight = 4"))
            .handler(handler_fn(move |m: Message| {
                let (r, gate) = (Arc::clone(&r), Arc::clone(&gate));
                async move {
                    while member == 0 && m.offset >= 5 && !gate.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    r.call(&m, true);
                    Ok(())
                }
            }))
            .on_event(move |e| {
                if member == 1 && matches!(e, RunnerEvent::Assigned(t) if !t.is_empty()) {
                    gate_ev.store(true, Ordering::SeqCst);
                }
                ev.lock().unwrap().push((member, e.clone()))
            })
            .build()
            .unwrap();
        spawn(runner)
    };
    let (ha, ta) = start(0);
    wait_for("member 0 processed some", Duration::from_secs(60), || {
        record.calls().len() >= 10
    })
    .await;
    let (hb, tb) = start(1);
    wait_for("member 1 got partitions", Duration::from_secs(60), || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|(m, e)| *m == 1 && matches!(e, RunnerEvent::Assigned(t) if !t.is_empty()))
    })
    .await;
    wait_for("all 100 processed", Duration::from_secs(90), || {
        record.succeeded().len() == 100
    })
    .await;
    let a = stop(ha, ta).await;
    let b = stop(hb, tb).await;
    let processed = a.processed + b.processed;
    eprintln!(
        "processed {processed} for 100 messages (member 0: {}, member 1: {})",
        a.processed, b.processed
    );
    assert!(b.processed > 0, "the second member took partitions over");
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|(m, e)| *m == 0 && matches!(e, RunnerEvent::Revoked(_))),
        "member 0 revoked partitions"
    );
    assert_committed_to_the_log_end(&group, &topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_busy_and_waiting_past_max_poll_interval_keeps_the_membership() {
    let (topic, group) = fresh("runner-long", 1);
    produce(&topic, &["--count", "3"]);
    let record = Arc::new(Record::default());
    let (r, e) = (Arc::clone(&record), Arc::clone(&record));
    let runner = Runner::builder(config_with(
        &topic,
        &group,
        "\"max.poll.interval.ms\" = \"3000\"",
        "[handler]\ntimeout = \"60s\"\n\
         [retry]\nmax_attempts = 3\ninitial_backoff = \"5s\"\nmax_backoff = \"5s\"",
    ))
    .handler(handler_fn(move |m: Message| {
        let r = Arc::clone(&r);
        async move {
            // Offset 0: a first attempt longer than max.poll.interval.ms, then a retry wait
            // about as long, then success.
            if m.offset == 0 && current_attempt() == 1 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                r.call(&m, false);
                return Err(HandlerError::retryable("slow downstream"));
            }
            r.call(&m, true);
            Ok(())
        }
    }))
    .on_event(move |ev| e.events.lock().unwrap().push(ev.clone()))
    .build()
    .unwrap();
    let (handle, task) = spawn(runner);
    wait_for("all 3 processed", Duration::from_secs(60), || {
        record.succeeded().len() == 3
    })
    .await;
    stop(handle, task).await;
    let events = record.events();
    let assigned = events
        .iter()
        .filter(|e| matches!(e, RunnerEvent::Assigned(_)))
        .count();
    assert_eq!(assigned, 1, "assigned once: {events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, RunnerEvent::Lost(_) | RunnerEvent::Revoked(_))),
        "membership kept: {events:?}"
    );
    assert_committed_to_the_log_end(&group, &topic);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_attempt_is_retried_and_a_panicking_handler_is_dead_lettered() {
    let (topic, group) = fresh("runner-timeout", 1);
    produce(&topic, &["--count", "3"]);
    let record = Arc::new(Record::default());
    let sink = Arc::new(MemorySink::new());
    let (r, e) = (Arc::clone(&record), Arc::clone(&record));
    let runner = Runner::builder(config(
        &topic,
        &group,
        "[handler]\ntimeout = \"200ms\"\n\
         [retry]\nmax_attempts = 3\ninitial_backoff = \"10ms\"\nmax_backoff = \"50ms\"",
    ))
    .handler(handler_fn(move |m: Message| {
        let r = Arc::clone(&r);
        async move {
            if m.offset == 0 && current_attempt() == 1 {
                // Far past the timeout: the attempt is abandoned.
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            if m.offset == 1 {
                panic!("handler bug");
            }
            r.call(&m, true);
            Ok(())
        }
    }))
    .dead_letter_sink(sink.clone())
    .on_event(move |ev| e.events.lock().unwrap().push(ev.clone()))
    .build()
    .unwrap();
    let (handle, task) = spawn(runner);
    wait_for(
        "0 and 2 processed, 1 dead-lettered",
        Duration::from_secs(60),
        || record.succeeded().len() == 2 && sink.letters().len() == 1,
    )
    .await;
    stop(handle, task).await;
    let retry: Vec<(i64, u32, String)> = record
        .events()
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::Retry {
                source,
                attempt,
                error_class,
                ..
            } => Some((source.offset, *attempt, error_class.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(retry, [(0, 1, "Timeout".to_owned())]);
    let letter = &sink.letters()[0];
    assert_eq!(letter.message.offset, 1);
    assert_eq!(letter.error_class, "Panic");
    assert_eq!(letter.attempts, 1);
    assert_committed_to_the_log_end(&group, &topic);
}
