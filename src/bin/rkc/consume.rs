//! `rkc consume`: a kcat-like consumer. Messages go to stdout (JSON lines by default, or kcat's
//! `-f` format / `-D` `-K` delimiters, see [`crate::output`]), events and errors to stderr as JSON
//! lines.

use std::{
    collections::{BTreeSet, HashSet},
    pin::Pin,
    time::Duration,
};

use futures::future::OptionFuture;
use rskafka_consumer::{
    Batch, ConfigError, Consumer, ConsumerConfig, Error, Event, Offset, TopicPartition,
};

use crate::{
    ConnectionArgs,
    output::{MessageSink, OutputArgs, Unwritten, emit, error_json, group_event, partition_eof},
};

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
    /// With -G: `sync` commits what stdout took whenever no more messages are ready, one
    /// commit at a time, and output goes on while a commit waits (otherwise
    /// `enable.auto.commit` decides). The last commit, at exit, is awaited.
    #[arg(long = "commit", value_name = "MODE", value_parser = ["sync"])]
    commit: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
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
    let format = args.output.message_format()?;
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

    let mut out =
        MessageSink::new(std::io::stdout(), format, args.output.buffering()).map_err(|e| {
            Error::Request {
                broker: "-".into(),
                api: "stdout",
                reason: format!("cannot start the output thread: {e}"),
            }
        })?;
    let outcome = consume_loop(&consumer, &args, &partitions, &mut out).await;
    drop(out);
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
        if let Some(want) = args.partition
            && !topic.partitions.iter().any(|p| p.partition == want)
        {
            return Err(Error::Request {
                broker: metadata.originating_broker.clone(),
                api: "Metadata",
                reason: format!("topic `{name}` has no partition {want}"),
            });
        }
    }
    Ok(partitions)
}

/// Messages and events taken from the consumer at a time (at most the consumer's hand-out
/// limit of message bytes): a few output buffers' worth at 100-byte values.
const BATCH: usize = 8192;

/// A `--commit sync` commit on its way (see [`Consumer::commit`]: its offsets are fixed).
type CommitInFlight = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

async fn consume_loop(
    consumer: &Consumer,
    args: &Args,
    partitions: &[TopicPartition],
    out: &mut MessageSink,
) -> Result<(), Error> {
    let mut progress = Progress::new(partitions, args);
    let commit_sync = args.commit.is_some();
    let mut uncommitted = false;
    // `--commit sync`: at most one commit in flight; output goes on while it waits (a
    // coordinator that moves or loads can take seconds), and the next one starts after it.
    let mut commit: Option<CommitInFlight> = None;
    let mut written: u64 = 0;
    let mut signals = Signals::new()?;
    // Only events other than messages can finish the run, so it is checked after those.
    let mut finished = progress.finished();
    loop {
        if finished || args.count.is_some_and(|c| written >= c) {
            break;
        }
        // Never take more than `-c` still allows: what is taken counts as handed out.
        let max = args.count.map_or(BATCH, |c| {
            usize::try_from(c - written).map_or(BATCH, |left| left.min(BATCH))
        });
        // Write out only when nothing more is ready, so output is batched under load.
        let mut batch = consumer.poll_batch(max, Duration::ZERO).await;
        if batch.is_empty() {
            // A commit covers only what stdout took; otherwise the writer writes while the
            // consumer waits.
            let start_commit = commit_sync && uncommitted && commit.is_none();
            let handed = if start_commit {
                out.sync()
            } else {
                out.hand_over()
            };
            if let Err(unwritten) = handed {
                store_unwritten(consumer, &unwritten);
                break; // stdout closed
            }
            if start_commit {
                // Takes the offsets now: what is polled while it is in flight is not covered.
                commit = Some(Box::pin(consumer.commit()));
                uncommitted = false;
            }
            tokio::select! {
                next = consumer.poll_batch(max, Duration::from_secs(1)) => batch = next,
                Some(result) = OptionFuture::from(commit.as_mut()) => {
                    commit = None;
                    if let Err(e) = result {
                        emit(error_json(&e));
                    }
                    continue;
                }
                _ = signals.recv() => break,
            }
            if batch.is_empty() {
                continue;
            }
        }
        if write_runs(consumer, &batch, out, &mut progress, &mut written).is_err() {
            break; // stdout closed
        }
        uncommitted |= batch.runs().next().is_some();
        let events = batch.take_events();
        if events.is_empty() {
            continue;
        }
        // Everything written so far reaches stdout before the events reach stderr.
        if let Err(unwritten) = out.sync() {
            store_unwritten(consumer, &unwritten);
            break;
        }
        for event in events {
            handle_event(event, &mut progress);
        }
        finished = progress.finished();
    }
    if let Err(unwritten) = out.sync() {
        store_unwritten(consumer, &unwritten);
    }
    if let Some(in_flight) = commit
        && let Err(e) = in_flight.await
    {
        emit(error_json(&e));
    }
    if let Some(e) = progress.group_failed.take() {
        return Err(e);
    }
    if progress.failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Request {
            broker: "-".into(),
            api: "Fetch",
            reason: format!("{} partition(s) stopped with errors", progress.failed.len()),
        })
    }
}

/// Writes the batch's messages. If stdout closes, each partition's first message that did
/// not reach it is stored as the offset to commit (the consumer counts everything in the batch
/// as handed out), so a group resumes exactly after what was written.
fn write_runs(
    consumer: &Consumer,
    batch: &Batch,
    out: &mut MessageSink,
    progress: &mut Progress,
    written: &mut u64,
) -> Result<(), Unwritten> {
    let mut runs = batch.runs();
    for run in runs.by_ref() {
        let first = &run[0];
        progress.message(first.partition, &first.topic);
        if let Err(mut unwritten) = out.write_run(run) {
            // The runs not yet formatted are lost too, from their first message on, unless
            // their partition already lost an earlier one.
            for run in runs {
                let m = &run[0];
                if !unwritten
                    .first
                    .iter()
                    .any(|(tp, _)| tp.partition == m.partition && tp.topic == m.topic)
                {
                    unwritten.first.push((m.topic_partition(), m.offset));
                }
            }
            store_unwritten(consumer, &unwritten);
            return Err(unwritten);
        }
        *written += run.len() as u64;
    }
    Ok(())
}

/// Stores each partition's first offset that did not reach stdout, so the commit at exit
/// covers only what was written.
fn store_unwritten(consumer: &Consumer, unwritten: &Unwritten) {
    for (tp, offset) in &unwritten.first {
        let _ = consumer.store_offset(tp, *offset);
    }
}

/// Reports an event or error on stderr and tracks what it means for the end of the run.
fn handle_event(event: Result<Event, Error>, progress: &mut Progress) {
    match event {
        Ok(Event::PartitionEof {
            topic,
            partition,
            offset,
        }) => {
            emit(partition_eof(&topic, partition, offset));
            progress
                .at_end
                .insert(TopicPartition::new(topic, partition));
        }
        Ok(Event::Assigned(tps)) => {
            emit(group_event("assigned", &tps));
            progress.all.extend(tps);
        }
        Ok(Event::Revoked(tps)) => {
            emit(group_event("revoked", &tps));
            progress.forget(&tps);
        }
        Ok(Event::Lost(tps)) => {
            emit(group_event("lost", &tps));
            progress.forget(&tps);
        }
        Ok(_) => {}
        Err(e) => {
            if let Error::OffsetOutOfRange {
                topic, partition, ..
            }
            | Error::LogTruncation {
                topic, partition, ..
            } = &e
            {
                progress
                    .failed
                    .insert(TopicPartition::new(topic.as_str(), *partition));
            }
            emit(error_json(&e));
            if matches!(e, Error::GroupFailed { .. }) {
                progress.group_failed = Some(e);
            }
        }
    }
}

/// Which partitions are read, at their end, or stopped by an error.
struct Progress {
    /// Explicit partitions, or in a group whatever is assigned right now.
    all: BTreeSet<TopicPartition>,
    at_end: HashSet<TopicPartition>,
    failed: HashSet<TopicPartition>,
    exit_at_end: bool,
    in_group: bool,
    /// The group membership ended for good: the run ends with this error.
    group_failed: Option<Error>,
}

impl Progress {
    fn new(partitions: &[TopicPartition], args: &Args) -> Self {
        Self {
            all: partitions.iter().cloned().collect(),
            at_end: HashSet::new(),
            failed: HashSet::new(),
            exit_at_end: args.exit_at_end,
            in_group: args.group.is_some(),
            group_failed: None,
        }
    }

    /// A message arrived: its partition is no longer at its end.
    fn message(&mut self, partition: i32, topic: &std::sync::Arc<str>) {
        if !self.at_end.is_empty() {
            self.at_end.remove(&TopicPartition::new(
                std::sync::Arc::clone(topic),
                partition,
            ));
        }
    }

    fn forget(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.all.remove(tp);
            self.at_end.remove(tp);
        }
    }

    /// With `-e`: every partition is at its end or failed (and a group has some). Without:
    /// every partition failed.
    fn finished(&self) -> bool {
        if self.group_failed.is_some() {
            return true;
        }
        if self.exit_at_end {
            let done = self
                .all
                .iter()
                .all(|tp| self.at_end.contains(tp) || self.failed.contains(tp));
            done && !(self.in_group && self.all.is_empty())
        } else {
            !self.all.is_empty() && self.failed.len() == self.all.len()
        }
    }
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
