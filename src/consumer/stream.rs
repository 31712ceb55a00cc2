//! [`Consumer::stream`](super::Consumer::stream): messages, events and errors as a `Stream`.
//!
//! Invariants:
//! - A buffered entry leaves the buffer only in the `poll_next` call that returns it, so a
//!   dropped `next()` loses nothing and hands nothing out twice.
//! - Polling (`max.poll.interval.ms`) is counted per `poll_next` call, not for the life of a
//!   pending wait: the wait ends every [`tick`] so that a task awaiting the stream calls
//!   `poll_next` again and keeps counting; after its `next()` was dropped nobody calls it, and
//!   the application stops counting as polling (a wait kept alive inside the stream must not
//!   hold the member in the group for an application that went away).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::Stream;

use crate::{error::Result, group::member::Member, types::Event};

use super::Consumer;

/// A pending wait for the next entry.
type Wait<'a> = Pin<Box<dyn Future<Output = Option<Result<Event>>> + Send + 'a>>;

/// The stream behind [`Consumer::stream`](super::Consumer::stream).
pub(super) struct EventStream<'a> {
    consumer: &'a Consumer,
    wait: Option<Wait<'a>>,
}

impl<'a> EventStream<'a> {
    pub(super) fn new(consumer: &'a Consumer) -> Self {
        Self {
            consumer,
            wait: None,
        }
    }
}

/// How long one wait lasts before `poll_next` runs again: well within
/// `max.poll.interval.ms`, at most a second.
fn tick(member: Option<&Member>) -> Duration {
    member.map_or(Duration::from_secs(1), |m| {
        (m.config.max_poll_interval / 4).clamp(Duration::from_millis(1), Duration::from_secs(1))
    })
}

impl Stream for EventStream<'_> {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let consumer = this.consumer;
        loop {
            if consumer.shared.is_closed() {
                this.wait = None;
                return Poll::Ready(None);
            }
            let member = consumer.member.lock().expect("member lock").clone();
            // This call is a poll (it also acknowledges a revocation handed out before).
            if let Some(m) = member.as_deref() {
                drop(m.polling());
            }
            let wait = this.wait.get_or_insert_with(|| {
                let timeout = tick(member.as_deref());
                Box::pin(async move { consumer.next_event(member.as_deref(), timeout).await })
            });
            match wait.as_mut().poll(cx) {
                Poll::Ready(Some(event)) => {
                    this.wait = None;
                    return Poll::Ready(Some(event));
                }
                // The tick passed with nothing: wait again (counting this as a poll).
                Poll::Ready(None) => this.wait = None,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
