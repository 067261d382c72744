//! Rate limits kept in the store, so every host counts against the same
//! window and a restart forgets nothing: the [`RateLimits`] trait.

use super::StoreError;
use async_trait::async_trait;

/// The longest window a rate limit may have: a window with no slot taken
/// for this long is idle, and the sweep removes it.
pub const MAX_RATE_WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

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
    /// Remove the windows of `keys` (their owner's data was erased); how
    /// many there were.
    async fn forget(&self, keys: &[String]) -> Result<usize, StoreError>;
    /// Remove every window with no slot taken after `idle_since_ms`; how
    /// many went.
    async fn sweep_idle(&self, idle_since_ms: u64) -> Result<usize, StoreError>;
}
