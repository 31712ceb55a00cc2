//! Benchmark peer: librdkafka through rust-rdkafka, as a Rust user would write it.
//!
//!     bench-peer-rdkafka base|stream BOOTSTRAP TOPIC GROUP PARTITIONS [key=value ...]
//!
//! Subscribes to TOPIC in consumer group GROUP (`auto.offset.reset=earliest`,
//! `enable.partition.eof=true`, `isolation.level=read_committed`, everything else librdkafka's
//! defaults), touches every message (adds the value length) and stops once PARTITIONS distinct
//! partitions have reported EOF. `base` polls a `BaseConsumer`, `stream` drives the
//! `StreamConsumer`'s `stream()` on tokio. Prints one JSON line (the bench protocol, see
//! bench/README.md) and exits 0; 1 on an error or a 60 s stall, 2 on bad arguments.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

const STALL: Duration = Duration::from_secs(60);

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

#[derive(Default)]
struct Tally {
    messages: u64,
    value_bytes: u64,
    eof: HashSet<i32>,
    first_ns: Option<u128>,
    /// Time and count at the last 256th message: the consume window without the EOF wait and
    /// without a clock read per message.
    sample_ns: u128,
    sample_messages: u64,
}

impl Tally {
    fn message<M: Message>(&mut self, m: &M) {
        if self.first_ns.is_none() {
            self.first_ns = Some(now_ns());
        }
        self.messages += 1;
        self.value_bytes += m.payload().map_or(0, |v| v.len() as u64);
        if self.messages % 256 == 0 {
            self.sample_ns = now_ns();
            self.sample_messages = self.messages;
        }
    }

    fn report(&self, mode: &str, end_ns: u128) {
        println!(
            "{{\"client\":\"rdkafka-{mode}\",\"librdkafka\":\"{}\",\"messages\":{},\"value_bytes\":{},\"partitions_eof\":{},\"first_record_unix_ns\":{},\"sample_unix_ns\":{},\"sample_messages\":{},\"end_unix_ns\":{}}}",
            rdkafka::util::get_rdkafka_version().1,
            self.messages,
            self.value_bytes,
            self.eof.len(),
            self.first_ns.map_or("null".to_string(), |t| t.to_string()),
            self.sample_ns,
            self.sample_messages,
            end_ns
        );
    }
}

fn config(bootstrap: &str, group: &str, extra: &[String]) -> Result<ClientConfig, String> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    for kv in extra {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("not key=value: {kv}"))?;
        c.set(k, v);
    }
    Ok(c)
}

fn run_base(c: ClientConfig, topic: &str, partitions: usize) -> Result<(Tally, u128), String> {
    let consumer: BaseConsumer = c.create().map_err(|e| e.to_string())?;
    consumer.subscribe(&[topic]).map_err(|e| e.to_string())?;
    let mut t = Tally::default();
    let mut last_progress = Instant::now();
    while t.eof.len() < partitions {
        // `poll` also returns `None` right after serving a non-message event (a rebalance).
        match consumer.poll(Duration::from_secs(1)) {
            None if last_progress.elapsed() > STALL => {
                return Err(format!("no message or EOF for {} s", STALL.as_secs()))
            }
            None => continue,
            Some(Ok(m)) => t.message(&m),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                t.eof.insert(p);
            }
            Some(Err(e)) => return Err(e.to_string()),
        }
        last_progress = Instant::now();
    }
    let end = now_ns();
    drop(consumer); // close: commit, leave the group, destroy
    Ok((t, end))
}

async fn run_stream(
    c: ClientConfig,
    topic: &str,
    partitions: usize,
) -> Result<(Tally, u128), String> {
    let consumer: StreamConsumer = c.create().map_err(|e| e.to_string())?;
    consumer.subscribe(&[topic]).map_err(|e| e.to_string())?;
    let mut t = Tally::default();
    {
        let mut stream = consumer.stream();
        while t.eof.len() < partitions {
            match tokio::time::timeout(STALL, stream.next()).await {
                Err(_) | Ok(None) => {
                    return Err(format!("no message or event for {} s", STALL.as_secs()))
                }
                Ok(Some(Ok(m))) => t.message(&m),
                Ok(Some(Err(KafkaError::PartitionEOF(p)))) => {
                    t.eof.insert(p);
                }
                Ok(Some(Err(e))) => return Err(e.to_string()),
            }
        }
    }
    let end = now_ns();
    drop(consumer);
    Ok((t, end))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, bootstrap, topic, group, partitions, extra @ ..] = args.as_slice() else {
        eprintln!(
            "usage: bench-peer-rdkafka base|stream BOOTSTRAP TOPIC GROUP PARTITIONS [k=v ...]"
        );
        return ExitCode::from(2);
    };
    let Ok(partitions) = partitions.parse::<usize>() else {
        eprintln!("PARTITIONS must be a number");
        return ExitCode::from(2);
    };
    let c = match config(bootstrap, group, extra) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match mode.as_str() {
        "base" => run_base(c, topic, partitions),
        "stream" => tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(run_stream(c, topic, partitions))),
        _ => {
            eprintln!("mode must be base or stream");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok((t, end)) => {
            t.report(mode, end);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-peer-rdkafka: {e}");
            ExitCode::FAILURE
        }
    }
}
