//! Frame sessions: how a mini-app opened in the shell's sandboxed iframe
//! knows the citizen. The shell trades its session for an unguessable token
//! bound to one app; the token travels in the frame's URL path
//! (`/f/{token}/apps/{app}/…`), never as a cookie, so it reaches only that
//! app and never the citizen API. It dies with its parent session.

use super::hash_token;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a frame token lives (the shell asks again after).
pub const FRAME_TTL: Duration = Duration::from_secs(2 * 60 * 60);
/// Prefix of frame tokens.
const PREFIX: &str = "cit_f_";

struct Frame {
    citizen_id: String,
    app: String,
    /// sha256 of the shell session it came from.
    parent: String,
    expires: u64,
}

/// Live frame tokens by their sha256; in memory (a restart makes the shell
/// ask for new ones).
pub struct Frames {
    store: Arc<dyn Store>,
    live: Mutex<HashMap<String, Frame>>,
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
        Frames {
            store,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// A new token for `citizen_id` in `app`, tied to the session whose
    /// token is `parent_token`; returns it with its expiry (Unix seconds).
    pub fn open(&self, citizen_id: &str, app: &str, parent_token: &str) -> (String, u64) {
        let token = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
        let expires = now() + FRAME_TTL.as_secs();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let at = now();
        live.retain(|_, frame| frame.expires > at);
        live.insert(
            hash_token(&token),
            Frame {
                citizen_id: citizen_id.to_string(),
                app: app.to_string(),
                parent: hash_token(parent_token),
                expires,
            },
        );
        (token, expires)
    }

    /// The citizen behind `token` if it is live, was opened for `app`, and
    /// its parent session is still signed in.
    pub fn citizen_for(&self, token: &str, app: &str) -> Result<Option<String>, StoreError> {
        if !looks_like_frame_token(token) {
            return Ok(None);
        }
        let key = hash_token(token);
        let (citizen, parent) = {
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            match live.get(&key) {
                Some(frame) if frame.app == app && frame.expires > now() => {
                    (frame.citizen_id.clone(), frame.parent.clone())
                }
                _ => return Ok(None),
            }
        };
        let parent_alive = self
            .store
            .session(&parent)?
            .is_some_and(|session| session.expires > now());
        if !parent_alive {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.remove(&key);
            return Ok(None);
        }
        Ok(Some(citizen))
    }
}
