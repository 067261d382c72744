//! Persistence behind async traits split by concern — [`AppStore`],
//! [`KvStore`], [`IdentityStore`], [`Ledger`], [`AuditStore`],
//! [`RateLimits`] — bundled as [`Store`], with [`Health`] to ask whether the
//! backend answers. Every write returns once it is durable; no caller
//! flushes. Owns persistence only: no policy lives here.

mod apps;
mod audit;
pub mod backup;
pub mod conformance;
mod health;
mod identity;
mod kv;
mod ledger;
mod limits;
pub mod migrate;
mod postgres;
mod sled;

pub use self::apps::*;
pub use self::audit::*;
pub use self::health::*;
pub use self::identity::*;
pub use self::kv::*;
pub use self::ledger::*;
pub use self::limits::*;
/// Test support: a fresh PostgreSQL database per test.
#[doc(hidden)]
pub use self::postgres::testing as postgres_testing;
pub use self::postgres::PgStore;
pub use self::sled::SledStore;

use std::path::Path;
use std::sync::Arc;

/// A storage failure. Callers map it to `unavailable` for guests and to 503
/// for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("stored record `{key}` is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    /// A new version names a component that is neither stored nor given.
    #[error("{app} {version} names component {sha256}, which is neither stored nor given")]
    MissingBlob {
        app: String,
        version: String,
        sha256: String,
    },
    /// A stored version's component cannot be replaced (versions are immutable).
    #[error("{app} {version} already has a different component")]
    ComponentChanged { app: String, version: String },
    /// A step's records changed after it read them (another step, perhaps on
    /// another host, came first); nothing was written.
    #[error(
        "{app} changed while this step was being made (another change came first); nothing \
         was changed: look at its state and try again"
    )]
    ChangedMeanwhile { app: String },
    /// A session was not opened: an erasure of the citizen's data has not
    /// finished, and what they did in the session could be erased with it.
    #[error("an erasure of this citizen's data has not finished; no session was opened")]
    ErasureUnfinished,
    /// A write made for a signed-in citizen was not made: the session it
    /// acts for has ended (signed out, expired and swept, or ended by an
    /// erasure of their data); nothing was written.
    #[error("the session this write was made for has ended; nothing was written")]
    SessionEnded,
    /// A write made for a citizen through an app's link to them was not
    /// made: the link has gone (their data was erased); nothing was written.
    #[error("the app's link to this citizen has gone; nothing was written")]
    LinkEnded,
}

/// Everything the host persists: one handle per concern, all on one backend.
#[derive(Clone)]
pub struct Store {
    pub apps: Arc<dyn AppStore>,
    pub kv: Arc<dyn KvStore>,
    pub identity: Arc<dyn IdentityStore>,
    pub ledger: Arc<dyn Ledger>,
    pub audit: Arc<dyn AuditStore>,
    pub limits: Arc<dyn RateLimits>,
    /// Whether the backend answers (for `/readyz`).
    pub health: Arc<dyn Health>,
    /// Consistent copies while the host serves (the embedded store only).
    pub snapshot: Arc<dyn backup::Snapshot>,
}

impl Store {
    /// The bundle over one backend that implements every concern.
    pub fn over<B>(backend: B) -> Store
    where
        B: AppStore
            + KvStore
            + IdentityStore
            + Ledger
            + AuditStore
            + RateLimits
            + Health
            + backup::Snapshot,
    {
        let backend = Arc::new(backend);
        Store {
            apps: backend.clone(),
            kv: backend.clone(),
            identity: backend.clone(),
            ledger: backend.clone(),
            audit: backend.clone(),
            limits: backend.clone(),
            health: backend.clone(),
            snapshot: backend,
        }
    }

    /// Which backend holds the data.
    pub fn backend(&self) -> Backend {
        self.health.backend()
    }

    /// Whether the backend answers now (see [`Health::ping`]); the caller
    /// bounds the wait.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.health.ping().await
    }

    /// PostgreSQL at `url`, its schema brought up to date.
    pub async fn postgres(url: &str) -> Result<Store, StoreError> {
        Ok(Store::over(PgStore::connect(url).await?))
    }

    /// The embedded sled store in `dir` (created if missing).
    pub fn sled(dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::over(SledStore::open(dir)?))
    }
}
