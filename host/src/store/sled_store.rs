//! The embedded default store: one sled database under the data dir, a tree
//! per concern (`apps`, `blobs` with their `blob-refs` counts, `consents`, …)
//! and two trees per app for its kv data (`kv/{app}` app-wide, `kvc/{app}`
//! per citizen).

mod ledger;

use super::{
    AppRecord, ConsentRecord, GrantRecord, InboxMessage, IntentRecord, KeyPage, KvSpace,
    LedgerRefusal, OperatorRecord, OutboxEntry, Posting, PublisherRecord, QuotaExceeded,
    SessionRecord, StepFn, Store, StoreError, VersionRecord,
};
use crate::audit::AuditRecord;
use sha2::{Digest, Sha256};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
    UnabortableTransactionError,
};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::Path;

/// sled-backed [`Store`].
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    apps: sled::Tree,
    versions: sled::Tree,
    blobs: sled::Tree,
    /// sha256 → how many versions (of any app) reference the blob, u64 BE.
    blob_refs: sled::Tree,
    audit: sled::Tree,
    grants: sled::Tree,
    operators: sled::Tree,
    secrets: sled::Tree,
    sessions: sled::Tree,
    kv_usage: sled::Tree,
    consents: sled::Tree,
    inbox: sled::Tree,
    pairwise: sled::Tree,
    publishers: sled::Tree,
    publisher_keys: sled::Tree,
    intents: sled::Tree,
    /// (app, citizen, reference) → intent id: the idempotency keys.
    intent_keys: sled::Tree,
    /// (app, citizen) → the pending intents' (id, expires_at), JSON.
    pending_intents: sled::Tree,
    accounts: sled::Tree,
    postings: sled::Tree,
    once_keys: sled::Tree,
    outbox: sled::Tree,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Bytes of sled's page cache: hot records stay in memory, the host's
/// resident size stays flat however long it runs.
const CACHE_BYTES: u64 = 64 << 20;

impl SledStore {
    /// Open (or create) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            // sled's default page cache is 1 GiB, which a busy host fills
            // over hours: the host's memory would creep up with its writes.
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(backend)?;
        let store = SledStore {
            apps: db.open_tree("app-rollouts").map_err(backend)?,
            versions: db.open_tree("versions").map_err(backend)?,
            blobs: db.open_tree("blobs").map_err(backend)?,
            blob_refs: db.open_tree("blob-refs").map_err(backend)?,
            audit: db.open_tree("audit").map_err(backend)?,
            grants: db.open_tree("grants").map_err(backend)?,
            operators: db.open_tree("operators").map_err(backend)?,
            secrets: db.open_tree("secrets").map_err(backend)?,
            sessions: db.open_tree("sessions").map_err(backend)?,
            kv_usage: db.open_tree("kv-usage").map_err(backend)?,
            consents: db.open_tree("consents").map_err(backend)?,
            inbox: db.open_tree("inbox").map_err(backend)?,
            pairwise: db.open_tree("pairwise").map_err(backend)?,
            publishers: db.open_tree("publishers").map_err(backend)?,
            publisher_keys: db.open_tree("publisher-keys").map_err(backend)?,
            intents: db.open_tree("intents").map_err(backend)?,
            intent_keys: db.open_tree("intent-keys").map_err(backend)?,
            pending_intents: db.open_tree("pending-intents").map_err(backend)?,
            accounts: db.open_tree("accounts").map_err(backend)?,
            postings: db.open_tree("postings").map_err(backend)?,
            once_keys: db.open_tree("once-keys").map_err(backend)?,
            outbox: db.open_tree("outbox").map_err(backend)?,
            db,
        };
        store.rebuild_blob_refs()?;
        store.rebuild_intent_index()?;
        Ok(store)
    }

    /// A data dir written before blobs were reference-counted has versions
    /// but no counts: count every version's blob, and drop blobs no version
    /// references (nothing can reach them).
    fn rebuild_blob_refs(&self) -> Result<(), StoreError> {
        if !self.blob_refs.is_empty() || self.versions.is_empty() {
            return Ok(());
        }
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for version in Self::scan_json::<VersionRecord>(self.versions.iter())? {
            *counts.entry(version.component_sha256).or_default() += 1;
        }
        let mut refs = sled::Batch::default();
        for (sha256, count) in &counts {
            refs.insert(sha256.as_bytes(), &count.to_be_bytes());
        }
        let mut orphans = sled::Batch::default();
        for key in self.blobs.iter().keys() {
            let key = key.map_err(backend)?;
            if !counts.contains_key(String::from_utf8_lossy(&key).as_ref()) {
                orphans.remove(key);
            }
        }
        self.blob_refs.apply_batch(refs).map_err(backend)?;
        self.blobs.apply_batch(orphans).map_err(backend)?;
        tracing::info!(
            blobs = counts.len(),
            "blob references rebuilt from the versions"
        );
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    /// A data dir written before intents were keyed per citizen: index every
    /// intent by (app, citizen, reference) and its pending ones by (app,
    /// citizen), then drop the old (app, reference) index.
    fn rebuild_intent_index(&self) -> Result<(), StoreError> {
        if !self.intent_keys.is_empty() || self.intents.is_empty() {
            return Ok(());
        }
        let mut keys = sled::Batch::default();
        let mut pending: BTreeMap<Vec<u8>, PendingList> = BTreeMap::new();
        for intent in Self::scan_json::<IntentRecord>(self.intents.iter())? {
            keys.insert(
                composite(&[&intent.app, &intent.citizen, &intent.reference]),
                intent.id.as_bytes(),
            );
            if intent.status == super::IntentStatus::Pending {
                pending
                    .entry(composite(&[&intent.app, &intent.citizen]))
                    .or_default()
                    .push((intent.id.clone(), intent.expires_at));
            }
        }
        let mut lists = sled::Batch::default();
        for (key, list) in &pending {
            lists.insert(key.as_slice(), to_json(list)?);
        }
        self.intent_keys.apply_batch(keys).map_err(backend)?;
        self.pending_intents.apply_batch(lists).map_err(backend)?;
        self.db.drop_tree("intent-refs").map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    /// Write a kv value and the app's usage in one transaction, if `condition`
    /// (when given) matches what the key holds now; false if it did not.
    fn kv_write(
        &self,
        space: KvSpace<'_>,
        key: &str,
        condition: Option<Option<&[u8]>>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        let app = space.app().as_bytes();
        let outcome = (&tree, &self.kv_usage).transaction(|(tree, usage)| {
            let current = tree.get(&full)?;
            if let Some(expected) = condition {
                if current.as_deref() != expected {
                    return Ok(false);
                }
            }
            let used = usage
                .get(app)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map_or(0, u64::from_be_bytes);
            let old = current.map_or(0, |v| (full.len() + v.len()) as u64);
            let now = used.saturating_sub(old) + (full.len() + value.len()) as u64;
            // A write that does not grow the app is always allowed.
            if now > quota && now > used {
                return Err(ConflictableTransactionError::Abort(QuotaExceeded {
                    used,
                    quota,
                }));
            }
            tree.insert(full.as_slice(), value)?;
            usage.insert(app, &now.to_be_bytes())?;
            Ok(true)
        });
        match outcome {
            Ok(written) => Ok(Ok(written)),
            Err(TransactionError::Abort(exceeded)) => Ok(Err(exceeded)),
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    fn put_json<T: serde::Serialize>(
        tree: &sled::Tree,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(value).map_err(|e| StoreError::Backend(e.to_string()))?;
        tree.insert(key.as_bytes(), json).map_err(backend)?;
        Ok(())
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        tree: &sled::Tree,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match tree.get(key.as_bytes()).map_err(backend)? {
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        key: key.to_string(),
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    /// The tree of a kv space and the prefix its keys carry there. Each app
    /// has its own trees, so no key an app can name reaches another app's
    /// data; a citizen's keys carry their pairwise id (fixed-length hex) and
    /// a NUL, so no key names another citizen's.
    fn kv_space(&self, space: KvSpace<'_>) -> Result<(sled::Tree, Vec<u8>), StoreError> {
        match space {
            KvSpace::App(app) => Ok((
                self.db.open_tree(format!("kv/{app}")).map_err(backend)?,
                Vec::new(),
            )),
            KvSpace::Citizen { app, pairwise_id } => {
                let mut prefix = pairwise_id.as_bytes().to_vec();
                prefix.push(0);
                Ok((
                    self.db.open_tree(format!("kvc/{app}")).map_err(backend)?,
                    prefix,
                ))
            }
        }
    }

    fn json<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StoreError> {
        serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason: e.to_string(),
        })
    }

    fn scan_json<T: serde::de::DeserializeOwned>(
        entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    ) -> Result<Vec<T>, StoreError> {
        entries
            .map(|entry| {
                let (key, value) = entry.map_err(backend)?;
                Self::json(&key, &value)
            })
            .collect()
    }
}

/// `a\0b\0…`: a composite key whose parts contain no NUL.
fn composite(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// The pending intents one citizen holds in one app: (id, expires_at).
type PendingList = Vec<(String, u64)>;

/// How many versions reference blob `sha256`, read inside a transaction.
fn ref_count(refs: &TransactionalTree, sha256: &str) -> Result<u64, UnabortableTransactionError> {
    Ok(refs
        .get(sha256.as_bytes())?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

fn abort_with(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

fn corrupt(key: &[u8], e: impl std::fmt::Display) -> ConflictableTransactionError<StoreError> {
    abort_with(StoreError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        reason: e.to_string(),
    })
}

/// The outcome of a transaction that aborts with a `StoreError`.
fn settle<T>(outcome: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    match outcome {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(backend(e)),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(e.to_string()))
}

impl Store for SledStore {
    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .blobs
            .get(sha256.as_bytes())
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn blob_refs(&self, sha256: &str) -> Result<u64, StoreError> {
        Ok(self
            .blob_refs
            .get(sha256.as_bytes())
            .map_err(backend)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    fn commit_app(
        &self,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError> {
        let app_json = to_json(app)?;
        let version_rows: Vec<(Vec<u8>, Vec<u8>, &VersionRecord)> = versions
            .iter()
            .map(|v| Ok((composite(&[&v.app, &v.version]), to_json(v)?, v)))
            .collect::<Result<_, StoreError>>()?;
        let given: HashMap<String, &[u8]> = components
            .iter()
            .map(|bytes| (hex::encode(Sha256::digest(bytes)), *bytes))
            .collect();
        let outcome = (&self.apps, &self.versions, &self.blobs, &self.blob_refs).transaction(
            |(apps, stored, blobs, refs)| {
                apps.insert(app.id.as_bytes(), app_json.as_slice())?;
                for (key, value, version) in &version_rows {
                    let sha256 = version.component_sha256.as_str();
                    if let Some(old) = stored.get(key.as_slice())? {
                        let old: VersionRecord =
                            serde_json::from_slice(&old).map_err(|e| corrupt(key, e))?;
                        if old.component_sha256 != sha256 {
                            return Err(abort_with(StoreError::ComponentChanged {
                                app: version.app.clone(),
                                version: version.version.clone(),
                            }));
                        }
                    } else {
                        // A new version: one more reference on its blob.
                        let count = ref_count(refs, sha256)?;
                        if count == 0 {
                            match given.get(sha256) {
                                Some(bytes) => {
                                    blobs.insert(sha256.as_bytes(), *bytes)?;
                                }
                                None if blobs.get(sha256.as_bytes())?.is_some() => {}
                                None => {
                                    return Err(abort_with(StoreError::MissingBlob {
                                        app: version.app.clone(),
                                        version: version.version.clone(),
                                        sha256: sha256.to_string(),
                                    }))
                                }
                            }
                        }
                        refs.insert(sha256.as_bytes(), &(count + 1).to_be_bytes())?;
                    }
                    stored.insert(key.as_slice(), value.as_slice())?;
                }
                Ok(())
            },
        );
        settle(outcome)
    }

    fn app(&self, id: &str) -> Result<Option<AppRecord>, StoreError> {
        Self::get_json(&self.apps, id)
    }

    fn versions(&self, app: &str) -> Result<Vec<VersionRecord>, StoreError> {
        Self::scan_json(self.versions.scan_prefix(composite(&[app, ""])))
    }

    fn delete_version(&self, app: &str, version: &str) -> Result<Option<String>, StoreError> {
        let key = composite(&[app, version]);
        let outcome =
            (&self.versions, &self.blobs, &self.blob_refs).transaction(|(stored, blobs, refs)| {
                let Some(old) = stored.remove(key.as_slice())? else {
                    return Ok(None);
                };
                let old: VersionRecord =
                    serde_json::from_slice(&old).map_err(|e| corrupt(&key, e))?;
                let sha256 = old.component_sha256;
                let count = ref_count(refs, &sha256)?;
                if count > 1 {
                    refs.insert(sha256.as_bytes(), &(count - 1).to_be_bytes())?;
                    return Ok(None);
                }
                // The last reference: the blob goes with it.
                refs.remove(sha256.as_bytes())?;
                blobs.remove(sha256.as_bytes())?;
                Ok(Some(sha256))
            });
        settle(outcome)
    }

    fn put_grants(&self, app: &str, grants: &GrantRecord) -> Result<(), StoreError> {
        Self::put_json(&self.grants, app, grants)
    }

    fn grants(&self, app: &str) -> Result<Option<GrantRecord>, StoreError> {
        Self::get_json(&self.grants, app)
    }

    fn put_operator(&self, token_sha256: &str, record: &OperatorRecord) -> Result<(), StoreError> {
        Self::put_json(&self.operators, token_sha256, record)
    }

    fn operator(&self, token_sha256: &str) -> Result<Option<OperatorRecord>, StoreError> {
        Self::get_json(&self.operators, token_sha256)
    }

    fn has_operators(&self) -> Result<bool, StoreError> {
        Ok(!self.operators.is_empty())
    }

    fn host_secret(
        &self,
        name: &str,
        generate: &dyn Fn() -> Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        if let Some(secret) = self.secrets.get(name).map_err(backend)? {
            return Ok(secret.to_vec());
        }
        let fresh = generate();
        // Two first callers race: whoever writes first wins, both return it.
        match self
            .secrets
            .compare_and_swap(name, None as Option<&[u8]>, Some(fresh.as_slice()))
            .map_err(backend)?
        {
            Ok(()) => {
                self.db.flush().map_err(backend)?;
                Ok(fresh)
            }
            Err(existing) => Ok(existing.current.map(|v| v.to_vec()).unwrap_or(fresh)),
        }
    }

    fn put_session(&self, token_sha256: &str, record: &SessionRecord) -> Result<(), StoreError> {
        Self::put_json(&self.sessions, token_sha256, record)
    }

    fn session(&self, token_sha256: &str) -> Result<Option<SessionRecord>, StoreError> {
        Self::get_json(&self.sessions, token_sha256)
    }

    fn delete_session(&self, token_sha256: &str) -> Result<bool, StoreError> {
        Ok(self
            .sessions
            .remove(token_sha256)
            .map_err(backend)?
            .is_some())
    }

    fn apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        Self::scan_json(self.apps.iter())
    }

    fn kv_get(&self, space: KvSpace<'_>, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        Ok(tree.get(full).map_err(backend)?.map(|v| v.to_vec()))
    }

    fn kv_set(
        &self,
        space: KvSpace<'_>,
        key: &str,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<(), QuotaExceeded>, StoreError> {
        Ok(self.kv_write(space, key, None, value, quota)?.map(|_| ()))
    }

    fn kv_swap(
        &self,
        space: KvSpace<'_>,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: u64,
    ) -> Result<Result<bool, QuotaExceeded>, StoreError> {
        self.kv_write(space, key, Some(expected), value, quota)
    }

    fn kv_delete(&self, space: KvSpace<'_>, key: &str) -> Result<bool, StoreError> {
        let (tree, mut full) = self.kv_space(space)?;
        full.extend_from_slice(key.as_bytes());
        let app = space.app().as_bytes();
        let outcome: Result<bool, TransactionError<std::convert::Infallible>> =
            (&tree, &self.kv_usage).transaction(|(tree, usage)| {
                let Some(old) = tree.remove(full.as_slice())? else {
                    return Ok(false);
                };
                let used = usage
                    .get(app)?
                    .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                    .map_or(0, u64::from_be_bytes);
                let now = used.saturating_sub((full.len() + old.len()) as u64);
                usage.insert(app, &now.to_be_bytes())?;
                Ok(true)
            });
        match outcome {
            Ok(existed) => Ok(existed),
            Err(TransactionError::Abort(never)) => match never {},
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    fn kv_list(
        &self,
        space: KvSpace<'_>,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let (tree, space_prefix) = self.kv_space(space)?;
        let full = |key: &str| [space_prefix.as_slice(), key.as_bytes()].concat();
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(full(after)),
            _ => Bound::Included(full(prefix)),
        };
        let wanted = full(prefix);
        let mut keys = Vec::new();
        let mut more = false;
        for entry in tree.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (key, _) = entry.map_err(backend)?;
            if !key.starts_with(&wanted) {
                break;
            }
            if keys.len() == limit {
                more = true;
                break;
            }
            keys.push(String::from_utf8_lossy(&key[space_prefix.len()..]).into_owned());
        }
        let next = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, next })
    }

    fn kv_usage(&self, app: &str) -> Result<u64, StoreError> {
        Ok(self
            .kv_usage
            .get(app)
            .map_err(backend)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    fn put_consent(&self, citizen: &str, record: &ConsentRecord) -> Result<(), StoreError> {
        self.consents
            .insert(
                composite(&[citizen, &record.app, &record.scope]),
                to_json(record)?,
            )
            .map_err(backend)?;
        Ok(())
    }

    fn consent(
        &self,
        citizen: &str,
        app: &str,
        scope: &str,
    ) -> Result<Option<ConsentRecord>, StoreError> {
        let key = composite(&[citizen, app, scope]);
        match self.consents.get(&key).map_err(backend)? {
            Some(value) => Self::json(&key, &value).map(Some),
            None => Ok(None),
        }
    }

    fn consents(&self, citizen: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        Self::scan_json(self.consents.scan_prefix(composite(&[citizen, ""])))
    }

    fn delete_consent(&self, citizen: &str, app: &str, scope: &str) -> Result<bool, StoreError> {
        Ok(self
            .consents
            .remove(composite(&[citizen, app, scope]))
            .map_err(backend)?
            .is_some())
    }

    fn remember_pairwise(
        &self,
        app: &str,
        pairwise: &str,
        citizen: &str,
    ) -> Result<(), StoreError> {
        let key = composite(&[app, pairwise]);
        if self.pairwise.get(&key).map_err(backend)?.is_none() {
            self.pairwise
                .insert(key, citizen.as_bytes())
                .map_err(backend)?;
        }
        Ok(())
    }

    fn pairwise_citizen(&self, app: &str, pairwise: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .pairwise
            .get(composite(&[app, pairwise]))
            .map_err(backend)?
            .map(|citizen| String::from_utf8_lossy(&citizen).into_owned()))
    }

    fn inbox_append(&self, citizen: &str, message: &InboxMessage) -> Result<(), StoreError> {
        // citizen ‖ NUL ‖ time ‖ a unique id: ordered by time, never overwritten.
        let mut key = composite(&[citizen, ""]);
        key.extend_from_slice(&message.at.to_be_bytes());
        key.extend_from_slice(&self.db.generate_id().map_err(backend)?.to_be_bytes());
        self.inbox.insert(key, to_json(message)?).map_err(backend)?;
        Ok(())
    }

    fn inbox_since(&self, citizen: &str, since_ms: u64) -> Result<Vec<InboxMessage>, StoreError> {
        let prefix = composite(&[citizen, ""]);
        let mut start = prefix.clone();
        start.extend_from_slice(&since_ms.to_be_bytes());
        Self::scan_json(
            self.inbox
                .range(start..)
                .take_while(|entry| entry.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix))),
        )
    }

    fn inbox_latest(&self, citizen: &str, limit: usize) -> Result<Vec<InboxMessage>, StoreError> {
        Self::scan_json(
            self.inbox
                .scan_prefix(composite(&[citizen, ""]))
                .rev()
                .take(limit),
        )
    }

    fn put_publisher(&self, record: &PublisherRecord) -> Result<(), StoreError> {
        Self::put_json(&self.publishers, &record.id, record)
    }

    fn publisher(&self, id: &str) -> Result<Option<PublisherRecord>, StoreError> {
        Self::get_json(&self.publishers, id)
    }

    fn publishers(&self) -> Result<Vec<PublisherRecord>, StoreError> {
        Self::scan_json(self.publishers.iter())
    }

    fn put_publisher_key(&self, key_sha256: &str, publisher: &str) -> Result<(), StoreError> {
        self.publisher_keys
            .insert(key_sha256, publisher.as_bytes())
            .map_err(backend)?;
        Ok(())
    }

    fn publisher_keys(&self, publisher: &str) -> Result<Vec<String>, StoreError> {
        self.publisher_keys
            .iter()
            .filter_map(|entry| match entry {
                Ok((hash, owner)) if owner.as_ref() == publisher.as_bytes() => {
                    Some(Ok(String::from_utf8_lossy(&hash).into_owned()))
                }
                Ok(_) => None,
                Err(e) => Some(Err(backend(e))),
            })
            .collect()
    }

    fn delete_publisher_key(&self, key_sha256: &str) -> Result<bool, StoreError> {
        Ok(self
            .publisher_keys
            .remove(key_sha256)
            .map_err(backend)?
            .is_some())
    }

    fn publisher_for_key(&self, key_sha256: &str) -> Result<Option<PublisherRecord>, StoreError> {
        match self.publisher_keys.get(key_sha256).map_err(backend)? {
            Some(id) => self.publisher(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn audit_append(&self, make: &dyn Fn(u64) -> AuditRecord) -> Result<u64, StoreError> {
        // generate_id is monotonic across restarts; +1 so that `after = 0` means "from the start".
        let seq = self.db.generate_id().map_err(backend)? + 1;
        let json =
            serde_json::to_vec(&make(seq)).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.audit
            .insert(seq.to_be_bytes(), json)
            .map_err(backend)?;
        Ok(seq)
    }

    fn audit_scan(
        &self,
        after: u64,
        visit: &mut dyn FnMut(AuditRecord) -> bool,
    ) -> Result<(), StoreError> {
        for entry in self.audit.range((after + 1).to_be_bytes()..) {
            let (key, value) = entry.map_err(backend)?;
            let record = serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                key: format!("audit/{}", hex::encode(&key)),
                reason: e.to_string(),
            })?;
            if !visit(record) {
                break;
            }
        }
        Ok(())
    }

    fn intent_create(
        &self,
        intent: &IntentRecord,
        max_pending: usize,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        self.ledger_create(intent, max_pending)
    }

    fn intent(&self, id: &str) -> Result<Option<IntentRecord>, StoreError> {
        Self::get_json(&self.intents, id)
    }

    fn intents(&self) -> Result<Vec<IntentRecord>, StoreError> {
        let mut intents: Vec<IntentRecord> = Self::scan_json(self.intents.iter())?;
        intents.sort_by_key(|i| i.created_at);
        Ok(intents)
    }

    fn intent_step(
        &self,
        id: &str,
        once: Option<&str>,
        step: &StepFn,
    ) -> Result<Result<IntentRecord, LedgerRefusal>, StoreError> {
        self.ledger_step(id, once, step)
    }

    fn post(&self, postings: &[(String, i64)]) -> Result<Result<(), LedgerRefusal>, StoreError> {
        self.ledger_post(postings)
    }

    fn postings(&self) -> Result<Vec<Posting>, StoreError> {
        self.ledger_postings()
    }

    fn balances(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.ledger_balances()
    }

    fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        Self::scan_json(self.outbox.iter())
    }

    fn outbox_update(&self, key: &str, entry: Option<&OutboxEntry>) -> Result<(), StoreError> {
        match entry {
            Some(entry) => Self::put_json(&self.outbox, key, entry),
            None => {
                self.outbox.remove(key).map_err(backend)?;
                Ok(())
            }
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Open the store at `path`, waiting (bounded) for a store just dropped
    /// in this process to release sled's file lock.
    fn open_store(path: &std::path::Path) -> SledStore {
        for _ in 0..200 {
            if let Ok(store) = SledStore::open(path) {
                return store;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        SledStore::open(path).expect("the store opens")
    }

    const A: KvSpace<'static> = KvSpace::App("a");
    const B: KvSpace<'static> = KvSpace::App("b");
    const ROOMY: u64 = 1 << 20;

    #[test]
    fn kv_is_scoped_per_app_and_lists_in_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        for i in 0..5 {
            store
                .kv_set(A, &format!("k/{i}"), b"v", ROOMY)
                .unwrap()
                .unwrap();
        }
        store.kv_set(A, "other", b"v", ROOMY).unwrap().unwrap();
        store.kv_set(B, "k/0", b"b's", ROOMY).unwrap().unwrap();
        assert_eq!(store.kv_get(A, "k/0").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(
            store.kv_get(B, "k/0").unwrap().as_deref(),
            Some(&b"b's"[..])
        );
        assert_eq!(store.kv_get(B, "k/1").unwrap(), None);

        let page = store.kv_list(A, "k/", None, 2).unwrap();
        assert_eq!(page.keys, ["k/0", "k/1"]);
        let page = store.kv_list(A, "k/", page.next.as_deref(), 2).unwrap();
        assert_eq!(page.keys, ["k/2", "k/3"]);
        let page = store.kv_list(A, "k/", page.next.as_deref(), 2).unwrap();
        assert_eq!(
            (page.keys.as_slice(), page.next),
            (&["k/4".to_string()][..], None)
        );
        assert!(store.kv_delete(A, "k/4").unwrap());
        assert!(!store.kv_delete(A, "k/4").unwrap());
    }

    #[test]
    fn compare_and_swap_writes_only_over_what_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let lan = KvSpace::Citizen {
            app: "a",
            pairwise_id: "0a0a",
        };
        store.kv_set(lan, "draft", b"", 100).unwrap().unwrap();
        // Compare-and-swap writes only over what the caller last read.
        assert!(!store
            .kv_swap(lan, "draft", Some(b"stale"), b"x", 100)
            .unwrap()
            .unwrap());
        assert!(store
            .kv_swap(lan, "draft", Some(b""), b"x", 100)
            .unwrap()
            .unwrap());
        assert!(!store
            .kv_swap(lan, "draft", None, b"y", 100)
            .unwrap()
            .unwrap());
        assert!(store
            .kv_swap(lan, "fresh", None, b"y", 100)
            .unwrap()
            .unwrap());
        assert_eq!(
            store.kv_get(lan, "draft").unwrap().as_deref(),
            Some(&b"x"[..])
        );
        // "0a0a\0draft" + "x" and "0a0a\0fresh" + "y": 11 + 11 bytes.
        assert_eq!(store.kv_usage("a").unwrap(), 22);
        // A swap past the quota is refused like a set.
        assert!(store
            .kv_swap(lan, "big", None, &[0; 90], 100)
            .unwrap()
            .is_err());
    }

    #[test]
    fn citizen_spaces_are_disjoint_and_share_the_app_quota() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let lan = KvSpace::Citizen {
            app: "a",
            pairwise_id: "0a0a",
        };
        let minh = KvSpace::Citizen {
            app: "a",
            pairwise_id: "0b0b",
        };
        store.kv_set(lan, "draft", b"lan's", 100).unwrap().unwrap();
        assert_eq!(store.kv_get(minh, "draft").unwrap(), None);
        assert_eq!(store.kv_get(A, "draft").unwrap(), None);
        assert_eq!(
            store.kv_list(minh, "", None, 10).unwrap().keys,
            Vec::<String>::new()
        );
        assert_eq!(store.kv_list(lan, "", None, 10).unwrap().keys, ["draft"]);
        // "0a0a\0draft" + "lan's" = 10 + 5 bytes.
        assert_eq!(store.kv_usage("a").unwrap(), 15);

        let refused = store.kv_set(A, "big", &[0; 90], 100).unwrap().unwrap_err();
        assert_eq!(
            refused,
            QuotaExceeded {
                used: 15,
                quota: 100
            }
        );
        assert_eq!(
            store.kv_get(A, "big").unwrap(),
            None,
            "nothing half-written"
        );
        // Shrinking is always allowed, and deleting gives the bytes back.
        store.kv_set(lan, "draft", b"", 1).unwrap().unwrap();
        assert_eq!(store.kv_usage("a").unwrap(), 10);
        assert!(store.kv_delete(lan, "draft").unwrap());
        assert_eq!(store.kv_usage("a").unwrap(), 0);
    }

    #[test]
    fn consents_and_inbox_are_per_citizen() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let consent = ConsentRecord {
            app: "a".into(),
            scope: "identity.phone".into(),
            purpose: "to call you back".into(),
            granted_at: 1,
        };
        store.put_consent("c-lan", &consent).unwrap();
        assert_eq!(
            store.consent("c-lan", "a", "identity.phone").unwrap(),
            Some(consent.clone())
        );
        assert_eq!(store.consent("c-la", "a", "identity.phone").unwrap(), None);
        assert_eq!(store.consents("c-lan").unwrap(), vec![consent]);
        assert!(store.consents("c-la").unwrap().is_empty());
        assert!(store
            .delete_consent("c-lan", "a", "identity.phone")
            .unwrap());
        assert_eq!(store.consent("c-lan", "a", "identity.phone").unwrap(), None);

        for at in [10, 20, 30] {
            let message = InboxMessage {
                app: "a".into(),
                title: format!("t{at}"),
                body: String::new(),
                link: None,
                at,
            };
            store.inbox_append("c-lan", &message).unwrap();
        }
        let since: Vec<u64> = store
            .inbox_since("c-lan", 20)
            .unwrap()
            .iter()
            .map(|m| m.at)
            .collect();
        assert_eq!(since, [20, 30]);
        let latest: Vec<u64> = store
            .inbox_latest("c-lan", 2)
            .unwrap()
            .iter()
            .map(|m| m.at)
            .collect();
        assert_eq!(latest, [30, 20]);
        assert!(store.inbox_latest("c-minh", 10).unwrap().is_empty());
    }

    #[test]
    fn blobs_are_content_addressed_and_apps_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (app, version) = {
            let store = open_store(dir.path());
            let sha = hex::encode(Sha256::digest(b"component"));
            let app = AppRecord {
                id: "hello".into(),
                publisher: "citadel-samples".into(),
                live: Some("1.0.0".into()),
                ..AppRecord::default()
            };
            let version = VersionRecord {
                app: "hello".into(),
                version: "1.0.0".into(),
                publisher: "citadel-samples".into(),
                manifest: "id = \"hello\"".into(),
                component_sha256: sha,
                state: super::super::VersionState::Live,
                reason: None,
                uploaded_at: 1,
                changed_at: 1,
                changed_by: "host".into(),
            };
            store
                .commit_app(&app, std::slice::from_ref(&version), &[b"component"])
                .unwrap();
            store.flush().unwrap();
            (app, version)
        };
        let store = open_store(dir.path());
        assert_eq!(store.apps().unwrap(), vec![app.clone()]);
        assert_eq!(store.app("hello").unwrap(), Some(app));
        assert_eq!(store.versions("hello").unwrap(), vec![version.clone()]);
        assert!(store.versions("hell").unwrap().is_empty());
        assert_eq!(
            store.blob(&version.component_sha256).unwrap().as_deref(),
            Some(&b"component"[..])
        );
    }

    fn version(app: &str, version: &str, component: &[u8]) -> VersionRecord {
        VersionRecord {
            app: app.into(),
            version: version.into(),
            publisher: format!("{app}-publisher"),
            manifest: String::new(),
            component_sha256: hex::encode(Sha256::digest(component)),
            state: super::super::VersionState::InReview,
            reason: None,
            uploaded_at: 1,
            changed_at: 1,
            changed_by: "test".into(),
        }
    }

    fn app(id: &str) -> AppRecord {
        AppRecord {
            id: id.into(),
            publisher: format!("{id}-publisher"),
            ..AppRecord::default()
        }
    }

    #[test]
    fn a_blob_shared_across_apps_goes_only_with_its_last_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let shared: &[u8] = b"the same component bytes";
        let a1 = version("a", "1.0.0", shared);
        let sha = a1.component_sha256.clone();
        store.commit_app(&app("a"), &[a1], &[shared]).unwrap();
        // Publisher B uploads the very same bytes under its own app, twice.
        store
            .commit_app(&app("b"), &[version("b", "1.0.0", shared)], &[shared])
            .unwrap();
        store
            .commit_app(&app("b"), &[version("b", "1.1.0", shared)], &[])
            .unwrap();
        assert_eq!(store.blob_refs(&sha).unwrap(), 3);
        // A state change of a stored version takes no new reference.
        let mut approved = version("b", "1.1.0", shared);
        approved.state = super::super::VersionState::Approved;
        store.commit_app(&app("b"), &[approved], &[]).unwrap();
        assert_eq!(store.blob_refs(&sha).unwrap(), 3);

        // B prunes both of its versions: A's blob stays.
        assert_eq!(store.delete_version("b", "1.0.0").unwrap(), None);
        assert_eq!(store.delete_version("b", "1.1.0").unwrap(), None);
        assert_eq!(store.delete_version("b", "1.1.0").unwrap(), None, "gone");
        assert_eq!(store.blob_refs(&sha).unwrap(), 1);
        assert_eq!(store.blob(&sha).unwrap().as_deref(), Some(shared));
        // A's last version takes the blob with it.
        assert_eq!(
            store.delete_version("a", "1.0.0").unwrap(),
            Some(sha.clone())
        );
        assert_eq!(store.blob_refs(&sha).unwrap(), 0);
        assert_eq!(store.blob(&sha).unwrap(), None);
    }

    #[test]
    fn a_version_needs_its_blob_and_keeps_its_component() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let missing = store
            .commit_app(&app("a"), &[version("a", "1.0.0", b"never given")], &[])
            .unwrap_err();
        assert!(
            matches!(missing, StoreError::MissingBlob { .. }),
            "{missing}"
        );
        assert_eq!(store.app("a").unwrap(), None, "nothing half-written");
        assert!(store.versions("a").unwrap().is_empty());
        // Bytes that do not hash to the version's component do not count.
        let wrong = store
            .commit_app(&app("a"), &[version("a", "1.0.0", b"right")], &[b"wrong"])
            .unwrap_err();
        assert!(matches!(wrong, StoreError::MissingBlob { .. }), "{wrong}");
        assert_eq!(
            store.blob(&hex::encode(Sha256::digest(b"wrong"))).unwrap(),
            None
        );

        store
            .commit_app(&app("a"), &[version("a", "1.0.0", b"right")], &[b"right"])
            .unwrap();
        let changed = store
            .commit_app(&app("a"), &[version("a", "1.0.0", b"other")], &[b"other"])
            .unwrap_err();
        assert!(
            matches!(changed, StoreError::ComponentChanged { .. }),
            "{changed}"
        );
        let sha = hex::encode(Sha256::digest(b"right"));
        assert_eq!(store.blob_refs(&sha).unwrap(), 1);
    }

    #[test]
    fn blob_references_are_rebuilt_for_an_older_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let shared: &[u8] = b"shared";
        let sha = hex::encode(Sha256::digest(shared));
        {
            let store = open_store(dir.path());
            store
                .commit_app(&app("a"), &[version("a", "1.0.0", shared)], &[shared])
                .unwrap();
            store
                .commit_app(&app("b"), &[version("b", "1.0.0", shared)], &[])
                .unwrap();
            store
                .commit_app(&app("c"), &[version("c", "1.0.0", b"orphan")], &[b"orphan"])
                .unwrap();
            store.delete_version("c", "1.0.0").unwrap();
            store
                .blobs
                .insert("0badc0de", b"orphan".as_slice())
                .unwrap();
            // As written by a host that did not count references.
            store.db.drop_tree("blob-refs").unwrap();
            store.flush().unwrap();
        }
        let store = open_store(dir.path());
        assert_eq!(store.blob_refs(&sha).unwrap(), 2);
        assert_eq!(store.blob("0badc0de").unwrap(), None, "orphans are dropped");
        assert_eq!(store.delete_version("b", "1.0.0").unwrap(), None);
        assert_eq!(store.blob(&sha).unwrap().as_deref(), Some(shared));
    }

    fn intent(id: &str, citizen: &str, reference: &str) -> IntentRecord {
        IntentRecord {
            id: id.into(),
            app: "shop".into(),
            publisher: "shop-publisher".into(),
            citizen: citizen.into(),
            pairwise_id: format!("pw-{citizen}"),
            reference: reference.into(),
            amount: 10_000,
            description: "an order".into(),
            status: super::super::IntentStatus::Pending,
            created_at: 1,
            expires_at: u64::MAX,
            captured_at: None,
            method: None,
            fee: 0,
            refunded: 0,
            fee_refunded: 0,
            refunds: Vec::new(),
        }
    }

    #[test]
    fn references_are_per_citizen_and_pending_intents_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let created = |i: &IntentRecord| store.intent_create(i, 2).unwrap();
        let lan = created(&intent("pi_lan", "c-lan", "order-7")).unwrap();
        let minh = created(&intent("pi_minh", "c-minh", "order-7")).unwrap();
        assert_eq!((lan.id.as_str(), minh.id.as_str()), ("pi_lan", "pi_minh"));
        // A retry names the citizen's own intent.
        let again = created(&intent("pi_other", "c-minh", "order-7")).unwrap();
        assert_eq!(again.id, "pi_minh");

        created(&intent("pi_lan2", "c-lan", "order-8")).unwrap();
        assert_eq!(
            created(&intent("pi_lan3", "c-lan", "order-9")),
            Err(LedgerRefusal::TooManyPending(2))
        );
        assert_eq!(store.intent("pi_lan3").unwrap(), None);
        // An expired intent no longer counts; a decided one neither.
        let mut expired = intent("pi_old", "c-minh", "order-1");
        expired.expires_at = 1;
        created(&expired).unwrap();
        created(&intent("pi_minh2", "c-minh", "order-2")).unwrap();
        store
            .intent_step("pi_lan", None, &|i, _| {
                i.status = super::super::IntentStatus::Cancelled;
                Ok(super::super::LedgerStep::default())
            })
            .unwrap()
            .unwrap();
        created(&intent("pi_lan3", "c-lan", "order-9")).unwrap();
    }

    #[test]
    fn the_intent_index_is_rebuilt_for_an_older_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open_store(dir.path());
            store
                .intent_create(&intent("pi_lan", "c-lan", "order-7"), 1)
                .unwrap()
                .unwrap();
            // As written by a host that keyed intents by (app, reference).
            store.db.drop_tree("intent-keys").unwrap();
            store.db.drop_tree("pending-intents").unwrap();
            store.flush().unwrap();
        }
        let store = open_store(dir.path());
        let retried = store
            .intent_create(&intent("pi_new", "c-lan", "order-7"), 1)
            .unwrap();
        assert_eq!(retried.unwrap().id, "pi_lan");
        assert_eq!(
            store
                .intent_create(&intent("pi_new", "c-lan", "order-8"), 1)
                .unwrap(),
            Err(LedgerRefusal::TooManyPending(1))
        );
    }
}
