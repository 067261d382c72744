//! `citadel migrate`: copies a sled data dir into an empty PostgreSQL
//! database (raw, through `sled/export.rs` and `postgres/import.rs`), then
//! verifies the copy — counts, balances, postings, blob references, kv usage
//! and a sample of kv values — and reports what it copied and checked.

use super::sled::export::{KvEntry, SledExport};
use super::{KvSpace, KvStore, Ledger, PgStore, SledStore, StoreError};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// kv values compared byte for byte after the copy, at most.
pub const KV_SAMPLE: usize = 1_000;

/// A kind of record the migration copies and counts on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordKind {
    Publishers,
    PublisherKeys,
    Apps,
    Versions,
    Blobs,
    KvKeys,
    Operators,
    HostSecrets,
    Sessions,
    Consents,
    PairwiseIds,
    InboxMessages,
    FrameTokens,
    Locations,
    UnfinishedErasures,
    RateLimitWindows,
    Intents,
    IdempotencyKeys,
    PendingIntents,
    Accounts,
    Postings,
    OnceKeys,
    OutboxEntries,
    AuditRecords,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordKind::Publishers => "publishers",
            RecordKind::PublisherKeys => "publisher API keys",
            RecordKind::Apps => "apps",
            RecordKind::Versions => "versions",
            RecordKind::Blobs => "component blobs",
            RecordKind::KvKeys => "kv keys",
            RecordKind::Operators => "operators",
            RecordKind::HostSecrets => "host secrets",
            RecordKind::Sessions => "sessions",
            RecordKind::Consents => "consents",
            RecordKind::PairwiseIds => "pairwise ids",
            RecordKind::InboxMessages => "inbox messages",
            RecordKind::FrameTokens => "frame tokens",
            RecordKind::Locations => "locations",
            RecordKind::UnfinishedErasures => "unfinished erasures",
            RecordKind::RateLimitWindows => "rate-limit windows",
            RecordKind::Intents => "payment intents",
            RecordKind::IdempotencyKeys => "intent idempotency keys",
            RecordKind::PendingIntents => "pending intents",
            RecordKind::Accounts => "accounts",
            RecordKind::Postings => "postings",
            RecordKind::OnceKeys => "one-time keys",
            RecordKind::OutboxEntries => "outbox entries",
            RecordKind::AuditRecords => "audit records",
        })
    }
}

/// How many records of each kind one side holds.
pub type RecordCounts = BTreeMap<RecordKind, u64>;

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("no sled database at {0} (is --from-data-dir the host's data dir?)")]
    NoSledDatabase(PathBuf),
    #[error("cannot read the sled data dir (is a host still running on it?): {0}")]
    Source(StoreError),
    #[error("the PostgreSQL database failed: {0}")]
    Target(StoreError),
    #[error(
        "the target database is not empty (rows in: {}); migrate only into an empty database — nothing was written",
        .0.join(", ")
    )]
    TargetNotEmpty(Vec<&'static str>),
    #[error("the copy does not match its source:\n  {}", .0.join("\n  "))]
    Mismatch(Vec<String>),
}

/// What a migration copied and verified.
#[derive(Debug)]
pub struct MigrationReport {
    /// Records copied (and counted equal on the target), by kind.
    pub copied: RecordCounts,
    /// Blobs no version referenced: unreachable, so not copied.
    pub orphan_blobs_skipped: usize,
    /// Account balances found equal.
    pub balances_verified: usize,
    /// Apps whose kv usage was found equal.
    pub kv_usage_verified: usize,
    /// kv values found equal byte for byte.
    pub kv_values_verified: usize,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "copied, and counted the same on both sides:")?;
        for (kind, count) in &self.copied {
            writeln!(f, "  {count:>10}  {kind}")?;
        }
        if self.orphan_blobs_skipped > 0 {
            writeln!(
                f,
                "skipped {} component blob(s) no version references",
                self.orphan_blobs_skipped
            )?;
        }
        writeln!(
            f,
            "verified: {} account balance(s) equal, postings sum to zero per transaction \
             and in total, blob references match the versions",
            self.balances_verified
        )?;
        write!(
            f,
            "verified: kv usage of {} app(s) equal, {} sampled kv value(s) equal byte for byte",
            self.kv_usage_verified, self.kv_values_verified
        )
    }
}

/// Copy the sled database of `data_dir` into the empty PostgreSQL database
/// at `database_url`, then verify the copy.
pub async fn migrate(data_dir: &Path, database_url: &str) -> Result<MigrationReport, MigrateError> {
    let sled_dir = data_dir.join("db");
    if !sled_dir.is_dir() {
        return Err(MigrateError::NoSledDatabase(sled_dir));
    }
    let source = SledStore::open(&sled_dir).map_err(MigrateError::Source)?;
    let target = PgStore::connect(database_url)
        .await
        .map_err(MigrateError::Target)?;
    let occupied = target
        .occupied_tables()
        .await
        .map_err(MigrateError::Target)?;
    if !occupied.is_empty() {
        return Err(MigrateError::TargetNotEmpty(occupied));
    }
    tracing::info!("reading the sled data dir");
    let export = source.export().map_err(MigrateError::Source)?;
    tracing::info!(
        kv_keys = export.kv.len(),
        postings = export.postings.len(),
        "writing into PostgreSQL in one transaction"
    );
    target.import(&export).await.map_err(MigrateError::Target)?;
    tracing::info!("verifying the copy");
    verify(&source, &target, &export).await
}

/// Compare the copy with its source; every difference found is reported.
async fn verify(
    source: &SledStore,
    target: &PgStore,
    export: &SledExport,
) -> Result<MigrationReport, MigrateError> {
    let mut mismatches = Vec::new();

    let copied = export.counts();
    let counted = target.record_counts().await.map_err(MigrateError::Target)?;
    for (kind, expected) in &copied {
        let found = counted.get(kind).copied().unwrap_or(0);
        if found != *expected {
            mismatches.push(format!("{kind}: {expected} in sled, {found} in PostgreSQL"));
        }
    }

    let source_balances: BTreeMap<String, i64> = source
        .balances()
        .await
        .map_err(MigrateError::Source)?
        .into_iter()
        .collect();
    let target_balances: BTreeMap<String, i64> = target
        .balances()
        .await
        .map_err(MigrateError::Target)?
        .into_iter()
        .collect();
    for (account, balance) in &source_balances {
        match target_balances.get(account) {
            Some(copied) if copied == balance => {}
            copied => mismatches.push(format!(
                "account {account}: balance {balance} in sled, {copied:?} in PostgreSQL"
            )),
        }
    }
    for account in target_balances.keys() {
        if !source_balances.contains_key(account) {
            mismatches.push(format!("account {account} is only in PostgreSQL"));
        }
    }

    let (total, unbalanced) = target
        .postings_imbalance()
        .await
        .map_err(MigrateError::Target)?;
    if total != 0 {
        mismatches.push(format!("postings sum to {total} in PostgreSQL, not zero"));
    }
    for tx in unbalanced {
        mismatches.push(format!("transaction {tx}'s postings do not sum to zero"));
    }
    for sha256 in target
        .blobs_miscounted()
        .await
        .map_err(MigrateError::Target)?
    {
        mismatches.push(format!(
            "blob {sha256}: its reference count is not the number of versions naming it"
        ));
    }

    let apps: std::collections::BTreeSet<&str> =
        export.kv.iter().map(|entry| entry.app.as_str()).collect();
    for app in &apps {
        let used = source.usage(app).await.map_err(MigrateError::Source)?;
        let copied = target.usage(app).await.map_err(MigrateError::Target)?;
        if used != copied {
            mismatches.push(format!(
                "kv usage of {app}: {used} bytes in sled, {copied} in PostgreSQL"
            ));
        }
    }

    let sample = kv_sample(&export.kv, KV_SAMPLE);
    for entry in &sample {
        let space = match &entry.pairwise_id {
            Some(pairwise_id) => KvSpace::Citizen {
                app: &entry.app,
                pairwise_id,
            },
            None => KvSpace::App(&entry.app),
        };
        let stored = source
            .get(space, &entry.key)
            .await
            .map_err(MigrateError::Source)?;
        let copied = target
            .get(space, &entry.key)
            .await
            .map_err(MigrateError::Target)?;
        if stored.is_none() || stored != copied {
            mismatches.push(format!(
                "kv {}/{}/{}: the value differs",
                entry.app,
                entry.pairwise_id.as_deref().unwrap_or("(app)"),
                entry.key
            ));
        }
    }

    if !mismatches.is_empty() {
        return Err(MigrateError::Mismatch(mismatches));
    }
    Ok(MigrationReport {
        copied,
        orphan_blobs_skipped: export.orphan_blobs,
        balances_verified: source_balances.len(),
        kv_usage_verified: apps.len(),
        kv_values_verified: sample.len(),
    })
}

/// Up to `limit` entries spread over every (app, space): one from each in
/// turn, each space's taken evenly across its keys.
fn kv_sample(entries: &[KvEntry], limit: usize) -> Vec<&KvEntry> {
    let mut spaces: BTreeMap<(&str, Option<&str>), Vec<&KvEntry>> = BTreeMap::new();
    for entry in entries {
        spaces
            .entry((entry.app.as_str(), entry.pairwise_id.as_deref()))
            .or_default()
            .push(entry);
    }
    let mut queues: Vec<Vec<&KvEntry>> = spaces.into_values().collect();
    let wanted = limit.min(entries.len());
    // Each space's keys in an even spread (stride over its keys) first.
    for queue in &mut queues {
        let stride = queue.len().div_ceil(wanted.max(1)).max(1);
        let spread: Vec<&KvEntry> = queue.iter().step_by(stride).copied().collect();
        *queue = spread;
        queue.reverse();
    }
    let mut sample = Vec::with_capacity(wanted);
    while sample.len() < wanted {
        let before = sample.len();
        for queue in &mut queues {
            if sample.len() == wanted {
                break;
            }
            if let Some(entry) = queue.pop() {
                sample.push(entry);
            }
        }
        if sample.len() == before {
            break;
        }
    }
    sample
}

/// `url` with its password (if any) replaced by `***`, fit to print.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(app: &str, pairwise_id: Option<&str>, key: &str) -> KvEntry {
        KvEntry {
            app: app.into(),
            pairwise_id: pairwise_id.map(str::to_string),
            key: key.into(),
            value: key.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_password_never_shows() {
        assert_eq!(
            redacted("postgres://citadel:s3cr3t@db.internal:5432/city?sslmode=require"),
            "postgres://citadel:***@db.internal:5432/city?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://citadel@db/city"),
            "postgres://citadel@db/city"
        );
        assert_eq!(redacted("postgres://db/city"), "postgres://db/city");
    }

    #[test]
    fn the_kv_sample_reaches_every_space() {
        let mut entries: Vec<KvEntry> = (0..5_000)
            .map(|n| entry("notes", None, &format!("k{n:05}")))
            .collect();
        entries.push(entry("notes", Some("p1"), "draft"));
        entries.push(entry("shop", None, "stock"));
        let sample = kv_sample(&entries, 100);
        assert_eq!(sample.len(), 100);
        assert!(sample
            .iter()
            .any(|e| e.pairwise_id.as_deref() == Some("p1")));
        assert!(sample.iter().any(|e| e.app == "shop"));
        let notes: Vec<&str> = sample
            .iter()
            .filter(|e| e.app == "notes" && e.pairwise_id.is_none())
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(notes.first(), Some(&"k00000"));
        assert!(notes.last().is_some_and(|k| *k > "k04000"), "{notes:?}");
    }

    #[test]
    fn a_small_store_is_sampled_whole() {
        let entries = vec![entry("a", None, "x"), entry("a", Some("p"), "y")];
        assert_eq!(kv_sample(&entries, KV_SAMPLE).len(), 2);
    }
}
