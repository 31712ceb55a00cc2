//! Benchmark peer: rskafka 0.6.0's `StreamConsumer`, the base `rskafka_consumer` builds on.
//!
//!     bench-peer-rskafka BOOTSTRAP TOPIC PARTITIONS
//!
//! One `PartitionClient` + `StreamConsumer` (rskafka's defaults: 500 ms max wait, 50 MiB max
//! batch) per partition from `StartOffset::Earliest`, all merged with `select_all`; touches every
//! record (adds the value length) and stops once every partition delivered the record just below
//! the high watermark its fetch reported. rskafka has no consumer groups, no EOF event and no
//! read_committed (it reads uncommitted data and leaks aborted records), so the bench runs it on
//! the non-transactional topics only. Prints one JSON line (the bench protocol, see
//! bench/README.md); exits 1 on an error or a 60 s stall, 2 on bad arguments.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use rskafka::client::consumer::{StartOffset, StreamConsumerBuilder};
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::ClientBuilder;

const STALL: Duration = Duration::from_secs(60);

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, partitions] = args.as_slice() else {
        eprintln!("usage: bench-peer-rskafka BOOTSTRAP TOPIC PARTITIONS");
        return ExitCode::from(2);
    };
    let Ok(partitions) = partitions.parse::<i32>() else {
        eprintln!("PARTITIONS must be a number");
        return ExitCode::from(2);
    };
    match run(bootstrap, topic, partitions).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-peer-rskafka: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = ClientBuilder::new(vec![bootstrap.to_string()])
        .build()
        .await?;
    let mut streams = Vec::new();
    for p in 0..partitions {
        let pc = client
            .partition_client(topic, p, UnknownTopicHandling::Retry)
            .await?;
        let stream = StreamConsumerBuilder::new(Arc::new(pc), StartOffset::Earliest).build();
        streams.push(stream.map(move |r| (p, r)).boxed());
    }
    let mut all = futures::stream::select_all(streams);
    let mut done = vec![false; partitions as usize];
    let mut remaining = partitions as usize;
    let (mut messages, mut value_bytes) = (0u64, 0u64);
    let mut first_ns = None;
    // Time and count at the last 256th record (no clock read per record).
    let (mut sample_ns, mut sample_messages) = (0, 0);
    while remaining > 0 {
        let (p, r) = tokio::time::timeout(STALL, all.next())
            .await
            .map_err(|_| format!("no record for {} s", STALL.as_secs()))?
            .ok_or("all streams ended")?;
        let (record, high_watermark) = r?;
        if first_ns.is_none() {
            first_ns = Some(now_ns());
        }
        messages += 1;
        value_bytes += record.record.value.as_ref().map_or(0, |v| v.len() as u64);
        if messages % 256 == 0 {
            (sample_ns, sample_messages) = (now_ns(), messages);
        }
        if record.offset + 1 >= high_watermark && !done[p as usize] {
            done[p as usize] = true;
            remaining -= 1;
        }
    }
    let end = now_ns();
    println!(
        "{{\"client\":\"rskafka\",\"messages\":{messages},\"value_bytes\":{value_bytes},\"partitions_eof\":{partitions},\"first_record_unix_ns\":{},\"sample_unix_ns\":{sample_ns},\"sample_messages\":{sample_messages},\"end_unix_ns\":{end}}}",
        first_ns.map_or("null".to_string(), |t| t.to_string())
    );
    Ok(())
}
