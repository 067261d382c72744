//! sled's [`RateLimits`]: each key holds the times of the slots taken in its
//! window (at most `limit` of them), checked and updated by compare-and-swap;
//! idle windows are swept by a pass over them.

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

    async fn forget(&self, keys: &[String]) -> Result<usize, StoreError> {
        let _writing = self.writing().await;
        let mut forgotten = 0;
        for key in keys {
            forgotten += usize::from(self.rate_limits.remove(key).map_err(backend)?.is_some());
        }
        if forgotten > 0 {
            self.durable().await?;
        }
        Ok(forgotten)
    }

    async fn sweep_idle(&self, idle_since_ms: u64) -> Result<usize, StoreError> {
        let _writing = self.writing().await;
        let mut swept = 0;
        for entry in self.rate_limits.iter() {
            let (key, raw) = entry.map_err(backend)?;
            let taken: Vec<u64> = Self::json(&key, &raw)?;
            if taken.iter().all(|at| *at <= idle_since_ms) {
                // Only if no slot was taken since the read.
                let gone = self
                    .rate_limits
                    .compare_and_swap(&key, Some(raw), None as Option<&[u8]>)
                    .map_err(backend)?
                    .is_ok();
                swept += usize::from(gone);
            }
        }
        if swept > 0 {
            self.durable().await?;
        }
        Ok(swept)
    }
}
