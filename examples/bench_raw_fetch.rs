//! The raw-fetch limit for `bench/consume`: reads every partition of a topic from offset zero to
//! its end with bare Fetch requests and discards the record bytes, so that the benchmark can tell
//! how close each consumer comes to what the broker and one connection per broker can deliver.
//!
//! ```sh
//! cargo run --release --example bench_raw_fetch -- 127.0.0.1:9092 TOPIC [--decode]
//! ```
//!
//! With `--decode` (the decode-only limit) the same fetches are also decoded record by record
//! with this crate's decoder (`BatchReader` with its CRC-32C check, decompression,
//! `RecordBatch::records`: varints, headers, key and value slices of the response) and the
//! value bytes summed; nothing is filtered, buffered or delivered. It measures the cost floor
//! of decoding on this CPU, on the fetch task itself (no second thread).
//!
//! Per partition leader it opens one rskafka [`Messenger`], negotiates versions and then keeps
//! exactly one Fetch in flight for all of that leader's unfinished partitions (sessionless full
//! fetches, read_committed, librdkafka's and Java's defaults: 500 ms max wait, 1 byte min,
//! 50 MiB per response, 1 MiB per partition). Of each response it reads only the 61-byte v2
//! batch headers: the next offset (base offset + last offset delta + 1) and, for data batches,
//! the record count. Nothing is decompressed, CRC-checked, filtered or copied. A partition is
//! done once its position reaches the last stable offset. Prints one JSON line (the bench
//! protocol, see bench/README.md); the count includes aborted transactional records, which the
//! broker sends as well. Exits 1 on an error or a 60 s stall, 2 on bad arguments.

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rskafka::messenger::Messenger;
use rskafka_consumer::{
    ClientConfig, Cluster,
    record::BatchReader,
    wire::{
        Request,
        fetch::{FetchPartition, FetchRequest, FetchTopic, READ_COMMITTED},
    },
};
use tokio::net::TcpStream;

const STALL: Duration = Duration::from_secs(60);
/// Bytes of a v2 record batch header, up to and including the record count.
const BATCH_HEADER: usize = 61;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .try_into()
        .unwrap_or(u64::MAX)
}

#[derive(Default)]
struct Totals {
    records: u64,
    /// Records decoded (`--decode`) and their value bytes.
    decoded: u64,
    value_bytes: u64,
    batches: u64,
    control_batches: u64,
    bytes: u64,
    fetches: u64,
    end_offset_sum: i64,
    first_record_ns: Option<u64>,
    /// Records of the first response with data: they arrived before the window started.
    first_records: u64,
    /// Time after the last data batch.
    sample_ns: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let decode = match args.iter().position(|a| a == "--decode") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let [bootstrap, topic] = args.as_slice() else {
        eprintln!("usage: bench_raw_fetch BOOTSTRAP TOPIC [--decode]");
        return ExitCode::from(2);
    };
    match run(bootstrap, topic, decode).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_raw_fetch: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(bootstrap: &str, topic: &str, decode: bool) -> Result<(), BoxError> {
    let config = ClientConfig::new(bootstrap)?;
    let cluster = Cluster::connect(config.clone()).await?;
    let metadata = cluster.metadata(Some(&[topic.to_string()])).await?;
    let info = metadata
        .topic(topic)
        .filter(|t| t.error.is_none() && !t.partitions.is_empty())
        .ok_or_else(|| format!("topic `{topic}` not found in metadata"))?;
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in &info.partitions {
        by_leader.entry(p.leader).or_default().push(p.partition);
    }
    let mut tasks = Vec::new();
    for (leader, partitions) in by_leader {
        let broker = metadata
            .brokers
            .iter()
            .find(|b| b.id == leader)
            .ok_or_else(|| format!("leader {leader} not among the brokers"))?;
        let addr = format!("{}:{}", broker.host, broker.port);
        let topic = topic.to_string();
        let max_response = config.max_response_bytes;
        tasks.push(tokio::spawn(async move {
            fetch_all(&addr, &topic, partitions, max_response, decode).await
        }));
    }
    let mut total = Totals::default();
    for task in tasks {
        let t = task.await??;
        total.records += t.records;
        total.decoded += t.decoded;
        total.value_bytes += t.value_bytes;
        total.batches += t.batches;
        total.control_batches += t.control_batches;
        total.bytes += t.bytes;
        total.fetches += t.fetches;
        total.end_offset_sum += t.end_offset_sum;
        total.sample_ns = total.sample_ns.max(t.sample_ns);
        total.first_records += t.first_records;
        total.first_record_ns = match (total.first_record_ns, t.first_record_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let end_ns = unix_ns();
    println!(
        "{}",
        serde_json::json!({
            "client": if decode { "decode-only" } else { "raw-fetch" },
            "messages": if decode { total.decoded } else { total.records },
            "value_bytes": total.value_bytes,
            "partitions": info.partitions.len(),
            "partitions_eof": info.partitions.len(),
            "eof_offset_sum": total.end_offset_sum,
            "batches": total.batches,
            "control_batches": total.control_batches,
            "record_bytes": total.bytes,
            "fetches": total.fetches,
            "first_record_unix_ns": total.first_record_ns,
            "sample_unix_ns": total.sample_ns,
            "sample_messages": total.records,
            "first_messages": total.first_records,
            "end_unix_ns": end_ns,
        })
    );
    Ok(())
}

/// Fetches `partitions` of `topic` from one leader until each reached its last stable offset.
async fn fetch_all(
    addr: &str,
    topic: &str,
    partitions: Vec<i32>,
    max_response: usize,
    decode: bool,
) -> Result<Totals, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut messenger = Messenger::new(stream, max_response, Arc::from("bench_raw_fetch"));
    messenger.sync_versions().await?;
    // (partition, next offset, done)
    let mut state: Vec<(i32, i64, bool)> = partitions.iter().map(|&p| (p, 0, false)).collect();
    let mut t = Totals::default();
    while state.iter().any(|s| !s.2) {
        let request = FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
            isolation_level: READ_COMMITTED,
            topics: vec![FetchTopic {
                topic: topic.to_string(),
                partitions: state
                    .iter()
                    .filter(|s| !s.2)
                    .map(|&(partition, fetch_offset, _)| FetchPartition {
                        partition,
                        fetch_offset,
                        ..FetchPartition::default()
                    })
                    .collect(),
            }],
            ..FetchRequest::default()
        };
        let response = tokio::time::timeout(STALL, messenger.request(Request(request)))
            .await
            .map_err(|_| format!("no Fetch response for {} s", STALL.as_secs()))??
            .0;
        t.fetches += 1;
        let first_response = t.first_record_ns.is_none();
        if response.error_code != 0 {
            return Err(format!("Fetch error code {}", response.error_code).into());
        }
        for rt in &response.topics {
            for rp in &rt.partitions {
                if rp.error_code != 0 {
                    return Err(format!(
                        "partition {}: error code {}",
                        rp.partition, rp.error_code
                    )
                    .into());
                }
                let Some(s) = state.iter_mut().find(|s| s.0 == rp.partition) else {
                    continue;
                };
                if decode {
                    decode_records(&rp.records, &mut t)?;
                }
                let records = &rp.records[..];
                let mut pos = 0;
                while records.len() - pos >= BATCH_HEADER {
                    let h = &records[pos..];
                    let base_offset = i64::from_be_bytes(h[0..8].try_into()?);
                    let batch_length = i32::from_be_bytes(h[8..12].try_into()?);
                    let size = 12 + usize::try_from(batch_length)?;
                    if size > records.len() - pos {
                        break; // a partial batch at the end of the response
                    }
                    let attributes = i16::from_be_bytes(h[21..23].try_into()?);
                    let last_offset_delta = i32::from_be_bytes(h[23..27].try_into()?);
                    let count = i32::from_be_bytes(h[57..61].try_into()?);
                    t.batches += 1;
                    if attributes & 0x20 != 0 {
                        t.control_batches += 1;
                    } else {
                        t.records += u64::try_from(count)?;
                        if count > 0 {
                            t.sample_ns = unix_ns();
                            t.first_record_ns.get_or_insert(t.sample_ns);
                        }
                    }
                    t.bytes += size as u64;
                    s.1 = s.1.max(base_offset + i64::from(last_offset_delta) + 1);
                    pos += size;
                }
                let end = if rp.last_stable_offset >= 0 {
                    rp.last_stable_offset
                } else {
                    rp.high_watermark
                };
                if s.1 >= end {
                    s.2 = true;
                    t.end_offset_sum += s.1;
                }
            }
        }
        if first_response && t.first_record_ns.is_some() {
            t.first_records = t.records;
        }
    }
    Ok(t)
}

/// Decodes every data batch of a partition's records blob, as the consumer would (CRC check,
/// decompression, every record's varints, headers, key and value slices); counts the records
/// and sums their value bytes.
fn decode_records(blob: &bytes::Bytes, t: &mut Totals) -> Result<(), BoxError> {
    for batch in BatchReader::new(blob.clone()) {
        let batch = batch?;
        if batch.header.is_control() {
            continue;
        }
        let records = batch.records(usize::MAX)?;
        t.decoded += records.len() as u64;
        t.value_bytes += records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len() as u64))
            .sum::<u64>();
    }
    Ok(())
}
