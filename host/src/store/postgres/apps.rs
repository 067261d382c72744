//! PostgreSQL's [`AppStore`] (tables in `migrations/0001_registry.sql`): a
//! commit locks its app, checks every version, then writes the app, versions
//! and blob references and announces the change, all in one transaction.

use super::{backend, from_db, from_json, json, PgStore};
use crate::store::{
    AppChange, AppRecord, AppSnapshot, AppStore, PublisherChange, PublisherRecord, Refused,
    StoreError, VersionRecord,
};
use async_trait::async_trait;
use futures::FutureExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Postgres};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What [`AppStore::commit_app`] writes, owned so each attempt of its
/// transaction can read it.
struct Commit {
    /// What the step read, when what it writes must still stand as read.
    read: Option<AppSnapshot>,
    app: AppRecord,
    versions: Vec<VersionRecord>,
    /// The given component bytes by the store's own sha256 of them.
    components: HashMap<String, Vec<u8>>,
}

/// What a commit does with one of its versions, decided before it writes.
enum VersionWrite<'a> {
    /// Stored with the same component: its record is rewritten.
    Rewrite,
    /// New to the store: inserted with one more reference on its blob,
    /// storing `bytes` when no version held the blob yet.
    Add { bytes: Option<&'a [u8]> },
}

/// Hold `app`'s lock until the transaction ends: writers of one app's
/// versions (on any host) take turns, so what a commit checks stays true.
async fn lock_app(conn: &mut PgConnection, app: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('citadel.apps'), hashtext($1))")
        .bind(app)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records read as `(key, record)` rows, decoded; `table` names them in
/// corruption reports.
fn decode_rows<T: serde::de::DeserializeOwned>(
    table: &str,
    rows: Vec<(String, Value)>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter()
        .map(|(key, record)| from_json(&format!("{table}/{key}"), record))
        .collect()
}

/// `Ok` when app `id`'s record and its `versions` (app, version) are
/// stored as `read` has them (read under the app's lock, so they stay so
/// until the transaction ends); else `ChangedMeanwhile` (or `Corrupt`).
async fn stands_as_read(
    conn: &mut PgConnection,
    read: &AppSnapshot,
    id: &str,
    versions: impl Iterator<Item = (&str, &str)>,
) -> Result<Result<(), StoreError>, sqlx::Error> {
    let changed = || {
        Ok(Err(StoreError::ChangedMeanwhile {
            app: id.to_string(),
        }))
    };
    let app: Option<Value> = sqlx::query_scalar("SELECT record FROM apps WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let app: Option<AppRecord> = match app.map(|r| from_json(&format!("apps/{id}"), r)).transpose()
    {
        Ok(app) => app,
        Err(corrupt) => return Ok(Err(corrupt)),
    };
    if app != read.app {
        return changed();
    }
    for (app, name) in versions {
        let stored: Option<Value> =
            sqlx::query_scalar("SELECT record FROM versions WHERE app = $1 AND version = $2")
                .bind(app)
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?;
        let key = format!("versions/{app}/{name}");
        let stored: Option<VersionRecord> = match stored.map(|r| from_json(&key, r)).transpose() {
            Ok(stored) => stored,
            Err(corrupt) => return Ok(Err(corrupt)),
        };
        if stored.as_ref() != read.version(app, name) {
            return changed();
        }
    }
    Ok(Ok(()))
}

impl PgStore {
    /// [`AppStore::commit_app`], over `read` when given.
    async fn commit(
        &self,
        read: Option<&AppSnapshot>,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError> {
        let commit = Arc::new(Commit {
            read: read.cloned(),
            app: app.clone(),
            versions: versions.to_vec(),
            components: components
                .iter()
                .map(|bytes| (hex::encode(Sha256::digest(bytes)), bytes.to_vec()))
                .collect(),
        });
        let store = self.clone();
        self.transaction(move |tx| {
            let (store, commit) = (store.clone(), commit.clone());
            async move { store.commit_app_in(tx, &commit).await }.boxed()
        })
        .await??;
        self.announce_here(AppChange::App(app.id.clone()));
        Ok(())
    }

    /// [`AppStore::delete_version`], over `read` when given.
    async fn delete(
        &self,
        read: Option<&AppSnapshot>,
        app: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        let store = self.clone();
        let read = Arc::new(read.cloned());
        let (app_id, version) = (app.to_string(), version.to_string());
        let gone = self
            .transaction(move |tx| {
                let (store, read) = (store.clone(), read.clone());
                let (app, version) = (app_id.clone(), version.clone());
                async move {
                    let gone =
                        delete_version_in(tx, read.as_ref().as_ref(), &app, &version).await?;
                    if gone.is_ok() {
                        store.announce(tx, &AppChange::App(app)).await?;
                    }
                    Ok(gone)
                }
                .boxed()
            })
            .await??;
        self.announce_here(AppChange::App(app.to_string()));
        Ok(gone)
    }

    /// One attempt at a commit. A refusal (`Ok(Err(_))`) comes before any
    /// write, so committing it changes nothing.
    async fn commit_app_in(
        &self,
        conn: &mut PgConnection,
        commit: &Commit,
    ) -> Result<Result<(), StoreError>, sqlx::Error> {
        let apps: BTreeSet<&str> = std::iter::once(commit.app.id.as_str())
            .chain(commit.versions.iter().map(|v| v.app.as_str()))
            .collect();
        for app in apps {
            lock_app(&mut *conn, app).await?;
        }
        if let Some(read) = &commit.read {
            let versions = commit
                .versions
                .iter()
                .map(|v| (v.app.as_str(), v.version.as_str()));
            if let Err(refused) = stands_as_read(&mut *conn, read, &commit.app.id, versions).await?
            {
                return Ok(Err(refused));
            }
        }
        // Every version is checked before anything is written; a version
        // twice in one commit is new only the first time.
        let mut writes = Vec::with_capacity(commit.versions.len());
        let mut added: HashMap<(&str, &str), &str> = HashMap::new();
        for version in &commit.versions {
            let sha256 = version.component_sha256.as_str();
            let place = (version.app.as_str(), version.version.as_str());
            let stored: Option<String> = match added.get(&place) {
                Some(earlier) => Some((*earlier).to_string()),
                None => {
                    sqlx::query_scalar(
                        "SELECT component_sha256 FROM versions WHERE app = $1 AND version = $2",
                    )
                    .bind(&version.app)
                    .bind(&version.version)
                    .fetch_optional(&mut *conn)
                    .await?
                }
            };
            let write = match stored {
                Some(stored) if stored != sha256 => {
                    return Ok(Err(StoreError::ComponentChanged {
                        app: version.app.clone(),
                        version: version.version.clone(),
                    }))
                }
                Some(_) => VersionWrite::Rewrite,
                None => {
                    // Locked: the last reference cannot go before this commit.
                    let held = sqlx::query("SELECT 1 FROM blobs WHERE sha256 = $1 FOR UPDATE")
                        .bind(sha256)
                        .fetch_optional(&mut *conn)
                        .await?
                        .is_some();
                    match commit.components.get(sha256) {
                        _ if held => VersionWrite::Add { bytes: None },
                        Some(bytes) => VersionWrite::Add {
                            bytes: Some(bytes.as_slice()),
                        },
                        None => {
                            return Ok(Err(StoreError::MissingBlob {
                                app: version.app.clone(),
                                version: version.version.clone(),
                                sha256: sha256.to_string(),
                            }))
                        }
                    }
                }
            };
            added.insert(place, sha256);
            writes.push((version, write));
        }

        sqlx::query(
            "INSERT INTO apps (id, record) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
        )
        .bind(&commit.app.id)
        .bind(json(&commit.app)?)
        .execute(&mut *conn)
        .await?;
        for (version, write) in writes {
            match write {
                VersionWrite::Rewrite => {
                    sqlx::query("UPDATE versions SET record = $3 WHERE app = $1 AND version = $2")
                        .bind(&version.app)
                        .bind(&version.version)
                        .bind(json(version)?)
                        .execute(&mut *conn)
                        .await?;
                }
                VersionWrite::Add { bytes } => {
                    insert_version(&mut *conn, version).await?;
                    take_blob_reference(&mut *conn, &version.component_sha256, bytes).await?;
                }
            }
        }
        self.announce(conn, &AppChange::App(commit.app.id.clone()))
            .await?;
        Ok(Ok(()))
    }

    /// Run `statement` with `key` and `value` bound as `$1` and `$2`, and
    /// announce `change`, in one transaction.
    async fn write_announced<V>(
        &self,
        statement: &'static str,
        key: &str,
        value: V,
        change: AppChange,
    ) -> Result<(), StoreError>
    where
        V: for<'q> sqlx::Encode<'q, Postgres>
            + sqlx::Type<Postgres>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let store = self.clone();
        let key = key.to_string();
        let announced = change.clone();
        self.transaction(move |tx| {
            let (store, key, value, change) =
                (store.clone(), key.clone(), value.clone(), announced.clone());
            async move {
                sqlx::query(statement)
                    .bind(key)
                    .bind(value)
                    .execute(&mut **tx)
                    .await?;
                store.announce(tx, &change).await
            }
            .boxed()
        })
        .await?;
        self.announce_here(change);
        Ok(())
    }
}

/// One more reference on the blob `sha256` for a version being added:
/// stored from `bytes` when given (another commit may store it meanwhile),
/// else already stored and locked by this transaction.
async fn take_blob_reference(
    conn: &mut PgConnection,
    sha256: &str,
    bytes: Option<&[u8]>,
) -> Result<(), sqlx::Error> {
    match bytes {
        Some(bytes) => {
            sqlx::query(
                "INSERT INTO blobs (sha256, bytes, refs) VALUES ($1, $2, 1) \
                 ON CONFLICT (sha256) DO UPDATE SET refs = blobs.refs + 1",
            )
            .bind(sha256)
            .bind(bytes)
            .execute(conn)
            .await?;
        }
        None => {
            sqlx::query("UPDATE blobs SET refs = refs + 1 WHERE sha256 = $1")
                .bind(sha256)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// Delete `app`'s `version` and its reference on its blob; the blob's
/// sha256 when that was the last reference (and the blob is deleted too).
async fn delete_version_in(
    conn: &mut PgConnection,
    read: Option<&AppSnapshot>,
    app: &str,
    version: &str,
) -> Result<Result<Option<String>, StoreError>, sqlx::Error> {
    lock_app(&mut *conn, app).await?;
    if let Some(read) = read {
        let versions = std::iter::once((app, version));
        if let Err(refused) = stands_as_read(&mut *conn, read, app, versions).await? {
            return Ok(Err(refused));
        }
    }
    let Some(sha256): Option<String> = sqlx::query_scalar(
        "DELETE FROM versions WHERE app = $1 AND version = $2 RETURNING component_sha256",
    )
    .bind(app)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Ok(None));
    };
    let refs: Option<i64> =
        sqlx::query_scalar("SELECT refs FROM blobs WHERE sha256 = $1 FOR UPDATE")
            .bind(&sha256)
            .fetch_optional(&mut *conn)
            .await?;
    if refs.is_some_and(|refs| refs > 1) {
        sqlx::query("UPDATE blobs SET refs = refs - 1 WHERE sha256 = $1")
            .bind(&sha256)
            .execute(conn)
            .await?;
        return Ok(Ok(None));
    }
    // The last reference: the blob goes with it.
    sqlx::query("DELETE FROM blobs WHERE sha256 = $1")
        .bind(&sha256)
        .execute(conn)
        .await?;
    Ok(Ok(Some(sha256)))
}

#[async_trait]
impl AppStore for PgStore {
    async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT bytes FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn blob_refs(&self, sha256: &str) -> Result<u64, StoreError> {
        let refs: Option<i64> = sqlx::query_scalar("SELECT refs FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(refs.map_or(0, from_db))
    }

    async fn commit_app(
        &self,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError> {
        self.commit(None, app, versions, components).await
    }

    async fn commit_app_over(
        &self,
        read: &AppSnapshot,
        app: &AppRecord,
        versions: &[VersionRecord],
        components: &[&[u8]],
    ) -> Result<(), StoreError> {
        self.commit(Some(read), app, versions, components).await
    }

    async fn apps(&self) -> Result<Vec<AppRecord>, StoreError> {
        let rows = sqlx::query_as("SELECT id, record FROM apps ORDER BY id COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        decode_rows("apps", rows)
    }

    async fn app(&self, id: &str) -> Result<Option<AppRecord>, StoreError> {
        let record: Option<Value> = sqlx::query_scalar("SELECT record FROM apps WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        record
            .map(|record| from_json(&format!("apps/{id}"), record))
            .transpose()
    }

    async fn versions(&self, app: &str) -> Result<Vec<VersionRecord>, StoreError> {
        let rows = sqlx::query_as(
            "SELECT app || '/' || version, record FROM versions WHERE app = $1 \
             ORDER BY version COLLATE \"C\"",
        )
        .bind(app)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        decode_rows("versions", rows)
    }

    async fn delete_version(&self, app: &str, version: &str) -> Result<Option<String>, StoreError> {
        self.delete(None, app, version).await
    }

    async fn delete_version_over(
        &self,
        read: &AppSnapshot,
        app: &str,
        version: &str,
    ) -> Result<Option<String>, StoreError> {
        self.delete(Some(read), app, version).await
    }

    async fn change_publisher(
        &self,
        id: &str,
        change: &PublisherChange<'_>,
    ) -> Result<Result<PublisherRecord, Refused>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Changes of one publisher take turns, its first record too (a row
        // lock would hold nothing while there is no row).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('citadel.publisher'), hashtext($1))")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let stored: Option<Value> =
            sqlx::query_scalar("SELECT record FROM publishers WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        let current = stored
            .map(|record| from_json(&format!("publishers/{id}"), record))
            .transpose()?;
        let record = match change(current) {
            Ok(record) => record,
            // Dropped, the transaction rolls back: nothing was written.
            Err(refused) => return Ok(Err(refused)),
        };
        sqlx::query(
            "INSERT INTO publishers (id, record) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
        )
        .bind(id)
        .bind(json(&record).map_err(backend)?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let change = AppChange::Publisher(id.to_string());
        self.announce(&mut tx, &change).await.map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        self.announce_here(change);
        Ok(Ok(record))
    }

    async fn publisher(&self, id: &str) -> Result<Option<PublisherRecord>, StoreError> {
        let record: Option<Value> =
            sqlx::query_scalar("SELECT record FROM publishers WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        record
            .map(|record| from_json(&format!("publishers/{id}"), record))
            .transpose()
    }

    async fn publishers(&self) -> Result<Vec<PublisherRecord>, StoreError> {
        let rows = sqlx::query_as("SELECT id, record FROM publishers ORDER BY id COLLATE \"C\"")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        decode_rows("publishers", rows)
    }

    async fn put_publisher_key(&self, key_sha256: &str, publisher: &str) -> Result<(), StoreError> {
        self.write_announced(
            "INSERT INTO publisher_keys (key_sha256, publisher) VALUES ($1, $2) \
             ON CONFLICT (key_sha256) DO UPDATE SET publisher = EXCLUDED.publisher",
            key_sha256,
            publisher.to_string(),
            AppChange::Publisher(publisher.to_string()),
        )
        .await
    }

    async fn publisher_keys(&self, publisher: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT key_sha256 FROM publisher_keys WHERE publisher = $1 \
             ORDER BY key_sha256 COLLATE \"C\"",
        )
        .bind(publisher)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn delete_publisher_key(&self, key_sha256: &str) -> Result<bool, StoreError> {
        let store = self.clone();
        let key = key_sha256.to_string();
        let owner: Option<String> = self
            .transaction(move |tx| {
                let (store, key) = (store.clone(), key.clone());
                async move {
                    let owner: Option<String> = sqlx::query_scalar(
                        "DELETE FROM publisher_keys WHERE key_sha256 = $1 RETURNING publisher",
                    )
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some(owner) = &owner {
                        store
                            .announce(tx, &AppChange::Publisher(owner.clone()))
                            .await?;
                    }
                    Ok(owner)
                }
                .boxed()
            })
            .await?;
        let existed = owner.is_some();
        if let Some(owner) = owner {
            self.announce_here(AppChange::Publisher(owner));
        }
        Ok(existed)
    }

    async fn publisher_for_key(
        &self,
        key_sha256: &str,
    ) -> Result<Option<PublisherRecord>, StoreError> {
        let row: Option<(String, Value)> = sqlx::query_as(
            "SELECT p.id, p.record FROM publisher_keys k JOIN publishers p ON p.id = k.publisher \
             WHERE k.key_sha256 = $1",
        )
        .bind(key_sha256)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|(id, record)| from_json(&format!("publishers/{id}"), record))
            .transpose()
    }

    fn changes(&self) -> tokio::sync::broadcast::Receiver<AppChange> {
        self.changes.subscribe()
    }
}

/// A new version's row: its key, its component's sha256 and its record.
pub(super) async fn insert_version(
    conn: &mut PgConnection,
    version: &VersionRecord,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO versions (app, version, component_sha256, record) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&version.app)
    .bind(&version.version)
    .bind(&version.component_sha256)
    .bind(json(version)?)
    .execute(conn)
    .await?;
    Ok(())
}
