//! sled's [`AppStore`]: apps, versions (with their grants) and blob reference
//! counts change in one multi-tree transaction; publishers and keys are
//! single records.

use super::{abort_with, backend, composite, corrupt, ref_count, settle, to_json, SledStore};
use crate::store::{
    AppChange, AppRecord, AppSnapshot, AppStore, PublisherChange, PublisherRecord, Refused,
    StoreError, VersionRecord,
};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use std::collections::HashMap;

/// The record under `key` in a tree of a transaction, decoded.
fn record_in<T: serde::de::DeserializeOwned>(
    tree: &TransactionalTree,
    key: &[u8],
) -> Result<Option<T>, ConflictableTransactionError<StoreError>> {
    match tree.get(key)? {
        Some(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).map_err(|e| corrupt(key, e))?,
        )),
        None => Ok(None),
    }
}

impl SledStore {
    /// One transaction: refused with `ChangedMeanwhile` when `read` is given
    /// and what it writes no longer stands as `read` has it.
    fn commit_app_now(
        &self,
        read: Option<&AppSnapshot>,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError> {
        let changed = || {
            abort_with(StoreError::ChangedMeanwhile {
                app: app.id.clone(),
            })
        };
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
                if let Some(read) = read {
                    if record_in::<AppRecord>(apps, app.id.as_bytes())? != read.app {
                        return Err(changed());
                    }
                }
                apps.insert(app.id.as_bytes(), app_json.as_slice())?;
                for (key, value, version) in &version_rows {
                    let sha256 = version.component_sha256.as_str();
                    let old: Option<VersionRecord> = record_in(stored, key)?;
                    if read.is_some_and(|read| {
                        old.as_ref() != read.version(&version.app, &version.version)
                    }) {
                        return Err(changed());
                    }
                    if let Some(old) = old {
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

    /// One transaction: refused with `ChangedMeanwhile` when `read` is given
    /// and the app's record or the version no longer stands as `read` has it.
    fn delete_version_now(
        &self,
        read: Option<&AppSnapshot>,
        app: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = composite(&[app, version]);
        let outcome = (&self.apps, &self.versions, &self.blobs, &self.blob_refs).transaction(
            |(apps, stored, blobs, refs)| {
                if let Some(read) = read {
                    let now_app: Option<AppRecord> = record_in(apps, app.as_bytes())?;
                    let now_version: Option<VersionRecord> = record_in(stored, &key)?;
                    if now_app != read.app || now_version.as_ref() != read.version(app, version) {
                        return Err(abort_with(StoreError::ChangedMeanwhile {
                            app: app.to_string(),
                        }));
                    }
                }
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
            },
        );
        settle(outcome)
    }
}

#[async_trait]
impl AppStore for SledStore {
    async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .blobs
            .get(sha256.as_bytes())
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    async fn blob_refs(&self, sha256: &str) -> Result<u64, StoreError> {
        Ok(self
            .blob_refs
            .get(sha256.as_bytes())
            .map_err(backend)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    async fn commit_app(
        &self,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        self.commit_app_now(None, app, versions, components)?;
        self.durable().await?;
        self.announce(AppChange::App(app.id.clone()));
        Ok(())
    }

    async fn commit_app_over(
        &self,
        read: &AppSnapshot,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        self.commit_app_now(Some(read), app, versions, components)?;
        self.durable().await?;
        self.announce(AppChange::App(app.id.clone()));
        Ok(())
    }

    async fn apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        Self::scan_json(self.apps.iter())
    }

    async fn app(&self, id: &str) -> Result<Option<AppRecord>, StoreError> {
        Self::get_json(&self.apps, id)
    }

    async fn versions(&self, app: &str) -> Result<Vec<VersionRecord>, StoreError> {
        Self::scan_json(self.versions.scan_prefix(composite(&[app, ""])))
    }

    async fn delete_version(&self, app: &str, version: &str) -> Result<Option<String>, StoreError> {
        let _writing = self.writing().await;
        let gone = self.delete_version_now(None, app, version)?;
        self.durable().await?;
        self.announce(AppChange::App(app.to_string()));
        Ok(gone)
    }

    async fn delete_version_over(
        &self,
        read: &AppSnapshot,
        app: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        let _writing = self.writing().await;
        let gone = self.delete_version_now(Some(read), app, version)?;
        self.durable().await?;
        self.announce(AppChange::App(app.to_string()));
        Ok(gone)
    }

    async fn change_publisher(
        &self,
        id: &str,
        change: &PublisherChange<'_>,
    ) -> Result<Result<PublisherRecord, Refused>, StoreError> {
        let _writing = self.writing().await;
        let changed = loop {
            let raw = self.publishers.get(id.as_bytes()).map_err(backend)?;
            let current = raw
                .as_deref()
                .map(|bytes| Self::json(id.as_bytes(), bytes))
                .transpose()?;
            let record = match change(current) {
                Ok(record) => record,
                Err(refused) => return Ok(Err(refused)),
            };
            let swapped = self
                .publishers
                .compare_and_swap(id.as_bytes(), raw, Some(to_json(&record)?))
                .map_err(backend)?;
            if swapped.is_ok() {
                break record;
            }
        };
        self.durable().await?;
        self.announce(AppChange::Publisher(id.to_string()));
        Ok(Ok(changed))
    }

    async fn publisher(&self, id: &str) -> Result<Option<PublisherRecord>, StoreError> {
        Self::get_json(&self.publishers, id)
    }

    async fn publishers(&self) -> Result<Vec<PublisherRecord>, StoreError> {
        Self::scan_json(self.publishers.iter())
    }

    async fn put_publisher_key(&self, key_sha256: &str, publisher: &str) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        self.publisher_keys
            .insert(key_sha256, publisher.as_bytes())
            .map_err(backend)?;
        self.durable().await?;
        self.announce(AppChange::Publisher(publisher.to_string()));
        Ok(())
    }

    async fn publisher_keys(&self, publisher: &str) -> Result<Vec<String>, StoreError> {
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

    async fn delete_publisher_key(&self, key_sha256: &str) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        let owner = self.publisher_keys.remove(key_sha256).map_err(backend)?;
        self.durable().await?;
        if let Some(owner) = &owner {
            self.announce(AppChange::Publisher(
                String::from_utf8_lossy(owner).into_owned(),
            ));
        }
        Ok(owner.is_some())
    }

    async fn publisher_for_key(
        &self,
        key_sha256: &str,
    ) -> Result<Option<PublisherRecord>, StoreError> {
        match self.publisher_keys.get(key_sha256).map_err(backend)? {
            Some(id) => Self::get_json(&self.publishers, &String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    fn changes(&self) -> tokio::sync::broadcast::Receiver<AppChange> {
        self.changes.subscribe()
    }
}
