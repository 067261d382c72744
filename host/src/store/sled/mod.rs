//! The embedded default store: one sled database under the data dir, a tree
//! per record kind (`apps`, `blobs` with their `blob-refs` counts, `consents`,
//! …, and index trees beside them) and two trees per app for its kv data
//! (`kv/{app}` app-wide, `kvc/{app}` per citizen). One file per concern
//! implements its trait; `commit.rs` makes writes durable by group commit.

mod apps;
mod audit;
pub(crate) mod backup;
mod commit;
pub(crate) mod export;
mod identity;
mod kv;
mod ledger;
mod limits;

use super::{AppChange, IntentRecord, StoreError, Through, VersionRecord};
use commit::GroupCommit;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{broadcast, Notify};

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
    /// pairwise id ‖ NUL ‖ audit number → (): the records naming each
    /// pairwise id; under the empty key, the highest number indexed.
    audit_by_pairwise: sled::Tree,
    operators: sled::Tree,
    secrets: sled::Tree,
    sessions: sled::Tree,
    /// citizen ‖ NUL ‖ token hash → (): a citizen's sessions.
    sessions_by_citizen: sled::Tree,
    kv_usage: Arc<kv::KvUsage>,
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
    /// next_at ‖ key → (): the outbox by due time.
    outbox_due: sled::Tree,
    /// citizen ‖ NUL ‖ created_at ‖ id → (): payment history by citizen.
    citizen_intents: sled::Tree,
    frames: sled::Tree,
    /// citizen ‖ NUL ‖ issued ‖ token hash → (): a citizen's frame tokens, oldest first.
    frames_by_citizen: sled::Tree,
    locations: sled::Tree,
    /// citizen → when their unfinished erasure began (Unix ms, u64 BE).
    unfinished_erasures: sled::Tree,
    rate_limits: sled::Tree,
    commit: Arc<GroupCommit>,
    /// Serialises numbering and writing audit records.
    audit_order: Arc<std::sync::Mutex<()>>,
    changes: broadcast::Sender<AppChange>,
    outbox_added: Arc<Notify>,
    /// Held by opening a session and by erasing a citizen: an erasure reads
    /// the sessions it ends before its transaction, and no session may open
    /// in between (it would outlive the erasure).
    sessions_or_erasure: Arc<tokio::sync::Mutex<()>>,
    /// Held shared by a write made for a citizen through a session or an
    /// app's link, from its check that this is live to its change, and
    /// exclusively by whatever removes sessions or links: such a write lands
    /// wholly before they end, or not at all.
    access_ends: Arc<std::sync::RwLock<()>>,
    /// Every write holds this shared while it changes trees; a backup holds
    /// it exclusively while it reads them, so it sees each write whole or
    /// not at all.
    write_gate: Arc<tokio::sync::RwLock<()>>,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Bytes of sled's page cache: hot records stay in memory, the host's
/// resident size stays flat however long it runs.
const CACHE_BYTES: u64 = 64 << 20;

/// How the host opens a sled database in `dir`.
fn sled_config(dir: &Path) -> sled::Config {
    sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        // sled's default page cache is 1 GiB, which a busy host fills over
        // hours: the host's memory would creep up with its writes.
        .cache_capacity(CACHE_BYTES)
}

/// How long an open waits for a database this process just closed: sled
/// releases its file lock only when its last background write ends, a few
/// milliseconds after the `Db` is dropped.
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Open the database `config` names, waiting up to [`LOCK_RELEASE_WAIT`]
/// while its lock is still held; a lock held longer (another process on the
/// same data dir) is the error it was.
fn open_db(config: &sled::Config) -> Result<sled::Db, sled::Error> {
    let started = std::time::Instant::now();
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().starts_with("could not acquire lock")
                    && started.elapsed() < LOCK_RELEASE_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

impl SledStore {
    /// Open (or create) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = open_db(&sled_config(dir)).map_err(backend)?;
        let store = SledStore {
            apps: db.open_tree("app-rollouts").map_err(backend)?,
            versions: db.open_tree("versions").map_err(backend)?,
            blobs: db.open_tree("blobs").map_err(backend)?,
            blob_refs: db.open_tree("blob-refs").map_err(backend)?,
            audit: db.open_tree("audit").map_err(backend)?,
            audit_by_pairwise: db.open_tree("audit-by-pairwise").map_err(backend)?,
            operators: db.open_tree("operators").map_err(backend)?,
            secrets: db.open_tree("secrets").map_err(backend)?,
            sessions: db.open_tree("sessions").map_err(backend)?,
            sessions_by_citizen: db.open_tree("sessions-by-citizen").map_err(backend)?,
            kv_usage: Arc::default(),
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
            outbox_due: db.open_tree("outbox-due").map_err(backend)?,
            citizen_intents: db.open_tree("citizen-intents").map_err(backend)?,
            frames: db.open_tree("frames").map_err(backend)?,
            frames_by_citizen: db.open_tree("frames-by-citizen").map_err(backend)?,
            locations: db.open_tree("locations").map_err(backend)?,
            unfinished_erasures: db.open_tree("unfinished-erasures").map_err(backend)?,
            rate_limits: db.open_tree("rate-limits").map_err(backend)?,
            commit: Arc::new(GroupCommit::start(db.clone())?),
            audit_order: Arc::default(),
            changes: broadcast::channel(1024).0,
            outbox_added: Arc::new(Notify::new()),
            sessions_or_erasure: Arc::default(),
            access_ends: Arc::default(),
            write_gate: Arc::default(),
            db,
        };
        store.rebuild_blob_refs()?;
        store.give_app_grants_to_versions()?;
        store.rebuild_intent_index()?;
        store.rebuild_citizen_intents()?;
        store.rebuild_outbox_due()?;
        store.rebuild_sessions_by_citizen()?;
        store.index_audit_by_pairwise()?;
        // Older data dirs stored kv usage; it is derived from the data now.
        store.db.drop_tree("kv-usage").map_err(backend)?;
        Ok(store)
    }

    /// Leave to write: held by each write method from its first change to its
    /// durable answer. A write method never calls another (the lock is fair,
    /// so a nested read behind a waiting backup would wait for ever).
    async fn writing(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.write_gate.read().await
    }

    /// Hold what a write for `citizen` stands on live (see
    /// [`crate::store::Through`]): while the returned guard lives, no
    /// session ends and no link goes. `None` (the host's own writes) holds
    /// nothing.
    fn held(
        &self,
        citizen: &str,
        through: Option<Through<'_>>,
    ) -> Result<Option<std::sync::RwLockReadGuard<'_, ()>>, StoreError> {
        match through {
            None => Ok(None),
            Some(Through::Session(session)) => self.session_held(Some(session)),
            Some(Through::Link { app, pairwise_id }) => {
                let held = self.access_ends.read().unwrap_or_else(|p| p.into_inner());
                let linked = self
                    .pairwise
                    .get(composite(&[app, pairwise_id]))
                    .map_err(backend)?;
                if linked.as_deref() != Some(citizen.as_bytes()) {
                    return Err(StoreError::LinkEnded);
                }
                Ok(Some(held))
            }
        }
    }

    /// [`Self::held`] for a write made for a session (the sha256 of its
    /// token), whoever's it is.
    fn session_held(
        &self,
        session: Option<&str>,
    ) -> Result<Option<std::sync::RwLockReadGuard<'_, ()>>, StoreError> {
        let Some(session) = session else {
            return Ok(None);
        };
        let held = self.access_ends.read().unwrap_or_else(|p| p.into_inner());
        if !self.sessions.contains_key(session).map_err(backend)? {
            return Err(StoreError::SessionEnded);
        }
        Ok(Some(held))
    }

    /// Held while sessions or links are removed (see `access_ends`).
    fn ending_access(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.access_ends.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until every write made so far is durable (group commit).
    async fn durable(&self) -> Result<(), StoreError> {
        self.commit.durable().await
    }

    /// Announce a durable registry change to this host's caches.
    fn announce(&self, change: AppChange) {
        // No receiver is fine: nobody caches yet.
        let _ = self.changes.send(change);
    }

    /// A data dir written when grants were the app's, not each version's:
    /// every version that passed review without grants of its own takes its
    /// app's (what it could do then), and the app-wide records go. Run again
    /// after a crash, it changes nothing already given.
    fn give_app_grants_to_versions(&self) -> Result<(), StoreError> {
        const APP_GRANTS: &str = "grants";
        if !self
            .db
            .tree_names()
            .iter()
            .any(|n| n == APP_GRANTS.as_bytes())
        {
            return Ok(());
        }
        let app_grants = self.db.open_tree(APP_GRANTS).map_err(backend)?;
        for entry in app_grants.iter() {
            let (app, grants) = entry.map_err(backend)?;
            let grants: crate::store::GrantRecord = Self::json(&app, &grants)?;
            let prefix = composite(&[&String::from_utf8_lossy(&app), ""]);
            for entry in self.versions.scan_prefix(prefix) {
                let (key, version) = entry.map_err(backend)?;
                let mut version: VersionRecord = Self::json(&key, &version)?;
                if version.grants.is_none() && version.state.passed_review() {
                    version.grants = Some(grants.clone());
                    self.versions
                        .insert(key, to_json(&version)?)
                        .map_err(backend)?;
                }
            }
        }
        self.db.flush().map_err(backend)?;
        self.db.drop_tree(APP_GRANTS).map_err(backend)?;
        self.db.flush().map_err(backend)?;
        tracing::info!("grants moved from apps to their versions");
        Ok(())
    }

    /// A data dir written before payment history was indexed by citizen.
    fn rebuild_citizen_intents(&self) -> Result<(), StoreError> {
        self.rebuild_index(
            &self.citizen_intents,
            &self.intents,
            |intent: IntentRecord| {
                citizen_intent_key(&intent.citizen, intent.created_at, &intent.id)
            },
        )
    }

    /// A data dir written before the outbox was indexed by due time.
    fn rebuild_outbox_due(&self) -> Result<(), StoreError> {
        self.rebuild_index(
            &self.outbox_due,
            &self.outbox,
            |entry: super::OutboxEntry| outbox_due_key(entry.next_at, &entry.key),
        )
    }

    /// Fill an empty `index` with `key_of` each record of a non-empty
    /// `source` (an index a newer version added to an older data dir).
    fn rebuild_index<T: serde::de::DeserializeOwned>(
        &self,
        index: &sled::Tree,
        source: &sled::Tree,
        key_of: impl Fn(T) -> Vec<u8>,
    ) -> Result<(), StoreError> {
        if !index.is_empty() || source.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for record in Self::scan_json::<T>(source.iter())? {
            batch.insert(key_of(record), &[]);
        }
        index.apply_batch(batch).map_err(backend)?;
        self.db.flush().map_err(backend)?;
        Ok(())
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

    /// Every (key, record) of a tree whose keys are text.
    fn scan_pairs<T: serde::de::DeserializeOwned>(
        entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    ) -> Result<Vec<(String, T)>, StoreError> {
        entries
            .map(|entry| {
                let (key, value) = entry.map_err(backend)?;
                Ok((
                    String::from_utf8_lossy(&key).into_owned(),
                    Self::json(&key, &value)?,
                ))
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl super::Health for SledStore {
    fn backend(&self) -> super::Backend {
        super::Backend::Sled
    }

    /// The database is in this process: open means it answers.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// citizen ‖ NUL ‖ created_at ‖ id: a citizen's intents in time order.
fn citizen_intent_key(citizen: &str, created_at: u64, id: &str) -> Vec<u8> {
    let mut key = composite(&[citizen, ""]);
    key.extend_from_slice(&created_at.to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// next_at ‖ key: the outbox in due order.
fn outbox_due_key(next_at: u64, key: &str) -> Vec<u8> {
    let mut full = next_at.to_be_bytes().to_vec();
    full.extend_from_slice(key.as_bytes());
    full
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{app, intent, version};
    use crate::store::{
        AppStore, AuditFilter, AuditFrom, AuditRecord, AuditStore, GrantRecord, IntentStatus,
        KvSpace, KvStore, Ledger, LedgerRefusal, LedgerStep, OutboxEntry, QuotaExceeded, Store,
        VersionState,
    };
    use sha2::{Digest, Sha256};
    use std::time::Duration;

    // The whole backend-independent suite, on a fresh sled store per test.
    crate::store_conformance!(async {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = Store::sled(dir.path()).expect("the store opens");
        (dir, store)
    });

    /// Open the store at `path`, waiting (up to ~2 s) for a store just
    /// dropped in this process to release sled's file lock: its flusher
    /// thread holds a `Db` clone until it notices the drop.
    async fn open_store(path: &Path) -> SledStore {
        for _ in 0..200 {
            if let Ok(store) = SledStore::open(path) {
                return store;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        SledStore::open(path).expect("the store opens")
    }

    #[test]
    fn a_database_reopens_as_soon_as_it_is_closed_and_stays_locked_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        for round in 0..20u64 {
            let db = open_db(&sled_config(&path)).unwrap();
            db.insert(round.to_be_bytes(), vec![1u8; 4096]).unwrap();
            db.flush().unwrap();
        }
        let held = open_db(&sled_config(&path)).unwrap();
        let second = open_db(&sled_config(&path)).expect_err("one process at a time");
        assert!(
            second.to_string().contains("could not acquire lock"),
            "{second}"
        );
        assert_eq!(held.len(), 20);
    }

    #[tokio::test]
    async fn what_was_written_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let component: &[u8] = b"component";
        let mut hello = app("hello");
        hello.live = Some("1.0.0".into());
        let mut live = version("hello", "1.0.0", component);
        live.state = VersionState::Live;
        let lan = KvSpace::Citizen {
            app: "hello",
            pairwise_id: "0a0a",
        };
        let audit_seq = {
            let store = open_store(dir.path()).await;
            store
                .commit_app(&hello, std::slice::from_ref(&live), &[component])
                .await
                .unwrap();
            KvStore::set(&store, lan, "draft", b"lan's", 100)
                .await
                .unwrap()
                .unwrap();
            store
                .create_intent(&intent("pi_lan", "c-lan", "order-7"), 5)
                .await
                .unwrap()
                .unwrap();
            store
                .append(AuditRecord {
                    seq: 0,
                    at: 1,
                    kind: "grant".into(),
                    actor: "operator:ops".into(),
                    app: Some("hello".into()),
                    version: None,
                    capability: None,
                    pairwise_id: None,
                    request_id: None,
                    detail: String::new(),
                    message: None,
                })
                .await
                .unwrap()
            // Dropped without a flush: every write was durable on return.
        };
        let store = open_store(dir.path()).await;
        assert_eq!(store.apps().await.unwrap(), vec![hello.clone()]);
        assert_eq!(store.app("hello").await.unwrap(), Some(hello));
        assert_eq!(store.versions("hello").await.unwrap(), vec![live.clone()]);
        assert!(store.versions("hell").await.unwrap().is_empty());
        assert_eq!(
            store.blob(&live.component_sha256).await.unwrap().as_deref(),
            Some(component)
        );
        assert_eq!(store.blob_refs(&live.component_sha256).await.unwrap(), 1);
        assert_eq!(
            KvStore::get(&store, lan, "draft").await.unwrap().as_deref(),
            Some(&b"lan's"[..])
        );
        assert_eq!(store.usage("hello").await.unwrap(), 15);
        assert_eq!(
            store.intent("pi_lan").await.unwrap(),
            Some(intent("pi_lan", "c-lan", "order-7"))
        );
        let (records, _) = store
            .page(&AuditFilter::default(), AuditFrom::After(0), 10)
            .await
            .unwrap();
        assert_eq!(
            records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [audit_seq]
        );
        // Sequence numbers keep increasing across restarts.
        let next = store
            .append(AuditRecord {
                seq: 0,
                at: 2,
                kind: "grant".into(),
                actor: "host".into(),
                app: None,
                version: None,
                capability: None,
                pairwise_id: None,
                request_id: None,
                detail: String::new(),
                message: None,
            })
            .await
            .unwrap();
        assert!(next > audit_seq);
    }

    #[tokio::test]
    async fn kv_usage_is_counted_from_the_data_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let citizen = KvSpace::Citizen {
            app: "notes",
            pairwise_id: "p1",
        };
        {
            let store = open_store(dir.path()).await;
            store
                .set(KvSpace::App("notes"), "a", b"12345", 1 << 20)
                .await
                .unwrap()
                .unwrap();
            store
                .set(citizen, "b", b"xy", 1 << 20)
                .await
                .unwrap()
                .unwrap();
            store
                .set(KvSpace::App("other"), "c", b"zzzz", 1 << 20)
                .await
                .unwrap()
                .unwrap();
            // As an older host left it: a stored usage that may be stale.
            store
                .db
                .open_tree("kv-usage")
                .unwrap()
                .insert("notes", &999u64.to_be_bytes())
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = open_store(dir.path()).await;
        assert_eq!(store.usage("notes").await.unwrap(), 1 + 5 + 3 + 1 + 2);
        assert_eq!(store.usage("other").await.unwrap(), 1 + 4);
        assert!(!store.db.tree_names().iter().any(|n| n == b"kv-usage"));
        let refused = store
            .set(citizen, "big", &[0; 32], 1 + 5 + 3 + 1 + 2 + 10)
            .await
            .unwrap();
        assert_eq!(
            refused,
            Err(QuotaExceeded {
                used: 12,
                quota: 22
            })
        );
    }

    #[tokio::test]
    async fn blob_references_are_rebuilt_for_an_older_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let shared: &[u8] = b"shared";
        let sha = hex::encode(Sha256::digest(shared));
        {
            let store = open_store(dir.path()).await;
            store
                .commit_app(&app("a"), &[version("a", "1.0.0", shared)], &[shared])
                .await
                .unwrap();
            store
                .commit_app(&app("b"), &[version("b", "1.0.0", shared)], &[])
                .await
                .unwrap();
            store
                .commit_app(&app("c"), &[version("c", "1.0.0", b"orphan")], &[b"orphan"])
                .await
                .unwrap();
            store.delete_version("c", "1.0.0").await.unwrap();
            store
                .blobs
                .insert("0badc0de", b"orphan".as_slice())
                .unwrap();
            // As written by a host that did not count references.
            store.db.drop_tree("blob-refs").unwrap();
            store.db.flush().unwrap();
        }
        let store = open_store(dir.path()).await;
        assert_eq!(store.blob_refs(&sha).await.unwrap(), 2);
        assert_eq!(
            store.blob("0badc0de").await.unwrap(),
            None,
            "orphans are dropped"
        );
        assert_eq!(store.delete_version("b", "1.0.0").await.unwrap(), None);
        assert_eq!(store.blob(&sha).await.unwrap().as_deref(), Some(shared));
        assert_eq!(
            store.delete_version("a", "1.0.0").await.unwrap(),
            Some(sha.clone())
        );
        assert_eq!(store.blob(&sha).await.unwrap(), None);
    }

    #[tokio::test]
    async fn app_grants_of_an_older_data_dir_go_to_the_versions_that_passed_review() {
        let dir = tempfile::tempdir().unwrap();
        let app_grants = GrantRecord {
            capabilities: vec!["kv".into(), "geo".into()],
            by: "operator:ops".into(),
            at: 7,
        };
        let own = GrantRecord {
            capabilities: vec![],
            by: "operator:lead".into(),
            at: 8,
        };
        {
            let store = open_store(dir.path()).await;
            let mut live = version("a", "1.0.0", b"a");
            live.state = VersionState::Live;
            let mut retired = version("a", "0.9.0", b"a");
            retired.state = VersionState::Retired;
            let in_review = version("a", "1.1.0", b"a");
            let mut has_its_own = version("a", "0.8.0", b"a");
            has_its_own.state = VersionState::Retired;
            has_its_own.grants = Some(own.clone());
            store
                .commit_app(&app("a"), &[live, retired, in_review, has_its_own], &[b"a"])
                .await
                .unwrap();
            let mut other = version("b", "1.0.0", b"b");
            other.state = VersionState::Approved;
            store
                .commit_app(&app("b"), &[other], &[b"b"])
                .await
                .unwrap();
            // As an older host left it: grants per app.
            let grants = store.db.open_tree("grants").unwrap();
            grants
                .insert("a", serde_json::to_vec(&app_grants).unwrap())
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = open_store(dir.path()).await;
        let grants_of = |versions: Vec<VersionRecord>| -> Vec<(String, Option<GrantRecord>)> {
            let mut pairs: Vec<_> = versions
                .into_iter()
                .map(|v| (v.version, v.grants))
                .collect();
            pairs.sort_by(|x, y| x.0.cmp(&y.0));
            pairs
        };
        assert_eq!(
            grants_of(store.versions("a").await.unwrap()),
            [
                ("0.8.0".to_string(), Some(own)),
                ("0.9.0".to_string(), Some(app_grants.clone())),
                ("1.0.0".to_string(), Some(app_grants)),
                ("1.1.0".to_string(), None),
            ]
        );
        assert_eq!(
            grants_of(store.versions("b").await.unwrap()),
            [("1.0.0".to_string(), None)],
            "an app without grants gives none"
        );
        assert!(!store.db.tree_names().iter().any(|n| n == b"grants"));
    }

    #[tokio::test]
    async fn the_intent_index_is_rebuilt_for_an_older_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open_store(dir.path()).await;
            store
                .create_intent(&intent("pi_lan", "c-lan", "order-7"), 1)
                .await
                .unwrap()
                .unwrap();
            let mut decided = intent("pi_done", "c-lan", "order-1");
            decided.status = IntentStatus::Captured;
            store.create_intent(&decided, 5).await.unwrap().unwrap();
            // As written by a host that keyed intents by (app, reference).
            store.db.drop_tree("intent-keys").unwrap();
            store.db.drop_tree("pending-intents").unwrap();
            store.db.flush().unwrap();
        }
        let store = open_store(dir.path()).await;
        let retried = store
            .create_intent(&intent("pi_new", "c-lan", "order-7"), 1)
            .await
            .unwrap();
        assert_eq!(retried.unwrap().id, "pi_lan");
        let retried = store
            .create_intent(&intent("pi_new", "c-lan", "order-1"), 1)
            .await
            .unwrap();
        assert_eq!(retried.unwrap().id, "pi_done");
        // Only the pending intent counts toward the bound.
        assert_eq!(
            store
                .create_intent(&intent("pi_new", "c-lan", "order-8"), 1)
                .await
                .unwrap(),
            Err(LedgerRefusal::TooManyPending(1))
        );
        store
            .create_intent(&intent("pi_new", "c-lan", "order-8"), 2)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn history_and_outbox_indexes_are_rebuilt_for_an_older_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let entry = |key: &str, next_at: u64| OutboxEntry {
            key: key.into(),
            intent: "pi_1".into(),
            app: "shop".into(),
            attempts: 1,
            next_at,
            refund: None,
        };
        let queued = {
            let store = open_store(dir.path()).await;
            for (id, citizen, created_at) in [
                ("pi_1", "c-lan", 10),
                ("pi_2", "c-minh", 20),
                ("pi_3", "c-lan", 30),
                ("pi_4", "c-lan", 20),
            ] {
                let mut record = intent(id, citizen, id);
                record.created_at = created_at;
                store.create_intent(&record, 10).await.unwrap().unwrap();
            }
            let queued = store
                .step("pi_1", None, &|intent, _| {
                    intent.status = IntentStatus::Cancelled;
                    Ok(LedgerStep {
                        postings: Vec::new(),
                        notify_app: true,
                        provider_refund: None,
                    })
                })
                .await
                .unwrap()
                .unwrap();
            store
                .outbox_update("e-100", Some(&entry("e-100", 100)))
                .await
                .unwrap();
            store
                .outbox_update("e-50", Some(&entry("e-50", 50)))
                .await
                .unwrap();
            // As written by a host that indexed neither.
            store.citizen_intents.clear().unwrap();
            store.outbox_due.clear().unwrap();
            store.db.flush().unwrap();
            queued
        };
        let store = open_store(dir.path()).await;
        let history: Vec<String> = store
            .citizen_intents("c-lan", None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(history, ["pi_3", "pi_4", "pi_1"]);
        let minh = store.citizen_intents("c-minh", None, 10).await.unwrap();
        assert_eq!(minh.len(), 1);
        assert_eq!(minh[0].id, "pi_2");
        assert_eq!(queued.status, IntentStatus::Cancelled);

        let due: Vec<String> = store
            .outbox_due(1_000, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(due, ["e-50", "e-100"]);
        assert_eq!(store.outbox_next_due().await.unwrap(), Some(50));
        let all = store.outbox().await.unwrap();
        assert_eq!(all.len(), 3, "the step's event is indexed too");
        assert_eq!(all[2].intent, "pi_1");
        // The rebuilt index moves with the entries.
        store.outbox_update("e-50", None).await.unwrap();
        assert_eq!(store.outbox_next_due().await.unwrap(), Some(100));
    }

    #[tokio::test]
    async fn the_audit_index_catches_up_with_records_it_misses() {
        use crate::store::conformance::audit_record;
        use crate::store::AuditStore;
        let dir = tempfile::tempdir().unwrap();
        let naming = |pairwise_id: &str| {
            let mut record = audit_record("consent", Some("a"), None);
            record.pairwise_id = Some(pairwise_id.into());
            record
        };
        let mut lans = Vec::new();
        {
            let store = open_store(dir.path()).await;
            for pairwise_id in ["pw-lan", "pw-minh", "pw-lan"] {
                let mut record = naming(pairwise_id);
                record.seq = store.append(record.clone()).await.unwrap();
                if pairwise_id == "pw-lan" {
                    lans.push(record);
                }
            }
            // An older host appends one more, and indexes nothing.
            let mut unindexed = naming("pw-lan");
            unindexed.seq = lans[1].seq + 1;
            store
                .audit
                .insert(unindexed.seq.to_be_bytes(), to_json(&unindexed).unwrap())
                .unwrap();
            lans.push(unindexed);
            store.db.flush().unwrap();
        }
        lans.reverse();
        let lan = ["pw-lan".to_string()];
        let store = open_store(dir.path()).await;
        assert_eq!(store.naming(&lan, 10).await.unwrap(), lans);
        assert_eq!(store.naming(&lan, 2).await.unwrap(), lans[..2]);
        // A data dir from before the index: all of it is indexed at open.
        store.audit_by_pairwise.clear().unwrap();
        store.db.flush().unwrap();
        drop(store);
        let store = open_store(dir.path()).await;
        assert_eq!(store.naming(&lan, 10).await.unwrap(), lans);
        let minh = store.naming(&["pw-minh".to_string()], 10).await.unwrap();
        assert_eq!(minh.len(), 1);
    }

    #[tokio::test]
    async fn the_session_index_is_rebuilt_when_it_misses_sessions() {
        use crate::store::{IdentityStore, SessionRecord};
        let dir = tempfile::tempdir().unwrap();
        let session = |citizen: &str| SessionRecord {
            citizen_id: citizen.into(),
            created: 1,
            expires: u64::MAX / 2,
            profile: None,
        };
        {
            let store = open_store(dir.path()).await;
            store
                .put_session("h-phone", &session("c-lan"))
                .await
                .unwrap();
            // As written by a host that indexed no session.
            store.sessions_by_citizen.clear().unwrap();
            SledStore::put_json(&store.sessions, "h-laptop", &session("c-lan")).unwrap();
            SledStore::put_json(&store.sessions, "h-other", &session("c-lan2")).unwrap();
            store.db.flush().unwrap();
        }
        let store = open_store(dir.path()).await;
        assert_eq!(store.sessions_of("c-lan").await.unwrap().len(), 2);
        let ended = store.end_sessions_of("c-lan").await.unwrap();
        assert_eq!(ended.sessions, 2);
        assert!(store.sessions_of("c-lan").await.unwrap().is_empty());
        assert_eq!(store.session("h-phone").await.unwrap(), None);
        assert_eq!(store.session("h-laptop").await.unwrap(), None);
        assert_eq!(
            store.session("h-other").await.unwrap(),
            Some(session("c-lan2"))
        );
        assert_eq!(
            store.sessions_by_citizen.len(),
            1,
            "only c-lan2's entry is left"
        );
        assert!(store.delete_session("h-other").await.unwrap());
        assert!(store.sessions_by_citizen.is_empty());
        // A swept session takes its entry with it.
        let expired = SessionRecord {
            expires: 5,
            ..session("c-minh")
        };
        store.put_session("h-old", &expired).await.unwrap();
        assert_eq!(store.sessions_by_citizen.len(), 1);
        assert_eq!(store.sweep_expired(10, 0).await.unwrap(), 1);
        assert!(store.sessions_by_citizen.is_empty());
    }
}
