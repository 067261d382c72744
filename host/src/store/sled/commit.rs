//! Group commit for sled: a write waits until a flush that began after it
//! has finished. One thread flushes; every writer that arrived while the
//! previous flush ran shares the next one, so durable throughput grows with
//! concurrency instead of paying one fsync per write.

use crate::store::StoreError;
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::watch;

/// What the flusher has made durable.
#[derive(Debug, Clone, Default)]
struct Flushed {
    /// Every write that took a ticket at or below this is durable.
    through: u64,
    /// The last flush failed: tickets up to `through` get this error.
    failure: Option<String>,
}

struct Shared {
    /// The last ticket handed out, and whether the store is closing.
    requested: Mutex<(u64, bool)>,
    wake: Condvar,
    flushed: watch::Sender<Flushed>,
}

/// The flusher of one sled database; stops when the last handle goes.
pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    flusher: Option<std::thread::JoinHandle<()>>,
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> Result<GroupCommit, StoreError> {
        let shared = Arc::new(Shared {
            requested: Mutex::new((0, false)),
            wake: Condvar::new(),
            flushed: watch::Sender::new(Flushed::default()),
        });
        let state = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("citadel-fsync".into())
            .spawn(move || flush_loop(&state, &db))
            .map_err(|e| StoreError::Backend(format!("cannot start the flusher: {e}")))?;
        Ok(GroupCommit {
            shared,
            flusher: Some(flusher),
        })
    }

    /// Wait until every write this task made before the call is durable.
    pub(super) async fn durable(&self) -> Result<(), StoreError> {
        let mut flushed = self.shared.flushed.subscribe();
        let ticket = {
            let mut requested = lock(&self.shared.requested);
            requested.0 += 1;
            requested.0
        };
        self.shared.wake.notify_one();
        let outcome = flushed
            .wait_for(|f| f.through >= ticket)
            .await
            .map_err(|_| StoreError::Backend("the store is closing".into()))?;
        match &outcome.failure {
            Some(reason) => Err(StoreError::Backend(format!("flush failed: {reason}"))),
            None => Ok(()),
        }
    }
}

impl Drop for GroupCommit {
    /// Waits for the flusher to end, so its handle on the database is gone
    /// (and the data dir can be opened again) when the store is.
    fn drop(&mut self) {
        lock(&self.shared.requested).1 = true;
        self.shared.wake.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

fn lock(m: &Mutex<(u64, bool)>) -> std::sync::MutexGuard<'_, (u64, bool)> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn flush_loop(shared: &Shared, db: &sled::Db) {
    let mut through = 0;
    loop {
        let target = {
            let mut requested = lock(&shared.requested);
            while requested.0 <= through && !requested.1 {
                requested = shared
                    .wake
                    .wait(requested)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if requested.0 <= through {
                return; // closing, and nobody waits
            }
            requested.0
        };
        // Every write whose ticket is ≤ target happened before this flush began.
        let failure = db.flush().err().map(|e| e.to_string());
        if let Some(reason) = &failure {
            tracing::error!(error = %reason, "the store could not flush");
        }
        through = target;
        shared.flushed.send_replace(Flushed { through, failure });
    }
}
