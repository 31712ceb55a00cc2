//! What the application plugs into the runner: a [`Handler`] that processes one message, and
//! the two ways it can fail.
//!
//! Invariants: a handler sees each message at least once per attempt the runner makes; it is
//! never called twice concurrently for messages that must stay in order (same partition, or
//! same key under `ordering = "key"`); [`current_attempt`] tells it which attempt this is.

use std::{future::Future, sync::Arc, time::Duration};

use futures::future::BoxFuture;

use crate::Message;

/// Why a handler did not finish a message.
///
/// `Retryable` failures are tried again (up to `[retry] max_attempts`, with backoff);
/// `Permanent` ones go to the dead-letter topic at once. Both carry an error-class name (the
/// `exception.class.name` of the DLQ headers) and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// A failure that may pass: a timeout, a busy downstream, a lost connection.
    #[error("{class}: {message}")]
    Retryable {
        /// The error's class name (e.g. `Timeout`, `HttpStatus503`).
        class: String,
        /// What went wrong.
        message: String,
        /// The earliest the next attempt should be made (e.g. from `Retry-After`); the
        /// runner waits at least this long, and at least its own backoff.
        retry_after: Option<Duration>,
    },
    /// A failure that trying again cannot fix: the message itself is bad.
    #[error("{class}: {message}")]
    Permanent {
        /// The error's class name.
        class: String,
        /// What went wrong.
        message: String,
    },
}

impl HandlerError {
    /// A retryable failure of class `Retryable`.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable {
            class: "Retryable".into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// A permanent failure of class `Permanent`.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent {
            class: "Permanent".into(),
            message: message.into(),
        }
    }

    /// The same failure with error class `class`.
    pub fn with_class(mut self, class: impl Into<String>) -> Self {
        match &mut self {
            Self::Retryable { class: c, .. } | Self::Permanent { class: c, .. } => {
                *c = class.into()
            }
        }
        self
    }

    /// A retryable failure that asks for at least `delay` before the next attempt.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        if let Self::Retryable { retry_after, .. } = &mut self {
            *retry_after = Some(delay);
        }
        self
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    /// The error-class name.
    pub fn class(&self) -> &str {
        match self {
            Self::Retryable { class, .. } | Self::Permanent { class, .. } => class,
        }
    }

    /// The error message, without the class.
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable { message, .. } | Self::Permanent { message, .. } => message,
        }
    }

    /// The delay the handler asked for before the next attempt, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            Self::Permanent { .. } => None,
        }
    }
}

/// Processes one message. Used as `Arc<dyn Handler>`; implement it directly or wrap a closure
/// with [`handler_fn`].
///
/// # Cancel safety
/// The runner drops the future when the attempt times out (`[handler] timeout`); a handler
/// that starts work it cannot abandon must make that work idempotent.
pub trait Handler: Send + Sync + 'static {
    /// Processes `message`; `Ok` means done (its offset may be committed).
    fn process<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), HandlerError>>;
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn process<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), HandlerError>> {
        (**self).process(message)
    }
}

/// A [`Handler`] made of a closure that takes the message (a cheap clone: key and value are
/// shared bytes) and returns a future.
///
/// ```
/// use rskafka_consumer::runner::{HandlerError, handler_fn};
/// let handler = handler_fn(|message| async move {
///     match message.value {
///         Some(_) => Ok(()),
///         None => Err(HandlerError::permanent("empty value")),
///     }
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    FnHandler(f)
}

/// The [`Handler`] [`handler_fn`] returns.
#[derive(Debug, Clone)]
pub struct FnHandler<F>(F);

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn process<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin((self.0)(message.clone()))
    }
}

tokio::task_local! {
    static ATTEMPT: u32;
}

/// The attempt (1-based) of the message the calling handler is processing; 1 outside the
/// runner.
pub fn current_attempt() -> u32 {
    ATTEMPT.try_with(|a| *a).unwrap_or(1)
}

/// Runs `fut` with [`current_attempt`] returning `attempt`.
pub(crate) async fn with_attempt<T>(attempt: u32, fut: impl Future<Output = T>) -> T {
    ATTEMPT.scope(attempt, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_class_message_and_retry_after() {
        let e = HandlerError::retryable("busy")
            .with_class("HttpStatus503")
            .with_retry_after(Duration::from_secs(2));
        assert!(e.is_retryable());
        assert_eq!(e.class(), "HttpStatus503");
        assert_eq!(e.message(), "busy");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(e.to_string(), "HttpStatus503: busy");
        let p = HandlerError::permanent("bad json").with_retry_after(Duration::from_secs(1));
        assert!(!p.is_retryable());
        assert_eq!(p.retry_after(), None);
    }

    #[tokio::test]
    async fn closures_are_handlers_and_see_their_attempt() {
        let h: Arc<dyn Handler> = Arc::new(handler_fn(|m: Message| async move {
            if current_attempt() == 3 && m.offset == 7 {
                Ok(())
            } else {
                Err(HandlerError::retryable("not yet"))
            }
        }));
        let m = crate::runner::test_message("t", 0, 7, None);
        assert!(h.process(&m).await.is_err());
        assert!(with_attempt(3, h.process(&m)).await.is_ok());
    }
}
