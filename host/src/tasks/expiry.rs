//! The expiry sweep: frame tokens and reported locations past their expiry
//! are removed from the store every minute, rate-limit windows idle for a
//! day every hour (lookups already refuse them; the sweep keeps the store
//! from growing with dead records).

use crate::store::{Store, MAX_RATE_WINDOW_MS};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time between sweeps.
pub const EVERY: Duration = Duration::from_secs(60);

/// Sweeps between two of idle rate-limit windows.
const RATE_WINDOWS_EVERY: u64 = 60;

/// Sweep until `stop` fires.
pub async fn run(store: Store, mut stop: tokio::sync::watch::Receiver<bool>) {
    for round in 1u64.. {
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
        if round % RATE_WINDOWS_EVERY == 0 {
            let idle_since = (now.as_millis() as u64).saturating_sub(MAX_RATE_WINDOW_MS);
            match store.limits.sweep_idle(idle_since).await {
                Ok(swept) => tracing::debug!(swept, "idle rate-limit windows removed"),
                Err(e) => tracing::warn!(error = %e, "the rate-limit sweep failed; it runs again"),
            }
        }
    }
}
