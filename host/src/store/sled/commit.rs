//! Group commit for sled: a write waits until a flush that began after it
//! has finished. Writers that arrive while a flush runs share the next one,
//! so durable throughput grows with concurrency instead of paying one fsync
//! per write.

use crate::store::StoreError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::watch;

/// Flushes that may run at once. One: a sled flush holds the read side of
/// sled's process-wide lock through its fsync, and every transaction needs
/// the write side, so overlapping flushes would leave transactions no gap
/// (measured: no gain at 8 or 32 writers).
const FLUSHERS: usize = 1;

/// What the flushers have made durable.
#[derive(Debug, Clone, Default)]
struct Flushed {
    /// Every write that took a ticket at or below this is durable.
    through: u64,
    /// The last flush failed: tickets up to `through` get this error.
    failure: Option<String>,
}

/// Tickets handed out and flushes begun.
#[derive(Default)]
struct Tickets {
    /// The last ticket handed out.
    requested: u64,
    /// The highest ticket a flush has begun for.
    started: u64,
    closing: bool,
}

struct Shared {
    tickets: Mutex<Tickets>,
    wake: Condvar,
    flushed: watch::Sender<Flushed>,
}

/// The flushers of one sled database; they stop when the store goes.
pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    flushers: Vec<std::thread::JoinHandle<()>>,
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> Result<GroupCommit, StoreError> {
        let shared = Arc::new(Shared {
            tickets: Mutex::new(Tickets::default()),
            wake: Condvar::new(),
            flushed: watch::Sender::new(Flushed::default()),
        });
        let mut flushers = Vec::with_capacity(FLUSHERS);
        for n in 0..FLUSHERS {
            let (state, db) = (shared.clone(), db.clone());
            let flusher = std::thread::Builder::new()
                .name(format!("citadel-fsync-{n}"))
                .spawn(move || flush_loop(&state, &db))
                .map_err(|e| StoreError::Backend(format!("cannot start a flusher: {e}")))?;
            flushers.push(flusher);
        }
        Ok(GroupCommit { shared, flushers })
    }

    /// Wait until every write this task made before the call is durable.
    pub(super) async fn durable(&self) -> Result<(), StoreError> {
        let mut flushed = self.shared.flushed.subscribe();
        let ticket = {
            let mut tickets = lock(&self.shared.tickets);
            tickets.requested += 1;
            tickets.requested
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
    /// Waits for the flushers to end, so their handles on the database are
    /// gone (and the data dir can be opened again) when the store is.
    fn drop(&mut self) {
        lock(&self.shared.tickets).closing = true;
        self.shared.wake.notify_all();
        for flusher in self.flushers.drain(..) {
            let _ = flusher.join();
        }
    }
}

fn lock(m: &Mutex<Tickets>) -> MutexGuard<'_, Tickets> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn flush_loop(shared: &Shared, db: &sled::Db) {
    loop {
        let target = {
            let mut tickets = lock(&shared.tickets);
            while tickets.requested <= tickets.started && !tickets.closing {
                tickets = shared.wake.wait(tickets).unwrap_or_else(|p| p.into_inner());
            }
            if tickets.requested <= tickets.started {
                return; // closing, and nobody waits
            }
            tickets.started = tickets.requested;
            tickets.started
        };
        // Every write whose ticket is ≤ target happened before this flush
        // began, and sled's flush makes every write before it durable —
        // whatever other flush is running — so finishing covers them all.
        let failure = db.flush().err().map(|e| e.to_string());
        if let Some(reason) = &failure {
            tracing::error!(error = %reason, "the store could not flush");
        }
        shared.flushed.send_if_modified(|flushed| {
            if target <= flushed.through {
                return false; // a later flush already covered these
            }
            *flushed = Flushed {
                through: target,
                failure,
            };
            true
        });
    }
}
