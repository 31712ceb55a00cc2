//! Where `rkc consume` writes: messages to stdout in the chosen [`MessageFormat`], through one
//! large buffer; events and errors to stderr as JSON lines.
//!
//! Invariants: a message is formatted straight from the borrowed [`Message`] into the buffer;
//! the buffer goes to the sink once it holds [`FLUSH_AT`] bytes, on every
//! [`MessageSink::flush`] (the caller flushes whenever the consumer has nothing more ready,
//! before every stderr event and before exit), and after every message when unbuffered (`-u`).
//! So everything written before an event line on stderr is on stdout before it, and `-e`/`-c`
//! output is complete when the process exits.

mod events;
mod format;
pub(crate) mod json;
mod options;

use std::io::{self, Write};

use rskafka_consumer::Message;

pub(crate) use events::{emit, error_json, group_event, partition_eof};
pub(crate) use format::{FormatError, KcatFormat, parse_delimiter};
pub(crate) use options::OutputArgs;

/// Bytes gathered before they are written to the sink.
const FLUSH_AT: usize = 1 << 20;

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

/// Whether the buffer is written only when full (and at the flush points) or after every
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buffering {
    /// Up to [`FLUSH_AT`] bytes between writes.
    Buffered,
    /// Every message is written at once (`-u`).
    Unbuffered,
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

/// Formats messages into a buffer that goes to `W`.
pub(crate) struct MessageSink<W: Write> {
    buf: Vec<u8>,
    sink: W,
    format: MessageFormat,
    buffering: Buffering,
}

impl<W: Write> MessageSink<W> {
    /// A sink writing `format` to `sink`.
    pub(crate) fn new(sink: W, format: MessageFormat, buffering: Buffering) -> Self {
        Self {
            buf: Vec::with_capacity(FLUSH_AT + (FLUSH_AT >> 2)),
            sink,
            format,
            buffering,
        }
    }

    /// Formats `m`; writes the buffer out when it is full (or unbuffered). An error means the
    /// sink is gone (stdout closed).
    pub(crate) fn write(&mut self, m: &Message) -> io::Result<()> {
        match &self.format {
            MessageFormat::Json { delimiter } => {
                json::write(&mut self.buf, m);
                self.buf.extend_from_slice(delimiter);
            }
            MessageFormat::Kcat { format, null } => format.write(&mut self.buf, m, null.as_deref()),
        }
        if self.buf.len() >= FLUSH_AT || self.buffering == Buffering::Unbuffered {
            self.flush()?;
        }
        Ok(())
    }

    /// Formats `run` (consecutive messages of one partition, see `Batch::runs`); writes the
    /// buffer out whenever it is full (or after each message, unbuffered). An error means the
    /// sink is gone (stdout closed); `Err((written, error))` says how many were written.
    pub(crate) fn write_run(&mut self, run: &[Message]) -> Result<(), (usize, io::Error)> {
        match &self.format {
            MessageFormat::Json { delimiter } if self.buffering == Buffering::Buffered => {
                let delimiter = delimiter.clone();
                // In slices that keep the buffer near its flush size: up to RUN_CHUNK small
                // messages, fewer large ones (a value's JSON can be 6x its size: \u0000).
                let chunk_len = run_chunk_len(run);
                let mut written = 0;
                for (i, chunk) in run.chunks(chunk_len).enumerate() {
                    json::write_run(&mut self.buf, chunk, &delimiter);
                    if self.buf.len() >= FLUSH_AT {
                        self.flush().map_err(|e| (written, e))?;
                        written = (i * chunk_len + chunk.len()).min(run.len());
                    }
                }
                Ok(())
            }
            _ => {
                for (i, m) in run.iter().enumerate() {
                    self.write(m).map_err(|e| (i, e))?;
                }
                Ok(())
            }
        }
    }

    /// Writes out everything formatted so far.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let written = self.sink.write_all(&self.buf);
            self.buf.clear();
            written?;
        }
        self.sink.flush()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

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

    /// Counts the writes that reach the sink.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        writes: usize,
        largest_write: usize,
    }

    impl Write for &mut Recorder {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.bytes.extend_from_slice(b);
            self.writes += 1;
            self.largest_write = self.largest_write.max(b.len());
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

    #[test]
    fn buffered_output_reaches_the_sink_only_when_flushed_or_full() {
        let mut rec = Recorder::default();
        let m = message(Some(b"k"), Some(b"v"), &[]);
        {
            let mut sink = MessageSink::new(&mut rec, json_format(), Buffering::Buffered);
            sink.write(&m).unwrap();
            sink.write(&m).unwrap();
            sink.flush().unwrap();
        }
        assert_eq!(rec.writes, 1);
        assert_eq!(rec.bytes.iter().filter(|&&b| b == b'\n').count(), 2);

        let big = message(None, Some(&vec![b'a'; FLUSH_AT]), &[]);
        let mut rec = Recorder::default();
        let mut sink = MessageSink::new(&mut rec, json_format(), Buffering::Buffered);
        sink.write(&big).unwrap();
        sink.flush().unwrap(); // nothing left: no second write
        drop(sink);
        assert_eq!(rec.writes, 1);
    }

    #[test]
    fn a_run_of_large_values_is_flushed_in_slices_near_the_flush_size() {
        // 200 values of 10 KiB of zero bytes: 60 KiB of JSON each (\u0000), 12 MB in all.
        let big = message(None, Some(&[0u8; 10 << 10]), &[]);
        let run = vec![big; 200];
        let mut rec = Recorder::default();
        let mut sink = MessageSink::new(&mut rec, json_format(), Buffering::Buffered);
        sink.write_run(&run).unwrap();
        sink.flush().unwrap();
        drop(sink);
        assert_eq!(rec.bytes.iter().filter(|&&b| b == b'\n').count(), 200);
        assert!(
            rec.largest_write < 3 * FLUSH_AT,
            "the buffer grew to {} bytes before a flush",
            rec.largest_write
        );
    }

    #[test]
    fn unbuffered_output_writes_every_message() {
        let mut rec = Recorder::default();
        let m = message(None, Some(b"v"), &[]);
        let format = MessageFormat::Kcat {
            format: KcatFormat::parse(b"%s\n").unwrap(),
            null: None,
        };
        let mut sink = MessageSink::new(&mut rec, format, Buffering::Unbuffered);
        sink.write(&m).unwrap();
        sink.write(&m).unwrap();
        drop(sink);
        assert_eq!((rec.writes, rec.bytes.as_slice()), (2, &b"v\nv\n"[..]));
    }

    #[test]
    fn json_objects_are_followed_by_the_delimiter() {
        let mut out = Vec::new();
        let format = MessageFormat::Json {
            delimiter: b"|".to_vec(),
        };
        let mut sink = MessageSink::new(&mut out, format, Buffering::Buffered);
        sink.write(&message(None, None, &[])).unwrap();
        sink.flush().unwrap();
        drop(sink);
        assert!(out.starts_with(b"{\"topic\":\"t\"") && out.ends_with(b"}|"));
    }
}
