//! Publishers: the partner companies allowed to publish — registering one
//! (its name, contact, fee and package-signing keys), adding and revoking
//! signing keys, issuing and revoking its API keys. Every change is audited.

use crate::audit::{messages, AuditLog, Event};
use crate::identity::Credentials;
use crate::store::{PublisherChange, Refused, Store, StoreError};

pub use crate::store::{PublisherRecord, SigningKeyRecord};

/// Why a change to a publisher was refused. Nothing changes when it is.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    #[error("`{0}` is not a valid publisher id: use 2 to 40 lower-case letters, digits and `-`")]
    InvalidId(String),
    #[error("the name must be 1 to 120 characters")]
    InvalidName,
    /// Why the signing key is not an ed25519 public key in hex.
    #[error("{0}")]
    InvalidSigningKey(String),
    #[error("the fee is in basis points, 0 to 10000")]
    InvalidFee,
    #[error("publisher `{0}` exists")]
    Exists(String),
    #[error("there is no publisher `{0}`")]
    NotFound(String),
    #[error("{publisher} has no key `{key_id}`")]
    KeyNotFound { publisher: String, key_id: String },
    #[error("this key is already registered (a revoked key cannot come back)")]
    SigningKeyExists,
    #[error("no current signing key matches")]
    SigningKeyNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a change of a publisher's record is refused in the store step.
const EXISTS: &str = "exists";
const NOT_FOUND: &str = "not_found";
const KEY_EXISTS: &str = "signing_key_exists";
const KEY_NOT_FOUND: &str = "signing_key_not_found";

/// A publisher to register.
#[derive(Debug, Clone, Default)]
pub struct NewPublisher {
    /// The slug manifests name in `publisher`.
    pub id: String,
    /// The company's legal name.
    pub name: String,
    /// Who the city talks to.
    pub contact: String,
    /// ed25519 public keys (hex) its packages may be signed with.
    pub signing_keys: Vec<String>,
    /// The city's fee on its payments, basis points (default 100).
    pub fee_bps: Option<u32>,
}

/// A new API key, shown once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: String,
    /// The id it is revoked by (the start of its hash).
    pub id: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn check_signing_key(key: &str) -> Result<(), PublisherError> {
    super::package::check_public_key(key).map_err(PublisherError::InvalidSigningKey)
}

/// The publishers over the store; their API keys through [`Credentials`].
#[derive(Clone)]
pub struct Publishers {
    store: Store,
    audit: AuditLog,
    credentials: Credentials,
}

impl Publishers {
    pub fn new(store: Store, audit: AuditLog) -> Self {
        Publishers {
            credentials: Credentials::new(store.clone(), audit.clone()),
            store,
            audit,
        }
    }

    /// Every publisher.
    pub async fn list(&self) -> Result<Vec<PublisherRecord>, StoreError> {
        self.store.apps.publishers().await
    }

    /// The publisher with `id`, if any.
    pub async fn get(&self, id: &str) -> Result<Option<PublisherRecord>, StoreError> {
        self.store.apps.publisher(id).await
    }

    /// The name to show for publisher `id`: its legal name, or the id itself
    /// when no such publisher is registered.
    pub async fn display_name(&self, id: &str) -> Result<String, StoreError> {
        Ok(self
            .get(id)
            .await?
            .map_or_else(|| id.to_string(), |publisher| publisher.name))
    }

    async fn existing(&self, id: &str) -> Result<PublisherRecord, PublisherError> {
        self.get(id)
            .await?
            .ok_or_else(|| PublisherError::NotFound(id.to_string()))
    }

    /// Register a publisher with its signing keys and issue its first API
    /// key (returned once), on behalf of `actor`.
    pub async fn register(
        &self,
        new: NewPublisher,
        actor: &str,
    ) -> Result<(PublisherRecord, String), PublisherError> {
        let publisher = self.create(new).await?;
        let key = self.credentials.issue_api_key(&publisher.id).await?;
        self.record_change(
            actor,
            &publisher.id,
            messages::PUBLISHER_REGISTERED_WITH_KEY,
        )
        .await;
        Ok((publisher, key))
    }

    /// Register a publisher that never uploads — the host's own samples —
    /// for its name alone: no API key, no signing key.
    pub async fn register_without_key(
        &self,
        id: &str,
        name: &str,
        actor: &str,
    ) -> Result<PublisherRecord, PublisherError> {
        let publisher = self
            .create(NewPublisher {
                id: id.to_string(),
                name: name.to_string(),
                contact: String::new(),
                signing_keys: Vec::new(),
                fee_bps: None,
            })
            .await?;
        self.record_change(actor, &publisher.id, messages::PUBLISHER_REGISTERED)
            .await;
        Ok(publisher)
    }

    /// Check and store a new publisher.
    async fn create(&self, new: NewPublisher) -> Result<PublisherRecord, PublisherError> {
        if !super::manifest::is_slug(&new.id) {
            return Err(PublisherError::InvalidId(new.id));
        }
        if new.name.trim().is_empty() || new.name.chars().count() > 120 {
            return Err(PublisherError::InvalidName);
        }
        for key in &new.signing_keys {
            check_signing_key(key)?;
        }
        if new.fee_bps.is_some_and(|bps| bps > 10_000) {
            return Err(PublisherError::InvalidFee);
        }
        let added = now();
        let publisher = PublisherRecord {
            id: new.id.clone(),
            name: new.name.trim().to_string(),
            contact: new.contact.trim().to_string(),
            signing_keys: new
                .signing_keys
                .iter()
                .map(|key| SigningKeyRecord {
                    public_key: key.to_ascii_lowercase(),
                    added,
                    revoked: None,
                })
                .collect(),
            fee_bps: new.fee_bps,
            created: added,
        };
        // Two registrations of one id at once: one stores, one is refused.
        self.change(&new.id, &|stored| match stored {
            Some(_) => Err(Refused(EXISTS)),
            None => Ok(publisher.clone()),
        })
        .await
    }

    /// Change publisher `id`'s record in one store step (against changes on
    /// this host or another), refused as `change` says.
    async fn change(
        &self,
        id: &str,
        change: &PublisherChange<'_>,
    ) -> Result<PublisherRecord, PublisherError> {
        match self.store.apps.change_publisher(id, change).await? {
            Ok(record) => Ok(record),
            Err(Refused(EXISTS)) => Err(PublisherError::Exists(id.to_string())),
            Err(Refused(NOT_FOUND)) => Err(PublisherError::NotFound(id.to_string())),
            Err(Refused(KEY_EXISTS)) => Err(PublisherError::SigningKeyExists),
            Err(Refused(_)) => Err(PublisherError::SigningKeyNotFound),
        }
    }

    /// Issue publisher `id` another API key (rotation); earlier keys stay
    /// valid until revoked.
    pub async fn issue_key(&self, id: &str, actor: &str) -> Result<IssuedKey, PublisherError> {
        let publisher = self.existing(id).await?;
        let key = self.credentials.issue_api_key(&publisher.id).await?;
        self.record_change(actor, &publisher.id, messages::PUBLISHER_API_KEY_ISSUED)
            .await;
        let id = crate::identity::api_key_id(&crate::identity::hash_token(&key)).to_string();
        Ok(IssuedKey { key, id })
    }

    /// The ids of publisher `id`'s API keys.
    pub async fn key_ids(&self, id: &str) -> Result<Vec<String>, PublisherError> {
        let publisher = self.existing(id).await?;
        Ok(self.credentials.api_key_ids(&publisher.id).await?)
    }

    /// Revoke publisher `id`'s API key `key_id` (the start of its hash, as listed).
    pub async fn revoke_key(
        &self,
        id: &str,
        key_id: &str,
        actor: &str,
    ) -> Result<(), PublisherError> {
        let publisher = self.existing(id).await?;
        if !self
            .credentials
            .revoke_api_key(&publisher.id, key_id)
            .await?
        {
            return Err(PublisherError::KeyNotFound {
                publisher: publisher.id,
                key_id: key_id.to_string(),
            });
        }
        self.record_change(actor, &publisher.id, messages::PUBLISHER_API_KEY_REVOKED)
            .await;
        Ok(())
    }

    /// Add a package-signing key (ed25519, hex) to publisher `id`.
    pub async fn add_signing_key(
        &self,
        id: &str,
        public_key: &str,
        actor: &str,
    ) -> Result<PublisherRecord, PublisherError> {
        check_signing_key(public_key)?;
        let key = public_key.to_ascii_lowercase();
        let added = now();
        let publisher = self
            .change(id, &|stored| {
                let mut publisher = stored.ok_or(Refused(NOT_FOUND))?;
                if publisher.signing_keys.iter().any(|k| k.public_key == key) {
                    return Err(Refused(KEY_EXISTS));
                }
                publisher.signing_keys.push(SigningKeyRecord {
                    public_key: key.clone(),
                    added,
                    revoked: None,
                });
                Ok(publisher)
            })
            .await?;
        self.record_change(actor, &publisher.id, messages::PUBLISHER_SIGNING_KEY_ADDED)
            .await;
        Ok(publisher)
    }

    /// Revoke publisher `id`'s current signing key `public_key`: packages it
    /// signs are refused from now on. A key added at the same moment does
    /// not bring it back: each change is made over the other.
    pub async fn revoke_signing_key(
        &self,
        id: &str,
        public_key: &str,
        actor: &str,
    ) -> Result<PublisherRecord, PublisherError> {
        let wanted = public_key.to_ascii_lowercase();
        let revoked = now();
        let publisher = self
            .change(id, &|stored| {
                let mut publisher = stored.ok_or(Refused(NOT_FOUND))?;
                let key = publisher
                    .signing_keys
                    .iter_mut()
                    .find(|k| k.public_key == wanted && k.revoked.is_none())
                    .ok_or(Refused(KEY_NOT_FOUND))?;
                key.revoked = Some(revoked);
                Ok(publisher)
            })
            .await?;
        self.record_change(
            actor,
            &publisher.id,
            messages::PUBLISHER_SIGNING_KEY_REVOKED,
        )
        .await;
        Ok(publisher)
    }

    async fn record_change(&self, actor: &str, publisher: &str, what: messages::Sentence) {
        self.audit
            .record(Event {
                kind: "publisher",
                actor: actor.to_string(),
                message: Some(what.with("publisher", publisher)),
                ..Default::default()
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditQuery;
    use std::sync::Arc;

    fn publishers(dir: &std::path::Path) -> (Publishers, Credentials, AuditLog) {
        let store = Store::sled(dir).unwrap();
        let audit = AuditLog::new(store.clone());
        (
            Publishers::new(store.clone(), audit.clone()),
            Credentials::new(store, audit.clone()),
            audit,
        )
    }

    fn new_publisher(id: &str) -> NewPublisher {
        NewPublisher {
            id: id.into(),
            name: " Huế Tours ".into(),
            contact: " ops@example.vn ".into(),
            ..NewPublisher::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_revocation_holds_while_keys_are_added_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (publishers, _, _) = publishers(dir.path());
        let publishers = Arc::new(publishers);
        let (_, rotated_out) = crate::registry::package::generate_key();
        publishers
            .register(
                NewPublisher {
                    signing_keys: vec![rotated_out.clone()],
                    ..new_publisher("tours")
                },
                "operator:ops",
            )
            .await
            .unwrap();
        let mut changes = Vec::new();
        for _ in 0..8 {
            let (publishers, (_, added)) =
                (publishers.clone(), crate::registry::package::generate_key());
            changes.push(tokio::spawn(async move {
                publishers
                    .add_signing_key("tours", &added, "operator:ops")
                    .await
                    .map(|_| ())
            }));
        }
        let revoking = publishers.clone();
        let revoked = rotated_out.clone();
        changes.insert(
            4,
            tokio::spawn(async move {
                revoking
                    .revoke_signing_key("tours", &revoked, "operator:ops")
                    .await
                    .map(|_| ())
            }),
        );
        for change in changes {
            change.await.unwrap().unwrap();
        }
        let stored = publishers.existing("tours").await.unwrap();
        assert_eq!(stored.signing_keys.len(), 9, "every added key is kept");
        let old = stored
            .signing_keys
            .iter()
            .find(|k| k.public_key == rotated_out)
            .unwrap();
        assert!(
            old.revoked.is_some(),
            "the revocation is not undone by an addition"
        );
    }

    #[tokio::test]
    async fn registering_checks_everything_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let (publishers, _, _) = publishers(dir.path());
        let refused = [
            (new_publisher("Not A Slug"), "InvalidId"),
            (
                NewPublisher {
                    name: "  ".into(),
                    ..new_publisher("tours")
                },
                "InvalidName",
            ),
            (
                NewPublisher {
                    signing_keys: vec!["abc".into()],
                    ..new_publisher("tours")
                },
                "InvalidSigningKey",
            ),
            (
                NewPublisher {
                    fee_bps: Some(10_001),
                    ..new_publisher("tours")
                },
                "InvalidFee",
            ),
        ];
        for (new, wanted) in refused {
            let e = publishers.register(new, "operator:ops").await.unwrap_err();
            assert!(format!("{e:?}").starts_with(wanted), "{e:?}");
        }
        assert!(publishers.list().await.unwrap().is_empty());

        let (_, public) = crate::registry::package::generate_key();
        let (record, _) = publishers
            .register(
                NewPublisher {
                    signing_keys: vec![public.to_ascii_uppercase()],
                    fee_bps: Some(250),
                    ..new_publisher("tours")
                },
                "operator:ops",
            )
            .await
            .unwrap();
        assert_eq!(record.name, "Huế Tours");
        assert_eq!(record.contact, "ops@example.vn");
        assert_eq!(record.signing_keys[0].public_key, public);
        assert_eq!(publishers.get("tours").await.unwrap(), Some(record));
        assert_eq!(publishers.display_name("tours").await.unwrap(), "Huế Tours");
        assert_eq!(publishers.display_name("ghost").await.unwrap(), "ghost");
        assert!(matches!(
            publishers
                .register(new_publisher("tours"), "operator:ops")
                .await,
            Err(PublisherError::Exists(id)) if id == "tours"
        ));
    }

    #[tokio::test]
    async fn api_keys_are_issued_found_and_revoked_with_an_audit_record_each() {
        let dir = tempfile::tempdir().unwrap();
        let (publishers, credentials, audit) = publishers(dir.path());
        let (_, first) = publishers
            .register(new_publisher("tours"), "operator:ops")
            .await
            .unwrap();
        let second = publishers.issue_key("tours", "operator:ops").await.unwrap();
        for key in [&first, &second.key] {
            let holder = credentials.publisher_for(key).await.unwrap();
            assert_eq!(holder.map(|p| p.id).as_deref(), Some("tours"));
        }
        let ids = publishers.key_ids("tours").await.unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&second.id));
        publishers
            .revoke_key("tours", &second.id, "operator:ops")
            .await
            .unwrap();
        assert_eq!(credentials.publisher_for(&second.key).await.unwrap(), None);
        assert!(credentials.publisher_for(&first).await.unwrap().is_some());
        assert!(matches!(
            publishers
                .revoke_key("tours", &second.id, "operator:ops")
                .await,
            Err(PublisherError::KeyNotFound { .. })
        ));
        assert!(matches!(
            publishers.issue_key("ghost", "operator:ops").await,
            Err(PublisherError::NotFound(_))
        ));

        let page = audit
            .query(&AuditQuery {
                kind: Some("publisher".into()),
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        let details: Vec<&str> = page.records.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "publisher `tours`: registered, with an API key",
                "publisher `tours`: issued an API key",
                "publisher `tours`: revoked an API key",
            ]
        );
        assert!(page.records.iter().all(|r| r.actor == "operator:ops"));
    }

    #[tokio::test]
    async fn a_revoked_signing_key_cannot_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let (publishers, _, _) = publishers(dir.path());
        publishers
            .register(new_publisher("tours"), "operator:ops")
            .await
            .unwrap();
        let (_, public) = crate::registry::package::generate_key();
        let added = publishers
            .add_signing_key("tours", &public, "operator:ops")
            .await
            .unwrap();
        assert_eq!(added.signing_keys.len(), 1);
        let revoked = publishers
            .revoke_signing_key("tours", &public.to_ascii_uppercase(), "operator:ops")
            .await
            .unwrap();
        assert!(revoked.signing_keys[0].revoked.is_some());
        assert!(matches!(
            publishers
                .revoke_signing_key("tours", &public, "operator:ops")
                .await,
            Err(PublisherError::SigningKeyNotFound)
        ));
        assert!(matches!(
            publishers
                .add_signing_key("tours", &public, "operator:ops")
                .await,
            Err(PublisherError::SigningKeyExists)
        ));
        assert!(matches!(
            publishers
                .add_signing_key("ghost", &public, "operator:ops")
                .await,
            Err(PublisherError::NotFound(_))
        ));
    }
}
