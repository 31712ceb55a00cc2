//! Skipping messages that were already processed: identities and the stores that remember them.
//!
//! # The guarantee
//! Delivery stays **at-least-once**: an offset is committed only after its message finished,
//! so after a crash or a rebalance everything after the last commit is delivered again.
//! The store turns that into **effectively-once processing within its scope**: before the
//! handler runs, the runner asks the store whether the message's identity was recorded and,
//! if so, skips it (and commits past it); after the handler succeeded, it records the
//! identity. The scope is the store's: one process for `memory` (capacity and TTL bounded),
//! every run that shares the file for a persistent store (TTL bounded).
//!
//! What it cannot close is the gap between the handler's side effect and the store's write:
//! a crash (SIGKILL, power loss) after the handler's effect and before the store's durable
//! commit means the message is processed again on restart. The persistent store commits each
//! write durably before the offset can be committed, so that window is one message wide per
//! in-flight handler. Only a handler whose side effect and identity land in the same
//! transaction (its own database) can close it.
//!
//! Invariants: a store answers `true` only for identities recorded within its TTL; a store
//! error never skips a message (it is processed, at-least-once).

mod memory;
mod persistent;

pub use memory::MemoryStore;
pub use persistent::PersistentStore;

use crate::Message;

/// What identifies a message for the idempotency store (`[idempotency] key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityKind {
    /// `offset`: (topic, partition, offset) — catches redeliveries of the same record.
    Offset,
    /// `record_key`: the record key — catches the same business event produced twice.
    /// Messages without a key are never skipped.
    RecordKey,
    /// `header:NAME`: the value of the first header `NAME` (e.g. an event id). Messages
    /// without it are never skipped.
    Header(String),
}

impl IdentityKind {
    /// Parses `offset`, `record_key` or `header:NAME`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "offset" => Some(Self::Offset),
            "record_key" => Some(Self::RecordKey),
            _ => s
                .strip_prefix("header:")
                .filter(|n| !n.is_empty())
                .map(|n| Self::Header(n.to_owned())),
        }
    }

    /// The identity of `message`, when it has one. Identities of different kinds never equal
    /// each other (each starts with its kind's tag).
    pub fn identity(&self, message: &Message) -> Option<Vec<u8>> {
        match self {
            Self::Offset => {
                let mut id = Vec::with_capacity(message.topic.len() + 14);
                id.push(b'o');
                id.extend_from_slice(message.topic.as_bytes());
                id.push(0);
                id.extend_from_slice(&message.partition.to_be_bytes());
                id.extend_from_slice(&message.offset.to_be_bytes());
                Some(id)
            }
            Self::RecordKey => message.key.as_ref().map(|k| tagged(b'k', k)),
            Self::Header(name) => message
                .headers
                .iter()
                .find(|h| h.key == *name)
                .and_then(|h| h.value.as_ref())
                .map(|v| tagged(b'h', v)),
        }
    }
}

fn tagged(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut id = Vec::with_capacity(bytes.len() + 1);
    id.push(tag);
    id.extend_from_slice(bytes);
    id
}

/// The store failed; the runner processes the message anyway (at-least-once).
#[derive(Debug, thiserror::Error)]
#[error("idempotency store: {0}")]
pub struct StoreError(pub String);

/// Remembers which message identities were processed. Used as `Arc<dyn IdempotencyStore>`;
/// the methods may block (disk I/O): the runner calls them off the async threads when
/// [`IdempotencyStore::blocks`] says so.
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Whether `identity` was recorded (and has not expired).
    fn contains(&self, identity: &[u8]) -> Result<bool, StoreError>;
    /// Records `identity` as processed; returns once it is as durable as the store gets.
    fn record(&self, identity: &[u8]) -> Result<(), StoreError>;
    /// Whether calls may block on I/O.
    fn blocks(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;

    #[test]
    fn identities_follow_the_configured_kind() {
        let mut m = crate::runner::test_message("t", 1, 5, Some("k1"));
        m.headers = vec![Header {
            key: "event-id".into(),
            value: Some(bytes::Bytes::from_static(b"e-9")),
        }];
        let offset = IdentityKind::Offset.identity(&m).unwrap();
        let mut other = m.clone();
        other.offset = 6;
        assert_ne!(Some(offset), IdentityKind::Offset.identity(&other));
        assert_eq!(
            IdentityKind::RecordKey.identity(&m),
            IdentityKind::RecordKey.identity(&other)
        );
        assert_eq!(
            IdentityKind::parse("header:event-id").unwrap().identity(&m),
            Some(b"he-9".to_vec())
        );
        assert_eq!(
            IdentityKind::parse("header:nope").unwrap().identity(&m),
            None
        );
        m.key = None;
        assert_eq!(IdentityKind::RecordKey.identity(&m), None);
        assert_eq!(IdentityKind::parse("header:"), None);
        assert_eq!(IdentityKind::parse("value"), None);
    }
}
