//! Who is calling: citizens (provider, sessions, pairwise ids, their
//! consents and inbox), operators and publishers (bearer tokens and API keys
//! stored only as sha256 hashes). Owns credentials, not permissions.

pub mod citizens;
pub mod consent;
mod credentials;
pub mod frames;
pub mod inbox;
pub mod location;
pub mod oidc;
pub mod pairwise;
pub mod personal_data;
pub mod sessions;

pub use credentials::{CredentialError, Credentials, IssuedOperatorToken, OperatorRecord, Revoked};

use crate::store::Store;
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

/// The host secret that holds the first operator's token.
const FIRST_OPERATOR_TOKEN: &str = "first-operator-token";

/// Make sure an operator can sign in: register `configured` (from the
/// environment) on its first start — unless it was revoked, which holds
/// across restarts; otherwise, on a host with no operator yet, create a
/// token (the same on every host of a shared database) and write it to
/// `<data_dir>/operator-token` (mode 0600).
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
        let existing = store.identity.operator(&id).await?;
        if existing
            .as_ref()
            .is_some_and(|record| record.revoked.is_some())
        {
            return Ok(Bootstrapped::ConfiguredButRevoked { id });
        }
        if existing.is_none() {
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
    // Hosts that share a database and start at once agree on one token.
    let token = store
        .identity
        .host_secret(FIRST_OPERATOR_TOKEN, new_operator_token().into_bytes())
        .await?;
    let token = String::from_utf8(token)
        .map_err(|_| anyhow::anyhow!("the stored first operator token is not text"))?;
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
    // The token is now in the file and its hash in the operators: the
    // plain token kept for racing hosts would otherwise travel with every
    // backup and migration.
    store
        .identity
        .forget_host_secret(FIRST_OPERATOR_TOKEN)
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
    use crate::audit::AuditLog;

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
            let credentials = Credentials::new(store.clone(), AuditLog::new(store.clone()));
            assert!(credentials.operator_for(ENV_TOKEN).await.unwrap().is_some());
            let issued = credentials
                .issue_operator_token(" rotated ", "test")
                .await
                .unwrap();
            assert_eq!(issued.name, "rotated");
            assert!(credentials
                .operator_for(&issued.token)
                .await
                .unwrap()
                .is_some());
            assert!(matches!(
                credentials.issue_operator_token("\u{7}", "test").await,
                Err(CredentialError::InvalidOperatorName)
            ));
            assert!(matches!(
                credentials
                    .revoke_operator_token(&id.to_ascii_uppercase(), "test")
                    .await
                    .unwrap(),
                Revoked::Now(_)
            ));
            assert_eq!(
                credentials
                    .revoke_operator_token(&id, "test")
                    .await
                    .unwrap(),
                Revoked::Already
            );
            for unknown in ["0".repeat(64), "not-an-id".to_string()] {
                assert_eq!(
                    credentials
                        .revoke_operator_token(&unknown, "test")
                        .await
                        .unwrap(),
                    Revoked::Unknown
                );
            }
            assert_eq!(credentials.operator_for(ENV_TOKEN).await.unwrap(), None);
            assert_ne!(issued.id, id);
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
        let credentials = Credentials::new(store.clone(), AuditLog::new(store.clone()));
        assert_eq!(credentials.operator_for(ENV_TOKEN).await.unwrap(), None);
        // No token file is written for a host whose operators exist.
        assert!(!data.join("operator-token").exists());
    }

    #[tokio::test]
    async fn the_first_token_is_kept_only_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::sled(&dir.path().join("db")).unwrap();
        let written = bootstrap_operator(&store, dir.path(), None).await.unwrap();
        let Bootstrapped::Written(path) = written else {
            panic!("a first token is written: {written:?}");
        };
        let token = std::fs::read_to_string(path).unwrap();
        let credentials = Credentials::new(store.clone(), AuditLog::new(store.clone()));
        assert!(credentials
            .operator_for(token.trim())
            .await
            .unwrap()
            .is_some());
        // The store keeps no plain copy (backups and migrations copy it).
        let kept = store
            .identity
            .host_secret(FIRST_OPERATOR_TOKEN, b"nothing kept".to_vec())
            .await
            .unwrap();
        assert_eq!(kept, b"nothing kept");
    }
}
