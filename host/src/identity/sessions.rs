//! Citizen sessions: random bearer tokens, stored only as their sha256 with
//! the citizen and an expiry; revocable (logout). The same token is the
//! shell's cookie and the API's bearer credential. Live sessions are cached
//! here; a sign-out on any host reaches the cache through the change feed.

use super::hash_token;
use crate::citizen::Citizen;
use crate::store::{AppChange, EndedSessions, SessionRecord, Store, StoreError, Through};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Name of the shell's session cookie.
pub const SESSION_COOKIE: &str = "citadel_session";

/// Default session lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// Sessions kept in the cache before it starts afresh (a bound on memory).
const CACHED_MAX: usize = 100_000;

pub use crate::citizen::SessionKey;

impl SessionKey {
    /// The key of the session whose token is `token`: the only place a
    /// session token becomes a key.
    pub fn of(token: &str) -> SessionKey {
        SessionKey::hashed(hash_token(token))
    }

    /// What a write made for this session stands on: it lands only while
    /// the session is live.
    pub fn through(&self) -> Through<'_> {
        Through::Session(self.as_str())
    }
}

/// Citizen sessions over a store.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    ttl: Duration,
    cache: Arc<SessionCache>,
}

/// Live sessions by token hash, so a signed-in request need not read the
/// store. `ended` counts sessions ended since start: a lookup that read the
/// store while one ended does not cache what it read (it may be that one).
#[derive(Default)]
struct SessionCache {
    live: Mutex<HashMap<String, SessionRecord>>,
    ended: AtomicU64,
}

impl SessionCache {
    fn live(&self) -> MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop `key` (or, with `None`, everything) before anyone reads on.
    fn end(&self, key: Option<&str>) {
        self.ended.fetch_add(1, Ordering::SeqCst);
        match key {
            Some(key) => {
                self.live().remove(key);
            }
            None => self.live().clear(),
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sessions {
    /// Sessions over `store`, following its change feed for sign-outs
    /// on other hosts (call within a tokio runtime).
    pub fn new(store: Store, ttl: Duration) -> Self {
        let cache = Arc::new(SessionCache::default());
        follow_sign_outs(&store, Arc::downgrade(&cache));
        Sessions { store, ttl, cache }
    }

    /// Open a session for `citizen_id`; returns the token (shown once) and its record.
    pub async fn create(&self, citizen_id: &str) -> Result<(String, SessionRecord), StoreError> {
        self.open(citizen_id, None).await
    }

    /// Open a session for a citizen whose fields the identity provider gave
    /// at sign-in: the session keeps them (every host serves them from it).
    pub async fn create_with_profile(
        &self,
        citizen: &Citizen,
    ) -> Result<(String, SessionRecord), StoreError> {
        self.open(&citizen.id, Some(citizen.clone())).await
    }

    async fn open(
        &self,
        citizen_id: &str,
        profile: Option<Citizen>,
    ) -> Result<(String, SessionRecord), StoreError> {
        let token = format!("cit_s_{}", hex::encode(rand::random::<[u8; 32]>()));
        let created = now();
        let record = SessionRecord {
            citizen_id: citizen_id.to_string(),
            created,
            expires: created + self.ttl.as_secs(),
            profile,
        };
        self.store
            .identity
            .put_session(&hash_token(&token), &record)
            .await?;
        Ok((token, record))
    }

    /// The live session under `key`; an expired one is removed.
    pub async fn lookup(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let key = key.as_str();
        if let Some(record) = self.cache.live().get(key) {
            if record.expires > now() {
                return Ok(Some(record.clone()));
            }
        }
        let ended_before = self.cache.ended.load(Ordering::SeqCst);
        match self.store.identity.session(key).await? {
            Some(record) if record.expires > now() => {
                let mut live = self.cache.live();
                if self.cache.ended.load(Ordering::SeqCst) == ended_before {
                    if live.len() >= CACHED_MAX {
                        live.clear();
                    }
                    live.insert(key.to_string(), record.clone());
                }
                Ok(Some(record))
            }
            Some(_) => {
                self.store.identity.delete_session(key).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Drop `citizen`'s sessions from this host's cache (their data was
    /// just erased: the store holds none of them now; other hosts hear of
    /// each one ended through the change feed).
    pub fn end_cached_of(&self, citizen: &str) {
        self.cache.ended.fetch_add(1, Ordering::SeqCst);
        self.cache
            .live()
            .retain(|_, session| session.citizen_id != citizen);
    }

    /// End every session of `citizen`, and the frames opened from them, on
    /// every host (sign out everywhere).
    pub async fn end_all_of(&self, citizen: &str) -> Result<EndedSessions, StoreError> {
        let ended = self.store.identity.end_sessions_of(citizen).await?;
        self.end_cached_of(citizen);
        Ok(ended)
    }

    /// End the session under `key`; true if there was one.
    pub async fn revoke(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.cache.end(Some(key.as_str()));
        let existed = self.store.identity.delete_session(key.as_str()).await?;
        Ok(existed)
    }
}

/// Drop sessions that ended anywhere from the cache, until it is gone.
fn follow_sign_outs(store: &Store, cache: Weak<SessionCache>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut changes = store.apps.changes();
    tokio::spawn(async move {
        loop {
            let change = changes.recv().await;
            let Some(cache) = cache.upgrade() else {
                break;
            };
            match change {
                Ok(AppChange::SessionEnded(key)) => cache.end(Some(&key)),
                Ok(AppChange::Everything) | Err(RecvError::Lagged(_)) => cache.end(None),
                Ok(_) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_expire_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store: Store = Store::sled(dir.path()).unwrap();
        let sessions = Sessions::new(store.clone(), DEFAULT_TTL);
        let (token, record) = sessions.create("c-lan").await.unwrap();
        let key = SessionKey::of(&token);
        assert_eq!(sessions.lookup(&key).await.unwrap(), Some(record));
        assert_eq!(
            sessions
                .lookup(&SessionKey::of("cit_s_forged"))
                .await
                .unwrap(),
            None
        );
        assert!(sessions.revoke(&key).await.unwrap());
        assert_eq!(sessions.lookup(&key).await.unwrap(), None);

        // Another host over the same store: it cached the session; a
        // sign-out here ends it there too.
        let (token, _) = sessions.create("c-lan").await.unwrap();
        let key = SessionKey::of(&token);
        let other = Sessions::new(store.clone(), DEFAULT_TTL);
        assert!(other.lookup(&key).await.unwrap().is_some());
        assert!(sessions.revoke(&key).await.unwrap());
        let mut ended = false;
        for _ in 0..200 {
            if other.lookup(&key).await.unwrap().is_none() {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(ended, "the other host still accepts the ended session");

        let expired = Sessions::new(store, Duration::ZERO);
        let (token, _) = expired.create("c-lan").await.unwrap();
        assert_eq!(expired.lookup(&SessionKey::of(&token)).await.unwrap(), None);
    }
}
