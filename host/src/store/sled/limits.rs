//! sled's [`RateLimits`]: each key holds the times of the slots taken in its
//! window (at most `limit` of them), checked and updated by compare-and-swap.

use super::{backend, to_json, SledStore};
use crate::store::{RateLimits, StoreError};
use async_trait::async_trait;

#[async_trait]
impl RateLimits for SledStore {
    async fn take(
        &self,
        key: &str,
        limit: usize,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let _writing = self.writing().await;
        loop {
            let current = self.rate_limits.get(key).map_err(backend)?;
            let mut taken: Vec<u64> = match &current {
                Some(raw) => Self::json(key.as_bytes(), raw)?,
                None => Vec::new(),
            };
            let start = now_ms.saturating_sub(window_ms);
            taken.retain(|at| *at > start);
            taken.sort_unstable();
            if taken.len() >= limit.max(1) {
                // A slot frees when the oldest one that keeps it full leaves the window.
                let oldest = taken[taken.len() - limit.max(1)];
                return Ok(Err((oldest + window_ms).saturating_sub(now_ms).max(1)));
            }
            taken.push(now_ms);
            let swapped = self
                .rate_limits
                .compare_and_swap(key, current, Some(to_json(&taken)?))
                .map_err(backend)?;
            if swapped.is_ok() {
                self.durable().await?;
                return Ok(Ok(()));
            }
            // Another taker came between the read and the write: read again.
        }
    }
}
