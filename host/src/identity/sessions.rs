//! Citizen sessions: random bearer tokens, stored only as their sha256 with
//! the citizen and an expiry; revocable (logout). The same token is the
//! shell's cookie and the API's bearer credential.

use super::hash_token;
use crate::store::{SessionRecord, Store, StoreError};
use std::time::Duration;

/// Name of the shell's session cookie.
pub const SESSION_COOKIE: &str = "citadel_session";

/// Default session lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 60 * 60);

/// Citizen sessions over a store.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    ttl: Duration,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sessions {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Sessions { store, ttl }
    }

    /// Open a session for `citizen_id`; returns the token (shown once) and its record.
    pub async fn create(&self, citizen_id: &str) -> Result<(String, SessionRecord), StoreError> {
        let token = format!("cit_s_{}", hex::encode(rand::random::<[u8; 32]>()));
        let created = now();
        let record = SessionRecord {
            citizen_id: citizen_id.to_string(),
            created,
            expires: created + self.ttl.as_secs(),
        };
        self.store
            .identity
            .put_session(&hash_token(&token), &record)
            .await?;
        Ok((token, record))
    }

    /// The live session behind `token`; an expired one is removed.
    pub async fn lookup(&self, token: &str) -> Result<Option<SessionRecord>, StoreError> {
        let key = hash_token(token);
        match self.store.identity.session(&key).await? {
            Some(record) if record.expires > now() => Ok(Some(record)),
            Some(_) => {
                self.store.identity.delete_session(&key).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// End the session behind `token`; true if there was one.
    pub async fn revoke(&self, token: &str) -> Result<bool, StoreError> {
        let existed = self
            .store
            .identity
            .delete_session(&hash_token(token))
            .await?;
        Ok(existed)
    }
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
        assert_eq!(sessions.lookup(&token).await.unwrap(), Some(record));
        assert_eq!(sessions.lookup("cit_s_forged").await.unwrap(), None);
        assert!(sessions.revoke(&token).await.unwrap());
        assert_eq!(sessions.lookup(&token).await.unwrap(), None);

        let expired = Sessions::new(store, Duration::ZERO);
        let (token, _) = expired.create("c-lan").await.unwrap();
        assert_eq!(expired.lookup(&token).await.unwrap(), None);
    }
}
