//! sled's [`KvStore`]: one tree per app (`kv/{app}`) and one per app for
//! its citizens (`kvc/{app}`, keys prefixed by pairwise id), with the app's
//! usage counted in the same transaction as each write.

use super::{backend, read_u64, SledStore};
use crate::store::{CounterRefusal, KeyPage, KvSpace, KvStore, KvWrite, QuotaExceeded, StoreError};
use async_trait::async_trait;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::ops::Bound;

impl SledStore {
    fn kv_delete_now(&self, space: KvSpace<'_>, key: &str) -> Result<bool, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        let app = space.app().as_bytes();
        let outcome: Result<bool, TransactionError<std::convert::Infallible>> =
            (&tree, &self.kv_usage).transaction(|(tree, usage)| {
                let Some(old) = tree.remove(full.as_slice())? else {
                    return Ok(false);
                };
                let used = usage
                    .get(app)?
                    .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                    .map_or(0, u64::from_be_bytes);
                let now = used.saturating_sub((full.len() + old.len()) as u64);
                usage.insert(app, &now.to_be_bytes())?;
                Ok(true)
            });
        match outcome {
            Ok(existed) => Ok(existed),
            Err(TransactionError::Abort(never)) => match never {},
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    /// Write a kv value and the app's usage in one transaction, if `condition`
    /// (when given) matches what the key holds now; false if it did not.
    fn kv_write(
        &self,
        space: KvSpace<'_>,
        key: &str,
        condition: Option<Option<&[u8]>>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        let app = space.app().as_bytes();
        let outcome = (&tree, &self.kv_usage).transaction(|(tree, usage)| {
            let current = tree.get(&full)?;
            if let Some(expected) = condition {
                if current.as_deref() != expected {
                    return Ok(false);
                }
            }
            let used = read_u64(usage.get(app)?.as_deref());
            let now = usage_after(used, &full, current.as_deref(), value.len(), quota)
                .map_err(ConflictableTransactionError::Abort)?;
            tree.insert(full.as_slice(), value)?;
            usage.insert(app, &now.to_be_bytes())?;
            Ok(true)
        });
        match outcome {
            Ok(written) => Ok(Ok(written)),
            Err(TransactionError::Abort(exceeded)) => Ok(Err(exceeded)),
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    /// Add `by` to a counter in one transaction with the usage count.
    fn kv_increment(
        &self,
        space: KvSpace<'_>,
        key: &str,
        by: u64,
        quota: u64,
    ) -> Result<Result<u64, CounterRefusal>, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        let app = space.app().as_bytes();
        let outcome = (&tree, &self.kv_usage).transaction(|(tree, usage)| {
            let current = tree.get(&full)?;
            let value = match current.as_deref() {
                None => 0,
                Some(digits) => std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<u64>().ok())
                    .ok_or(ConflictableTransactionError::Abort(
                        CounterRefusal::NotACounter,
                    ))?,
            };
            let next = value
                .checked_add(by)
                .ok_or(ConflictableTransactionError::Abort(
                    CounterRefusal::Overflow,
                ))?;
            let digits = next.to_string();
            let used = read_u64(usage.get(app)?.as_deref());
            let now = usage_after(used, &full, current.as_deref(), digits.len(), quota).map_err(
                |exceeded| ConflictableTransactionError::Abort(CounterRefusal::Quota(exceeded)),
            )?;
            tree.insert(full.as_slice(), digits.as_bytes())?;
            usage.insert(app, &now.to_be_bytes())?;
            Ok(next)
        });
        match outcome {
            Ok(next) => Ok(Ok(next)),
            Err(TransactionError::Abort(refusal)) => Ok(Err(refusal)),
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    /// The tree of a kv space and the prefix its keys carry there. Each app
    /// has its own trees, so no key an app can name reaches another app's
    /// data; a citizen's keys carry their pairwise id (fixed-length hex) and
    /// a NUL, so no key names another citizen's.
    fn kv_space(&self, space: KvSpace<'_>) -> Result<(sled::Tree, Vec<u8>), StoreError> {
        match space {
            KvSpace::App(app) => Ok((
                self.db.open_tree(format!("kv/{app}")).map_err(backend)?,
                Vec::new(),
            )),
            KvSpace::Citizen { app, pairwise_id } => {
                let mut prefix = pairwise_id.as_bytes().to_vec();
                prefix.push(0);
                Ok((
                    self.db.open_tree(format!("kvc/{app}")).map_err(backend)?,
                    prefix,
                ))
            }
        }
    }
}

/// The app's stored bytes once `full` (the key as stored) holds a value of
/// `new_len` bytes instead of `current`, or the refusal if that passes
/// `quota` — a write that does not grow the app is always allowed.
fn usage_after(
    used: u64,
    full: &[u8],
    current: Option<&[u8]>,
    new_len: usize,
    quota: u64,
) -> Result<u64, QuotaExceeded> {
    let old = current.map_or(0, |v| (full.len() + v.len()) as u64);
    let now = used.saturating_sub(old) + (full.len() + new_len) as u64;
    if now > quota && now > used {
        return Err(QuotaExceeded { used, quota });
    }
    Ok(now)
}

/// Run a sled transaction on a blocking thread. A transaction takes sled's
/// process-wide write lock, which waits out any flush in progress (a flush
/// holds the lock's read side through its fsync): on an async worker that
/// wait would stall every other request on the worker.
async fn off_the_workers<T: Send + 'static>(
    transaction: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(transaction)
        .await
        .map_err(|e| StoreError::Backend(format!("a kv write task failed: {e}")))?
}

/// A [`KvSpace`] that owns its names, to cross to a blocking thread.
enum OwnedSpace {
    App(String),
    Citizen { app: String, pairwise_id: String },
}

impl OwnedSpace {
    fn of(space: KvSpace<'_>) -> Self {
        match space {
            KvSpace::App(app) => OwnedSpace::App(app.to_string()),
            KvSpace::Citizen { app, pairwise_id } => OwnedSpace::Citizen {
                app: app.to_string(),
                pairwise_id: pairwise_id.to_string(),
            },
        }
    }

    fn space(&self) -> KvSpace<'_> {
        match self {
            OwnedSpace::App(app) => KvSpace::App(app),
            OwnedSpace::Citizen { app, pairwise_id } => KvSpace::Citizen { app, pairwise_id },
        }
    }
}

/// A [`KvWrite`] that owns its bytes.
enum OwnedWrite {
    Set(Vec<u8>),
    Swap {
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    },
    Delete,
}

impl OwnedWrite {
    fn of(write: KvWrite<'_>) -> Self {
        match write {
            KvWrite::Set(value) => OwnedWrite::Set(value.to_vec()),
            KvWrite::Swap { expected, value } => OwnedWrite::Swap {
                expected: expected.map(<[u8]>::to_vec),
                value: value.to_vec(),
            },
            KvWrite::Delete => OwnedWrite::Delete,
        }
    }
}

#[async_trait]
impl KvStore for SledStore {
    async fn get(&self, space: KvSpace<'_>, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        Ok(tree.get(full).map_err(backend)?.map(|v| v.to_vec()))
    }

    async fn write_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        write: KvWrite<'_>,
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let (store, owned, key) = (self.clone(), OwnedSpace::of(space), key.to_string());
        let write = OwnedWrite::of(write);
        off_the_workers(move || {
            let space = owned.space();
            match &write {
                OwnedWrite::Set(value) => store.kv_write(space, &key, None, value, quota),
                OwnedWrite::Swap { expected, value } => {
                    store.kv_write(space, &key, Some(expected.as_deref()), value, quota)
                }
                OwnedWrite::Delete => Ok(Ok(store.kv_delete_now(space, &key)?)),
            }
        })
        .await
    }

    async fn increment_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        by: u64,
        quota: u64,
    ) -> Result<Result<u64, CounterRefusal>, StoreError> {
        let (store, owned, key) = (self.clone(), OwnedSpace::of(space), key.to_string());
        off_the_workers(move || store.kv_increment(owned.space(), &key, by, quota)).await
    }

    async fn sync(&self) -> Result<(), StoreError> {
        self.durable().await
    }

    async fn list(
        &self,
        space: KvSpace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let (tree, space_prefix) = self.kv_space(space)?;
        let full = |key: &str| [space_prefix.as_slice(), key.as_bytes()].concat();
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(full(after)),
            _ => Bound::Included(full(prefix)),
        };
        let wanted = full(prefix);
        let mut keys = Vec::new();
        let mut more = false;
        for entry in tree.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (key, _) = entry.map_err(backend)?;
            if !key.starts_with(&wanted) {
                break;
            }
            if keys.len() == limit {
                more = true;
                break;
            }
            keys.push(String::from_utf8_lossy(&key[space_prefix.len()..]).into_owned());
        }
        let next = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, next })
    }

    async fn usage(&self, app: &str) -> Result<u64, StoreError> {
        Ok(read_u64(
            self.kv_usage.get(app).map_err(backend)?.as_deref(),
        ))
    }
}
