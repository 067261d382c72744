//! Operator tokens and publisher API keys: minting them (shown once, stored
//! only as sha256), finding who holds one, and revoking them — operator
//! token changes audited. Owns credentials, not what a role may do.

use super::{api_key_id, hash_token, new_operator_token, new_publisher_key, operator_token_id};
use crate::audit::{messages, AuditLog, AuditMessage, Event};
use crate::store::{PublisherRecord, Store, StoreError};

pub use crate::store::OperatorRecord;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a credential was not issued.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the name must be 1 to 80 characters, without control characters")]
    InvalidOperatorName,
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// A new operator token, shown once.
#[derive(Debug, Clone)]
pub struct IssuedOperatorToken {
    pub token: String,
    /// The sha256 of the token: its id in the API and the audit log.
    pub id: String,
    /// Who holds it, as given (trimmed).
    pub name: String,
}

/// Operator and publisher credentials over the store.
#[derive(Clone)]
pub struct Credentials {
    store: Store,
    audit: AuditLog,
}

impl Credentials {
    pub fn new(store: Store, audit: AuditLog) -> Self {
        Credentials { store, audit }
    }

    /// The operator holding `token`, if any and not revoked.
    pub async fn operator_for(&self, token: &str) -> Result<Option<OperatorRecord>, StoreError> {
        let id = hash_token(token);
        Ok(self
            .store
            .identity
            .operator(&id)
            .await?
            .filter(|record| record.revoked.is_none()))
    }

    /// The publisher holding API key `key`, if any.
    pub async fn publisher_for(&self, key: &str) -> Result<Option<PublisherRecord>, StoreError> {
        self.store.apps.publisher_for_key(&hash_token(key)).await
    }

    /// Issue publisher `publisher` a new API key; the key is returned once
    /// and stored only as its hash.
    pub async fn issue_api_key(&self, publisher: &str) -> Result<String, StoreError> {
        let key = new_publisher_key();
        self.store
            .apps
            .put_publisher_key(&hash_token(&key), publisher)
            .await?;
        Ok(key)
    }

    /// The ids (see [`api_key_id`]) of publisher `publisher`'s API keys.
    pub async fn api_key_ids(&self, publisher: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .store
            .apps
            .publisher_keys(publisher)
            .await?
            .iter()
            .map(|hash| api_key_id(hash).to_string())
            .collect())
    }

    /// Revoke publisher `publisher`'s API key with id `key_id`; false if it
    /// has no such key.
    pub async fn revoke_api_key(&self, publisher: &str, key_id: &str) -> Result<bool, StoreError> {
        let Some(hash) = self
            .store
            .apps
            .publisher_keys(publisher)
            .await?
            .into_iter()
            .find(|hash| api_key_id(hash) == key_id)
        else {
            return Ok(false);
        };
        self.store.apps.delete_publisher_key(&hash).await?;
        Ok(true)
    }

    /// Issue a new operator token to `name` (who holds it: 1 to 80
    /// characters, no control character), on behalf of `actor`; audited.
    pub async fn issue_operator_token(
        &self,
        name: &str,
        actor: &str,
    ) -> Result<IssuedOperatorToken, CredentialError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(|c| c.is_control()) {
            return Err(CredentialError::InvalidOperatorName);
        }
        let token = new_operator_token();
        let id = operator_token_id(&token);
        self.store
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
        self.record_operator_token_change(
            actor,
            messages::OPERATOR_TOKEN_ISSUED
                .with("id", &id)
                .with("name", name),
        )
        .await;
        Ok(IssuedOperatorToken {
            token,
            id,
            name: name.to_string(),
        })
    }

    /// Revoke the operator token stored under `id` (64 hex digits, either
    /// case) for good, on behalf of `actor`: it is refused from the next
    /// request, and a host started with it in `CITADEL_OPERATOR_TOKEN` does
    /// not register it again. Audited when it was live.
    pub async fn revoke_operator_token(
        &self,
        id: &str,
        actor: &str,
    ) -> Result<Revoked, StoreError> {
        let well_formed = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Ok(Revoked::Unknown);
        }
        let id = id.to_ascii_lowercase();
        let Some(record) = self.store.identity.operator(&id).await? else {
            return Ok(Revoked::Unknown);
        };
        if record.revoked.is_some() {
            return Ok(Revoked::Already);
        }
        self.store
            .identity
            .put_operator(
                &id,
                &OperatorRecord {
                    revoked: Some(now()),
                    ..record.clone()
                },
            )
            .await?;
        self.record_operator_token_change(
            actor,
            messages::OPERATOR_TOKEN_REVOKED
                .with("id", &id)
                .with("name", &record.name),
        )
        .await;
        Ok(Revoked::Now(record))
    }

    async fn record_operator_token_change(&self, actor: &str, what: AuditMessage) {
        self.audit
            .record(Event {
                kind: "operator-token",
                actor: actor.to_string(),
                message: Some(what),
                ..Default::default()
            })
            .await;
    }
}
