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
}

/// An app: who owns it and which of its versions serve.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
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
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
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

/// One uploaded version of an app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
    /// When it was revoked (unix seconds): kept, so a revoked token stays
    /// refused across restarts and is never registered again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
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

/// A consent a citizen gave an app for one personal scope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConsentRecord {
    pub app: String,
    /// The capability consented to, e.g. `identity.phone`.
    pub scope: String,
    /// The purpose the app's manifest gave, as shown to the citizen.
    pub purpose: String,
    /// Unix seconds.
    pub granted_at: u64,
}

/// A message in a citizen's inbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboxMessage {
    /// The app that sent it.
    pub app: String,
    pub title: String,
    pub body: String,
    /// A path inside the app the shell opens, if any.
    pub link: Option<String>,
    /// Unix milliseconds.
    pub at: u64,
}

/// A partner company allowed to publish apps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SigningKeyRecord {
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// Unix seconds.
    pub added: u64,
    /// Unix seconds; a revoked key signs nothing new.
    pub revoked: Option<u64>,
}

/// Where a payment intent is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IntentStatus {
    Pending,
    Captured,
    Cancelled,
    Expired,
    /// Captured, then refunded in full.
    Refunded,
}

/// A refund of (part of) a captured intent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundRecord {
    /// The app's idempotency key for this refund.
    pub reference: String,
    pub amount: u64,
    /// Unix milliseconds.
    pub at: u64,
}

/// A payment intent: an app asking a citizen for money.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntentRecord {
    pub id: String,
    pub app: String,
    /// The merchant: the app's publisher.
    pub publisher: String,
    /// The paying citizen (host-side id; apps see `pairwise_id`).
    pub citizen: String,
    pub pairwise_id: String,
    /// The app's idempotency key.
    pub reference: String,
    /// VND.
    pub amount: u64,
    pub description: String,
    pub status: IntentStatus,
    /// Unix milliseconds.
    pub created_at: u64,
    pub expires_at: u64,
    pub captured_at: Option<u64>,
    /// How it was paid (`demo-wallet`, a provider's name).
    pub method: Option<String>,
    /// The city's fee taken at capture, VND.
    pub fee: u64,
    pub refunded: u64,
    pub fee_refunded: u64,
    pub refunds: Vec<RefundRecord>,
}

/// One side of a ledger transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Posting {
    /// The transaction it belongs to (its postings sum to zero).
    pub tx: String,
    /// The intent it moves money for, if any.
    pub intent: Option<String>,
    /// e.g. `wallet:c-lan`, `merchant:vnpt-hue`, `city:fees`.
    pub account: String,
    /// Signed VND.
    pub amount: i64,
    /// Unix milliseconds.
    pub at: u64,
}

/// What a payment step does to the ledger, decided by the payments module
/// inside the store's transaction.
#[derive(Debug, Clone, Default)]
pub struct LedgerStep {
    /// Postings of one transaction; they must sum to zero.
    pub postings: Vec<(String, i64)>,
    /// Tell the app about the new state (queued for delivery with it).
    pub notify_app: bool,
}

/// Reads an account's balance inside a ledger transaction (`None`: never used).
pub type BalanceReader<'a> = dyn Fn(&str) -> Option<i64> + 'a;

/// A payment step: edits the intent and says what the ledger must do.
pub type StepFn<'a> =
    dyn Fn(&mut IntentRecord, &BalanceReader) -> Result<LedgerStep, LedgerRefusal> + 'a;

/// Why the store refused a ledger step; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerRefusal {
    /// The step's own rule (wrong state, expired, over-refund …), as a code.
    Rule(String),
    /// An account whose name starts with `wallet:` would go below zero.
    InsufficientFunds { account: String, balance: i64 },
    /// The `once` key was used before (a replayed webhook).
    Replayed(String),
    /// No intent with this id.
    NoSuchIntent,
    /// The citizen already holds this many pending intents of the app.
    TooManyPending(usize),
}

/// A payment event waiting to be delivered to an app's hook.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxEntry {
    pub key: String,
    pub intent: String,
    pub app: String,
    pub attempts: u32,
    /// Unix milliseconds of the next attempt.
    pub next_at: u64,
}

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

/// Everything the host persists.
pub trait Store: Send + Sync + 'static {
    /// The component bytes stored under `sha256`.
    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// How many versions, across every app, reference the blob `sha256`
    /// (0: no version does, and the blob is not stored).
    fn blob_refs(&self, sha256: &str) -> Result<u64, StoreError>;
    /// Write an app's record and some of its versions' records at once (one
    /// transaction: a rollout or review step is never half-written). Blobs
    /// are content-addressed and shared across apps: a version new to the
    /// store takes a reference on its component's blob in the same
    /// transaction, storing it from `components` (bytes, addressed by the
    /// store's own sha256 of them) when no version holds it yet — else the
    /// commit is refused with `MissingBlob`. A stored version keeps its component.
    fn commit_app(
        &self,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError>;
    /// Every app.
    fn apps(&self) -> Result<Vec<AppRecord>, StoreError>;
    /// The app with `id`.
    fn app(&self, id: &str) -> Result<Option<AppRecord>, StoreError>;
    /// Every version of `app`, in no particular order.
    fn versions(&self, app: &str) -> Result<Vec<VersionRecord>, StoreError>;
    /// Forget a version (pruning old ones) and, in the same transaction, its
    /// reference on its component's blob. Returns the blob's sha256 when that
    /// was the last reference: the blob is gone too, and the caller forgets
    /// its precompiled form. `None` if the version did not exist or the blob
    /// still serves another version (of any app).
    fn delete_version(&self, app: &str, version: &str) -> Result<Option<String>, StoreError>;

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

    /// kv: the value under `key` in `space`.
    fn kv_get(&self, space: KvSpace<'_>, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// kv: set, unless the app's stored bytes (keys and values, all spaces)
    /// would then pass `quota`; the write and the usage count change together.
    fn kv_set(
        &self,
        space: KvSpace<'_>,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<(), QuotaExceeded>, StoreError>;
    /// kv: set as `kv_set` does, but only if the key now holds `expected`
    /// (`None`: only if absent), atomically; false if it held something else.
    fn kv_swap(
        &self,
        space: KvSpace<'_>,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError>;
    /// kv: delete; true if the key existed.
    fn kv_delete(&self, space: KvSpace<'_>, key: &str) -> Result<bool, StoreError>;
    /// kv: keys with `prefix` after `after`, at most `limit`.
    fn kv_list(
        &self,
        space: KvSpace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError>;
    /// kv: bytes of keys and values `app` stores, across its spaces.
    fn kv_usage(&self, app: &str) -> Result<u64, StoreError>;

    /// Record (or renew) a citizen's consent.
    fn put_consent(&self, citizen: &str, record: &ConsentRecord) -> Result<(), StoreError>;
    /// The citizen's consent to `app` for `scope`, if given and not revoked.
    fn consent(
        &self,
        citizen: &str,
        app: &str,
        scope: &str,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    /// Every consent the citizen has given, by app then scope.
    fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Revoke a consent; true if it existed.
    fn delete_consent(&self, citizen: &str, app: &str, scope: &str) -> Result<bool, StoreError>;

    /// Remember that `citizen` is known to `app` as `pairwise` (kept once).
    fn remember_pairwise(&self, app: &str, pairwise: &str, citizen: &str)
        -> Result<(), StoreError>;
    /// The citizen `app` knows as `pairwise`, if they ever used the app.
    fn pairwise_citizen(&self, app: &str, pairwise: &str) -> Result<Option<String>, StoreError>;

    /// Append a message to a citizen's inbox.
    fn inbox_append(&self, citizen: &str, message: &InboxMessage) -> Result<(), StoreError>;
    /// The citizen's messages sent at or after `since_ms`, oldest first.
    fn inbox_since(&self, citizen: &str, since_ms: u64) -> Result<Vec<InboxMessage>, StoreError>;
    /// The citizen's latest `limit` messages, newest first.
    fn inbox_latest(&self, citizen: &str, limit: usize) -> Result<Vec<InboxMessage>, StoreError>;

    /// Register (or rename) a publisher.
    fn put_publisher(&self, record: &PublisherRecord) -> Result<(), StoreError>;
    /// The publisher with `id`.
    fn publisher(&self, id: &str) -> Result<Option<PublisherRecord>, StoreError>;
    /// Every publisher.
    fn publishers(&self) -> Result<Vec<PublisherRecord>, StoreError>;
    /// Register an API key of publisher `id` under the sha256 (hex) of the key.
    fn put_publisher_key(&self, key_sha256: &str, publisher: &str) -> Result<(), StoreError>;
    /// The hashes of publisher `id`'s API keys.
    fn publisher_keys(&self, publisher: &str) -> Result<Vec<String>, StoreError>;
    /// Revoke an API key by its hash; true if it existed.
    fn delete_publisher_key(&self, key_sha256: &str) -> Result<bool, StoreError>;
    /// The publisher whose key hashes to `key_sha256`.
    fn publisher_for_key(&self, key_sha256: &str) -> Result<Option<PublisherRecord>, StoreError>;

    /// Append an audit record built by `make` from its new sequence number.
    fn audit_append(&self, make: &dyn Fn(u64) -> AuditRecord) -> Result<u64, StoreError>;
    /// Visit audit records with `seq > after`, oldest first, until `visit` returns false.
    fn audit_scan(
        &self,
        after: u64,
        visit: &mut dyn FnMut(AuditRecord) -> bool,
    ) -> Result<(), StoreError>;

    /// Create `intent` unless (app, citizen, reference) already names one;
    /// returns the intent that now holds that reference. A new intent is
    /// refused with `TooManyPending` when its citizen already holds
    /// `max_pending` unexpired pending intents of the app (counted in the
    /// same transaction).
    fn intent_create(
        &self,
        intent: &IntentRecord,
        max_pending: usize,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError>;
    /// The intent `id`.
    fn intent(&self, id: &str) -> Result<Option<IntentRecord>, StoreError>;
    /// Every intent, oldest first.
    fn intents(&self) -> Result<Vec<IntentRecord>, StoreError>;
    /// Change intent `id` by `step` in one transaction: `step` edits the
    /// intent (given the balance reader) and returns the ledger step; the
    /// store refuses postings that do not sum to zero or overdraw a wallet,
    /// and — before anything else — a reused `once` key (a provider's
    /// payment reference), which it then marks used. Retried on conflicts, so `step` must be pure,
    /// and it must not call the store (it would wait on its own transaction).
    fn intent_step(
        &self,
        id: &str,
        once: Option<&str>,
        step: &StepFn,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError>;
    /// Post a transaction with no intent (a top-up), refusing an overdrawn wallet.
    fn post(&self, postings: &[(String, i64)]) -> Result<Result<(), LedgerRefusal>, StoreError>;
    /// Every posting, in order.
    fn postings(&self) -> Result<Vec<Posting>, StoreError>;
    /// Every account and its balance.
    fn balances(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Payment events waiting for delivery.
    fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Replace (reschedule) or, with `None`, delete an outbox entry.
    fn outbox_update(&self, key: &str, entry: Option<&OutboxEntry>) -> Result<(), StoreError>;

    /// Make every write so far durable. Called before a write is acknowledged.
    fn flush(&self) -> Result<(), StoreError>;
}
