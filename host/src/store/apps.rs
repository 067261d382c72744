//! The registry's records — publishers and their keys, apps, versions (each
//! with what the city granted it) and the content-addressed component blobs —
//! and the [`AppStore`] trait that keeps them, with the change feed other
//! hosts' caches follow.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// An app: who owns it and which of its versions serve.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, utoipa::ToSchema)]
pub struct AppRecord {
    pub id: String,
    /// The publisher that claimed the id with its first version.
    pub publisher: String,
    /// The version serving everyone outside the canary.
    pub live: Option<String>,
    /// The version that was live before `live`: where a rollback goes.
    pub previous: Option<String>,
    /// A version being rolled out, and the share of callers it serves (0–100).
    pub canary: Option<String>,
    #[serde(default)]
    pub canary_percent: u8,
    /// Why the operator suspended the app, while it is suspended.
    pub suspended: Option<String>,
}

/// Where a version is in its life.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VersionState {
    /// Uploaded and waiting for the city's review.
    InReview,
    /// Approved with grants; may be rolled out.
    Approved,
    /// Refused by the city, with a reason.
    Rejected,
    /// Taken back by its publisher before going live.
    Withdrawn,
    /// Serving a share of callers.
    Canary,
    /// Serving everyone (outside a canary).
    Live,
    /// Served once; replaced or rolled back.
    Retired,
}

impl VersionState {
    /// The city approved the version (or installed it): it may serve, serves,
    /// or served.
    pub fn passed_review(self) -> bool {
        matches!(
            self,
            VersionState::Approved
                | VersionState::Canary
                | VersionState::Live
                | VersionState::Retired
        )
    }
}

/// One uploaded version of an app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct VersionRecord {
    pub app: String,
    pub version: String,
    pub publisher: String,
    /// The manifest text as published (parsed again on load).
    pub manifest: String,
    /// sha256 of the component bytes, hex.
    pub component_sha256: String,
    pub state: VersionState,
    /// The rejection's or withdrawal's reason.
    pub reason: Option<String>,
    /// Unix seconds.
    pub uploaded_at: u64,
    /// Unix seconds of the last change of state, and who made it.
    pub changed_at: u64,
    pub changed_by: String,
    /// What the city granted this version: set when it is approved (or
    /// installed), changed by the operator while it serves. `None`: nothing
    /// is granted (never approved). Each version keeps its own, so approving
    /// a new one changes nothing that serves, and a rollback brings back
    /// the grants the restored version had.
    #[serde(default)]
    pub grants: Option<GrantRecord>,
}

/// What the operator granted a version (effective = requested ∩ granted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct GrantRecord {
    pub capabilities: Vec<String>,
    /// Who set them, e.g. `operator:ops`.
    pub by: String,
    /// Unix seconds.
    pub at: u64,
}

/// A partner company allowed to publish apps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PublisherRecord {
    /// Its slug, as written in manifests' `publisher` field.
    pub id: String,
    /// Its legal name.
    pub name: String,
    /// Who the city talks to (e-mail or phone).
    #[serde(default)]
    pub contact: String,
    /// The ed25519 public keys its packages may be signed with.
    #[serde(default)]
    pub signing_keys: Vec<SigningKeyRecord>,
    /// The city's fee on its payments, in basis points (default 100 = 1 %).
    #[serde(default)]
    pub fee_bps: Option<u32>,
    /// Unix seconds.
    pub created: u64,
}

/// A publisher's package-signing key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SigningKeyRecord {
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// Unix seconds.
    pub added: u64,
    /// Unix seconds; a revoked key signs nothing new.
    pub revoked: Option<u64>,
}

/// A change to state that hosts cache, sent on [`AppStore::changes`] after
/// it is durable: whoever caches the app's record or versions (and their
/// grants), or the session, reloads or drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppChange {
    /// The app's record or its versions changed (review, grants, rollout,
    /// rollback, suspension, a new or pruned version).
    App(String),
    /// A publisher's record or keys changed.
    Publisher(String),
    /// A citizen's session ended (sign-out), by its token's sha256.
    SessionEnded(String),
    /// A citizen's data was erased: the apps that knew them lost their
    /// pairwise link, so whoever caches links drops them.
    CitizenErased,
    /// Changes may have been missed (a shared backend's feed reconnected):
    /// reload everything.
    Everything,
}

/// An app's records as a step read them, before it writes over them
/// ([`AppStore::commit_app_over`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppSnapshot {
    /// The app's record; `None`: there was none.
    pub app: Option<AppRecord>,
    /// Every version of the app, in no particular order.
    pub versions: Vec<VersionRecord>,
}

impl AppSnapshot {
    /// Version `version` of `app`, as read.
    pub fn version(&self, app: &str, version: &str) -> Option<&VersionRecord> {
        self.versions
            .iter()
            .find(|v| v.app == app && v.version == version)
    }
}

/// Why a change to a record was refused, as a short code its caller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// A change to a publisher's record ([`AppStore::change_publisher`]).
pub type PublisherChange<'a> =
    dyn Fn(Option<PublisherRecord>) -> Result<PublisherRecord, Refused> + Send + Sync + 'a;

/// Publishers, apps, versions and component blobs. Every write
/// returns once it is durable, then announces itself on [`AppStore::changes`].
#[async_trait]
pub trait AppStore: Send + Sync + 'static {
    /// The component bytes stored under `sha256`.
    async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// How many versions, across every app, reference the blob `sha256`
    /// (0: no version does, and the blob is not stored).
    async fn blob_refs(&self, sha256: &str) -> Result<u64, StoreError>;
    /// Write an app's record and some of its versions' records at once (one
    /// transaction: a rollout or review step is never half-written). Blobs
    /// are content-addressed and shared across apps: a version new to the
    /// store takes a reference on its component's blob in the same
    /// transaction, storing it from `components` (bytes, addressed by the
    /// store's own sha256 of them) when no version holds it yet — else the
    /// commit is refused with `MissingBlob`. A stored version keeps its component.
    async fn commit_app(
        &self,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError>;
    /// [`commit_app`](AppStore::commit_app), if nothing it writes changed
    /// since `read`: the app's record and each of `versions` must still be
    /// stored as `read` has them (a version `read` lacks, still absent), else
    /// `ChangedMeanwhile` and nothing is written. So a step that read,
    /// checked and wrote never undoes another made meanwhile, on any host.
    async fn commit_app_over(
        &self,
        read: &AppSnapshot,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError>;
    /// `app`'s record and versions, for a step that will write over them.
    async fn snapshot(&self, app: &str) -> Result<AppSnapshot, StoreError> {
        Ok(AppSnapshot {
            app: self.app(app).await?,
            versions: self.versions(app).await?,
        })
    }
    /// Every app.
    async fn apps(&self) -> Result<Vec<AppRecord>, StoreError>;
    /// The app with `id`.
    async fn app(&self, id: &str) -> Result<Option<AppRecord>, StoreError>;
    /// Every version of `app`, in no particular order.
    async fn versions(&self, app: &str) -> Result<Vec<VersionRecord>, StoreError>;
    /// Forget a version (pruning old ones) and, in the same transaction, its
    /// reference on its component's blob. Returns the blob's sha256 when that
    /// was the last reference: the blob is gone too, and the caller forgets
    /// its precompiled form. `None` if the version did not exist or the blob
    /// still serves another version (of any app).
    async fn delete_version(&self, app: &str, version: &str) -> Result<Option<String>, StoreError>;
    /// [`delete_version`](AppStore::delete_version), if the app's record
    /// and the version are still stored as `read` has them (a version
    /// `read` lacks, still absent), else `ChangedMeanwhile` and nothing goes.
    async fn delete_version_over(
        &self,
        read: &AppSnapshot,
        app: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Change publisher `id`'s record in one step against every other change
    /// of it, on any host: `change` sees the stored record (`None`: there is
    /// none) and gives the record to store, or refuses, writing nothing. It
    /// may be called more than once.
    async fn change_publisher(
        &self,
        id: &str,
        change: &PublisherChange<'_>,
    ) -> Result<Result<PublisherRecord, Refused>, StoreError>;
    /// The publisher with `id`.
    async fn publisher(&self, id: &str) -> Result<Option<PublisherRecord>, StoreError>;
    /// Every publisher.
    async fn publishers(&self) -> Result<Vec<PublisherRecord>, StoreError>;
    /// Register an API key of publisher `id` under the sha256 (hex) of the key.
    async fn put_publisher_key(&self, key_sha256: &str, publisher: &str) -> Result<(), StoreError>;
    /// The hashes of publisher `id`'s API keys.
    async fn publisher_keys(&self, publisher: &str) -> Result<Vec<String>, StoreError>;
    /// Revoke an API key by its hash; true if it existed.
    async fn delete_publisher_key(&self, key_sha256: &str) -> Result<bool, StoreError>;
    /// The publisher whose key hashes to `key_sha256`.
    async fn publisher_for_key(
        &self,
        key_sha256: &str,
    ) -> Result<Option<PublisherRecord>, StoreError>;

    /// Registry changes made from now on, through this host or (on a shared
    /// backend) any other. A receiver that lags is told so and reloads all.
    fn changes(&self) -> tokio::sync::broadcast::Receiver<AppChange>;
}
