//! sled's [`KvStore`]: one tree per app (`kv/{app}`) and one per app for
//! its citizens (`kvc/{app}`, keys prefixed by pairwise id). Each write is
//! one compare-and-swap on its key; the app's usage is derived from its
//! trees when first needed and kept exact by every write since.

use super::{backend, SledStore};
use crate::store::{
    counter_after, CounterRefusal, KeyPage, KvSpace, KvStore, KvWrite, QuotaExceeded, StoreError,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The bytes (keys and values, all spaces) each app stores.
///
/// Not stored: counted from the app's trees the first time this process
/// needs it, before any write to them, then moved by exactly what each
/// successful compare-and-swap replaced. So it matches the data after any
/// crash by construction, and a write needs no sled transaction — which
/// would take sled's process-wide write lock and wait out any flush in
/// progress. The count takes at most one pass over the app's data, which
/// its quota bounds.
#[derive(Default)]
pub(super) struct KvUsage {
    counted: RwLock<HashMap<String, Arc<AtomicU64>>>,
    /// Held while an app's trees are counted, so no write races the count.
    counting: Mutex<()>,
}

impl SledStore {
    /// The live usage counter of `app`; the first time, its trees are
    /// counted on a blocking thread (a pass over up to its quota of data).
    pub(super) async fn counted(&self, app: &str) -> Result<Arc<AtomicU64>, StoreError> {
        if let Some(used) = read(&self.kv_usage.counted).get(app) {
            return Ok(used.clone());
        }
        let (store, app) = (self.clone(), app.to_string());
        tokio::task::spawn_blocking(move || store.usage_of(&app))
            .await
            .map_err(|e| StoreError::Backend(format!("counting kv usage failed: {e}")))?
    }

    /// The live usage counter of `app`, counting its trees the first time.
    fn usage_of(&self, app: &str) -> Result<Arc<AtomicU64>, StoreError> {
        let usage = &self.kv_usage;
        if let Some(used) = read(&usage.counted).get(app) {
            return Ok(used.clone());
        }
        let _counting = usage.counting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(used) = read(&usage.counted).get(app) {
            return Ok(used.clone());
        }
        let mut bytes = 0u64;
        for tree in [format!("kv/{app}"), format!("kvc/{app}")] {
            for entry in self.db.open_tree(tree).map_err(backend)?.iter() {
                let (key, value) = entry.map_err(backend)?;
                bytes += (key.len() + value.len()) as u64;
            }
        }
        let used = Arc::new(AtomicU64::new(bytes));
        usage
            .counted
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(app.to_string(), used.clone());
        Ok(used)
    }

    /// Replace what `full` holds in `tree` — `current`, as read — by
    /// `value` (`None`: remove it), moving the app's usage by the
    /// difference. The usage moves first, refusing growth past `quota`, and
    /// moves back if the key changed meanwhile: `Ok(Ok(false))`, read again.
    fn kv_replace(
        used: &AtomicU64,
        tree: &sled::Tree,
        full: &[u8],
        current: Option<&sled::IVec>,
        value: Option<&[u8]>,
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let old = current.map_or(0, |v| (full.len() + v.len()) as u64);
        let new = value.map_or(0, |v| (full.len() + v.len()) as u64);
        let reserved = used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bytes| {
            let now = bytes.saturating_sub(old) + new;
            (new <= old || now <= quota).then_some(now)
        });
        if let Err(bytes) = reserved {
            return Ok(Err(QuotaExceeded { used: bytes, quota }));
        }
        let swapped = tree
            .compare_and_swap(full, current, value)
            .map_err(backend)?;
        if swapped.is_err() {
            let _ = used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |bytes| {
                Some(bytes.saturating_sub(new) + old)
            });
            return Ok(Ok(false));
        }
        Ok(Ok(true))
    }

    /// Apply one write to one key; false if a swap's expectation failed or
    /// a delete found nothing.
    pub(super) fn kv_write(
        &self,
        used: &AtomicU64,
        space: KvSpace<'_>,
        key: &str,
        write: KvWrite<'_>,
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        loop {
            let current = tree.get(&full).map_err(backend)?;
            let value = match write {
                KvWrite::Set(value) => Some(value),
                KvWrite::Swap { expected, value } => {
                    if current.as_deref() != expected {
                        return Ok(Ok(false));
                    }
                    Some(value)
                }
                KvWrite::Delete if current.is_none() => return Ok(Ok(false)),
                KvWrite::Delete => None,
            };
            match Self::kv_replace(used, &tree, &full, current.as_ref(), value, quota)? {
                Ok(false) => continue, // another write came between: read again
                done => return Ok(done),
            }
        }
    }

    /// Add `by` to a counter: read, add, compare-and-swap, until no other
    /// write came between.
    fn kv_increment(
        &self,
        used: &AtomicU64,
        space: KvSpace<'_>,
        key: &str,
        by: u64,
        quota: u64,
    ) -> Result<Result<u64, CounterRefusal>, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        loop {
            let current = tree.get(&full).map_err(backend)?;
            let (next, digits) = match counter_after(current.as_deref(), by) {
                Ok(counted) => counted,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let replaced = Self::kv_replace(
                used,
                &tree,
                &full,
                current.as_ref(),
                Some(digits.as_bytes()),
                quota,
            )?;
            match replaced {
                Ok(true) => return Ok(Ok(next)),
                Ok(false) => continue,
                Err(exceeded) => return Ok(Err(CounterRefusal::Quota(exceeded))),
            }
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
        for_session: Option<&str>,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let _writing = self.writing().await;
        let used = self.counted(space.app()).await?;
        let _held = self.session_held(for_session)?;
        self.kv_write(&used, space, key, write, quota)
    }

    async fn increment_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        by: u64,
        quota: u64,
        for_session: Option<&str>,
    ) -> Result<Result<u64, CounterRefusal>, StoreError> {
        let _writing = self.writing().await;
        let used = self.counted(space.app()).await?;
        let _held = self.session_held(for_session)?;
        self.kv_increment(&used, space, key, by, quota)
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
        Ok(self.counted(app).await?.load(Ordering::SeqCst))
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
