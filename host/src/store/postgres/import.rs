//! Writes a sled export into an empty PostgreSQL database for `citadel
//! migrate`: every row straight into its table in one transaction, with the
//! bookkeeping the traits keep (kv usage shards, blob references, sequences).
//! Also the raw reads the migration verifies the copy with.

use super::kv::Place;
use super::{backend, from_db, json, to_db, PgStore};
use crate::store::migrate::{RecordCounts, RecordKind};
use crate::store::sled::export::SledExport;
use crate::store::{KvSpace, StoreError};
use sqlx::{PgConnection, Postgres, Transaction};
use std::collections::BTreeMap;

/// Every table the host writes; an empty database has no row in any.
const TABLES: [&str; 23] = [
    "publishers",
    "publisher_keys",
    "apps",
    "blobs",
    "versions",
    "kv",
    "kv_usage",
    "operators",
    "host_secrets",
    "sessions",
    "consents",
    "pairwise_ids",
    "inbox",
    "frames",
    "locations",
    "unfinished_erasures",
    "intents",
    "accounts",
    "postings",
    "once_keys",
    "outbox",
    "audit",
    "rate_limits",
];

/// The sequences that number what the host writes next; each continues
/// after the highest id sled handed out.
const SEQUENCES: [&str; 3] = ["frame_order", "ledger_transactions", "outbox_keys"];

/// Each kind's count on the target, as SQL.
const COUNTS: [(RecordKind, &str); 24] = [
    (RecordKind::Publishers, "SELECT count(*) FROM publishers"),
    (
        RecordKind::PublisherKeys,
        "SELECT count(*) FROM publisher_keys",
    ),
    (RecordKind::Apps, "SELECT count(*) FROM apps"),
    (RecordKind::Versions, "SELECT count(*) FROM versions"),
    (RecordKind::Blobs, "SELECT count(*) FROM blobs"),
    (RecordKind::KvKeys, "SELECT count(*) FROM kv"),
    (RecordKind::Operators, "SELECT count(*) FROM operators"),
    (RecordKind::HostSecrets, "SELECT count(*) FROM host_secrets"),
    (RecordKind::Sessions, "SELECT count(*) FROM sessions"),
    (RecordKind::Consents, "SELECT count(*) FROM consents"),
    (RecordKind::PairwiseIds, "SELECT count(*) FROM pairwise_ids"),
    (RecordKind::InboxMessages, "SELECT count(*) FROM inbox"),
    (RecordKind::FrameTokens, "SELECT count(*) FROM frames"),
    (RecordKind::Locations, "SELECT count(*) FROM locations"),
    (
        RecordKind::UnfinishedErasures,
        "SELECT count(*) FROM unfinished_erasures",
    ),
    (
        RecordKind::RateLimitWindows,
        "SELECT count(*) FROM rate_limits",
    ),
    (RecordKind::Intents, "SELECT count(*) FROM intents"),
    (
        RecordKind::IdempotencyKeys,
        "SELECT count(DISTINCT (app, citizen, reference)) FROM intents",
    ),
    (
        RecordKind::PendingIntents,
        "SELECT count(*) FROM intents WHERE pending",
    ),
    (RecordKind::Accounts, "SELECT count(*) FROM accounts"),
    (RecordKind::Postings, "SELECT count(*) FROM postings"),
    (RecordKind::OnceKeys, "SELECT count(*) FROM once_keys"),
    (RecordKind::OutboxEntries, "SELECT count(*) FROM outbox"),
    (RecordKind::AuditRecords, "SELECT count(*) FROM audit"),
];

impl PgStore {
    /// The tables that hold at least one row.
    pub(crate) async fn occupied_tables(&self) -> Result<Vec<&'static str>, StoreError> {
        let mut occupied = Vec::new();
        for table in TABLES {
            let any: bool = sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table})"))
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
            if any {
                occupied.push(table);
            }
        }
        Ok(occupied)
    }

    /// Write `export` into the (empty) database in one transaction: all of
    /// it or, on any failure, nothing.
    pub(crate) async fn import(&self, export: &SledExport) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        import_in(&mut tx, export).await.map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    /// How many records of each kind the database holds.
    pub(crate) async fn record_counts(&self) -> Result<RecordCounts, StoreError> {
        let mut counts = RecordCounts::new();
        for (kind, sql) in COUNTS {
            let count: i64 = sqlx::query_scalar(sql)
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
            counts.insert(kind, from_db(count));
        }
        Ok(counts)
    }

    /// Blobs whose reference count is not the number of versions naming them.
    pub(crate) async fn blobs_miscounted(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT sha256 FROM blobs b WHERE refs <> \
             (SELECT count(*) FROM versions v WHERE v.component_sha256 = b.sha256) \
             ORDER BY sha256",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    /// The sum of every posting, and the transactions whose postings do not
    /// sum to zero.
    pub(crate) async fn postings_imbalance(&self) -> Result<(i64, Vec<String>), StoreError> {
        let total: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(amount), 0)::BIGINT FROM postings")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        let unbalanced = sqlx::query_scalar(
            "SELECT tx FROM postings GROUP BY tx HAVING sum(amount) <> 0 ORDER BY tx",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok((total, unbalanced))
    }
}

async fn import_in(
    tx: &mut Transaction<'static, Postgres>,
    export: &SledExport,
) -> Result<(), sqlx::Error> {
    import_registry(tx, export).await?;
    import_kv(tx, export).await?;
    import_identity(tx, export).await?;
    import_ledger(tx, export).await?;
    for record in &export.audit {
        sqlx::query(
            "INSERT INTO audit (seq, kind, app, capability, record) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(to_db(record.seq))
        .bind(&record.kind)
        .bind(&record.app)
        .bind(&record.capability)
        .bind(json(record)?)
        .execute(&mut **tx)
        .await?;
    }
    if export.highest_generated_id > 0 {
        for sequence in SEQUENCES {
            sqlx::query("SELECT setval($1, $2)")
                .bind(sequence)
                .bind(to_db(export.highest_generated_id))
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

async fn import_registry(conn: &mut PgConnection, export: &SledExport) -> Result<(), sqlx::Error> {
    for publisher in &export.publishers {
        sqlx::query("INSERT INTO publishers (id, record) VALUES ($1, $2)")
            .bind(&publisher.id)
            .bind(json(publisher)?)
            .execute(&mut *conn)
            .await?;
    }
    for (key_sha256, publisher) in &export.publisher_keys {
        sqlx::query("INSERT INTO publisher_keys (key_sha256, publisher) VALUES ($1, $2)")
            .bind(key_sha256)
            .bind(publisher)
            .execute(&mut *conn)
            .await?;
    }
    for app in &export.apps {
        sqlx::query("INSERT INTO apps (id, record) VALUES ($1, $2)")
            .bind(&app.id)
            .bind(json(app)?)
            .execute(&mut *conn)
            .await?;
    }
    for blob in &export.blobs {
        sqlx::query("INSERT INTO blobs (sha256, bytes, refs) VALUES ($1, $2, $3)")
            .bind(&blob.sha256)
            .bind(&blob.bytes)
            .bind(to_db(blob.refs))
            .execute(&mut *conn)
            .await?;
    }
    for version in &export.versions {
        super::apps::insert_version(&mut *conn, version).await?;
    }
    Ok(())
}

/// The keys, and each app's usage in the shards its keys fall in, as
/// `postgres/kv.rs` counts and shards it.
async fn import_kv(conn: &mut PgConnection, export: &SledExport) -> Result<(), sqlx::Error> {
    let mut usage: BTreeMap<(&str, i16), i64> = BTreeMap::new();
    for entry in &export.kv {
        let space = match &entry.pairwise_id {
            Some(pairwise_id) => KvSpace::Citizen {
                app: &entry.app,
                pairwise_id,
            },
            None => KvSpace::App(&entry.app),
        };
        let place = Place::of(space);
        *usage
            .entry((entry.app.as_str(), place.shard(&entry.key)))
            .or_default() += place.bytes(&entry.key, Some(&entry.value));
        sqlx::query("INSERT INTO kv (app, space, key, value) VALUES ($1, $2, $3, $4)")
            .bind(&entry.app)
            .bind(entry.pairwise_id.as_deref().unwrap_or(""))
            .bind(entry.key.as_bytes())
            .bind(&entry.value)
            .execute(&mut *conn)
            .await?;
    }
    for ((app, shard), bytes) in usage {
        sqlx::query("INSERT INTO kv_usage (app, shard, bytes) VALUES ($1, $2, $3)")
            .bind(app)
            .bind(shard)
            .bind(bytes)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn import_identity(conn: &mut PgConnection, export: &SledExport) -> Result<(), sqlx::Error> {
    for (token_sha256, operator) in &export.operators {
        sqlx::query("INSERT INTO operators (token_sha256, record) VALUES ($1, $2)")
            .bind(token_sha256)
            .bind(json(operator)?)
            .execute(&mut *conn)
            .await?;
    }
    for (name, secret) in &export.host_secrets {
        sqlx::query("INSERT INTO host_secrets (name, secret) VALUES ($1, $2)")
            .bind(name)
            .bind(secret)
            .execute(&mut *conn)
            .await?;
    }
    for (token_sha256, session) in &export.sessions {
        sqlx::query("INSERT INTO sessions (token_sha256, record) VALUES ($1, $2)")
            .bind(token_sha256)
            .bind(json(session)?)
            .execute(&mut *conn)
            .await?;
    }
    for (citizen, consent) in &export.consents {
        sqlx::query("INSERT INTO consents (citizen, app, scope, record) VALUES ($1, $2, $3, $4)")
            .bind(citizen)
            .bind(&consent.app)
            .bind(&consent.scope)
            .bind(json(consent)?)
            .execute(&mut *conn)
            .await?;
    }
    for entry in &export.pairwise {
        sqlx::query("INSERT INTO pairwise_ids (app, pairwise, citizen) VALUES ($1, $2, $3)")
            .bind(&entry.app)
            .bind(&entry.pairwise)
            .bind(&entry.citizen)
            .execute(&mut *conn)
            .await?;
    }
    // In sled's order, so `arrival` numbers each citizen's messages as sled did.
    for (citizen, message) in &export.inbox {
        sqlx::query("INSERT INTO inbox (citizen, at, record) VALUES ($1, $2, $3)")
            .bind(citizen)
            .bind(to_db(message.at))
            .bind(json(message)?)
            .execute(&mut *conn)
            .await?;
    }
    for (token_sha256, frame) in &export.frames {
        sqlx::query(
            "INSERT INTO frames (token_sha256, citizen, parent, issue_order, expires, record) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_sha256)
        .bind(&frame.citizen_id)
        .bind(&frame.parent)
        .bind(to_db(frame.order))
        .bind(to_db(frame.expires))
        .bind(json(frame)?)
        .execute(&mut *conn)
        .await?;
    }
    for (citizen, location) in &export.locations {
        sqlx::query("INSERT INTO locations (citizen, expires, record) VALUES ($1, $2, $3)")
            .bind(citizen)
            .bind(to_db(location.expires))
            .bind(json(location)?)
            .execute(&mut *conn)
            .await?;
    }
    for (citizen, began) in &export.unfinished_erasures {
        sqlx::query("INSERT INTO unfinished_erasures (citizen, began) VALUES ($1, $2)")
            .bind(citizen)
            .bind(to_db(*began))
            .execute(&mut *conn)
            .await?;
    }
    for (key, taken) in &export.rate_limits {
        let taken: Vec<i64> = taken.iter().copied().map(to_db).collect();
        sqlx::query("INSERT INTO rate_limits (key, taken) VALUES ($1, $2)")
            .bind(key)
            .bind(&taken)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn import_ledger(conn: &mut PgConnection, export: &SledExport) -> Result<(), sqlx::Error> {
    for intent in &export.intents {
        super::ledger::insert_intent(&mut *conn, intent, json(intent)?).await?;
    }
    for (name, balance) in &export.accounts {
        sqlx::query("INSERT INTO accounts (name, balance) VALUES ($1, $2)")
            .bind(name)
            .bind(balance)
            .execute(&mut *conn)
            .await?;
    }
    // In sled's order, so `seq` keeps the order they were written in.
    for posting in &export.postings {
        sqlx::query(
            "INSERT INTO postings (tx, intent, account, amount, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&posting.tx)
        .bind(&posting.intent)
        .bind(&posting.account)
        .bind(posting.amount)
        .bind(to_db(posting.at))
        .execute(&mut *conn)
        .await?;
    }
    for (key, intent) in &export.once_keys {
        sqlx::query("INSERT INTO once_keys (key, intent) VALUES ($1, $2)")
            .bind(key)
            .bind(intent)
            .execute(&mut *conn)
            .await?;
    }
    for entry in &export.outbox {
        sqlx::query("INSERT INTO outbox (key, next_at, entry) VALUES ($1, $2, $3)")
            .bind(&entry.key)
            .bind(to_db(entry.next_at))
            .bind(json(entry)?)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
