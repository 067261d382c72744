//! Storage behind a trait, so that a deployment that outgrows one machine can
//! swap the embedded sled store for a distributed one without touching
//! capabilities or the gateway. Owns persistence only: no policy lives here.

mod sled_store;

pub use sled_store::SledStore;

use crate::audit::AuditRecord;
use serde::{Deserialize, Serialize};

/// A storage failure. Callers map it to `unavailable` for guests and to 503
/// for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("stored record `{key}` is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}

/// An installed app version as recorded in the store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AppRecord {
    pub id: String,
    /// The manifest text as published (parsed again on load).
    pub manifest: String,
    /// sha256 of the component bytes, hex.
    pub component_sha256: String,
    /// Unix seconds.
    pub installed_at: u64,
}

/// What the operator granted an app (effective = requested ∩ granted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GrantRecord {
    pub capabilities: Vec<String>,
    /// Who set them, e.g. `operator:ops`.
    pub by: String,
    /// Unix seconds.
    pub at: u64,
}

/// An operator credential, stored under the sha256 of its token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OperatorRecord {
    pub name: String,
    /// Unix seconds.
    pub created: u64,
}

/// A citizen session, stored under the sha256 of its token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    pub citizen_id: String,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds.
    pub expires: u64,
}

/// One page of keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPage {
    pub keys: Vec<String>,
    pub next: Option<String>,
}

/// Everything the host persists.
pub trait Store: Send + Sync + 'static {
    /// Store component bytes under their sha256; returns the hex digest.
    fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError>;
    /// The bytes stored under `sha256`.
    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Record the live version of an app (replacing the previous record).
    fn put_app(&self, record: &AppRecord) -> Result<(), StoreError>;
    /// Every installed app.
    fn apps(&self) -> Result<Vec<AppRecord>, StoreError>;

    /// Replace the grants of `app`.
    fn put_grants(&self, app: &str, grants: &GrantRecord) -> Result<(), StoreError>;
    /// The grants of `app`, if the operator ever set any.
    fn grants(&self, app: &str) -> Result<Option<GrantRecord>, StoreError>;

    /// Register an operator credential under the sha256 (hex) of its token.
    fn put_operator(&self, token_sha256: &str, record: &OperatorRecord) -> Result<(), StoreError>;
    /// The operator whose token hashes to `token_sha256`.
    fn operator(&self, token_sha256: &str) -> Result<Option<OperatorRecord>, StoreError>;
    /// Whether any operator credential exists.
    fn has_operators(&self) -> Result<bool, StoreError>;

    /// The host secret called `name`, created with `generate` (and persisted)
    /// the first time it is asked for.
    fn host_secret(
        &self,
        name: &str,
        generate: &dyn Fn() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError>;

    /// Store a session under the sha256 (hex) of its token.
    fn put_session(&self, token_sha256: &str, record: &SessionRecord) -> Result<(), StoreError>;
    /// The session stored under `token_sha256`.
    fn session(&self, token_sha256: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Remove a session; true if it existed.
    fn delete_session(&self, token_sha256: &str) -> Result<bool, StoreError>;

    /// App-scoped kv: `app`'s value under `key`.
    fn kv_get(&self, app: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// App-scoped kv: set.
    fn kv_set(&self, app: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// App-scoped kv: delete; true if the key existed.
    fn kv_delete(&self, app: &str, key: &str) -> Result<bool, StoreError>;
    /// App-scoped kv: keys with `prefix` after `after`, at most `limit`.
    fn kv_list(
        &self,
        app: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError>;

    /// Append an audit record built by `make` from its new sequence number.
    fn audit_append(&self, make: &dyn Fn(u64) -> AuditRecord) -> Result<u64, StoreError>;
    /// Visit audit records with `seq > after`, oldest first, until `visit` returns false.
    fn audit_scan(
        &self,
        after: u64,
        visit: &mut dyn FnMut(AuditRecord) -> bool,
    ) -> Result<(), StoreError>;

    /// Make every write so far durable. Called before a write is acknowledged.
    fn flush(&self) -> Result<(), StoreError>;
}
