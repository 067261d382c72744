//! PostgreSQL's [`RateLimits`]: each key's row holds the times of the slots
//! taken in its window, checked and updated under the row's lock, so every
//! host counts against the same window; idle windows are swept by the index
//! on their newest slot.

use super::{from_db, to_db, PgStore};
use crate::store::{RateLimits, StoreError};
use async_trait::async_trait;

#[async_trait]
impl RateLimits for PgStore {
    async fn take(
        &self,
        key: &str,
        limit: usize,
        window_ms: u64,
        now_ms: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let key = key.to_string();
        self.transaction(move |tx| {
            let key = key.clone();
            Box::pin(async move {
                let lock = "SELECT taken FROM rate_limits WHERE key = $1 FOR UPDATE";
                let mut row: Option<Vec<i64>> = sqlx::query_scalar(lock)
                    .bind(&key)
                    .fetch_optional(&mut **tx)
                    .await?;
                if row.is_none() {
                    // A key's first take gives it a row to lock (or finds the
                    // one a racing first take just made).
                    sqlx::query(
                        "INSERT INTO rate_limits (key, taken) VALUES ($1, '{}')
                         ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(&key)
                    .execute(&mut **tx)
                    .await?;
                    row = sqlx::query_scalar(lock)
                        .bind(&key)
                        .fetch_optional(&mut **tx)
                        .await?;
                }
                let start = now_ms.saturating_sub(window_ms);
                let mut taken: Vec<u64> =
                    row.unwrap_or_default().into_iter().map(from_db).collect();
                taken.retain(|at| *at > start);
                taken.sort_unstable();
                let limit = limit.max(1);
                if taken.len() >= limit {
                    // A slot frees when the oldest one that keeps it full
                    // leaves the window.
                    let oldest = taken[taken.len() - limit];
                    return Ok(Err((oldest + window_ms).saturating_sub(now_ms).max(1)));
                }
                taken.push(now_ms);
                // In order, so the last is the newest (another host's clock
                // may be a little behind this one's).
                taken.sort_unstable();
                let taken: Vec<i64> = taken.into_iter().map(to_db).collect();
                sqlx::query("UPDATE rate_limits SET taken = $2 WHERE key = $1")
                    .bind(&key)
                    .bind(&taken)
                    .execute(&mut **tx)
                    .await?;
                Ok(Ok(()))
            })
        })
        .await
    }

    async fn forget(&self, keys: &[String]) -> Result<usize, StoreError> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE key = ANY($1)")
            .bind(keys)
            .execute(&self.pool)
            .await
            .map_err(super::backend)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn sweep_idle(&self, idle_since_ms: u64) -> Result<usize, StoreError> {
        // `newest` (migration 0010) is the last slot taken: `taken` is kept
        // in order.
        let done = sqlx::query("DELETE FROM rate_limits WHERE newest IS NULL OR newest <= $1")
            .bind(to_db(idle_since_ms))
            .execute(&self.pool)
            .await
            .map_err(super::backend)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }
}
