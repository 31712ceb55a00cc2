//! Benchmark consumer for `bench/consume`: reads every partition of a topic from the beginning
//! until each has reported partition EOF, with `Consumer::poll_batch`, touches every record
//! (sums the value lengths, checks the offset order) and
//! prints one JSON line with the totals on stdout (the bench protocol, see bench/README.md).
//!
//! ```sh
//! cargo run --release --example bench_consume -- 127.0.0.1:9092 TOPIC [--group GROUP] [--slow N] [key=value ...]
//! ```
//!
//! Without `--group` it `assign`s every partition at `Offset::Beginning`; with it, it
//! `subscribe`s in consumer group GROUP with `auto.offset.reset=earliest` (use a new group id per
//! run to start at offset zero). Extra arguments are librdkafka-named properties (as `rkc -X`),
//! applied last. With `--slow N` it reads like a slow application: at most N messages per
//! `poll_batch`, then a 1 ms sleep, so that the consumer's buffer stays full (for
//! `tests/memory_bound.rs`: what the library holds at a full budget). Exits 1 on an error event or when nothing arrives for 60 s, 2 on bad arguments.

use std::{
    process::ExitCode,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rskafka_consumer::{Consumer, ConsumerConfig, Event, Offset, TopicPartition};

/// No message or event for this long means the consumer stalled.
const STALL: Duration = Duration::from_secs(60);
/// Messages and events per `poll_batch`.
const BATCH: usize = 16_384;
/// With `--slow`, the pause before each `poll_batch`.
const SLOW_PAUSE: Duration = Duration::from_millis(1);

#[derive(Default)]
struct PartitionCount {
    messages: u64,
    /// Offset after the last message seen; an offset below it is a duplicate or reordering.
    next: Option<i64>,
    out_of_order: u64,
    eof_offset: Option<i64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let group = match args.iter().position(|a| a == "--group") {
        Some(i) if i + 1 < args.len() => {
            let group = args.remove(i + 1);
            args.remove(i);
            Some(group)
        }
        Some(_) => {
            eprintln!("bench_consume: --group needs a value");
            return ExitCode::from(2);
        }
        None => None,
    };
    let slow = match args.iter().position(|a| a == "--slow") {
        Some(i) if i + 1 < args.len() => {
            let Ok(n) = args.remove(i + 1).parse::<usize>() else {
                eprintln!("bench_consume: --slow needs a number of messages");
                return ExitCode::from(2);
            };
            args.remove(i);
            Some(n.max(1))
        }
        Some(_) => {
            eprintln!("bench_consume: --slow needs a value");
            return ExitCode::from(2);
        }
        None => None,
    };
    let [bootstrap, topic, properties @ ..] = args.as_slice() else {
        eprintln!(
            "usage: bench_consume BOOTSTRAP TOPIC [--group GROUP] [--slow N] [key=value ...]"
        );
        return ExitCode::from(2);
    };
    match run(bootstrap, topic, group.as_deref(), slow, properties).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_consume: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Nanoseconds since the Unix epoch: the harness compares it with the time it started the process.
fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .try_into()
        .unwrap_or(u64::MAX)
}

async fn run(
    bootstrap: &str,
    topic: &str,
    group: Option<&str>,
    slow: Option<usize>,
    properties: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut config = ConsumerConfig::new(bootstrap)?;
    config.set("enable.partition.eof", "true")?;
    if let Some(group) = group {
        config.set("group.id", group)?;
        config.set("auto.offset.reset", "earliest")?;
    }
    config.apply_pairs(properties.iter().map(String::as_str))?;
    let consumer = Consumer::new(config).await?;

    let metadata = consumer.metadata(Some(&[topic.to_string()])).await?;
    let info = metadata
        .topic(topic)
        .filter(|t| t.error.is_none() && !t.partitions.is_empty())
        .ok_or_else(|| format!("topic `{topic}` not found in metadata"))?;
    // Indexed by partition id (a Vec, so the benchmark's own bookkeeping stays cheap).
    let ids: Vec<i32> = info.partitions.iter().map(|p| p.partition).collect();
    let slots = ids.iter().map(|&p| p as usize + 1).max().unwrap_or(0);
    let mut counts: Vec<Option<PartitionCount>> = (0..slots).map(|_| None).collect();
    for &p in &ids {
        counts[p as usize] = Some(PartitionCount::default());
    }
    match group {
        Some(_) => consumer.subscribe(&[topic])?,
        None => consumer.assign(
            ids.iter()
                .map(|&p| (TopicPartition::new(topic, p), Offset::Beginning)),
        )?,
    }

    let mut first_record_ns: Option<u64> = None;
    // Time and count at the last 256th message: the consume window without a clock read per
    // message.
    let (mut sample_ns, mut sample_messages): (u64, u64) = (0, 0);
    let mut messages: u64 = 0;
    let mut value_bytes: u64 = 0;
    let mut at_end = 0usize;
    while at_end < ids.len() {
        if slow.is_some() {
            tokio::time::sleep(SLOW_PAUSE).await;
        }
        let mut batch = consumer.poll_batch(slow.unwrap_or(BATCH), STALL).await;
        if batch.is_empty() {
            return Err(format!("no message or event for {} s", STALL.as_secs()).into());
        }
        for run in batch.runs() {
            if first_record_ns.is_none() {
                first_record_ns = Some(unix_ns());
            }
            // One counter lookup per run (consecutive messages of one partition).
            let c = slot(&mut counts, run[0].partition)?;
            for m in run {
                value_bytes += m.value.as_ref().map_or(0, |v| v.len() as u64);
                if c.next.is_some_and(|next| m.offset < next) {
                    c.out_of_order += 1;
                }
                c.next = Some(m.offset + 1);
            }
            c.messages += run.len() as u64;
            let before = messages;
            messages += run.len() as u64;
            if before / 256 != messages / 256 {
                (sample_ns, sample_messages) = (unix_ns(), messages);
            }
        }
        for event in batch.take_events() {
            // Group events (assigned, revoked, lost) need no bookkeeping here.
            if let Event::PartitionEof {
                partition, offset, ..
            } = event?
            {
                let c = slot(&mut counts, partition)?;
                if c.eof_offset.replace(offset).is_none() {
                    at_end += 1;
                }
            }
        }
    }
    let end_ns = unix_ns();
    let elapsed = start.elapsed().as_secs_f64();
    consumer.close().await;

    let counts: Vec<PartitionCount> = counts.into_iter().flatten().collect();
    let out_of_order: u64 = counts.iter().map(|c| c.out_of_order).sum();
    let eof_offsets: i64 = counts.iter().filter_map(|c| c.eof_offset).sum();
    println!(
        "{}",
        serde_json::json!({
            "messages": messages,
            "value_bytes": value_bytes,
            "partitions": ids.len(),
            "partitions_eof": at_end,
            "per_partition": counts.iter().map(|c| c.messages).collect::<Vec<_>>(),
            "eof_offset_sum": eof_offsets,
            "out_of_order": out_of_order,
            "elapsed_s": elapsed,
            "first_record_unix_ns": first_record_ns,
            "sample_unix_ns": sample_ns,
            "sample_messages": sample_messages,
            "end_unix_ns": end_ns,
        })
    );
    Ok(())
}

/// The counters of an assigned partition; anything else is an error.
fn slot(
    counts: &mut [Option<PartitionCount>],
    partition: i32,
) -> Result<&mut PartitionCount, String> {
    usize::try_from(partition)
        .ok()
        .and_then(|i| counts.get_mut(i))
        .and_then(Option::as_mut)
        .ok_or_else(|| format!("message or event of unassigned partition {partition}"))
}
