//! `rkc consume`: a kcat-like consumer. Messages go to stdout as JSON lines, events and errors
//! to stderr as JSON lines.

use std::{
    collections::{BTreeSet, HashSet},
    io::{BufWriter, Write},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use bytes::Bytes;
use rskafka_consumer::{
    ConfigError, Consumer, ConsumerConfig, Error, Event, Message, Offset, TopicPartition,
};
use serde_json::{Map, Value, json};

use crate::ConnectionArgs;

/// Arguments of `rkc consume`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Topic to read (repeatable).
    #[arg(short = 't', long = "topic", value_name = "TOPIC", required = true)]
    topics: Vec<String>,
    /// Only this partition of each topic.
    #[arg(short = 'p', long = "partition", value_name = "PARTITION")]
    partition: Option<i32>,
    /// Start offset: beginning, end, stored, or an absolute offset.
    #[arg(short = 'o', long = "offset", value_name = "OFFSET", value_parser = parse_offset)]
    offset: Option<Offset>,
    /// Consumer group to join.
    #[arg(short = 'G', long = "group", value_name = "GROUP")]
    group: Option<String>,
    /// Exit once every partition has reached its end.
    #[arg(short = 'e', long = "exit-at-end")]
    exit_at_end: bool,
    /// Exit after this many messages.
    #[arg(short = 'c', long = "count", value_name = "COUNT")]
    count: Option<u64>,
    /// With -G: `sync` commits after each batch of messages written to stdout (otherwise
    /// `enable.auto.commit` decides).
    #[arg(long = "commit", value_name = "MODE", value_parser = ["sync"])]
    commit: Option<String>,
}

fn parse_offset(s: &str) -> Result<Offset, String> {
    match s {
        "beginning" => Ok(Offset::Beginning),
        "end" => Ok(Offset::End),
        "stored" => Ok(Offset::Stored),
        n => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(Offset::At(o)),
            _ => Err(format!(
                "expected beginning, end, stored or an offset ≥ 0, got `{s}`"
            )),
        },
    }
}

/// Consumes until `-e`/`-c` say stop, a signal arrives, or every partition failed.
pub(crate) async fn run(args: Args) -> Result<(), Error> {
    let mut config = ConsumerConfig::new(&args.connection.brokers)?;
    config.apply_pairs(args.connection.properties.iter().map(String::as_str))?;
    if args.exit_at_end {
        config.enable_partition_eof = true;
    }
    if let Some(group) = &args.group {
        config.set("group.id", group)?;
        // In a group, -o is the fallback for partitions without a committed offset.
        match args.offset {
            None | Some(Offset::Stored) => {}
            Some(Offset::Beginning) => config.set("auto.offset.reset", "earliest")?,
            Some(Offset::End) => config.set("auto.offset.reset", "latest")?,
            Some(_) => {
                return Err(ConfigError::InvalidValue {
                    name: "-o".into(),
                    value: format!("{:?}", args.offset),
                    reason: "with -G only beginning, end or stored".into(),
                }
                .into());
            }
        }
        if args.partition.is_some() {
            return Err(ConfigError::InvalidValue {
                name: "-p".into(),
                value: String::new(),
                reason: "the group assigns partitions; -p cannot be used with -G".into(),
            }
            .into());
        }
    } else if args.commit.is_some() {
        return Err(ConfigError::InvalidValue {
            name: "--commit".into(),
            value: "sync".into(),
            reason: "commits need a group (-G)".into(),
        }
        .into());
    }
    let consumer = Consumer::new(config).await?;
    let partitions = if args.group.is_some() {
        let topics: Vec<&str> = args.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Vec::new()
    } else {
        let partitions = partitions_to_read(&consumer, &args).await?;
        let offset = args.offset.unwrap_or(Offset::Default);
        consumer.assign(partitions.iter().map(|tp| (tp.clone(), offset)))?;
        partitions
    };

    let outcome = consume_loop(&consumer, &args, &partitions).await;
    if args.group.is_some() {
        // Everything written is handed over: commit it, then leave the group and report the
        // revocation like any other group event.
        if let Err(e) = consumer.commit().await {
            emit(error_json(&e));
        }
        consumer.unsubscribe(Duration::from_secs(10)).await;
        while let Some(event) = consumer.poll_event(Duration::ZERO).await {
            match event {
                Ok(Event::Revoked(tps)) => emit(group_event("revoked", &tps)),
                Ok(Event::Lost(tps)) => emit(group_event("lost", &tps)),
                Ok(_) => {}
                Err(e) => emit(error_json(&e)),
            }
        }
    }
    consumer.close().await;
    outcome
}

/// Every partition of the topics (or just `-p`), checked against metadata.
async fn partitions_to_read(
    consumer: &Consumer,
    args: &Args,
) -> Result<Vec<TopicPartition>, Error> {
    let metadata = consumer.metadata(Some(&args.topics)).await?;
    let mut partitions = Vec::new();
    for name in &args.topics {
        let topic = metadata.topic(name).filter(|t| t.error.is_none());
        let Some(topic) = topic else {
            let reason = metadata
                .topic(name)
                .and_then(|t| t.error.clone())
                .unwrap_or_else(|| "not in metadata".into());
            return Err(Error::Request {
                broker: metadata.originating_broker.clone(),
                api: "Metadata",
                reason: format!("topic `{name}`: {reason}"),
            });
        };
        for p in &topic.partitions {
            if args.partition.is_none_or(|want| want == p.partition) {
                partitions.push(TopicPartition::new(name.as_str(), p.partition));
            }
        }
        if let Some(want) = args.partition {
            if !topic.partitions.iter().any(|p| p.partition == want) {
                return Err(Error::Request {
                    broker: metadata.originating_broker.clone(),
                    api: "Metadata",
                    reason: format!("topic `{name}` has no partition {want}"),
                });
            }
        }
    }
    Ok(partitions)
}

async fn consume_loop(
    consumer: &Consumer,
    args: &Args,
    partitions: &[TopicPartition],
) -> Result<(), Error> {
    // Explicit partitions, or in a group whatever is assigned right now.
    let mut all: BTreeSet<TopicPartition> = partitions.iter().cloned().collect();
    let in_group = args.group.is_some();
    let commit_sync = args.commit.is_some();
    let mut uncommitted = false;
    let mut at_end: HashSet<TopicPartition> = HashSet::new();
    let mut failed: HashSet<TopicPartition> = HashSet::new();
    let mut written: u64 = 0;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut signals = Signals::new()?;
    loop {
        if args.count.is_some_and(|c| written >= c) {
            break;
        }
        let done = all
            .iter()
            .all(|tp| at_end.contains(tp) || failed.contains(tp));
        if args.exit_at_end && done && !(in_group && all.is_empty()) {
            break;
        }
        if !args.exit_at_end && !all.is_empty() && failed.len() == all.len() {
            break;
        }
        // Flush only when nothing more is ready, so output is batched under load.
        let event = match consumer.poll_event(Duration::ZERO).await {
            Some(event) => event,
            None => {
                let _ = out.flush();
                if commit_sync && uncommitted {
                    if let Err(e) = consumer.commit().await {
                        emit(error_json(&e));
                    }
                    uncommitted = false;
                }
                tokio::select! {
                    event = consumer.poll_event(Duration::from_secs(1)) => match event {
                        Some(event) => event,
                        None => continue,
                    },
                    _ = signals.recv() => break,
                }
            }
        };
        match event {
            Ok(Event::Message(m)) => {
                at_end.remove(&m.topic_partition());
                if writeln!(out, "{}", message_json(&m)).is_err() {
                    break; // stdout closed
                }
                written += 1;
                uncommitted = true;
            }
            Ok(Event::PartitionEof {
                topic,
                partition,
                offset,
            }) => {
                emit(
                    json!({"event": "partition_eof", "topic": &*topic, "partition": partition, "offset": offset}),
                );
                at_end.insert(TopicPartition::new(topic, partition));
            }
            Ok(Event::Assigned(tps)) => {
                emit(group_event("assigned", &tps));
                all.extend(tps);
            }
            Ok(Event::Revoked(tps)) => {
                emit(group_event("revoked", &tps));
                forget(&mut all, &mut at_end, &tps);
            }
            Ok(Event::Lost(tps)) => {
                emit(group_event("lost", &tps));
                forget(&mut all, &mut at_end, &tps);
            }
            Ok(_) => {}
            Err(e) => {
                if let Error::OffsetOutOfRange {
                    topic, partition, ..
                } = &e
                {
                    failed.insert(TopicPartition::new(topic.as_str(), *partition));
                }
                emit(error_json(&e));
            }
        }
    }
    let _ = out.flush();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Request {
            broker: "-".into(),
            api: "Fetch",
            reason: format!("{} partition(s) stopped with errors", failed.len()),
        })
    }
}

fn forget(
    all: &mut BTreeSet<TopicPartition>,
    at_end: &mut HashSet<TopicPartition>,
    tps: &[TopicPartition],
) {
    for tp in tps {
        all.remove(tp);
        at_end.remove(tp);
    }
}

/// `{"event":"assigned"|"revoked"|"lost","partitions":[{"topic","partition"},…]}`.
fn group_event(kind: &str, partitions: &[TopicPartition]) -> Value {
    let partitions: Vec<Value> = partitions
        .iter()
        .map(|tp| json!({"topic": &*tp.topic, "partition": tp.partition}))
        .collect();
    json!({"event": kind, "partitions": partitions})
}

fn emit(event: Value) {
    eprintln!("{event}");
}

/// `{"topic","partition","offset","timestamp","key","value","headers"}`; `key_b64`/`value_b64`
/// replace `key`/`value` when they are not UTF-8.
pub(crate) fn message_json(m: &Message) -> Value {
    let mut obj = Map::new();
    obj.insert("topic".into(), json!(&*m.topic));
    obj.insert("partition".into(), json!(m.partition));
    obj.insert("offset".into(), json!(m.offset));
    obj.insert("timestamp".into(), json!(m.timestamp));
    insert_bytes(&mut obj, "key", m.key.as_ref());
    insert_bytes(&mut obj, "value", m.value.as_ref());
    let headers: Vec<Value> = m
        .headers
        .iter()
        .map(|h| {
            let value = match &h.value {
                None => Value::Null,
                Some(v) => match std::str::from_utf8(v) {
                    Ok(s) => json!(s),
                    Err(_) => json!({"b64": STANDARD.encode(v)}),
                },
            };
            json!([h.key, value])
        })
        .collect();
    obj.insert("headers".into(), Value::Array(headers));
    Value::Object(obj)
}

fn insert_bytes(obj: &mut Map<String, Value>, name: &str, bytes: Option<&Bytes>) {
    match bytes {
        None => {
            obj.insert(name.into(), Value::Null);
        }
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => {
                obj.insert(name.into(), json!(s));
            }
            Err(_) => {
                obj.insert(format!("{name}_b64"), json!(STANDARD.encode(b)));
            }
        },
    }
}

/// `{"event":"error","kind","error",…}` with topic/partition/offset for partition errors.
fn error_json(e: &Error) -> Value {
    let mut obj = json!({"event": "error", "error": e.to_string()});
    let (kind, scope) = match e {
        Error::CorruptBatch {
            topic,
            partition,
            offset,
            ..
        } => (
            "corrupt_batch",
            Some((topic.clone(), *partition, Some(*offset))),
        ),
        Error::OffsetOutOfRange {
            topic,
            partition,
            offset,
        } => (
            "offset_out_of_range",
            Some((topic.clone(), *partition, Some(*offset))),
        ),
        _ => ("broker", None),
    };
    obj["kind"] = json!(kind);
    if let Some((topic, partition, offset)) = scope {
        obj["topic"] = json!(topic);
        obj["partition"] = json!(partition);
        if let Some(offset) = offset {
            obj["offset"] = json!(offset);
        }
    }
    obj
}

/// SIGINT and SIGTERM.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, Error> {
        use tokio::signal::unix::{SignalKind, signal};
        let io = |source: std::io::Error| Error::Request {
            broker: "-".into(),
            api: "signal",
            reason: source.to_string(),
        };
        Ok(Self {
            int: signal(SignalKind::interrupt()).map_err(io)?,
            term: signal(SignalKind::terminate()).map_err(io)?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
