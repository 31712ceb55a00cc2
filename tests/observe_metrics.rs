//! Metrics and probes against the real broker: `rkc run` with `[metrics]` and library
//! runners with an [`Observer`] and its HTTP endpoint. Every exposition is parsed with a
//! Prometheus text parser (`prometheus-parse`); confluent-kafka produces.

mod support;

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use prometheus_parse::Scrape;
use rskafka_consumer::{
    Message,
    observe::{Metrics, Observer, server},
    runner::{
        HandlerError, MemorySink, RunSummary, Runner, RunnerConfig, RunnerHandle, handler_fn,
    },
};
use support::exposition::{http_get, parse, value};
use support::{RkcProcess, bootstrap, create_topic, produce, unique};

// --- HTTP and exposition helpers ---

/// `GET path` from an async test without blocking the runtime.
async fn get(addr: SocketAddr, path: &'static str) -> (u16, String) {
    tokio::task::spawn_blocking(move || http_get(addr, path))
        .await
        .unwrap()
}

/// Scrapes `/metrics` and parses it.
async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

/// Partitions that have a `metric` series.
fn partitions_of(scrape: &Scrape, metric: &str) -> BTreeSet<i32> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| s.labels.get("partition").unwrap().parse().unwrap())
        .collect()
}

fn config(topic: &str, group: &str, kafka: &str, extra: &str) -> RunnerConfig {
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

/// A library runner with an observer and its endpoint on a free loopback port.
struct Observed {
    addr: SocketAddr,
    observer: Arc<Observer>,
    handle: RunnerHandle,
    task: tokio::task::JoinHandle<RunSummary>,
}

async fn start(
    config: RunnerConfig,
    handler: impl rskafka_consumer::runner::Handler,
    sink: Option<Arc<MemorySink>>,
) -> Observed {
    let observer = Arc::new(Observer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = server::ServerState {
        observer: Arc::clone(&observer),
        metrics: Arc::new(Metrics::new(Arc::clone(&observer))),
        startup_grace: Duration::ZERO,
    };
    tokio::spawn(server::serve(
        listener,
        server::router(state),
        std::future::pending(),
    ));
    let mut builder = Runner::builder(config)
        .handler(handler)
        .hooks(Arc::clone(&observer));
    if let Some(sink) = sink {
        builder = builder.dead_letter_sink(sink);
    }
    let runner = builder.build().unwrap();
    let handle = runner.handle();
    let task = tokio::spawn(async move { runner.run().await.expect("run") });
    Observed {
        addr,
        observer,
        handle,
        task,
    }
}

impl Observed {
    /// Scrapes until `cond` holds on the exposition; returns that scrape.
    async fn scrape_until(&self, what: &str, cond: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = scrape(self.addr).await;
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what}\nlast statistics: {}",
                serde_json::to_string(&self.observer.statistics()).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) -> RunSummary {
        self.handle.shutdown();
        tokio::time::timeout(Duration::from_secs(40), self.task)
            .await
            .expect("the runner stops after shutdown")
            .expect("runner task")
    }
}

// --- library runners ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_falls_to_zero_as_a_held_back_backlog_is_consumed() {
    let topic = unique("obs-lag");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "1000"]);
    let gate = Arc::new(AtomicBool::new(false));
    let g = Arc::clone(&gate);
    // A tiny budget: the runner holds a few messages, pauses the partition, and the rest of
    // the backlog stays behind the position.
    let run = start(
        config(
            &topic,
            &format!("{topic}-g"),
            "\"queued.max.messages.kbytes\" = \"1\"",
            "[handler]\ntimeout = \"10m\"",
        ),
        handler_fn(move |_m: Message| {
            let g = Arc::clone(&g);
            async move {
                while !g.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(())
            }
        }),
        None,
    )
    .await;
    let p0 = [("topic", topic.as_str()), ("partition", "0")];
    let held = run
        .scrape_until("a backlog behind the paused position", |s| {
            value(s, "rkc_partition_lag", &p0).is_some_and(|l| l > 0.0)
                && value(s, "rkc_partition_paused", &p0) == Some(1.0)
        })
        .await;
    let first = value(&held, "rkc_partition_lag", &p0).unwrap();
    assert_eq!(
        value(&held, "rkc_partition_high_watermark", &p0),
        Some(1000.0)
    );
    assert!(first <= 1000.0);
    let committed_lag = |s: &Scrape| value(s, "rkc_partition_committed_lag", &p0);
    assert!(
        committed_lag(&held).is_some_and(|l| l >= first),
        "nothing processed yet"
    );
    gate.store(true, Ordering::SeqCst);
    // Every scrape until the end: neither lag ever grows (nothing new is produced).
    let mut lags = vec![first];
    let mut committed_lags: Vec<f64> = committed_lag(&held).into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let s = scrape(run.addr).await;
        lags.extend(value(&s, "rkc_partition_lag", &p0));
        committed_lags.extend(committed_lag(&s));
        if value(&s, "rkc_partition_lag", &p0) == Some(0.0)
            && value(&s, "rkc_partition_committed_lag", &p0) == Some(0.0)
        {
            break s;
        }
        assert!(Instant::now() < deadline, "lag never reached 0: {lags:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        value(&done, "rkc_partition_committed_offset", &p0),
        Some(1000.0)
    );
    assert_eq!(value(&done, "rkc_partition_position", &p0), Some(1000.0));
    assert_eq!(
        value(
            &done,
            "rkc_handler_outcomes_total",
            &[("outcome", "processed")]
        ),
        Some(1000.0)
    );
    assert_eq!(
        value(&done, "rkc_handler_duration_seconds", &[]),
        Some(1000.0)
    );
    assert!(value(&done, "rkc_commits_total", &[]).unwrap() >= 1.0);
    assert!(value(&done, "rkc_consumed_records_total", &[("topic", &topic)]).unwrap() >= 1000.0);
    assert!(lags.windows(2).all(|w| w[0] >= w[1]), "{lags:?}");
    assert!(
        committed_lags.windows(2).all(|w| w[0] >= w[1]),
        "{committed_lags:?}"
    );
    let summary = run.stop().await;
    assert_eq!(summary.processed, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_partition_series_disappear_after_a_revoke_to_a_second_member() {
    let topic = unique("obs-revoke");
    let group = format!("{topic}-g");
    create_topic(&topic, 4);
    for p in 0..4 {
        produce(&topic, &["--partition", &p.to_string(), "--count", "5"]);
    }
    let ok = || handler_fn(|_m: Message| async { Ok(()) });
    let a = start(config(&topic, &group, "", ""), ok(), None).await;
    let all = a
        .scrape_until("the first member owns every partition", |s| {
            partitions_of(s, "rkc_partition_position").len() == 4
        })
        .await;
    let generation = value(&all, "rkc_group_generation", &[("group", &group)]).unwrap();
    assert_eq!(value(&all, "rkc_assigned_partitions", &[]), Some(4.0));
    assert_eq!(
        (0..4).collect::<BTreeSet<i32>>(),
        partitions_of(&all, "rkc_partition_lag")
    );

    let b = start(config(&topic, &group, "", ""), ok(), None).await;
    let a_after = a
        .scrape_until("the first member keeps two partitions", |s| {
            value(s, "rkc_assigned_partitions", &[]) == Some(2.0)
                && partitions_of(s, "rkc_partition_position").len() == 2
        })
        .await;
    let b_after = b
        .scrape_until("the second member owns two partitions", |s| {
            partitions_of(s, "rkc_partition_position").len() == 2
        })
        .await;
    let mine = partitions_of(&a_after, "rkc_partition_position");
    let theirs = partitions_of(&b_after, "rkc_partition_position");
    assert!(mine.is_disjoint(&theirs), "{mine:?} {theirs:?}");
    assert_eq!(mine.union(&theirs).count(), 4);
    for metric in [
        "rkc_partition_committed_offset",
        "rkc_partition_high_watermark",
        "rkc_partition_lag",
        "rkc_partition_paused",
    ] {
        assert!(
            partitions_of(&a_after, metric).is_subset(&mine),
            "{metric}: revoked partitions still reported"
        );
    }
    assert!(value(&a_after, "rkc_group_generation", &[]).unwrap() > generation);
    assert!(value(&a_after, "rkc_rebalances_total", &[]).unwrap() >= 2.0);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_not_ready_while_the_circuit_is_open_and_healthz_stays_ok() {
    let topic = unique("obs-circuit");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "20"]);
    let down = Arc::new(AtomicBool::new(true));
    let d = Arc::clone(&down);
    let run = start(
        config(
            &topic,
            &format!("{topic}-g"),
            "",
            "[retry]\nmax_attempts = 1\n\
             [dlq]\nmax_failure_ratio = 0.5\nwindow = \"60s\"\nmin_failures = 3\ncooldown = \"1s\"",
        ),
        handler_fn(move |_m: Message| {
            let d = Arc::clone(&d);
            async move {
                if d.load(Ordering::SeqCst) {
                    Err(HandlerError::permanent("downstream 503"))
                } else {
                    Ok(())
                }
            }
        }),
        Some(Arc::new(MemorySink::new())),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let not_ready = loop {
        let (status, body) = get(run.addr, "/readyz").await;
        if status == 503 && body.contains("circuit breaker") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "never not-ready for the circuit: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason: serde_json::Value = serde_json::from_str(&not_ready).unwrap();
    assert_eq!(reason["ok"], false);
    assert_eq!(get(run.addr, "/healthz").await.0, 200);
    let open = scrape(run.addr).await;
    assert_eq!(
        value(&open, "rkc_circuit_state", &[("state", "closed")]),
        Some(0.0),
        "the circuit is open or half-open: {not_ready}\n{}",
        serde_json::to_string(&run.observer.statistics()).unwrap()
    );
    down.store(false, Ordering::SeqCst);
    run.scrape_until("every message ended", |s| {
        value(s, "rkc_partition_committed_offset", &[("partition", "0")]) == Some(20.0)
            && value(s, "rkc_circuit_state", &[("state", "closed")]) == Some(1.0)
    })
    .await;
    let (status, body) = get(run.addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_consumer_delivers_statistics_every_statistics_interval_ms() {
    use rskafka_consumer::{Consumer, ConsumerConfig, Offset, TopicPartition};
    let topic = unique("obs-stats");
    create_topic(&topic, 2);
    for p in ["0", "1"] {
        produce(&topic, &["--partition", p, "--count", "25"]);
    }
    let observer = Arc::new(Observer::new());
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config.set("statistics.interval.ms", "200").unwrap();
    config.hooks = Arc::clone(&observer).into();
    let every = config.statistics_interval;
    let consumer = Consumer::new(config).await.unwrap();
    let mut stats = observer.statistics_channel(every);
    consumer
        .assign((0..2).map(|p| (TopicPartition::new(topic.as_str(), p), Offset::Beginning)))
        .unwrap();
    let mut received = 0;
    while received < 50 {
        let m = consumer
            .poll(Duration::from_secs(10))
            .await
            .expect("a message");
        m.unwrap();
        received += 1;
    }
    // Snapshots keep coming; wait for one that shows everything consumed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let s = tokio::time::timeout(Duration::from_secs(5), stats.recv())
            .await
            .expect("a snapshot every 200 ms")
            .expect("the channel is open");
        if s.partitions.len() == 2 && s.partitions.iter().all(|p| p.lag == Some(0)) {
            break s;
        }
        assert!(Instant::now() < deadline, "{s:?}");
    };
    assert!(last.group.is_none());
    assert_eq!(
        last.partitions
            .iter()
            .map(|p| (p.partition, p.position, p.high_watermark))
            .collect::<Vec<_>>(),
        vec![(0, Some(25), Some(25)), (1, Some(25), Some(25))]
    );
    assert_eq!(last.topics.len(), 1);
    assert_eq!(last.topics[0].records, 50);
    assert!(last.brokers.iter().map(|b| b.fetch_requests).sum::<u64>() >= 1);
    let json = serde_json::to_value(&last).unwrap();
    assert_eq!(json["partitions"][1]["lag"], 0);
    consumer.close().await;
}

// --- rkc run ---

/// The exec handler: exit 1 (permanent) for offsets in POISON, 75 (retryable) on the first
/// attempt for offsets in FLAKY, else 0.
const HANDLER: &str = r#"#!/bin/sh
exec >/dev/null
poison=" $1 "; flaky=" $2 "
cat >/dev/null
case "$poison" in *" $RKC_OFFSET "*) echo "rejected $RKC_OFFSET" >&2; exit 1;; esac
case "$flaky" in *" $RKC_OFFSET "*) if [ "$RKC_ATTEMPT" = 1 ]; then echo busy >&2; exit 75; fi;; esac
exit 0
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `path` on rkc's endpoint until `cond(status, body)`; fails after 60 s.
fn poll(
    p: &mut RkcProcess,
    addr: SocketAddr,
    path: &str,
    what: &str,
    cond: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(stream) = std::net::TcpStream::connect(addr) {
            drop(stream);
            let (status, body) = http_get(addr, path);
            if cond(status, &body) {
                return (status, body);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {status} {body}\n{}",
                p.describe()
            );
        } else {
            assert!(
                Instant::now() < deadline,
                "the endpoint never listened\n{}",
                p.describe()
            );
        }
        p.observe_for(Duration::from_millis(200));
    }
}

#[test]
fn rkc_run_serves_probes_and_metrics_that_count_dead_letters_and_retries() {
    let topic = unique("obs-run");
    let group = format!("{topic}-g");
    create_topic(&format!("{topic}.dlq"), 1);
    let dir = tempfile::tempdir().unwrap();
    let handler = dir.path().join("handler.sh");
    std::fs::write(&handler, HANDLER).unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let text = format!(
        r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = ["sh", "{handler}", "3 11", "5 20 25"]
[retry]
max_attempts = 3
initial_backoff = "50ms"
max_backoff = "200ms"
[metrics]
listen = "{addr}"
log_interval = "1s"
"#,
        bootstrap = bootstrap(),
        handler = handler.display(),
    );
    let config = dir.path().join("run.toml");
    std::fs::write(&config, text).unwrap();
    // The topic does not exist yet: the member joins without partitions.
    let mut p = RkcProcess::spawn(&["run", "--config", config.to_str().unwrap()]);
    poll(&mut p, addr, "/healthz", "healthz ok", |s, _| s == 200);
    poll(
        &mut p,
        addr,
        "/metrics",
        "a stable member without partitions",
        |_, body| {
            let s = parse(body);
            value(&s, "rkc_group_stable", &[("group", &group)]) == Some(1.0)
                && value(&s, "rkc_assigned_partitions", &[]) == Some(0.0)
        },
    );
    let (status, body) = http_get(addr, "/readyz");
    assert_eq!(status, 503, "not ready before the assignment: {body}");
    assert!(body.contains("without partitions"), "{body}");

    create_topic(&topic, 1);
    produce(&topic, &["--count", "30"]);
    poll(
        &mut p,
        addr,
        "/readyz",
        "ready with the partition",
        |s, _| s == 200,
    );
    let (_, body) = poll(
        &mut p,
        addr,
        "/metrics",
        "everything committed",
        |_, body| {
            let s = parse(body);
            value(&s, "rkc_partition_committed_offset", &[("topic", &topic)]) == Some(30.0)
                && value(&s, "rkc_partition_committed_lag", &[("topic", &topic)]) == Some(0.0)
        },
    );
    let s = parse(&body);
    let g = [("group", group.as_str())];
    assert_eq!(value(&s, "rkc_dlq_records_total", &g), Some(2.0), "{body}");
    assert_eq!(value(&s, "rkc_retries_total", &g), Some(3.0), "{body}");
    assert_eq!(value(&s, "rkc_dlq_produce_failures_total", &g), Some(0.0));
    assert_eq!(value(&s, "rkc_idempotency_skips_total", &g), Some(0.0));
    let outcome = |o: &str| value(&s, "rkc_handler_outcomes_total", &[("outcome", o)]);
    assert_eq!(outcome("permanent"), Some(2.0));
    assert_eq!(outcome("retryable"), Some(3.0));
    assert_eq!(outcome("processed"), Some(28.0));
    assert_eq!(value(&s, "rkc_dlq_produce_latency_seconds", &g), Some(2.0));
    assert_eq!(
        value(&s, "rkc_partition_lag", &[("topic", &topic)]),
        Some(0.0)
    );
    assert!(value(&s, "rkc_fetch_requests_total", &[]).unwrap() >= 1.0);
    assert_eq!(value(&s, "rkc_cluster_reachable", &[]), Some(1.0));

    p.wait_until(
        Duration::from_secs(30),
        "a progress line counting the DLQ",
        |p| p.stderr.contains("progress:") && p.stderr.contains("dlq 2, retries 3"),
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
}
