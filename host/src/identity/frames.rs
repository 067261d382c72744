//! Frame sessions: how a mini-app opened in the shell's sandboxed iframe
//! knows the citizen. The shell trades its session for an unguessable token
//! bound to one app; the token travels in the frame's URL path
//! (`/f/{token}/apps/{app}/…`), never as a cookie, so it reaches only that
//! app and never the citizen API. It dies with its parent session, at its
//! expiry, or when its citizen or the host holds too many.

use super::hash_token;
use crate::store::{Store, StoreError};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a frame token lives (the shell asks again after).
pub const FRAME_TTL: Duration = Duration::from_secs(2 * 60 * 60);
/// Live frame tokens one citizen may hold; opening one more closes their
/// oldest (one per app opened, across a few devices).
pub const PER_CITIZEN: usize = 32;
/// Live frame tokens the host holds; opening one more closes the oldest.
pub const GLOBAL: usize = 200_000;
/// Prefix of frame tokens.
const PREFIX: &str = "cit_f_";

struct Frame {
    citizen_id: String,
    app: String,
    /// sha256 of the shell session it came from.
    parent: String,
    expires: u64,
    /// Its place in the expiry order.
    seq: u64,
}

/// The live tokens, indexed three ways; every change keeps them in step.
#[derive(Default)]
struct Live {
    /// By the token's sha256: lookup.
    by_hash: HashMap<String, Frame>,
    /// (expiry, issue number) → sha256: the sweep and the global bound
    /// take from the front.
    by_expiry: BTreeMap<(u64, u64), String>,
    /// A citizen's tokens (sha256), oldest first: the per-citizen bound.
    by_citizen: HashMap<String, VecDeque<String>>,
    next_seq: u64,
}

impl Live {
    fn remove(&mut self, hash: &str) -> Option<Frame> {
        let frame = self.by_hash.remove(hash)?;
        self.by_expiry.remove(&(frame.expires, frame.seq));
        if let Some(tokens) = self.by_citizen.get_mut(&frame.citizen_id) {
            tokens.retain(|h| h != hash);
            if tokens.is_empty() {
                self.by_citizen.remove(&frame.citizen_id);
            }
        }
        Some(frame)
    }

    /// Drop every token whose expiry is at or before `now`.
    fn sweep(&mut self, now: u64) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let hash = entry.remove();
            self.remove(&hash);
        }
    }

    fn oldest_of(&self, citizen: &str) -> Option<String> {
        self.by_citizen.get(citizen)?.front().cloned()
    }
}

/// Live frame tokens, in memory (a restart makes the shell ask for new
/// ones): issue and lookup are a hash lookup plus an ordered-map step,
/// O(log n); expired tokens are swept as new ones are issued.
pub struct Frames {
    store: Arc<dyn Store>,
    live: Mutex<Live>,
    ttl_secs: AtomicU64,
    per_citizen: usize,
    global: usize,
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
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_limits(store, FRAME_TTL, PER_CITIZEN, GLOBAL)
    }

    /// Frames with their lifetime and bounds chosen (at least one token each).
    pub fn with_limits(
        store: Arc<dyn Store>,
        ttl: Duration,
        per_citizen: usize,
        global: usize,
    ) -> Self {
        Frames {
            store,
            live: Mutex::new(Live::default()),
            ttl_secs: AtomicU64::new(ttl.as_secs()),
            per_citizen: per_citizen.max(1),
            global: global.max(1),
        }
    }

    /// Change the lifetime of tokens opened from now on (tests shorten it;
    /// zero makes every new token born expired).
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_secs.store(ttl.as_secs(), Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new token for `citizen_id` in `app`, tied to the session whose
    /// token is `parent_token`; returns it with its expiry (Unix seconds).
    /// Sweeps expired tokens, then keeps the citizen's and the host's
    /// bounds by closing the oldest.
    pub fn open(&self, citizen_id: &str, app: &str, parent_token: &str) -> (String, u64) {
        let token = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
        let hash = hash_token(&token);
        let at = now();
        let expires = at + self.ttl_secs.load(Ordering::Relaxed);
        let mut live = self.lock();
        live.sweep(at);
        while live
            .by_citizen
            .get(citizen_id)
            .is_some_and(|tokens| tokens.len() >= self.per_citizen)
        {
            match live.oldest_of(citizen_id) {
                Some(oldest) => {
                    live.remove(&oldest);
                }
                None => break,
            }
        }
        while live.by_hash.len() >= self.global {
            match live.by_expiry.first_key_value().map(|(_, h)| h.clone()) {
                Some(oldest) => {
                    live.remove(&oldest);
                }
                None => break,
            }
        }
        let seq = live.next_seq;
        live.next_seq += 1;
        live.by_expiry.insert((expires, seq), hash.clone());
        live.by_citizen
            .entry(citizen_id.to_string())
            .or_default()
            .push_back(hash.clone());
        live.by_hash.insert(
            hash,
            Frame {
                citizen_id: citizen_id.to_string(),
                app: app.to_string(),
                parent: hash_token(parent_token),
                expires,
                seq,
            },
        );
        (token, expires)
    }

    /// The citizen behind `token` if it is live, was opened for `app`, and
    /// its parent session is still signed in. An expired token, or one whose
    /// session ended, is dropped.
    pub fn citizen_for(&self, token: &str, app: &str) -> Result<Option<String>, StoreError> {
        if !looks_like_frame_token(token) {
            return Ok(None);
        }
        let key = hash_token(token);
        let (citizen, parent) = {
            let mut live = self.lock();
            let Some(frame) = live.by_hash.get(&key) else {
                return Ok(None);
            };
            if frame.expires <= now() {
                live.remove(&key);
                return Ok(None);
            }
            if frame.app != app {
                return Ok(None);
            }
            (frame.citizen_id.clone(), frame.parent.clone())
        };
        let parent_alive = self
            .store
            .session(&parent)?
            .is_some_and(|session| session.expires > now());
        if !parent_alive {
            self.lock().remove(&key);
            return Ok(None);
        }
        Ok(Some(citizen))
    }

    /// Close every token opened from the session whose token is
    /// `parent_token` (sign-out); returns how many.
    pub fn close_session(&self, citizen_id: &str, parent_token: &str) -> usize {
        let parent = hash_token(parent_token);
        let mut live = self.lock();
        let children: Vec<String> = live
            .by_citizen
            .get(citizen_id)
            .into_iter()
            .flatten()
            .filter(|hash| live.by_hash.get(*hash).is_some_and(|f| f.parent == parent))
            .cloned()
            .collect();
        for hash in &children {
            live.remove(hash);
        }
        children.len()
    }

    /// Live tokens held (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().by_hash.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SessionRecord, SledStore};

    fn store_with_session(token: &str, citizen: &str) -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).unwrap());
        store
            .put_session(
                &hash_token(token),
                &SessionRecord {
                    citizen_id: citizen.into(),
                    created: now(),
                    expires: now() + 3600,
                },
            )
            .unwrap();
        (dir, store)
    }

    #[test]
    fn tokens_are_bound_to_their_app_and_expire() {
        let (_dir, store) = store_with_session("cit_s_parent", "c-lan");
        let frames = Frames::new(store);
        let (token, _) = frames.open("c-lan", "notes", "cit_s_parent");
        assert_eq!(
            frames.citizen_for(&token, "notes").unwrap().as_deref(),
            Some("c-lan")
        );
        assert_eq!(frames.citizen_for(&token, "tourism").unwrap(), None);
        assert_eq!(frames.citizen_for("cit_f_forged", "notes").unwrap(), None);
        frames.set_ttl(Duration::ZERO);
        let (born_expired, _) = frames.open("c-lan", "notes", "cit_s_parent");
        assert_eq!(frames.citizen_for(&born_expired, "notes").unwrap(), None);
        assert_eq!(frames.len(), 1, "the expired token was dropped on lookup");
        // The next issue sweeps whatever expired meanwhile.
        frames.open("c-lan", "notes", "cit_s_parent");
        frames.set_ttl(FRAME_TTL);
        frames.open("c-lan", "notes", "cit_s_parent");
        assert_eq!(frames.len(), 2, "the born-expired token was swept");
    }

    #[test]
    fn a_citizen_and_the_host_hold_a_bounded_number() {
        let (_dir, store) = store_with_session("cit_s_parent", "c-lan");
        let frames = Frames::with_limits(store, FRAME_TTL, 3, 5);
        let first: Vec<String> = (0..4)
            .map(|_| frames.open("c-lan", "notes", "cit_s_parent").0)
            .collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames.citizen_for(&first[0], "notes").unwrap(),
            None,
            "the citizen's oldest was closed"
        );
        assert!(frames.citizen_for(&first[3], "notes").unwrap().is_some());
        for citizen in ["c-minh", "c-hoa", "c-tuan"] {
            frames.open(citizen, "notes", "cit_s_other");
        }
        assert_eq!(frames.len(), 5, "the host's bound holds");
        assert_eq!(
            frames.citizen_for(&first[1], "notes").unwrap(),
            None,
            "the host's oldest was closed"
        );
    }

    #[test]
    fn closing_a_session_closes_its_frames_only() {
        let (_dir, store) = store_with_session("cit_s_one", "c-lan");
        let frames = Frames::new(store.clone());
        store
            .put_session(
                &hash_token("cit_s_two"),
                &SessionRecord {
                    citizen_id: "c-lan".into(),
                    created: now(),
                    expires: now() + 3600,
                },
            )
            .unwrap();
        let (one, _) = frames.open("c-lan", "notes", "cit_s_one");
        let (two, _) = frames.open("c-lan", "notes", "cit_s_two");
        assert_eq!(frames.close_session("c-lan", "cit_s_one"), 1);
        assert_eq!(frames.citizen_for(&one, "notes").unwrap(), None);
        assert!(frames.citizen_for(&two, "notes").unwrap().is_some());
        // A session that ended in the store ends its frames on their next use.
        store.delete_session(&hash_token("cit_s_two")).unwrap();
        assert_eq!(frames.citizen_for(&two, "notes").unwrap(), None);
        assert!(frames.is_empty());
    }
}
