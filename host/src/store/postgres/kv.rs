//! PostgreSQL's [`KvStore`]: every app's keys in one table by (app, space,
//! key), and the app's usage in shards moved in each write's transaction
//! (see `migrations/0002_kv.sql`). A write commits without waiting for the
//! WAL flush (`write_deferred`); `sync` flushes, once for a request's writes.

use super::{backend, PgStore};
use crate::store::{CounterRefusal, KeyPage, KvSpace, KvStore, KvWrite, QuotaExceeded, StoreError};
use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

/// Usage shards per app: writes to keys in different shards do not wait
/// for each other.
const USAGE_SHARDS: u32 = 16;

/// A kv space as stored: the app, the `space` column ('' app-wide, else the
/// pairwise id) and the bytes a key there counts beyond its own — the
/// citizen's pairwise id and a separator, as the host counts usage on
/// every backend.
pub(super) struct Place<'a> {
    app: &'a str,
    space: &'a str,
    key_overhead: usize,
}

impl<'a> Place<'a> {
    pub(super) fn of(space: KvSpace<'a>) -> Place<'a> {
        match space {
            KvSpace::App(app) => Place {
                app,
                space: "",
                key_overhead: 0,
            },
            KvSpace::Citizen { app, pairwise_id } => Place {
                app,
                space: pairwise_id,
                key_overhead: pairwise_id.len() + 1,
            },
        }
    }

    /// Bytes `key` holding `value` counts toward the app's usage.
    pub(super) fn bytes(&self, key: &str, value: Option<&[u8]>) -> i64 {
        value.map_or(0, |v| (self.key_overhead + key.len() + v.len()) as i64)
    }

    /// The usage shard of `key` (FNV-1a over the space and key).
    pub(super) fn shard(&self, key: &str) -> i16 {
        let mut hash: u32 = 0x811c_9dc5;
        for byte in self.space.bytes().chain([0]).chain(key.bytes()) {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
        (hash % USAGE_SHARDS) as i16
    }
}

/// One key, locked for a write: the transaction holds its usage shard.
struct LockedKey<'a> {
    tx: Transaction<'static, Postgres>,
    place: Place<'a>,
    key: &'a str,
    shard: i16,
    current: Option<Vec<u8>>,
}

impl PgStore {
    /// Begin a write of `key`: lock its usage shard (every writer of the
    /// key takes the same lock, so what is read next stays true until the
    /// commit) and read what the key holds.
    async fn lock_key<'a>(
        &self,
        space: KvSpace<'a>,
        key: &'a str,
    ) -> Result<LockedKey<'a>, sqlx::Error> {
        let place = Place::of(space);
        let shard = place.shard(key);
        let mut tx = self.pool.begin().await?;
        loop {
            let locked =
                sqlx::query("SELECT 1 FROM kv_usage WHERE app = $1 AND shard = $2 FOR UPDATE")
                    .bind(place.app)
                    .bind(shard)
                    .fetch_optional(&mut *tx)
                    .await?;
            if locked.is_some() {
                break;
            }
            sqlx::query(
                "INSERT INTO kv_usage (app, shard, bytes) VALUES ($1, $2, 0) \
                 ON CONFLICT (app, shard) DO NOTHING",
            )
            .bind(place.app)
            .bind(shard)
            .execute(&mut *tx)
            .await?;
        }
        let current: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM kv WHERE app = $1 AND space = $2 AND key = $3")
                .bind(place.app)
                .bind(place.space)
                .bind(key.as_bytes())
                .fetch_optional(&mut *tx)
                .await?;
        Ok(LockedKey {
            tx,
            place,
            key,
            shard,
            current,
        })
    }
}

impl LockedKey<'_> {
    /// Replace the key's value by `value` (`None`: remove it) and commit,
    /// unless that grows the app past `quota`.
    async fn replace(
        mut self,
        value: Option<&[u8]>,
        quota: u64,
    ) -> Result<Result<(), QuotaExceeded>, sqlx::Error> {
        let delta =
            self.place.bytes(self.key, value) - self.place.bytes(self.key, self.current.as_deref());
        if delta > 0 {
            let used: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM kv_usage WHERE app = $1",
            )
            .bind(self.place.app)
            .fetch_one(&mut *self.tx)
            .await?;
            let used = u64::try_from(used).unwrap_or(0);
            if used.saturating_add(delta as u64) > quota {
                self.tx.rollback().await?;
                return Ok(Err(QuotaExceeded { used, quota }));
            }
        }
        match value {
            Some(value) => {
                sqlx::query(
                    "INSERT INTO kv (app, space, key, value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (app, space, key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(self.place.app)
                .bind(self.place.space)
                .bind(self.key.as_bytes())
                .bind(value)
                .execute(&mut *self.tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM kv WHERE app = $1 AND space = $2 AND key = $3")
                    .bind(self.place.app)
                    .bind(self.place.space)
                    .bind(self.key.as_bytes())
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        if delta != 0 {
            sqlx::query("UPDATE kv_usage SET bytes = bytes + $3 WHERE app = $1 AND shard = $2")
                .bind(self.place.app)
                .bind(self.shard)
                .bind(delta)
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        Ok(Ok(()))
    }
}

/// The keys after `prefix`'s last: `prefix` with its last byte below 0xff
/// raised by one (`None`: no such bound, every key after it qualifies).
fn past_prefix(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bound = prefix.to_vec();
    while let Some(last) = bound.pop() {
        if last < 0xff {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

#[async_trait]
impl KvStore for PgStore {
    async fn get(&self, space: KvSpace<'_>, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let place = Place::of(space);
        sqlx::query_scalar("SELECT value FROM kv WHERE app = $1 AND space = $2 AND key = $3")
            .bind(place.app)
            .bind(place.space)
            .bind(key.as_bytes())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn write_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        write: KvWrite<'_>,
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let locked = self.lock_key(space, key).await.map_err(backend)?;
        let value = match write {
            KvWrite::Set(value) => Some(value),
            KvWrite::Swap { expected, value } => {
                if locked.current.as_deref() != expected {
                    return Ok(Ok(false));
                }
                Some(value)
            }
            KvWrite::Delete if locked.current.is_none() => return Ok(Ok(false)),
            KvWrite::Delete => None,
        };
        let replaced = locked.replace(value, quota).await.map_err(backend)?;
        Ok(replaced.map(|()| true))
    }

    async fn increment_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        by: u64,
        quota: u64,
    ) -> Result<Result<u64, CounterRefusal>, StoreError> {
        let locked = self.lock_key(space, key).await.map_err(backend)?;
        let value = match locked.current.as_deref() {
            None => 0,
            Some(digits) => match std::str::from_utf8(digits)
                .ok()
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u64>().ok())
            {
                Some(value) => value,
                None => return Ok(Err(CounterRefusal::NotACounter)),
            },
        };
        let Some(next) = value.checked_add(by) else {
            return Ok(Err(CounterRefusal::Overflow));
        };
        let digits = next.to_string();
        let replaced = locked
            .replace(Some(digits.as_bytes()), quota)
            .await
            .map_err(backend)?;
        Ok(replaced.map(|()| next).map_err(CounterRefusal::Quota))
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.flush().await
    }

    async fn list(
        &self,
        space: KvSpace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let place = Place::of(space);
        let (from, inclusive) = match after {
            Some(after) if after >= prefix => (after, false),
            _ => (prefix, true),
        };
        let keys: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT key FROM kv WHERE app = $1 AND space = $2 \
               AND (key > $3 OR ($4 AND key = $3)) AND ($5::BYTEA IS NULL OR key < $5) \
             ORDER BY key LIMIT $6",
        )
        .bind(place.app)
        .bind(place.space)
        .bind(from.as_bytes())
        .bind(inclusive)
        .bind(past_prefix(prefix.as_bytes()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let more = keys.len() > limit;
        let keys: Vec<String> = keys
            .into_iter()
            .take(limit)
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect();
        let next = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, next })
    }

    async fn usage(&self, app: &str) -> Result<u64, StoreError> {
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM kv_usage WHERE app = $1",
        )
        .bind(app)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(u64::try_from(used).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::past_prefix;

    #[test]
    fn the_bound_past_a_prefix_skips_trailing_ff() {
        assert_eq!(past_prefix(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(past_prefix(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(past_prefix(&[0xff, 0xff]), None);
        assert_eq!(past_prefix(b""), None);
    }
}
