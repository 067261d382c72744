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
pub fn publisher_for(store: &dyn Store, key: &str) -> Result<Option<PublisherRecord>, StoreError> {
    store.publisher_for_key(&hash_token(key))
}

/// Issue publisher `id` a new API key; the key is returned once and stored
/// only as its hash.
pub fn issue_api_key(store: &dyn Store, id: &str) -> Result<String, StoreError> {
    let key = new_publisher_key();
    store.put_publisher_key(&hash_token(&key), id)?;
    store.flush()?;
    Ok(key)
}

/// The id under which an API key can be revoked: the start of its hash.
pub fn api_key_id(key_sha256: &str) -> &str {
    &key_sha256[..key_sha256.len().min(16)]
}

/// The operator holding `token`, if any.
pub fn operator_for(store: &dyn Store, token: &str) -> Result<Option<OperatorRecord>, StoreError> {
    store.operator(&hash_token(token))
}

/// Make sure an operator can sign in: register `configured` (from the
/// environment) if given; otherwise, on a host with no operator yet, create a
/// token and write it to `<data_dir>/operator-token` (mode 0600). Returns the
/// file written, if any.
pub fn bootstrap_operator(
    store: &dyn Store,
    data_dir: &Path,
    configured: Option<&str>,
) -> anyhow::Result<Option<PathBuf>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Some(token) = configured {
        anyhow::ensure!(
            token.len() >= 24,
            "CITADEL_OPERATOR_TOKEN must be at least 24 characters"
        );
        if operator_for(store, token)?.is_none() {
            store.put_operator(
                &hash_token(token),
                &OperatorRecord {
                    name: "configured".into(),
                    created: now,
                },
            )?;
            store.flush()?;
        }
        return Ok(None);
    }
    if store.has_operators()? {
        return Ok(None);
    }
    let token = new_operator_token();
    let path = data_dir.join("operator-token");
    write_private(&path, &token)?;
    store.put_operator(
        &hash_token(&token),
        &OperatorRecord {
            name: "first-operator".into(),
            created: now,
        },
    )?;
    store.flush()?;
    Ok(Some(path))
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
