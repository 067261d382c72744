//! Citizens' and operators' records — sessions, operator credentials, host
//! secrets, consents, pairwise bookkeeping, inboxes, frame tokens and last
//! reported locations (both expiring) — and the [`IdentityStore`] trait.

use super::{KvSpace, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a write made for a citizen stands on. It lands only while that is
/// live, checked atomically with the write; else nothing is written and the
/// write answers [`StoreError::SessionEnded`] or [`StoreError::LinkEnded`].
/// Whatever ends it (an erasure of the citizen's data above all, which ends
/// both) therefore comes wholly before or wholly after the write: no write
/// of a request under way when their data was erased lands after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Through<'a> {
    /// The session the request came with: the sha256 of its token.
    Session(&'a str),
    /// An app's link to the citizen: the app, and the pairwise id it named
    /// them by (the citizen is the write's).
    Link { app: &'a str, pairwise_id: &'a str },
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
    /// The citizen's fields as an OpenID provider gave them at sign-in;
    /// `None` for a citizen the host's own provider knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::citizen::Citizen>,
}

/// A consent a citizen gave an app for one personal scope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
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

/// A frame token: the shell's session traded for one app's iframe, stored
/// under the sha256 of the token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrameRecord {
    pub citizen_id: String,
    pub app: String,
    /// sha256 of the shell session it came from: it dies with it.
    pub parent: String,
    /// Unix seconds.
    pub issued: u64,
    /// Unix seconds.
    pub expires: u64,
    /// Its place in its citizen's issue order, set by the store (the
    /// oldest is closed first).
    #[serde(default)]
    pub order: u64,
}

/// The last position a citizen's device reported.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LocationRecord {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    /// Unix milliseconds when the host received it.
    pub at: u64,
    /// Unix milliseconds after which it is no longer used.
    pub expires: u64,
}

/// What signing a citizen out everywhere ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EndedSessions {
    /// Sessions ended (every device and browser is signed out).
    pub sessions: usize,
    /// Frame tokens closed (every app opened from them).
    pub frames: usize,
}

/// What erasing a citizen took from the identity store, record by record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErasedRecords {
    /// Sessions ended (every device is signed out).
    pub sessions: usize,
    /// Frame tokens closed.
    pub frames: usize,
    pub consents: usize,
    pub inbox_messages: usize,
    /// The last reported position (0 or 1).
    pub locations: usize,
    /// Apps that can no longer reach the citizen by their pairwise id.
    pub app_links: usize,
}

/// Sessions, operator credentials, host secrets, consents, pairwise ids,
/// inboxes, frame tokens and locations. Every write returns once durable.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Register an operator credential under the sha256 (hex) of its token.
    async fn put_operator(
        &self,
        token_sha256: &str,
        record: &OperatorRecord,
    ) -> Result<(), StoreError>;
    /// The operator whose token hashes to `token_sha256`.
    async fn operator(&self, token_sha256: &str) -> Result<Option<OperatorRecord>, StoreError>;
    /// Whether any operator credential exists.
    async fn has_operators(&self) -> Result<bool, StoreError>;

    /// The host secret called `name`, created from `fresh` (and persisted)
    /// the first time it is asked for; every later call, from any host,
    /// gets the first value stored.
    async fn host_secret(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError>;
    /// Delete the host secret called `name`, once nothing needs it again.
    async fn forget_host_secret(&self, name: &str) -> Result<(), StoreError>;

    /// Store a session under the sha256 (hex) of its token, unless an
    /// erasure of its citizen has not finished
    /// ([`StoreError::ErasureUnfinished`]: nothing is stored). An erasure
    /// that begins meanwhile ends it, or this waits for the erasure to be
    /// recorded and is refused.
    async fn put_session(
        &self,
        token_sha256: &str,
        record: &SessionRecord,
    ) -> Result<(), StoreError>;
    /// The session stored under `token_sha256`.
    async fn session(&self, token_sha256: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Remove a session; true if it existed.
    async fn delete_session(&self, token_sha256: &str) -> Result<bool, StoreError>;
    /// Every session of `citizen` still stored, oldest first (an expired
    /// one stays until the expiry sweep).
    async fn sessions_of(&self, citizen: &str) -> Result<Vec<SessionRecord>, StoreError>;
    /// End every session of `citizen` and close every frame token of theirs,
    /// in one write, each session announced ended (sign out everywhere).
    async fn end_sessions_of(&self, citizen: &str) -> Result<EndedSessions, StoreError>;

    /// Record (or renew) a citizen's consents, all in one write: every one
    /// or none is kept (none once `through` ended).
    async fn put_consents(
        &self,
        citizen: &str,
        records: &[ConsentRecord],
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError>;
    /// The citizen's consent to `app` for `scope`, if given and not revoked.
    async fn consent(
        &self,
        citizen: &str,
        app: &str,
        scope: &str,
    ) -> Result<Option<ConsentRecord>, StoreError>;
    /// Every consent the citizen has given, by app then scope.
    async fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// Revoke the citizen's consent to `app` for `scope`, or for every scope
    /// without one, in one write; the scopes that were consented to.
    async fn delete_consents(
        &self,
        citizen: &str,
        app: &str,
        scope: Option<&str>,
    ) -> Result<Vec<String>, StoreError>;

    /// Remember that `citizen` is known to `app` as `pairwise` (kept once;
    /// not once `through` ended).
    async fn remember_pairwise(
        &self,
        app: &str,
        pairwise: &str,
        citizen: &str,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError>;
    /// The citizen `app` knows as `pairwise`, if they ever used the app.
    async fn pairwise_citizen(
        &self,
        app: &str,
        pairwise: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Append a message to a citizen's inbox (not once `through` ended).
    async fn inbox_append(
        &self,
        citizen: &str,
        message: &InboxMessage,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError>;
    /// The citizen's messages sent at or after `since_ms`, oldest first.
    async fn inbox_since(
        &self,
        citizen: &str,
        since_ms: u64,
    ) -> Result<Vec<InboxMessage>, StoreError>;
    /// The citizen's latest `limit` messages, newest first.
    async fn inbox_latest(
        &self,
        citizen: &str,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, StoreError>;

    /// Store a frame token under the sha256 of the token (its `order` set
    /// by the store), and close the citizen's oldest tokens so they hold at
    /// most `per_citizen`; tokens opened at the same instant may leave the
    /// citizen one over until their next open. Returns how many were closed.
    /// Opened only while its session (`record.parent`) is live, checked
    /// atomically ([`StoreError::SessionEnded`] else): a token opened as an
    /// erasure ended the session would outlive it.
    async fn open_frame(
        &self,
        token_sha256: &str,
        record: &FrameRecord,
        per_citizen: usize,
    ) -> Result<usize, StoreError>;
    /// The frame token stored under `token_sha256`, expired or not.
    async fn frame(&self, token_sha256: &str) -> Result<Option<FrameRecord>, StoreError>;
    /// Close one frame token; true if it existed.
    async fn close_frame(&self, token_sha256: &str) -> Result<bool, StoreError>;
    /// Close every frame token of `citizen` opened from the session whose
    /// hash is `parent`; returns how many.
    async fn close_frames_of_session(
        &self,
        citizen: &str,
        parent: &str,
    ) -> Result<usize, StoreError>;
    /// Frame tokens stored (expired ones not yet swept included).
    async fn frame_count(&self) -> Result<u64, StoreError>;

    /// Keep the citizen's last reported position, replacing the one before
    /// (not once `through` ended).
    async fn put_location(
        &self,
        citizen: &str,
        record: &LocationRecord,
        through: Option<Through<'_>>,
    ) -> Result<(), StoreError>;
    /// The citizen's last position, expired or not.
    async fn location(&self, citizen: &str) -> Result<Option<LocationRecord>, StoreError>;
    /// Forget the citizen's position; true if one was kept.
    async fn delete_location(&self, citizen: &str) -> Result<bool, StoreError>;

    /// Erase what this store keeps of `citizen`, in one write: their
    /// sessions (each announced ended, as a sign-out), frame tokens,
    /// consents, inbox and last position, and each meeting of `meetings`
    /// (app, pairwise id) that names them. The same write records the
    /// erasure as unfinished, begun at `began_ms` (replacing an earlier
    /// record of it): what apps keep of the citizen is erased next, by whichever
    /// host gets to it ([`IdentityStore::erasure_finished`] ends it). Until
    /// then no session of the citizen opens.
    async fn erase_citizen(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
    ) -> Result<ErasedRecords, StoreError>;
    /// Erase `citizen`'s records again as [`IdentityStore::erase_citizen`]
    /// did (what a request under way then wrote since), if their erasure
    /// that began at `began_ms` is still unfinished; it stays so. Once it
    /// has finished nothing is erased (`None`): a session may have opened
    /// since, and what it holds is new. A session opening waits for this.
    async fn erase_citizen_again(
        &self,
        citizen: &str,
        meetings: &[(String, String)],
        began_ms: u64,
    ) -> Result<Option<ErasedRecords>, StoreError>;
    /// Delete `key` from `space` (one of `citizen`'s in an app) for their
    /// erasure that began at `began_ms`, only while it is unfinished, and
    /// atomically with that check: once it has finished, a session may have
    /// opened and written the key anew, and that write stays. `None`: the
    /// erasure has finished; else whether the key was there.
    async fn erase_app_key(
        &self,
        citizen: &str,
        began_ms: u64,
        space: KvSpace<'_>,
        key: &str,
    ) -> Result<Option<bool>, StoreError>;
    /// Erasures begun and not finished: (citizen, Unix ms it began), the
    /// oldest first.
    async fn unfinished_erasures(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// The erasure of `citizen` that began at `began_ms` has finished:
    /// forget it, unless it began again since (a later erasure still has
    /// to finish).
    async fn erasure_finished(&self, citizen: &str, began_ms: u64) -> Result<(), StoreError>;

    /// Remove sessions and frame tokens expired at `now_secs` and locations
    /// expired at `now_ms`; returns how many records went. (A session a
    /// citizen never ends keeps what an OpenID provider said of them.)
    async fn sweep_expired(&self, now_secs: u64, now_ms: u64) -> Result<usize, StoreError>;
}
