//! Stopping the runner from outside: [`RunnerHandle`].
//!
//! Invariants: a graceful shutdown stops starting messages, lets in-flight attempts and
//! dead-letter writes finish within `[shutdown] timeout`, commits each partition's finished
//! prefix, and leaves the group; an abort returns at once and commits nothing more. The
//! requested stop only ever escalates (running → draining → aborted).

use std::sync::Arc;

use tokio::sync::watch;

/// What the owner of the runner asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    /// Keep running.
    Run,
    /// Finish what is in flight, commit, leave.
    Drain,
    /// Stop at once.
    Abort,
}

/// Stops a running [`super::Runner`]; cheap to clone, usable from any task or signal handler.
#[derive(Debug, Clone)]
pub struct RunnerHandle {
    tx: Arc<watch::Sender<Stop>>,
}

impl RunnerHandle {
    pub(crate) fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(Stop::Run).0),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Stop> {
        self.tx.subscribe()
    }

    fn escalate(&self, to: Stop) {
        self.tx.send_if_modified(|s| {
            if *s < to {
                *s = to;
                true
            } else {
                false
            }
        });
    }

    /// Graceful shutdown: no new messages start, in-flight ones finish (bounded by
    /// `[shutdown] timeout`), finished offsets are committed, the member leaves the group, and
    /// `run` returns.
    pub fn shutdown(&self) {
        self.escalate(Stop::Drain);
    }

    /// Stops at once: `run` returns without waiting for in-flight messages and without
    /// committing them (they are delivered again to the next owner).
    pub fn abort(&self) {
        self.escalate(Stop::Abort);
    }
}
