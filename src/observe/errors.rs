//! The last errors an [`super::Observer`] heard of: a bounded ring of [`ErrorEvent`]s for the
//! status page and the statistics snapshot.
//!
//! Invariants: the ring never holds more than [`ERROR_RING`] events (the oldest is dropped
//! first); an event is formatted once, when it is recorded, and its text is cut to
//! [`MAX_ERROR_TEXT`] characters, so a flood of errors costs bounded memory.

use std::{collections::VecDeque, sync::Mutex, time::SystemTime};

use serde::Serialize;

use crate::hooks::ErrorReport;

/// How many recent errors are kept.
pub const ERROR_RING: usize = 20;

/// The longest error text kept (in characters); longer texts end with `…`.
pub const MAX_ERROR_TEXT: usize = 500;

/// One recent error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEvent {
    /// When it was recorded (Unix milliseconds).
    pub time_ms: u64,
    /// Where it happened: `connection`, `commit`, `handler`, `dead_letter`.
    pub kind: &'static str,
    /// The topic concerned, if one is.
    pub topic: Option<String>,
    /// The partition concerned, if one is.
    pub partition: Option<i32>,
    /// The offset concerned, if one is.
    pub offset: Option<i64>,
    /// The broker concerned, if one is.
    pub broker: Option<i32>,
    /// The error's text.
    pub message: String,
}

/// The bounded ring (oldest first).
#[derive(Debug, Default)]
pub(crate) struct ErrorLog {
    events: Mutex<VecDeque<ErrorEvent>>,
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ErrorLog {
    /// Records `report`, dropping the oldest event when the ring is full.
    pub(crate) fn record(&self, report: &ErrorReport<'_>) {
        let mut message = report.message.to_string();
        if let Some((cut, _)) = message.char_indices().nth(MAX_ERROR_TEXT) {
            message.truncate(cut);
            message.push('…');
        }
        let event = ErrorEvent {
            time_ms: unix_ms(SystemTime::now()),
            kind: report.kind.as_str(),
            topic: report.partition.map(|tp| tp.topic.to_string()),
            partition: report.partition.map(|tp| tp.partition),
            offset: report.offset,
            broker: report.broker,
            message,
        };
        let mut events = self.events.lock().expect("observer errors lock");
        if events.len() == ERROR_RING {
            events.pop_front();
        }
        events.push_back(event);
    }

    /// The kept events, newest first.
    pub(crate) fn recent(&self) -> Vec<ErrorEvent> {
        let events = self.events.lock().expect("observer errors lock");
        events.iter().rev().cloned().collect()
    }
}
