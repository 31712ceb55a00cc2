//! The in-memory idempotency store: a bounded LRU of identities with a TTL.
//!
//! Invariants: at most `capacity` identities are held (the least recently used goes first);
//! an identity older than the TTL is never reported; nothing survives the process.

use std::{
    num::NonZeroUsize,
    sync::Mutex,
    time::{Duration, Instant},
};

use lru::LruCache;

use super::{IdempotencyStore, StoreError};

/// A bounded in-memory [`IdempotencyStore`].
#[derive(Debug)]
pub struct MemoryStore {
    done: Mutex<LruCache<Vec<u8>, Instant>>,
    ttl: Duration,
}

impl MemoryStore {
    /// Holds up to `capacity` identities (at least 1), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            done: Mutex::new(LruCache::new(capacity)),
            ttl,
        }
    }
}

impl IdempotencyStore for MemoryStore {
    fn contains(&self, identity: &[u8]) -> Result<bool, StoreError> {
        let mut done = self.done.lock().expect("store lock");
        match done.get(identity) {
            Some(at) if at.elapsed() <= self.ttl => Ok(true),
            Some(_) => {
                done.pop(identity);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    fn record(&self, identity: &[u8]) -> Result<(), StoreError> {
        self.done
            .lock()
            .expect("store lock")
            .put(identity.to_vec(), Instant::now());
        Ok(())
    }

    fn blocks(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_up_to_capacity_least_recently_used_first_out() {
        let s = MemoryStore::new(2, Duration::from_secs(60));
        s.record(b"a").unwrap();
        s.record(b"b").unwrap();
        assert!(s.contains(b"a").unwrap()); // a is now the most recent
        s.record(b"c").unwrap(); // evicts b
        assert!(s.contains(b"a").unwrap());
        assert!(!s.contains(b"b").unwrap());
        assert!(s.contains(b"c").unwrap());
    }

    #[test]
    fn expired_identities_are_forgotten() {
        let s = MemoryStore::new(10, Duration::ZERO);
        s.record(b"a").unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(!s.contains(b"a").unwrap());
    }
}
