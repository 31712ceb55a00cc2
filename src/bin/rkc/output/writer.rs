//! The writer thread: full output buffers go to a dedicated thread that writes them to the
//! sink, so formatting and fetching go on while the kernel copies the previous buffer.
//!
//! Invariants:
//! - At most [`DEPTH`] buffers exist: the one being filled and those queued for or in the
//!   thread; a hand-over waits for a written buffer to come back when all are out. Memory is
//!   bounded by that count, and the caller is held back when the sink is slower than it.
//! - Buffers are written in the order they were handed over, each with one `write_all`; a
//!   written buffer comes back empty, with its sequence number, for reuse.
//! - [`Writer::sync`] returns once everything handed over is written and the sink flushed.
//! - The first write error stops the thread; it is reported once, with the sequence number of
//!   the first buffer not written, by the next call (every buffer from that one on is lost).

use std::{
    io::{self, Write},
    sync::mpsc::{Receiver, SyncSender, channel, sync_channel},
    thread::JoinHandle,
};

/// Buffers in existence: one being filled, one queued, one being written.
pub(crate) const DEPTH: usize = 3;

/// A numbered buffer handed to the thread, or a request to flush the sink.
enum Job {
    Write(u64, Vec<u8>),
    Flush,
}

/// What the thread reports back, in the order it happened.
enum Done {
    /// The buffer with this sequence number is written; here it is back, empty.
    Written(u64, Vec<u8>),
    /// Everything before the flush request is written and the sink flushed.
    Flushed,
    /// Writing failed at the buffer with this sequence number (or at the flush after it).
    Failed(u64, io::Error),
}

/// Why output stopped: the sink's error and the first buffer that did not reach it.
#[derive(Debug)]
pub(crate) struct WriteFailed {
    /// Sequence number of the first buffer not written: it and every later one are lost.
    pub(crate) first_lost: u64,
    /// The sink's error.
    pub(crate) error: io::Error,
}

/// The formatting side's handle on the writer thread.
pub(crate) struct Writer {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    /// Empty buffers ready for reuse.
    spare: Vec<Vec<u8>>,
    /// Buffers allocated so far (at most [`DEPTH`]).
    allocated: usize,
    /// Capacity of each buffer.
    capacity: usize,
    /// Sequence number of the next buffer handed over.
    next_seq: u64,
    /// Every buffer below this sequence number is written.
    written_below: u64,
    failed: Option<u64>,
}

impl Writer {
    /// Starts the thread writing to `sink`; buffers are allocated with `capacity` bytes.
    pub(crate) fn start<W: Write + Send + 'static>(sink: W, capacity: usize) -> io::Result<Self> {
        let (jobs, job_rx) = sync_channel::<Job>(DEPTH + 1);
        let (done_tx, done) = channel::<Done>();
        let thread = std::thread::Builder::new()
            .name("rkc-writer".into())
            .spawn(move || write_loop(sink, &job_rx, &done_tx))?;
        Ok(Self {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            spare: Vec::new(),
            allocated: 0,
            capacity,
            next_seq: 0,
            written_below: 0,
            failed: None,
        })
    }

    /// An empty buffer to fill: a spare one, a new one while fewer than [`DEPTH`] exist, or
    /// the next one the thread gives back (waiting for it).
    pub(crate) fn buffer(&mut self) -> Result<Vec<u8>, WriteFailed> {
        self.collect()?;
        if let Some(buf) = self.spare.pop() {
            return Ok(buf);
        }
        if self.allocated < DEPTH {
            self.allocated += 1;
            return Ok(Vec::with_capacity(self.capacity));
        }
        while self.spare.is_empty() {
            self.receive()?;
        }
        Ok(self.spare.pop().expect("a buffer came back"))
    }

    /// Hands `buf` to the thread (an empty one is kept as a spare); returns its sequence
    /// number. Does not wait for the write.
    pub(crate) fn hand_over(&mut self, buf: Vec<u8>) -> Result<u64, WriteFailed> {
        self.collect()?;
        if buf.is_empty() {
            self.spare.push(buf);
            return Ok(self.next_seq);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.send(Job::Write(seq, buf))?;
        Ok(seq)
    }

    /// Waits until everything handed over is written and the sink flushed.
    pub(crate) fn sync(&mut self) -> Result<(), WriteFailed> {
        self.send(Job::Flush)?;
        loop {
            if let Done::Flushed = self.receive()? {
                return Ok(());
            }
        }
    }

    /// Every buffer with a lower sequence number is written.
    pub(crate) fn written_below(&self) -> u64 {
        self.written_below
    }

    fn send(&mut self, job: Job) -> Result<(), WriteFailed> {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            // The thread stopped after a failure: its report is in the queue.
            loop {
                self.receive()?;
            }
        }
    }

    /// Takes what the thread reported so far, without waiting.
    fn collect(&mut self) -> Result<(), WriteFailed> {
        self.reported_failure()?;
        while let Ok(done) = self.done.try_recv() {
            self.take(done)?;
        }
        Ok(())
    }

    /// The failure again, once it was reported.
    fn reported_failure(&self) -> Result<(), WriteFailed> {
        self.failed.map_or(Ok(()), |first_lost| {
            Err(WriteFailed {
                first_lost,
                error: io::Error::new(io::ErrorKind::BrokenPipe, "the output failed before"),
            })
        })
    }

    /// Waits for the thread's next report.
    fn receive(&mut self) -> Result<Done, WriteFailed> {
        self.reported_failure()?;
        let done = self.done.recv().unwrap_or_else(|_| {
            Done::Failed(
                self.written_below,
                io::Error::other("the writer thread stopped"),
            )
        });
        self.take(done)
    }

    fn take(&mut self, done: Done) -> Result<Done, WriteFailed> {
        match done {
            Done::Written(seq, mut buf) => {
                self.written_below = seq + 1;
                buf.clear();
                self.spare.push(buf);
                Ok(Done::Written(seq, Vec::new()))
            }
            Done::Flushed => Ok(Done::Flushed),
            Done::Failed(first_lost, error) => {
                self.failed = Some(first_lost);
                self.jobs = None;
                Err(WriteFailed { first_lost, error })
            }
        }
    }
}

impl Drop for Writer {
    /// Lets the thread write what it was given, then joins it.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread: writes each buffer, reports it, stops at the first error.
fn write_loop<W: Write>(mut sink: W, jobs: &Receiver<Job>, done: &std::sync::mpsc::Sender<Done>) {
    let mut next_seq = 0;
    while let Ok(job) = jobs.recv() {
        let (report, result) = match job {
            Job::Write(seq, buf) => {
                next_seq = seq + 1;
                let result = sink.write_all(&buf);
                (Done::Written(seq, buf), result.map_err(|e| (seq, e)))
            }
            Job::Flush => (Done::Flushed, sink.flush().map_err(|e| (next_seq, e))),
        };
        let report = match result {
            Ok(()) => report,
            Err((first_lost, error)) => Done::Failed(first_lost, error),
        };
        let stop = matches!(report, Done::Failed(..));
        if done.send(report).is_err() || stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes its time.
    struct Slow(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Slow {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            std::thread::sleep(std::time::Duration::from_millis(1));
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_slow_sink_holds_the_caller_back_with_at_most_depth_buffers_and_keeps_their_order() {
        let out = std::sync::Arc::default();
        let mut writer = Writer::start(Slow(std::sync::Arc::clone(&out)), 16).unwrap();
        for i in 0..50u8 {
            let mut buf = writer.buffer().unwrap();
            buf.push(i);
            writer.hand_over(buf).unwrap();
            assert!(writer.allocated <= DEPTH, "{} buffers", writer.allocated);
        }
        writer.sync().unwrap();
        assert_eq!(writer.written_below(), 50);
        assert_eq!(*out.lock().unwrap(), (0..50u8).collect::<Vec<_>>());
    }
}
