//! Who is calling: citizens (provider, sessions, pairwise ids), operators
//! and publishers (bearer tokens and API keys stored only as sha256 hashes).
//! Owns credentials, not permissions.

pub mod citizens;
pub mod frames;
pub mod location;
pub mod pairwise;
pub mod sessions;

use crate::store::{OperatorRecord, PublisherRecord, Store, StoreError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Prefix of operator tokens, so a leaked one is recognisable.
const OPERATOR_TOKEN_PREFIX: &str = "cit_op_";

/// The sha256 (hex) under which a token is stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random operator token.
pub fn new_operator_token() -> String {
    format!(
        "{OPERATOR_TOKEN_PREFIX}{}",
        hex::encode(rand::random::<[u8; 24]>())
    )
}

/// Prefix of publisher API keys.
const PUBLISHER_KEY_PREFIX: &str = "cit_pub_";

/// A new random publisher API key.
pub fn new_publisher_key() -> String {
    format!(
        "{PUBLISHER_KEY_PREFIX}{}",
        hex::encode(rand::random::<[u8; 24]>())
    )
}

/// The publisher holding API key `key`, if any.
pub async fn publisher_for(
    store: &Store,
    key: &str,
) -> Result<Option<PublisherRecord>, StoreError> {
    store.apps.publisher_for_key(&hash_token(key)).await
}

/// Issue publisher `id` a new API key; the key is returned once and stored
/// only as its hash.
pub async fn issue_api_key(store: &Store, id: &str) -> Result<String, StoreError> {
    let key = new_publisher_key();
    store.apps.put_publisher_key(&hash_token(&key), id).await?;
    Ok(key)
}

/// The id under which an API key can be revoked: the start of its hash.
pub fn api_key_id(key_sha256: &str) -> &str {
    &key_sha256[..key_sha256.len().min(16)]
}

/// The id an operator token is known by in the API and the audit log: the
/// sha256 (hex) it is stored under; not a secret.
pub fn operator_token_id(token: &str) -> String {
    hash_token(token)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether the operator token stored under `id` was revoked.
pub async fn operator_revoked(store: &Store, id: &str) -> Result<bool, StoreError> {
    Ok(store
        .identity
        .operator(id)
        .await?
        .is_some_and(|record| record.revoked.is_some()))
}

/// The operator holding `token`, if any and not revoked.
pub async fn operator_for(
    store: &Store,
    token: &str,
) -> Result<Option<OperatorRecord>, StoreError> {
    let id = hash_token(token);
    Ok(store
        .identity
        .operator(&id)
        .await?
        .filter(|record| record.revoked.is_none()))
}

/// Issue a new operator token named `name` (who holds it); the token is
/// returned once with its id and stored only as its hash.
pub async fn issue_operator_token(
    store: &Store,
    name: &str,
) -> Result<(String, String), StoreError> {
    let token = new_operator_token();
    let id = operator_token_id(&token);
    store
        .identity
        .put_operator(
            &id,
            &OperatorRecord {
                name: name.to_string(),
                created: now(),
                revoked: None,
            },
        )
        .await?;
    Ok((token, id))
}

/// What revoking an operator token found.
#[derive(Debug, Clone, PartialEq)]
pub enum Revoked {
    /// It was live and is refused from now on; its record.
    Now(OperatorRecord),
    /// It had been revoked before.
    Already,
    /// No operator token has this id.
    Unknown,
}

/// Revoke the operator token stored under `id`, for good: it is refused from
/// the next request, and a host started with it in `CITADEL_OPERATOR_TOKEN`
/// does not register it again.
pub async fn revoke_operator_token(store: &Store, id: &str) -> Result<Revoked, StoreError> {
    let Some(record) = store.identity.operator(id).await? else {
        return Ok(Revoked::Unknown);
    };
    if record.revoked.is_some() {
        return Ok(Revoked::Already);
    }
    store
        .identity
        .put_operator(
            id,
            &OperatorRecord {
                revoked: Some(now()),
                ..record.clone()
            },
        )
        .await?;
    Ok(Revoked::Now(record))
}

/// How the operator token given in the environment stands after start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrapped {
    /// The environment's token is registered (now or on an earlier start).
    Configured { id: String },
    /// The environment's token was revoked: it is not accepted.
    ConfiguredButRevoked { id: String },
    /// No token in the environment and no operator yet: a new token was
    /// written to this file.
    Written(PathBuf),
    /// Nothing to do.
    Nothing,
}

/// Make sure an operator can sign in: register `configured` (from the
/// environment) on its first start — unless it was revoked, which holds
/// across restarts; otherwise, on a host with no operator yet, create a
/// token and write it to `<data_dir>/operator-token` (mode 0600).
pub async fn bootstrap_operator(
    store: &Store,
    data_dir: &Path,
    configured: Option<&str>,
) -> anyhow::Result<Bootstrapped> {
    if let Some(token) = configured {
        anyhow::ensure!(
            token.len() >= 24,
            "CITADEL_OPERATOR_TOKEN must be at least 24 characters"
        );
        let id = operator_token_id(token);
        if operator_revoked(store, &id).await? {
            return Ok(Bootstrapped::ConfiguredButRevoked { id });
        }
        if store.identity.operator(&id).await?.is_none() {
            store
                .identity
                .put_operator(
                    &id,
                    &OperatorRecord {
                        name: "configured".into(),
                        created: now(),
                        revoked: None,
                    },
                )
                .await?;
        }
        return Ok(Bootstrapped::Configured { id });
    }
    if store.identity.has_operators().await? {
        return Ok(Bootstrapped::Nothing);
    }
    let token = new_operator_token();
    let path = data_dir.join("operator-token");
    write_private(&path, &token)?;
    store
        .identity
        .put_operator(
            &hash_token(&token),
            &OperatorRecord {
                name: "first-operator".into(),
                created: now(),
                revoked: None,
            },
        )
        .await?;
    Ok(Bootstrapped::Written(path))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV_TOKEN: &str = "cit_op_from_the_environment_0123456789";

    #[tokio::test]
    async fn a_revoked_environment_token_stays_revoked_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        {
            let store = Store::sled(&data.join("db")).unwrap();
            let first = bootstrap_operator(&store, data, Some(ENV_TOKEN))
                .await
                .unwrap();
            let id = operator_token_id(ENV_TOKEN);
            assert_eq!(first, Bootstrapped::Configured { id: id.clone() });
            assert!(operator_for(&store, ENV_TOKEN).await.unwrap().is_some());
            let (new_token, new_id) = issue_operator_token(&store, "rotated").await.unwrap();
            assert!(operator_for(&store, &new_token).await.unwrap().is_some());
            assert!(matches!(
                revoke_operator_token(&store, &id).await.unwrap(),
                Revoked::Now(_)
            ));
            assert_eq!(
                revoke_operator_token(&store, &id).await.unwrap(),
                Revoked::Already
            );
            assert_eq!(
                revoke_operator_token(&store, &"0".repeat(64))
                    .await
                    .unwrap(),
                Revoked::Unknown
            );
            assert_eq!(operator_for(&store, ENV_TOKEN).await.unwrap(), None);
            assert_ne!(new_id, id);
        }
        let store = Store::sled(&data.join("db")).unwrap();
        let again = bootstrap_operator(&store, data, Some(ENV_TOKEN))
            .await
            .unwrap();
        assert_eq!(
            again,
            Bootstrapped::ConfiguredButRevoked {
                id: operator_token_id(ENV_TOKEN)
            }
        );
        assert_eq!(operator_for(&store, ENV_TOKEN).await.unwrap(), None);
        // No token file is written for a host whose operators exist.
        assert!(!data.join("operator-token").exists());
    }
}
