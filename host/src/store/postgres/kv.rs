//! PostgreSQL's [`KvStore`]: every app's keys in one table by (app, space,
//! key), and the app's usage in shards moved in each write's transaction
//! (`migrations/0002_kv.sql`). A write is one call of `citadel_kv_write`
//! (`0006_kv_write.sql`, replaced by `0007_kv_quota_turns.sql`), durable when it returns — so `sync` has nothing
//! left to do. (A commit that did not wait for its flush could be lost with
//! a database crash after which a later flush still succeeds.)

use super::{backend, PgStore};
use crate::store::{CounterRefusal, KeyPage, KvSpace, KvStore, KvWrite, QuotaExceeded, StoreError};
use async_trait::async_trait;

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
        value.map_or(0, |v| self.key_bytes(key) + v.len() as i64)
    }

    /// Bytes `key` itself counts, with its space's prefix.
    fn key_bytes(&self, key: &str) -> i64 {
        (self.key_overhead + key.len()) as i64
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

/// What `citadel_kv_write` (migrations/0007_kv_quota_turns.sql) did, or
/// `citadel_kv_write_for_session` (0013).
#[derive(Debug)]
enum KvOutcome {
    Written,
    /// The session the write was made for has ended: nothing was written.
    SessionEnded,
    /// A swap found something other than it expected.
    Mismatch,
    /// A delete found nothing.
    Absent,
    /// Refused: the app stores this many bytes and the write would pass
    /// the quota.
    Quota(u64),
    /// An increment found something other than a counter.
    NotACounter,
    /// An increment would pass the largest counter.
    Overflow,
    /// An increment wrote this value.
    Counted(u64),
}

/// What a write asks of one key.
enum Op<'a> {
    Set(&'a [u8]),
    /// Only if the key holds `expected` (`None`: absent).
    Swap {
        expected: Option<&'a [u8]>,
        value: &'a [u8],
    },
    Delete,
    Increment(u64),
}

impl PgStore {
    /// Write one key in one round trip, durable on return; with
    /// `for_session`, only while that session is live.
    async fn kv_write(
        &self,
        db: impl sqlx::PgExecutor<'_>,
        space: KvSpace<'_>,
        key: &str,
        op: Op<'_>,
        quota: u64,
        for_session: Option<&str>,
    ) -> Result<KvOutcome, sqlx::Error> {
        let place = Place::of(space);
        let (name, expected, value, by) = match op {
            Op::Set(value) => ("set", None, Some(value), 0),
            Op::Swap { expected, value } => ("swap", expected, Some(value), 0),
            Op::Delete => ("delete", None, None, 0),
            Op::Increment(by) => ("increment", None, None, by),
        };
        let query = match for_session {
            None => {
                "SELECT outcome, used, counter \
                 FROM citadel_kv_write($1, $2, $3, $4, $5, $6, $7, $8, $9::NUMERIC, $10)"
            }
            Some(_) => {
                "SELECT outcome, used, counter FROM citadel_kv_write_for_session(\
                 $11, $1, $2, $3, $4, $5, $6, $7, $8, $9::NUMERIC, $10)"
            }
        };
        let mut write = sqlx::query_as(query)
            .bind(place.app)
            .bind(place.space)
            .bind(key.as_bytes())
            .bind(place.shard(key))
            .bind(place.key_bytes(key))
            .bind(name)
            .bind(expected)
            .bind(value)
            .bind(by.to_string())
            .bind(i64::try_from(quota).unwrap_or(i64::MAX));
        if let Some(session) = for_session {
            write = write.bind(session);
        }
        let (outcome, used, counter): (String, Option<i64>, Option<String>) =
            write.fetch_one(db).await?;
        Ok(match outcome.as_str() {
            "written" => match counter.and_then(|c| c.parse().ok()) {
                Some(next) => KvOutcome::Counted(next),
                None => KvOutcome::Written,
            },
            "not-a-counter" => KvOutcome::NotACounter,
            "overflow" => KvOutcome::Overflow,
            "mismatch" => KvOutcome::Mismatch,
            "absent" => KvOutcome::Absent,
            "session-ended" => KvOutcome::SessionEnded,
            _ => KvOutcome::Quota(used.and_then(|u| u64::try_from(u).ok()).unwrap_or(0)),
        })
    }

    /// Delete `key` of `space` in `conn` (a transaction's); whether it was
    /// there.
    pub(super) async fn kv_delete_in(
        &self,
        conn: &mut sqlx::PgConnection,
        space: KvSpace<'_>,
        key: &str,
    ) -> Result<bool, sqlx::Error> {
        let outcome = self
            .kv_write(conn, space, key, Op::Delete, u64::MAX, None)
            .await?;
        Ok(matches!(outcome, KvOutcome::Written))
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
        for_session: Option<&str>,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let op = match write {
            KvWrite::Set(value) => Op::Set(value),
            KvWrite::Swap { expected, value } => Op::Swap { expected, value },
            KvWrite::Delete => Op::Delete,
        };
        Ok(
            match self
                .kv_write(&self.pool, space, key, op, quota, for_session)
                .await
                .map_err(backend)?
            {
                KvOutcome::Written => Ok(true),
                KvOutcome::SessionEnded => Err(StoreError::SessionEnded)?,
                KvOutcome::Mismatch | KvOutcome::Absent => Ok(false),
                KvOutcome::Quota(used) => Err(QuotaExceeded { used, quota }),
                outcome => Err(StoreError::Backend(format!(
                    "a plain write answered {outcome:?}"
                )))?,
            },
        )
    }

    async fn increment_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        by: u64,
        quota: u64,
        for_session: Option<&str>,
    ) -> Result<Result<u64, CounterRefusal>, StoreError> {
        Ok(
            match self
                .kv_write(
                    &self.pool,
                    space,
                    key,
                    Op::Increment(by),
                    quota,
                    for_session,
                )
                .await
                .map_err(backend)?
            {
                KvOutcome::SessionEnded => Err(StoreError::SessionEnded)?,
                KvOutcome::Counted(next) => Ok(next),
                KvOutcome::NotACounter => Err(CounterRefusal::NotACounter),
                KvOutcome::Overflow => Err(CounterRefusal::Overflow),
                KvOutcome::Quota(used) => Err(CounterRefusal::Quota(QuotaExceeded { used, quota })),
                outcome => Err(StoreError::Backend(format!(
                    "an increment answered {outcome:?}"
                )))?,
            },
        )
    }

    async fn sync(&self) -> Result<(), StoreError> {
        Ok(()) // every write returned after its (synchronous) commit
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
