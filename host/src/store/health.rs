//! Whether the store's backend answers now: the [`Health`] trait, asked by
//! the readiness probe (`/readyz`). Owns no data and no policy: a timeout
//! and what a failure means are the caller's.

use super::StoreError;
use async_trait::async_trait;

/// The kind of backend behind a [`super::Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded sled database in the data dir: open means reachable.
    Sled,
    /// A PostgreSQL server shared by hosts: reachable or not from moment
    /// to moment.
    Postgres,
}

impl Backend {
    /// `sled` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Postgres => "postgres",
        }
    }
}

/// A backend's answer to "are you there?".
#[async_trait]
pub trait Health: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Ask the backend the cheapest question it has (PostgreSQL:
    /// `SELECT 1` on a pooled connection); `Ok` once it answered. Unbounded
    /// in time beyond the backend's own timeouts: the caller bounds it.
    async fn ping(&self) -> Result<(), StoreError>;
}
