//! The expiry sweep: frame tokens and reported locations past their expiry
//! are removed from the store every minute (lookups already refuse them; the
//! sweep keeps the store from growing with dead records).

use crate::store::Store;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time between sweeps.
pub const EVERY: Duration = Duration::from_secs(60);

/// Sweep until `stop` fires.
pub async fn run(store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match store
            .identity
            .sweep_expired(now.as_secs(), now.as_millis() as u64)
            .await
        {
            Ok(0) => {}
            Ok(swept) => tracing::debug!(swept, "expired frame tokens and locations removed"),
            Err(e) => tracing::warn!(error = %e, "the expiry sweep failed; it runs again"),
        }
    }
}
