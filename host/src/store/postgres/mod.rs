//! The store for several hosts: PostgreSQL through a sqlx pool. Schema
//! migrations (`host/migrations/`) run at connect; one file per concern
//! implements its trait; registry changes cross hosts by `LISTEN/NOTIFY`.

mod apps;
mod audit;
mod identity;
mod import;
mod kv;
mod ledger;
mod limits;

use super::{AppChange, StoreError};
use futures::future::BoxFuture;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

/// The migrations in `host/migrations/`, embedded in the binary. sqlx runs
/// them under an advisory lock, so hosts starting together apply each once.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The `NOTIFY` channel of registry changes.
const CHANGES_CHANNEL: &str = "citadel_changes";

/// Connections one host keeps to the database.
const POOL_SIZE: u32 = 32;

/// PostgreSQL-backed [`super::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// This host's id in change notifications: its own come back on the
    /// channel and are skipped (they were announced here at commit).
    host: Arc<str>,
    changes: broadcast::Sender<AppChange>,
    outbox_added: Arc<Notify>,
    /// Ends the change listener when the last clone goes.
    _listener: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A registry change as it crosses hosts.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChangeNote {
    host: String,
    kind: String,
    id: String,
}

impl PgStore {
    /// Connect to `url`, bring the schema up to date, and start following
    /// other hosts' registry changes.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("schema migration failed: {e}")))?;
        let listener = listen(&pool).await.map_err(backend)?;
        let host: Arc<str> = hex::encode(rand::random::<[u8; 8]>()).into();
        let changes = broadcast::channel(1024).0;
        let follower = tokio::spawn(follow(
            pool.clone(),
            listener,
            host.clone(),
            changes.clone(),
        ));
        Ok(PgStore {
            pool,
            host,
            changes,
            outbox_added: Arc::new(Notify::new()),
            _listener: Arc::new(AbortOnDrop(follower)),
        })
    }

    /// Queue `change` for every host, in the transaction that makes it:
    /// PostgreSQL delivers the notification only if and when it commits.
    /// After the commit, call [`PgStore::announce_here`].
    async fn announce(&self, tx: &mut PgConnection, change: &AppChange) -> Result<(), sqlx::Error> {
        let (kind, id) = match change {
            AppChange::App(id) => ("app", id),
            AppChange::Publisher(id) => ("publisher", id),
            AppChange::SessionEnded(key) => ("session-ended", key),
            AppChange::CitizenErased => ("citizen-erased", &String::new()),
            AppChange::Everything => ("everything", &String::new()),
        };
        let note = serde_json::to_string(&ChangeNote {
            host: self.host.to_string(),
            kind: kind.into(),
            id: id.clone(),
        })
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANGES_CHANNEL)
            .bind(note)
            .execute(tx)
            .await?;
        Ok(())
    }

    /// Tell this host's caches about a committed change at once.
    fn announce_here(&self, change: AppChange) {
        let _ = self.changes.send(change);
    }

    /// Run `body` in a transaction and commit it, again from the start when
    /// PostgreSQL reports a serialization failure or a deadlock (the body
    /// must be safe to repeat: it sees the database afresh each time).
    async fn transaction<T>(
        &self,
        body: impl for<'c> Fn(
            &'c mut Transaction<'static, Postgres>,
        ) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let outcome = match body(&mut tx).await {
                Ok(value) => tx.commit().await.map(|()| value),
                Err(e) => Err(e),
            };
            match outcome {
                Err(e) if retryable(&e) && attempt < 20 => {
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt))).await;
                }
                outcome => return outcome.map_err(backend),
            }
        }
    }
}

/// A database is backed up with its own tools (`pg_dump`, continuous
/// archiving), which copy consistently without Citadel.
#[async_trait::async_trait]
impl super::backup::Snapshot for PgStore {
    async fn snapshot(
        &self,
        _out: std::fs::File,
    ) -> Result<super::backup::BackupManifest, super::backup::BackupError> {
        Err(super::backup::BackupError::NotEmbedded)
    }
}

#[async_trait::async_trait]
impl super::Health for PgStore {
    fn backend(&self) -> super::Backend {
        super::Backend::Postgres
    }

    /// `SELECT 1` on a pooled connection (the pool checks an idle one
    /// before handing it out, and opens a new one if it is gone).
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// A connection of `pool`'s listening for other hosts' changes.
async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANGES_CHANNEL).await?;
    Ok(listener)
}

/// Re-broadcast other hosts' registry changes here. Whenever the feed's
/// connection is lost, changes may have been missed until it listens again,
/// so once it does, every cache reloads (`AppChange::Everything`): sessions
/// ended on another host meanwhile are not kept alive here.
async fn follow(
    pool: PgPool,
    mut listener: PgListener,
    host: Arc<str>,
    changes: broadcast::Sender<AppChange>,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let Ok(note) = serde_json::from_str::<ChangeNote>(notification.payload()) else {
                    tracing::warn!(
                        payload = notification.payload(),
                        "an unreadable registry change"
                    );
                    continue;
                };
                if *note.host == *host {
                    continue;
                }
                let change = match note.kind.as_str() {
                    "app" => AppChange::App(note.id),
                    "publisher" => AppChange::Publisher(note.id),
                    "session-ended" => AppChange::SessionEnded(note.id),
                    "citizen-erased" => AppChange::CitizenErased,
                    _ => AppChange::Everything,
                };
                let _ = changes.send(change);
            }
            // sqlx noticed the drop and listens again on a new connection.
            Ok(None) => {
                tracing::warn!("the change feed's connection dropped; reloading every app");
                let _ = changes.send(AppChange::Everything);
            }
            // Its reconnect failed, or the connection failed otherwise: sqlx
            // would quietly listen again on its next call, reporting nothing
            // of what passed meanwhile. Listen afresh, then reload.
            Err(e) => {
                tracing::error!(error = %e, "the change feed failed; listening again");
                listener = loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match listen(&pool).await {
                        Ok(listener) => break listener,
                        Err(e) => {
                            tracing::error!(error = %e, "the change feed cannot listen yet")
                        }
                    }
                };
                tracing::warn!("the change feed listens again; reloading every app");
                let _ = changes.send(AppChange::Everything);
            }
        }
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A failure that a fresh attempt of the same transaction may not meet:
/// serialization failure or deadlock.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(
        e.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("40001" | "40P01")
    )
}

/// Unix times are `u64` in records and `BIGINT` in tables.
fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_db(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A record kept whole as JSON (`JSONB`), beside the columns that index it.
fn json<T: serde::Serialize>(record: &T) -> Result<serde_json::Value, sqlx::Error> {
    serde_json::to_value(record).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

fn from_json<T: serde::de::DeserializeOwned>(
    key: &str,
    value: serde_json::Value,
) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

pub mod testing;

#[cfg(test)]
mod tests {
    use super::testing;
    use crate::store::{GrantRecord, VersionRecord};

    // The whole backend-independent suite, on a fresh database per test.
    crate::store_conformance!(optional testing::fresh_store());

    #[tokio::test]
    async fn app_grants_of_an_older_schema_go_to_the_versions_that_passed_review() {
        let Some(database) = testing::TestDatabase::create().await else {
            return;
        };
        // The schema as it was while grants were per app.
        let older = tempfile::tempdir().unwrap();
        let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        for entry in std::fs::read_dir(migrations).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.as_str() < "0009" {
                std::fs::copy(&path, older.path().join(&name)).unwrap();
            }
        }
        let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
        sqlx::migrate::Migrator::new(older.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        let version = |app: &str, name: &str, state: &str| {
            serde_json::json!({
                "app": app, "version": name, "publisher": "p", "manifest": "",
                "component_sha256": "c", "state": state, "reason": null,
                "uploaded_at": 1, "changed_at": 1, "changed_by": "host",
            })
        };
        sqlx::query("INSERT INTO blobs (sha256, bytes, refs) VALUES ('c', 'x', 4)")
            .execute(&pool)
            .await
            .unwrap();
        for (app, name, state) in [
            ("a", "1.0.0", "live"),
            ("a", "0.9.0", "retired"),
            ("a", "1.1.0", "in-review"),
            ("b", "1.0.0", "approved"),
        ] {
            sqlx::query(
                "INSERT INTO versions (app, version, component_sha256, record) \
                 VALUES ($1, $2, 'c', $3)",
            )
            .bind(app)
            .bind(name)
            .bind(version(app, name, state))
            .execute(&pool)
            .await
            .unwrap();
        }
        let app_grants = GrantRecord {
            capabilities: vec!["kv".into(), "geo".into()],
            by: "operator:ops".into(),
            at: 7,
        };
        sqlx::query("INSERT INTO grants (app, record) VALUES ('a', $1)")
            .bind(serde_json::to_value(&app_grants).unwrap())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;

        let store = crate::store::Store::postgres(&database.url).await.unwrap();
        let grants_of = |mut versions: Vec<VersionRecord>| {
            versions.sort_by(|x, y| x.version.cmp(&y.version));
            versions
                .into_iter()
                .map(|v| (v.version, v.grants))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            grants_of(store.apps.versions("a").await.unwrap()),
            [
                ("0.9.0".to_string(), Some(app_grants.clone())),
                ("1.0.0".to_string(), Some(app_grants)),
                ("1.1.0".to_string(), None),
            ]
        );
        assert_eq!(
            grants_of(store.apps.versions("b").await.unwrap()),
            [("1.0.0".to_string(), None)],
            "an app without grants gives none"
        );
    }
}
