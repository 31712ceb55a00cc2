//! A connection made once and shared: the single-flight slot behind the cluster connection and
//! the coordinator's connections.
//!
//! Invariants: no lock is held across the connect. The slot's mutex guards only the swap of an
//! `Arc<OnceCell>`; callers that want the connection while it is being made wait on that cell
//! (one attempt for all of them), and [`ConnectSlot::forget`] never waits: it puts a fresh cell
//! in place, so the next caller connects anew while an attempt still running finishes into the
//! cell it started in (its caller gets that connection; nobody else does).

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use tokio::sync::OnceCell;

use crate::error::Result;

/// A connection made at most once per cell, replaced after [`ConnectSlot::forget`].
#[derive(Debug)]
pub(crate) struct ConnectSlot<T> {
    cell: Mutex<Arc<OnceCell<Arc<T>>>>,
}

impl<T> Default for ConnectSlot<T> {
    fn default() -> Self {
        Self {
            cell: Mutex::new(Arc::new(OnceCell::new())),
        }
    }
}

impl<T> ConnectSlot<T> {
    /// A slot that already holds `conn`.
    pub(crate) fn with(conn: T) -> Self {
        Self {
            cell: Mutex::new(Arc::new(OnceCell::new_with(Some(Arc::new(conn))))),
        }
    }

    /// The connection, made by `connect` if the slot has none; concurrent callers share one
    /// attempt. A failed attempt leaves the slot empty (the next caller tries again).
    pub(crate) async fn get_or_connect<F, Fut>(&self, connect: F) -> Result<Arc<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let cell = Arc::clone(&self.cell.lock().expect("slot lock"));
        // No slot lock from here on: the connect waits on this cell only.
        let conn = cell
            .get_or_try_init(|| async { connect().await.map(Arc::new) })
            .await?;
        Ok(Arc::clone(conn))
    }

    /// Forgets the connection (and any attempt in progress): the next caller connects anew.
    pub(crate) fn forget(&self) {
        *self.cell.lock().expect("slot lock") = Arc::new(OnceCell::new());
    }

    /// Forgets `conn` if it is still the slot's connection (a newer one is kept).
    pub(crate) fn forget_if(&self, conn: &Arc<T>) {
        let mut cell = self.cell.lock().expect("slot lock");
        if cell.get().is_some_and(|c| Arc::ptr_eq(c, conn)) {
            *cell = Arc::new(OnceCell::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicU32, Ordering},
        time::Duration,
    };

    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn callers_waiting_for_the_same_connection_share_one_attempt() {
        let slot = Arc::new(ConnectSlot::<u32>::default());
        let attempts = Arc::new(AtomicU32::new(0));
        let connect = |attempts: Arc<AtomicU32>| async move {
            attempts.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, Error>(7)
        };
        let (a, b) = tokio::join!(
            slot.get_or_connect(|| connect(Arc::clone(&attempts))),
            slot.get_or_connect(|| connect(Arc::clone(&attempts)))
        );
        assert_eq!((*a.unwrap(), *b.unwrap()), (7, 7));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn forgetting_does_not_wait_for_a_connect_in_progress_and_the_next_caller_connects_anew()
    {
        let slot = Arc::new(ConnectSlot::<u32>::default());
        let hanging = tokio::spawn({
            let slot = Arc::clone(&slot);
            async move {
                slot.get_or_connect(std::future::pending::<Result<u32>>)
                    .await
                    .map(|c| *c)
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await; // the attempt is in progress
        slot.forget(); // synchronous: nothing to wait for
        let fresh = tokio::time::timeout(
            Duration::from_secs(30),
            slot.get_or_connect(|| async { Ok(2) }),
        )
        .await
        .expect("a new caller must not wait for the forgotten attempt");
        assert_eq!(*fresh.unwrap(), 2);
        assert!(!hanging.is_finished());
        hanging.abort();
    }

    #[tokio::test]
    async fn forget_if_keeps_a_newer_connection() {
        let slot = ConnectSlot::with(1u32);
        let old = slot.get_or_connect(|| async { Ok(9) }).await.unwrap();
        assert_eq!(*old, 1);
        slot.forget_if(&old);
        let new = slot.get_or_connect(|| async { Ok(2) }).await.unwrap();
        slot.forget_if(&old);
        let same = slot.get_or_connect(|| async { Ok(3) }).await.unwrap();
        assert!(Arc::ptr_eq(&new, &same));
    }
}
