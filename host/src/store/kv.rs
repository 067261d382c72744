//! Mini-apps' key-value data: an app-wide space and one space per citizen
//! (by pairwise id) inside each app, one byte quota per app across them,
//! compare-and-swap, and ordered listing — the [`KvStore`] trait.

use super::StoreError;
use async_trait::async_trait;

/// Where a kv key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvSpace<'a> {
    /// The app's own, app-wide keys.
    App(&'a str),
    /// One citizen's keys inside an app, named by their pairwise id there.
    Citizen { app: &'a str, pairwise_id: &'a str },
}

impl KvSpace<'_> {
    /// The app whose quota the space counts toward.
    pub fn app(&self) -> &str {
        match self {
            KvSpace::App(app) | KvSpace::Citizen { app, .. } => app,
        }
    }
}

/// A kv write refused because the app's stored bytes would pass its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// Bytes (keys and values) the app stores now.
    pub used: u64,
    pub quota: u64,
}

/// One page of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<String>,
    pub next: Option<String>,
}

/// One kv write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvWrite<'a> {
    /// Set the value.
    Set(&'a [u8]),
    /// Set `value` only if the key now holds `expected` (`None`: only if
    /// absent).
    Swap {
        expected: Option<&'a [u8]>,
        value: &'a [u8],
    },
    /// Remove the key.
    Delete,
}

/// Why an increment was refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterRefusal {
    /// The key holds something other than a counter's decimal digits.
    NotACounter,
    /// The counter would pass `u64::MAX`.
    Overflow,
    /// The app's stored bytes would pass its quota.
    Quota(QuotaExceeded),
}

/// A counter `by` past what `current` holds (absent: 0): the new value and
/// its stored form, decimal digits — or why the key cannot count.
pub fn counter_after(current: Option<&[u8]>, by: u64) -> Result<(u64, String), CounterRefusal> {
    let value = match current {
        None => 0,
        Some(digits) => std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or(CounterRefusal::NotACounter)?,
    };
    let next = value.checked_add(by).ok_or(CounterRefusal::Overflow)?;
    Ok((next, next.to_string()))
}

/// Key-value data of mini-apps. `set`, `swap` and `delete` return once the
/// write is durable; `write_deferred` says explicitly that it is not yet,
/// and its caller makes it durable with `sync` before acknowledging
/// anything that depends on it (one commit for a request's many writes).
///
/// A write a request makes for a signed-in citizen names their session
/// (`for_session`, the sha256 of its token): it is made only while that
/// session is live, checked atomically with the write, else
/// [`StoreError::SessionEnded`]. Whatever ends sessions (an erasure of the
/// citizen's data above all) therefore comes wholly before or wholly after
/// such a write: an erasure's pass over the apps' storage, which follows the
/// end of the sessions, sees every write it must erase, and no write of a
/// request that began before the erasure lands after it.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The value under `key` in `space`.
    async fn get(&self, space: KvSpace<'_>, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Apply `write` atomically with the app's usage count, refusing a
    /// write that would take the app's stored bytes (keys and values, all
    /// spaces) past `quota` — a write that does not grow the app is always
    /// allowed. True if it changed the key (a swap whose expectation failed,
    /// or a delete of an absent key, changes nothing). Returns once written,
    /// not yet durable.
    async fn write_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        write: KvWrite<'_>,
        quota: u64,
        for_session: Option<&str>,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError>;
    /// Add `by` to the counter under `key` (absent: 0), stored as its
    /// decimal digits, atomically with the usage count; the new value.
    /// Returns once written, not yet durable (as `write_deferred`).
    async fn increment_deferred(
        &self,
        space: KvSpace<'_>,
        key: &str,
        by: u64,
        quota: u64,
        for_session: Option<&str>,
    ) -> Result<Result<u64, CounterRefusal>, StoreError>;
    /// Make every write this store returned before the call durable.
    async fn sync(&self) -> Result<(), StoreError>;
    /// Keys with `prefix` after `after`, in ascending order, at most `limit`.
    async fn list(
        &self,
        space: KvSpace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError>;
    /// Bytes of keys and values `app` stores, across its spaces.
    async fn usage(&self, app: &str) -> Result<u64, StoreError>;

    /// Set, unless it would pass `quota`; durable on return.
    async fn set(
        &self,
        space: KvSpace<'_>,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<(), QuotaExceeded>, StoreError> {
        let written = self
            .write_deferred(space, key, KvWrite::Set(value), quota, None)
            .await?;
        self.sync().await?;
        Ok(written.map(|_| ()))
    }
    /// Compare-and-swap (see [`KvWrite::Swap`]); durable on return; false
    /// if the key held something else.
    async fn swap(
        &self,
        space: KvSpace<'_>,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let written = self
            .write_deferred(space, key, KvWrite::Swap { expected, value }, quota, None)
            .await?;
        if written == Ok(true) {
            self.sync().await?;
        }
        Ok(written)
    }
    /// Delete; durable on return; true if the key existed.
    async fn delete(&self, space: KvSpace<'_>, key: &str) -> Result<bool, StoreError> {
        let existed = self
            .write_deferred(space, key, KvWrite::Delete, u64::MAX, None)
            .await?
            .unwrap_or(false);
        if existed {
            self.sync().await?;
        }
        Ok(existed)
    }
}
