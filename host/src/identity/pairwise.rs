//! Pairwise pseudonymous ids: HMAC-SHA256(host secret, app id ‖ citizen id).
//! Stable across restarts (the secret is generated once and persisted),
//! different for every app, so two partners cannot join their users.

use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use sha2::Sha256;

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
}
