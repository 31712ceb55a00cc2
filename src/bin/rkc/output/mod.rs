//! Where `rkc consume` writes: messages to stdout in the chosen [`MessageFormat`], through large
//! reused buffers that a writer thread ([`writer`]) writes while the next one fills; events and
//! errors to stderr as JSON lines.
//!
//! Invariants: a message is formatted straight from the borrowed [`Message`] into the current
//! buffer; the buffer goes to the writer thread once it holds [`FLUSH_AT`] bytes, on every
//! [`MessageSink::hand_over`] (the caller hands over whenever the consumer has nothing more
//! ready), and after every message when unbuffered (`-u`). [`MessageSink::sync`] returns once
//! all of it is on stdout: the caller syncs before every stderr event, before a commit and
//! before exit, so everything written before an event line on stderr is on stdout before it,
//! commits cover only what stdout took, and `-e`/`-c` output is complete when the process exits.
//! If stdout fails, the sink says, for each partition, the first offset that did not reach it.

mod escape;
mod events;
mod format;
pub(crate) mod json;
mod options;
mod writer;

use std::{
    io::{self, Write},
    sync::Arc,
};

use rskafka_consumer::{Message, TopicPartition};

pub(crate) use events::{emit, error_json, group_event, partition_eof};
pub(crate) use format::{FormatError, KcatFormat, parse_delimiter};
pub(crate) use options::OutputArgs;
use writer::{WriteFailed, Writer};

/// Bytes gathered before a buffer goes to the writer thread: large writes, while the
/// [`writer::DEPTH`] buffers stay small next to the consumer's budget.
const FLUSH_AT: usize = 512 << 10;

/// Messages of a run formatted between checks of the buffer's size.
const RUN_CHUNK: usize = 1024;

/// How each message is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MessageFormat {
    /// One JSON object per message (the default), followed by the delimiter (`-D`, `\n`).
    Json {
        /// Written after each object.
        delimiter: Vec<u8>,
    },
    /// kcat's format tokens (`-f`, or `-D`/`-K` without `-J`).
    Kcat {
        /// The parsed format.
        format: KcatFormat,
        /// What a null or empty key/value prints (`-Z`: `NULL`).
        null: Option<Vec<u8>>,
    },
}

/// Whether a buffer goes to the writer only when full (and at the hand-over points) or after
/// every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buffering {
    /// Up to [`FLUSH_AT`] bytes in a buffer.
    Buffered,
    /// Every message is handed over at once (`-u`).
    Unbuffered,
}

/// Output stopped (stdout failed or was closed): for each partition formatted into a lost
/// buffer, the first offset that did not reach stdout.
#[derive(Debug)]
pub(crate) struct Unwritten {
    /// The first offset not written, per partition, in the order the partitions were lost
    /// (empty when it was reported before).
    pub(crate) first: Vec<(TopicPartition, i64)>,
}

/// The first message of a partition in a buffer.
struct Mark {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
}

/// How many messages of `run` to format between two looks at the buffer's size: about a
/// quarter of [`FLUSH_AT`] of raw key and value bytes (judged by the run's first message),
/// between 1 and [`RUN_CHUNK`].
fn run_chunk_len(run: &[Message]) -> usize {
    let per_message = run.first().map_or(1, |m| {
        64 + m.key.as_ref().map_or(0, |k| k.len()) + m.value.as_ref().map_or(0, |v| v.len())
    });
    (FLUSH_AT / 4 / per_message).clamp(1, RUN_CHUNK)
}

/// Formats messages into buffers that a writer thread writes to `W`.
pub(crate) struct MessageSink {
    buf: Vec<u8>,
    writer: Writer,
    format: MessageFormat,
    buffering: Buffering,
    /// Marks of the buffers handed over and not yet known to be written: (sequence number,
    /// marks), oldest first.
    pending: std::collections::VecDeque<(u64, Vec<Mark>)>,
    /// Marks of `buf`.
    marks: Vec<Mark>,
    /// Set once stdout failed: every later call fails.
    failed: bool,
}

impl MessageSink {
    /// A sink writing `format` to `sink` from its own thread.
    pub(crate) fn new<W: Write + Send + 'static>(
        sink: W,
        format: MessageFormat,
        buffering: Buffering,
    ) -> io::Result<Self> {
        let mut writer = Writer::start(sink, FLUSH_AT + (FLUSH_AT >> 2))?;
        let buf = writer.buffer().map_err(|failed| failed.error)?;
        Ok(Self {
            buf,
            writer,
            format,
            buffering,
            pending: std::collections::VecDeque::new(),
            marks: Vec::new(),
            failed: false,
        })
    }

    /// Formats `run` (consecutive messages of one partition, see `Batch::runs`); hands the
    /// buffer to the writer whenever it is full (or after each message, unbuffered). An error
    /// means stdout is gone; it says which offsets did not reach it (this run's included).
    pub(crate) fn write_run(&mut self, run: &[Message]) -> Result<(), Unwritten> {
        self.check()?;
        let chunk_len = match self.buffering {
            Buffering::Buffered => run_chunk_len(run),
            Buffering::Unbuffered => 1,
        };
        for chunk in run.chunks(chunk_len) {
            self.mark(&chunk[0]);
            match &self.format {
                MessageFormat::Json { delimiter } => {
                    json::write_run(&mut self.buf, chunk, delimiter);
                }
                MessageFormat::Kcat { format, null } => {
                    for m in chunk {
                        format.write(&mut self.buf, m, null.as_deref());
                    }
                }
            }
            if self.buf.len() >= FLUSH_AT || self.buffering == Buffering::Unbuffered {
                self.hand_over()?;
            }
        }
        Ok(())
    }

    /// Hands what is formatted so far to the writer without waiting for it to be written.
    pub(crate) fn hand_over(&mut self) -> Result<(), Unwritten> {
        self.check()?;
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self.writer.buffer().map_err(|f| self.lost(f))?;
        let full = std::mem::replace(&mut self.buf, next);
        let seq = self.writer.hand_over(full).map_err(|f| self.lost(f))?;
        self.pending
            .push_back((seq, std::mem::take(&mut self.marks)));
        self.forget_written();
        Ok(())
    }

    /// Hands over what is formatted and waits until all of it is on stdout.
    pub(crate) fn sync(&mut self) -> Result<(), Unwritten> {
        self.hand_over()?;
        self.writer.sync().map_err(|f| self.lost(f))?;
        self.forget_written();
        Ok(())
    }

    /// Notes `m` as its partition's first message in the current buffer, unless the buffer
    /// already has one of the partition from the same run.
    fn mark(&mut self, m: &Message) {
        let same = self
            .marks
            .last()
            .is_some_and(|last| last.partition == m.partition && last.topic == m.topic);
        if !same {
            self.marks.push(Mark {
                topic: Arc::clone(&m.topic),
                partition: m.partition,
                offset: m.offset,
            });
        }
    }

    fn forget_written(&mut self) {
        let below = self.writer.written_below();
        while self.pending.front().is_some_and(|(seq, _)| *seq < below) {
            self.pending.pop_front();
        }
    }

    fn check(&self) -> Result<(), Unwritten> {
        if self.failed {
            Err(Unwritten { first: Vec::new() })
        } else {
            Ok(())
        }
    }

    /// Stdout failed: every buffer from `failed.first_lost` on, and the current one, is lost.
    fn lost(&mut self, failed: WriteFailed) -> Unwritten {
        self.failed = true;
        let lost = self
            .pending
            .drain(..)
            .filter(|(seq, _)| *seq >= failed.first_lost)
            .flat_map(|(_, marks)| marks)
            .chain(self.marks.drain(..));
        let mut first: Vec<(TopicPartition, i64)> = Vec::new();
        for mark in lost {
            if !first
                .iter()
                .any(|(tp, _)| tp.partition == mark.partition && tp.topic == mark.topic)
            {
                first.push((TopicPartition::new(mark.topic, mark.partition), mark.offset));
            }
        }
        self.buf.clear();
        Unwritten { first }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use rskafka_consumer::{Header, TimestampType};

    use super::*;

    /// A message of topic `t`, partition 3, offset 42.
    pub(crate) fn message(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) -> Message {
        Message {
            topic: Arc::from("t"),
            partition: 3,
            offset: 42,
            timestamp: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: (*k).to_owned(),
                    value: v.map(Bytes::copy_from_slice),
                })
                .collect(),
            leader_epoch: None,
        }
    }

    /// `count` messages of partition `partition` from offset `from`.
    fn run(partition: i32, from: i64, count: usize, value: &[u8]) -> Vec<Message> {
        (0..count)
            .map(|i| Message {
                partition,
                offset: from + i as i64,
                ..message(None, Some(value), &[])
            })
            .collect()
    }

    /// What reached the sink.
    #[derive(Default)]
    struct Recorded {
        bytes: Vec<u8>,
        writes: usize,
        largest_write: usize,
    }

    /// A sink that records its writes, and fails every write after the first `accept`.
    #[derive(Clone, Default)]
    struct Recorder {
        recorded: Arc<Mutex<Recorded>>,
        accept: Option<usize>,
    }

    impl Recorder {
        fn failing_after(accept: usize) -> Self {
            Self {
                accept: Some(accept),
                ..Self::default()
            }
        }

        fn take(&self) -> Recorded {
            std::mem::take(&mut *self.recorded.lock().unwrap())
        }
    }

    impl Write for Recorder {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut r = self.recorded.lock().unwrap();
            if self.accept.is_some_and(|accept| r.writes >= accept) {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            r.bytes.extend_from_slice(b);
            r.writes += 1;
            r.largest_write = r.largest_write.max(b.len());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn json_format() -> MessageFormat {
        MessageFormat::Json {
            delimiter: b"\n".to_vec(),
        }
    }

    fn lines(bytes: &[u8]) -> usize {
        bytes.iter().filter(|&&b| b == b'\n').count()
    }

    #[test]
    fn buffered_output_reaches_the_sink_only_when_handed_over_or_full() {
        let rec = Recorder::default();
        let m = message(Some(b"k"), Some(b"v"), &[]);
        let mut sink = MessageSink::new(rec.clone(), json_format(), Buffering::Buffered).unwrap();
        sink.write_run(&[m.clone(), m]).unwrap();
        sink.hand_over().unwrap();
        sink.sync().unwrap();
        let r = rec.take();
        assert_eq!((r.writes, lines(&r.bytes)), (1, 2));

        let big = message(None, Some(&vec![b'a'; FLUSH_AT]), &[]);
        sink.write_run(&[big]).unwrap();
        sink.sync().unwrap(); // handed over when full: nothing left, no second write
        drop(sink);
        assert_eq!(rec.take().writes, 1);
    }

    #[test]
    fn a_run_of_large_values_is_written_in_slices_near_the_flush_size() {
        // 200 values of 10 KiB of zero bytes: 60 KiB of JSON each (\u0000), 12 MB in all.
        let big = message(None, Some(&[0u8; 10 << 10]), &[]);
        let run = vec![big; 200];
        let rec = Recorder::default();
        let mut sink = MessageSink::new(rec.clone(), json_format(), Buffering::Buffered).unwrap();
        sink.write_run(&run).unwrap();
        sink.sync().unwrap();
        drop(sink);
        let r = rec.take();
        assert_eq!(lines(&r.bytes), 200);
        assert!(
            r.largest_write < 3 * FLUSH_AT,
            "the buffer grew to {} bytes before a hand-over",
            r.largest_write
        );
    }

    #[test]
    fn unbuffered_output_writes_every_message() {
        let rec = Recorder::default();
        let m = message(None, Some(b"v"), &[]);
        let format = MessageFormat::Kcat {
            format: KcatFormat::parse(b"%s\n").unwrap(),
            null: None,
        };
        let mut sink = MessageSink::new(rec.clone(), format, Buffering::Unbuffered).unwrap();
        sink.write_run(&[m.clone(), m]).unwrap();
        sink.sync().unwrap();
        drop(sink);
        let r = rec.take();
        assert_eq!((r.writes, r.bytes.as_slice()), (2, &b"v\nv\n"[..]));
    }

    #[test]
    fn json_objects_are_followed_by_the_delimiter() {
        let rec = Recorder::default();
        let format = MessageFormat::Json {
            delimiter: b"|".to_vec(),
        };
        let mut sink = MessageSink::new(rec.clone(), format, Buffering::Buffered).unwrap();
        sink.write_run(&[message(None, None, &[])]).unwrap();
        sink.sync().unwrap();
        drop(sink);
        let out = rec.take().bytes;
        assert!(out.starts_with(b"{\"topic\":\"t\"") && out.ends_with(b"}|"));
    }

    #[test]
    fn a_failed_output_names_the_first_offset_of_each_partition_that_did_not_reach_it() {
        // The first buffer (partition 1, offsets 0..10) is written, the second one fails:
        // partition 1 from 10 and partition 2 from 100 are lost.
        let rec = Recorder::failing_after(1);
        let mut sink = MessageSink::new(rec.clone(), json_format(), Buffering::Buffered).unwrap();
        sink.write_run(&run(1, 0, 10, b"v")).unwrap();
        sink.sync().unwrap();
        sink.write_run(&run(1, 10, 5, b"v")).unwrap();
        sink.write_run(&run(2, 100, 5, b"v")).unwrap();
        let lost = sink.sync().unwrap_err().first;
        let lost: Vec<(i32, i64)> = lost.iter().map(|(tp, o)| (tp.partition, *o)).collect();
        assert_eq!(lost, [(1, 10), (2, 100)]);
        assert_eq!(lines(&rec.take().bytes), 10);
        // Reported once; later calls fail without offsets.
        assert!(
            sink.write_run(&run(3, 0, 1, b"v"))
                .unwrap_err()
                .first
                .is_empty()
        );
    }

    #[test]
    fn a_failure_found_while_formatting_a_run_loses_that_run_from_its_first_unwritten_message() {
        // Values of 300 KiB: every fourth message fills a buffer. The sink takes one buffer.
        let value = vec![b'a'; 300 << 10];
        let rec = Recorder::failing_after(1);
        let mut sink = MessageSink::new(rec.clone(), json_format(), Buffering::Buffered).unwrap();
        let mut result = Ok(());
        for i in 0..10 {
            result = sink.write_run(&run(5, i * 4, 4, &value));
            if result.is_err() {
                break;
            }
        }
        let lost = result.unwrap_err().first;
        assert_eq!(lost.len(), 1);
        let written = lines(&rec.take().bytes) as i64;
        assert_eq!((lost[0].0.partition, lost[0].1), (5, written));
    }
}
