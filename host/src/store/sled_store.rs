//! The embedded default store: one sled database under the data dir, a tree
//! per concern (`apps`, `blobs`) and one tree per app for its kv data.

use super::{AppRecord, GrantRecord, KeyPage, OperatorRecord, SessionRecord, Store, StoreError};
use crate::audit::AuditRecord;
use sha2::{Digest, Sha256};
use std::ops::Bound;
use std::path::Path;

/// sled-backed [`Store`].
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    apps: sled::Tree,
    blobs: sled::Tree,
    audit: sled::Tree,
    grants: sled::Tree,
    operators: sled::Tree,
    secrets: sled::Tree,
    sessions: sled::Tree,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledStore {
    /// Open (or create) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(backend)?;
        Ok(SledStore {
            apps: db.open_tree("apps").map_err(backend)?,
            blobs: db.open_tree("blobs").map_err(backend)?,
            audit: db.open_tree("audit").map_err(backend)?,
            grants: db.open_tree("grants").map_err(backend)?,
            operators: db.open_tree("operators").map_err(backend)?,
            secrets: db.open_tree("secrets").map_err(backend)?,
            sessions: db.open_tree("sessions").map_err(backend)?,
            db,
        })
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

    fn kv_tree(&self, app: &str) -> Result<sled::Tree, StoreError> {
        // Each app has its own tree: no key an app can name reaches another app's data.
        self.db.open_tree(format!("kv/{app}")).map_err(backend)
    }
}

impl Store for SledStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let digest = hex::encode(Sha256::digest(bytes));
        self.blobs
            .insert(digest.as_bytes(), bytes)
            .map_err(backend)?;
        Ok(digest)
    }

    fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .blobs
            .get(sha256.as_bytes())
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn put_app(&self, record: &AppRecord) -> Result<(), StoreError> {
        Self::put_json(&self.apps, &record.id, record)
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
        self.apps
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(backend)?;
                serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    fn kv_get(&self, app: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .kv_tree(app)?
            .get(key.as_bytes())
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn kv_set(&self, app: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.kv_tree(app)?
            .insert(key.as_bytes(), value)
            .map_err(backend)?;
        Ok(())
    }

    fn kv_delete(&self, app: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .kv_tree(app)?
            .remove(key.as_bytes())
            .map_err(backend)?
            .is_some())
    }

    fn kv_list(
        &self,
        app: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, StoreError> {
        let tree = self.kv_tree(app)?;
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after.as_bytes().to_vec()),
            _ => Bound::Included(prefix.as_bytes().to_vec()),
        };
        let mut keys = Vec::new();
        let mut more = false;
        for entry in tree.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            let (key, _) = entry.map_err(backend)?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            if keys.len() == limit {
                more = true;
                break;
            }
            keys.push(String::from_utf8_lossy(&key).into_owned());
        }
        let next = if more { keys.last().cloned() } else { None };
        Ok(KeyPage { keys, next })
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

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_is_scoped_per_app_and_lists_in_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        for i in 0..5 {
            store.kv_set("a", &format!("k/{i}"), b"v").unwrap();
        }
        store.kv_set("a", "other", b"v").unwrap();
        store.kv_set("b", "k/0", b"b's").unwrap();
        assert_eq!(
            store.kv_get("a", "k/0").unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(
            store.kv_get("b", "k/0").unwrap().as_deref(),
            Some(&b"b's"[..])
        );
        assert_eq!(store.kv_get("b", "k/1").unwrap(), None);

        let page = store.kv_list("a", "k/", None, 2).unwrap();
        assert_eq!(page.keys, ["k/0", "k/1"]);
        let page = store.kv_list("a", "k/", page.next.as_deref(), 2).unwrap();
        assert_eq!(page.keys, ["k/2", "k/3"]);
        let page = store.kv_list("a", "k/", page.next.as_deref(), 2).unwrap();
        assert_eq!(
            (page.keys.as_slice(), page.next),
            (&["k/4".to_string()][..], None)
        );
        assert!(store.kv_delete("a", "k/4").unwrap());
        assert!(!store.kv_delete("a", "k/4").unwrap());
    }

    #[test]
    fn blobs_are_content_addressed_and_apps_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let record = {
            let store = SledStore::open(dir.path()).unwrap();
            let sha = store.put_blob(b"component").unwrap();
            assert_eq!(sha, hex::encode(Sha256::digest(b"component")));
            let record = AppRecord {
                id: "hello".into(),
                manifest: "id = \"hello\"".into(),
                component_sha256: sha,
                installed_at: 1,
            };
            store.put_app(&record).unwrap();
            store.flush().unwrap();
            record
        };
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.apps().unwrap(), vec![record.clone()]);
        assert_eq!(
            store.blob(&record.component_sha256).unwrap().as_deref(),
            Some(&b"component"[..])
        );
    }
}
