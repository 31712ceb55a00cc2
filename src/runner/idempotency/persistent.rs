//! The persistent idempotency store, on `redb` (a pure-Rust embedded database).
//!
//! Invariants: [`IdempotencyStore::record`] returns only after its write transaction was
//! committed durably (fsynced), so a record survives SIGKILL and power loss; an identity
//! older than the TTL is never reported and is deleted by the periodic sweep; one process at a
//! time opens a file (redb locks it).

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redb::{Database, ReadableTableMetadata, TableDefinition};

use super::{IdempotencyStore, StoreError};

/// identity → when it was recorded (milliseconds since the epoch).
const DONE: TableDefinition<'_, &[u8], u64> = TableDefinition::new("done");

/// Records between two sweeps of expired identities.
const SWEEP_EVERY: u64 = 10_000;

/// A durable [`IdempotencyStore`] in one file.
pub struct PersistentStore {
    db: Database,
    ttl: Duration,
    writes: AtomicU64,
}

impl std::fmt::Debug for PersistentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentStore")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl PersistentStore {
    /// Opens (or creates) the store at `path`; identities expire after `ttl`. Expired ones
    /// are swept at once.
    pub fn open(path: &Path, ttl: Duration) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let store = Self {
            db,
            ttl,
            writes: AtomicU64::new(0),
        };
        let txn = store.db.begin_write().map_err(err)?;
        txn.open_table(DONE).map_err(err)?;
        txn.commit().map_err(err)?;
        store.sweep()?;
        Ok(store)
    }

    /// Deletes the identities older than the TTL; returns how many.
    pub fn sweep(&self) -> Result<usize, StoreError> {
        let cutoff = now_ms().saturating_sub(self.ttl.as_millis() as u64);
        let txn = self.db.begin_write().map_err(err)?;
        let removed = {
            let mut table = txn.open_table(DONE).map_err(err)?;
            let before = table.len().map_err(err)?;
            table.retain(|_, at| at >= cutoff).map_err(err)?;
            before - table.len().map_err(err)?
        };
        txn.commit().map_err(err)?;
        Ok(removed as usize)
    }
}

impl IdempotencyStore for PersistentStore {
    fn contains(&self, identity: &[u8]) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(DONE).map_err(err)?;
        let at = table.get(identity).map_err(err)?.map(|v| v.value());
        let cutoff = now_ms().saturating_sub(self.ttl.as_millis() as u64);
        Ok(at.is_some_and(|at| at >= cutoff))
    }

    fn record(&self, identity: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut table = txn.open_table(DONE).map_err(err)?;
            table.insert(identity, now_ms()).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening_and_expire_after_the_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done.redb");
        {
            let s = PersistentStore::open(&path, Duration::from_secs(3600)).unwrap();
            s.record(b"a").unwrap();
            assert!(s.contains(b"a").unwrap());
            assert!(!s.contains(b"b").unwrap());
        }
        let s = PersistentStore::open(&path, Duration::from_secs(3600)).unwrap();
        assert!(s.contains(b"a").unwrap(), "kept across reopening");
        drop(s);
        std::thread::sleep(Duration::from_millis(5));
        let s = PersistentStore::open(&path, Duration::from_millis(1)).unwrap();
        assert!(!s.contains(b"a").unwrap(), "expired and swept");
    }

    #[test]
    fn a_second_open_of_the_same_file_fails_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done.redb");
        let _first = PersistentStore::open(&path, Duration::from_secs(60)).unwrap();
        let second = PersistentStore::open(&path, Duration::from_secs(60));
        let e = second.expect_err("locked");
        assert!(e.to_string().contains("done.redb"), "{e}");
    }
}
