//! Where messages that failed for good go: the dead-letter sink the runner hands them to.
//!
//! Invariants: the runner commits a dead-lettered message's offset only after
//! [`DeadLetterSink::dead_letter`] returned `Ok` (the record is acknowledged by the DLQ); an
//! `Err` leaves the message unfinished and its partition stalled (retried with backoff), never
//! skipped. The project's DLQ writer (idempotent producer, header styles) implements this
//! trait; [`MemorySink`] keeps dead letters in memory for tests.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::SystemTime,
};

use futures::future::BoxFuture;

use crate::Message;

/// A message to dead-letter, with why and when it failed.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The source message (key, value, headers, timestamp are kept in the DLQ record).
    pub message: &'a Message,
    /// The consumer group that gave up on it.
    pub group_id: &'a str,
    /// Attempts made.
    pub attempts: u32,
    /// The last error's class name.
    pub error_class: &'a str,
    /// The last error's message.
    pub error_message: &'a str,
    /// When the last attempt failed.
    pub failed_at: SystemTime,
}

/// Where a dead letter was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqReceipt {
    /// The dead-letter topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The record's offset there.
    pub offset: i64,
}

/// The dead-letter write failed; the message stays unfinished and its partition stalls
/// either way (nothing is skipped). Retriable means the same write may succeed later by
/// itself (the topic appears, the cluster comes back); otherwise it needs an operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dead-letter write failed: {message}")]
pub struct SinkError {
    message: String,
    retriable: bool,
}

impl SinkError {
    /// A failure that may clear by itself.
    pub fn retriable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: true,
        }
    }

    /// A failure that needs someone to change the DLQ (permissions, size limits…).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retriable: false,
        }
    }

    /// Whether the same write may succeed later without anyone changing anything.
    pub fn is_retriable(&self) -> bool {
        self.retriable
    }

    /// What went wrong (the error chain, as text).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Writes dead letters. Used as `Arc<dyn DeadLetterSink>`.
///
/// # Cancel safety
/// The runner never drops a write it started except at an abort (second signal); a writer
/// whose retried writes may duplicate must make them idempotent.
pub trait DeadLetterSink: Send + Sync + 'static {
    /// Writes `letter` and returns where it landed once acknowledged.
    fn dead_letter<'a>(
        &'a self,
        letter: DeadLetter<'a>,
    ) -> BoxFuture<'a, Result<DlqReceipt, SinkError>>;

    /// Takes new `[dlq]` settings (topic, header style, compression) from a configuration
    /// reload, for the next dead letter; returns whether it did. The default takes none
    /// (those settings then need a restart and the reload says so).
    fn reconfigure(&self, dlq: &super::config::DlqConfig) -> bool {
        let _ = dlq;
        false
    }
}

/// A dead letter as [`MemorySink`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLetter {
    /// The source message.
    pub message: Message,
    /// Attempts made.
    pub attempts: u32,
    /// The error class.
    pub error_class: String,
    /// The error message.
    pub error_message: String,
}

/// A [`DeadLetterSink`] in memory (for tests): every letter lands at the next offset of
/// partition 0 of `<topic>.dlq`, unless it was told to fail.
#[derive(Debug, Default)]
pub struct MemorySink {
    letters: Mutex<Vec<StoredLetter>>,
    failing: AtomicBool,
}

impl MemorySink {
    /// An empty sink that accepts writes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes writes fail (`true`) or succeed again.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The letters written so far, in order.
    pub fn letters(&self) -> Vec<StoredLetter> {
        self.letters.lock().expect("letters lock").clone()
    }
}

impl DeadLetterSink for MemorySink {
    fn dead_letter<'a>(
        &'a self,
        letter: DeadLetter<'a>,
    ) -> BoxFuture<'a, Result<DlqReceipt, SinkError>> {
        Box::pin(async move {
            if self.failing.load(Ordering::SeqCst) {
                return Err(SinkError::retriable("the memory sink is set to fail"));
            }
            let mut letters = self.letters.lock().expect("letters lock");
            letters.push(StoredLetter {
                message: letter.message.clone(),
                attempts: letter.attempts,
                error_class: letter.error_class.to_owned(),
                error_message: letter.error_message.to_owned(),
            });
            Ok(DlqReceipt {
                topic: format!("{}.dlq", letter.message.topic),
                partition: 0,
                offset: letters.len() as i64 - 1,
            })
        })
    }
}
