//! Rate limits kept in the store, so every host counts against the same
//! window and a restart forgets nothing: the [`RateLimits`] trait.

use super::StoreError;
use async_trait::async_trait;

/// Sliding-window rate limits, taken atomically.
#[async_trait]
pub trait RateLimits: Send + Sync + 'static {
    /// Take one slot of `key`'s window: at most `limit` slots in any
    /// `window_ms` ending at `now_ms`. Refused with the milliseconds until a
    /// slot frees; nothing is taken then.
    async fn take(
        &self,
        key: &str,
        limit: usize,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<Result<(), u64>, StoreError>;
}
