//! Pairwise pseudonymous ids: HMAC-SHA256(host secret, app id ‖ citizen id).
//! Stable across restarts (the secret is generated once and persisted),
//! different for every app, so two partners cannot join their users. Also
//! remembers which citizen each app met under which id (for `notify.send-to`).

use super::sessions::SessionKey;
use crate::store::AppChange;
use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The host's secret key for pairwise ids.
#[derive(Clone)]
pub struct PairwiseKey([u8; 32]);

impl PairwiseKey {
    /// Load the secret from `store`, creating and persisting it on first use.
    pub async fn load_or_create(store: &Store) -> Result<Self, StoreError> {
        let secret = store
            .identity
            .host_secret("pairwise", rand::random::<[u8; 32]>().to_vec())
            .await?;
        let bytes: [u8; 32] = secret.try_into().map_err(|_| StoreError::Corrupt {
            key: "secrets/pairwise".into(),
            reason: "the secret is not 32 bytes".into(),
        })?;
        Ok(PairwiseKey(bytes))
    }

    /// The id app `app` knows citizen `citizen` by.
    pub fn pairwise_id(&self, app: &str, citizen: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(app.as_bytes());
        // A separator no app id contains, so (ab, c) and (a, bc) differ.
        mac.update(&[0]);
        mac.update(citizen.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// Pairwise ids with the bookkeeping of who met which app.
#[derive(Clone)]
pub struct Pairwise {
    key: PairwiseKey,
    store: Store,
    /// (app, pairwise id) this process has seen remembered: a meeting is
    /// written once and stays until its citizen's data is erased, so these
    /// skip the store.
    remembered: Arc<Memo>,
}

/// The meetings remembered, and how often the memo was cleared: a meeting
/// written while it was cleared is not kept (the erasure may have taken it
/// from the store just after the write).
#[derive(Default)]
struct Memo {
    meetings: Mutex<HashSet<String>>,
    cleared: AtomicU64,
}

impl Memo {
    fn clear(&self) {
        let mut meetings = lock(&self.meetings);
        self.cleared.fetch_add(1, Ordering::SeqCst);
        meetings.clear();
    }
}

/// Meetings kept in `remembered` before it starts afresh (a bound on memory;
/// forgetting one only costs a redundant, harmless write).
const REMEMBERED_MAX: usize = 100_000;

impl Pairwise {
    /// The host's key, loaded from `store` (created on first use).
    pub async fn load_or_create(store: &Store) -> Result<Self, StoreError> {
        let remembered = Arc::default();
        follow_erasures(store, Arc::downgrade(&remembered));
        Ok(Pairwise {
            key: PairwiseKey::load_or_create(store).await?,
            store: store.clone(),
            remembered,
        })
    }

    /// Forget the meetings this process remembers, so the next visit of
    /// each is written again (after an erasure took some from the store).
    pub fn forget_remembered(&self) {
        self.remembered.clear();
    }

    /// The key the ids are computed with.
    pub fn key(&self) -> &PairwiseKey {
        &self.key
    }

    /// The id app `app` knows citizen `citizen` by.
    pub fn pairwise_id(&self, app: &str, citizen: &str) -> String {
        self.key.pairwise_id(app, citizen)
    }

    /// Remember (once) that app `app` knows citizen `citizen` by
    /// `pairwise_id` — [`Pairwise::pairwise_id`]'s answer — so the app can
    /// later reach this citizen by it with `notify.send-to`; only while
    /// `session` (the sha256 of the token of the request that met them) is
    /// live.
    pub async fn remember(
        &self,
        app: &str,
        citizen: &str,
        pairwise_id: &str,
        session: Option<&SessionKey>,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(pairwise_id, self.key.pairwise_id(app, citizen));
        let meeting = format!("{app}\0{pairwise_id}");
        if lock(&self.remembered.meetings).contains(&meeting) {
            return Ok(());
        }
        let cleared = self.remembered.cleared.load(Ordering::SeqCst);
        self.store
            .identity
            .remember_pairwise(app, pairwise_id, citizen, session.map(SessionKey::through))
            .await?;
        let mut remembered = lock(&self.remembered.meetings);
        if remembered.len() >= REMEMBERED_MAX {
            remembered.clear();
        }
        if self.remembered.cleared.load(Ordering::SeqCst) == cleared {
            remembered.insert(meeting);
        }
        Ok(())
    }
}

/// Forget the remembered meetings whenever a citizen's data is erased on
/// any host (their links left the store: a returning citizen is met, and
/// written, again), until the memo is gone.
fn follow_erasures(store: &Store, remembered: Weak<Memo>) {
    use tokio::sync::broadcast::error::RecvError;
    let mut changes = store.apps.changes();
    tokio::spawn(async move {
        loop {
            let change = changes.recv().await;
            let Some(remembered) = remembered.upgrade() else {
                break;
            };
            match change {
                Ok(AppChange::CitizenErased | AppChange::Everything)
                | Err(RecvError::Lagged(_)) => remembered.clear(),
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
    async fn ids_differ_per_app_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let store = Store::sled(dir.path()).unwrap();
            let key = PairwiseKey::load_or_create(&store).await.unwrap();
            key.pairwise_id("maps", "c-lan")
        };
        let store = Store::sled(dir.path()).unwrap();
        let key = PairwiseKey::load_or_create(&store).await.unwrap();
        assert_eq!(key.pairwise_id("maps", "c-lan"), first);
        assert_ne!(key.pairwise_id("tourism", "c-lan"), first);
        assert_ne!(key.pairwise_id("maps", "c-minh"), first);
        assert_ne!(
            key.pairwise_id("map", "sc-lan"),
            key.pairwise_id("maps", "c-lan")
        );
        assert_eq!(first.len(), 32);
        assert!(!first.contains("c-lan"));
    }

    #[tokio::test]
    async fn a_remembered_citizen_can_be_found_by_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::sled(dir.path()).unwrap();
        let pairwise = Pairwise::load_or_create(&store).await.unwrap();
        let id = pairwise.pairwise_id("maps", "c-lan");
        pairwise.remember("maps", "c-lan", &id, None).await.unwrap();
        assert_eq!(
            store.identity.pairwise_citizen("maps", &id).await.unwrap(),
            Some("c-lan".to_string())
        );
        assert_eq!(
            store
                .identity
                .pairwise_citizen("tourism", &id)
                .await
                .unwrap(),
            None
        );
    }
}
