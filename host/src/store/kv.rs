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

/// Key-value data of mini-apps. Every write returns once it is durable.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The value under `key` in `space`.
    async fn get(&self, space: KvSpace<'_>, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Set, unless the app's stored bytes (keys and values, all spaces)
    /// would then pass `quota`; the write and the usage count change together.
    async fn set(
        &self,
        space: KvSpace<'_>,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<(), QuotaExceeded>, StoreError>;
    /// Set as `set` does, but only if the key now holds `expected` (`None`:
    /// only if absent), atomically; false if it held something else.
    async fn swap(
        &self,
        space: KvSpace<'_>,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError>;
    /// Delete; true if the key existed.
    async fn delete(&self, space: KvSpace<'_>, key: &str) -> Result<bool, StoreError>;
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
}
