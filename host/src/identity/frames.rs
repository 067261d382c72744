//! Frame sessions: how a mini-app opened in the shell's sandboxed iframe
//! knows the citizen. The shell trades its session for an unguessable token
//! bound to one app; the token travels in the frame's URL path
//! (`/f/{token}/apps/{app}/…`), never as a cookie, so it reaches only that
//! app and never the citizen API. It dies with its parent session, at its
//! expiry, or when its citizen holds too many. Tokens live in the store (as
//! their sha256), so they survive a restart and work on every host.

use super::hash_token;
use super::sessions::SessionKey;
use crate::store::{FrameRecord, SessionRecord, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a frame token lives (the shell asks again after).
pub const FRAME_TTL: Duration = Duration::from_secs(2 * 60 * 60);
/// Live frame tokens one citizen may hold; opening one more closes their
/// oldest (one per app opened, across a few devices).
pub const PER_CITIZEN: usize = 32;
/// Prefix of frame tokens.
const PREFIX: &str = "cit_f_";

/// Frame tokens over the store: issue and lookup are a keyed read or write;
/// expired tokens are refused at once and removed by the expiry sweep.
pub struct Frames {
    store: Store,
    ttl_secs: AtomicU64,
    per_citizen: usize,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether `token` has the shape of a frame token (checked before lookup).
pub fn looks_like_frame_token(token: &str) -> bool {
    token
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Frames {
    pub fn new(store: Store) -> Self {
        Self::with_limits(store, FRAME_TTL, PER_CITIZEN)
    }

    /// Frames with their lifetime and per-citizen bound chosen (at least one).
    pub fn with_limits(store: Store, ttl: Duration, per_citizen: usize) -> Self {
        Frames {
            store,
            ttl_secs: AtomicU64::new(ttl.as_secs()),
            per_citizen: per_citizen.max(1),
        }
    }

    /// Change the lifetime of tokens opened from now on (tests shorten it;
    /// zero makes every new token born expired).
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_secs.store(ttl.as_secs(), Ordering::Relaxed);
    }

    /// A new token for `citizen_id` in `app`, tied to the session `parent`;
    /// returns it with its expiry (Unix seconds).
    /// The citizen's oldest tokens beyond the bound are closed with it.
    pub async fn open(
        &self,
        citizen_id: &str,
        app: &str,
        parent: &SessionKey,
    ) -> Result<(String, u64), StoreError> {
        let token = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
        let issued = now();
        let record = FrameRecord {
            citizen_id: citizen_id.to_string(),
            app: app.to_string(),
            parent: parent.as_str().to_string(),
            issued,
            expires: issued + self.ttl_secs.load(Ordering::Relaxed),
            order: 0,
        };
        self.store
            .identity
            .open_frame(&hash_token(&token), &record, self.per_citizen)
            .await?;
        Ok((token, record.expires))
    }

    /// The session behind `token` if it is live, was opened for `app`, and
    /// its parent session (returned with its key: it says who the citizen
    /// is) is still signed in. An expired token, or one
    /// whose session ended, is removed.
    pub async fn session_for(
        &self,
        token: &str,
        app: &str,
    ) -> Result<Option<(SessionKey, SessionRecord)>, StoreError> {
        if !looks_like_frame_token(token) {
            return Ok(None);
        }
        let key = hash_token(token);
        let Some(frame) = self.store.identity.frame(&key).await? else {
            return Ok(None);
        };
        if frame.expires <= now() {
            self.store.identity.close_frame(&key).await?;
            return Ok(None);
        }
        if frame.app != app {
            return Ok(None);
        }
        let parent = self
            .store
            .identity
            .session(&frame.parent)
            .await?
            .filter(|session| session.expires > now() && session.citizen_id == frame.citizen_id);
        if parent.is_none() {
            self.store.identity.close_frame(&key).await?;
        }
        Ok(parent.map(|session| (SessionKey::hashed(frame.parent), session)))
    }

    /// Close every token opened from the session `parent` (sign-out);
    /// returns how many.
    pub async fn close_session(
        &self,
        citizen_id: &str,
        parent: &SessionKey,
    ) -> Result<usize, StoreError> {
        self.store
            .identity
            .close_frames_of_session(citizen_id, parent.as_str())
            .await
    }

    /// Tokens stored (expired ones not yet swept included).
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.store.identity.frame_count().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_session(token: &str, citizen: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::sled(dir.path()).unwrap();
        store
            .identity
            .put_session(
                &hash_token(token),
                &SessionRecord {
                    citizen_id: citizen.into(),
                    created: now(),
                    expires: now() + 3600,
                    profile: None,
                },
            )
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn tokens_are_bound_to_their_app_and_expire() {
        let (_dir, store) = store_with_session("cit_s_parent", "c-lan").await;
        let frames = Frames::new(store.clone());
        let (token, _) = frames
            .open("c-lan", "notes", &SessionKey::of("cit_s_parent"))
            .await
            .unwrap();
        assert_eq!(
            frames
                .session_for(&token, "notes")
                .await
                .unwrap()
                .map(|(parent, session)| (parent, session.citizen_id)),
            Some((SessionKey::of("cit_s_parent"), "c-lan".to_string()))
        );
        assert_eq!(
            frames
                .session_for(&token, "notes")
                .await
                .unwrap()
                .map(|(_, session)| session.citizen_id)
                .as_deref(),
            Some("c-lan")
        );
        assert_eq!(frames.session_for(&token, "tourism").await.unwrap(), None);
        let forged = format!("cit_f_{}", "0".repeat(64));
        assert_eq!(frames.session_for(&forged, "notes").await.unwrap(), None);
        frames.set_ttl(Duration::ZERO);
        let (born_expired, _) = frames
            .open("c-lan", "notes", &SessionKey::of("cit_s_parent"))
            .await
            .unwrap();
        assert_eq!(
            frames.session_for(&born_expired, "notes").await.unwrap(),
            None
        );
        assert_eq!(
            frames.count().await.unwrap(),
            1,
            "the expired token was dropped on lookup"
        );
        // The sweep removes whatever expired meanwhile.
        frames
            .open("c-lan", "notes", &SessionKey::of("cit_s_parent"))
            .await
            .unwrap();
        assert_eq!(store.identity.sweep_expired(now(), 0).await.unwrap(), 1);
        assert_eq!(
            frames.count().await.unwrap(),
            1,
            "the born-expired token was swept"
        );
    }

    #[tokio::test]
    async fn a_citizen_holds_a_bounded_number() {
        let (_dir, store) = store_with_session("cit_s_parent", "c-lan").await;
        let frames = Frames::with_limits(store.clone(), FRAME_TTL, 3);
        let mut first = Vec::new();
        for _ in 0..4 {
            first.push(
                frames
                    .open("c-lan", "notes", &SessionKey::of("cit_s_parent"))
                    .await
                    .unwrap()
                    .0,
            );
        }
        assert_eq!(frames.count().await.unwrap(), 3);
        assert_eq!(
            frames.session_for(&first[0], "notes").await.unwrap(),
            None,
            "the citizen's oldest was closed"
        );
        assert!(frames
            .session_for(&first[3], "notes")
            .await
            .unwrap()
            .is_some());
        let minhs = SessionRecord {
            citizen_id: "c-minh".into(),
            created: now(),
            expires: now() + 3600,
            profile: None,
        };
        store
            .identity
            .put_session(&hash_token("cit_s_other"), &minhs)
            .await
            .unwrap();
        frames
            .open("c-minh", "notes", &SessionKey::of("cit_s_other"))
            .await
            .unwrap();
        assert_eq!(
            frames.count().await.unwrap(),
            4,
            "another citizen's bound is their own"
        );
    }

    #[tokio::test]
    async fn closing_a_session_closes_its_frames_only() {
        let (_dir, store) = store_with_session("cit_s_one", "c-lan").await;
        let frames = Frames::new(store.clone());
        store
            .identity
            .put_session(
                &hash_token("cit_s_two"),
                &SessionRecord {
                    citizen_id: "c-lan".into(),
                    created: now(),
                    expires: now() + 3600,
                    profile: None,
                },
            )
            .await
            .unwrap();
        let (one, _) = frames
            .open("c-lan", "notes", &SessionKey::of("cit_s_one"))
            .await
            .unwrap();
        let (two, _) = frames
            .open("c-lan", "notes", &SessionKey::of("cit_s_two"))
            .await
            .unwrap();
        assert_eq!(
            frames
                .close_session("c-lan", &SessionKey::of("cit_s_one"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(frames.session_for(&one, "notes").await.unwrap(), None);
        assert!(frames.session_for(&two, "notes").await.unwrap().is_some());
        // A session that ended in the store ends its frames on their next use.
        store
            .identity
            .delete_session(&hash_token("cit_s_two"))
            .await
            .unwrap();
        assert_eq!(frames.session_for(&two, "notes").await.unwrap(), None);
        assert_eq!(frames.count().await.unwrap(), 0);
    }
}
